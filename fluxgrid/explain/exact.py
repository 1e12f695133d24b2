"""Exact SHAP of the scikit-learn baselines on their window features (tree and linear models).

The baselines predict from window aggregates (the mean of each input over the last 1, 7,
30, ... days, :func:`fluxgrid.models.base.window_summary`), so their attributions come per
aggregate: :func:`tree_shap` runs shap's exact ``TreeExplainer`` on them, :func:`linear_shap`
writes the exact SHAP values of a linear model down, per aggregate and per lag. Both are
used by :func:`fluxgrid.explain.shap_values` for models declaring ``shap_method = "tree"``
or ``"linear"``.

Examples
--------
>>> aggregate_lengths([1, 7, 0], lookback=30)
[1, 7, 30]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from .._lazy import lazy_import

if TYPE_CHECKING:  # pragma: no cover
    from ..windows import WindowIndex
    from .target import ExplainTarget

__all__ = ["aggregate_lengths", "linear_shap", "tree_shap"]


def aggregate_lengths(aggregates: Sequence[int], lookback: int) -> list[int]:
    """Days averaged by each window aggregate (``0`` or more than ``lookback``: the window)."""
    return [lookback if k <= 0 or k > lookback else int(k) for k in aggregates]


def tree_shap(
    target: ExplainTarget, index: WindowIndex
) -> tuple[None, np.ndarray, np.ndarray, float]:
    """Exact (path-dependent) TreeSHAP, shap's TreeExplainer, on a tree model's window features.

    Parameters
    ----------
    target
        What is explained (a model with ``estimator``, ``features`` and ``aggregates``).
    index
        Windows attributed.

    Returns
    -------
    tuple
        ``(None, per_aggregate (sample, aggregate, input), pred (sample,), base)``: no
        per-lag values; scaled units.
    """
    shap = lazy_import("shap")
    fmodel, n_in = target.model, len(target.features)
    n_agg = len(fmodel.params["aggregates"])
    x, _ = target.cube.gather(index.site_idx, index.end_idx, target.lookback)
    z = fmodel.features(x)
    pred = fmodel.estimator.predict(z).astype(np.float32)
    explainer = shap.TreeExplainer(fmodel.estimator)
    values = np.asarray(explainer.shap_values(z, check_additivity=True), dtype=np.float64)
    base = float(np.ravel(explainer.expected_value)[0])
    return None, values.reshape(len(index), n_agg, n_in), pred, base


def linear_shap(
    target: ExplainTarget, index: WindowIndex, ref_index: WindowIndex
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Exact (interventional) SHAP of a linear model on window aggregates, per lag and aggregate.

    ``f(x) = c + sum_{a, i} coef[a, i] * mean of the last k_a steps of input i``, so the SHAP
    value of ``x[lag, i]`` is ``w[lag, i] * (x[lag, i] - E_ref x[lag, i])`` with ``w`` the
    coefficients spread over the steps each aggregate averages.

    Parameters
    ----------
    target
        What is explained (a model with ``estimator.coef_``, ``features``, ``aggregates``).
    index
        Windows attributed.
    ref_index
        Reference windows (their mean is the baseline input).

    Returns
    -------
    tuple
        ``(per_lag (sample, lag, input), per_aggregate (sample, aggregate, input),
        pred (sample,), base)``; lag 0 = target step; scaled units.
    """
    fmodel, cube = target.model, target.cube
    aggs = tuple(fmodel.params["aggregates"])
    n_in, lookback = len(target.features), target.lookback
    x, _ = cube.gather(index.site_idx, index.end_idx, lookback)
    z = fmodel.features(x)
    pred = fmodel.estimator.predict(z).astype(np.float32)
    coef = np.asarray(fmodel.estimator.coef_, dtype=np.float64).reshape(len(aggs), n_in)
    weight = np.zeros((lookback, n_in))
    for a, kk in enumerate(aggregate_lengths(aggs, lookback)):
        weight[:kk] += coef[a] / kk  # lag 0 = target step
    xr_, _ = cube.gather(ref_index.site_idx, ref_index.end_idx, lookback)
    ref_mean = xr_.float().cpu().numpy()[:, ::-1].mean(axis=0)  # (lag, input)
    xl = x.float().cpu().numpy()[:, ::-1]
    per_lag = weight[None] * (xl - ref_mean[None])
    base = float(fmodel.estimator.predict(fmodel.features(xr_)).mean())
    z_ref = fmodel.features(xr_).reshape(-1, len(aggs), n_in).mean(axis=0)
    per_agg = coef[None] * (z.reshape(len(index), len(aggs), n_in) - z_ref[None])
    return per_lag, per_agg, pred, base
