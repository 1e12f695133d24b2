"""Scores as xarray: metrics per site, year, vegetation type, season, extremes; transfer matrices.

Metrics (``obs`` o, predictions p, over the valid pairs):

=============  ==============================================================
``r2``         coefficient of determination, 1 - SSE / SST
``r2_pearson`` squared Pearson correlation
``rmse``       root mean squared error (target units)
``mae``        mean absolute error
``bias``       mean(p - o)
``nrmse``      RMSE / (max(o) - min(o))
``lcs``        lack of correlation, 2 sd_p sd_o (1 - r) (Kobayashi & Salam 2000)
``n``          number of valid pairs
=============  ==============================================================

Standard deviations are population ones (ddof = 0). Groups come from the predictions'
coordinates: ``site``, ``year``, ``month``, ``igbp``; subsets from masks such as
:func:`growing_season` and :func:`climate_extremes`.

Examples
--------
>>> import numpy as np, xarray as xr
>>> obs = xr.DataArray([1.0, 2.0, 3.0, 4.0], dims="time")
>>> pred = xr.DataArray([1.5, 2.0, 2.5, 4.5], dims="time")
>>> m = metrics(obs, pred)
>>> round(float(m.r2), 3), round(float(m.rmse), 3), float(m.n)
(0.85, 0.433, 4.0)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataNotFoundError, FluxgridError
from .io.atomic import atomic_path
from .io.store import to_netcdf
from .prep.splits import PARTS

__all__ = [
    "METRICS",
    "anomalies",
    "climate_extremes",
    "evaluate_run",
    "growing_season",
    "long_runs",
    "mean_seasonal_cycle",
    "metrics",
    "metrics_from_sums",
    "pooled_table",
    "run_scores",
    "scores",
    "transfer_matrix",
    "write_csv",
]

#: metric names in the order tables show them
METRICS = ("r2", "r2_pearson", "rmse", "mae", "bias", "nrmse", "lcs", "n")

_ATTRS = {
    "r2": {"long_name": "coefficient of determination (1 - SSE/SST)", "units": "1"},
    "r2_pearson": {"long_name": "squared Pearson correlation", "units": "1"},
    "rmse": {"long_name": "root mean squared error"},
    "mae": {"long_name": "mean absolute error"},
    "bias": {"long_name": "mean error (prediction - observation)"},
    "nrmse": {"long_name": "RMSE / (max - min of observations)", "units": "1"},
    "lcs": {"long_name": "lack of correlation 2 sd_p sd_o (1 - r)"},
    "n": {"long_name": "number of valid pairs", "units": "1"},
}


def metrics_from_sums(stats: dict[str, np.ndarray], units: str | None) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` from the sums of the valid pairs (any array shape).

    The one place the formulas live: :func:`metrics` and :func:`scores` reduce to these
    sums first, and so can other code that accumulates them batch by batch.

    Parameters
    ----------
    stats
        Arrays of one shape: ``n`` (pairs), ``so``, ``sp`` (sums of observations and
        predictions), ``soo``, ``spp``, ``sop`` (sums of squares and products), ``sae`` (sum
        of absolute errors), ``omin``, ``omax`` (observed range).
    units
        Units of the observations (unused by the formulas; kept for callers that label).

    Returns
    -------
    dict of numpy.ndarray
        One array per metric name, NaN where fewer than two pairs.

    Examples
    --------
    >>> o, p = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.5, 2.0, 2.5, 4.5])
    >>> sums = {"n": np.array(4), "so": o.sum(), "sp": p.sum(), "soo": (o * o).sum(),
    ...         "spp": (p * p).sum(), "sop": (o * p).sum(), "sae": abs(p - o).sum(),
    ...         "omin": o.min(), "omax": o.max()}
    >>> round(float(metrics_from_sums(sums, None)["r2"]), 3)
    0.85
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        n = stats["n"].astype(np.float64)
        mo, mp = stats["so"] / n, stats["sp"] / n
        var_o = np.maximum(stats["soo"] / n - mo**2, 0.0)
        var_p = np.maximum(stats["spp"] / n - mp**2, 0.0)
        cov = stats["sop"] / n - mo * mp
        sse = stats["soo"] - 2 * stats["sop"] + stats["spp"]
        sst = var_o * n
        r = cov / np.sqrt(var_o * var_p)
        rmse = np.sqrt(np.maximum(sse, 0.0) / n)
        out = {
            "r2": 1.0 - sse / sst,
            "r2_pearson": r**2,
            "rmse": rmse,
            "mae": stats["sae"] / n,
            "bias": mp - mo,
            "nrmse": rmse / (stats["omax"] - stats["omin"]),
            "lcs": 2.0 * np.sqrt(var_o) * np.sqrt(var_p) * (1.0 - r),
            "n": n,
        }
    few = n < 2
    for key in out:
        if key != "n":
            out[key] = np.where(few, np.nan, out[key])
    return out


def _dataset(values: dict[str, np.ndarray], dims, coords, units: str | None) -> xr.Dataset:
    ds = xr.Dataset({k: (dims, values[k]) for k in METRICS}, coords=coords)
    for key in METRICS:
        attrs = dict(_ATTRS[key])
        if "units" not in attrs and units:
            attrs["units"] = units if key != "lcs" else f"({units})2"
        ds[key].attrs = attrs
    return ds


#: sufficient statistics, in the order of the leading axis of :func:`_block_stats`
_STATS = ("n", "so", "sp", "soo", "spp", "sop", "sae", "omin", "omax")
_N_SUMS = 7  # the first seven add up over blocks; omin and omax take the min and max


def _block_stats(o, p, mask, n_reduced: int) -> np.ndarray:
    """Every statistic of :data:`_STATS` for one block, in one vectorised pass.

    Parameters
    ----------
    o, p
        Observations and predictions of one block, same shape; the last ``n_reduced``
        axes are reduced.
    mask
        Boolean block of the pairs to use, or ``None`` (all pairs valid in both).
    n_reduced
        Number of trailing axes reduced.

    Returns
    -------
    numpy.ndarray
        ``(9, *kept, 1, ..., 1)`` float64: the statistics with the reduced axes kept as
        length 1 (``omin``/``omax`` are +inf/-inf where a block has no valid pair).
    """
    o = np.asarray(o, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    axes = tuple(range(o.ndim - n_reduced, o.ndim))
    ok = ~(np.isnan(o) | np.isnan(p))
    if mask is not None:
        ok &= np.asarray(mask, dtype=bool)
    o0 = np.where(ok, o, 0.0)
    p0 = np.where(ok, p, 0.0)
    out = np.empty((len(_STATS), *(1 if i in axes else s for i, s in enumerate(o.shape))))
    out[0] = ok.sum(axis=axes, keepdims=True)
    for i, term in enumerate((o0, p0, o0 * o0, p0 * p0, o0 * p0, np.abs(p0 - o0)), start=1):
        out[i] = term.sum(axis=axes, keepdims=True)
    out[7] = np.where(ok, o, np.inf).min(axis=axes, keepdims=True)
    out[8] = np.where(ok, o, -np.inf).max(axis=axes, keepdims=True)
    return out


def _fused_stats(o, p, mask, n_reduced: int):
    """Statistics of :data:`_STATS` over the last ``n_reduced`` axes, ``(9, *kept)``.

    Numpy inputs give numpy; any Dask input gives one lazy Dask array: the kernel
    :func:`_block_stats` per block (``map_blocks``, each input block read once), then a
    sum (min, max) over the small per-block results.
    """
    arrays = [a for a in (o, p, mask) if a is not None]
    lazy = [a for a in arrays if isinstance(a, da.Array)]
    if not lazy:
        blocks = _block_stats(o, p, mask, n_reduced)
    else:
        chunks = lazy[0].chunks
        o, p, mask = (None if a is None else da.asarray(a).rechunk(chunks) for a in (o, p, mask))
        kept = o.ndim - n_reduced
        out_chunks = (
            (len(_STATS),),
            *chunks[:kept],
            *(((1,) * len(c)) for c in chunks[kept:]),
        )
        blocks = da.map_blocks(
            _block_stats,
            o,
            p,
            mask,
            n_reduced,
            new_axis=0,
            chunks=out_chunks,
            dtype=np.float64,
        )
    axes = tuple(range(1 + o.ndim - n_reduced, 1 + o.ndim))
    sums = blocks[:_N_SUMS].sum(axis=axes)
    lo = blocks[_N_SUMS : _N_SUMS + 1].min(axis=axes)[0]
    hi = blocks[_N_SUMS + 1 :].max(axis=axes)[0]
    return sums, lo, hi


def metrics(
    obs: xr.DataArray,
    pred: xr.DataArray,
    dim: str | Sequence[str] | None = None,
    *,
    mask: xr.DataArray | None = None,
) -> xr.Dataset:
    """Metrics of ``pred`` against ``obs``, reducing over ``dim`` (default: all dims).

    Every sufficient statistic comes from one vectorised pass per block
    (:func:`_block_stats`); lazy (Dask) inputs are read once, in a single compute.

    Parameters
    ----------
    obs, pred
        Aligned DataArrays (e.g. ``(site, time)``); NaN in either drops the pair.
    dim
        Dimension(s) reduced; the others are kept (``dim="time"`` gives per-site scores).
    mask
        Boolean DataArray of pairs to use (e.g. a season or an extreme-event mask).

    Returns
    -------
    xarray.Dataset
        One variable per :data:`METRICS` name, dims = the kept dims.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube()
    >>> per_site = metrics(cube.gpp_nt, cube.gpp_dt, dim="time")
    >>> per_site.r2.dims
    ('site',)
    """
    obs, pred = xr.align(obs, pred, join="exact")
    if mask is not None:
        obs, pred, mask = xr.broadcast(obs, pred, mask.astype(bool))
    else:
        obs, pred = xr.broadcast(obs, pred)
    dims = list(obs.dims) if dim is None else ([dim] if isinstance(dim, str) else list(dim))
    missing = [d for d in dims if d not in obs.dims]
    if missing:
        raise FluxgridError(f"metrics: dim {missing} not in the inputs' dims {list(obs.dims)}")
    kept = [d for d in obs.dims if d not in dims]
    order = [*kept, *dims]
    o, p = obs.transpose(*order), pred.transpose(*order)
    m = None if mask is None else mask.transpose(*order).data
    sums, lo, hi = _fused_stats(o.data, p.data, m, len(dims))
    coords = {k: c for k, c in o.coords.items() if set(c.dims) <= set(kept)}
    # one compute for everything lazy: the statistics and any lazy kept coordinates
    sums, lo, hi, coords = dask.compute(sums, lo, hi, coords)
    stats = dict(zip(_STATS[:_N_SUMS], np.asarray(sums), strict=True))
    none = stats["n"] == 0
    stats["omin"] = np.where(none, np.nan, lo)
    stats["omax"] = np.where(none, np.nan, hi)
    values = metrics_from_sums(stats, None)
    return _dataset(values, tuple(kept), coords, obs.attrs.get("units"))


# --------------------------------------------------------------------------- groups
def _labels(predictions: xr.Dataset, name: str) -> np.ndarray:
    """Label of each (site, time) cell for grouping ``name``."""
    shape = (predictions.sizes["site"], predictions.sizes["time"])
    time = pd.DatetimeIndex(predictions["time"].values)
    if name == "site":
        return np.broadcast_to(predictions["site"].values.astype(str)[:, None], shape)
    if name == "year":
        return np.broadcast_to(time.year.to_numpy()[None, :], shape)
    if name == "month":
        return np.broadcast_to(time.month.to_numpy()[None, :], shape)
    if name == "igbp":
        if "igbp" not in predictions.coords:
            raise DataNotFoundError("grouping by 'igbp' needs an igbp coordinate (site)")
        return np.broadcast_to(predictions["igbp"].values.astype(str)[:, None], shape)
    raise FluxgridError(f"unknown grouping {name!r}; use site, year, month or igbp")


def scores(
    predictions: xr.Dataset,
    *,
    by: str | Sequence[str] = (),
    part: str | Sequence[str] | None = "test",
    subset: xr.DataArray | None = None,
    obs: str = "obs",
    pred: str = "pred",
) -> xr.Dataset:
    """Metrics of a predictions dataset, pooled or per group.

    Parameters
    ----------
    predictions
        Dataset on ``(site, time)`` with ``obs``, ``pred`` and (for ``part``) ``part``
        codes, as written to ``predictions.nc`` by :func:`fluxgrid.training.train_experiment`.
    by
        Grouping(s): ``site``, ``year``, ``month``, ``igbp`` (``()``: pooled over all).
        Several give one dim per grouping (``("site", "year")``).
    part
        Split part(s) scored (``"test"``, ``"train"``, ``"val"``); ``None``: all pairs.
    subset
        Extra boolean ``(site, time)`` mask (:func:`growing_season`, :func:`climate_extremes`).
    obs, pred
        Variable names.

    Returns
    -------
    xarray.Dataset
        :data:`METRICS` with one dim per grouping (absent groups: NaN, ``n`` = 0).

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube()
    >>> p = xr.Dataset({"obs": cube.gpp_nt, "pred": cube.gpp_dt})
    >>> t = scores(p, by="igbp", part=None)
    >>> t.r2.dims
    ('igbp',)
    """
    predictions, subset = _loaded(predictions, subset, [obs, pred, "part"])
    valid, ov, pv = _valid_pairs(predictions, part, subset, obs, pred)
    groups = [by] if isinstance(by, str) else list(by)
    units = predictions[obs].attrs.get("units")
    if not groups:
        stats = _sums(pd.DataFrame({"o": ov, "p": pv}), [])
        values = metrics_from_sums({k: np.asarray(v) for k, v in stats.items()}, units)
        return _dataset({k: np.asarray(v).reshape(()) for k, v in values.items()}, (), {}, units)
    frame = pd.DataFrame({"o": ov, "p": pv})
    full_index = []
    for name in groups:
        lab = _labels(predictions, name)
        frame[name] = lab[valid]
        full_index.append(
            np.unique(lab) if name != "site" else predictions["site"].values.astype(str)
        )
    stats = _sums(frame, groups)
    idx = pd.MultiIndex.from_product(full_index, names=groups)
    stats = stats.reindex(idx)
    stats["n"] = stats["n"].fillna(0)
    values = metrics_from_sums({k: stats[k].to_numpy() for k in stats.columns}, units)
    shape = tuple(len(ix) for ix in full_index)
    values = {k: v.reshape(shape) for k, v in values.items()}
    coords = {name: ix for name, ix in zip(groups, full_index, strict=True)}
    ds = _dataset(values, tuple(groups), coords, units)
    if "site" in groups and "igbp" in predictions.coords and "igbp" not in groups:
        ds = ds.assign_coords(igbp=("site", predictions["igbp"].values.astype(str)))
    return ds


def _loaded(
    predictions: xr.Dataset, subset: xr.DataArray | None, names: Sequence[str]
) -> tuple[xr.Dataset, xr.DataArray | None]:
    """The variables ``names`` present (and their coordinates) and ``subset``, in memory.

    Lazy (Dask) inputs are computed together in one pass, not once per use.
    """
    used = predictions[[n for n in dict.fromkeys(names) if n in predictions]]
    return dask.compute(used, subset)


def _valid_pairs(
    predictions: xr.Dataset,
    part: str | Sequence[str] | None,
    subset: xr.DataArray | None,
    obs: str,
    pred: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(site, time)`` mask of the pairs scored, and their observed and predicted values."""
    o = predictions[obs].transpose("site", "time")
    p = predictions[pred].transpose("site", "time")
    valid = np.asarray(o.notnull().values & p.notnull().values)
    if part is not None:
        if "part" not in predictions:
            raise DataNotFoundError("scoring by part needs a 'part' variable (site, time)")
        parts = [part] if isinstance(part, str) else list(part)
        unknown = [x for x in parts if x not in PARTS]
        if unknown:
            raise FluxgridError(f"parts {unknown} unknown; use {list(PARTS)}")
        codes = [PARTS[x] for x in parts]
        valid &= np.isin(predictions["part"].transpose("site", "time").values, codes)
    if subset is not None:
        valid &= np.asarray(subset.transpose("site", "time").values, dtype=bool)
    ov = np.asarray(o.values, dtype=np.float64)[valid]
    pv = np.asarray(p.values, dtype=np.float64)[valid]
    return valid, ov, pv


def _sums(frame: pd.DataFrame, groups: list[str]):
    frame = frame.assign(
        oo=frame.o * frame.o,
        pp=frame.p * frame.p,
        op=frame.o * frame.p,
        ae=(frame.p - frame.o).abs(),
    )
    if not groups:
        return {
            "n": len(frame),
            "so": frame.o.sum(),
            "sp": frame.p.sum(),
            "soo": frame.oo.sum(),
            "spp": frame.pp.sum(),
            "sop": frame.op.sum(),
            "sae": frame.ae.sum(),
            "omin": frame.o.min() if len(frame) else np.nan,
            "omax": frame.o.max() if len(frame) else np.nan,
        }
    g = frame.groupby(groups, sort=True)
    out = pd.DataFrame(
        {
            "n": g.o.size(),
            "so": g.o.sum(),
            "sp": g.p.sum(),
            "soo": g.oo.sum(),
            "spp": g.pp.sum(),
            "sop": g.op.sum(),
            "sae": g.ae.sum(),
            "omin": g.o.min(),
            "omax": g.o.max(),
        }
    )
    if not isinstance(out.index, pd.MultiIndex):
        out.index = pd.MultiIndex.from_arrays([out.index], names=groups)
    return out


# --------------------------------------------------------------------------- subsets
def growing_season(ds: xr.Dataset | xr.DataArray) -> xr.DataArray:
    """Growing-season mask: May-September north of the equator, November-March south.

    Parameters
    ----------
    ds
        Anything with ``time`` and a ``latitude`` coordinate on ``site``.

    Returns
    -------
    xarray.DataArray
        Boolean ``(site, time)``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> gs = growing_season(load_demo_cube())
    >>> bool(gs.sel(time="2010-07-01").all()), bool(gs.sel(time="2010-01-15").any())
    (True, False)
    """
    if "latitude" not in ds.coords:
        raise DataNotFoundError("growing_season needs a latitude coordinate per site")
    month = ds["time"].dt.month
    north = (month >= 5) & (month <= 9)
    south = (month >= 11) | (month <= 3)
    lat = ds["latitude"]
    out = xr.where(lat >= 0, north, south).transpose("site", "time")
    out.attrs = {"long_name": "growing season (May-Sep north, Nov-Mar south)"}
    return out.astype(bool)


def mean_seasonal_cycle(da: xr.DataArray, *, smooth_days: int = 0) -> xr.DataArray:
    """Mean value per day of year (per site), optionally smoothed by a circular running mean.

    Parameters
    ----------
    da
        Daily ``(site, time)`` series.
    smooth_days
        Width of a centred circular moving average over day of year (0: none).

    Returns
    -------
    xarray.DataArray
        Dims ``(site, dayofyear)`` (1-366).
    """
    clim = da.groupby("time.dayofyear").mean("time")
    clim = clim.reindex(dayofyear=np.arange(1, 367))
    if smooth_days and smooth_days > 1:
        pad = smooth_days // 2
        wrapped = xr.concat(
            [clim.isel(dayofyear=slice(-pad, None)), clim, clim.isel(dayofyear=slice(0, pad))],
            dim="dayofyear",
        )
        rolled = wrapped.rolling(dayofyear=smooth_days, center=True, min_periods=1).mean()
        clim = rolled.isel(dayofyear=slice(pad, pad + 366)).assign_coords(
            dayofyear=np.arange(1, 367)
        )
    return clim


def anomalies(da: xr.DataArray, *, smooth_days: int = 0) -> xr.DataArray:
    """Departures from the mean seasonal cycle (:func:`mean_seasonal_cycle`), ``(site, time)``."""
    clim = mean_seasonal_cycle(da, smooth_days=smooth_days)
    doy = da["time"].dt.dayofyear
    out = da - clim.sel(dayofyear=doy).drop_vars("dayofyear")
    out.attrs = {
        **da.attrs,
        "long_name": f"anomaly of {da.name or 'value'} from its mean seasonal cycle",
    }
    return out


def long_runs(mask: xr.DataArray | np.ndarray, min_length: int, *, dim: str = "time"):
    """Keep only runs of consecutive True values at least ``min_length`` long (vectorised).

    Parameters
    ----------
    mask
        Boolean array; runs are counted along ``dim`` (the last axis for numpy input).
    min_length
        Shortest run kept.

    Examples
    --------
    >>> m = np.array([[1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0]], dtype=bool)
    >>> long_runs(m, 5).astype(int).tolist()
    [[0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 0]]
    """
    if isinstance(mask, xr.DataArray):
        values = long_runs(mask.transpose(..., dim).values, min_length)
        return mask.transpose(..., dim).copy(data=values).transpose(*mask.dims)
    m = np.asarray(mask, dtype=bool)
    shape = m.shape
    rows = m.reshape(-1, shape[-1])
    padded = np.concatenate([rows, np.zeros((rows.shape[0], 1), dtype=bool)], axis=1).ravel()
    start = padded & ~np.concatenate([[False], padded[:-1]])
    run_id = np.cumsum(start) * padded
    lengths = np.bincount(run_id)
    keep = padded & (lengths[run_id] >= min_length)
    return keep.reshape(rows.shape[0], -1)[:, :-1].reshape(shape)


def climate_extremes(
    da: xr.DataArray,
    *,
    quantile: float = 0.1,
    min_duration: int = 5,
    tail: str = "all",
    smooth_days: int = 0,
) -> xr.DataArray:
    """Days in runs of strongly negative anomalies from the mean seasonal cycle.

    A day is extreme when its anomaly (:func:`anomalies`) is below the site's ``quantile``
    of anomalies and it belongs to a run of at least ``min_duration`` such consecutive days.

    Parameters
    ----------
    da
        Daily ``(site, time)`` series (e.g. observed GPP).
    quantile
        Threshold quantile per site (0.1: the lowest 10%).
    min_duration
        Shortest run of consecutive days kept (5 in the GPP study).
    tail
        ``all``: quantile of all anomalies; ``negative``: quantile of the negative anomalies
        only (the "10% quantile of the negative tail").
    smooth_days
        Smoothing of the seasonal cycle (see :func:`mean_seasonal_cycle`).

    Returns
    -------
    xarray.DataArray
        Boolean ``(site, time)``; ``attrs`` hold the thresholds.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> ext = climate_extremes(load_demo_cube().gpp_nt)
    >>> ext.dtype == bool, ext.dims
    (True, ('site', 'time'))
    """
    if tail not in ("all", "negative"):
        raise FluxgridError(f"tail={tail!r}; expected 'all' or 'negative'")
    anom = anomalies(da, smooth_days=smooth_days).transpose("site", "time")
    source = anom.where(anom < 0) if tail == "negative" else anom
    threshold = source.quantile(quantile, dim="time", skipna=True).drop_vars("quantile")
    below = (anom < threshold).fillna(False)
    out = long_runs(below, min_duration)
    out.attrs = {
        "long_name": f"climate extreme (anomaly below the {quantile:g} quantile for >= "
        f"{min_duration} consecutive days)",
        "quantile": quantile,
        "min_duration": min_duration,
        "tail": tail,
    }
    out.name = "extreme"
    return out.astype(bool)


# --------------------------------------------------------------------------- transfer
def transfer_matrix(
    predictions: Mapping[str, xr.Dataset],
    *,
    part: str | None = "test",
    obs: str = "obs",
    pred: str = "pred",
) -> xr.Dataset:
    """Cross-site scores: model trained at each site, scored at every site.

    Parameters
    ----------
    predictions
        ``{train_site: predictions}``, each a predictions dataset (``obs``, ``pred``, ``part``
        on ``(site, time)``) covering the test sites, made by the model trained at
        ``train_site``.
    part
        Part of each test site scored (its own test part: the diagonal is the usual
        in-site test score).
    obs, pred
        Variable names.

    Returns
    -------
    xarray.Dataset
        :data:`METRICS` with dims ``(train_site, test_site)``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube().isel(site=[0, 1])
    >>> p = xr.Dataset({"obs": cube.gpp_nt, "pred": cube.gpp_dt})
    >>> tm = transfer_matrix({"US-MMS": p, "US-UMB": p}, part=None)
    >>> tm.r2.dims, tm.test_site.values.tolist()
    (('train_site', 'test_site'), ['US-MMS', 'US-UMB'])
    """
    rows = []
    train_sites = list(predictions)
    for site in train_sites:
        table = scores(predictions[site], by="site", part=part, obs=obs, pred=pred)
        rows.append(table.drop_vars("igbp", errors="ignore").rename(site="test_site"))
    out = xr.concat(rows, dim=pd.Index(train_sites, name="train_site"), join="outer")
    out.attrs = {"part": part or "all", "description": "rows: training site, columns: test site"}
    return out


# --------------------------------------------------------------------------- runs
def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    by: Sequence[str] = ("site",),
    parts: Sequence[str] = ("train", "val", "test"),
    write: bool = True,
) -> xr.Dataset:
    """Score a run directory's ``predictions.nc`` pooled and per grouping.

    Parameters
    ----------
    run_dir
        Written by :func:`fluxgrid.training.train_experiment`.
    by
        Groupings scored besides the pooled score (``site``, ``year``, ``igbp``, ``month``).
    parts
        Parts scored.
    write
        Write ``metrics.nc`` and ``metrics.csv`` (pooled) into the run directory.

    Returns
    -------
    xarray.Dataset
        Pooled metrics as ``<metric>`` with dim ``part``; per grouping ``<metric>_by_<group>``
        with dims ``(part, <group>)``.
    """
    run = Path(run_dir)
    path = run / "predictions.nc"
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no predictions; is {run} a fluxgrid run directory?")
    with xr.open_dataset(path) as f:
        predictions = f.load()
    out = run_scores(predictions, by=by, parts=parts)
    if write:
        to_netcdf(out, run / "metrics.nc", overwrite=True)
        write_csv(pooled_table(out), run / "metrics.csv")
    return out


def run_scores(
    predictions: xr.Dataset,
    *,
    by: Sequence[str] = ("site",),
    parts: Sequence[str] = ("train", "val", "test"),
) -> xr.Dataset:
    """Pooled and grouped scores for several parts (see :func:`evaluate_run`)."""
    predictions = predictions.compute()  # lazy input: one pass, not one per part and group
    present = [p for p in parts if (predictions["part"] == _code(p)).any()]
    pooled = xr.concat(
        [scores(predictions, part=p) for p in present], dim=pd.Index(present, name="part")
    )
    out = pooled
    for group in by:
        table = xr.concat(
            [scores(predictions, by=group, part=p) for p in present],
            dim=pd.Index(present, name="part"),
        )
        renamed = table.rename({k: f"{k}_by_{group}" for k in METRICS})
        out = xr.merge([out, renamed], compat="override", combine_attrs="override")
    out.attrs = {
        "target": predictions.attrs.get("target", ""),
        "units": predictions["obs"].attrs.get("units", ""),
    }
    return out


def _code(part: str) -> int:
    """Code of a split part name."""
    return PARTS[part]


def pooled_table(scores_ds: xr.Dataset) -> pd.DataFrame:
    """Pooled metrics as a table (rows: part, columns: metrics)."""
    return pd.DataFrame({k: scores_ds[k].to_series() for k in METRICS})


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a table as CSV atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp)
    return path
