"""After the maps: reading them back in large chunks, their flux variable, regional totals.

Examples
--------
>>> main_variable(xr.Dataset({"nee_mean": 0.0, "nee_std": 0.0}))
'nee_mean'
>>> main_variable(xr.Dataset({"gpp_dt": 0.0}))
'gpp_dt'
>>> class_variable("nee", "DBF"), class_variable("nee_mean", "DBF")
('nee_class_DBF', 'nee_class_DBF_mean')
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

__all__ = ["class_variable", "main_variable", "map_totals", "open_maps"]

#: bytes per Dask chunk when maps are summarised over time (whole maps x many days)
_SUMMARY_BYTES = 64 * 2**20


def class_variable(variable: str, abbr: str) -> str:
    """Name of the per-class prediction of ``variable`` for IGBP class ``abbr``.

    ``nee`` -> ``nee_class_DBF``; an ensemble mean ``nee_mean`` -> ``nee_class_DBF_mean``.
    """
    if variable.endswith("_mean"):
        return f"{variable[: -len('_mean')]}_class_{abbr}_mean"
    return f"{variable}_class_{abbr}"


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
    names = [str(n) for n in maps.data_vars if "_class_" not in str(n)]
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
    fractions: xr.DataArray | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Annual regional totals of a flux map: all mapped cells, and per IGBP class.

    :func:`fluxgrid.regions.regional_totals` (TgC yr-1; for NEE ``sink = -total``, positive =
    uptake) for the region ``all`` (every cell, ``region_id`` -1) and, with ``igbp``, one
    region per vegetation type present (``region_id`` = IGBP code): the cells whose
    majority class it is.

    With ``fractions`` (maps made in cover-fraction mode with ``class_fluxes``), each
    modelled class's share instead: ``sum_t sum_cells y_k x f_k x area``, the class's own
    prediction ``y_k`` (``<variable>_class_<ABBR>``) times its cover fraction and the cell
    area. As the map is ``sum_k f_k y_k`` (non-vegetated classes contribute 0), the class
    totals add up to the ``all`` total.

    Parameters
    ----------
    maps
        Map dataset (e.g. :func:`fluxgrid.io.maps.open_map` of an upscaled map) or one
        variable ``(time, lat, lon)`` in gC m-2 d-1.
    igbp
        ``(lat, lon)`` IGBP codes on the map's grid (negative: none).
    variable
        Variable of a dataset (default: :func:`main_variable`).
    fractions
        Cover fractions ``(class, lat, lon)`` the maps were made with (not with ``igbp``).
    **kwargs
        Passed to :func:`~fluxgrid.regions.regional_totals` (``min_coverage``,
        ``full_years``, ...).

    Returns
    -------
    xarray.Dataset
        Dims ``(region, year)``, see :func:`~fluxgrid.regions.regional_totals`; computed
        (Dask-backed maps are read in chunks of whole maps x many days).

    Raises
    ------
    GridError
        Both ``igbp`` and ``fractions``; ``fractions`` on another grid, or maps without the
        per-class predictions.

    Examples
    --------
    >>> table = map_totals(open_map("demo_out/nee_map.nc"), igbp)  # doctest: +SKIP
    >>> table = map_totals(maps, fractions=fractions)               # doctest: +SKIP
    """
    if igbp is not None and fractions is not None:
        raise GridError("give igbp (majority classes) or fractions (cover fractions), not both")
    if isinstance(maps, xr.Dataset):
        variable = variable or main_variable(maps)
        da = maps[variable]
    else:
        da = maps
        variable = variable or str(da.name)
    da = _summary_chunks(da)
    whole = regional_totals(da, None, variable=variable, **kwargs)
    whole = whole.assign_coords(region=["all"], region_id=("region", [-1]))
    parts = [whole]
    rule = "others: cells of one IGBP vegetation type (majority class)"
    if igbp is not None:
        parts += _class_totals(da, igbp, variable, **kwargs)
    if fractions is not None:
        if not isinstance(maps, xr.Dataset):
            raise GridError("totals per class from fractions need the map dataset, not one array")
        parts += _fraction_totals(maps, variable, fractions, **kwargs)
        rule = (
            "others: each class's share, sum of the class's own prediction x its cover "
            "fraction x cell area (the classes add up to all)"
        )
    table = xr.concat(parts, dim="region", data_vars="minimal", coords="minimal", compat="override")
    table = table.compute()
    table.attrs = dict(whole.attrs)
    table.attrs["regions"] = f"all: every mapped cell; {rule}"
    return table


def _summary_chunks(da: xr.DataArray) -> xr.DataArray:
    """Few large chunks (whole maps x many days) instead of one per day of the file."""
    if da.chunks is None:
        return da
    plan = grid_chunk_plan(da.to_dataset(name="v"), layout="maps", target_bytes=_SUMMARY_BYTES)
    return da.chunk({k: v for k, v in plan.items() if k in da.dims})


def _fraction_totals(
    maps: xr.Dataset, variable: str, fractions: xr.DataArray, **kwargs: Any
) -> list[xr.Dataset]:
    """Each modelled class's share: its prediction x its fraction x area, summed."""
    like = maps[variable].to_dataset(name="v")
    if set(fractions.dims) != {"class", "lat", "lon"}:
        raise GridError(f"fractions have dims {list(fractions.dims)}; expected (class, lat, lon)")
    fr = _on_map_grid(fractions, like)
    names = {int(c): IGBP_CLASSES.get(int(c), (str(c), ""))[0] for c in fr["class"].values}
    found = {c: class_variable(variable, n) for c, n in names.items()}
    found = {c: v for c, v in found.items() if v in maps.data_vars}
    if not found:
        raise GridError(
            f"the map has no per-class predictions ({class_variable(variable, '<ABBR>')}); "
            "make it with upscale(..., fractions=fractions, class_fluxes=True)"
        )
    codes = list(found)
    flux = xr.concat([_summary_chunks(maps[found[c]]) for c in codes], dim="region").assign_coords(
        region=[names[c] for c in codes]
    )
    flux.attrs = dict(maps[variable].attrs)
    weights = fr.sel({"class": codes}).fillna(0.0)
    weights = weights.drop_vars([c for c in weights.coords if c not in ("class", "lat", "lon")])
    weights = weights.assign_coords(class_name=("class", [names[c] for c in codes]))
    table = regional_totals(flux, weights, variable=variable, **kwargs)
    return [table.assign_coords(region_id=("region", codes))]


def _on_map_grid(fractions: xr.DataArray, like: xr.Dataset) -> xr.DataArray:
    """``fractions`` with the map's lat/lon (GridError when on another grid)."""
    out = fractions.transpose("class", "lat", "lon")
    out = out.sortby("lat")
    for c in ("lat", "lon"):
        if out.sizes[c] != like.sizes[c] or not np.allclose(out[c].values, like[c].values):
            raise GridError(
                f"fractions are on another grid than the map ({c} differs); use the fractions "
                "the map was made with"
            )
    return out.assign_coords(lat=like["lat"].values, lon=like["lon"].values)


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
