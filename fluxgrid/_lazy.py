"""Lazy import of optional or heavy dependencies with an install hint."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .errors import OptionalDependencyError

#: pip extra that provides each optional module
_EXTRA = {
    "odc.stac": "rs",
    "spyndex": "rs",
    "pvlib": "rs",
    "rasterio": "rs",
    "rioxarray": "",
    "pystac_client": "",
    "shap": "",
    "torch": "",
    "optuna": "",
    "sklearn": "",
    "matplotlib": "",
}


def lazy_import(name: str) -> ModuleType:
    """Import ``name`` or raise :class:`OptionalDependencyError` with the install command.

    Parameters
    ----------
    name
        Module name, e.g. ``"pvlib"`` or ``"odc.stac"``.

    Examples
    --------
    >>> np = lazy_import("numpy")
    >>> np.__name__
    'numpy'
    """
    try:
        return importlib.import_module(name)
    except ImportError as err:
        extra = _EXTRA.get(name, "")
        package = name.split(".")[0].replace("_", "-")
        hint = f"pip install 'fluxgrid[{extra}]'" if extra else f"pip install {package}"
        raise OptionalDependencyError(
            f"fluxgrid needs the optional package {name!r} for this step; install it with: {hint}"
        ) from err


def lazy_names(
    package: str, table: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` / ``__dir__`` that import a package's public names on first use.

    Keeps ``import fluxgrid`` (and ``fluxgrid.training``, ``fluxgrid.upscale``) light: a name
    is imported from its module only when asked for, so one light function does not pull in
    torch through its neighbours.

    Parameters
    ----------
    package
        The package's ``__name__``.
    table
        ``{public name: module}``; a module starting with ``.`` is relative to ``package``.

    Examples
    --------
    >>> getattr_, dir_ = lazy_names("fluxgrid", {"FluxgridError": ".errors"})
    >>> getattr_("FluxgridError").__name__
    'FluxgridError'
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
