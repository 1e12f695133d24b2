"""Singular spectrum analysis (SSA) of site time series: seasonal, interannual, trend, residual.

:func:`ssa` decomposes each site's series with the engine of :mod:`fluxgrid.prep.ssa_core`
(trajectory matrix, truncated SVD, diagonal averaging) and assigns each elementary
component to a band by its dominant period (the peak of its periodogram):

* ``seasonal``: period shorter than ``seasonal_max`` (16 months by default),
* ``interannual``: between ``seasonal_max`` and ``trend_min`` (16-128 months),
* ``trend``: longer than ``trend_min`` (128 months) *or* longer than the decomposed record
  (a period that the record cannot resolve is indistinguishable from a trend); the series
  mean (zero frequency) lands here,
* ``residual``: the series minus the three groups, i.e. every elementary component that was
  not computed (beyond ``rank``). It holds the day-to-day noise of daily fluxes.

The four components add back to the series exactly (up to the rounding of the output dtype;
the maximum absolute difference is returned as ``<var>_error``). With ``rank=None`` every
elementary component is computed and grouped, and the residual is zero up to rounding.

On Dask the work runs blockwise over site chunks (``xr.apply_ufunc(...,
dask="parallelized")``, time made one chunk); inside a block, sites are decomposed in
batches of similar length. Because the window costs nothing extra in the engine's FFT
formulation, the default window is half of each site's record (``window=0.5``), the choice
that maximises separability and resolves oscillations with periods up to ``N / 2`` (128
months needs 21+ years of daily data).

Examples
--------
>>> import numpy as np, xarray as xr
>>> t = np.arange(3650)
>>> x = 3 * np.sin(2 * np.pi * t / 365.25) + 0.001 * t
>>> time = np.datetime64("2000-01-01", "ns") + t * np.timedelta64(1, "D")
>>> da = xr.DataArray(x[None], dims=("site", "time"), coords={"time": time}, name="x")
>>> out = ssa(da, window=730, rank=8)
>>> out.x.sizes["component"]
4
>>> float(abs(out.x.sum("component") - da).max()) < 1e-9
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr

from ..errors import ColumnError, ConfigError, TimestampError
from .series import name_list, one_time_chunk, require_variables, series_variables
from .ssa_core import (
    COMPONENTS,
    GROUPS,
    MONTH_DAYS,
    check_settings,
    rank_size,
    ssa_decompose,
)

__all__ = [
    "COMPONENTS",
    "GROUPS",
    "MONTH_DAYS",
    "ssa",
    "ssa_decompose",
]

#: the per-site outputs of one variable: name suffix, core dims, dtype (ssa_decompose order)
_OUTPUTS = (
    ("", ["component", "time"], None),
    ("_period", ["rank"], np.float64),
    ("_group", ["rank"], np.int8),
    ("_singular_value", ["rank"], np.float64),
    ("_contribution", ["component"], np.float64),
    ("_error", [], np.float64),
    ("_window", [], np.int64),
    ("_length", [], np.int64),
    ("_left_out", [], np.int64),
)


# --------------------------------------------------------------------------- xarray API
def _infer_step_days(time: xr.DataArray) -> float:
    """Length of a time step in days: a regular step, or calendar months (MONTH_DAYS)."""
    values = time.values
    if not np.issubdtype(values.dtype, np.datetime64):
        raise TimestampError(
            "ssa: the time coordinate is not datetime64; pass step_days= (1 for daily data)"
        )
    if values.size < 2:
        raise TimestampError("ssa: the time axis needs at least two steps")
    days = np.diff(values.astype("datetime64[s]").astype(np.int64)) / 86400.0
    if np.all(days == days[0]) and days[0] > 0:
        return float(days[0])
    if days.min() >= 28 and days.max() <= 31:
        return MONTH_DAYS  # calendar months
    raise TimestampError(
        "ssa: the time axis is not regular (daily or monthly); resample it first "
        "(fluxgrid.to_daily / fluxgrid.to_monthly) or pass step_days="
    )


def _ssa_block(
    x: np.ndarray, labels: np.ndarray, *, out_dtype: np.dtype, variable: str, **kwargs: Any
) -> tuple[np.ndarray, ...]:
    """:func:`ssa_decompose` of one block, plus the error of the stored components."""
    res = ssa_decompose(x, names=list(np.asarray(labels).reshape(-1)), variable=variable, **kwargs)
    comps = res["components"].astype(out_dtype)
    total = comps.astype(np.float64).sum(axis=-2)
    with np.errstate(invalid="ignore"):
        diff = np.abs(np.asarray(x, dtype=np.float64) - total)
    has = res["length"] > 0
    err = np.where(has, np.nanmax(np.where(np.isnan(diff), -np.inf, diff), axis=-1), np.nan)
    return (
        comps,
        res["period"],
        res["group"],
        res["singular_value"],
        res["contribution"],
        err,
        res["window"],
        res["length"],
        res["left_out"],
    )


def _band_limits(seasonal_max: float, trend_min: float, period_unit: str) -> tuple[float, float]:
    """The two band limits in days, checked."""
    if period_unit not in ("months", "days"):
        raise ConfigError(f"ssa: period_unit must be 'months' or 'days', got {period_unit!r}")
    factor = MONTH_DAYS if period_unit == "months" else 1.0
    seasonal_days, trend_days = seasonal_max * factor, trend_min * factor
    if not 0 < seasonal_days < trend_days:
        raise ConfigError(
            f"ssa: need 0 < seasonal_max < trend_min, got {seasonal_max} and {trend_min} "
            f"{period_unit}"
        )
    return seasonal_days, trend_days


def _site_labels(da: xr.DataArray) -> xr.DataArray:
    """A label per series (the site ID where there is one) for error messages."""
    other = [d for d in da.dims if d != "time"]
    label_dim = "site" if "site" in other else (other[0] if other else None)
    if label_dim is not None and label_dim in da.coords:
        return da[label_dim].astype(str).broadcast_like(da.isel(time=0, drop=True))
    labels = xr.full_like(da.isel(time=0, drop=True), 0, dtype=np.int64)
    return labels.copy(data=np.arange(labels.size).reshape(labels.shape))


def _apply(da: xr.DataArray, name: str, kwargs: dict[str, Any], n_rank: int) -> list:
    """:func:`ssa_decompose` blockwise over the non-time dims (lazy for Dask input)."""
    return xr.apply_ufunc(
        _ssa_block,
        da,
        _site_labels(da),
        input_core_dims=[["time"], []],
        output_core_dims=[dims for _, dims, _ in _OUTPUTS],
        dask="parallelized",
        output_dtypes=[dtype or da.dtype for _, _, dtype in _OUTPUTS],
        dask_gufunc_kwargs={"output_sizes": {"component": len(COMPONENTS), "rank": n_rank}},
        kwargs={**kwargs, "out_dtype": da.dtype, "variable": name},
        keep_attrs=False,
    )


def _labelled(outs: list, da: xr.DataArray, name: str, rank: int | None) -> dict[str, xr.DataArray]:
    """The outputs of one variable with their names, dim order and attributes."""
    res = dict(zip((suffix for suffix, _, _ in _OUTPUTS), outs, strict=True))
    other = [d for d in da.dims if d != "time"]
    units = da.attrs.get("units", "")
    comps = res[""]
    comps.attrs = {
        **{k: v for k, v in da.attrs.items() if k not in ("cell_methods", "standard_name")},
        "long_name": f"SSA components of {da.attrs.get('long_name', name)}",
        "units": units,
        "comment": "the four components sum to the series; residual = elementary "
        f"components beyond rank {rank} (day-to-day noise)",
    }
    return {
        name: comps.transpose("component", *other, "time"),
        f"{name}_error": res["_error"].assign_attrs(
            long_name=f"max |sum of components - {name}|", units=units
        ),
        f"{name}_contribution": res["_contribution"]
        .transpose(*other, "component")
        .assign_attrs(
            long_name="share of trajectory-matrix energy (squared singular values)", units="1"
        ),
        f"{name}_period": res["_period"].assign_attrs(
            long_name="dominant period of the elementary component", units="d"
        ),
        f"{name}_group": res["_group"].assign_attrs(
            long_name="group of the elementary component",
            flag_values=np.array([-1, 0, 1, 2], dtype=np.int8),
            flag_meanings="not_computed seasonal interannual trend",
        ),
        f"{name}_singular_value": res["_singular_value"].assign_attrs(
            long_name="singular value of the trajectory matrix", units=units
        ),
        f"{name}_window": res["_window"].assign_attrs(
            long_name="embedding window", units="time steps"
        ),
        f"{name}_length": res["_length"].assign_attrs(
            long_name="values decomposed (span length)", units="time steps"
        ),
        f"{name}_left_out": res["_left_out"].assign_attrs(
            long_name="valid values outside the decomposed span (NaN in the components)",
            units="1",
        ),
    }


def _ssa_attrs(ds: xr.Dataset, settings: dict[str, Any], call: str) -> dict[str, Any]:
    """The input's attributes, the settings (band limits in days) and the history line."""
    rank = settings["rank"]
    return {
        **{k: v for k, v in ds.attrs.items() if k != "history"},
        "ssa_window": str(settings["window"]),
        "ssa_rank": "all" if rank is None else rank,
        "ssa_seasonal_max_days": settings["seasonal_max_days"],
        "ssa_trend_min_days": settings["trend_min_days"],
        "ssa_step_days": settings["step_days"],
        "ssa_solver": settings["solver"],
        "ssa_on_gaps": settings["on_gaps"],
        "history": (ds.attrs.get("history", "") + "\n" + call).strip(),
    }


def ssa(
    data: xr.Dataset | xr.DataArray,
    variables: str | Sequence[str] | None = None,
    *,
    window: int | float = 0.5,
    rank: int | None = 64,
    seasonal_max: float = 16.0,
    trend_min: float = 128.0,
    period_unit: Literal["months", "days"] = "months",
    on_gaps: Literal["raise", "longest"] = "raise",
    solver: Literal["auto", "randomized", "full"] = "auto",
    oversample: int = 24,
    power_iterations: int = 8,
    seed: int = 0,
    batch_size: int = 16,
    step_days: float | None = None,
) -> xr.Dataset:
    """Decompose (site, time) variables into seasonal, interannual, trend and residual parts.

    Parameters
    ----------
    data
        Site cube (dims ``(site, time)``, or just ``time``) or one DataArray. Dask-backed
        data stays lazy: the work runs blockwise over site chunks (time is made one chunk).
    variables
        Variables to decompose (default: every float variable with a ``time`` dim that is not
        a ``*_qc`` or ``*_filled`` companion).
    window
        Embedding window ``L``: an ``int`` number of time steps for all sites, or a ``float``
        in ``(0, 0.5]``: that share of each site's record (default: half of each record).
    rank
        Leading elementary components computed and grouped (default 64); the others form the
        ``residual`` component. ``None``: all (exact full SVD, residual ~0). That is
        costly for long windows: a 10-year daily window means a 3,650 x 3,650 SVD per site
        (about a minute and 1 GB each); use it for monthly data or short windows.
    seasonal_max, trend_min
        Band limits for the dominant period of each elementary component: below
        ``seasonal_max`` it is seasonal, above ``trend_min`` (or above the site's record
        length) trend, in between interannual. Defaults 16 and 128 months.
    period_unit
        Unit of the two limits: ``"months"`` (of :data:`MONTH_DAYS` days) or ``"days"``.
    on_gaps
        ``"raise"`` (default): a missing value between a site's first and last value is an
        error (gap-fill first). ``"longest"``: decompose each site's longest gap-free span;
        the valid values left outside it are counted in ``<var>_left_out``.
    solver
        ``"auto"`` (randomized FFT-based truncated SVD unless the window is small or
        ``rank=None``), ``"randomized"`` or ``"full"`` (LAPACK on the explicit matrix).
    oversample, power_iterations, seed
        Randomized SVD settings (see :func:`ssa_decompose`).
    batch_size
        Sites decomposed together inside a block (memory knob).
    step_days
        Length of a time step in days; inferred from ``time`` (daily: 1, months: 30.44).

    Returns
    -------
    xarray.Dataset
        For each variable ``v``:

        - ``v`` ``(component, site, time)``: components ``seasonal``, ``interannual``,
          ``trend``, ``residual``, in the variable's units and dtype; they sum to the series
          (NaN outside the decomposed span);
        - ``v_error`` ``(site)``: max. absolute difference between the sum of the stored
          components and the series (rounding only);
        - ``v_contribution`` ``(site, component)``: share of the trajectory-matrix energy
          (sum of squared singular values), summing to 1;
        - ``v_period`` ``(site, rank)``: dominant period of each elementary component (days),
          ``v_group`` ``(site, rank)`` its group (0 seasonal, 1 interannual, 2 trend, -1 not
          computed), ``v_singular_value`` ``(site, rank)``;
        - ``v_window``, ``v_length``, ``v_left_out`` ``(site)``: embedding window and number
          of values decomposed (time steps), valid values not decomposed.

        Attributes record the settings (band limits in days).

    Raises
    ------
    ColumnError
        For an unknown variable, or gaps inside a record with ``on_gaps="raise"`` (raised
        when the data is computed, for Dask-backed input).
    ConfigError
        For a window longer than half a record or invalid settings.

    Examples
    --------
    >>> import fluxgrid
    >>> daily = fluxgrid.load_demo_cube()
    >>> parts = ssa(daily, "nee", window=730, rank=16)
    >>> parts.component.values.tolist()
    ['seasonal', 'interannual', 'trend', 'residual']
    >>> bool((parts.nee_error < 1e-4).all())
    True
    """
    check_settings(window, rank, on_gaps, solver, oversample, power_iterations, batch_size)
    seasonal_days, trend_days = _band_limits(seasonal_max, trend_min, period_unit)
    ds = data.to_dataset(name=data.name or "x") if isinstance(data, xr.DataArray) else data
    if "time" not in ds.dims:
        raise ColumnError("time", expected="a 'time' dimension to decompose along")
    if variables is None:
        names = series_variables(ds)
    else:
        names = name_list(variables)
        require_variables(ds, names)
    step = float(step_days) if step_days is not None else _infer_step_days(ds["time"])
    n_rank = rank_size(rank, window, ds.sizes["time"])
    kwargs = {
        "window": window,
        "rank": rank,
        "step_days": step,
        "seasonal_max_days": seasonal_days,
        "trend_min_days": trend_days,
        "on_gaps": on_gaps,
        "solver": solver,
        "oversample": oversample,
        "power_iterations": power_iterations,
        "seed": seed,
        "batch_size": batch_size,
    }
    out = xr.Dataset()
    for name in names:
        da = one_time_chunk(ds[name])
        out = out.assign(_labelled(_apply(da, str(name), kwargs, n_rank), da, name, rank))
    out = out.assign_coords(component=list(COMPONENTS), rank=np.arange(n_rank))
    out.attrs = _ssa_attrs(
        ds,
        kwargs,
        f"fluxgrid.ssa(window={window}, rank={rank}, seasonal_max={seasonal_max}, "
        f"trend_min={trend_min} {period_unit}, on_gaps={on_gaps!r})",
    )
    return out
