"""Figures of the forest GPP study: score boxes, extreme-event series, importance ranking.

Examples
--------
>>> fig = plot_score_boxes(result.scores, path="nrmse_boxes.png")             # doctest: +SKIP
>>> fig = plot_importance_ranking(result.ranking(), path="ranking.png")      # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from ..._docstring import fill_doc
from ...errors import GridError
from ...plots.evaluation import part_mask
from ...plots.figure import FIGURE_DOCS, figure_axes, finish_axes, finish_figure, new_figure

__all__ = ["plot_extreme_series", "plot_importance_ranking", "plot_score_boxes"]


def _box_panel(
    ax: Any, values: list[np.ndarray], models: list[str], whis: tuple[float, float]
) -> None:
    """One box per model of its finite values, coloured, with the count under each box."""
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    data = [v[np.isfinite(v)] for v in (np.asarray(v, dtype=float) for v in values)]
    drawn = [d if d.size else np.array([np.nan]) for d in data]
    box = ax.boxplot(
        drawn,
        whis=whis,
        patch_artist=True,
        widths=0.6,
        medianprops={"color": "k"},
        flierprops={"markersize": 3},
    )
    for k, patch in enumerate(box["boxes"]):
        patch.set_facecolor(colours[k % len(colours)])
        patch.set_alpha(0.6)
    ax.set_xticks(np.arange(1, len(models) + 1), [m.upper() for m in models])
    for k, d in enumerate(data):
        ax.annotate(
            f"n={d.size}",
            xy=(k + 1, 0.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 2),
            textcoords="offset points",
            ha="center",
            fontsize="x-small",
        )


@fill_doc(FIGURE_DOCS)
def plot_score_boxes(
    scores: xr.Dataset,
    *,
    metric: str = "nrmse",
    settings: list[str] | None = None,
    models: list[str] | None = None,
    whis: tuple[float, float] = (5.0, 95.0),
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Box plots of a per-site metric: one panel per setting, one box per model.

    Boxes show the median and the quartiles across sites, whiskers the 5th and 95th
    percentiles (``whis``); sites beyond them are drawn as points. The number of sites
    scored is written under each box.

    Parameters
    ----------
    scores
        Metrics on ``(model, setting, site)``, e.g. :func:`fluxgrid.studies.gpp.gpp_scores`.
    metric
        Variable drawn (``nrmse``).
    settings, models
        Panels and boxes drawn, in order (default: all).
    whis
        Whisker percentiles.
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One panel per setting (shared y axis), one coloured box per model.

    Examples
    --------
    >>> fig = plot_score_boxes(result.scores, path="nrmse_boxes.png")  # doctest: +SKIP
    """
    for dim in ("model", "setting", "site"):
        if dim not in scores.dims:
            raise GridError(
                f"scores need dims (model, setting, site), got {tuple(scores.dims)}; pass "
                "fluxgrid.studies.gpp.gpp_scores output"
            )
    if metric not in scores:
        raise GridError(f"no {metric!r} in the scores; they have {list(scores.data_vars)}")
    settings = settings or [str(s) for s in scores["setting"].values]
    models = models or [str(m) for m in scores["model"].values]
    fig = new_figure((3.0 * len(settings) + 0.6, 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(settings), sharey=True))
    for ax, setting in zip(axes, settings, strict=True):
        values = [scores[metric].sel(model=m, setting=setting).values for m in models]
        _box_panel(ax, values, models, whis)
        ax.set_title(setting.replace("_", " "))
        ax.grid(axis="y", color="0.9")
    axes[0].set_ylabel(metric.upper())
    fig.suptitle(
        title or f"{metric.upper()} per site (median, quartiles, {whis[0]:g}-{whis[1]:g}% whiskers)"
    )
    return finish_figure(fig, path, overwrite)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) positions of the runs of True in a 1-d mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges[0::2], edges[1::2] - 1


def _shade_runs(ax: Any, t: np.ndarray, mask: np.ndarray) -> int:
    """Shade each run of True days of ``mask`` (whole days around ``t``); the number of runs."""
    starts, ends = _runs(mask)
    half = np.timedelta64(12, "h")
    for k, (a, b) in enumerate(zip(starts, ends, strict=True)):
        ax.axvspan(
            t[a] - half,
            t[b] + half,
            color="tab:red",
            alpha=0.18,
            linewidth=0,
            label="extreme days" if k == 0 else None,
        )
    return len(starts)


@fill_doc(FIGURE_DOCS)
def plot_extreme_series(
    predictions: dict[str, xr.Dataset],
    site: Any,
    extremes: xr.DataArray,
    *,
    part: str | None = "test",
    start: Any = None,
    end: Any = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Observed and predicted daily series of one site with the extreme-event days shaded.

    Parameters
    ----------
    predictions
        ``{model: Dataset}`` with ``obs``, ``pred`` (and ``part``) on ``(site, time)``.
    site
        Site label.
    extremes
        Boolean ``(site, time)`` mask (:func:`fluxgrid.studies.gpp.extreme_days`); each run
        of extreme days is shaded.
    part
        Draw the days of this part (``None``: every day with predictions).
    start, end
        Limit the time axis (dates).
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One panel: extreme days shaded, observations as dots, one line per
        model.

    Examples
    --------
    >>> fig = plot_extreme_series(result.predictions, "DE-Hai", result.extremes)  # doctest: +SKIP
    """
    if not predictions:
        raise GridError("no predictions to plot")
    first = next(iter(predictions.values()))
    if site not in first["site"].values:
        raise GridError(f"site {site!r} not in the predictions; sites: {first.site.values}")
    one = {k: v.sel(site=site).sel(time=slice(start, end)) for k, v in predictions.items()}
    ref = next(iter(one.values()))
    shown = ref["pred"].notnull()
    if part is not None:
        shown = shown & (part_mask(first, part).sel(site=site).sel(time=slice(start, end)))
    days = np.flatnonzero(shown.values)
    if days.size == 0:
        raise GridError(f"site {site!r} has no {part or 'predicted'} days to plot")
    window = slice(days[0], days[-1] + 1)
    t = ref["time"].values[window]
    _, ax = figure_axes(ax, (10.0, 3.4))
    ext = (
        extremes.sel(site=site)
        .reindex(time=ref["time"].values, fill_value=False)
        .values[window]
        .astype(bool)
    )
    n_events = _shade_runs(ax, t, ext)
    ax.plot(t, ref["obs"].values[window], ".", color="0.25", markersize=2.5, label="observed")
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    for k, (label, p) in enumerate(one.items()):
        ax.plot(
            t,
            p["pred"].values[window],
            color=colours[k % len(colours)],
            linewidth=0.8,
            label=label.upper(),
        )
    units = first["obs"].attrs.get("units", "")
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title
        or f"{site}: {part or 'all'} days, {int(ext.sum())} extreme days in {n_events} events",
        ylabel=f"{first.attrs.get('target', 'target')} ({units})",
        legend={"loc": "upper right", "fontsize": "x-small", "ncol": len(one) + 2},
    )


@fill_doc(FIGURE_DOCS)
def plot_importance_ranking(
    ranking: xr.Dataset,
    *,
    highlight: str | None = "sw_clearsky",
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Median importance rank of each predictor per model (bars; quartiles as error bars).

    The longer the bar, the more important the predictor: a bar reaching the tick ``1``
    means the predictor ranks first at the median site.

    Parameters
    ----------
    ranking
        :func:`fluxgrid.studies.gpp.importance_ranking` output with a ``model`` dim
        (``median_rank``, ``rank_q25``, ``rank_q75`` on ``(model, driver)``).
    highlight
        Predictor drawn in a different colour (``None``: none).
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One panel per model, predictors as horizontal bars, the most
        important on top.

    Examples
    --------
    >>> fig = plot_importance_ranking(importance_ranking(result.importance))  # doctest: +SKIP
    """
    for name in ("median_rank", "rank_q25", "rank_q75"):
        if name not in ranking:
            raise GridError(
                f"no {name!r}; pass the output of fluxgrid.studies.gpp.importance_ranking"
            )
    ranking = ranking.expand_dims("model") if "model" not in ranking.dims else ranking
    models = [str(m) for m in ranking["model"].values]
    n_drivers = ranking.sizes["driver"]
    fig = new_figure((3.2 * len(models) + 0.6, 0.35 * n_drivers + 1.6))
    axes = np.atleast_1d(fig.subplots(1, len(models), sharex=True))
    for ax, m in zip(axes, models, strict=True):
        r = ranking.sel(model=m)
        med = r["median_rank"].values.astype(float)
        order = np.argsort(np.where(np.isfinite(med), med, np.inf), kind="stable")[::-1]
        drivers = [str(d) for d in r["driver"].values[order]]
        # bar length n + 1 - rank: the most important predictor has the longest bar
        top = n_drivers + 1.0
        length = top - med[order]
        lo = r["rank_q75"].values[order] - med[order]
        hi = med[order] - r["rank_q25"].values[order]
        colours = ["tab:red" if d == highlight else "tab:blue" for d in drivers]
        ax.barh(drivers, length, xerr=[lo, hi], color=colours, capsize=3, alpha=0.8)
        ax.set_title(m.upper())
        ax.set_xlim(0, n_drivers + 0.5)
        ticks = np.arange(1, n_drivers + 1)
        ax.set_xticks(top - ticks, [str(t) for t in ticks])
        ax.set_xlabel("median rank (1 = most important)")
        ax.grid(axis="x", color="0.9")
    metric = ranking.attrs.get("metric", "")
    fig.suptitle(
        title
        or f"permutation importance rank across sites ({metric} increase; bars: median, "
        "whiskers: quartiles)"
    )
    return finish_figure(fig, path, overwrite)
