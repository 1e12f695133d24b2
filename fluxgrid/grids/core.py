"""Grid conventions: the one layout every fluxgrid grid follows, and the cells it describes.

Every grid fluxgrid produces follows one convention: dims ``(time, lat, lon)``, ``lat``
ascending, ``lon`` in [-180, 180) and ascending, CF-1.8 coordinate attributes, canonical
variable names and units from the catalog (``ta`` degC, ``sw_in`` W m-2, ``vpd`` hPa,
``p`` mm d-1, ``ws`` m s-1, ``pa`` kPa) and float32 values.

:func:`standardise_grid` brings any lat/lon dataset to it: ``valid_time`` (new CDS files)
-> ``time``, ``latitude``/``longitude`` -> ``lat``/``lon``, longitudes 0..360 -> -180..180
(sorted), descending latitudes -> ascending, ERA5/ERA5T ``expver`` merged.
:func:`make_grid` builds an empty target grid; :func:`cell_edges` and :func:`grid_edges`
give the cell edges that regridding and cell areas need.

Examples
--------
>>> grid = make_grid(1.0, bbox=(-10, 40, 10, 60))
>>> grid.sizes["lat"], grid.sizes["lon"], float(grid.lat[0]), float(grid.lon[0])
(20, 20, 40.5, -9.5)
>>> grid_edges(grid)[0][:3].tolist()
[40.0, 41.0, 42.0]
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import xarray as xr

from ..catalog.units import convert, normalise
from ..errors import GridError, UnitError

__all__ = [
    "DRIVER_VARIABLES",
    "LAT_ATTRS",
    "LON_ATTRS",
    "TIME_ATTRS",
    "cell_edges",
    "convert_lazy",
    "grid_edges",
    "make_grid",
    "rename_coords",
    "standardise_grid",
    "variable_units",
    "with_coord_attrs",
]

#: canonical daily drivers of the models (same names and units as the site cube)
DRIVER_VARIABLES = ("ta", "sw_in", "vpd", "p", "ws")

#: CF attributes of the ``lat`` coordinate
LAT_ATTRS = {
    "standard_name": "latitude",
    "long_name": "latitude",
    "units": "degrees_north",
    "axis": "Y",
}
#: CF attributes of the ``lon`` coordinate
LON_ATTRS = {
    "standard_name": "longitude",
    "long_name": "longitude",
    "units": "degrees_east",
    "axis": "X",
}
#: CF attributes of the ``time`` coordinate
TIME_ATTRS = {"standard_name": "time", "long_name": "time", "axis": "T"}

# source coordinate names -> fluxgrid's
_RENAMES = {"valid_time": "time", "latitude": "lat", "longitude": "lon"}

# a Dataset in, a Dataset out; a DataArray in, a DataArray out
_Grid = TypeVar("_Grid", xr.Dataset, xr.DataArray)


def with_coord_attrs(ds: _Grid) -> _Grid:
    """A copy of ``ds`` whose ``lat``, ``lon`` and ``time`` coordinates carry CF attributes.

    Parameters
    ----------
    ds
        Grid (Dataset or DataArray); coordinates it lacks are left alone.

    Returns
    -------
    same type as ``ds``
        With :data:`LAT_ATTRS`, :data:`LON_ATTRS` and :data:`TIME_ATTRS` set (replacing
        the coordinates' previous attributes).

    Examples
    --------
    >>> g = with_coord_attrs(xr.Dataset(coords={"lat": [0.5], "lon": [0.5]}))
    >>> g.lat.attrs["units"], g.lon.attrs["axis"]
    ('degrees_north', 'X')
    """
    ds = ds.copy()
    if "lat" in ds.coords:
        ds["lat"].attrs = dict(LAT_ATTRS)
    if "lon" in ds.coords:
        ds["lon"].attrs = dict(LON_ATTRS)
    if "time" in ds.coords:
        ds["time"].attrs = dict(TIME_ATTRS)
    return ds


def variable_units(da: xr.DataArray, name: str) -> str:
    """Units of ``da`` in fluxgrid spelling (``J m**-2`` -> ``J m-2``).

    Parameters
    ----------
    da
        Variable whose ``units`` attribute is read.
    name
        Variable name used in the error message.

    Raises
    ------
    UnitError
        If ``da`` has no ``units`` attribute.

    Examples
    --------
    >>> variable_units(xr.DataArray(1.0, attrs={"units": "J m**-2"}), "ssrd")
    'J m-2'
    """
    raw = da.attrs.get("units")
    if raw is None:
        raise UnitError(
            f"variable {name!r} has no 'units' attribute; set it, e.g. "
            f"ds[{name!r}].attrs['units'] = 'K'"
        )
    return " ".join(str(raw).replace("**", "").replace("^", "").split())


def convert_lazy(da: xr.DataArray, from_units: str, to_units: str, name: str) -> xr.DataArray:
    """Unit conversion that keeps Dask arrays lazy (a linear map: scale and offset).

    Parameters
    ----------
    da
        Values in ``from_units`` (NumPy- or Dask-backed).
    from_units, to_units
        Units known to :mod:`fluxgrid.catalog.units` of the same dimension.
    name
        Variable name used in error messages.

    Returns
    -------
    xarray.DataArray
        ``da`` itself when the map is the identity, else ``da * scale + offset``.

    Raises
    ------
    UnitError
        If a unit is unknown or the two are not convertible.

    Examples
    --------
    >>> float(convert_lazy(xr.DataArray(273.15), "K", "degC", "t2m"))
    0.0
    """
    normalise(from_units)  # raise UnitError early for unknown units
    a = float(convert(np.array([0.0]), from_units, to_units, what=name)[0])
    b = float(convert(np.array([1.0]), from_units, to_units, what=name)[0]) - a
    if a == 0.0 and b == 1.0:
        return da
    return da * b + a


def make_grid(
    resolution: float | tuple[float, float],
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0),
) -> xr.Dataset:
    """An empty regular lat/lon target grid (cell centres) for :func:`fluxgrid.grids.regrid`.

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
    ds = with_coord_attrs(ds)
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


def rename_coords(ds: xr.Dataset) -> xr.Dataset:
    """``valid_time``/``latitude``/``longitude`` -> ``time``/``lat``/``lon``; ERA5 ``expver``.

    Also drops the forecast reference ``time`` of GRIB-derived files and the scalar
    ``expver``/``number``/``step``/``surface``/``heightAboveGround`` coordinates. Used as
    the ``preprocess`` of multi-file opens, so each file is renamed before combining.

    Examples
    --------
    >>> raw = xr.Dataset(coords={"latitude": [1.0], "longitude": [2.0]})
    >>> sorted(rename_coords(raw).coords)
    ['lat', 'lon']
    """
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


def _squeeze_extra_dims(ds: xr.Dataset, where: str) -> xr.Dataset:
    """Drop size-1 dims other than ``(time, lat, lon)``; refuse larger ones."""
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
    return ds


def _wrap_and_sort(ds: xr.Dataset, where: str) -> xr.Dataset:
    """Longitudes wrapped to [-180, 180), duplicates after wrapping dropped, both axes sorted."""
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
    return ds.sortby("lon").sortby("lat")


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
    ds = _squeeze_extra_dims(rename_coords(ds), where)
    ds = _wrap_and_sort(ds, where)
    order = [d for d in ("time", "lat", "lon") if d in ds.dims]
    ds = ds.transpose(*order, ...)
    ds = with_coord_attrs(ds)
    ds.attrs["Conventions"] = "CF-1.8"
    return ds
