"""Permutation importance of the GPP study's predictors, per site and model, and its ranking.

:func:`gpp_importance` shuffles each predictor between windows of a site
(:func:`fluxgrid.explain.permutation_importance`) for every fitted model;
:func:`importance_ranking` ranks the predictors per site and summarises the ranks across
sites (the study's ranking figure, :func:`fluxgrid.plots.plot_importance_ranking`).

Examples
--------
>>> imp = xr.Dataset({"importance": (("driver", "site"), [[0.3, 0.4], [0.1, 0.2]])},
...                  coords={"driver": ["sw_in", "ta"], "site": ["a", "b"]})
>>> importance_ranking(imp).order.values.tolist()
['sw_in', 'ta']
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ...explain import default_groups, permutation_importance
from ...windows import WindowIndex
from ..common import concat_sites
from .config import GppStudyConfig
from .data import GppData
from .fitting import GppFit

__all__ = ["gpp_importance", "importance_ranking"]


def _per_site_sample(index: WindowIndex, n_max: int | None, seed: int) -> WindowIndex:
    """At most ``n_max`` randomly drawn windows per site (seeded; order by site, time)."""
    if n_max is None or len(index) == 0:
        return index
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(index)), index.site_idx))
    sites = index.site_idx[order]
    first = np.searchsorted(sites, sites, side="left")
    keep = order[(np.arange(len(order)) - first) < n_max]
    return index.take(np.sort(keep))


def gpp_importance(
    data: GppData,
    fits: Mapping[tuple[str, str], GppFit],
    cfg: GppStudyConfig,
) -> xr.Dataset:
    """Permutation importance per site and model (NRMSE increase, 10 repeats by default).

    Each predictor's input sequences are shuffled between windows of a site
    (:func:`fluxgrid.explain.permutation_importance`); day of year (sine and cosine) is
    shuffled as one input ``doy``.

    Returns
    -------
    xarray.Dataset
        ``importance``, ``importance_std``, ``baseline`` (model, driver, site) and
        ``n_windows`` (model, site); attributes as the explain function's.
    """
    imp_cfg = cfg.importance
    by_model: dict[str, list[xr.Dataset]] = {}
    for (label, _group), fit in fits.items():
        run = fit.run
        sub = data.cube.sel(site=fit.sites)
        split = data.split.sel(site=fit.sites)
        index = run.windows(sub, split=split, require_target=True).select(imp_cfg.part)
        index = _per_site_sample(index, imp_cfg.max_windows_per_site, imp_cfg.seed)
        groups = default_groups(run.features, run.inputs["drivers"])
        imp = permutation_importance(
            run,
            sub,
            index,
            drivers=groups,
            metric=imp_cfg.metric,
            n_repeats=imp_cfg.n_repeats,
            seed=imp_cfg.seed,
            within=imp_cfg.within,
        )
        keep = ["importance", "importance_std", "baseline", "n_windows"]
        by_model.setdefault(label, []).append(imp[keep])
    merged = []
    for _label, parts in by_model.items():
        one = concat_sites(parts)
        attrs = dict(parts[0].attrs)
        attrs.pop("model", None)
        merged.append(one.assign_attrs(attrs))
    out = xr.concat(merged, dim=pd.Index(list(by_model), name="model"), join="outer")
    out.attrs["max_windows_per_site"] = (
        "all" if imp_cfg.max_windows_per_site is None else imp_cfg.max_windows_per_site
    )
    return out


def importance_ranking(importance: xr.Dataset) -> xr.Dataset:
    """Rank predictors by permutation importance per site; summarise ranks across sites.

    Parameters
    ----------
    importance
        ``importance`` on ``(driver, site)`` or ``(model, driver, site)``
        (:func:`gpp_importance` or :func:`fluxgrid.explain.permutation_importance`).

    Returns
    -------
    xarray.Dataset
        ``rank`` (..., driver, site): 1 = largest loss of skill at that site (ties share
        the mean rank; sites without a score NaN); ``median_rank``, ``rank_q25``,
        ``rank_q75``, ``share_first`` (share of sites where the driver ranks first) and
        ``median_importance`` on (..., driver); ``order`` (..., position): drivers sorted by
        median rank.

    Examples
    --------
    >>> imp = xr.Dataset({"importance": (("driver", "site"), [[0.3, 0.1], [0.2, 0.4], [0.0, 0.0]])},
    ...                  coords={"driver": ["sw_in", "ta", "vpd"], "site": ["a", "b"]})
    >>> r = importance_ranking(imp)
    >>> r["rank"].sel(site="a").values.tolist(), r.median_rank.values.tolist()
    ([1.0, 2.0, 3.0], [1.5, 1.5, 3.0])
    """
    from scipy.stats import rankdata  # scipy.stats takes about a second to import

    da = importance["importance"]
    da = da.transpose(..., "driver", "site")
    values = da.values.astype(np.float64)
    ranks = rankdata(-np.nan_to_num(values, nan=-np.inf), axis=values.ndim - 2, method="average")
    ranks = np.where(np.isnan(values), np.nan, ranks)
    rank = da.copy(data=ranks)
    rank.attrs = {"long_name": "importance rank at the site (1 = most important)", "units": "1"}
    with warnings.catch_warnings():  # drivers unscored everywhere give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q = rank.quantile([0.25, 0.5, 0.75], dim="site", skipna=True)
    median = q.sel(quantile=0.5, drop=True)
    scored = rank.notnull().sum("site")
    out = xr.Dataset(
        {
            "rank": rank,
            "median_rank": median.assign_attrs(long_name="median rank across sites"),
            "rank_q25": q.sel(quantile=0.25, drop=True),
            "rank_q75": q.sel(quantile=0.75, drop=True),
            "share_first": ((rank == 1).sum("site") / scored.where(scored > 0)).assign_attrs(
                long_name="share of sites where the driver ranks first", units="1"
            ),
            "median_importance": da.median("site").assign_attrs(da.attrs),
        },
        attrs={"metric": importance.attrs.get("metric", "")},
    )
    drivers = da["driver"].values
    lead = [d for d in median.dims if d != "driver"]
    order_idx = np.argsort(median.transpose(*lead, "driver").values, axis=-1, kind="stable")
    out["order"] = (
        (*lead, "position"),
        drivers[order_idx].astype(str),
        {"long_name": "drivers sorted by median rank"},
    )
    return out
