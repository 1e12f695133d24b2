"""Sample any gridded product (LAI, SIF, forest age, ...) at tower locations.

Three methods, all vectorised over sites (one indexing operation, no loop over sites or
time steps; Dask-backed grids stay lazy):

* ``"nearest"`` - the cell holding the tower;
* ``"bilinear"`` - bilinear interpolation between the four surrounding cell centres;
* ``"buffer"`` - mean of the cells whose centres lie within ``buffer_m`` of the tower
  (great-circle distance on lat/lon grids), or the tower's cell when none does.

Grids on ``lat``/``lon`` (or ``latitude``/``longitude``) in degrees (either longitude
convention, either latitude order) and projected grids on ``y``/``x`` with a CRS
(rioxarray's ``spatial_ref``) are accepted. Towers outside the grid get NaN and are named
in the ``outside_sites`` attribute.

Examples
--------
>>> import numpy as np, xarray as xr
>>> grid = xr.DataArray(np.arange(12.0).reshape(3, 4), dims=("lat", "lon"),
...                     coords={"lat": [50.0, 51.0, 52.0], "lon": [9.0, 10.0, 11.0, 12.0]},
...                     name="lai")
>>> sample_grid(grid, [51.0, 50.0], [10.0, 12.0], site=["a", "b"]).values.tolist()
[5.0, 3.0]
>>> float(sample_grid(grid, [50.5], [9.5], method="bilinear")[0])
2.5
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._lazy import lazy_import
from ..errors import GridError, RemoteSensingError
from .align import interpolate_time

__all__ = ["add_gridded", "sample_grid"]

Method = Literal["nearest", "bilinear", "buffer"]
_EARTH_RADIUS = 6_371_008.8


def _axes(grid: xr.Dataset | xr.DataArray) -> tuple[str, str, bool]:
    """(y name, x name, geographic?) of the grid."""
    for ylat, xlon in (("lat", "lon"), ("latitude", "longitude")):
        if ylat in grid.dims and xlon in grid.dims:
            return ylat, xlon, True
    if "y" in grid.dims and "x" in grid.dims:
        return "y", "x", False
    raise GridError(
        f"grid dims {tuple(grid.dims)}: expected (lat, lon), (latitude, longitude) or a "
        "projected (y, x) grid with a CRS"
    )


def _tower_coords(
    grid: xr.Dataset | xr.DataArray, lat: np.ndarray, lon: np.ndarray, geographic: bool, xn: str
) -> tuple[np.ndarray, np.ndarray]:
    if geographic:
        xs = grid[xn].values
        if np.nanmax(xs) > 180.0:
            lon = np.mod(lon, 360.0)
        return lat, lon
    try:
        lazy_import("rioxarray")
        crs = grid.rio.crs
    except Exception:  # reported below
        crs = None
    if crs is None:
        raise GridError(
            "projected grid (y, x) without a CRS: the tower positions cannot be placed on it "
            "(CRS mismatch); write one with grid.rio.write_crs(...)"
        )
    pyproj = lazy_import("pyproj")
    tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = tr.transform(lon, lat)
    return np.asarray(y), np.asarray(x)


def _step(values: np.ndarray, name: str) -> float:
    if len(values) < 2:
        raise GridError(f"grid coordinate {name!r} needs at least 2 values to sample")
    d = np.diff(values)
    if not (np.allclose(d, d[0], rtol=1e-3, atol=0)):
        raise GridError(f"grid coordinate {name!r} is not regularly spaced")
    return float(d[0])


def sample_grid(
    grid: xr.Dataset | xr.DataArray,
    latitude: Sequence[float],
    longitude: Sequence[float],
    *,
    method: Method = "nearest",
    buffer_m: float = 1000.0,
    site: Sequence[str] | None = None,
) -> xr.Dataset | xr.DataArray:
    """Values of a gridded product at towers.

    Parameters
    ----------
    grid
        Dataset or DataArray with spatial dims ``(lat, lon)`` (degrees) or ``(y, x)``
        with a CRS; any other dims (``time``, ``band``) are kept.
    latitude, longitude
        Tower positions, degrees, one per site.
    method
        ``"nearest"``, ``"bilinear"`` or ``"buffer"`` (see the module docstring).
    buffer_m
        Radius of the buffer mean, metres.
    site
        Site labels for the new ``site`` dimension.

    Returns
    -------
    xarray.Dataset or xarray.DataArray
        The spatial dims replaced by ``site``; attribute ``outside_sites`` lists towers
        outside the grid (their values are NaN).

    Raises
    ------
    GridError
        Unknown spatial dims, irregular coordinates, or a projected grid without CRS.
    """
    yn, xn, geographic = _axes(grid)
    lat = np.atleast_1d(np.asarray(latitude, dtype="float64"))
    lon = np.atleast_1d(np.asarray(longitude, dtype="float64"))
    labels = np.asarray(site) if site is not None else np.arange(len(lat))
    if grid[yn].values[0] > grid[yn].values[-1]:
        grid = grid.isel({yn: slice(None, None, -1)})
    at = _place(grid, yn, xn, geographic, lat, lon, labels)
    sampler = _SAMPLERS.get(method)
    if sampler is None:
        raise GridError(f"method={method!r}; expected 'nearest', 'bilinear' or 'buffer'")
    out = sampler(grid, at, buffer_m)
    out = out.drop_vars([c for c in (yn, xn) if c in out.coords])
    out = out.where(at.ind(at.inside))
    out = out.assign_coords(site=labels)
    outside = [str(s) for s, ok in zip(labels, at.inside, strict=True) if not ok]
    out.attrs = {**grid.attrs, "sampling": method, "outside_sites": ",".join(outside)}
    if method == "buffer":
        out.attrs["buffer_m"] = float(buffer_m)
    return out


@dataclass(frozen=True)
class _Placement:
    """Towers on a grid: fractional cell positions ``fy``, ``fx`` (0 = first centre)."""

    yn: str
    xn: str
    geographic: bool
    global_lon: bool
    ys: np.ndarray
    xs: np.ndarray
    ty: np.ndarray
    tx: np.ndarray
    fy: np.ndarray
    fx: np.ndarray
    inside: np.ndarray
    site: xr.DataArray

    def ind(self, values: np.ndarray) -> xr.DataArray:
        """Values per site as a ``site`` DataArray (for vectorised indexing)."""
        return xr.DataArray(values, dims="site", coords={"site": self.site})


def _place(
    grid: xr.Dataset | xr.DataArray,
    yn: str,
    xn: str,
    geographic: bool,
    lat: np.ndarray,
    lon: np.ndarray,
    labels: np.ndarray,
) -> _Placement:
    """Fractional positions of the towers on the grid; refuses a grid holding none."""
    ty, tx = _tower_coords(grid, lat, lon, geographic, xn)
    ys, xs = grid[yn].values.astype("float64"), grid[xn].values.astype("float64")
    dy, dx = _step(ys, yn), _step(xs, xn)
    ny, nx = len(ys), len(xs)
    global_lon = geographic and abs(dx * nx - 360.0) < 1e-6 * 360
    fy = (ty - ys[0]) / dy
    fx = (tx - xs[0]) / dx
    if global_lon:
        fx = np.mod(fx, nx)
    inside = (fy >= -0.5) & (fy <= ny - 0.5)
    if not global_lon:
        inside &= (fx >= -0.5) & (fx <= nx - 0.5)
    if not inside.any():
        raise GridError(
            f"every tower lies outside the grid ({yn} {ys.min():.3f}..{ys.max():.3f}, {xn} "
            f"{xs.min():.3f}..{xs.max():.3f}); check the grid's coordinates and CRS"
        )
    site = xr.DataArray(labels, dims="site")
    return _Placement(yn, xn, geographic, global_lon, ys, xs, ty, tx, fy, fx, inside, site)


def _nearest(grid, at: _Placement, buffer_m: float):
    """The cell holding each tower."""
    ny, nx = len(at.ys), len(at.xs)
    iy = np.clip(np.rint(at.fy), 0, ny - 1).astype(int)
    ix = (
        np.mod(np.rint(at.fx), nx).astype(int)
        if at.global_lon
        else np.clip(np.rint(at.fx), 0, nx - 1).astype(int)
    )
    return grid.isel({at.yn: at.ind(iy), at.xn: at.ind(ix)})


def _bilinear(grid, at: _Placement, buffer_m: float):
    """Bilinear interpolation between the four cell centres around each tower."""
    ny, nx = len(at.ys), len(at.xs)
    fy, fx = at.fy, at.fx
    y0 = np.clip(np.floor(fy), 0, ny - 2).astype(int)
    wy = np.clip(fy - y0, 0.0, 1.0)
    if at.global_lon:
        x0 = np.floor(fx).astype(int) % nx
        x1 = (x0 + 1) % nx
        wx = fx - np.floor(fx)
    else:
        x0 = np.clip(np.floor(fx), 0, nx - 2).astype(int)
        x1 = x0 + 1
        wx = np.clip(fx - x0, 0.0, 1.0)
    corners = [
        (y0, x0, (1 - wy) * (1 - wx)),
        (y0, x1, (1 - wy) * wx),
        (y0 + 1, x0, wy * (1 - wx)),
        (y0 + 1, x1, wy * wx),
    ]
    return sum(grid.isel({at.yn: at.ind(a), at.xn: at.ind(b)}) * at.ind(w) for a, b, w in corners)


def _buffer(grid, at: _Placement, buffer_m: float):
    """Mean of cells with centres within ``buffer_m`` (vectorised window gather)."""
    ky, kx = _window_half(at, buffer_m)
    ny, nx = len(at.ys), len(at.xs)
    oy, ox = np.arange(-ky, ky + 1), np.arange(-kx, kx + 1)
    cy, cx = np.rint(at.fy).astype(int), np.rint(at.fx).astype(int)
    iy = cy[:, None] + oy[None, :]
    ix = cx[:, None] + ox[None, :]
    valid_y = (iy >= 0) & (iy < ny)
    if at.global_lon:
        ix = np.mod(ix, nx)
        valid_x = np.ones_like(ix, dtype=bool)
    else:
        valid_x = (ix >= 0) & (ix < nx)
    iy_c, ix_c = np.clip(iy, 0, ny - 1), np.clip(ix, 0, nx - 1)
    dist = _cell_distance(at, at.ys[iy_c][:, :, None], at.xs[ix_c][:, None, :])
    within = (dist <= buffer_m) & valid_y[:, :, None] & valid_x[:, None, :]
    centre = (oy[:, None] == 0) & (ox[None, :] == 0)
    none = ~within.any(axis=(1, 2))
    within[none] = centre
    labels = at.ind(np.zeros(len(at.ty))).site
    wy = xr.DataArray(iy_c, dims=("site", "wy"), coords={"site": labels})
    wx = xr.DataArray(ix_c, dims=("site", "wx"), coords={"site": labels})
    window = grid.isel({at.yn: wy, at.xn: wx})
    weight = xr.DataArray(
        within.astype("float64"), dims=("site", "wy", "wx"), coords={"site": labels}
    )
    return window.weighted(weight).mean(("wy", "wx"))


def _window_half(at: _Placement, buffer_m: float) -> tuple[int, int]:
    """Half sizes (cells) of a window around the tower cell that holds the buffer."""
    dy, dx = abs(at.ys[1] - at.ys[0]), abs(at.xs[1] - at.xs[0])
    if at.geographic:
        cos_max = np.cos(np.radians(np.clip(np.abs(at.ty) + dy, 0, 89.9))).min()
        ky = int(np.ceil(buffer_m / (dy * np.pi / 180 * _EARTH_RADIUS))) + 1
        kx = int(np.ceil(buffer_m / (dx * np.pi / 180 * _EARTH_RADIUS * cos_max))) + 1
        return ky, kx
    return int(np.ceil(buffer_m / dy)) + 1, int(np.ceil(buffer_m / dx)) + 1


def _cell_distance(at: _Placement, cell_y: np.ndarray, cell_x: np.ndarray) -> np.ndarray:
    """Distance (m) of window cell centres from each tower: great circle on lat/lon."""
    if at.geographic:
        p1, p2 = np.radians(at.ty)[:, None, None], np.radians(cell_y)
        dl = np.radians(cell_x - at.tx[:, None, None])
        a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        return 2 * _EARTH_RADIUS * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    return np.hypot(cell_y - at.ty[:, None, None], cell_x - at.tx[:, None, None])


#: sampling method -> function(grid, placement, buffer_m)
_SAMPLERS: dict[str, Callable] = {"nearest": _nearest, "bilinear": _bilinear, "buffer": _buffer}


def add_gridded(
    cube: xr.Dataset,
    grid: xr.Dataset | xr.DataArray | str | os.PathLike,
    *,
    variables: Sequence[str] | None = None,
    names: Mapping[str, str] | None = None,
    method: Method = "nearest",
    buffer_m: float = 1000.0,
    interpolate: bool = False,
    max_gap_days: int = 16,
) -> xr.Dataset:
    """Sample a gridded product at the cube's towers and join it onto the daily axis.

    Parameters
    ----------
    cube
        Daily site cube (coords ``latitude``, ``longitude``).
    grid
        Dataset/DataArray or a path (NetCDF/Zarr) with ``(time, lat, lon)`` or static
        ``(lat, lon)`` variables (or projected ``(y, x)`` with a CRS).
    variables
        Grid variables to take (default: all with both spatial dims).
    names
        Grid variable -> canonical name in the cube (default: the grid's name).
    method, buffer_m
        Sampling (see :func:`sample_grid`).
    interpolate, max_gap_days
        Linearly interpolate between the product's dates (e.g. 8-day LAI composites) for
        gaps up to ``max_gap_days``; otherwise values sit on their own dates only.

    Returns
    -------
    xarray.Dataset
        The cube with the new variables: ``(site, time)`` for time-varying products (dates
        matched on the local calendar date), ``(site,)`` for static ones.

    Examples
    --------
    >>> cube = add_gridded(daily, lai_grid, names={"Lai": "lai"}, method="buffer")  # doctest: +SKIP
    """
    ds = _open_grid(grid)
    yn, xn, _ = _axes(ds)
    if variables is None:
        variables = [v for v, da in ds.data_vars.items() if yn in da.dims and xn in da.dims]
    missing = [v for v in variables if v not in ds]
    if missing:
        raise GridError(f"variables {missing} not in the grid; it has {list(ds.data_vars)}")
    sampled = sample_grid(
        ds[list(variables)],
        cube["latitude"].values,
        cube["longitude"].values,
        method=method,
        buffer_m=buffer_m,
        site=cube.site.values,
    )
    names = dict(names or {})
    out = cube.copy()
    for var in variables:
        da = sampled[var]
        if "time" in da.dims:
            da = _on_days(da, cube.time.values, var, interpolate, max_gap_days)
        name = names.get(var, var)
        attrs = {
            k: v for k, v in ds[var].attrs.items() if k in ("units", "long_name", "standard_name")
        }
        attrs.update(
            source_variable=var,
            sampling=method,
            outside_sites=sampled.attrs.get("outside_sites", ""),
        )
        attrs.setdefault("units", "1")
        attrs.setdefault("long_name", var)
        out[name] = da.transpose("site", ...).astype("float32").assign_attrs(attrs)
    return out


def _open_grid(grid: xr.Dataset | xr.DataArray | str | os.PathLike) -> xr.Dataset:
    """The grid as a Dataset, opened lazily from NetCDF/Zarr when a path is given."""
    if not isinstance(grid, xr.Dataset | xr.DataArray):
        path = str(grid)
        try:
            grid = (
                xr.open_zarr(path) if path.endswith(".zarr") else xr.open_dataset(path, chunks={})
            )
        except (OSError, ValueError) as err:
            raise GridError(f"{path}: cannot open the gridded product ({err})") from err
    return grid.to_dataset(name=grid.name or "value") if isinstance(grid, xr.DataArray) else grid


def _on_days(
    da: xr.DataArray, days: np.ndarray, var: str, interpolate: bool, max_gap_days: int
) -> xr.DataArray:
    """A product's dated values on the cube's days (matched on the calendar date)."""
    da = da.assign_coords(time=pd.DatetimeIndex(da.time.values).normalize())
    if not da.indexes["time"].is_unique:
        raise RemoteSensingError(f"{var}: the product has several values per date")
    if interpolate:
        union = np.union1d(days, da.time.values)
        da = interpolate_time(da.reindex(time=union), max_gap_days=max_gap_days)
    return da.reindex(time=days)
