"""Grid pixels as sites and back: the ``(site, time)`` layout models consume.

:func:`grid_to_sites` stacks the ``(lat, lon)`` cells of a ``(time, lat, lon)`` grid into a
``site`` dimension (one stack, no copy per pixel), so a model trained on tower cubes reads a
grid the same way; :func:`sites_to_grid` puts the results back on the grid.

Examples
--------
>>> cube = grid_to_sites(drivers, mask=land)      # doctest: +SKIP
>>> nee = sites_to_grid(predictions, like=drivers)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import GridError
from .core import with_coord_attrs
from .landcover import IGBP_CLASSES

__all__ = ["grid_to_sites", "sites_to_grid"]


def grid_to_sites(ds: xr.Dataset, *, mask: xr.DataArray | None = None) -> xr.Dataset:
    """View a ``(time, lat, lon)`` grid as a ``(site, time)`` cube of pixels.

    Pixels become sites (``site`` = ``"lat_lon"`` labels) with coordinates ``latitude``,
    ``longitude``, ``igbp`` (from an ``igbp`` variable/coordinate where present, else
    ``""``) and ``utc_offset`` 0 (days are UTC days), the layout models consume. Only
    ``mask`` cells are kept (default: all). One stack, no copy per pixel.

    Parameters
    ----------
    ds
        Grid, dims ``(time, lat, lon)``; an ``igbp`` variable holds IGBP codes.
    mask
        Boolean ``(lat, lon)`` on the same grid: the cells to keep.

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)``; ``grid_lat``/``grid_lon`` coordinates let
        :func:`sites_to_grid` put it back.

    Examples
    --------
    >>> import pandas as pd
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 1))
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), np.arange(4.0).reshape(2, 1, 2))},
    ...                 coords={"time": pd.date_range("2000", periods=2), **g.coords})
    >>> cube = grid_to_sites(ds)
    >>> cube.ta.dims, cube.site.values.tolist(), cube.longitude.values.tolist()
    (('site', 'time'), ['0.5_0.5', '0.5_1.5'], [0.5, 1.5])
    """
    stacked = ds.stack(pixel=("lat", "lon"))
    if mask is not None:
        keep = np.asarray(mask.stack(pixel=("lat", "lon")).values, dtype=bool)
        stacked = stacked.isel(pixel=np.flatnonzero(keep))
    lat = stacked["lat"].values.astype("float64")
    lon = stacked["lon"].values.astype("float64")
    labels = np.char.add(np.char.add(lat.round(6).astype(str), "_"), lon.round(6).astype(str))
    igbp = np.full(lat.size, "", dtype=object)
    if "igbp" in stacked.variables:
        codes = np.asarray(stacked["igbp"].values)
        names = {c: IGBP_CLASSES.get(int(c), ("", ""))[0] for c in np.unique(codes)}
        igbp = np.array([names[c] for c in codes], dtype=object)
        stacked = stacked.drop_vars("igbp")
    cube = stacked.drop_vars(["pixel", "lat", "lon"]).rename(pixel="site")
    cube = cube.assign_coords(
        site=labels,
        latitude=("site", lat),
        longitude=("site", lon),
        igbp=("site", igbp.astype(str)),
        utc_offset=("site", np.zeros(lat.size)),
        grid_lat=("site", lat),
        grid_lon=("site", lon),
    )
    return cube.transpose("site", "time", ...)


def sites_to_grid(cube: xr.Dataset | xr.DataArray, like: xr.Dataset | xr.DataArray):
    """Put a ``(site, time)`` cube made by :func:`grid_to_sites` back on the grid of ``like``.

    Cells that were masked out are NaN.

    Parameters
    ----------
    cube
        Result on pixels, with the ``grid_lat``/``grid_lon`` coordinates of
        :func:`grid_to_sites`.
    like
        Grid whose ``lat``/``lon`` the result takes.

    Returns
    -------
    same type as ``cube``
        Dims ``(time, lat, lon)`` (where ``cube`` has time), CF coordinate attributes.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> ta = xr.DataArray(np.arange(4.0).reshape(1, 2, 2), dims=("time", "lat", "lon"),
    ...                   coords={"time": [np.datetime64("2000-01-01")], **grid.coords})
    >>> cube = grid_to_sites(ta.to_dataset(name="ta"), mask=ta.isel(time=0) > 0)
    >>> sites_to_grid(cube, like=grid).ta.values.tolist()  # the masked cell comes back as NaN
    [[[nan, 1.0], [2.0, 3.0]]]
    """
    keep = [c for c in ("grid_lat", "grid_lon") if c in cube.coords]
    if len(keep) != 2:
        raise GridError("cube has no grid_lat/grid_lon coordinates; make it with grid_to_sites()")
    indexed = cube.drop_vars(
        [c for c in cube.coords if c not in ("time", "grid_lat", "grid_lon", "site")]
    )
    indexed = indexed.set_index(site=["grid_lat", "grid_lon"]).unstack("site")
    indexed = indexed.rename(grid_lat="lat", grid_lon="lon")
    out = indexed.reindex(lat=like["lat"].values, lon=like["lon"].values)
    dims = [d for d in ("time", "lat", "lon") if d in out.dims]
    return with_coord_attrs(out.transpose(*dims, ...))
