"""ERA5 / ERA5-Land hourly fields -> daily canonical drivers.

:func:`era5_to_daily` turns hourly ERA5-convention fields into daily drivers:

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

Examples
--------
>>> round(float(saturation_vapour_pressure(20.0)), 2)  # hPa
23.37
>>> drivers = read_era5("era5_2010_*.nc", accumulation="per_step")  # doctest: +SKIP
>>> drivers = open_era5_zarr("arco-era5", period=("2018-06-01", "2018-06-30"),
...                          bbox=(2, 43, 16, 53))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from .._lazy import lazy_import
from ..catalog.units import normalise
from ..errors import FileFormatError, GridError, UnitError
from .core import DRIVER_VARIABLES, convert_lazy, standardise_grid, variable_units, with_coord_attrs
from .store import open_grid

__all__ = [
    "ERA5_SOURCES",
    "ERA5_ZARR_STORES",
    "detect_accumulation",
    "era5_to_daily",
    "missing_driver_message",
    "open_era5_zarr",
    "read_era5",
    "saturation_vapour_pressure",
]

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

_DAY = np.timedelta64(1, "D")

# Magnus-Tetens constants of the ECMWF IFS over water (Buck 1981)
_ES0_HPA, _ES_A, _ES_B = 6.1121, 17.502, 240.97


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


# --------------------------------------------------------------------------- sources
def _find_sources(ds: xr.Dataset) -> dict[str, str]:
    """ERA5 source key -> variable name present in ``ds``."""
    found = {}
    for key, names in ERA5_SOURCES.items():
        for name in names:
            if name in ds.data_vars:
                found[key] = name
                break
    return found


def missing_driver_message(name: str, ds: xr.Dataset) -> str:
    """What a grid lacks to make the driver ``name``: the canonical and the ERA5 names.

    Parameters
    ----------
    name
        Canonical driver (``ta``, ``vpd``, ...).
    ds
        The grid that lacks it (its variables are listed).

    Returns
    -------
    str
        The sentence for an error message; ``"no variable 'x'"`` for drivers that cannot
        be made from ERA5 fields.

    Examples
    --------
    >>> missing_driver_message("p", xr.Dataset({"t2m": 1.0}))[:40]
    "the grid has no source for 'p' (precipit"
    """
    if name not in _RECIPES:
        return f"no variable {name!r}"
    options = " or ".join(
        " and ".join(f"{ERA5_SOURCES[s][0]!r} ({'/'.join(ERA5_SOURCES[s][1:3])})" for s in combo)
        for combo in _RECIPES[name]
    )
    return (
        f"the grid has no source for {name!r} ({catalog.get(name).long_name}): expected "
        f"{name!r} in {catalog.units_for(name)} or {options}; found variables "
        f"{sorted(map(str, ds.data_vars))}"
    )


def _plan_drivers(
    ds: xr.Dataset, variables: Sequence[str], found: dict[str, str]
) -> dict[str, tuple[str, ...] | None]:
    """Driver -> the ERA5 sources it is made of (``None``: already canonical in ``ds``)."""
    plans: dict[str, tuple[str, ...] | None] = {}
    for name in variables:
        if name not in _RECIPES:
            raise GridError(
                f"cannot make driver {name!r} from ERA5 fields; available: {sorted(_RECIPES)}"
            )
        if name in ds.data_vars:
            plans[name] = None
            continue
        combo = next((c for c in _RECIPES[name] if all(s in found for s in c)), None)
        if combo is None:
            raise GridError(missing_driver_message(name, ds))
        plans[name] = combo
    return plans


# --------------------------------------------------------------------------- time axis
def _time_step(time: np.ndarray, where: str = "") -> np.timedelta64:
    """The regular step of a sub-daily axis (gaps allowed); GridError otherwise."""
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


# --------------------------------------------------------------------------- accumulations
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
    max_steps, max_pixels
        Size of the sample read: time steps, and pixels along each of lat and lon.

    Returns
    -------
    str
        ``"per_step"`` (ERA5) or ``"since_midnight"`` (ERA5-Land).

    Examples
    --------
    >>> time = pd.date_range("2010-06-01 01:00", periods=12, freq="h")
    >>> rising = xr.DataArray(np.arange(12.0)[:, None, None], dims=("time", "lat", "lon"),
    ...                       coords={"time": time})
    >>> detect_accumulation(rising)
    'since_midnight'
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


def _resolve_accumulation(
    ds: xr.Dataset, accumulation: str, found: dict[str, str], step: np.timedelta64
) -> str:
    """``auto`` -> the convention of the first accumulated field (per-step for daily data)."""
    if accumulation != "auto":
        return accumulation
    accumulated = [found[s] for s in ("ssrd", "tp") if s in found]
    if accumulated and int(_DAY // step) > 1:
        return detect_accumulation(ds[accumulated[0]])
    return "per_step"


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


# --------------------------------------------------------------------------- one driver
@dataclass(frozen=True)
class _Steps:
    """A driver at the source step, and how its steps make the daily value."""

    values: xr.DataArray
    #: time stamps label the end of each step's interval (accumulations), not an instant
    interval_end: bool = False
    #: factor from the mean over a day's steps to the daily value in canonical units
    factor: float = 1.0
    cell_method: str = "time: mean"


@dataclass(frozen=True)
class _Fields:
    """The ERA5 fields of a grid, by source key, with the time step and accumulation."""

    ds: xr.Dataset
    found: dict[str, str]
    step: np.timedelta64
    mode: str

    def raw(self, key: str) -> tuple[xr.DataArray, str]:
        """Source field ``key`` and its units."""
        da = self.ds[self.found[key]]
        return da, variable_units(da, self.found[key])

    def converted(self, key: str, units: str) -> xr.DataArray:
        """Source field ``key`` in ``units``."""
        da, from_units = self.raw(key)
        return convert_lazy(da, from_units, units, key)


def _shortwave(fields: _Fields, parts: tuple[str, ...]) -> _Steps:
    """``sw_in`` (W m-2) from accumulated ``ssrd`` energy (J m-2) or a mean flux."""
    src, units = fields.raw("ssrd")
    unit_key = units.replace(" ", "").lower()
    if unit_key in ("jm-2", "jm2"):
        amounts = _per_step_amounts(src, fields.step, fields.mode, "ssrd")
        return _Steps(amounts, True, 1.0 / (fields.step / np.timedelta64(1, "s")))
    if unit_key in ("wm-2",):
        return _Steps(src, True, 1.0)
    raise UnitError(f"ssrd: units {units!r}; expected accumulated 'J m-2' (ERA5) or a mean 'W m-2'")


def _precipitation(fields: _Fields, parts: tuple[str, ...]) -> _Steps:
    """``p`` (daily total, mm) from an accumulated ``tp`` depth or a rate."""
    src, units = fields.raw("tp")
    unit_key = units.replace(" ", "").lower()
    depth = {"m": 1000.0, "mm": 1.0, "kgm-2": 1.0}
    rate = {"kgm-2s-1": 86400.0, "mms-1": 86400.0, "ms-1": 86400e3}
    if unit_key in depth:
        amounts = _per_step_amounts(src, fields.step, fields.mode, "tp")
        return _Steps(amounts, True, depth[unit_key] * int(_DAY // fields.step), "time: sum")
    if unit_key in rate:
        return _Steps(src, True, rate[unit_key])
    raise UnitError(
        f"tp: units {units!r}; expected an accumulated depth ('m', 'mm', 'kg m-2') or a "
        "rate ('kg m-2 s-1', 'mm s-1')"
    )


def _wind_speed(fields: _Fields, parts: tuple[str, ...]) -> _Steps:
    """Mean speed of the hourly wind vectors, or ``si10`` where the grid has it."""
    if parts == ("u10", "v10"):
        for key in parts:
            normalise(fields.raw(key)[1])  # raise UnitError for missing or unknown units
        return _Steps(np.hypot(fields.raw("u10")[0], fields.raw("v10")[0]))
    return _Steps(fields.converted("si10", "m s-1"))


def _vpd(fields: _Fields, parts: tuple[str, ...]) -> _Steps:
    """Hourly ``es(t2m) - es(d2m)`` (hPa), negative values set to 0."""
    t, td = fields.converted("t2m", "degC"), fields.converted("d2m", "degC")
    return _Steps((saturation_vapour_pressure(t) - saturation_vapour_pressure(td)).clip(min=0.0))


#: how each driver is made from its ERA5 sources (``parts``), at the source time step
_MAKERS: dict[str, Callable[[_Fields, tuple[str, ...]], _Steps]] = {
    "ta": lambda fields, parts: _Steps(fields.converted("t2m", "degC")),
    "vpd": _vpd,
    "sw_in": _shortwave,
    "p": _precipitation,
    "ws": _wind_speed,
    "pa": lambda fields, parts: _Steps(fields.converted("sp", "kPa")),
}


def _driver_steps(fields: _Fields, name: str, parts: tuple[str, ...] | None) -> _Steps:
    """Driver ``name`` at the source step: converted if canonical, else made from ERA5."""
    if parts is None:
        src = fields.ds[name]
        return _Steps(convert_lazy(src, variable_units(src, name), catalog.units_for(name), name))
    return _MAKERS[name](fields, parts)


# --------------------------------------------------------------------------- daily aggregation
def _longitude_groups(lon: np.ndarray, step: np.timedelta64, solar: bool) -> list[tuple]:
    """``(shift in steps, column indices)`` per band of longitudes sharing a local day."""
    if not solar:
        return [(0, np.arange(lon.size))]
    hours = step / np.timedelta64(1, "h")
    shift = np.round(lon / 15.0 / hours).astype(int)
    # contiguous bands of longitude (lon is sorted)
    return [(int(k), np.flatnonzero(shift == k)) for k in np.unique(shift)]


def _daily(
    steps: _Steps, step: np.timedelta64, *, min_coverage: float, day: str
) -> tuple[xr.DataArray, np.ndarray, np.ndarray]:
    """Daily means of ``steps`` (x its factor); also per-day coverage known from time stamps."""
    da, factor, per_day = steps.values, steps.factor, int(_DAY // step)
    shift = step if steps.interval_end and per_day > 1 else np.timedelta64(0, "s")
    labels = da["time"].values - shift
    da = da.assign_coords(time=labels)
    groups = _longitude_groups(da["lon"].values, step, day == "solar" and per_day > 1)
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


def _trim_edge_days(
    result: xr.Dataset, coverages: list[pd.Series], min_coverage: float
) -> tuple[xr.Dataset, list[str]]:
    """Drop days at the ends that cannot be complete given the time stamps (any variable)."""
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
    return result, trimmed


def _daily_attrs(mode: str, day: str, min_coverage: float, trimmed: list[str], source: dict):
    """Global attributes of the daily drivers: conventions used and provenance."""
    attrs = {
        "Conventions": "CF-1.8",
        "resolution": "DD",
        "title": "daily drivers",
        "source": "ERA5-family fields converted by fluxgrid.grids.era5_to_daily",
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
        if key in source:
            attrs[key] = source[key]
    return attrs


def _checked_input(ds: xr.Dataset, min_coverage: float, day: str) -> xr.Dataset:
    """Refuse bad options and grids without time; standardise where needed."""
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
    return ds


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
        Grid from :func:`fluxgrid.grids.open_grid` (or any dataset
        :func:`fluxgrid.grids.standardise_grid` accepts) with ERA5 variables (``t2m``,
        ``d2m``, ``ssrd``, ``tp``, ``u10``, ``v10`` or ``si10``, ``sp``; CDS long names and
        GRIB short names work too) or already canonical ones (``ta``, ``vpd``, ... with
        convertible units), at a regular sub-daily step.
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
    >>> from fluxgrid.grids import standardise_grid
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
    ds = _checked_input(ds, min_coverage, day)
    found = _find_sources(ds)
    step = _time_step(ds["time"].values)
    plans = _plan_drivers(ds, variables, found)
    mode = _resolve_accumulation(ds, accumulation, found, step)
    fields = _Fields(ds, found, step, mode)
    out, coverages = {}, []
    for name, parts in plans.items():
        steps = _driver_steps(fields, name, parts)
        daily, days, coverage = _daily(steps, step, min_coverage=min_coverage, day=day)
        attrs = {**catalog.cf_attrs(name, "DD"), "cell_methods": steps.cell_method}
        out[name] = daily.astype("float32").assign_attrs(attrs)
        coverages.append(pd.Series(coverage, index=pd.DatetimeIndex(days)))
    result = xr.Dataset(out).transpose("time", "lat", "lon")
    result, trimmed = _trim_edge_days(result, coverages, min_coverage)
    result = with_coord_attrs(result)
    result.attrs = _daily_attrs(mode, day, min_coverage, trimmed, ds.attrs)
    return result


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

    :func:`fluxgrid.grids.open_grid` followed by :func:`era5_to_daily`; see both for the
    parameters.

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


#: public analysis-ready cloud Zarr stores in the ERA5 layout (hourly, ``latitude``
#: descending, ``longitude`` 0..360, CDS long names, accumulations per hourly step)
ERA5_ZARR_STORES: dict[str, str] = {
    # Google's Analysis-Ready, Cloud-Optimized ERA5 (single and pressure levels, 0.25 deg)
    "arco-era5": "gs://gcp-public-data-arco-era5/ar/full_37-1h-0p25deg-chunk-1.zarr-v3",
}


def _open_zarr_store(store: str, storage_options: dict | None) -> xr.Dataset:
    url = ERA5_ZARR_STORES.get(store, store)
    options = storage_options
    if str(url).startswith("gs://"):
        lazy_import("gcsfs")  # the filesystem fsspec needs for gs://
        options = {"token": "anon", **(storage_options or {})}
    try:
        return xr.open_zarr(url, chunks={}, storage_options=options, decode_timedelta=False)
    except (OSError, ValueError, KeyError) as err:
        raise FileFormatError(url, f"cannot be opened as a Zarr store ({err})") from err


def _box_indices(coord: np.ndarray, lo: float, hi: float, *, wrap: bool) -> np.ndarray:
    """Positions of the centres inside ``[lo, hi]`` (longitudes wrapped to [-180, 180))."""
    values = ((coord + 180.0) % 360.0) - 180.0 if wrap else coord
    return np.nonzero((values >= lo) & (values <= hi))[0]


def open_era5_zarr(
    store: str = "arco-era5",
    *,
    period: tuple[str, str],
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0),
    variables: Sequence[str] = DRIVER_VARIABLES,
    accumulation: Literal["auto", "per_step", "since_midnight"] = "per_step",
    day: Literal["utc", "solar"] = "utc",
    min_coverage: float = 1.0,
    storage_options: dict | None = None,
) -> xr.Dataset:
    """Daily canonical drivers from an analysis-ready ERA5 / ERA5-Land Zarr store (lazy).

    Opens the store lazily with Dask, keeps only the source fields the requested drivers
    are made of, the hours of ``period`` (with one day either side, which the accumulations
    and solar days need) and the cells whose centres lie in ``bbox``, then runs
    :func:`era5_to_daily` and cuts the result to ``period``. Nothing is read until the
    result is computed or written, and then only those chunks.

    Parameters
    ----------
    store
        A name of :data:`ERA5_ZARR_STORES` (``"arco-era5"``: Google's ARCO ERA5, needs
        ``gcsfs``) or any Zarr URL/path in the same layout (hourly ``time``, ``latitude``,
        ``longitude``; ERA5 short or CDS long variable names), e.g. an ERA5-Land store
        (then ``accumulation="since_midnight"``).
    period
        ``(first day, last day)``, inclusive, e.g. ``("2018-01-01", "2018-12-31")``.
    bbox
        ``(lon_min, lat_min, lon_max, lat_max)``, degrees (may cross the 0 meridian).
    variables, accumulation, day, min_coverage
        See :func:`era5_to_daily` (ARCO ERA5 accumulates per hourly step).
    storage_options
        Passed to fsspec (e.g. credentials for a private bucket).

    Returns
    -------
    xarray.Dataset
        Daily drivers ``(time, lat, lon)``, Dask-backed; ``attrs["source"]`` names the store.

    Raises
    ------
    GridError
        If ``bbox`` or ``period`` select nothing of the store, or a driver has no source.
    FileFormatError
        If the store cannot be opened.

    Examples
    --------
    >>> drivers = open_era5_zarr(period=("2018-06-01", "2018-06-30"),
    ...                          bbox=(2, 43, 16, 53))  # doctest: +SKIP
    >>> drivers.to_zarr("drivers_2018_06.zarr")  # doctest: +SKIP
    """
    raw = _open_zarr_store(store, storage_options)
    url = ERA5_ZARR_STORES.get(store, store)
    found = _find_sources(raw)
    plans = _plan_drivers(raw, variables, found)
    keep = sorted(
        {found[s] for combo in plans.values() if combo for s in combo}
        | {name for name, combo in plans.items() if combo is None}
    )
    first, last = (pd.Timestamp(p) for p in period)
    if last < first:
        raise GridError(f"period={period}: the last day is before the first")
    ds = raw[keep].sel(time=slice(first - _DAY, last + 2 * _DAY))
    lon0, lat0, lon1, lat1 = map(float, bbox)
    lat_name = "latitude" if "latitude" in ds.dims else "lat"
    lon_name = "longitude" if "longitude" in ds.dims else "lon"
    ilat = _box_indices(ds[lat_name].values, lat0, lat1, wrap=False)
    ilon = _box_indices(ds[lon_name].values, lon0, lon1, wrap=True)
    if ds.sizes["time"] == 0 or ilat.size == 0 or ilon.size == 0:
        raise GridError(
            f"{url}: period {period} and bbox {bbox} select no hour or cell of the store "
            f"(it covers {str(raw.time.values[0])[:10]}..{str(raw.time.values[-1])[:10]})"
        )
    ds = ds.isel({lat_name: ilat, lon_name: ilon})
    daily = era5_to_daily(
        standardise_grid(ds, source=url),
        variables=variables,
        accumulation=accumulation,
        day=day,
        min_coverage=min_coverage,
    )
    daily = daily.sel(time=slice(first, last))
    daily.attrs["source"] = url
    return daily
