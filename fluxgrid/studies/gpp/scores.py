"""Scores of the GPP study: NRMSE per site on the full test period, growing season, extremes.

:func:`extreme_days` marks the climate-induced extreme days of the observed target;
:func:`gpp_scores` scores every model per site in the three settings; :func:`score_summary`
gives the numbers of the box plots and :func:`compare_models` the paired Wilcoxon tests
across sites.

Examples
--------
>>> s = xr.Dataset({"nrmse": (("model", "setting", "site"), [[[0.1, 0.2, 0.3]]])},
...                coords={"model": ["gru"], "setting": ["full"], "site": list("abc")})
>>> float(score_summary(s).q50.sel(model="gru", setting="full"))
0.2
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import DataNotFoundError
from ...evaluate import METRICS, climate_extremes, growing_season
from ...evaluate import scores as metric_table
from .config import GppStudyConfig
from .data import GppData

__all__ = ["SETTINGS", "compare_models", "extreme_days", "gpp_scores", "score_summary"]

#: scoring settings: the whole test period, its growing season, its extreme-event days
SETTINGS = ("full", "growing_season", "extremes")


def extreme_days(data: GppData | xr.DataArray, cfg: GppStudyConfig | None = None) -> xr.DataArray:
    """Climate-induced extreme days of the observed target (whole record of each site).

    A day is extreme when its anomaly from the site's mean seasonal cycle of observed GPP
    is below the ``extremes.quantile`` (0.1) of the negative anomalies for at least
    ``extremes.min_duration`` (5) consecutive days (:func:`fluxgrid.evaluate.climate_extremes`).
    The seasonal cycle and the threshold use every valid day of the record (the
    observations only define which days are scored; no model sees them).

    Returns
    -------
    xarray.DataArray
        Boolean ``(site, time)``.
    """
    e = (cfg or GppStudyConfig()).extremes
    obs = data.cube[data.target] if isinstance(data, GppData) else data
    return climate_extremes(
        obs,
        quantile=e.quantile,
        min_duration=e.min_duration,
        tail=e.tail,
        smooth_days=e.smooth_days,
    )


def gpp_scores(
    predictions: Mapping[str, xr.Dataset],
    extremes: xr.DataArray,
    *,
    part: str = "test",
    min_extreme_days: int = 10,
) -> xr.Dataset:
    """Metrics per model, setting and site: whole test period, growing season, extremes.

    Parameters
    ----------
    predictions
        ``{model: Dataset}`` from :func:`gpp_predictions` (``obs``, ``pred``, ``part`` and a
        ``latitude`` coordinate on ``(site, time)``).
    extremes
        Boolean ``(site, time)`` mask (:func:`extreme_days`).
    part
        Split part scored.
    min_extreme_days
        Sites with fewer scored extreme days get NaN metrics in the ``extremes`` setting
        (``n`` is kept).

    Returns
    -------
    xarray.Dataset
        :data:`fluxgrid.evaluate.METRICS` with dims ``(model, setting, site)``; ``setting``
        is ``full``, ``growing_season`` (May-Sep north, Nov-Mar south) and ``extremes``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> from fluxgrid.prep.splits import random_year_split
    >>> cube = load_demo_cube()
    >>> p = xr.Dataset({"obs": cube.gpp_nt, "pred": cube.gpp_dt,
    ...                 "part": random_year_split(cube, target="gpp_nt").part})
    >>> s = gpp_scores({"dt": p}, extreme_days(cube.gpp_nt))
    >>> s.nrmse.dims
    ('model', 'setting', 'site')
    """
    if not predictions:
        raise DataNotFoundError("no predictions to score")
    tables = []
    for pred in predictions.values():
        ext = extremes.reindex(site=pred["site"], time=pred["time"], fill_value=False).astype(bool)
        masks = {"full": None, "growing_season": growing_season(pred), "extremes": ext}
        per = [metric_table(pred, by="site", part=part, subset=m) for m in masks.values()]
        tables.append(xr.concat(per, dim=pd.Index(list(masks), name="setting")))
    out = xr.concat(tables, dim=pd.Index(list(predictions), name="model"))
    few = (out["n"] < min_extreme_days) & (out["setting"] == "extremes")
    for key in METRICS:
        if key != "n":
            out[key] = out[key].where(~few)
    out.attrs = {
        "part": part,
        "settings": "full: every scored day; growing_season: May-Sep north, Nov-Mar south; "
        "extremes: climate-induced extreme days",
        "min_extreme_days": min_extreme_days,
        **{f"extremes_{k}": v for k, v in extremes.attrs.items() if k != "long_name"},
    }
    return out.transpose("model", "setting", "site")


def score_summary(scores: xr.Dataset, metric: str = "nrmse") -> xr.Dataset:
    """Distribution of a metric across sites per model and setting (the box plot's numbers).

    Returns
    -------
    xarray.Dataset
        ``q50`` (the median), ``q25``, ``q75``, ``q05``, ``q95``, ``mean`` and ``n_sites``
        (sites with a score) on ``(model, setting)``.
    """
    da = scores[metric]
    with warnings.catch_warnings():  # a setting no site has a score in gives NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q = da.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim="site", skipna=True)
        mean = da.mean("site")
    out = xr.Dataset(
        {
            "q50": q.sel(quantile=0.5, drop=True),
            "q25": q.sel(quantile=0.25, drop=True),
            "q75": q.sel(quantile=0.75, drop=True),
            "q05": q.sel(quantile=0.05, drop=True),
            "q95": q.sel(quantile=0.95, drop=True),
            "mean": mean,
            "n_sites": da.notnull().sum("site"),
        },
        attrs={"metric": metric},
    )
    out["q50"].attrs = {"long_name": f"median {metric} across sites"}
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN kept)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok])]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _paired_test(x: np.ndarray, y: np.ndarray) -> tuple[float, float, int, float, int]:
    """Wilcoxon statistic, p-value, pairs, median of ``x - y`` and pairs where ``x < y``.

    Sites scored by one model only are left out; without pairs the statistics are NaN, and
    without any non-zero difference the test is not run (statistic and p-value NaN).
    """
    from scipy.stats import wilcoxon  # scipy.stats takes about a second to import

    ok = np.isfinite(x) & np.isfinite(y)
    n = int(ok.sum())
    if n == 0:
        return np.nan, np.nan, 0, np.nan, 0
    diff = x[ok] - y[ok]
    stat = pval = np.nan
    if np.any(diff != 0):
        res = wilcoxon(x[ok], y[ok])
        stat, pval = float(res.statistic), float(res.pvalue)
    return stat, pval, n, float(np.median(diff)), int((diff < 0).sum())


def compare_models(scores: xr.Dataset, metric: str = "nrmse") -> xr.Dataset:
    """Paired Wilcoxon signed-rank tests of every model pair across sites, per setting.

    For each setting and pair ``(a, b)`` the sites scored by both are paired and
    :func:`scipy.stats.wilcoxon` (two-sided) tests whether the per-site differences
    ``metric[a] - metric[b]`` are centred on zero. The p-values are also Holm-adjusted over
    the pairs of a setting.

    Returns
    -------
    xarray.Dataset
        Dims ``(setting, pair)`` (``pair`` like ``"gru-lstm"``, coords ``model_a``,
        ``model_b``): ``statistic``, ``p_value``, ``p_holm``, ``n_sites``,
        ``median_difference`` (a - b), ``a_better`` (sites where a has the lower error).

    Examples
    --------
    >>> s = xr.Dataset({"nrmse": (("model", "setting", "site"),
    ...     [[[0.10, 0.12, 0.11, 0.09, 0.13, 0.10]], [[0.12, 0.15, 0.13, 0.12, 0.16, 0.12]]])},
    ...     coords={"model": ["gru", "rnn"], "setting": ["full"], "site": list("abcdef")})
    >>> t = compare_models(s).sel(setting="full", pair="gru-rnn")
    >>> round(float(t.p_value), 4), int(t.a_better), int(t.n_sites)
    (0.0312, 6, 6)
    """
    models = [str(m) for m in scores["model"].values]
    settings = [str(s) for s in scores["setting"].values]
    pairs = list(itertools.combinations(models, 2))
    shape = (len(settings), len(pairs))
    stat = np.full(shape, np.nan)
    pval = np.full(shape, np.nan)
    n = np.zeros(shape, dtype=np.int64)
    med = np.full(shape, np.nan)
    better = np.zeros(shape, dtype=np.int64)
    for i, setting in enumerate(settings):
        for j, (a, b) in enumerate(pairs):
            x = scores[metric].sel(model=a, setting=setting).values.astype(np.float64)
            y = scores[metric].sel(model=b, setting=setting).values.astype(np.float64)
            stat[i, j], pval[i, j], n[i, j], med[i, j], better[i, j] = _paired_test(x, y)
    holm = np.stack([_holm(row) for row in pval]) if pairs else pval
    labels = [f"{a}-{b}" for a, b in pairs]
    coords = {
        "setting": settings,
        "pair": labels,
        "model_a": ("pair", [a for a, _ in pairs]),
        "model_b": ("pair", [b for _, b in pairs]),
    }
    dims = ("setting", "pair")
    return xr.Dataset(
        {
            "statistic": (dims, stat, {"long_name": "Wilcoxon signed-rank statistic"}),
            "p_value": (dims, pval, {"long_name": "two-sided p-value", "units": "1"}),
            "p_holm": (dims, holm, {"long_name": "Holm-adjusted p-value (pairs)", "units": "1"}),
            "n_sites": (dims, n, {"long_name": "sites scored by both models"}),
            "median_difference": (
                dims,
                med,
                {"long_name": f"median of {metric}(a) - {metric}(b) across sites"},
            ),
            "a_better": (dims, better, {"long_name": f"sites where a has the lower {metric}"}),
        },
        coords=coords,
        attrs={"metric": metric, "test": "scipy.stats.wilcoxon, paired by site, two-sided"},
    )
