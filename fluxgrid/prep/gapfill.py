"""Gap filling of daily predictors: linear over short gaps, day-of-year mean over long ones.

Predictors (``ta``, ``sw_in``, ``vpd``, remote-sensing indices, ...) must be gap-free for
windowed models and for SSA. Following the scale-guided study, gaps of at most ``max_gap``
days are linearly interpolated between the two observed neighbours, and longer gaps take the
site's multi-year mean for that day of year (computed from observed values only). Flux
targets (``nee``, ``gpp_*``, ``reco_*``) are never filled: asking for one is an error.

What was filled is kept with the data: each filled variable ``v`` gets an int8 companion
``v_filled`` with 0 = not filled (observed, or still missing), 1 = linear interpolation,
2 = day-of-year mean, so ``ds.v_filled > 0`` is the boolean mask of filled values.

Only gaps inside each site's record are filled. The record runs from the first to the last
day on which *any* variable of the site has a value (``*_qc`` and ``*_filled`` companions
excluded); days outside it (before a tower started, after it stopped) stay missing. Gaps at
the start or end of one variable's series inside the record have only one observed
neighbour and are filled by the day-of-year mean whatever their length.

Everything is vectorised over sites and days (cumulative maxima for the neighbours of each
gap, one sorted reduction for the day-of-year means) and runs blockwise over site chunks on
Dask (the time axis is made one chunk).

Examples
--------
>>> import numpy as np
>>> from fluxgrid.testing import load_demo_cube
>>> daily = load_demo_cube()
>>> holes = daily.copy()
>>> holes["ta"][0, 100:103] = np.nan
>>> filled = gapfill(holes, ["ta"], max_gap=5)
>>> int((filled.ta_filled == 1).sum())
3
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import xarray as xr

from .. import catalog
from ..errors import ColumnError, ConfigError, TimestampError
from .series import (
    COMPANIONS,
    interpolate_between,
    name_list,
    one_time_chunk,
    require_variables,
    series_variables,
    valid_neighbours,
)

__all__ = [
    "FILL_FLAGS",
    "TARGET_PREFIXES",
    "day_of_year",
    "gapfill",
    "gapfill_report",
    "is_target",
]

#: codes of the ``<var>_filled`` companions
FILL_FLAGS = {"not_filled": 0, "linear_interpolation": 1, "day_of_year_mean": 2}
#: names starting with these are flux targets and are never gap-filled
TARGET_PREFIXES = ("nee", "gpp", "reco")


def is_target(name: str) -> bool:
    """True for flux targets (NEE, GPP, RECO and their variants), which are never filled."""
    name = str(name)
    if name in catalog.variables() and catalog.get(name).carbon:
        return True
    return name.lower().startswith(TARGET_PREFIXES)


def day_of_year(time: np.ndarray) -> np.ndarray:
    """Day of year 0-364 on a 365-day calendar (29 February shares 28 February's slot).

    Examples
    --------
    >>> t = np.array(["2012-02-28", "2012-02-29", "2012-03-01", "2013-03-01"], "datetime64[D]")
    >>> day_of_year(t).tolist()
    [58, 58, 59, 59]
    """
    days = np.asarray(time).astype("datetime64[D]")
    years = days.astype("datetime64[Y]")
    doy = (days - years.astype("datetime64[D]")).astype(np.int64)
    year = years.astype(np.int64) + 1970
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return np.where(leap & (doy >= 59), doy - 1, doy)


def _doy_mean(x: np.ndarray, valid: np.ndarray, doy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and count of observed values per day of year, (rows, 365), one sorted reduction."""
    order = np.argsort(doy, kind="stable")
    sorted_doy = doy[order]
    starts = np.flatnonzero(np.r_[True, sorted_doy[1:] != sorted_doy[:-1]])
    present = sorted_doy[starts]
    sums = np.add.reduceat(np.where(valid, x, 0.0)[:, order], starts, axis=1, dtype=np.float64)
    counts = np.add.reduceat(valid[:, order], starts, axis=1, dtype=np.int64)
    mean = np.full((x.shape[0], 365), np.nan)
    count = np.zeros((x.shape[0], 365), dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean[:, present] = sums / counts
    count[:, present] = counts
    return mean, count


def _fill_block(
    x: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    *,
    max_steps: int,
    doy: np.ndarray,
    climatology: bool,
    min_count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill one block ``(..., time)``; returns the filled values and the int8 flags."""
    shape = x.shape
    x2 = x.reshape(-1, shape[-1]).astype(np.float64)
    first = np.asarray(first).reshape(-1, 1)
    last = np.asarray(last).reshape(-1, 1)
    n_time = shape[-1]
    idx = np.arange(n_time)[None, :]
    valid = ~np.isnan(x2)
    prev, nxt = valid_neighbours(valid)
    missing = ~valid & (idx >= first) & (idx <= last)
    both = (prev >= 0) & (nxt < n_time)
    short = missing & both & (nxt - prev - 1 <= max_steps)
    out = np.where(short, interpolate_between(x2, prev, nxt), x2)
    flag = np.where(short, 1, 0).astype(np.int8)
    if climatology:
        mean, count = _doy_mean(x2, valid, doy)
        use = missing & ~short & (count[:, doy] >= min_count)
        out = np.where(use, mean[:, doy], out)
        flag[use] = 2
    return out.astype(x.dtype).reshape(shape), flag.reshape(shape)


def _record_bounds(ds: xr.Dataset) -> tuple[xr.DataArray, xr.DataArray]:
    """First and last index on ``time`` where any non-companion variable has a value."""
    names = [v for v in ds.data_vars if "time" in ds[v].dims and not str(v).endswith(COMPANIONS)]
    present = None
    for name in names:
        has = ds[name].notnull()
        present = has if present is None else (present | has)
    if present is None:
        raise ColumnError("time", expected="at least one variable with a time dimension")
    other = [d for d in present.dims if d != "time"]
    present = present.transpose(*other, "time")
    first = present.argmax("time")
    last = present.sizes["time"] - 1 - present.isel(time=slice(None, None, -1)).argmax("time")
    return first, last


def _check_settings(max_gap: int, long_gaps: str, min_count: int) -> None:
    """Refuse settings that cannot work, naming the setting."""
    if isinstance(max_gap, bool) or not isinstance(max_gap, int | np.integer) or max_gap < 0:
        raise ConfigError(f"gapfill: max_gap must be a number of days >= 0, got {max_gap!r}")
    if long_gaps not in ("climatology", "none"):
        raise ConfigError(f"gapfill: long_gaps must be 'climatology' or 'none', got {long_gaps!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ConfigError(f"gapfill: min_count must be an integer >= 1, got {min_count!r}")


def _daily_time(ds: xr.Dataset) -> np.ndarray:
    """The time axis, which must be regular daily (gap lengths are counted in days)."""
    if "time" not in ds.dims:
        raise ColumnError("time", expected="a daily 'time' dimension")
    time = ds["time"].values
    if not np.issubdtype(time.dtype, np.datetime64) or (
        time.size > 1 and not np.all(np.diff(time) == np.timedelta64(1, "D"))
    ):
        raise TimestampError(
            "gapfill expects a daily cube with a regular daily time axis; run "
            "fluxgrid.to_daily first (max_gap and the day-of-year mean are in days)"
        )
    return time


def _predictors(ds: xr.Dataset, variables: str | Sequence[str] | None) -> list:
    """The variables to fill: those asked for (never a flux target) or every predictor."""
    if variables is None:
        return [v for v in series_variables(ds) if not is_target(v)]
    names = name_list(variables)
    targets = [v for v in names if is_target(v)]
    if targets:
        raise ConfigError(
            f"gapfill: {targets[0]!r} is a flux target; targets are never gap-filled "
            "(mask them with qc_mask and let the model skip missing targets). Remove it "
            "from variables"
        )
    require_variables(ds, names, where="cube")
    return names


def gapfill(
    ds: xr.Dataset,
    variables: str | Sequence[str] | None = None,
    *,
    max_gap: int = 5,
    long_gaps: Literal["climatology", "none"] = "climatology",
    min_count: int = 1,
) -> xr.Dataset:
    """Fill gaps of daily predictors; flux targets are never filled.

    Parameters
    ----------
    ds
        Daily site cube, dims ``(site, time)`` with a regular daily ``time`` axis. Dask-backed
        cubes stay lazy (blockwise over site chunks; time becomes one chunk).
    variables
        Predictors to fill. Default: every float variable with a ``time`` dim that is not a
        flux target and not a ``*_qc`` / ``*_filled`` companion.
    max_gap
        Longest gap (consecutive missing days) filled by linear interpolation between the
        observed neighbours; longer gaps are long gaps.
    long_gaps
        ``"climatology"``: fill long gaps (and gaps with one neighbour only) with the site's
        multi-year mean of that day of year; ``"none"``: leave them missing.
    min_count
        Minimum number of observed years behind a day-of-year mean for it to be used.

    Returns
    -------
    xarray.Dataset
        ``ds`` with the variables filled (same dtype and attributes) and an int8 companion
        ``<var>_filled`` per filled variable: 0 not filled, 1 linear interpolation,
        2 day-of-year mean. Other variables are unchanged.

    Raises
    ------
    ConfigError
        If ``variables`` names a flux target (NEE, GPP, RECO), or for invalid settings.
    ColumnError
        For a variable that is not in ``ds``.
    TimestampError
        If the time axis is not regular daily.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> filled = gapfill(load_demo_cube(), ["ta", "vpd"])
    >>> sorted(v for v in filled.data_vars if v.endswith("_filled"))
    ['ta_filled', 'vpd_filled']
    """
    _check_settings(max_gap, long_gaps, min_count)
    time = _daily_time(ds)
    names = _predictors(ds, variables)
    first, last = _record_bounds(ds)
    doy = day_of_year(time)
    out = ds.copy()
    for name in names:
        da = one_time_chunk(ds[name])
        values, flags = xr.apply_ufunc(
            _fill_block,
            da,
            first,
            last,
            input_core_dims=[["time"], [], []],
            output_core_dims=[["time"], ["time"]],
            dask="parallelized",
            output_dtypes=[da.dtype, np.int8],
            kwargs={
                "max_steps": int(max_gap),
                "doy": doy,
                "climatology": long_gaps == "climatology",
                "min_count": min_count,
            },
        )
        out[name] = values.transpose(*da.dims).assign_attrs(da.attrs)
        out[f"{name}_filled"] = flags.transpose(*da.dims).assign_attrs(
            long_name=f"gap filling of {name}",
            flag_values=np.array(list(FILL_FLAGS.values()), dtype=np.int8),
            flag_meanings=" ".join(FILL_FLAGS),
            comment=f"linear interpolation over gaps of up to {max_gap} days; "
            + (
                f"longer gaps: multi-year day-of-year mean (>= {min_count} observed years)"
                if long_gaps == "climatology"
                else "longer gaps left missing"
            ),
        )
    out.attrs["history"] = (
        ds.attrs.get("history", "")
        + f"\nfluxgrid.gapfill({names}, max_gap={max_gap}, long_gaps={long_gaps!r})"
    ).strip()
    return out


def gapfill_report(ds: xr.Dataset) -> xr.Dataset:
    """Count, per site, how the values of each gap-filled variable came about.

    Parameters
    ----------
    ds
        Output of :func:`gapfill` (variables with ``<var>_filled`` companions).

    Returns
    -------
    xarray.Dataset
        One int64 variable per filled variable with dims ``(site, origin)``, ``origin`` in
        ``observed``, ``linear_interpolation``, ``day_of_year_mean``, ``unfilled`` (missing
        inside the site's record, still missing after filling). Lazy for Dask input.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> report = gapfill_report(gapfill(load_demo_cube(), ["ta"]))
    >>> report.ta.sel(origin="unfilled").values.tolist()
    [0, 0, 0, 0, 0]
    """
    names = [str(v)[: -len("_filled")] for v in ds.data_vars if str(v).endswith("_filled")]
    names = [v for v in names if v in ds.data_vars]
    if not names:
        raise ColumnError(
            "<var>_filled", expected="gap-fill flags; run fluxgrid.prep.gapfill.gapfill first"
        )
    first, last = _record_bounds(ds)
    idx = xr.DataArray(np.arange(ds.sizes["time"]), dims="time")
    inside = (idx >= first) & (idx <= last)
    out = xr.Dataset()
    origins = ["observed", "linear_interpolation", "day_of_year_mean", "unfilled"]
    for name in names:
        flag = ds[f"{name}_filled"]
        present = ds[name].notnull()
        counts = [
            (present & (flag == 0)).sum("time"),
            (flag == 1).sum("time"),
            (flag == 2).sum("time"),
            (~present & inside).sum("time"),
        ]
        out[name] = xr.concat(counts, dim="origin").transpose(..., "origin").astype(np.int64)
        out[name].attrs = {"long_name": f"number of days of {name} by origin", "units": "1"}
    return out.assign_coords(origin=origins)
