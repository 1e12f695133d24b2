"""Lazy import of optional or heavy dependencies with an install hint."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

from .errors import OptionalDependencyError

#: pip extra of fluxgrid that provides each optional module (pyproject.toml); "" for core ones
EXTRAS = {
    "shap": "explain",
    "optuna": "search",
    "openpyxl": "excel",
    "rioxarray": "raster",
    "rasterio": "raster",
    "pyproj": "raster",
    "affine": "raster",
    "pystac_client": "rs",
    "pystac": "rs",
    "requests": "rs",
    "urllib3": "rs",
    "shapely": "rs",
    "odc.stac": "rs",
    "odc": "rs",
    "spyndex": "rs",
    "pvlib": "rs",
    "h5py": "rs",
    "gcsfs": "cloud",
    "torch": "",
    "sklearn": "",
    "matplotlib": "",
}

#: distribution names that differ from the module name
_PACKAGE = {"sklearn": "scikit-learn", "odc": "odc-stac", "yaml": "pyyaml"}


def install_hint(name: str) -> str:
    """The pip command that installs module ``name``.

    Examples
    --------
    >>> install_hint("shap")
    "pip install 'fluxgrid[explain]'"
    >>> install_hint("shapely.geometry")
    "pip install 'fluxgrid[rs]'"
    >>> install_hint("sklearn")
    'pip install scikit-learn'
    """
    top = name.split(".")[0]
    extra = EXTRAS.get(name, EXTRAS.get(top, ""))
    if extra:
        return f"pip install 'fluxgrid[{extra}]'"
    return f"pip install {_PACKAGE.get(top, top.replace('_', '-'))}"


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
        raise OptionalDependencyError(
            f"fluxgrid needs the optional package {name!r} for this step; install it with: "
            f"{install_hint(name)}"
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
