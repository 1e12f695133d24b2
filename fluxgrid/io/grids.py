"""Gridded drivers: ERA5 / ERA5-Land and MODIS-like grids -> canonical daily grids.

Every grid fluxgrid produces follows one convention: dims ``(time, lat, lon)``, ``lat``
ascending, ``lon`` in [-180, 180) and ascending, CF-1.8 coordinate attributes, canonical
variable names and units from the catalog (``ta`` degC, ``sw_in`` W m-2, ``vpd`` hPa,
``p`` mm d-1, ``ws`` m s-1, ``pa`` kPa) and float32 values.

Reading (:func:`open_grid`) opens one or many NetCDF files (lazily, ``open_mfdataset``) or a
Zarr store and harmonises the coordinates: ``valid_time`` (new CDS files) -> ``time``,
``latitude``/``longitude`` -> ``lat``/``lon``, longitudes 0..360 -> -180..180 (sorted),
descending latitudes -> ascending, ERA5/ERA5T ``expver`` merged.

Conversion (:func:`era5_to_daily`) turns hourly ERA5-convention fields into daily drivers:

* ``ta`` = daily mean of ``t2m`` (K -> degC).
* ``vpd`` = daily mean of hourly ``es(t2m) - es(d2m)`` (hPa, negative values set to 0), with
  the Magnus-Tetens form used by the ECMWF IFS over water (Buck 1981)::

      es(T) = 6.1121 hPa * exp(17.502 * T / (T + 240.97)),   T in degC

* ``sw_in`` = daily mean flux from accumulated ``ssrd`` (J m-2): per-step energy / step
  length in seconds, averaged over the day (= daily total / 86400 s).
* ``p`` = daily total of accumulated ``tp`` (m -> mm d-1).
* ``ws`` = daily mean of hourly ``sqrt(u10**2 + v10**2)`` (the mean speed, not the speed of
  the mean vector), or of ``si10`` where given.
* ``pa`` = daily mean of ``sp`` (Pa -> kPa), where present.

Accumulated fields come in two conventions. **ERA5** (single levels, hourly): each value is
the amount over the step *ending* at its time stamp (``accumulation="per_step"``).
**ERA5-Land**: values accumulate from 00 UTC and reset daily; the value at 01 UTC holds
00-01, the value at 00 UTC the whole previous day (``accumulation="since_midnight"``); per-step
amounts are ``x(t) - x(t - step)``, except for the first step after 00 UTC, where they are
``x(t)``. ``accumulation="auto"`` detects the convention from a small sample of the data
(up to 72 steps on at most 16 x 16 pixels): values accumulated since midnight never drop
within a day (beyond packing noise of 0.1 % of the range), per-step values do.

Days are UTC days by default: instantaneous fields at 00..23 UTC and accumulations over the
intervals that start at 00..23 UTC (so a day's last hour is the value stamped 00 UTC of the
next day). ``day="solar"`` uses local solar days instead: every longitude column is shifted by
``round(lon / 15 h)`` (to whole steps) before aggregating. A day is kept when at least
``min_coverage`` of its steps are present (default: complete days); days at either end of the
record that cannot be complete by their time stamps are trimmed, interior gaps become NaN.

Regridding (:func:`regrid`) is vectorised and Dask-friendly: area-weighted (conservative)
averages for coarsening, built from separable overlap weights on the sphere (``dsin(lat)``
times ``dlon``) and applied as two tensor contractions; bilinear interpolation for refining;
nearest neighbour for categories. Land and vegetation masks come from IGBP land-cover grids
(:func:`class_fractions`, :func:`land_mask`, :func:`vegetation_type`) or from land fractions.

Examples
--------
>>> grid = make_grid(1.0, bbox=(-10, 40, 10, 60))
>>> grid.sizes["lat"], grid.sizes["lon"], float(grid.lat[0]), float(grid.lon[0])
(20, 20, 40.5, -9.5)
>>> round(float(saturation_vapour_pressure(20.0)), 2)  # hPa
23.37
>>> era5 = open_grid("era5_2010_*.nc")                       # doctest: +SKIP
>>> drivers = era5_to_daily(era5, accumulation="per_step")   # doctest: +SKIP
>>> drivers = regrid(drivers, make_grid(0.5), method="conservative")  # doctest: +SKIP
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from ..catalog.units import convert, normalise
from ..errors import DataNotFoundError, FileFormatError, GridError, UnitError
from .atomic import atomic_path, check_writable

__all__ = [
    "DRIVER_VARIABLES",
    "ERA5_SOURCES",
    "IGBP_CLASSES",
    "cell_edges",
    "class_fractions",
    "conservative_weights",
    "detect_accumulation",
    "drivers_from_config",
    "era5_to_daily",
    "grid_chunk_plan",
    "grid_edges",
    "grid_to_sites",
    "land_mask",
    "make_grid",
    "open_grid",
    "open_raster",
    "prepare_drivers",
    "read_era5",
    "rechunk_for_inference",
    "regrid",
    "saturation_vapour_pressure",
    "sites_to_grid",
    "standardise_grid",
    "vegetation_mask",
    "vegetation_type",
    "write_grid",
]

#: canonical daily drivers of the models (same names and units as the site cube)
DRIVER_VARIABLES = ("ta", "sw_in", "vpd", "p", "ws")

#: ERA5 / ERA5-Land source names (NetCDF short names, GRIB short names, CDS long names)
ERA5_SOURCES: dict[str, tuple[str, ...]] = {
    "t2m": ("t2m", "2t", "2m_temperature", "T2M"),
    "d2m": ("d2m", "2d", "2m_dewpoint_temperature", "D2M"),
    "ssrd": ("ssrd", "surface_solar_radiation_downwards", "SSRD"),
    "tp": ("tp", "total_precipitation", "TP"),
    "u10": ("u10", "10u", "10m_u_component_of_wind", "U10"),
    "v10": ("v10", "10v", "10m_v_component_of_wind", "V10"),
    "si10": ("si10", "10si", "10m_wind_speed"),
    "sp": ("sp", "surface_pressure", "SP"),
}

#: what each canonical driver is made of (alternatives, each a tuple of ERA5 sources)
_RECIPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "ta": (("t2m",),),
    "vpd": (("t2m", "d2m"),),
    "sw_in": (("ssrd",),),
    "p": (("tp",),),
    "ws": (("si10",), ("u10", "v10")),
    "pa": (("sp",),),
}

#: IGBP classes of MODIS MCD12Q1 LC_Type1 (code -> FLUXNET abbreviation, description)
IGBP_CLASSES: dict[int, tuple[str, str]] = {
    1: ("ENF", "evergreen needleleaf forests"),
    2: ("EBF", "evergreen broadleaf forests"),
    3: ("DNF", "deciduous needleleaf forests"),
    4: ("DBF", "deciduous broadleaf forests"),
    5: ("MF", "mixed forests"),
    6: ("CSH", "closed shrublands"),
    7: ("OSH", "open shrublands"),
    8: ("WSA", "woody savannas"),
    9: ("SAV", "savannas"),
    10: ("GRA", "grasslands"),
    11: ("WET", "permanent wetlands"),
    12: ("CRO", "croplands"),
    13: ("URB", "urban and built-up lands"),
    14: ("CVM", "cropland/natural vegetation mosaics"),
    15: ("SNO", "permanent snow and ice"),
    16: ("BSV", "barren"),
    17: ("WAT", "water bodies"),
}

_LAT_ATTRS = {
    "standard_name": "latitude",
    "long_name": "latitude",
    "units": "degrees_north",
    "axis": "Y",
}
_LON_ATTRS = {
    "standard_name": "longitude",
    "long_name": "longitude",
    "units": "degrees_east",
    "axis": "X",
}
_TIME_ATTRS = {"standard_name": "time", "long_name": "time", "axis": "T"}
_DAY = np.timedelta64(1, "D")

# Magnus-Tetens constants of the ECMWF IFS over water (Buck 1981)
_ES0_HPA, _ES_A, _ES_B = 6.1121, 17.502, 240.97


# --------------------------------------------------------------------------- small helpers
def saturation_vapour_pressure(t_degc):
    """Saturation vapour pressure over water (hPa), Magnus-Tetens form of the ECMWF IFS.

    ``es(T) = 6.1121 * exp(17.502 * T / (T + 240.97))`` with ``T`` in degC (Buck 1981).

    Parameters
    ----------
    t_degc
        Temperature in degC (number, NumPy array or DataArray, lazy or not).

    Returns
    -------
    same type as ``t_degc``
        Saturation vapour pressure in hPa.

    Examples
    --------
    >>> round(float(saturation_vapour_pressure(10.0)), 3)
    12.276
    """
    return _ES0_HPA * np.exp(_ES_A * t_degc / (t_degc + _ES_B))


def _units(da: xr.DataArray, name: str) -> str:
    """Units of ``da`` in fluxgrid spelling (``J m**-2`` -> ``J m-2``)."""
    raw = da.attrs.get("units")
    if raw is None:
        raise UnitError(
            f"variable {name!r} has no 'units' attribute; set it, e.g. "
            f"ds[{name!r}].attrs['units'] = 'K'"
        )
    return " ".join(str(raw).replace("**", "").replace("^", "").split())


def _with_coord_attrs(ds):
    ds = ds.copy()
    if "lat" in ds.coords:
        ds["lat"].attrs = dict(_LAT_ATTRS)
    if "lon" in ds.coords:
        ds["lon"].attrs = dict(_LON_ATTRS)
    if "time" in ds.coords:
        ds["time"].attrs = dict(_TIME_ATTRS)
    return ds


def make_grid(
    resolution: float | tuple[float, float],
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0),
) -> xr.Dataset:
    """An empty regular lat/lon target grid (cell centres) for :func:`regrid`.

    Parameters
    ----------
    resolution
        Cell size in degrees, one number or ``(dlat, dlon)``.
    bbox
        ``(lon_min, lat_min, lon_max, lat_max)`` of the cell edges, degrees.

    Returns
    -------
    xarray.Dataset
        Coordinates ``lat`` (ascending) and ``lon`` (in [-180, 180)) with CF attributes, and
        their cell bounds ``lat_bnds``/``lon_bnds`` (dims ``(lat|lon, nv)``).

    Examples
    --------
    >>> g = make_grid(0.5)
    >>> g.sizes["lat"], g.sizes["lon"]
    (360, 720)
    """
    dlat, dlon = (resolution, resolution) if np.isscalar(resolution) else resolution
    lon0, lat0, lon1, lat1 = map(float, bbox)
    if not (-90 <= lat0 < lat1 <= 90 and -180 <= lon0 < lon1 <= 180):
        raise GridError(
            f"bbox {bbox} is out of range; expected (lon_min, lat_min, lon_max, lat_max) with "
            "-180 <= lon_min < lon_max <= 180 and -90 <= lat_min < lat_max <= 90"
        )
    nlat = round((lat1 - lat0) / dlat)
    nlon = round((lon1 - lon0) / dlon)
    lat = lat0 + dlat * (np.arange(nlat) + 0.5)
    lon = lon0 + dlon * (np.arange(nlon) + 0.5)
    lat_edges = np.round(lat0 + dlat * np.arange(nlat + 1), 10)
    lon_edges = np.round(lon0 + dlon * np.arange(nlon + 1), 10)
    ds = xr.Dataset(
        {
            "lat_bnds": (("lat", "nv"), np.stack([lat_edges[:-1], lat_edges[1:]], axis=1)),
            "lon_bnds": (("lon", "nv"), np.stack([lon_edges[:-1], lon_edges[1:]], axis=1)),
        },
        coords={"lat": np.round(lat, 10), "lon": np.round(lon, 10)},
    )
    ds = _with_coord_attrs(ds)
    ds["lat"].attrs["bounds"], ds["lon"].attrs["bounds"] = "lat_bnds", "lon_bnds"
    return ds


def cell_edges(coord: xr.DataArray | np.ndarray, *, kind: Literal["lat", "lon"]) -> np.ndarray:
    """Edges (``n + 1``) of cells around the centres ``coord``, in degrees.

    Edges are the midpoints between centres, the outer ones mirrored; latitude edges are
    clipped to [-90, 90]. A coordinate with CF ``bounds`` (``lat_bnds``) is not needed for
    regular or smoothly varying grids; a single cell needs its bounds given explicitly.

    Parameters
    ----------
    coord
        1-D ascending cell centres.
    kind
        ``"lat"`` (clip to the poles) or ``"lon"``.

    Examples
    --------
    >>> cell_edges(np.array([-45.0, 45.0]), kind="lat")
    array([-90.,   0.,  90.])
    """
    c = np.asarray(coord, dtype="float64")
    if c.ndim != 1 or c.size < 2:
        raise GridError(
            f"{kind}: need at least two cell centres to derive cell edges, got {c.size}; "
            "give a grid with two or more cells along each axis"
        )
    mid = 0.5 * (c[1:] + c[:-1])
    edges = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    if kind == "lat":
        edges = np.clip(edges, -90.0, 90.0)
    return edges


# --------------------------------------------------------------------------- reading
_RENAMES = {"valid_time": "time", "latitude": "lat", "longitude": "lon"}


def _expand_paths(paths) -> list[Path]:
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
        Dims ``(time, lat, lon)`` as in :func:`standardise_grid`, Dask-backed.

    Raises
    ------
    DataNotFoundError
        If a path or pattern matches nothing.
    FileFormatError
        If the files cannot be opened or combined.
    GridError
        If coordinates are missing or out of range.
    """
    files = _expand_paths(paths)
    chunks = {} if chunks is None else chunks
    try:
        if len(files) == 1 and files[0].is_dir():
            ds = xr.open_zarr(files[0], chunks=chunks)
        elif len(files) == 1:
            ds = xr.open_dataset(files[0], chunks=chunks)
        else:
            ds = xr.open_mfdataset(
                files,
                chunks=chunks,
                combine="by_coords",
                data_vars="minimal",
                coords="minimal",
                compat="override",
                join="outer",
                preprocess=_rename_coords,
            )
    except (OSError, ValueError, KeyError) as err:
        raise FileFormatError(
            files[0],
            f"cannot be opened as a grid ({err})",
            expected="NetCDF files or a Zarr store with time, latitude and longitude",
        ) from err
    if variables is not None:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise GridError(
                f"{files[0]}: variables {missing} not found; the grid has {sorted(ds.data_vars)}"
            )
        ds = ds[list(variables)]
    ds.attrs.setdefault("source_files", ", ".join(str(f) for f in files[:20]))
    return standardise_grid(ds, source=str(files[0]))


def _rename_coords(ds: xr.Dataset) -> xr.Dataset:
    """``valid_time``/``latitude``/``longitude`` -> ``time``/``lat``/``lon``; ERA5 ``expver``."""
    if "valid_time" in ds.variables and "time" in ds.variables and "time" not in ds.dims:
        ds = ds.drop_vars("time")  # forecast reference time of GRIB-derived files
    ds = ds.rename({k: v for k, v in _RENAMES.items() if k in ds.variables and v not in ds.dims})
    if "expver" in ds.dims:
        # old CDS files: ERA5 (expver 1) and ERA5T (expver 5) side by side, NaN where absent
        merged = ds.isel(expver=0)
        for i in range(1, ds.sizes["expver"]):
            merged = merged.combine_first(ds.isel(expver=i))
        ds = merged
    drop = [
        c for c in ("expver", "number", "step", "surface", "heightAboveGround") if c in ds.coords
    ]
    return ds.drop_vars([c for c in drop if c not in ds.dims])


def standardise_grid(ds: xr.Dataset, *, source: str | None = None) -> xr.Dataset:
    """Bring a grid to fluxgrid's convention (lazy: only coordinates are touched).

    Renames ``valid_time``/``latitude``/``longitude``, merges ERA5/ERA5T ``expver``, squeezes
    size-1 extra dims (``number``, ``surface``), wraps longitudes to [-180, 180) and sorts
    them, sorts latitudes ascending and orders dims ``(time, lat, lon)``. Longitudes that
    coincide after wrapping (a grid holding both 0 and 360) keep their first occurrence; the
    dropped ones are listed in ``attrs["dropped_longitudes"]``.

    Parameters
    ----------
    ds
        Gridded dataset with latitude/longitude (and optionally time) coordinates.
    source
        Name used in error messages (a file).

    Returns
    -------
    xarray.Dataset
        The same data in the standard layout, ``Conventions = "CF-1.8"``.

    Raises
    ------
    GridError
        If lat/lon are missing, out of range ([-90, 90] and [-180, 360]) or duplicated, or
        extra dimensions remain.

    Examples
    --------
    >>> raw = xr.Dataset(
    ...     {"t2m": (("latitude", "longitude"), np.arange(6.0).reshape(2, 3))},
    ...     coords={"latitude": [10.0, 0.0], "longitude": [0.0, 180.0, 270.0]},
    ... )
    >>> std = standardise_grid(raw)
    >>> std.lon.values.tolist(), std.lat.values.tolist()
    ([-180.0, -90.0, 0.0], [0.0, 10.0])
    """
    where = f"{source}: " if source else ""
    ds = _rename_coords(ds)
    for name, full in (("lat", "latitude"), ("lon", "longitude")):
        if name not in ds.dims:
            raise GridError(
                f"{where}no {full} dimension; expected a 1-D coordinate named "
                f"'{full}' or '{name}', found dims {list(ds.dims)}"
            )
    extra = [d for d in ds.dims if d not in ("time", "lat", "lon")]
    squeeze = [d for d in extra if ds.sizes[d] == 1]
    if squeeze:
        ds = ds.isel({d: 0 for d in squeeze}, drop=True)
    extra = [d for d in extra if d not in squeeze]
    if extra:
        raise GridError(
            f"{where}unexpected dimensions {extra}; a driver grid has (time, lat, lon): select "
            "one level/member first (e.g. ds.isel(number=0))"
        )
    lat = ds["lat"].values.astype("float64")
    lon = ds["lon"].values.astype("float64")
    if not np.all(np.isfinite(lat)) or lat.min() < -90 or lat.max() > 90:
        raise GridError(
            f"{where}latitudes out of range [{np.nanmin(lat)}, {np.nanmax(lat)}]; "
            "expected degrees north in [-90, 90]"
        )
    if not np.all(np.isfinite(lon)) or lon.min() < -180 or lon.max() > 360:
        raise GridError(
            f"{where}longitudes out of range [{np.nanmin(lon)}, {np.nanmax(lon)}]; "
            "expected degrees east in [-180, 180) or [0, 360)"
        )
    wrapped = ((lon + 180.0) % 360.0) - 180.0
    ds = ds.assign_coords(lon=wrapped)
    _, first = np.unique(wrapped, return_index=True)
    if first.size < wrapped.size:
        dup = np.setdiff1d(np.arange(wrapped.size), first)
        ds = ds.isel(lon=np.sort(first))
        ds.attrs["dropped_longitudes"] = ", ".join(f"{lon[i]:g}" for i in dup)
    if np.unique(lat).size < lat.size:
        raise GridError(f"{where}duplicate latitudes; expected one row per latitude")
    ds = ds.sortby("lon").sortby("lat")
    order = [d for d in ("time", "lat", "lon") if d in ds.dims]
    ds = ds.transpose(*order, ...)
    ds = _with_coord_attrs(ds)
    ds.attrs["Conventions"] = "CF-1.8"
    return ds


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
    :func:`regrid`. Categorical rasters (land cover) use nearest-neighbour warping and should
    be aggregated with :func:`class_fractions`.

    Parameters
    ----------
    path
        A file GDAL can read (MODIS HDF4 tiles need a GDAL built with HDF4; NetCDF/GeoTIFF
        exports such as AppEEARS products work everywhere).
    variable
        Sub-dataset / variable name for multi-variable files.
    target
        Grid to regrid onto (from :func:`make_grid` or any standard grid).
    method
        Regridding method for ``target`` (see :func:`regrid`).
    resolution
        Resolution in degrees of the intermediate lat/lon warp (default: rasterio's choice,
        about the native resolution).

    Returns
    -------
    xarray.DataArray
        Dims ``(lat, lon)`` or ``(time|band, lat, lon)`` in the standard layout.
    """
    rioxarray = _lazy("rioxarray")
    from rasterio.enums import Resampling

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


def _lazy(name: str):
    from .._lazy import lazy_import

    return lazy_import(name)


# --------------------------------------------------------------------------- ERA5 -> daily
def _find_sources(ds: xr.Dataset) -> dict[str, str]:
    """ERA5 source key -> variable name present in ``ds``."""
    found = {}
    for key, names in ERA5_SOURCES.items():
        for name in names:
            if name in ds.data_vars:
                found[key] = name
                break
    return found


def _missing_message(name: str, ds: xr.Dataset) -> str:
    options = " or ".join(
        " and ".join(f"{ERA5_SOURCES[s][0]!r} ({'/'.join(ERA5_SOURCES[s][1:3])})" for s in combo)
        for combo in _RECIPES[name]
    )
    return (
        f"the grid has no source for {name!r} ({catalog.get(name).long_name}): expected "
        f"{name!r} in {catalog.units_for(name)} or {options}; found variables "
        f"{sorted(map(str, ds.data_vars))}"
    )


def _time_step(time: np.ndarray, where: str = "") -> np.timedelta64:
    if time.size < 2:
        raise GridError(f"{where}the grid has {time.size} time step(s); need at least two")
    steps = np.diff(time)
    step = np.min(steps)
    if step <= np.timedelta64(0, "s"):
        raise GridError(f"{where}time stamps are not strictly increasing; sort the grid by time")
    if np.any(steps % step != np.timedelta64(0, "s")):
        raise GridError(
            f"{where}irregular time steps (smallest {step}); expected a regular hourly, "
            "3-hourly or daily axis, gaps allowed"
        )
    if step < _DAY and _DAY % step != np.timedelta64(0, "s"):
        raise GridError(f"{where}time step {step} does not divide one day")
    if step > _DAY:
        raise GridError(f"{where}time step {step} is coarser than daily; expected sub-daily data")
    return step


def detect_accumulation(
    da: xr.DataArray, *, max_steps: int = 72, max_pixels: int = 16
) -> Literal["per_step", "since_midnight"]:
    """Which accumulation convention an ERA5-family field uses, judged from a small sample.

    Values accumulated since 00 UTC (ERA5-Land) never decrease within a day; amounts per step
    (ERA5) go up and down with the diurnal cycle and weather. A sample of at most
    ``max_steps`` time steps on a ``max_pixels`` x ``max_pixels`` strided subset is read;
    drops larger than 0.1 % of the sample's range (packing noise) between steps of the same
    accumulation day are counted, and fewer than 1 % of the non-zero steps means
    ``"since_midnight"``.

    Parameters
    ----------
    da
        Accumulated field (``ssrd`` or ``tp``), dims ``(time, lat, lon)``.

    Returns
    -------
    str
        ``"per_step"`` (ERA5) or ``"since_midnight"`` (ERA5-Land).
    """
    n = min(da.sizes["time"], max_steps)
    lat_stride = max(1, da.sizes["lat"] // max_pixels)
    lon_stride = max(1, da.sizes["lon"] // max_pixels)
    sample = da.isel(
        time=slice(0, n), lat=slice(None, None, lat_stride), lon=slice(None, None, lon_stride)
    )
    values = np.asarray(sample.values, dtype="float64").reshape(n, -1)
    time = sample["time"].values
    step = _time_step(time) if n > 1 else _DAY
    diffs = np.diff(values, axis=0)
    # a new accumulation starts at the first step after 00 UTC (its value is not a difference)
    starts = (time[1:] - step).astype("datetime64[D]") == (time[1:] - step)
    consecutive = np.diff(time) == step
    use = consecutive & ~starts
    diffs = diffs[use]
    span = np.nanmax(values) - np.nanmin(values) if np.isfinite(values).any() else 0.0
    if diffs.size == 0 or span == 0:
        return "per_step"
    significant = np.abs(diffs) > 1e-3 * span
    drops = (diffs < -1e-3 * span).sum()
    moving = max(int(significant.sum()), 1)
    return "since_midnight" if drops / moving < 0.01 else "per_step"


def _per_step_amounts(da: xr.DataArray, step: np.timedelta64, mode: str, name: str) -> xr.DataArray:
    """Amounts per step from accumulated values (``since_midnight`` de-accumulated)."""
    if mode == "per_step":
        return da
    if mode != "since_midnight":
        raise GridError(
            f"{name}: accumulation={mode!r}; expected 'auto', 'per_step' (ERA5) or "
            "'since_midnight' (ERA5-Land)"
        )
    time = da["time"].values
    start_of_day = (time - step).astype("datetime64[D]") == (time - step)
    previous = da.shift(time=1)
    prev_ok = np.concatenate([[False], np.diff(time) == step])
    prev_ok = xr.DataArray(prev_ok, dims="time", coords={"time": da.time})
    first = xr.DataArray(start_of_day, dims="time", coords={"time": da.time})
    amounts = xr.where(first, da, xr.where(prev_ok, da - previous, np.nan))
    return amounts.assign_attrs(da.attrs)


def _daily(
    da: xr.DataArray,
    *,
    step: np.timedelta64,
    interval_end: bool,
    factor: float,
    min_coverage: float,
    day: str,
) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """Daily means of ``da`` (x ``factor``); also per-day coverage known from time stamps."""
    per_day = int(_DAY // step)
    labels = da["time"].values - (step if interval_end and per_day > 1 else np.timedelta64(0, "s"))
    da = da.assign_coords(time=labels)
    if day == "solar" and per_day > 1:
        hours = step / np.timedelta64(1, "h")
        shift = np.round(da["lon"].values / 15.0 / hours).astype(int)
        groups = [
            (int(k), np.flatnonzero(shift == k)) for k in np.unique(shift)
        ]  # contiguous bands of longitude (lon is sorted)
    else:
        groups = [(0, np.arange(da.sizes["lon"]))]
    first_day = (labels.min() + step * int(np.min([g[0] for g in groups]))).astype("datetime64[D]")
    last_day = (labels.max() + step * int(np.max([g[0] for g in groups]))).astype("datetime64[D]")
    days = np.arange(first_day, last_day + np.timedelta64(1, "D"), dtype="datetime64[D]")
    axis = (days[0] + np.arange(days.size * per_day) * step).astype("datetime64[ns]")
    need = int(np.ceil(min_coverage * per_day - 1e-9))
    parts, coverage = [], np.full(days.size, np.inf)
    for k, cols in groups:
        sub = da.isel(lon=slice(int(cols[0]), int(cols[-1]) + 1))
        sub = sub.assign_coords(time=(labels + k * step).astype("datetime64[ns]"))
        # steps of each day inside the record's span (gaps inside it do not count here)
        shifted = sub["time"].values
        inside = (axis >= shifted.min()) & (axis <= shifted.max())
        present = inside.reshape(days.size, per_day).sum(axis=1)
        coverage = np.minimum(coverage, present / per_day)
        sub = sub.reindex(time=axis)
        window = sub.coarsen(time=per_day)
        mean = window.mean() * factor
        count = window.count()
        parts.append(mean.where(count >= max(need, 1)))
    out = parts[0] if len(parts) == 1 else xr.concat(parts, dim="lon")
    out = out.assign_coords(time=days.astype("datetime64[ns]"))
    return out, days, coverage


def era5_to_daily(
    ds: xr.Dataset,
    *,
    variables: Sequence[str] = DRIVER_VARIABLES,
    accumulation: Literal["auto", "per_step", "since_midnight"] = "auto",
    day: Literal["utc", "solar"] = "utc",
    min_coverage: float = 1.0,
) -> xr.Dataset:
    """Hourly ERA5 / ERA5-Land fields -> daily canonical drivers on the standard grid.

    Parameters
    ----------
    ds
        Grid from :func:`open_grid` (or any dataset :func:`standardise_grid` accepts) with
        ERA5 variables (``t2m``, ``d2m``, ``ssrd``, ``tp``, ``u10``, ``v10`` or ``si10``,
        ``sp``; CDS long names and GRIB short names work too) or already canonical ones
        (``ta``, ``vpd``, ... with convertible units), at a regular sub-daily step.
    variables
        Canonical drivers to make (default ``ta, sw_in, vpd, p, ws``; ``pa`` on request).
    accumulation
        Convention of ``ssrd`` and ``tp``: ``"per_step"`` (ERA5: amount over the step ending
        at the time stamp), ``"since_midnight"`` (ERA5-Land: accumulated from 00 UTC) or
        ``"auto"`` (detected by :func:`detect_accumulation`; reads a small sample).
    day
        ``"utc"`` (UTC days) or ``"solar"`` (local solar days, ``UTC + round(lon / 15 h)``).
    min_coverage
        Share (0-1] of a day's steps that must be present for the daily value.

    Returns
    -------
    xarray.Dataset
        Dims ``(time, lat, lon)``, daily time stamps at 00:00 of each day, float32 canonical
        variables with CF attributes; lazy where the input is. ``attrs`` record the
        accumulation convention used, the day definition, and trimmed edge days.

    Raises
    ------
    GridError
        If a driver has no source (naming the canonical variable and the source names), or
        the time axis is irregular.
    UnitError
        If a source has no or unconvertible units.

    Examples
    --------
    >>> time = pd.date_range("2010-06-01", periods=49, freq="h")
    >>> raw = xr.Dataset(
    ...     {"t2m": (("valid_time", "latitude", "longitude"), np.full((49, 2, 2), 293.15),
    ...              {"units": "K"})},
    ...     coords={"valid_time": time, "latitude": [1.0, 0.0], "longitude": [0.0, 359.0]},
    ... )
    >>> daily = era5_to_daily(standardise_grid(raw), variables=["ta"])
    >>> daily.ta.dims, daily.sizes["time"], round(float(daily.ta[0, 0, 0]), 2)
    (('time', 'lat', 'lon'), 2, 20.0)
    """
    if not 0 < min_coverage <= 1:
        raise GridError(f"min_coverage={min_coverage}; expected a share in (0, 1]")
    if day not in ("utc", "solar"):
        raise GridError(f"day={day!r}; expected 'utc' or 'solar'")
    if "time" not in ds.dims:
        raise GridError(
            f"the grid has no time dimension (dims {list(ds.dims)}); expected hourly data"
        )
    if "lat" not in ds.dims or "lon" not in ds.dims or ds["lon"].values.max() >= 180:
        ds = standardise_grid(ds)
    found = _find_sources(ds)
    time = ds["time"].values
    step = _time_step(time)
    per_day = int(_DAY // step)
    plans: dict[str, tuple] = {}
    for name in variables:
        if name not in _RECIPES:
            raise GridError(
                f"cannot make driver {name!r} from ERA5 fields; available: {sorted(_RECIPES)}"
            )
        if name in ds.data_vars:
            plans[name] = ("canonical", (name,))
            continue
        combo = next((c for c in _RECIPES[name] if all(s in found for s in c)), None)
        if combo is None:
            raise GridError(_missing_message(name, ds))
        plans[name] = ("era5", combo)

    mode = accumulation
    accumulated = [found[s] for s in ("ssrd", "tp") if s in found]
    if mode == "auto" and accumulated and per_day > 1:
        mode = detect_accumulation(ds[accumulated[0]])
    elif mode == "auto":
        mode = "per_step"

    out, coverages = {}, []
    hourly_seconds = step / np.timedelta64(1, "s")
    for name, (how, parts) in plans.items():
        attrs = catalog.cf_attrs(name, "DD")
        interval_end, factor, cell_method = False, 1.0, "time: mean"
        if how == "canonical":
            src = ds[name]
            units = _units(src, name)
            x = _convert_lazy(src, units, catalog.units_for(name), name)
        elif name == "ta":
            x = _convert_lazy(
                ds[found["t2m"]], _units(ds[found["t2m"]], found["t2m"]), "degC", "t2m"
            )
        elif name == "vpd":
            t = _convert_lazy(
                ds[found["t2m"]], _units(ds[found["t2m"]], found["t2m"]), "degC", "t2m"
            )
            td = _convert_lazy(
                ds[found["d2m"]], _units(ds[found["d2m"]], found["d2m"]), "degC", "d2m"
            )
            x = (saturation_vapour_pressure(t) - saturation_vapour_pressure(td)).clip(min=0.0)
        elif name == "ws" and parts == ("u10", "v10"):
            u, v = ds[found["u10"]], ds[found["v10"]]
            for comp, key in ((u, "u10"), (v, "v10")):
                normalise(_units(comp, found[key]))
            x = np.hypot(u, v)
        elif name == "ws":
            x = _convert_lazy(
                ds[found["si10"]], _units(ds[found["si10"]], found["si10"]), "m s-1", "si10"
            )
        elif name == "pa":
            x = _convert_lazy(ds[found["sp"]], _units(ds[found["sp"]], found["sp"]), "kPa", "sp")
        else:  # sw_in from ssrd, p from tp
            key = "ssrd" if name == "sw_in" else "tp"
            src = ds[found[key]]
            units = _units(src, found[key])
            x, interval_end, factor, cell_method = _accumulated(
                src, units, name, key, step, mode, hourly_seconds, per_day
            )
        daily, days, coverage = _daily(
            x,
            step=step,
            interval_end=interval_end,
            factor=factor,
            min_coverage=min_coverage,
            day=day,
        )
        attrs["cell_methods"] = cell_method
        out[name] = daily.astype("float32").assign_attrs(attrs)
        coverages.append(pd.Series(coverage, index=pd.DatetimeIndex(days)))

    result = xr.Dataset(out).transpose("time", "lat", "lon")
    # trim days at the ends that cannot be complete given the time stamps (any variable)
    cover = (
        pd.concat(coverages, axis=1, sort=True)
        .reindex(pd.DatetimeIndex(result.time.values))
        .fillna(0)
    )
    ok = (cover >= min_coverage - 1e-9).all(axis=1).to_numpy()
    trimmed: list[str] = []
    if ok.any():
        i0, i1 = int(np.argmax(ok)), int(ok.size - np.argmax(ok[::-1]))
        trimmed = [str(d.date()) for d in cover.index[:i0].append(cover.index[i1:])]
        result = result.isel(time=slice(i0, i1))
    result = _with_coord_attrs(result)
    result.attrs = {
        "Conventions": "CF-1.8",
        "resolution": "DD",
        "title": "daily drivers",
        "source": "ERA5-family fields converted by fluxgrid.io.grids.era5_to_daily",
        "accumulation": mode,
        "day_definition": (
            "UTC days (00-24 UTC)"
            if day == "utc"
            else "local solar days (UTC + round(longitude / 15 h) to whole steps)"
        ),
        "min_coverage": float(min_coverage),
        "trimmed_days": ", ".join(trimmed),
        "vpd_formula": (
            "es(T) = 6.1121 hPa exp(17.502 T / (T + 240.97)), T in degC (IFS, Buck 1981)"
        ),
    }
    for key in ("source_files", "dropped_longitudes"):
        if key in ds.attrs:
            result.attrs[key] = ds.attrs[key]
    return result


def _convert_lazy(da: xr.DataArray, from_units: str, to_units: str, name: str) -> xr.DataArray:
    """Unit conversion that keeps Dask arrays lazy (a linear map: scale and offset)."""
    normalise(from_units)  # raise UnitError early for unknown units
    a = float(convert(np.array([0.0]), from_units, to_units, what=name)[0])
    b = float(convert(np.array([1.0]), from_units, to_units, what=name)[0]) - a
    if a == 0.0 and b == 1.0:
        return da
    return da * b + a


def _accumulated(src, units, name, key, step, mode, step_seconds, per_day):
    """(hourly series, labels at interval end?, factor to daily units, cell_methods)."""
    unit_key = units.replace(" ", "").lower()
    if name == "sw_in":
        if unit_key in ("jm-2", "jm2"):
            amounts = _per_step_amounts(src, step, mode, key)
            return amounts, True, 1.0 / step_seconds, "time: mean"
        if unit_key in ("wm-2",):
            return src, True, 1.0, "time: mean"
        raise UnitError(
            f"{key}: units {units!r}; expected accumulated 'J m-2' (ERA5) or a mean 'W m-2'"
        )
    # precipitation: daily total in mm
    depth = {"m": 1000.0, "mm": 1.0, "kgm-2": 1.0}
    rate = {"kgm-2s-1": 86400.0, "mms-1": 86400.0, "ms-1": 86400e3}
    if unit_key in depth:
        amounts = _per_step_amounts(src, step, mode, key)
        return amounts, True, depth[unit_key] * per_day, "time: sum"
    if unit_key in rate:
        return src, True, rate[unit_key], "time: mean"
    raise UnitError(
        f"{key}: units {units!r}; expected an accumulated depth ('m', 'mm', 'kg m-2') or a "
        "rate ('kg m-2 s-1', 'mm s-1')"
    )


def read_era5(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    variables: Sequence[str] = DRIVER_VARIABLES,
    accumulation: Literal["auto", "per_step", "since_midnight"] = "auto",
    day: Literal["utc", "solar"] = "utc",
    min_coverage: float = 1.0,
    chunks: dict | str | None = None,
) -> xr.Dataset:
    """Open ERA5 / ERA5-Land files and return daily canonical drivers (lazy).

    :func:`open_grid` followed by :func:`era5_to_daily`; see both for the parameters.

    Examples
    --------
    >>> drivers = read_era5("era5land_2012_*.nc", accumulation="since_midnight")  # doctest: +SKIP
    """
    raw = open_grid(paths, chunks=chunks)
    return era5_to_daily(
        raw,
        variables=variables,
        accumulation=accumulation,
        day=day,
        min_coverage=min_coverage,
    )


# --------------------------------------------------------------------------- regridding
def _overlap(src_edges: np.ndarray, dst_edges: np.ndarray, period: float | None) -> np.ndarray:
    """Overlap lengths (n_dst, n_src) of 1-D cells given by ascending edges."""
    lo_s, hi_s = src_edges[:-1], src_edges[1:]
    lo_d, hi_d = dst_edges[:-1, None], dst_edges[1:, None]
    shifts = (0.0,) if period is None else (-period, 0.0, period)
    total = np.zeros((lo_d.shape[0], lo_s.shape[0]))
    for shift in shifts:
        total += np.clip(np.minimum(hi_d, hi_s + shift) - np.maximum(lo_d, lo_s + shift), 0, None)
    return total


def grid_edges(grid: xr.Dataset | xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges ``(lat_edges, lon_edges)`` of a grid, in degrees (``n + 1`` each).

    Taken from CF bounds variables (``lat_bnds``/``lon_bnds``, or the names in the
    coordinates' ``bounds`` attribute) where the grid has them, else derived from the cell
    centres with :func:`cell_edges`.

    Examples
    --------
    >>> lat_e, lon_e = grid_edges(make_grid(30.0, bbox=(0, 0, 60, 30)))
    >>> lat_e.tolist(), lon_e.tolist()
    ([0.0, 30.0], [0.0, 30.0, 60.0])
    """
    out = []
    for kind in ("lat", "lon"):
        name = grid[kind].attrs.get("bounds", f"{kind}_bnds")
        bounds = grid[name] if isinstance(grid, xr.Dataset) and name in grid.variables else None
        if bounds is not None and bounds.sizes.get(kind) == grid.sizes[kind]:
            b = np.asarray(bounds.transpose(kind, ...).values, dtype="float64")
            lo, hi = b.min(axis=1), b.max(axis=1)
            if not np.allclose(lo[1:], hi[:-1]):
                raise GridError(f"{name}: cells are not contiguous; expected adjacent bounds")
            out.append(np.concatenate([lo, hi[-1:]]))
        else:
            out.append(cell_edges(grid[kind].values, kind=kind))
    return out[0], out[1]


def _target_coords(target) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(target, xr.Dataset | xr.DataArray):
        if "lat" not in target.coords or "lon" not in target.coords:
            target = standardise_grid(
                target.to_dataset(name="_") if isinstance(target, xr.DataArray) else target
            )
        return target["lat"].values.astype("float64"), target["lon"].values.astype("float64")
    raise GridError(
        f"target must be a grid (xarray object with lat/lon), got {type(target).__name__}; "
        "make one with fluxgrid.io.grids.make_grid(resolution)"
    )


def _spacing(c: np.ndarray) -> float:
    return float(np.median(np.abs(np.diff(c)))) if c.size > 1 else np.inf


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
        overlaps (periodic in longitude), applied as two tensor contractions (``xr.dot``), so
        the work is two small matrix products per chunk and Dask-friendly. Missing source
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
        Grid providing ``lat``/``lon`` cell centres (e.g. :func:`make_grid`).
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
    if method == "auto":
        coarser = (
            _spacing(lat_t) >= _spacing(lat_s) - 1e-9 and _spacing(lon_t) >= _spacing(lon_s) - 1e-9
        )
        method = "conservative" if coarser else "bilinear"
    if method not in ("conservative", "bilinear", "nearest"):
        raise GridError(
            f"method={method!r}; expected 'auto', 'conservative', 'bilinear' or 'nearest'"
        )
    values = [obj] if isinstance(obj, xr.DataArray) else list(obj.data_vars.values())
    if method != "nearest":
        for da in values:
            if da.dtype.kind in "iub":
                raise GridError(
                    f"variable {da.name!r} holds integers (categories?); averaging them is "
                    "meaningless: use method='nearest' or class_fractions() for land cover"
                )
    if method == "nearest":
        out = obj.reindex(
            lat=lat_t, lon=lon_t, method="nearest", tolerance=max(_spacing(lat_s), _spacing(lon_s))
        )
    elif method == "bilinear":
        out = _bilinear(obj, lat_t, lon_t)
    else:
        out = _conservative(obj, target, min_coverage)
    out = out.assign_coords(lat=lat_t, lon=lon_t)
    out["lat"].attrs, out["lon"].attrs = dict(_LAT_ATTRS), dict(_LON_ATTRS)
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
        Grids; their cell edges come from :func:`grid_edges`.

    Returns
    -------
    tuple of xarray.DataArray
        ``w_lat`` dims ``(lat_t, lat)`` (overlap of ``sin(lat)`` intervals), ``w_lon`` dims
        ``(lon_t, lon)`` (overlap in degrees, periodic), and each target cell's full weight
        ``(lat_t, lon_t)`` (its area in the same units).
    """
    lat_s, e_lon_s = grid_edges(source)
    lat_t, e_lon_t = grid_edges(target)
    e_lat_s, e_lat_t = np.sin(np.radians(lat_s)), np.sin(np.radians(lat_t))
    w_lat = xr.DataArray(_overlap(e_lat_s, e_lat_t, None), dims=("lat_t", "lat"))
    w_lon = xr.DataArray(_overlap(e_lon_s, e_lon_t, 360.0), dims=("lon_t", "lon"))
    full = xr.DataArray(np.outer(np.diff(e_lat_t), np.diff(e_lon_t)), dims=("lat_t", "lon_t"))
    return w_lat, w_lon, full


def _conservative(obj, target, min_coverage):
    w_lat, w_lon, full = conservative_weights(obj, target)

    def one(da: xr.DataArray) -> xr.DataArray:
        valid = da.notnull()
        filled = da.fillna(0.0)
        num = xr.dot(xr.dot(filled, w_lon, dim="lon"), w_lat, dim="lat")
        den = xr.dot(xr.dot(valid.astype("float64"), w_lon, dim="lon"), w_lat, dim="lat")
        mean = (num / den).where((den > 0) & (den >= min_coverage * full * (1 - 1e-9)))
        dims = [d for d in da.dims if d not in ("lat", "lon")] + ["lat_t", "lon_t"]
        mean = mean.transpose(*dims).rename({"lat_t": "lat", "lon_t": "lon"})
        return mean.astype(da.dtype if da.dtype.kind == "f" else "float64").assign_attrs(da.attrs)

    if isinstance(obj, xr.DataArray):
        return one(obj).rename(obj.name)
    spatial = {k: one(v) for k, v in obj.data_vars.items() if {"lat", "lon"} <= set(v.dims)}
    other = {k: v for k, v in obj.data_vars.items() if k not in spatial}
    return xr.Dataset({**spatial, **other}, attrs=obj.attrs)


# --------------------------------------------------------------------------- land cover masks
def _class_table(classes) -> dict[int, str]:
    if classes is None:
        return {code: abbr for code, (abbr, _) in IGBP_CLASSES.items()}
    if isinstance(classes, Mapping):
        return {int(k): str(v) for k, v in classes.items()}
    by_abbr = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}
    table = {}
    for c in classes:
        if isinstance(c, str):
            if c not in by_abbr:
                raise GridError(f"unknown IGBP class {c!r}; known: {', '.join(by_abbr)}")
            table[by_abbr[c]] = c
        else:
            table[int(c)] = IGBP_CLASSES.get(int(c), (str(c), ""))[0]
    return table


def class_fractions(
    land_cover: xr.DataArray,
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    classes: Sequence[int | str] | Mapping[int, str] | None = None,
    min_coverage: float = 0.5,
) -> xr.DataArray:
    """Area fraction of each land-cover class in each (target) cell.

    The class grid is one-hot encoded against the class codes (one vectorised comparison)
    and, with ``target``, aggregated conservatively (area-weighted), so a 0.25 degree cell
    gets the share of its area in each class. Cells whose classified area is below
    ``min_coverage`` are NaN; unclassified (fill, NaN) pixels count as not covered.

    Parameters
    ----------
    land_cover
        Integer class grid, dims ``(..., lat, lon)`` (e.g. MODIS MCD12Q1 LC_Type1, IGBP codes;
        codes not in ``classes`` are treated as unclassified).
    target
        Grid to aggregate onto (default: the land-cover grid itself).
    classes
        Codes, IGBP abbreviations or ``{code: name}``; default all 17 IGBP classes.
    min_coverage
        See above (used only with ``target``).

    Returns
    -------
    xarray.DataArray
        ``class_fraction`` dims ``(class, ..., lat, lon)``, coords ``class`` (codes) and
        ``class_name``; fractions in [0, 1] summing to 1 over ``classes`` where covered.

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lc = xr.DataArray([[4, 17], [4, 4]], coords=g.coords, dims=("lat", "lon"))
    >>> frac = class_fractions(lc, target=make_grid(2.0, bbox=(0, 0, 2, 2)), classes=["DBF", "WAT"])
    >>> frac.sel(class_name="DBF").round(2).item()
    0.75
    """
    table = _class_table(classes)
    codes = xr.DataArray(
        np.array(list(table), dtype="int64"),
        dims="class",
        coords={"class": list(table), "class_name": ("class", list(table.values()))},
    )
    classified = land_cover.isin(list(table))
    onehot = (land_cover == codes).astype("float32").where(classified)
    if target is not None:
        onehot = regrid(onehot, target, method="conservative", min_coverage=min_coverage)
    onehot.name = "class_fraction"
    onehot.attrs = {"long_name": "area fraction of land-cover class", "units": "1"}
    return onehot


def land_mask(
    source: xr.DataArray,
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    threshold: float = 0.5,
    kind: Literal["auto", "classes", "fraction"] = "auto",
    water_classes: Sequence[int] = (0, 17),
    fill_values: Sequence[int] = (255,),
) -> xr.DataArray:
    """Boolean land mask ``(lat, lon)`` from a land-cover class grid or a land fraction.

    Parameters
    ----------
    source
        Either integer classes (IGBP: 17 water, 0 water in some products, 255 unclassified)
        or a land fraction in [0, 1] (e.g. ERA5 ``lsm``).
    target
        Grid to build the mask on (classes -> land fraction aggregated conservatively).
    threshold
        A cell is land when its land fraction is at least this.
    kind
        ``"classes"``, ``"fraction"`` or ``"auto"`` (integers or ``flag_values`` -> classes,
        floats within [0, 1] -> fraction).
    water_classes, fill_values
        Class codes of water and of unclassified pixels.

    Returns
    -------
    xarray.DataArray
        ``land`` (bool), dims ``(lat, lon)``, attrs with the rule used.

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lsm = xr.DataArray([[0.9, 0.1], [0.6, 0.0]], coords=g.coords, dims=("lat", "lon"))
    >>> land_mask(lsm).values.tolist()
    [[True, False], [True, False]]
    """
    if kind == "auto":
        is_classes = source.dtype.kind in "iu" or "flag_values" in source.attrs
        if not is_classes and float(source.max()) > 1.0:
            is_classes = True
        kind = "classes" if is_classes else "fraction"
    if kind == "classes":
        valid = source.notnull() & ~source.isin(list(fill_values))
        land = (~source.isin(list(water_classes))).astype("float32").where(valid)
        rule = f"class not in {list(water_classes)} (unclassified {list(fill_values)} ignored)"
    elif kind == "fraction":
        land = source.astype("float32")
        rule = "land fraction"
    else:
        raise GridError(f"kind={kind!r}; expected 'auto', 'classes' or 'fraction'")
    if target is not None:
        land = regrid(land, target, method="conservative", min_coverage=0.5)
    mask = (land >= threshold).fillna(False).astype(bool)
    mask.name = "land"
    mask.attrs = {
        "long_name": "land mask",
        "flag_values": "0 1",
        "flag_meanings": "not_land land",
        "rule": f"{rule} >= {threshold}",
    }
    return mask


def vegetation_type(
    land_cover: xr.DataArray,
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    classes: Sequence[int | str] | Mapping[int, str] | None = None,
    exclude: Sequence[int | str] = ("WAT",),
) -> xr.DataArray:
    """Dominant vegetation type (IGBP code) per (target) cell; -1 where none.

    Parameters
    ----------
    land_cover
        Integer class grid (IGBP codes).
    target
        Grid to aggregate onto (area fractions, then the class with the largest share).
    classes
        Classes considered (default all IGBP classes).
    exclude
        Classes that never dominate (water by default): a coastal cell takes its dominant
        land class.

    Returns
    -------
    xarray.DataArray
        ``igbp`` int16 dims ``(lat, lon)``, attrs ``flag_values``/``flag_meanings`` (IGBP
        abbreviations), usable as a region grid by :func:`fluxgrid.regions.regional_totals`.

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lc = xr.DataArray([[4, 17], [1, 4]], coords=g.coords, dims=("lat", "lon"))
    >>> vegetation_type(lc, target=make_grid(2.0, bbox=(0, 0, 2, 2))).item()
    4
    """
    table = _class_table(classes)
    skip = set(_class_table(list(exclude)))
    table = {k: v for k, v in table.items() if k not in skip}
    frac = class_fractions(land_cover, target=target, classes=table, min_coverage=0.0)
    best = frac.fillna(-1.0).argmax("class")
    has = (frac.fillna(0) > 0).any("class")
    codes = np.array(list(table), dtype="int16")
    out = xr.DataArray(codes, dims="k")[best.rename(None)].where(has, -1).astype("int16")
    out = out.drop_vars([c for c in out.coords if c not in ("lat", "lon")])
    out.name = "igbp"
    out.attrs = {
        "long_name": "dominant IGBP vegetation type",
        "flag_values": " ".join(str(c) for c in codes),
        "flag_meanings": " ".join(table.values()),
        "missing_value": -1,
    }
    return out


def vegetation_mask(
    land_cover: xr.DataArray,
    igbp: Sequence[int | str],
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    threshold: float = 0.5,
) -> xr.DataArray:
    """Boolean mask of cells whose area share of the ``igbp`` classes is at least ``threshold``.

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lc = xr.DataArray([[4, 17], [4, 10]], coords=g.coords, dims=("lat", "lon"))
    >>> vegetation_mask(lc, ["DBF", "GRA"]).values.tolist()
    [[True, False], [True, True]]
    """
    table = _class_table(None)
    wanted = _class_table(list(igbp))
    frac = class_fractions(land_cover, target=target, classes=table, min_coverage=0.0)
    share = frac.sel({"class": list(wanted)}).sum("class", min_count=1)
    mask = (share >= threshold).fillna(False).astype(bool)
    mask.name = "vegetation_mask"
    mask.attrs = {
        "long_name": f"cells with at least {threshold:g} of {'/'.join(wanted.values())}",
        "flag_values": "0 1",
        "flag_meanings": "other selected",
    }
    return mask


# --------------------------------------------------------------------------- for inference
def prepare_drivers(
    ds: xr.Dataset,
    *,
    variables: Sequence[str] = DRIVER_VARIABLES,
    mask: xr.DataArray | None = None,
) -> xr.Dataset:
    """Check and complete a daily driver grid for model inference.

    The result has exactly the model inputs of the daily site cube (same canonical names
    and units; units are converted where they differ), float32, dims ``(time, lat, lon)``,
    plus the static/calendar inputs models may use: coordinates ``lat``/``lon`` (the cell
    centres, ``latitude``/``longitude`` of a site), ``doy`` (day of year, ``time``), and
    ``land`` (bool ``(lat, lon)``) when ``mask`` is given, so inference can skip other cells.

    Parameters
    ----------
    ds
        Daily grid (e.g. from :func:`era5_to_daily` or :func:`open_grid` of a stored one).
    variables
        Required drivers, in the model's order.
    mask
        Optional boolean ``(lat, lon)`` mask (e.g. :func:`land_mask`) on the same grid.

    Returns
    -------
    xarray.Dataset
        Drivers, lazy where ``ds`` is; ``attrs["resolution"] = "DD"``.

    Raises
    ------
    GridError
        If a driver is missing, the time step is not daily, or the mask is on another grid.

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> time = pd.date_range("2010-01-01", periods=3, freq="D")
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), np.zeros((3, 2, 2)), {"units": "K"})},
    ...                 coords={"time": time, **g.coords})
    >>> out = prepare_drivers(ds, variables=["ta"])
    >>> round(float(out.ta[0, 0, 0]), 2), out.doy.values.tolist()
    (-273.15, [1, 2, 3])
    """
    ds = standardise_grid(ds)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        name = missing[0]
        hint = _missing_message(name, ds) if name in _RECIPES else f"no variable {name!r}"
        raise GridError(
            f"drivers {missing} missing; {hint}. Convert raw ERA5 fields with era5_to_daily()"
        )
    time = ds["time"].values
    if time.size > 1 and np.any(np.diff(time) != _DAY):
        raise GridError(
            "the driver grid is not on a regular daily axis; aggregate with era5_to_daily() "
            "and fill gaps (reindex onto every day) before inference"
        )
    out = {}
    for name in variables:
        da = ds[name]
        units = _units(da, name)
        target = catalog.units_for(name)
        da = _convert_lazy(da, units, target, name) if normalise(units) != target else da
        out[name] = da.astype("float32").assign_attrs({**da.attrs, **catalog.cf_attrs(name, "DD")})
    result = xr.Dataset(out, attrs={**ds.attrs, "resolution": "DD"})
    result = result.assign_coords(
        doy=("time", pd.DatetimeIndex(time).day_of_year.to_numpy().astype("int16"))
    )
    result["doy"].attrs = {"long_name": "day of year", "units": "1"}
    if mask is not None:
        if not (
            np.array_equal(mask["lat"].values, result["lat"].values)
            and np.array_equal(mask["lon"].values, result["lon"].values)
        ):
            raise GridError(
                "mask is on another grid than the drivers; build it with target=drivers "
                "(e.g. land_mask(lsm, target=drivers))"
            )
        result = result.assign_coords(land=(("lat", "lon"), np.asarray(mask.values, dtype=bool)))
        result["land"].attrs = dict(mask.attrs)
    return _with_coord_attrs(result)


def grid_chunk_plan(
    ds: xr.Dataset,
    *,
    target_bytes: int = 64 * 2**20,
    layout: Literal["inference", "maps"] = "inference",
) -> dict[str, int]:
    """Chunk sizes for a grid.

    ``"inference"``: the full time axis and square-ish ``(lat, lon)`` tiles holding about
    ``target_bytes`` per variable (the look-back needs the whole series of a pixel).
    ``"maps"``: one time step per chunk and the full map (or ``target_bytes`` tiles).

    Examples
    --------
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


def rechunk_for_inference(ds: xr.Dataset, *, target_bytes: int = 64 * 2**20) -> xr.Dataset:
    """Rechunk drivers to ``(full time, lat tile, lon tile)`` blocks for blockwise inference.

    Each block holds the whole record of a tile of pixels, so the look-back windows of every
    pixel are inside one block and memory per worker is bounded by ``target_bytes`` per
    variable, not by the grid size. See :func:`grid_chunk_plan`.

    Examples
    --------
    >>> g = make_grid(10.0)
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), np.zeros((4, 18, 36), "float32"))},
    ...                 coords={"time": pd.date_range("2000", periods=4), **g.coords})
    >>> rechunk_for_inference(ds, target_bytes=4 * 4 * 9 * 12).ta.chunks[1:]
    ((9, 9), (12, 12, 12))
    """
    return ds.chunk(grid_chunk_plan(ds, target_bytes=target_bytes, layout="inference"))


def grid_to_sites(ds: xr.Dataset, *, mask: xr.DataArray | None = None) -> xr.Dataset:
    """View a ``(time, lat, lon)`` grid as a ``(site, time)`` cube of pixels.

    Pixels become sites (``site`` = ``"lat_lon"`` labels) with coordinates ``latitude``,
    ``longitude``, ``igbp`` (from an ``igbp`` variable/coordinate where present, else
    ``""``) and ``utc_offset`` 0 (days are UTC days), the layout models consume. Only
    ``mask`` cells are kept (default: all). One stack, no copy per pixel.

    Examples
    --------
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

    Examples
    --------
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 1))
    >>> ds = xr.Dataset({"ta": (("time", "lat", "lon"), np.arange(4.0).reshape(2, 1, 2))},
    ...                 coords={"time": pd.date_range("2000", periods=2), **g.coords})
    >>> back = sites_to_grid(grid_to_sites(ds), ds)
    >>> bool((back.ta == ds.ta).all())
    True
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
    return _with_coord_attrs(out.transpose(*dims, ...))


# --------------------------------------------------------------------------- storage
def write_grid(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    layout: Literal["inference", "maps"] = "inference",
    target_bytes: int = 64 * 2**20,
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

    Returns
    -------
    pathlib.Path
        The store path; open it again with :func:`open_grid`.
    """
    path = check_writable(path, overwrite)
    plan = grid_chunk_plan(ds, target_bytes=target_bytes, layout=layout)
    out = ds.chunk({k: v for k, v in plan.items() if k in ds.dims})
    for name in out.variables:
        out[name].encoding = {}
    with atomic_path(path) as tmp:
        out.to_zarr(tmp, mode="w", consolidated=True, zarr_format=2)
    return path


def drivers_from_config(cfg) -> xr.Dataset:
    """Daily drivers as a :class:`fluxgrid.config.DriversConfig` describes them (lazy).

    :func:`read_era5` of ``cfg.sources``, then :func:`regrid` onto
    ``make_grid(cfg.resolution, cfg.bbox)`` when a resolution is given.

    Examples
    --------
    >>> from fluxgrid.config import DriversConfig
    >>> cfg = DriversConfig(sources=("era5land_2012_*.nc",), resolution=0.5)
    >>> drivers = drivers_from_config(cfg)  # doctest: +SKIP
    """
    drivers = read_era5(
        list(cfg.sources),
        variables=cfg.variables,
        accumulation=cfg.accumulation,
        day=cfg.day,
        min_coverage=cfg.min_coverage,
    )
    if cfg.resolution is not None:
        drivers = regrid(
            drivers, make_grid(cfg.resolution, bbox=cfg.bbox), method=cfg.regrid_method
        )
    return drivers
