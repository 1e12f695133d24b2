"""Lazy import of optional or heavy dependencies with an install hint."""

from __future__ import annotations

import importlib
from types import ModuleType

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
