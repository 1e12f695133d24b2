"""Select sites of a cube by vegetation class, identifier, location or record length.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> forests = select_sites(load_demo_cube(), igbp=["DBF", "ENF"])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._deprecation import moved
from ..errors import DataNotFoundError

__all__ = ["select_sites"]

# open_selected became the first step of the one site-cube chain
__getattr__, __dir__ = moved(__name__, {"open_selected": "fluxgrid.prep.pipeline"})


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def select_sites(
    ds: xr.Dataset,
    *,
    igbp: str | Sequence[str] | None = None,
    sites: str | Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    min_years: float | None = None,
    variable: str = "nee",
) -> xr.Dataset:
    """Keep the sites that match every given criterion.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)`` with ``igbp``, ``latitude``, ``longitude`` coords.
    igbp
        IGBP class code(s) to keep, e.g. ``"DBF"`` or ``["ENF", "DBF", "MF", "EBF"]``.
    sites
        Site identifier(s) to keep.
    bbox
        ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.
    min_years
        Minimum number of years with data in ``variable`` (days with a value / 365.25).
    variable
        Variable whose record length ``min_years`` counts.

    Returns
    -------
    xarray.Dataset
        The cube restricted to the matching sites (lazy cubes stay lazy, except that
        ``min_years`` computes the per-site counts).

    Raises
    ------
    DataNotFoundError
        If a named site or class is absent or nothing matches.
    """
    keep = np.ones(ds.sizes["site"], dtype=bool)
    site_ids = ds["site"].values.astype(str)
    if sites is not None:
        wanted = _as_list(sites)
        unknown = sorted(set(wanted) - set(site_ids))
        if unknown:
            raise DataNotFoundError(f"sites {unknown} are not in the cube")
        keep &= np.isin(site_ids, wanted)
    if igbp is not None:
        classes = _as_list(igbp)
        have = ds["igbp"].values.astype(str)
        unknown = sorted(set(classes) - set(have))
        if len(unknown) == len(classes):
            raise DataNotFoundError(
                f"no site has IGBP class {classes}; classes in the cube: {sorted(set(have) - {''})}"
            )
        keep &= np.isin(have, classes)
    if bbox is not None:
        lon0, lat0, lon1, lat1 = bbox
        lon, lat = ds["longitude"].values, ds["latitude"].values
        keep &= (lon >= lon0) & (lon <= lon1) & (lat >= lat0) & (lat <= lat1)
    if min_years is not None:
        if variable not in ds:
            raise DataNotFoundError(f"min_years counts {variable!r}, which is not in the cube")
        per_year = 365.25 if ds.attrs.get("resolution", "DD") == "DD" else 12.0
        years = ds[variable].notnull().sum("time").values / per_year
        keep &= years >= min_years
    if not keep.any():
        raise DataNotFoundError("no site matches the selection; loosen the criteria")
    return ds.isel(site=np.flatnonzero(keep))
