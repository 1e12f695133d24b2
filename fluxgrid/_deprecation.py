"""Old import paths kept for one release: names that moved forward to their new module.

A module whose contents moved keeps a two-line body::

    from .._deprecation import moved

    __getattr__, __dir__ = moved(__name__, {"fit_torch": "fluxgrid.training.fit"})

Accessing ``old_module.fit_torch`` then imports the new module, warns once with a
:class:`DeprecationWarning` naming the new path, and returns the object. Nothing is imported
until a name is asked for, so the old module adds no edge to the import graph.

Examples
--------
>>> import warnings
>>> getattr_, dir_ = moved("fluxgrid.old", {"FluxgridError": "fluxgrid.errors"})
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     cls = getattr_("FluxgridError")
>>> cls.__module__, caught[0].category.__name__
('fluxgrid.errors', 'DeprecationWarning')
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["moved"]


def moved(
    old: str, names: Mapping[str, str], *, removal: str = "0.3"
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` / ``__dir__`` forwarding moved names with a warning.

    Parameters
    ----------
    old
        The old module's ``__name__``.
    names
        ``{name: new module}`` for every public name that moved.
    removal
        Release in which the old path goes away (named in the warning).

    Returns
    -------
    tuple
        ``(__getattr__, __dir__)`` to assign at the old module's top level; ``__dir__``
        lists what the module itself holds, not the moved names.
    """
    table = dict(names)

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} moved to {target}.{name}; import it from there "
            f"(the old path is removed in fluxgrid {removal})",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(target), name)

    __getattr__.moved = table  # type: ignore[attr-defined]  (read by the tests)

    def __dir__() -> list[str]:
        # the moved names are left out: tools that walk dir() (doctest, completion) would
        # import the new modules and raise the warning for names nobody asked for
        module = sys.modules.get(old)
        return sorted(vars(module)) if module is not None else []

    return __getattr__, __dir__
