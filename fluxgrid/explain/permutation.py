"""Permutation importance: the loss of skill when one driver's input windows are shuffled.

:func:`permutation_importance` pairs every window with another (of the same site by
default), replaces one driver's look-back sequence by its partner's and scores the model
again, per site and pooled; :class:`PermutationExplainer` is the method of
``fluxgrid explain --method permutation``.

Examples
--------
>>> site_idx = np.array([0, 0, 0, 1, 1])
>>> perm = within_site_permutation(site_idx, np.random.default_rng(0), "site")
>>> bool((site_idx[perm] == site_idx).all())  # partners come from the same site
True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._docstring import fill_doc
from .._lazy import lazy_import
from .._progress import track
from ..errors import ModelError
from ..evaluate import metrics_from_sums
from ..plots.explain import plot_importance
from .base import Explainer, ExplainOptions, register_explainer
from .target import (
    EXPLAIN_DOCS,
    ExplainTarget,
    feature_groups,
    inputs_of_groups,
    resolve_target,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..models.base import FluxModel
    from ..runs import TrainedRun
    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = [
    "PermutationExplainer",
    "grouped_metric",
    "permutation_importance",
    "within_site_permutation",
]

#: metrics where larger is better (importance = baseline - permuted)
_HIGHER_IS_BETTER = ("r2", "r2_pearson")
_IMPORTANCE_METRICS = ("r2", "r2_pearson", "rmse", "mae", "bias", "nrmse", "lcs")


# --------------------------------------------------------------------------- metrics by group
def grouped_metric(
    obs: np.ndarray, pred: np.ndarray, group: np.ndarray, n_group: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """``metric`` of rows of ``pred`` (..., n) against ``obs`` (n,) per group and pooled.

    The formulas of :func:`fluxgrid.evaluate.metrics` (:func:`~fluxgrid.evaluate.metrics_from_sums`)
    on sums taken with :func:`numpy.bincount` over every row at once; NaN observations are
    left out.

    Parameters
    ----------
    obs
        Observations ``(n,)``.
    pred
        Predictions ``(..., n)``: any leading dims (repeat, driver) are scored separately.
    group
        Group code of each observation in ``[0, n_group)`` (``(n,)``).
    n_group
        Number of groups.
    metric
        A metric of :data:`fluxgrid.evaluate.METRICS`.

    Returns
    -------
    tuple
        ``(per_group (..., n_group), pooled (...))``.
    """
    valid = np.isfinite(obs)
    lead = pred.shape[:-1]
    p2 = np.where(valid, np.nan_to_num(pred, nan=0.0), 0.0).reshape(-1, pred.shape[-1])
    g = group[valid]
    ov = np.where(valid, obs, 0.0)[valid]
    rows = p2.shape[0]

    def by_group(values: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(g, weights=v, minlength=n_group) for v in values])

    def same_for_rows(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values, (rows, n_group))

    pv = p2[:, valid]
    omin, omax = _group_extremes(ov, g, n_group)
    stats = {
        "n": same_for_rows(np.bincount(g, minlength=n_group).astype(np.float64)),
        "so": same_for_rows(np.bincount(g, weights=ov, minlength=n_group)),
        "sp": by_group(pv),
        "soo": same_for_rows(np.bincount(g, weights=ov * ov, minlength=n_group)),
        "spp": by_group(pv * pv),
        "sop": by_group(pv * ov[None, :]),
        "sae": by_group(np.abs(pv - ov[None, :])),
        "omin": same_for_rows(omin),
        "omax": same_for_rows(omax),
    }
    per = metrics_from_sums(stats, None)[metric].reshape(*lead, n_group)
    pooled_stats = {k: v.sum(axis=-1) for k, v in stats.items() if k not in ("omin", "omax")}
    pooled_stats["omin"] = np.broadcast_to(np.nanmin(omin) if valid.any() else np.nan, lead or ())
    pooled_stats["omax"] = np.broadcast_to(np.nanmax(omax) if valid.any() else np.nan, lead or ())
    pooled_stats = {k: np.asarray(v).reshape(-1) for k, v in pooled_stats.items()}
    pooled = metrics_from_sums(pooled_stats, None)[metric].reshape(lead)
    return per, pooled


def _group_extremes(
    values: np.ndarray, group: np.ndarray, n_group: int
) -> tuple[np.ndarray, np.ndarray]:
    """Smallest and largest value per group (NaN for empty groups), computed once."""
    order = np.argsort(group, kind="stable")
    bounds = np.searchsorted(group[order], np.arange(n_group + 1))
    ordered = values[order]
    lo = np.full(n_group, np.nan)
    hi = np.full(n_group, np.nan)
    for k in range(n_group):
        if bounds[k + 1] > bounds[k]:
            chunk = ordered[bounds[k] : bounds[k + 1]]
            lo[k], hi[k] = chunk.min(), chunk.max()
    return lo, hi


def _loss_change(metric: str, permuted: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Positive = the model got worse without the driver's information."""
    if metric in _HIGHER_IS_BETTER:
        return baseline - permuted
    if metric == "bias":
        return np.abs(permuted) - np.abs(baseline)
    return permuted - baseline


# --------------------------------------------------------------------------- shuffles
def within_site_permutation(
    site_idx: np.ndarray, rng: np.random.Generator, within: str
) -> np.ndarray:
    """Positions ``perm`` such that window ``i`` takes its shuffled inputs from ``perm[i]``.

    Parameters
    ----------
    site_idx
        Site of each window ``(n,)``.
    rng
        Random generator of the shuffle.
    within
        ``"site"``: partners come from the same site; ``"all"``: from any site.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int64 positions (a permutation of ``0 .. n-1``).
    """
    n = site_idx.size
    if within == "all":
        return rng.permutation(n)
    keys = rng.random(n)
    shuffled = np.lexsort((keys, site_idx))  # each site's positions in random order
    ordered = np.argsort(site_idx, kind="stable")  # each site's positions in order
    perm = np.empty(n, dtype=np.int64)
    perm[ordered] = shuffled
    return perm


def _permuted_predictions(
    target: ExplainTarget,
    groups: Mapping[str, list[int]],
    perms: np.ndarray,
    batch_size: int,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scaled observations ``(n,)``, predictions ``(n,)`` and shuffled predictions.

    The shuffled predictions are ``(repeat, group, n)``: each batch of windows is gathered
    once, its partners by index, and every group of a repeat goes through the model in one
    stacked forward pass.
    """
    torch = lazy_import("torch")
    cube, index, fmodel = target.cube, target.index, target.model
    n, lookback = len(index), target.lookback
    n_repeats, n_groups = perms.shape[0], len(groups)
    s_all, e_all = index.site_idx, index.end_idx
    base = np.empty(n, dtype=np.float32)
    obs = np.empty(n, dtype=np.float32)
    permuted = np.empty((n_repeats, n_groups, n), dtype=np.float32)
    chunk = max(1, batch_size // max(n_groups, 1))
    masks = torch.zeros((n_groups, 1, 1, len(target.features)), dtype=torch.bool)
    for k, cols in enumerate(groups.values()):
        masks[k, 0, 0, cols] = True
    masks = masks.to(cube.device)
    desc = f"permutation importance, {n} windows x {n_repeats} repeats"
    for start in track(range(0, n, chunk), desc=desc, show=progress):
        sl = slice(start, min(start + chunk, n))
        x, y = cube.gather(s_all[sl], e_all[sl], lookback)
        obs[sl] = y.float().cpu().numpy()
        base[sl] = fmodel.predict_batch(x).float().cpu().numpy()
        for r in range(n_repeats):
            partner = perms[r, sl]
            xp, _ = cube.gather(s_all[partner], e_all[partner], lookback)
            # one stacked forward pass for every driver: (group, batch, lag, input)
            stacked = torch.where(masks, xp.unsqueeze(0), x.unsqueeze(0))
            out = fmodel.predict_batch(stacked.reshape(-1, lookback, x.shape[-1]))
            permuted[r, :, sl] = out.float().cpu().numpy().reshape(n_groups, -1)
    return obs, base, permuted


# --------------------------------------------------------------------------- scores
@dataclasses.dataclass
class _Scores:
    """The metric without and with shuffles, per site (``site_codes``) and pooled."""

    site_codes: np.ndarray
    n_windows: np.ndarray
    baseline: np.ndarray
    baseline_pooled: float
    score: np.ndarray
    score_pooled: np.ndarray
    change: np.ndarray
    change_pooled: np.ndarray


def _score(
    target: ExplainTarget, obs: np.ndarray, base: np.ndarray, permuted: np.ndarray, metric: str
) -> _Scores:
    """Score the predictions in target units, per site with windows and pooled."""
    obs_t = target.to_target_units(obs)
    site_codes, site_of = np.unique(target.index.site_idx, return_inverse=True)
    n_site = site_codes.size
    per_base, pooled_base = grouped_metric(
        obs_t, target.to_target_units(base)[None, :], site_of, n_site, metric
    )
    per_perm, pooled_perm = grouped_metric(
        obs_t, target.to_target_units(permuted), site_of, n_site, metric
    )
    return _Scores(
        site_codes=site_codes,
        n_windows=np.bincount(site_of, minlength=n_site).astype(np.int64),
        baseline=per_base[0],
        baseline_pooled=pooled_base[0],
        score=per_perm,
        score_pooled=pooled_perm,
        change=_loss_change(metric, per_perm, per_base[0][None, None, :]),
        change_pooled=_loss_change(metric, pooled_perm, pooled_base[0]),
    )


def _metric_units(metric: str, units: str) -> dict[str, str]:
    """``units`` attribute of a metric of a target in ``units``."""
    if metric in ("r2", "r2_pearson", "nrmse"):
        return {"units": "1"}
    return {"units": f"({units})2" if metric == "lcs" else units}


def _importance_dataset(
    target: ExplainTarget,
    groups: Mapping[str, list[int]],
    scores: _Scores,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The labelled result of :func:`permutation_importance`."""
    metric, n_repeats = attrs["metric"], attrs["n_repeats"]
    sites = np.asarray(target.index.sites).astype(str)[scores.site_codes]
    coords: dict[str, Any] = {"driver": list(groups), "site": sites, "repeat": np.arange(n_repeats)}
    if target.igbp is not None:
        coords["igbp"] = ("site", np.asarray(target.igbp).astype(str)[scores.site_codes])
    unit = _metric_units(metric, target.units)
    ddof = 1 if n_repeats > 1 else 0
    spread = {"long_name": "standard deviation over repeats", **unit}
    loss = f"loss of skill in {metric}"
    data_vars = {
        "importance": (
            ("driver", "site"),
            scores.change.mean(axis=0),
            {"long_name": f"{loss} when the driver is shuffled", **unit},
        ),
        "importance_std": (("driver", "site"), scores.change.std(axis=0, ddof=ddof), spread),
        "score": (
            ("repeat", "driver", "site"),
            scores.score,
            {"long_name": f"{metric} with the driver shuffled", **unit},
        ),
        "baseline": ("site", scores.baseline, {"long_name": f"{metric} without shuffling", **unit}),
        "n_windows": ("site", scores.n_windows),
        "importance_pooled": (
            "driver",
            scores.change_pooled.mean(axis=0),
            {"long_name": f"{loss}, all windows pooled", **unit},
        ),
        "importance_pooled_std": ("driver", scores.change_pooled.std(axis=0, ddof=ddof), spread),
        "score_pooled": (("repeat", "driver"), scores.score_pooled, unit),
        "baseline_pooled": ((), scores.baseline_pooled, unit),
    }
    return xr.Dataset(
        data_vars,
        coords=coords,
        attrs={
            "method": "permutation importance",
            **attrs,
            "model": target.model.name,
            "units": target.units,
            "inputs_of_driver": inputs_of_groups(target, groups),
            "comment": "positive importance = the metric gets worse when the driver's input "
            "windows are shuffled (increase of errors, decrease of R2)",
        },
    )


def _check_settings(metric: str, n_repeats: Any, within: str) -> None:
    if metric not in _IMPORTANCE_METRICS:
        raise ModelError(f"metric {metric!r} unknown; use one of {list(_IMPORTANCE_METRICS)}")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise ModelError(f"n_repeats={n_repeats!r}; expected an integer >= 1")
    if within not in ("site", "all"):
        raise ModelError(f"within={within!r}; expected 'site' or 'all'")


@fill_doc(EXPLAIN_DOCS)
def permutation_importance(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    drivers: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    metric: str = "nrmse",
    n_repeats: int = 10,
    seed: int = 0,
    within: Literal["site", "all"] = "site",
    split: xr.Dataset | None = None,
    batch_size: int = 4096,
    device: str | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Permutation importance: how much ``metric`` worsens when a driver's inputs are shuffled.

    For each repeat, the windows are put in random order (within each site by default) and,
    for one driver at a time, every window's whole look-back sequence of that driver is
    replaced by the sequence of the window it was paired with; the other inputs stay as
    observed. The model predicts the modified windows and the metric is recomputed per site
    and pooled. The importance is the loss of skill, averaged over ``n_repeats`` repeats,
    with the standard deviation over repeats as the spread.

    Shuffling whole windows (blocks of ``lookback`` consecutive days) keeps each driver's
    within-window dynamics and its distribution at the site, and breaks only its link with
    the target (and with the other drivers). ``within="all"`` pairs windows across sites, as
    the GPP study permutes a feature across all samples; it also moves climate between sites,
    so it measures spatial as well as temporal importance. Site-constant inputs
    (``site_lat``, IGBP one-hot) cannot change under a within-site shuffle: use
    ``within="all"`` for them.

    The work runs on the device-resident :class:`~fluxgrid.tensors.WindowCube`: each batch of
    windows is gathered once, its permuted partner windows are gathered by index, and all
    drivers of a repeat go through the model in one stacked forward pass. Nothing is rebuilt
    per repeat.

    Parameters
    ----------
    model
        A :class:`~fluxgrid.runs.TrainedRun`, its run directory, or a fitted
        :class:`~fluxgrid.models.base.FluxModel` (then ``data`` is a scaled
        :class:`~fluxgrid.tensors.WindowCube`, ``windows`` a
        :class:`~fluxgrid.windows.WindowIndex`, and scores are in scaled units).
    data
        The site cube (with the target) or a scaled ``WindowCube``.
    windows
        Windows scored: a ``WindowIndex``, a split part (``"test"`` by default; the run's
        split, or ``split``), a list of parts, or ``None`` for every window with a target.
    drivers
        Inputs permuted: names (each permuted alone), or a mapping ``{label: [inputs]}`` of
        inputs permuted together (e.g. ``{"doy": ["doy_sin", "doy_cos"]}``). Default: the
        run's dynamic drivers.
    metric
        One of ``nrmse`` (default), ``rmse``, ``mae``, ``lcs``, ``bias`` (its absolute
        value), ``r2``, ``r2_pearson`` (see :mod:`fluxgrid.evaluate`).
    n_repeats
        Shuffles per driver (default 10).
    seed
        Seed of the shuffles (results are reproducible).
    within
        ``"site"`` (shuffle windows within each site) or ``"all"`` (across all windows).
    split
        Split whose parts ``windows`` names (default: the run's).
    batch_size
        Windows per forward pass (all drivers of a batch are stacked into it).
    device
        Device of the tensors (default: the run's).
    %(progress)s

    Returns
    -------
    xarray.Dataset
        Dims ``driver``, ``site`` (sites with windows), ``repeat``:

        - ``importance`` (driver, site): mean change of the metric (positive = worse
          without the driver: increase for error metrics, decrease for R2);
        - ``importance_std`` (driver, site): standard deviation over repeats;
        - ``score`` (repeat, driver, site): the metric after each shuffle;
        - ``baseline`` (site): the metric without shuffling; ``n_windows`` (site);
        - ``importance_pooled``, ``importance_pooled_std`` (driver), ``score_pooled``
          (repeat, driver), ``baseline_pooled``: the same over all windows together.

        Attributes: ``metric``, ``n_repeats``, ``seed``, ``within``, ``units``.

    Raises
    ------
    ModelError
        A driver that is not an input of the model (the message lists the inputs), an
        unknown metric, or ``n_repeats < 1``.
    DataNotFoundError
        No target or no windows to score.

    Examples
    --------
    >>> run = fluxgrid.load_run("runs/demo")                             # doctest: +SKIP
    >>> imp = permutation_importance(run, fluxgrid.load_demo_cube(), "test",
    ...                              drivers=["ta", "sw_in", "vpd"])      # doctest: +SKIP
    >>> imp.importance.sel(site="US-MMS").to_series()                    # doctest: +SKIP
    """
    _check_settings(metric, n_repeats, within)
    target = resolve_target(model, data, windows, split=split, device=device)
    groups = feature_groups(target, drivers)
    rng = np.random.default_rng(seed)
    site_idx = target.index.site_idx
    perms = np.stack([within_site_permutation(site_idx, rng, within) for _ in range(n_repeats)])
    obs, base, permuted = _permuted_predictions(target, groups, perms, batch_size, progress)
    scores = _score(target, obs, base, permuted, metric)
    attrs = {"metric": metric, "n_repeats": n_repeats, "seed": seed, "within": within}
    return _importance_dataset(target, groups, scores, attrs)


@register_explainer("permutation")
class PermutationExplainer(Explainer):
    """``fluxgrid explain --method permutation``: pooled importance, bars sorted by size."""

    name = "permutation"

    def compute(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """:func:`permutation_importance` of the windows of ``options.part``."""
        return permutation_importance(
            run,
            cube,
            options.part,
            drivers=options.drivers,
            metric=options.metric,
            n_repeats=options.n_repeats,
            device=options.device,
        )

    def figure(self, computed: xr.Dataset, options: ExplainOptions) -> Any:
        """:func:`~fluxgrid.plots.plot_importance` (pooled over all windows)."""
        return plot_importance(computed)

    def table(self, result: xr.Dataset, options: ExplainOptions) -> tuple[str, pd.DataFrame]:
        """Pooled importance and its standard deviation per driver."""
        table = pd.DataFrame(
            {
                "importance": result.importance_pooled.to_series(),
                "sd": result.importance_pooled_std.to_series(),
            }
        )
        heading = (
            f"permutation importance ({result.attrs['metric']}, {options.part} windows, pooled):"
        )
        return heading, table
