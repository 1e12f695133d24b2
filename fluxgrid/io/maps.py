"""CF-1.8 NetCDF carbon-flux maps: writing, reading back, and an attribute check.

:func:`write_map` writes gridded results (dims ``(time, lat, lon)``: NEE/GPP maps, ensemble
means and spreads, drivers) as compressed NetCDF-4 that CF tools (Panoply, CDO, xarray,
cf-checker) read without guessing:

* every variable has ``units`` (UDUNITS-parseable), ``long_name``, ``standard_name`` where
  the CF table has a correct one, ``cell_methods`` (``area: mean time: mean``),
  ``grid_mapping = "crs"`` (a WGS84 ``latitude_longitude`` grid mapping variable), and
  ``_FillValue``;
* coordinates ``lat``/``lon``/``time`` carry CF attributes and ``bounds``
  (``lat_bnds``, ``lon_bnds``, ``time_bnds``; coordinates and bounds have no ``_FillValue``);
* ``cell_area`` (m2, exact on the WGS84 ellipsoid, :func:`fluxgrid.regions.cell_area`),
  named by every variable's ``cell_measures = "area: cell_area"``;
* global attributes: ``Conventions``, ``title``, ``source``, ``history`` (appended),
  ``date_created``, geospatial/time coverage, and the provenance of the model (``model_*``)
  and of the input data (``data_*``) as given by the caller.

Carbon fluxes are stored in ``g m-2 d-1`` (UDUNITS has no "gC"; the standard names and long
names say "expressed as carbon") with ``fluxgrid_units = "gC m-2 d-1"``, which
:func:`open_map` restores. NEE is written **without** a CF standard name: the catalog's
``surface_net_downward_..._excluding_anthropogenic_land_use_change`` is positive downward,
i.e. ``-NEE``; the ``comment`` states the sign instead (NEE > 0 release, < 0 uptake).
Ecosystem respiration is written without ``plant_respiration_carbon_flux`` (that name means
autotrophic respiration only).

Chunks serve map access: a few time steps x the full map per chunk (or square tiles of one
time step for very large grids), zlib level 4 with shuffle. Writing goes through a
temporary file and an atomic move; an existing file is refused unless ``overwrite``.
Dask-backed maps are written chunk by chunk (memory bounded by the chunks).

Examples
--------
>>> from fluxgrid.grids import make_grid
>>> g = make_grid(1.0, bbox=(0, 40, 4, 44))
>>> time = pd.date_range("2010-01-01", periods=3)
>>> maps = xr.Dataset({"nee": (("time", "lat", "lon"), np.zeros((3, 4, 4), "float32"),
...                             {"units": "gC m-2 d-1"})},
...                   coords={"time": time, "lat": g.lat, "lon": g.lon})
>>> check_cf(prepare_map(maps))
[]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from .._version import __version__
from ..errors import DataNotFoundError, FileFormatError, GridError
from ..grids.core import TIME_ATTRS, grid_edges, standardise_grid
from ..regions import cell_area
from .atomic import atomic_path, check_writable

__all__ = ["check_cf", "open_map", "parse_units", "prepare_map", "write_map"]

#: fill value of float variables in written maps
FILL_VALUE = np.float32(1.0e20)

# UDUNITS-2 symbols and names accepted by parse_units (a subset that covers geoscience maps)
_UNIT_SYMBOLS = {
    "1",
    "%",
    "g",
    "m",
    "s",
    "d",
    "h",
    "min",
    "K",
    "Pa",
    "W",
    "J",
    "mol",
    "N",
    "bar",
    "L",
    "degC",
    "degree_Celsius",
    "celsius",
    "degree",
    "degrees",
    "degrees_north",
    "degrees_east",
    "degree_north",
    "degree_east",
    "day",
    "days",
    "hour",
    "hours",
    "second",
    "seconds",
    "minute",
    "minutes",
    "year",
    "years",
    "yr",
    "a",
    "month",
    "months",
    "meter",
    "metre",
    "gram",
    "kelvin",
    "watt",
    "joule",
    "pascal",
    "mole",
    "ppm",
    "ppmv",
}
_PREFIXES = ("da", "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "d", "c", "m", "u", "µ", "n", "p")
_TOKEN = re.compile(r"^(?P<base>[A-Za-z_%µ]+|1)(?P<exp>-?\d+)?$")
_TIME_UNITS = re.compile(
    r"^(days|hours|minutes|seconds|day|hour|minute|second|d|h|s)\s+since\s+\d{1,4}-\d{1,2}-\d{1,2}"
)


def parse_units(units: str) -> bool:
    """Whether ``units`` parses as UDUNITS-2 units (products of symbols with integer powers).

    Accepts the grammar CF files use: space- or ``.``-separated factors such as ``g``,
    ``m-2``, ``kg``, ``d-1``, ``W m-2``, ``degC``, ``1``, ``degrees_north`` (with SI
    prefixes), and time units ``<unit> since <date>``. Spellings UDUNITS rejects, like
    ``gC m-2 d-1`` or ``TgC yr-1``, are refused.

    Examples
    --------
    >>> parse_units("g m-2 d-1"), parse_units("gC m-2 d-1"), parse_units("days since 1970-01-01")
    (True, False, True)
    """
    text = str(units).strip()
    if not text:
        return False
    if _TIME_UNITS.match(text):
        return True
    for factor in re.split(r"[ .]+", text.replace("**", "").replace("^", "")):
        match = _TOKEN.match(factor)
        if match is None:
            return False
        base = match["base"]
        if base in _UNIT_SYMBOLS:
            continue
        if not any(base.startswith(p) and base[len(p) :] in _UNIT_SYMBOLS for p in _PREFIXES):
            return False
    return True


def _cf_units(units: str) -> tuple[str, str | None]:
    """(CF units, fluxgrid spelling to restore) for a canonical unit string."""
    if units.startswith("gC "):
        return "g " + units[3:], units
    if units == "umolCO2 m-2 s-1":
        return "umol m-2 s-1", units
    return units, None


def _time_bounds(time: np.ndarray, resolution: str | None) -> np.ndarray:
    index = pd.DatetimeIndex(time)
    steps = np.diff(index.values) / np.timedelta64(1, "D") if index.size > 1 else np.array([1.0])
    monthly = resolution == "MM" or (index.size > 1 and np.all(steps >= 28) and np.all(steps <= 31))
    if monthly:
        ends = (index + pd.offsets.MonthBegin(1)).values
    elif resolution in (None, "DD") and (index.size == 1 or np.all(steps == 1.0)):
        ends = (index + pd.Timedelta(days=1)).values
    else:
        step = np.diff(index.values).min() if index.size > 1 else np.timedelta64(1, "D")
        ends = index.values + step
    return np.stack([index.values, ends], axis=1)


def prepare_map(
    ds: xr.Dataset | xr.DataArray,
    *,
    model: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    title: str | None = None,
    history: str | None = None,
    comment: str | None = None,
) -> xr.Dataset:
    """The dataset :func:`write_map` writes: CF attributes, bounds, grid mapping, provenance.

    Parameters
    ----------
    ds
        Map(s), dims ``(time, lat, lon)`` (``time`` optional), variables with ``units``.
        Canonical variables get catalog names and units; others keep their attributes.
    model
        Model provenance, e.g. ``{"name": "lstm", "run_dir": ..., "config": {...}}``;
        written as ``model_<key>`` attributes (mappings as JSON).
    data
        Input-data provenance, e.g. ``{"drivers": "ERA5-Land 0.1 deg", "sites": "..."}``;
        written as ``data_<key>`` attributes.
    title, history, comment
        Global attributes (``history`` lines are prepended to the existing history).

    Returns
    -------
    xarray.Dataset
        Float32 variables with CF attributes, ``crs``, ``lat_bnds``/``lon_bnds``/``time_bnds``.

    Raises
    ------
    GridError
        If the map has no lat/lon, or a variable has no units.
    """
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "value")
    attrs_in = dict(ds.attrs)
    ds = standardise_grid(ds)
    bounds_vars = [v for v in ("lat_bnds", "lon_bnds", "time_bnds", "crs") if v in ds.variables]
    lat_e, lon_e = grid_edges(ds)
    ds = ds.drop_vars(bounds_vars)
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k in ("time", "lat", "lon")})
    for name, da in ds.data_vars.items():
        if {"lat", "lon"} <= set(da.dims):
            out[name] = _cf_variable(name, da)
    if not out.data_vars:
        raise GridError("nothing to write: no variable has both 'lat' and 'lon' dimensions")
    out = _with_bounds_and_crs(out, lat_e, lon_e, attrs_in.get("resolution"))
    out = _with_cell_area(out)
    glob = _global_attrs(out, attrs_in, (lat_e, lon_e), title=title, history=history)
    if comment:
        glob["comment"] = comment
    keep = {k: v for k, v in attrs_in.items() if k not in glob and k not in ("Conventions",)}
    for prefix, meta in (("model", model), ("data", data)):
        for key, value in (meta or {}).items():
            glob[f"{prefix}_{key}"] = _attr_value(value)
    out.attrs = {**{k: _attr_value(v) for k, v in keep.items()}, **glob}
    return out


def _cf_variable(name: str, da: xr.DataArray) -> xr.DataArray:
    """One map variable with catalog/CF attributes, float32, dims ``(time, lat, lon, ...)``."""
    attrs = dict(da.attrs)
    base = name.split("_std")[0].split("_mean")[0]
    if base in catalog.variables():
        canonical = catalog.cf_attrs(base, "DD")
        attrs = {**attrs, **{k: v for k, v in canonical.items() if k != "units"}}
        if name != base:
            what = "ensemble standard deviation" if "_std" in name else "ensemble mean"
            attrs["long_name"] = f"{attrs['long_name']} ({what})"
            if "_std" in name:
                attrs.pop("standard_name", None)
    if "units" not in attrs:
        raise GridError(
            f"variable {name!r} has no 'units' attribute; set ds[{name!r}].attrs['units']"
        )
    cf_units, restore = _cf_units(str(attrs["units"]))
    attrs["units"] = cf_units
    if restore:
        attrs["fluxgrid_units"] = restore
    attrs.setdefault("long_name", name.replace("_", " "))
    if "time" in da.dims:
        attrs.setdefault("cell_methods", "area: mean time: mean")
    else:
        attrs.setdefault("cell_methods", "area: mean")
    attrs["grid_mapping"] = "crs"
    for key in ("_FillValue", "missing_value", "coordinates"):
        attrs.pop(key, None)
    dims = [d for d in ("time", "lat", "lon") if d in da.dims] + [
        d for d in da.dims if d not in ("time", "lat", "lon")
    ]
    values = da.transpose(*dims)
    if values.dtype.kind == "f":
        values = values.astype("float32")
    values.attrs = attrs
    values.encoding = {}
    return values


def _with_bounds_and_crs(
    out: xr.Dataset, lat_e: np.ndarray, lon_e: np.ndarray, resolution: str | None
) -> xr.Dataset:
    """Cell bounds of lat/lon (and time), and the WGS84 ``crs`` grid-mapping variable."""
    out["lat"].attrs["bounds"] = "lat_bnds"
    out["lon"].attrs["bounds"] = "lon_bnds"
    out["lat_bnds"] = (("lat", "nv"), np.stack([lat_e[:-1], lat_e[1:]], axis=1))
    out["lon_bnds"] = (("lon", "nv"), np.stack([lon_e[:-1], lon_e[1:]], axis=1))
    if "time" in out.dims:
        out["time"].attrs = {**TIME_ATTRS, "bounds": "time_bnds"}
        out["time_bnds"] = (("time", "nv"), _time_bounds(out["time"].values, resolution))
    out["crs"] = xr.DataArray(
        np.int32(0),
        attrs={
            "grid_mapping_name": "latitude_longitude",
            "semi_major_axis": 6378137.0,
            "inverse_flattening": 298.257223563,
            "longitude_of_prime_meridian": 0.0,
            "crs_wkt": _wkt_4326(),
        },
    )
    return out


def _with_cell_area(out: xr.Dataset) -> xr.Dataset:
    """``cell_area`` (WGS84 ellipsoid, from the bounds) and each variable's ``cell_measures``."""
    for da in out.data_vars.values():
        if {"lat", "lon"} <= set(da.dims):
            da.attrs["cell_measures"] = "area: cell_area"
    area = cell_area(out).drop_vars(["lat", "lon"])
    area.attrs = {
        "standard_name": "cell_area",
        "long_name": "area of grid cell on the WGS84 ellipsoid",
        "units": "m2",
        "grid_mapping": "crs",
    }
    out["cell_area"] = area
    return out


def _global_attrs(
    out: xr.Dataset, attrs_in: dict, edges: tuple, *, title: str | None, history: str | None
) -> dict[str, Any]:
    """Conventions, title, history (newest first), creation date and coverage of the map."""
    lat_e, lon_e = edges
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    lines = [f"{now}: written by fluxgrid.io.maps.write_map (fluxgrid {__version__})"]
    if history:
        lines.insert(0, f"{now}: {history}")
    if attrs_in.get("history"):
        lines.append(str(attrs_in["history"]))
    glob: dict[str, Any] = {
        "Conventions": "CF-1.8",
        "title": title or attrs_in.get("title") or "fluxgrid carbon-flux maps",
        "source": f"fluxgrid {__version__}",
        "history": "\n".join(lines),
        "date_created": now,
        "geospatial_lat_min": float(lat_e[0]),
        "geospatial_lat_max": float(lat_e[-1]),
        "geospatial_lon_min": float(lon_e[0]),
        "geospatial_lon_max": float(lon_e[-1]),
    }
    if "time" in out.dims:
        bnds = out["time_bnds"].values
        glob["time_coverage_start"] = str(pd.Timestamp(bnds[0, 0]).isoformat())
        glob["time_coverage_end"] = str(pd.Timestamp(bnds[-1, 1]).isoformat())
    if any(str(v) == "nee" or str(v).startswith("nee_") for v in out.data_vars):
        glob["sign_convention"] = "NEE < 0 is net uptake of CO2 by the land"
    return glob


def _attr_value(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | np.integer | np.floating):
        return value.item() if hasattr(value, "item") else value
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        return str(value)
    return json.dumps(value, default=str, sort_keys=True)


def _wkt_4326() -> str:
    try:
        from pyproj import CRS

        return CRS.from_epsg(4326).to_wkt()
    except Exception:  # pyproj missing or without its database: the attributes above suffice
        return 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]]]'


def _encoding(ds: xr.Dataset, complevel: int, time_chunk: int, tile_bytes: int) -> dict:
    n_lat, n_lon = ds.sizes["lat"], ds.sizes["lon"]
    n_time = ds.sizes.get("time", 1)
    encoding: dict[str, dict] = {}
    for name, da in ds.data_vars.items():
        if name in ("crs", "cell_area") or name.endswith("_bnds"):
            continue
        itemsize = da.dtype.itemsize
        if n_lat * n_lon * itemsize * time_chunk <= tile_bytes:
            spatial = (n_lat, n_lon)
            t = max(1, min(n_time, time_chunk))
        else:
            side = max(1, int(np.sqrt(tile_bytes / itemsize)))
            spatial = (min(n_lat, side), min(n_lon, side))
            t = 1
        chunks = [t] if "time" in da.dims else []
        chunks += list(spatial) + [da.sizes[d] for d in da.dims[len(chunks) + 2 :]]
        enc = {"zlib": True, "complevel": complevel, "shuffle": True, "chunksizes": tuple(chunks)}
        if da.dtype.kind == "f":
            enc["_FillValue"] = FILL_VALUE.astype(da.dtype)
        encoding[name] = enc
    if "time" in ds.coords:
        for name in ("time", "time_bnds"):
            encoding[name] = {
                "units": "days since 1970-01-01 00:00:00",
                "calendar": "proleptic_gregorian",
                "dtype": "float64",
                "_FillValue": None,  # CF 2.5.1: coordinates and their bounds have none
            }
    for name in ("lat", "lon", "lat_bnds", "lon_bnds", "cell_area"):
        encoding[name] = {"_FillValue": None}
    return encoding


def write_map(
    ds: xr.Dataset | xr.DataArray,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    model: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    title: str | None = None,
    history: str | None = None,
    comment: str | None = None,
    complevel: int = 4,
    time_chunk: int = 1,
    tile_bytes: int = 4 * 2**20,
) -> Path:
    """Write CF-1.8 NetCDF-4 map(s), compressed and chunked for map access, atomically.

    Parameters
    ----------
    ds
        Map(s) with dims ``(time, lat, lon)``, lazy or in memory (see :func:`prepare_map`).
    path
        Target ``.nc`` file.
    overwrite
        Replace an existing file (otherwise :class:`~fluxgrid.errors.OutputExistsError`).
    model, data, title, history, comment
        Provenance and global attributes, see :func:`prepare_map`.
    complevel
        zlib level (1-9).
    time_chunk
        Time steps per chunk when a whole map fits ``tile_bytes``; otherwise chunks are
        square tiles of one time step of about ``tile_bytes``.

    Returns
    -------
    pathlib.Path
        ``path``, once the complete file is in place.

    Examples
    --------
    >>> write_map(nee_maps, "demo_out/nee_map.nc", model={"name": "lstm"})  # doctest: +SKIP
    """
    path = check_writable(path, overwrite)
    out = prepare_map(ds, model=model, data=data, title=title, history=history, comment=comment)
    problems = check_cf(out)
    if problems:
        raise GridError(f"{path}: the map would not be CF-compliant: " + "; ".join(problems))
    encoding = _encoding(out, complevel, time_chunk, tile_bytes)
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)
    return path


def open_map(path: str | os.PathLike, *, chunks: dict | None = None) -> xr.Dataset:
    """Open a map written by :func:`write_map` lazily, with fluxgrid's canonical units.

    Bounds and the grid-mapping variable are dropped (their content is in the coordinates),
    ``cell_area`` becomes a coordinate (so it is not taken for a map); ``units`` are
    restored from ``fluxgrid_units`` (``g m-2 d-1`` -> ``gC m-2 d-1``).

    Examples
    --------
    >>> maps = open_map("demo_out/nee_map.nc")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such file")
    try:
        ds = xr.open_dataset(path, chunks={} if chunks is None else chunks)
    except (OSError, ValueError) as err:
        raise FileFormatError(path, f"cannot be opened as NetCDF ({err})") from err
    ds = ds.drop_vars(
        [v for v in ("crs", "lat_bnds", "lon_bnds", "time_bnds") if v in ds.variables]
    )
    if "cell_area" in ds.data_vars:
        ds = ds.set_coords("cell_area")
        ds["cell_area"].attrs.pop("grid_mapping", None)
    for da in ds.data_vars.values():
        if "fluxgrid_units" in da.attrs:
            da.attrs["units"] = da.attrs.pop("fluxgrid_units")
        da.attrs.pop("grid_mapping", None)
    for name in ("lat", "lon", "time"):
        if name in ds.coords:
            ds[name].attrs.pop("bounds", None)
    return ds


# --------------------------------------------------------------------------- checking
_CELL_METHOD = re.compile(r"^\s*((\w+:\s*)+\w+(\s*\([^)]*\))?\s*)+$")
_STANDARD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def check_cf(obj: xr.Dataset | str | os.PathLike) -> list[str]:
    """Problems that keep a map from being CF-1.8 compliant (empty list: none found).

    Checks the global attributes (``Conventions``, ``title``, ``history``, ``source``),
    coordinates (``lat``/``lon`` standard names, units, axis, ranges [-90, 90] and
    [-180, 180), ascending; ``time`` units ``<unit> since <date>`` in a file), every data
    variable (``units`` parseable by UDUNITS-2 grammar, ``long_name``, ``standard_name``
    syntax, ``cell_methods`` syntax and names, ``grid_mapping`` and ``bounds`` pointing at
    existing variables, ``_FillValue`` of the variable's type). A path is read without
    decoding, so the stored time units and fill values are checked as written.

    Parameters
    ----------
    obj
        A dataset (as :func:`prepare_map` returns it) or a NetCDF path.

    Returns
    -------
    list of str
        One message per problem.

    Examples
    --------
    >>> check_cf(xr.Dataset(attrs={"Conventions": "CF-1.8"}))[0]
    "global attribute 'title' missing"
    """
    from_file = not isinstance(obj, xr.Dataset)
    if from_file:
        with xr.open_dataset(obj, decode_times=False, mask_and_scale=False) as raw:
            ds = raw.load()
    else:
        ds = obj
    problems = _global_problems(ds) + _coordinate_problems(ds, from_file)
    for name, da in ds.data_vars.items():
        if name == "crs" or name.endswith("_bnds"):
            continue
        problems += _variable_problems(ds, name, da, from_file)
    return problems


#: cell_methods methods of the CF conventions (Appendix E)
_CELL_METHOD_NAMES = frozenset(
    "mean sum maximum minimum point median mode standard_deviation variance mid_range range".split()
)

#: lat/lon: CF standard name, accepted units, axis, value range
_COORDINATE_RULES = {
    "lat": ("latitude", ("degrees_north", "degree_north", "degrees_N"), "Y", (-90.0, 90.0)),
    "lon": ("longitude", ("degrees_east", "degree_east", "degrees_E"), "X", (-180.0, 180.0)),
}


def _global_problems(ds: xr.Dataset) -> list[str]:
    problems = []
    if not str(ds.attrs.get("Conventions", "")).startswith("CF-"):
        problems.append("global attribute 'Conventions' must start with 'CF-' (e.g. 'CF-1.8')")
    for key in ("title", "history", "source"):
        if not ds.attrs.get(key):
            problems.append(f"global attribute {key!r} missing")
    return problems


def _coordinate_problems(ds: xr.Dataset, from_file: bool) -> list[str]:
    problems = []
    for name, (std, units, axis, (lo, hi)) in _COORDINATE_RULES.items():
        if name not in ds.coords:
            problems.append(f"coordinate {name!r} missing")
            continue
        c = ds[name]
        if c.attrs.get("standard_name") != std:
            problems.append(f"{name}: standard_name must be {std!r}")
        if c.attrs.get("units") not in units:
            problems.append(f"{name}: units must be {units[0]!r}")
        if c.attrs.get("axis") != axis:
            problems.append(f"{name}: axis must be {axis!r}")
        v = np.asarray(c.values, dtype="float64")
        if v.size and (v.min() < lo or v.max() > hi or (name == "lon" and v.max() >= 180.0)):
            problems.append(f"{name}: values outside [{lo}, {hi}{')' if name == 'lon' else ']'}")
        if v.size > 1 and np.any(np.diff(v) <= 0):
            problems.append(f"{name}: values must be strictly ascending")
    if "time" in ds.coords:
        t = ds["time"]
        if t.attrs.get("standard_name") != "time":
            problems.append("time: standard_name must be 'time'")
        if from_file and not _TIME_UNITS.match(str(t.attrs.get("units", ""))):
            problems.append("time: units must be '<unit> since <date>'")
    for name in ("lat", "lon", "time"):
        if name in ds.coords and "bounds" in ds[name].attrs:
            b = ds[name].attrs["bounds"]
            if b not in ds.variables:
                problems.append(f"{name}: bounds variable {b!r} missing")
            elif ds[b].shape != (ds.sizes[name], 2):
                problems.append(f"{b}: shape must be ({name}, 2)")
    return problems


def _cell_method_problems(where: str, da: xr.DataArray) -> list[str]:
    methods = da.attrs.get("cell_methods")
    if methods is None:
        return []
    if not _CELL_METHOD.match(str(methods)):
        return [f"{where}: cell_methods {methods!r} is not 'name: method ...'"]
    names = re.findall(r"(\w+):", re.sub(r"\([^)]*\)", "", str(methods)))
    bad = [n for n in names if n not in da.dims and n != "area" and n not in _CELL_METHOD_NAMES]
    return [f"{where}: cell_methods names {bad} are not dimensions"] if bad else []


def _variable_problems(ds: xr.Dataset, name: str, da: xr.DataArray, from_file: bool) -> list[str]:
    where = f"variable {name!r}"
    problems = []
    units = da.attrs.get("units")
    if units is None:
        problems.append(f"{where}: 'units' missing")
    elif not parse_units(units):
        problems.append(f"{where}: units {units!r} are not UDUNITS-parseable")
    if not da.attrs.get("long_name"):
        problems.append(f"{where}: 'long_name' missing")
    std = da.attrs.get("standard_name")
    if std is not None and not _STANDARD_NAME.match(str(std)):
        problems.append(f"{where}: standard_name {std!r} is not a valid name")
    problems += _cell_method_problems(where, da)
    gm = da.attrs.get("grid_mapping")
    if gm is not None and (gm not in ds.variables or "grid_mapping_name" not in ds[gm].attrs):
        problems.append(f"{where}: grid_mapping {gm!r} is not a grid mapping variable")
    coords = da.attrs.get("coordinates") or da.encoding.get("coordinates")
    for c in str(coords or "").split():
        if c not in ds.variables:
            problems.append(f"{where}: coordinates attribute names missing variable {c!r}")
    fill = da.attrs.get("_FillValue", da.encoding.get("_FillValue"))
    if fill is not None and from_file and np.asarray(fill).dtype != da.dtype:
        problems.append(f"{where}: _FillValue type {np.asarray(fill).dtype} != {da.dtype}")
    if not {"lat", "lon"} <= set(da.dims):
        problems.append(f"{where}: dims {list(da.dims)} lack lat/lon")
    return problems
