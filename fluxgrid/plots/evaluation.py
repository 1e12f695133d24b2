"""Evaluation figures: observed and predicted series, scatter, transfer matrix, history.

Examples
--------
>>> pred = xr.open_dataset("runs/x/predictions.nc")      # doctest: +SKIP
>>> fig = plot_scatter(pred, part="test")                # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from .._docstring import fill_doc
from ..errors import GridError
from ..evaluate import metrics
from ..prep.splits import PARTS
from .figure import (
    FIGURE_DOCS,
    annotate_cells,
    figure_axes,
    finish_axes,
    finish_figure,
    new_figure,
)

__all__ = ["part_mask", "plot_history", "plot_obs_pred", "plot_scatter", "plot_transfer_matrix"]


def part_mask(predictions: xr.Dataset, part: str | None) -> xr.DataArray:
    """Pairs with an observation and a prediction, in split part ``part`` (``None``: any).

    Parameters
    ----------
    predictions
        ``obs``, ``pred`` (and ``part``, codes of :data:`fluxgrid.prep.splits.PARTS`) on
        ``(site, time)``.
    part
        ``"train"``, ``"val"``, ``"test"`` or ``None``.

    Returns
    -------
    xarray.DataArray
        Boolean ``(site, time)``.
    """
    valid = predictions["obs"].notnull() & predictions["pred"].notnull()
    if part is None:
        return valid
    if "part" not in predictions:
        raise GridError("predictions have no 'part' variable; pass part=None")
    return valid & (predictions["part"] == PARTS[part])


@fill_doc(FIGURE_DOCS)
def plot_obs_pred(
    predictions: xr.Dataset,
    site: Any,
    *,
    part: str | None = "test",
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Observed and predicted daily series of one site, one panel per year of ``part``.

    Parameters
    ----------
    predictions
        ``obs``, ``pred`` (and ``part``) on ``(site, time)``, e.g. ``predictions.nc`` of a
        run directory.
    site
        Site label.
    part
        Years holding this part are drawn (``None``: every year with predictions); the
        panel title gives that year's R2 on the part.
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One panel per year: observed days as dots, predictions as a line.

    Examples
    --------
    >>> fig = plot_obs_pred(xr.open_dataset("runs/x/predictions.nc"), "US-MMS")  # doctest: +SKIP
    """
    if site not in predictions["site"].values:
        raise GridError(f"site {site!r} not in the predictions; sites: {predictions.site.values}")
    one = predictions.sel(site=site)
    mask = part_mask(predictions, part).sel(site=site)
    years = np.unique(one["time"].dt.year.values[mask.values])
    if years.size == 0:
        raise GridError(f"site {site!r} has no {part or 'predicted'} values to plot")
    fig = new_figure((9.0, 2.0 * years.size + 0.6))
    axes = np.atleast_1d(fig.subplots(years.size, 1))
    units = one["obs"].attrs.get("units", "")
    for ax, year in zip(axes, years, strict=True):
        sel = one.sel(time=str(year))
        m = mask.sel(time=str(year))
        score = metrics(sel["obs"], sel["pred"], mask=m)
        ax.plot(
            sel.time.values, sel["obs"].values, ".", color="0.3", markersize=2.5, label="observed"
        )
        ax.plot(
            sel.time.values, sel["pred"].values, color="tab:red", linewidth=0.9, label="predicted"
        )
        ax.axhline(0.0, color="0.8", linewidth=0.5)
        ax.set_ylabel(units, fontsize="small")
        ax.set_title(
            f"{year}: R2 {float(score.r2):.2f}, RMSE {float(score.rmse):.2f}", fontsize="small"
        )
    axes[0].legend(loc="upper right", fontsize="small")
    name = predictions.attrs.get("target", "target")
    fig.suptitle(title or f"{name} at {site} ({part or 'all'} years)")
    return finish_figure(fig, path, overwrite)


@fill_doc(FIGURE_DOCS)
def plot_scatter(
    predictions: xr.Dataset,
    *,
    part: str | None = "test",
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Predicted against observed with the 1:1 line and pooled R2 / RMSE (hexbin when dense).

    Parameters
    ----------
    predictions
        ``obs``, ``pred`` (and ``part``) on ``(site, time)``.
    part
        Part plotted (``None``: all pairs).
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One square panel: pairs (or their log-density), the 1:1 line, the scores.
    """
    mask = part_mask(predictions, part)
    o = predictions["obs"].values[mask.values]
    p = predictions["pred"].values[mask.values]
    if o.size == 0:
        raise GridError(f"no {part or ''} pairs to plot")
    fig, ax = figure_axes(ax, (4.6, 4.2))
    lo, hi = float(np.nanmin([o.min(), p.min()])), float(np.nanmax([o.max(), p.max()]))
    if o.size > 5000:
        hb = ax.hexbin(o, p, gridsize=60, mincnt=1, bins="log", cmap="viridis")
        fig.colorbar(hb, ax=ax, shrink=0.8).set_label("pairs")
    else:
        ax.scatter(o, p, s=4, alpha=0.4, color="tab:blue", linewidths=0)
    ax.plot([lo, hi], [lo, hi], color="k", linewidth=0.8, label="1:1")
    score = metrics(predictions["obs"], predictions["pred"], mask=mask)
    ax.text(
        0.03,
        0.97,
        f"R2 {float(score.r2):.3f}\nRMSE {float(score.rmse):.3f}\nn {int(score.n)}",
        transform=ax.transAxes,
        va="top",
        fontsize="small",
    )
    units = predictions["obs"].attrs.get("units", "")
    ax.set_aspect("equal", adjustable="box")
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or f"{predictions.attrs.get('target', '')} {part or ''}".strip(),
        xlabel=f"observed ({units})",
        ylabel=f"predicted ({units})",
    )


@fill_doc(FIGURE_DOCS)
def plot_transfer_matrix(
    matrix: xr.Dataset | xr.DataArray,
    *,
    metric: str = "r2",
    reference: xr.DataArray | None = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Heatmap of a cross-site transfer matrix (rows: training site, columns: test site).

    Parameters
    ----------
    matrix
        Output of :func:`fluxgrid.evaluate.transfer_matrix` (or one of its variables).
    metric
        Variable drawn when ``matrix`` is a Dataset.
    reference
        Published values on the same ``(train_site, test_site)`` grid, printed under each
        cell in parentheses.
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One annotated heatmap, training sites down, test sites across.
    """
    da = matrix[metric] if isinstance(matrix, xr.Dataset) else matrix
    if set(da.dims) != {"train_site", "test_site"}:
        raise GridError(f"expected dims (train_site, test_site), got {list(da.dims)}")
    da = da.transpose("train_site", "test_site")
    values = np.asarray(da.values, dtype="float64")
    n_row, n_col = values.shape
    fig, ax = figure_axes(ax, (1.3 * n_col + 2.2, 1.1 * n_row + 1.2))
    vmin = 0.0 if metric in ("r2", "r2_pearson") else None
    img = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=1.0 if vmin == 0.0 else None)
    fig.colorbar(img, ax=ax, shrink=0.8).set_label(metric)
    labels = [[f"{v:.2f}" for v in row] for row in values]
    if reference is not None:
        ref = reference.sel(train_site=da.train_site.values, test_site=da.test_site.values)
        ref = np.asarray(ref.transpose("train_site", "test_site").values, dtype="float64")
        labels = [
            [f"{t}\n({r:.2f})" for t, r in zip(*rows, strict=True)]
            for rows in zip(labels, ref, strict=True)
        ]
    annotate_cells(ax, labels, values < 0.6)
    ax.set_xticks(range(n_col), [str(s) for s in da.test_site.values])
    ax.set_yticks(range(n_row), [str(s) for s in da.train_site.values])
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or f"cross-site transfer ({metric})",
        xlabel="test site",
        ylabel="training site",
    )


@fill_doc(FIGURE_DOCS)
def plot_history(
    history: xr.Dataset,
    *,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Training and validation loss per epoch, best epoch marked.

    Parameters
    ----------
    history
        ``history.nc`` of a run (dim ``epoch``).
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        One panel of the losses per epoch (validation where recorded).
    """
    _, ax = figure_axes(ax, (5.5, 3.5))
    ax.plot(history.epoch.values, history.train_loss.values, label="train")
    if "val_loss" in history and np.isfinite(history.val_loss.values).any():
        ax.plot(history.epoch.values, history.val_loss.values, label="validation")
    best = history.attrs.get("best_epoch")
    if best:
        ax.axvline(int(best), color="0.5", linestyle="--", linewidth=0.8, label="best")
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or "training history",
        xlabel="epoch",
        ylabel=f"loss ({history.attrs.get('loss', '')}, scaled)",
        legend={"fontsize": "small"},
    )
