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

from ..errors import DataNotFoundError

__all__ = ["open_selected", "select_sites"]


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


def open_selected(
    source: str,
    *,
    cube: xr.Dataset | None = None,
    sites: Sequence[str] | None = None,
    exclude_sites: Sequence[str] | None = None,
    igbp: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
) -> xr.Dataset:
    """Open a source (or take ``cube``) and keep the sites a config asks for.

    Parameters
    ----------
    source
        ``"demo"`` (the bundled subset) or anything :func:`fluxgrid.io.sources.read_source`
        opens; ignored when ``cube`` is given.
    cube
        An already open site cube.
    sites, exclude_sites, igbp, bbox
        Sites to keep, sites to drop, IGBP classes and ``(lon_min, lat_min, lon_max,
        lat_max)`` to keep (see :func:`select_sites`); ``None`` keeps all.

    Returns
    -------
    xarray.Dataset
        The selected ``(site, time)`` cube (lazy where the source is).

    Raises
    ------
    DataNotFoundError
        A selection that leaves no site.

    Examples
    --------
    >>> ds = open_selected("demo", igbp=["DBF"], exclude_sites=["US-UMB"])
    >>> ds.site.values.tolist()
    ['US-MMS', 'DE-Hai']
    """
    if cube is None:
        if source == "demo":
            from ..testing import load_demo_cube

            cube = load_demo_cube()
        else:
            from ..io.sources import read_source

            cube = read_source(source, sites=sites)
    ds = cube
    if sites is not None:
        ds = select_sites(ds, sites=list(sites))
    if exclude_sites:
        drop = set(exclude_sites)
        keep = [s for s in ds.site.values.astype(str) if s not in drop]
        if not keep:
            raise DataNotFoundError(f"exclude_sites {sorted(drop)} removes every site")
        ds = ds.sel(site=keep)
    if igbp is not None:
        ds = select_sites(ds, igbp=list(igbp))
    if bbox is not None:
        ds = select_sites(ds, bbox=tuple(bbox))
    return ds
