"""Regridding onto another lat/lon grid: conservative, bilinear or nearest neighbour.

:func:`regrid` is vectorised and Dask-friendly: area-weighted (conservative) averages for
coarsening, built from separable overlap weights on the sphere (``dsin(lat)`` times
``dlon``, :func:`conservative_weights`) and applied as two sparse matrix products per
block, all time steps at once; bilinear
interpolation for refining; nearest neighbour for categories.

Examples
--------
>>> from fluxgrid.grids import make_grid
>>> src = make_grid(1.0, bbox=(0, 0, 4, 4))
>>> field = xr.DataArray(np.ones((4, 4)), coords=src.coords, dims=("lat", "lon"))
>>> regrid(field, make_grid(2.0, bbox=(0, 0, 4, 4))).values.tolist()
[[1.0, 1.0], [1.0, 1.0]]
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import xarray as xr
from scipy import sparse

from ..errors import GridError
from .core import LAT_ATTRS, LON_ATTRS, grid_edges, standardise_grid

__all__ = ["conservative_weights", "regrid"]

_METHODS = ("conservative", "bilinear", "nearest")


def _overlap(src_edges: np.ndarray, dst_edges: np.ndarray, period: float | None) -> np.ndarray:
    """Overlap lengths (n_dst, n_src) of 1-D cells given by ascending edges."""
    lo_s, hi_s = src_edges[:-1], src_edges[1:]
    lo_d, hi_d = dst_edges[:-1, None], dst_edges[1:, None]
    shifts = (0.0,) if period is None else (-period, 0.0, period)
    total = np.zeros((lo_d.shape[0], lo_s.shape[0]))
    for shift in shifts:
        total += np.clip(np.minimum(hi_d, hi_s + shift) - np.maximum(lo_d, lo_s + shift), 0, None)
    return total


def _target_coords(target) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres ``(lat, lon)`` of ``target`` in the standard layout."""
    if isinstance(target, xr.Dataset | xr.DataArray):
        if "lat" not in target.coords or "lon" not in target.coords:
            target = standardise_grid(
                target.to_dataset(name="_") if isinstance(target, xr.DataArray) else target
            )
        return target["lat"].values.astype("float64"), target["lon"].values.astype("float64")
    raise GridError(
        f"target must be a grid (xarray object with lat/lon), got {type(target).__name__}; "
        "make one with fluxgrid.grids.make_grid(resolution)"
    )


def _spacing(c: np.ndarray) -> float:
    return float(np.median(np.abs(np.diff(c)))) if c.size > 1 else np.inf


def _resolve_method(method: str, source: tuple, target: tuple) -> str:
    """``auto`` -> conservative when the target is at least as coarse in both directions."""
    (lat_s, lon_s), (lat_t, lon_t) = source, target
    if method == "auto":
        coarser = (
            _spacing(lat_t) >= _spacing(lat_s) - 1e-9 and _spacing(lon_t) >= _spacing(lon_s) - 1e-9
        )
        method = "conservative" if coarser else "bilinear"
    if method not in _METHODS:
        raise GridError(
            f"method={method!r}; expected 'auto', 'conservative', 'bilinear' or 'nearest'"
        )
    return method


def _refuse_integers(obj: xr.Dataset | xr.DataArray) -> None:
    """Averaging category codes is meaningless: say which method to use instead."""
    values = [obj] if isinstance(obj, xr.DataArray) else list(obj.data_vars.values())
    for da in values:
        if da.dtype.kind in "iub":
            raise GridError(
                f"variable {da.name!r} holds integers (categories?); averaging them is "
                "meaningless: use method='nearest' or class_fractions() for land cover"
            )


def regrid(
    obj: xr.Dataset | xr.DataArray,
    target: xr.Dataset | xr.DataArray,
    *,
    method: Literal["auto", "conservative", "bilinear", "nearest"] = "auto",
    min_coverage: float = 0.5,
) -> xr.Dataset | xr.DataArray:
    """Regrid ``obj`` (dims ``(..., lat, lon)``) onto the lat/lon cells of ``target``.

    Methods
    -------
    ``conservative``
        Area-weighted mean over the source cells overlapping each target cell. Weights are
        exact overlaps on the sphere and separable: ``dsin(lat)`` overlaps times ``dlon``
        overlaps (periodic in longitude), applied as two sparse matrix products per block
        (longitude, then latitude) for all time steps of the block at once. Lazy input stays
        lazy: blocks keep their time chunks, lat/lon are joined into one chunk. Missing source
        values are left out of the mean; a target cell needs at least ``min_coverage`` of
        its area covered by valid source cells, else it is NaN. Area integrals are conserved
        where the target is fully covered.
    ``bilinear``
        Linear interpolation in lat and lon (``xarray.interp``; longitudes wrap for global
        sources). For refining.
    ``nearest``
        Nearest source cell (within one source cell size); for categories.
    ``auto``
        ``conservative`` when the target cells are at least as large as the source cells in
        both directions, else ``bilinear``.

    Parameters
    ----------
    obj
        Grid in the standard layout (float variables; integers only with ``nearest``).
    target
        Grid providing ``lat``/``lon`` cell centres (e.g. :func:`fluxgrid.grids.make_grid`).
    method
        See above.
    min_coverage
        Conservative only: share of a target cell's area that valid source data must cover.

    Returns
    -------
    same type as ``obj``
        On the target's ``lat``/``lon``; other dims and attributes kept; lazy where ``obj`` is.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> src = make_grid(1.0, bbox=(0, 0, 4, 4))
    >>> field = xr.DataArray(np.arange(16.0).reshape(4, 4), coords=src.coords, dims=("lat", "lon"))
    >>> coarse = regrid(field, make_grid(2.0, bbox=(0, 0, 4, 4)))
    >>> coarse.shape
    (2, 2)
    """
    if "lat" not in obj.dims or "lon" not in obj.dims:
        raise GridError(
            f"regrid needs dims lat and lon, got {list(obj.dims)}; see standardise_grid"
        )
    lat_t, lon_t = _target_coords(target)
    lat_s, lon_s = obj["lat"].values.astype("float64"), obj["lon"].values.astype("float64")
    method = _resolve_method(method, (lat_s, lon_s), (lat_t, lon_t))
    if method == "nearest":
        out = obj.reindex(
            lat=lat_t, lon=lon_t, method="nearest", tolerance=max(_spacing(lat_s), _spacing(lon_s))
        )
    elif method == "bilinear":
        _refuse_integers(obj)
        out = _bilinear(obj, lat_t, lon_t)
    else:
        _refuse_integers(obj)
        out = _conservative(obj, target, min_coverage)
    out = out.assign_coords(lat=lat_t, lon=lon_t)
    out["lat"].attrs, out["lon"].attrs = dict(LAT_ATTRS), dict(LON_ATTRS)
    out.attrs = dict(obj.attrs)
    out.attrs["regrid_method"] = method
    return out


def _is_global(lon: np.ndarray) -> bool:
    return lon.size > 1 and abs(_spacing(lon) * lon.size - 360.0) < 0.5 * _spacing(lon)


def _bilinear(obj, lat_t, lon_t):
    src = obj
    lon = obj["lon"].values
    if _is_global(lon):  # wrap one column on each side so the seam interpolates too
        left = obj.isel(lon=[-1]).assign_coords(lon=[lon[-1] - 360.0])
        right = obj.isel(lon=[0]).assign_coords(lon=[lon[0] + 360.0])
        src = xr.concat([left, obj, right], dim="lon")
    return src.interp(lat=lat_t, lon=lon_t, method="linear")


def conservative_weights(
    source: xr.Dataset | xr.DataArray, target: xr.Dataset | xr.DataArray
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Separable overlap weights (sphere) for conservative regridding.

    Parameters
    ----------
    source, target
        Grids; their cell edges come from :func:`fluxgrid.grids.grid_edges`.

    Returns
    -------
    tuple of xarray.DataArray
        ``w_lat`` dims ``(lat_t, lat)`` (overlap of ``sin(lat)`` intervals), ``w_lon`` dims
        ``(lon_t, lon)`` (overlap in degrees, periodic), and each target cell's full weight
        ``(lat_t, lon_t)`` (its area in the same units).

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> w_lat, w_lon, full = conservative_weights(
    ...     make_grid(1.0, bbox=(0, 0, 2, 2)), make_grid(2.0, bbox=(0, 0, 2, 2)))
    >>> w_lon.values.tolist()
    [[1.0, 1.0]]
    """
    lat_s, e_lon_s = grid_edges(source)
    lat_t, e_lon_t = grid_edges(target)
    e_lat_s, e_lat_t = np.sin(np.radians(lat_s)), np.sin(np.radians(lat_t))
    w_lat = xr.DataArray(_overlap(e_lat_s, e_lat_t, None), dims=("lat_t", "lat"))
    w_lon = xr.DataArray(_overlap(e_lon_s, e_lon_t, 360.0), dims=("lon_t", "lon"))
    full = xr.DataArray(np.outer(np.diff(e_lat_t), np.diff(e_lon_t)), dims=("lat_t", "lon_t"))
    return w_lat, w_lon, full


def _conservative_block(
    block: np.ndarray,
    w_lat: sparse.csr_array,
    w_lon_t: sparse.csr_array,
    full: np.ndarray,
    row_lon: np.ndarray,
    min_coverage: float,
) -> np.ndarray:
    """Area-weighted means of one block ``(..., lat, lon)`` -> ``(..., lat_t, lon_t)``.

    Two sparse matrix products (longitude, then latitude) for all leading steps at once;
    the covered area is a second pair of products only where the block has missing values.
    """
    *lead, n_lat, n_lon = block.shape
    x = np.asarray(block, dtype=np.float64).reshape(-1, n_lon)
    valid = ~np.isnan(x)
    complete = bool(valid.all())

    def contract(a: np.ndarray) -> np.ndarray:
        t = np.asarray(a @ w_lon_t).reshape(-1, n_lat, w_lon_t.shape[1])  # (n, lat, lon_t)
        t = np.ascontiguousarray(t.transpose(1, 0, 2)).reshape(n_lat, -1)  # (lat, n*lon_t)
        u = np.asarray(w_lat @ t).reshape(w_lat.shape[0], -1, w_lon_t.shape[1])
        return u.transpose(1, 0, 2)  # (n, lat_t, lon_t)

    num = contract(np.where(valid, x, 0.0))
    if complete:  # every source cell valid: the covered area is the overlap area
        den = np.broadcast_to(np.asarray(w_lat.sum(axis=1))[:, None] * row_lon, num.shape)
    else:
        den = contract(valid.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = num / den
    ok = (den > 0) & (den >= min_coverage * full * (1 - 1e-9))
    return np.where(ok, mean, np.nan).reshape(*lead, *full.shape)


def _conservative(obj, target, min_coverage):
    w_lat, w_lon, full = conservative_weights(obj, target)
    lat_w = sparse.csr_array(w_lat.values)
    lon_t = sparse.csr_array(w_lon.values.T)
    row_lon = w_lon.values.sum(axis=1)
    sizes = {"lat_t": full.shape[0], "lon_t": full.shape[1]}

    def one(da: xr.DataArray) -> xr.DataArray:
        dtype = da.dtype if da.dtype.kind == "f" else np.dtype("float64")
        if da.chunks is not None:  # each block needs the whole lat/lon plane
            da = da.chunk({"lat": -1, "lon": -1})
        mean = xr.apply_ufunc(
            _conservative_block,
            da,
            input_core_dims=[["lat", "lon"]],
            output_core_dims=[["lat_t", "lon_t"]],
            kwargs={
                "w_lat": lat_w,
                "w_lon_t": lon_t,
                "full": full.values,
                "row_lon": row_lon,
                "min_coverage": min_coverage,
            },
            dask="parallelized",
            output_dtypes=[np.float64],
            dask_gufunc_kwargs={"output_sizes": sizes},
            keep_attrs=True,
        )
        mean = mean.drop_vars([c for c in mean.coords if {"lat", "lon"} & set(mean[c].dims)])
        mean = mean.rename({"lat_t": "lat", "lon_t": "lon"})
        return mean.astype(dtype).assign_attrs(da.attrs)

    if isinstance(obj, xr.DataArray):
        return one(obj).rename(obj.name)
    spatial = {k: one(v) for k, v in obj.data_vars.items() if {"lat", "lon"} <= set(v.dims)}
    other = {k: v for k, v in obj.data_vars.items() if k not in spatial}
    return xr.Dataset({**spatial, **other}, attrs=obj.attrs)
