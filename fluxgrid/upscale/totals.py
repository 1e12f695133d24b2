"""After the maps: reading them back in large chunks, their flux variable, regional totals.

Examples
--------
>>> main_variable(xr.Dataset({"nee_mean": 0.0, "nee_std": 0.0}))
'nee_mean'
>>> main_variable(xr.Dataset({"gpp_dt": 0.0}))
'gpp_dt'
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from ..errors import GridError
from ..grids.landcover import IGBP_CLASSES
from ..grids.store import grid_chunk_plan
from ..io.maps import open_map
from ..regions import regional_totals
from .layers import align_layer

__all__ = ["main_variable", "map_totals", "open_maps"]

#: bytes per Dask chunk when maps are summarised over time (whole maps x many days)
_SUMMARY_BYTES = 64 * 2**20


def main_variable(maps: xr.Dataset) -> str:
    """The flux variable of a map dataset: the target of a single run or the ensemble mean.

    Parameters
    ----------
    maps
        Maps from :func:`~fluxgrid.upscale.upscale` or
        :func:`~fluxgrid.upscale.upscale_ensemble` (or read back from their file).

    Returns
    -------
    str
        The first ``*_mean`` variable, else the first that is no spread, quantile or member.

    Raises
    ------
    GridError
        If there is no such variable.
    """
    names = [str(n) for n in maps.data_vars]
    means = [n for n in names if n.endswith("_mean")]
    if means:
        return means[0]
    plain = [
        n for n in names if not any(n.endswith(s) for s in ("_std", "_member")) and "_q" not in n
    ]
    if not plain:
        raise GridError(f"no flux variable among {names}")
    return plain[0]


def map_totals(
    maps: xr.Dataset | xr.DataArray,
    igbp: xr.DataArray | None = None,
    *,
    variable: str | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Annual regional totals of a flux map: all mapped cells, and per IGBP class.

    :func:`fluxgrid.regions.regional_totals` (TgC yr-1; for NEE ``sink = -total``, positive =
    uptake) for the region ``all`` (every cell, ``region_id`` -1) and, with ``igbp``, one
    region per vegetation type present (``region_id`` = IGBP code).

    Parameters
    ----------
    maps
        Map dataset (e.g. :func:`fluxgrid.io.maps.open_map` of an upscaled map) or one
        variable ``(time, lat, lon)`` in gC m-2 d-1.
    igbp
        ``(lat, lon)`` IGBP codes on the map's grid (negative: none).
    variable
        Variable of a dataset (default: :func:`main_variable`).
    **kwargs
        Passed to :func:`~fluxgrid.regions.regional_totals` (``min_coverage``,
        ``full_years``, ...).

    Returns
    -------
    xarray.Dataset
        Dims ``(region, year)``, see :func:`~fluxgrid.regions.regional_totals`; computed
        (Dask-backed maps are read in chunks of whole maps x many days).

    Examples
    --------
    >>> table = map_totals(open_map("demo_out/nee_map.nc"), igbp)  # doctest: +SKIP
    """
    if isinstance(maps, xr.Dataset):
        variable = variable or main_variable(maps)
        da = maps[variable]
    else:
        da = maps
        variable = variable or str(da.name)
    if da.chunks is not None:
        # few large chunks (whole maps x many days) instead of one per day of the file
        plan = grid_chunk_plan(da.to_dataset(name="v"), layout="maps", target_bytes=_SUMMARY_BYTES)
        da = da.chunk(plan)
    whole = regional_totals(da, None, variable=variable, **kwargs)
    whole = whole.assign_coords(region=["all"], region_id=("region", [-1]))
    parts = [whole]
    if igbp is not None:
        parts += _class_totals(da, igbp, variable, **kwargs)
    table = xr.concat(parts, dim="region", data_vars="minimal", coords="minimal", compat="override")
    table = table.compute()
    table.attrs = dict(whole.attrs)
    table.attrs["regions"] = "all: every mapped cell; others: cells of one IGBP vegetation type"
    return table


def _class_totals(
    da: xr.DataArray, igbp: xr.DataArray, variable: str, **kwargs: Any
) -> list[xr.Dataset]:
    """Totals per IGBP class present on the map's grid (none when no class is)."""
    codes = align_layer(igbp, da.to_dataset(name="v"), "igbp grid")
    values = np.asarray(codes.values)
    present = sorted({int(c) for c in np.unique(values[np.isfinite(values)]) if c >= 0})
    if not present:
        return []
    names = {c: IGBP_CLASSES.get(c, (str(c), ""))[0] for c in present}
    codes = codes.copy()
    codes.attrs = {}
    return [regional_totals(da, codes, names=names, variable=variable, **kwargs)]


def open_maps(path: str | os.PathLike, *, target_bytes: int = _SUMMARY_BYTES) -> xr.Dataset:
    """:func:`fluxgrid.io.maps.open_map` with Dask chunks of whole maps x many days.

    Files are written with one day per NetCDF chunk (map access); summaries over time
    (annual totals, mean maps) are much faster on chunks of about ``target_bytes``.

    Parameters
    ----------
    path
        A map file written by :func:`~fluxgrid.upscale.upscale_to_map`.
    target_bytes
        Bytes per Dask chunk.

    Returns
    -------
    xarray.Dataset
        The maps, Dask-backed.

    Examples
    --------
    >>> maps = open_maps("demo_out/nee_map.nc")  # doctest: +SKIP
    """
    with open_map(path) as probe:
        plan = grid_chunk_plan(probe, layout="maps", target_bytes=target_bytes)
    return open_map(path, chunks=plan)
