"""Vectorised resampling: half-hourly/hourly -> daily on local standard-time days -> monthly.

All sites are aggregated at once: each site's record is gathered onto a common grid of local
days with one integer index per site (sites differ only by their UTC offset), reshaped to
``(site, day, record)`` and reduced along the last axis. There is no loop over days and no
per-site ``resample`` call; on Dask-backed cubes the work runs blockwise over site chunks.

Daily values follow the FLUXNET convention: means over the local-standard-time day for
states and rates, sums for precipitation; CO2 fluxes are converted from umolCO2 m-2 s-1 to
gC m-2 d-1 (x 12.011e-6 x 86400). Each ``<var>_qc`` becomes the share of records in the day
that were measured or good-quality gap-filled (QC <= 1), like ``NEE_VUT_REF_QC`` of FLUXNET
DD files.

Examples
--------
>>> from fluxgrid.io.fluxnet_zarr import open_fluxnet_zarr
>>> hh = open_fluxnet_zarr("../shared/data/fluxnet2015/hh.zarr", sites=["DE-Hai"])  # doctest: +SKIP
>>> daily = to_daily(hh)  # lazy  # doctest: +SKIP
>>> monthly = to_monthly(daily)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from ..catalog.units import convert, normalise
from ..errors import ColumnError, ConfigError, MetadataError, TimestampError

__all__ = ["daily_layout", "to_daily", "to_monthly"]

_DAY = np.timedelta64(1, "D")


# --------------------------------------------------------------------------- layout
def _describe_step(step: np.timedelta64) -> str:
    """A time step in words: ``30 minutes``, ``1 day``, ``31 days``."""
    minutes = step / np.timedelta64(1, "m")
    if minutes % 1440 == 0:
        days = int(minutes // 1440)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes >= 1 and minutes % 1 == 0:
        return f"{int(minutes)} minute{'s' if minutes != 1 else ''}"
    return f"{step / np.timedelta64(1, 's'):g} seconds"


#: codes of resolutions that are daily or coarser (not an input of :func:`to_daily`)
_NOT_SUB_DAILY = {"DD": "daily", "WW": "weekly", "MM": "monthly", "YY": "yearly"}


def _check_sub_daily(ds: xr.Dataset) -> None:
    """Refuse a cube that is already daily or coarser (by its resolution attribute)."""
    res = ds.attrs.get("resolution")
    if res in _NOT_SUB_DAILY:
        raise TimestampError(
            f"to_daily needs a half-hourly or hourly cube, but this cube is "
            f"{_NOT_SUB_DAILY[res]} (attrs resolution {res!r}); use it as it is"
            + (", or to_monthly for months" if res == "DD" else "")
        )


def _regular_step(time: np.ndarray) -> np.timedelta64:
    if time.size < 2:
        raise TimestampError("a sub-daily cube needs at least two time stamps")
    steps = np.diff(time)
    step = steps[0]
    if (steps >= _DAY).all():
        raise TimestampError(
            f"to_daily needs a half-hourly or hourly cube, but its time steps are "
            f"{_describe_step(steps.min())} or longer (daily or coarser data); use it as it is"
        )
    if not np.all(steps == step):
        bad = int(np.flatnonzero(steps != step)[0])
        raise TimestampError(
            f"time axis is not regular: a step of {_describe_step(steps[bad])} after "
            f"{time[bad]} differs from the first step ({_describe_step(step)}); "
            "reindex the cube onto a regular half-hourly or hourly axis first"
        )
    if step <= np.timedelta64(0, "s") or _DAY % step != np.timedelta64(0, "s"):
        raise TimestampError(f"time step {_describe_step(step)} does not divide one day")
    return step


def _check_share(value: float, name: str) -> None:
    if not 0 <= value <= 1:
        raise ConfigError(
            f"{name}={value}: expected a share between 0 and 1 (e.g. 0.5; command line: "
            f"--{name.replace('_', '-')})"
        )


def daily_layout(ds: xr.Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """Where each site's local days start on the cube's time axis.

    Parameters
    ----------
    ds
        Sub-daily cube with dims ``(site, time)``. Attributes ``time_zone`` (``"UTC"`` or
        local) and ``time_label`` (``"end"`` or ``"start"``) say how stamps relate to local
        standard time; with UTC stamps a ``utc_offset`` coordinate (hours) is required.
        An optional ``record_minutes`` coordinate gives the native record length per site
        (hourly records repeated on a half-hourly axis), else the axis step is used.

    Returns
    -------
    days : numpy.ndarray
        Local dates (datetime64[ns] at midnight), the daily axis shared by all sites.
    first_index : numpy.ndarray
        Per site, index on the sub-daily axis of the first record of ``days[0]``
        (may be negative or past the end: those records are missing).
    per_day : int
        Records per day on the sub-daily axis.
    """
    time = ds["time"].values.astype("datetime64[ns]")
    step = _regular_step(time)
    per_day = int(_DAY // step)
    n_site = ds.sizes["site"]

    shift = np.zeros(n_site, dtype="timedelta64[ns]")
    if str(ds.attrs.get("time_zone", "local")).upper() == "UTC":
        if "utc_offset" not in ds.coords:
            raise MetadataError(
                "cube time is UTC but has no 'utc_offset' coordinate; add one (hours per site) "
                "so that days can follow local standard time"
            )
        offset = ds["utc_offset"].values.astype("float64")
        if np.isnan(offset).any():
            site = ds["site"].values[np.isnan(offset)][0]
            raise MetadataError(f"site {site!r} has no UTC offset; set utc_offset for it")
        shift += (offset * 3600e9).round().astype("int64").astype("timedelta64[ns]")
    if str(ds.attrs.get("time_label", "start")).lower() == "end":
        if "record_minutes" in ds.coords:
            minutes = ds["record_minutes"].values.astype("int64")
            shift -= (minutes * 60_000_000_000).astype("timedelta64[ns]")
        else:
            shift -= step

    local_first = time[0] + shift  # local start of the first stamp, per site
    local_end = time[-1] + step + shift  # local end of the last stamp, per site
    first_day = (local_first + (_DAY - np.timedelta64(1, "ns"))).astype("datetime64[D]").min()
    end_day = local_end.astype("datetime64[D]").max()
    n_days = int((end_day - first_day) // _DAY)
    if n_days < 1:
        raise TimestampError("the cube does not cover one full local day")
    days = np.arange(first_day, end_day, _DAY).astype("datetime64[ns]")
    # stamps are aligned with local midnight when offsets are whole multiples of the step
    first_index = np.round((days[0] - time[0] - shift) / step).astype("int64")
    return days, first_index, per_day


def _gather_days(values: np.ndarray, first_index: np.ndarray, n_days: int, per_day: int):
    """Gather ``(site, time)`` onto ``(site, day, record)`` with NaN outside the record."""
    n_time = values.shape[-1]
    idx = first_index[:, None] + np.arange(n_days * per_day)[None, :]
    inside = (idx >= 0) & (idx < n_time)
    out = np.take_along_axis(values, np.clip(idx, 0, n_time - 1), axis=-1)
    if not inside.all():
        out = np.where(inside, out, np.nan)
    return out.reshape(values.shape[0], n_days, per_day)


def _daily_values_block(values, first_index, *, n_days, per_day):
    """Mean and coverage (share of records present) per local day for a block of sites."""
    days = _gather_days(values, np.asarray(first_index).reshape(-1), n_days, per_day)
    present = ~np.isnan(days)
    count = present.sum(axis=-1, dtype=np.int32)
    total = np.where(present, days, 0).sum(axis=-1, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (total / count).astype(np.float32)
    return mean, (count / per_day).astype(np.float32)


def _daily_qc_block(values, first_index, *, n_days, per_day):
    """Share of records per day with QC flag <= 1 (measured or good gap-fill); NaN if none."""
    days = _gather_days(values, np.asarray(first_index).reshape(-1), n_days, per_day)
    good = (days <= 1).sum(axis=-1, dtype=np.int32)
    frac = (good / per_day).astype(np.float32)
    frac[np.isnan(days).all(axis=-1)] = np.nan  # no record at all: undefined, not 0
    return frac


def _apply_daily(da: xr.DataArray, first: xr.DataArray, func, n_out, n_days, per_day):
    return xr.apply_ufunc(
        func,
        da,
        first,
        input_core_dims=[["time"], []],
        output_core_dims=[["day"]] * n_out,
        exclude_dims={"time"},
        dask="parallelized",
        output_dtypes=[np.float32] * n_out,
        dask_gufunc_kwargs={"output_sizes": {"day": n_days}},
        kwargs={"n_days": n_days, "per_day": per_day},
        keep_attrs=False,
    )


def _daily_units(name: str, source_units: str | None, aggregation: str) -> tuple[str, float | None]:
    """Daily unit of ``name`` and the factor from the aggregated source unit (None: no change)."""
    if name in catalog.variables():
        target = catalog.get(name).units
        if source_units is None:
            return target, None
        src = normalise(source_units)
        if aggregation == "sum" and src == "mm":
            return target, (1.0 if normalise(target) == "mm d-1" else None)
        if src == normalise(target):
            return target, None
        factor = float(convert(np.array([1.0]), src, target, what=name)[0])
        return target, factor
    return source_units or "", None


def _daily_qc(
    da: xr.DataArray, name: str, first: xr.DataArray, n_days: int, per_day: int
) -> xr.DataArray:
    """Daily share of good-quality records of a QC companion, with its attributes."""
    base = name.removesuffix("_qc")
    frac = _apply_daily(da, first, _daily_qc_block, 1, n_days, per_day)
    frac.attrs = (
        catalog.qc_attrs(base, "DD")
        if base in catalog.variables()
        else {"long_name": f"share of good-quality records of {base}", "units": "1"}
    )
    return frac


def _daily_value(
    da: xr.DataArray, first: xr.DataArray, n_days: int, per_day: int, min_coverage: float
) -> xr.DataArray:
    """Daily mean over the present records; days below ``min_coverage`` missing."""
    mean, coverage = _apply_daily(da, first, _daily_values_block, 2, n_days, per_day)
    return mean.where(coverage >= min_coverage) if min_coverage > 0 else mean


# --------------------------------------------------------------------------- public API
def to_daily(
    ds: xr.Dataset,
    *,
    min_coverage: float = 0.5,
    sums: Sequence[str] = ("p",),
    variables: Sequence[str] | None = None,
) -> xr.Dataset:
    """Aggregate a sub-daily site cube to local-standard-time days, all sites at once.

    Parameters
    ----------
    ds
        Half-hourly or hourly cube, dims ``(site, time)`` (see :func:`daily_layout` for the
        attributes and coordinates that place stamps in local time). Lazy (Dask) cubes stay
        lazy; the time axis is made one chunk.
    min_coverage
        Minimum share (0-1) of a day's records that must be present; days below become
        missing. QC fractions are not affected.
    sums
        Variables summed over the day (precipitation: mm per record -> mm d-1). A sum is the
        mean over present records times the records per day, so repeated hourly values on a
        half-hourly axis are not double counted.
    variables
        Variables to aggregate (default: all with dims ``(site, time)``).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)`` with daily ``time`` (local dates at 00:00), float32 variables in
        canonical daily units (NEE/GPP/RECO in gC m-2 d-1) and ``<var>_qc`` as fractions.
        Site coordinates are kept; ``attrs["resolution"] == "DD"``.

    Raises
    ------
    TimestampError
        For an irregular time axis, one shorter than a day, or a cube that is daily or
        coarser already.
    MetadataError
        For UTC stamps without ``utc_offset``.
    ConfigError
        ``min_coverage`` outside 0..1.
    """
    _check_share(min_coverage, "min_coverage")
    _check_sub_daily(ds)
    days, first_index, per_day = daily_layout(ds)
    n_days = len(days)
    first = xr.DataArray(first_index, dims="site")
    record_minutes = (
        ds["record_minutes"].values.astype("float64")
        if "record_minutes" in ds.coords
        else np.full(ds.sizes["site"], 1440.0 / per_day)
    )
    records_per_day = xr.DataArray(1440.0 / record_minutes, dims="site")

    names = [v for v in ds.data_vars if ds[v].dims == ("site", "time")]
    if variables is not None:
        missing = [v for v in variables if v not in ds.data_vars]
        if missing:
            raise ColumnError(missing[0], expected="a variable of the cube", found=str(names))
        names = [v for v in names if v in variables or v.removesuffix("_qc") in variables]

    src = ds.chunk({"time": -1}) if ds.chunks else ds
    out = xr.Dataset()
    for name in names:
        da = src[name]
        if name.endswith("_qc"):
            out[name] = _daily_qc(da, name, first, n_days, per_day)
            continue
        aggregation = "sum" if name in sums else "mean"
        value = _daily_value(da, first, n_days, per_day, min_coverage)
        if aggregation == "sum":
            value = value * records_per_day
        units, factor = _daily_units(name, da.attrs.get("units"), aggregation)
        if factor is not None:
            value = value * np.float32(factor)
        value = value.astype(np.float32)
        value.attrs = {
            **(
                catalog.cf_attrs(name, "DD")
                if name in catalog.variables()
                else {k: v for k, v in da.attrs.items() if k != "units"}
            ),
            "units": units,
            "cell_methods": f"time: {aggregation} (local standard-time day)",
        }
        out[name] = value

    out = out.rename({"day": "time"}).assign_coords(time=("time", days))
    site_coords = {k: v for k, v in ds.coords.items() if v.dims == ("site",)}
    out = out.assign_coords(site_coords)
    out["time"].attrs = {"long_name": "local standard-time day (start)"}
    out.attrs = {
        **ds.attrs,
        "resolution": "DD",
        "time_zone": "local standard time",
        "time_label": "start",
    }
    out.attrs["history"] = (
        ds.attrs.get("history", "") + f"\nfluxgrid.to_daily(min_coverage={min_coverage})"
    ).strip()
    return out


def _month_starts(time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    months = time.astype("datetime64[M]")
    starts = np.flatnonzero(np.r_[True, months[1:] != months[:-1]])
    return starts, months[starts]


def _monthly_block(values, *, starts, days_in_month, min_coverage):
    present = ~np.isnan(values)
    total = np.add.reduceat(np.where(present, values, 0.0), starts, axis=-1, dtype=np.float64)
    count = np.add.reduceat(present, starts, axis=-1, dtype=np.int32)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    mean[count < min_coverage * days_in_month] = np.nan
    mean[count == 0] = np.nan
    return mean.astype(np.float32)


def to_monthly(
    ds: xr.Dataset,
    *,
    totals: bool = False,
    min_coverage: float = 0.5,
) -> xr.Dataset:
    """Aggregate a daily site cube to calendar months, all sites at once.

    Parameters
    ----------
    ds
        Daily cube, dims ``(site, time)``, as from :func:`to_daily` or a DD file.
    totals
        If true, carbon fluxes become monthly totals in gC m-2 mon-1 and precipitation
        mm mon-1 (mean daily value x days in month). Otherwise every variable is the mean
        daily value (the FLUXNET MM convention: gC m-2 d-1, mm d-1).
    min_coverage
        Minimum share of days present in a month; months below become missing.

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)`` with ``time`` at the first day of each month; ``<var>_qc`` is
        the mean daily QC fraction; ``attrs["resolution"] == "MM"``.
    """
    _check_share(min_coverage, "min_coverage")
    time = ds["time"].values.astype("datetime64[ns]")
    if time.size and not np.all(np.diff(time) == _DAY):
        raise TimestampError(
            "to_monthly expects a daily cube with a regular daily time axis; run to_daily first"
        )
    starts, months = _month_starts(time)
    days_in_month = np.asarray(
        pd.DatetimeIndex(months.astype("datetime64[ns]")).days_in_month, dtype="float64"
    )
    src = ds.chunk({"time": -1}) if ds.chunks else ds
    out = xr.Dataset()
    for name in [v for v in ds.data_vars if ds[v].dims == ("site", "time")]:
        da = src[name]
        mm = xr.apply_ufunc(
            _monthly_block,
            da,
            input_core_dims=[["time"]],
            output_core_dims=[["month"]],
            exclude_dims={"time"},
            dask="parallelized",
            output_dtypes=[np.float32],
            dask_gufunc_kwargs={"output_sizes": {"month": len(starts)}},
            kwargs={
                "starts": starts,
                "days_in_month": days_in_month,
                "min_coverage": 0.0 if name.endswith("_qc") else min_coverage,
            },
        )
        attrs = dict(da.attrs)
        is_total = (
            totals
            and not name.endswith("_qc")
            and name in catalog.variables()
            and (catalog.get(name).carbon or catalog.get(name).aggregation == "sum")
        )
        if is_total:
            mm = mm * xr.DataArray(days_in_month.astype(np.float32), dims="month")
            attrs["units"] = "gC m-2 mon-1" if catalog.get(name).carbon else "mm mon-1"
            attrs["cell_methods"] = "time: sum (calendar month)"
        elif not name.endswith("_qc"):
            attrs["cell_methods"] = "time: mean (calendar month of daily values)"
        mm.attrs = attrs
        out[name] = mm.astype(np.float32)
    out = out.rename({"month": "time"}).assign_coords(
        time=("time", months.astype("datetime64[ns]"))
    )
    out = out.assign_coords({k: v for k, v in ds.coords.items() if v.dims == ("site",)})
    out["time"].attrs = {"long_name": "calendar month (first day)"}
    out.attrs = {**ds.attrs, "resolution": "MM"}
    out.attrs["history"] = (
        ds.attrs.get("history", "") + f"\nfluxgrid.to_monthly(totals={totals})"
    ).strip()
    return out
