"""Name-based registries for models and readers.

Components register themselves with a decorator; users look them up by name. An unknown name
raises an error that lists every registered name, so a typo is easy to fix.

Examples
--------
>>> from fluxgrid.registry import Registry
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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .errors import ModelError

T = TypeVar("T")


class Registry:
    """A mapping from names to classes or functions, filled by a decorator.

    Parameters
    ----------
    kind
        What is registered (``"model"``, ``"reader"``), used in error messages.
    loader
        Called once before the first lookup, to import the modules that register entries
        (keeps ``import fluxgrid`` light: torch models register only when first asked for).
    """

    def __init__(self, kind: str, loader: Callable[[], None] | None = None):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._loader = loader
        self._loaded = loader is None

    def register(self, name: str) -> Callable[[T], T]:
        """Return a decorator that registers its argument under ``name``."""

        def decorator(obj: T) -> T:
            key = name.lower()
            if key in self._entries and self._entries[key] is not obj:
                raise ModelError(f"{self.kind} {name!r} is registered twice; pick another name")
            self._entries[key] = obj
            return obj

        return decorator

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            assert self._loader is not None
            self._loader()

    def get(self, name: str) -> Any:
        """Return the entry registered under ``name`` (case-insensitive)."""
        self._ensure_loaded()
        try:
            return self._entries[name.lower()]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ModelError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}") from None

    def names(self) -> list[str]:
        """Sorted names of all registered entries."""
        self._ensure_loaded()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _load_models() -> None:
    # importing the package registers every built-in model
    from . import models  # noqa: F401


def _load_readers() -> None:
    from .io import fluxnet, tables  # noqa: F401


MODELS = Registry("model", loader=_load_models)
READERS = Registry("reader", loader=_load_readers)


def register_model(name: str) -> Callable[[T], T]:
    """Register a model class under ``name`` (see :mod:`fluxgrid.models`)."""
    return MODELS.register(name)


def register_reader(name: str) -> Callable[[T], T]:
    """Register a reader function under ``name``."""
    return READERS.register(name)


def get_model(name: str) -> Any:
    """Return the model class registered as ``name``; the error lists the known names."""
    return MODELS.get(name)


def get_reader(name: str) -> Any:
    """Return the reader registered as ``name``; the error lists the known names."""
    return READERS.get(name)
