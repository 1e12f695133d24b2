"""The model registry: classes register under a name with a decorator, users look them up.

Every built-in model module decorates its classes with :func:`register_model`; importing
:mod:`fluxgrid.models` imports them all, so the registry is complete whenever this module
is usable (it lives inside the package). An unknown name raises an error listing every
registered name, so a typo is easy to fix.

Examples
--------
>>> shapes = Registry("shape")
>>> @shapes.register("square")
... def square(x):
...     return x * x
>>> shapes.get("square")(3)
9
>>> shapes.get("cube")
Traceback (most recent call last):
...
fluxgrid.errors.ModelError: unknown shape 'cube'; known shapes: square
>>> get_model("lstm").__name__
'LSTM'
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from ..errors import ModelError

__all__ = ["MODELS", "Registry", "get_model", "model_names", "register_model"]

T = TypeVar("T")


class Registry:
    """A mapping from names to classes or functions, filled by a decorator.

    Parameters
    ----------
    kind
        What is registered (``"model"``), used in error messages.
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Any] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name`` (case-insensitive)."""

        def decorator(obj: T) -> T:
            key = name.lower()
            if key in self._entries and self._entries[key] is not obj:
                raise ModelError(f"{self.kind} {name!r} is registered twice; pick another name")
            self._entries[key] = obj
            return obj

        return decorator

    def get(self, name: str) -> Any:
        """Return the entry registered under ``name`` (case-insensitive)."""
        try:
            return self._entries[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ModelError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None

    def names(self) -> list[str]:
        """Sorted names of all registered entries."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


MODELS = Registry("model")


def register_model(name: str) -> Callable[[T], T]:
    """Register a :class:`~fluxgrid.models.base.FluxModel` subclass under ``name``."""
    return MODELS.register(name)


def get_model(name: str) -> Any:
    """Return the model class registered as ``name``; the error lists the known names."""
    return MODELS.get(name)


def model_names() -> list[str]:
    """Names of every registered model, sorted."""
    return MODELS.names()
