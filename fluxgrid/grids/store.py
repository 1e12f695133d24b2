"""Grids on disk: opening NetCDF/Zarr grids and rasters, writing Zarr, chunk plans.

:func:`open_grid` opens one or many NetCDF files (lazily, ``open_mfdataset``) or a Zarr
store and brings it to the grid convention (:func:`fluxgrid.grids.standardise_grid`);
:func:`open_raster` reads a remote-sensing raster (MODIS sinusoidal or lat/lon) onto
lat/lon. :func:`write_grid` writes a consolidated Zarr store atomically, chunked by
:func:`grid_chunk_plan` for its use: the full time axis per chunk for inference (the
look-back needs the whole series of a pixel), or few time steps per chunk for maps.

Examples
--------
>>> era5 = open_grid("era5_2010_*.nc")                  # doctest: +SKIP
>>> write_grid(era5, "era5.zarr", layout="inference")   # doctest: +SKIP
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import DataNotFoundError, FileFormatError, GridError
from ..io.atomic import atomic_path, check_writable
from .core import rename_coords, standardise_grid
from .regrid import regrid

__all__ = ["grid_chunk_plan", "open_grid", "open_raster", "rechunk_for_inference", "write_grid"]

#: target bytes per chunk of one variable
_CHUNK_BYTES = 64 * 2**20


def _expand_paths(paths) -> list[Path]:
    """Files and stores named by ``paths`` (glob patterns expanded, sorted); all must exist."""
    items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    out: list[Path] = []
    for item in items:
        text = str(item)
        if any(ch in text for ch in "*?["):
            hits = sorted(glob.glob(text))
            if not hits:
                raise DataNotFoundError(f"{text}: no file matches this pattern")
            out.extend(Path(h) for h in hits)
        else:
            out.append(Path(item))
    for path in out:
        if not path.exists():
            raise DataNotFoundError(f"{path}: no such file or store")
    if not out:
        raise DataNotFoundError("no grid file given; pass NetCDF files or a Zarr store")
    return out


def _open_files(files: list[Path], chunks: dict | str) -> xr.Dataset:
    """One Zarr store, one NetCDF file, or several NetCDF files combined by coordinates."""
    try:
        if len(files) == 1 and files[0].is_dir():
            return xr.open_zarr(files[0], chunks=chunks)
        if len(files) == 1:
            return xr.open_dataset(files[0], chunks=chunks)
        return xr.open_mfdataset(
            files,
            chunks=chunks,
            combine="by_coords",
            data_vars="minimal",
            coords="minimal",
            compat="override",
            join="outer",
            preprocess=rename_coords,
        )
    except (OSError, ValueError, KeyError) as err:
        raise FileFormatError(
            files[0],
            f"cannot be opened as a grid ({err})",
            expected="NetCDF files or a Zarr store with time, latitude and longitude",
        ) from err


def open_grid(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    chunks: dict | str | None = None,
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Open gridded data (NetCDF files, a glob pattern, or a Zarr store) lazily, standardised.

    Parameters
    ----------
    paths
        One NetCDF file, several files or a glob pattern (combined along time with
        ``open_mfdataset``), or one Zarr store.
    chunks
        Dask chunks (default: the files' own chunking, one file per chunk along time).
    variables
        Keep only these source variables (others are not read).

    Returns
    -------
    xarray.Dataset
        Dims ``(time, lat, lon)`` as in :func:`fluxgrid.grids.standardise_grid`, Dask-backed.

    Raises
    ------
    DataNotFoundError
        If a path or pattern matches nothing.
    FileFormatError
        If the files cannot be opened or combined.
    GridError
        If coordinates are missing or out of range.

    Examples
    --------
    >>> drivers = open_grid("drivers.zarr", variables=["ta", "vpd"])  # doctest: +SKIP
    """
    files = _expand_paths(paths)
    ds = _open_files(files, {} if chunks is None else chunks)
    if variables is not None:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise GridError(
                f"{files[0]}: variables {missing} not found; the grid has {sorted(ds.data_vars)}"
            )
        ds = ds[list(variables)]
    ds.attrs.setdefault("source_files", ", ".join(str(f) for f in files[:20]))
    return standardise_grid(ds, source=str(files[0]))


def open_raster(
    path: str | os.PathLike,
    *,
    variable: str | None = None,
    target: xr.Dataset | xr.DataArray | None = None,
    method: Literal["auto", "conservative", "bilinear", "nearest"] = "auto",
    resolution: float | None = None,
) -> xr.DataArray:
    """Read a remote-sensing raster (GeoTIFF, NetCDF; MODIS sinusoidal or lat/lon) onto lat/lon.

    The raster is read lazily with rioxarray (scale factors and fill values applied), warped
    from its CRS (e.g. the MODIS sinusoidal projection) to geographic coordinates
    (EPSG:4326) with rasterio, and, when ``target`` is given, regridded onto it with
    :func:`fluxgrid.grids.regrid`. Categorical rasters (land cover) use nearest-neighbour
    warping and should be aggregated with :func:`fluxgrid.grids.class_fractions`.

    Parameters
    ----------
    path
        A file GDAL can read (MODIS HDF4 tiles need a GDAL built with HDF4; NetCDF/GeoTIFF
        exports such as AppEEARS products work everywhere).
    variable
        Sub-dataset / variable name for multi-variable files.
    target
        Grid to regrid onto (from :func:`fluxgrid.grids.make_grid` or any standard grid).
    method
        Regridding method for ``target`` (see :func:`fluxgrid.grids.regrid`).
    resolution
        Resolution in degrees of the intermediate lat/lon warp (default: rasterio's choice,
        about the native resolution).

    Returns
    -------
    xarray.DataArray
        Dims ``(lat, lon)`` or ``(time|band, lat, lon)`` in the standard layout.

    Examples
    --------
    >>> lc = open_raster("MCD12Q1_LC_Type1.tif", target=drivers)  # doctest: +SKIP
    """
    rioxarray = lazy_import("rioxarray")
    from rasterio.enums import Resampling  # rasterio comes with rioxarray

    try:
        raw = rioxarray.open_rasterio(path, masked=True, chunks=True)
    except Exception as err:  # rasterio raises its own error classes
        raise FileFormatError(path, f"cannot be read as a raster ({err})") from err
    if isinstance(raw, list):
        raw = raw[0]
    if isinstance(raw, xr.Dataset):
        if variable is None:
            if len(raw.data_vars) != 1:
                raise GridError(
                    f"{path}: several variables {sorted(raw.data_vars)}; pass variable=..."
                )
            variable = next(iter(raw.data_vars))
        raw = raw[variable]
    stored = np.dtype(raw.encoding.get("dtype", raw.dtype))
    categorical = "flag_values" in raw.attrs or stored.kind in "iu"
    if raw.rio.crs is None:
        raise GridError(f"{path}: no coordinate reference system; expected a georeferenced raster")
    if not raw.rio.crs.is_geographic or resolution is not None:
        kwargs = {"resolution": resolution} if resolution is not None else {}
        raw = raw.rio.reproject(
            "EPSG:4326",
            resampling=Resampling.nearest if categorical else Resampling.bilinear,
            **kwargs,
        )
    da = raw.rename({"x": "lon", "y": "lat"})
    if "band" in da.dims and da.sizes["band"] == 1:
        da = da.isel(band=0, drop=True)
    da = da.drop_vars([c for c in ("spatial_ref",) if c in da.coords])
    da = standardise_grid(da.to_dataset(name="value"), source=str(path))["value"]
    da.name = variable or Path(path).stem
    if target is not None:
        da = regrid(da, target, method="nearest" if categorical and method == "auto" else method)
    return da


def grid_chunk_plan(
    ds: xr.Dataset,
    *,
    target_bytes: int = _CHUNK_BYTES,
    layout: Literal["inference", "maps"] = "inference",
) -> dict[str, int]:
    """Chunk sizes for a grid.

    ``"inference"``: the full time axis and square-ish ``(lat, lon)`` tiles holding about
    ``target_bytes`` per variable (the look-back needs the whole series of a pixel).
    ``"maps"``: one time step per chunk and the full map (or ``target_bytes`` tiles).

    Parameters
    ----------
    ds
        Grid, dims ``(time, lat, lon)`` (a missing dim counts as size 1).
    target_bytes
        About how many bytes one chunk of one variable holds.
    layout
        ``"inference"`` or ``"maps"``, see above.

    Returns
    -------
    dict
        ``{"time": n, "lat": n, "lon": n}`` chunk sizes.

    Examples
    --------
    >>> import pandas as pd
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0)
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), np.zeros((10, 180, 360), "float32"))},
    ...                 coords={"time": pd.date_range("2000", periods=10), **g.coords})
    >>> grid_chunk_plan(ds, target_bytes=10 * 40 * 60 * 4)
    {'time': 10, 'lat': 45, 'lon': 52}
    """
    n_time, n_lat, n_lon = (int(ds.sizes.get(d, 1)) for d in ("time", "lat", "lon"))
    itemsize = max((ds[v].dtype.itemsize for v in ds.data_vars), default=4)
    if layout == "maps":
        per_map = n_lat * n_lon * itemsize
        if per_map <= target_bytes:
            return {
                "time": max(1, min(n_time, target_bytes // per_map)),
                "lat": n_lat,
                "lon": n_lon,
            }
        side = int(np.sqrt(target_bytes / itemsize))
        return {"time": 1, "lat": min(n_lat, side), "lon": min(n_lon, side)}
    pixels = max(1, target_bytes // (n_time * itemsize))
    side = max(1, int(np.sqrt(pixels)))
    # even out the tiles so the last one is not a sliver
    lat = min(n_lat, side)
    lat = int(np.ceil(n_lat / np.ceil(n_lat / lat)))
    lon = min(n_lon, max(1, pixels // lat))
    lon = int(np.ceil(n_lon / np.ceil(n_lon / lon)))
    return {"time": n_time, "lat": lat, "lon": lon}


def rechunk_for_inference(ds: xr.Dataset, *, target_bytes: int = _CHUNK_BYTES) -> xr.Dataset:
    """Rechunk drivers to ``(full time, lat tile, lon tile)`` blocks for blockwise inference.

    Each block holds the whole record of a tile of pixels, so the look-back windows of every
    pixel are inside one block and memory per worker is bounded by ``target_bytes`` per
    variable, not by the grid size. See :func:`grid_chunk_plan`.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> ta = np.zeros((4, 18, 36), "float32")  # 4 days on a 10 degree grid
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), ta)}, coords=make_grid(10.0).coords)
    >>> rechunk_for_inference(ds, target_bytes=4 * 4 * 9 * 12).ta.chunks[1:]
    ((9, 9), (12, 12, 12))
    """
    return ds.chunk(grid_chunk_plan(ds, target_bytes=target_bytes, layout="inference"))


def write_grid(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    layout: Literal["inference", "maps"] = "inference",
    target_bytes: int = _CHUNK_BYTES,
) -> Path:
    """Write a grid to a consolidated Zarr store, atomically, chunked for its use.

    Parameters
    ----------
    ds
        Grid in the standard layout (lazy or in memory).
    path
        Target store.
    overwrite
        Replace an existing store.
    layout
        ``"inference"`` (full time axis per chunk) or ``"maps"`` (few time steps per chunk);
        see :func:`grid_chunk_plan`.
    target_bytes
        About how many bytes one chunk of one variable holds.

    Returns
    -------
    pathlib.Path
        The store path; open it again with :func:`open_grid`.

    Examples
    --------
    >>> write_grid(drivers, "drivers.zarr", overwrite=True)  # doctest: +SKIP
    """
    path = check_writable(path, overwrite)
    plan = grid_chunk_plan(ds, target_bytes=target_bytes, layout=layout)
    out = ds.chunk({k: v for k, v in plan.items() if k in ds.dims})
    for name in out.variables:
        out[name].encoding = {}
    with atomic_path(path) as tmp:
        out.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
    return path
