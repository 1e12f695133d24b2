"""Explanation figures: iLSTM attention, permutation importance, SHAP summary, response surface.

Each draws a result of :mod:`fluxgrid.explain` (or the same variables read back from its
NetCDF file).

Examples
--------
>>> imp = fluxgrid.permutation_importance(run, cube, "test")     # doctest: +SKIP
>>> fig = plot_importance(imp, site="all")                       # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from .._docstring import fill_doc
from ..errors import GridError
from .figure import (
    FIGURE_DOCS,
    annotate_cells,
    figure_axes,
    finish_axes,
    finish_figure,
    new_figure,
)

__all__ = ["plot_attention", "plot_importance", "plot_response_surface", "plot_shap_summary"]


@fill_doc(FIGURE_DOCS)
def plot_attention(
    attention: xr.Dataset,
    *,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Variable attention (beta, bars with spread) and temporal attention (alpha) of an iLSTM.

    Parameters
    ----------
    attention
        ``alpha`` (sample, variable, lag) and ``beta`` (sample, variable), e.g. from
        :meth:`fluxgrid.runs.TrainedRun.attention`; averaged over samples.
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        Left: mean beta per variable with the 10-90% range of samples; right: mean alpha as
        a variable x lag heatmap (lag 0 = target step).
    """
    for name in ("alpha", "beta"):
        if name not in attention:
            raise GridError(f"attention dataset lacks {name!r}; pass TrainedRun.attention(...)")
    beta = attention["beta"]
    alpha = attention["alpha"].mean("sample")
    fig = new_figure((11.0, 0.35 * attention.sizes["variable"] + 2.6))
    ax_b, ax_a = fig.subplots(1, 2, width_ratios=[1, 2.6])
    names = [str(v) for v in attention["variable"].values]
    mean = beta.mean("sample").values
    q = beta.quantile([0.1, 0.9], dim="sample").values
    ypos = np.arange(len(names))
    ax_b.barh(ypos, mean, color="tab:green")
    # the 10-90% range as its own segment: with sharp attention most windows put ~0 on a
    # variable and a few ~1, so the mean can lie outside the range (no error bar about it)
    ax_b.hlines(ypos, q[0], q[1], color="k", linewidth=1.2)
    ax_b.plot(q[0], ypos, "k|", q[1], ypos, "k|", markersize=6)
    ax_b.set_yticks(ypos, names)
    ax_b.invert_yaxis()
    ax_b.set_xlabel("variable attention beta")
    img = ax_a.imshow(
        alpha.transpose("variable", "lag").values, aspect="auto", cmap="magma", origin="upper"
    )
    ax_a.set_yticks(ypos, names)
    ax_a.set_xlabel("lag (steps before the target step)")
    fig.colorbar(img, ax=ax_a, shrink=0.85).set_label("temporal attention alpha")
    fig.suptitle(title or f"iLSTM attention ({attention.sizes['sample']} windows)")
    return finish_figure(fig, path, overwrite)


def _importance_bars(importance: xr.Dataset, site: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """Mean and spread of one set of bars (pooled, or one site's) and where it is from."""
    if site is None:
        mean = importance["importance_pooled"].values
        err = importance["importance_pooled_std"].values
        return mean, err, "all windows"
    if site not in importance["site"].values:
        raise GridError(f"site {site!r} not in the result; sites: {importance.site.values}")
    mean = importance["importance"].sel(site=site).values
    err = importance["importance_std"].sel(site=site).values
    return mean, err, str(site)


@fill_doc(FIGURE_DOCS)
def plot_importance(
    importance: xr.Dataset,
    *,
    site: Any = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Permutation importance as bars with error bars (mean and standard deviation of repeats).

    Parameters
    ----------
    importance
        Output of :func:`fluxgrid.explain.permutation_importance`.
    site
        Draw this site's importance (default: the pooled importance over all windows;
        ``"all"``: one group of bars per site).
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        Bars sorted from the most important driver (one site or pooled), or grouped per
        site in driver order (``site="all"``).

    Examples
    --------
    >>> imp = fluxgrid.permutation_importance(run, cube, "test")    # doctest: +SKIP
    >>> fig = plot_importance(imp, path="importance.png")           # doctest: +SKIP
    """
    for name in ("importance", "importance_std", "importance_pooled"):
        if name not in importance:
            raise GridError(
                f"no {name!r}; pass the output of fluxgrid.explain.permutation_importance"
            )
    drivers = [str(d) for d in importance["driver"].values]
    n_groups = importance.sizes["site"] if site == "all" else 1
    _, ax = figure_axes(ax, (max(4.0, 0.45 * len(drivers) * n_groups + 2.0), 3.6))
    xpos = np.arange(len(drivers))
    if site == "all":
        sites = [str(s) for s in importance["site"].values]
        width = 0.8 / max(len(sites), 1)
        for k, s in enumerate(sites):
            mean, err, _ = _importance_bars(importance, s)
            shift = (k - (len(sites) - 1) / 2) * width
            ax.bar(xpos + shift, mean, width, yerr=err, capsize=2, label=s)
        ax.legend(fontsize="x-small", ncol=2)
        where = "per site"
    else:
        mean, err, where = _importance_bars(importance, site)
        order = np.argsort(-mean)
        ax.bar(xpos, mean[order], yerr=err[order], capsize=3, color="tab:blue")
        drivers = [drivers[i] for i in order]
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xticks(xpos, drivers, rotation=30 if len(drivers) > 5 else 0)
    n_rep = importance.attrs.get("n_repeats", "")
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or f"permutation importance, {where} (mean +- sd of {n_rep} repeats)",
        ylabel=f"loss of skill ({importance.attrs.get('metric', 'metric')})",
    )


def _shares(shap: xr.Dataset, by: str | None, drivers: Any) -> tuple[xr.DataArray, str]:
    """Relative contribution ``(group, driver)`` and the name of the group dim."""
    # torch: fluxgrid.explain loads the models; a figure of saved values should not
    from ..explain.contributions import relative_contribution

    share = relative_contribution(shap, by=by, drivers=drivers)
    if by is None:
        return share.expand_dims(group=["all"]).transpose("group", "driver"), "group"
    return share.transpose(by, "driver"), by


def _lag_profile(ax: Any, shap: xr.Dataset, drivers: Any) -> None:
    """Mean |SHAP| per lag of each driver, all windows (log scale)."""
    lag_abs = abs(shap["shap_lag"]).mean("sample")
    for d in drivers:
        ax.plot(lag_abs["lag"].values, lag_abs.sel(driver=d).values, label=str(d))
    ax.set_xlabel("lag (days before the target day)")
    ax.set_ylabel(f"mean |SHAP| ({shap.attrs.get('units', '')})")
    ax.set_yscale("log")
    ax.legend(fontsize="x-small")
    ax.set_title("by lag, all windows")


@fill_doc(FIGURE_DOCS)
def plot_shap_summary(
    shap: xr.Dataset,
    *,
    by: str = "igbp",
    drivers: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """SHAP summary per vegetation type (or site): driver shares and mean |SHAP| by lag.

    Parameters
    ----------
    shap
        Output of :func:`fluxgrid.explain.shap_values`.
    by
        Grouping of the shares: ``"igbp"`` (plant functional type), ``"site"``, or ``None``.
    drivers
        Drivers the shares are taken among (default: all).
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        Left: heatmap of the relative contribution (%) of each driver per group, annotated;
        right (when per-lag values exist): mean |SHAP| per lag for each driver, all windows.
    """
    share, gdim = _shares(shap, by, drivers)
    has_lag = "shap_lag" in shap
    rows, cols = share.shape
    fig = new_figure((1.0 * cols + 2.5 + (5.0 if has_lag else 0.0), 0.45 * rows + 1.8))
    if has_lag:
        ax, ax_lag = fig.subplots(1, 2, width_ratios=[1.0 * cols + 1.5, 5.0])
    else:
        ax = fig.add_subplot()
    values = np.asarray(share.values, dtype="float64")
    img = ax.imshow(values, cmap="YlGnBu", vmin=0, vmax=max(np.nanmax(values), 1.0), aspect="auto")
    labels = [[f"{v:.0f}" if np.isfinite(v) else None for v in row] for row in values]
    annotate_cells(ax, labels, values > 0.6 * np.nanmax(values), fontsize="small")
    ax.set_xticks(range(cols), [str(d) for d in share["driver"].values], rotation=30)
    ax.set_yticks(range(rows), [str(g) or "(unknown)" for g in share[gdim].values])
    fig.colorbar(img, ax=ax, shrink=0.8).set_label("share of mean |SHAP| (%)")
    ax.set_title("relative contribution")
    if has_lag:
        _lag_profile(ax_lag, shap, share["driver"].values)
    fig.suptitle(
        title
        or f"SHAP ({shap.attrs.get('method', '')}, {shap.sizes['sample']} windows, "
        f"model {shap.attrs.get('model', '')})"
    )
    return finish_figure(fig, path, overwrite)


@fill_doc(FIGURE_DOCS)
def plot_response_surface(
    surface: xr.Dataset,
    *,
    variable: str = "change",
    group: Any = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Contour plot of a response surface; low-data-density cells hatched.

    Parameters
    ----------
    surface
        Output of :func:`fluxgrid.explain.response_surface`.
    variable
        ``"change"`` (default, diverging colours centred at 0) or ``"response"``.
    group
        Label on the surface's grouping dim (``by="site"`` / ``"igbp"``), when present.
    %(ax)s
    %(output)s

    Returns
    -------
    matplotlib.figure.Figure
        Filled contours of ``variable`` over the two offsets (cells for a
        one-row grid), the zero line of ``change``, hatching where data are sparse.
    """
    x, y = surface.attrs.get("x"), surface.attrs.get("y")
    xo, yo = f"{x}_offset", f"{y}_offset"
    if variable not in surface or xo not in surface.dims or yo not in surface.dims:
        raise GridError(
            f"no {variable!r} on ({xo}, {yo}); pass the output of fluxgrid.explain.response_surface"
        )
    da, low = surface[variable], surface["low_density"]
    extra = [d for d in da.dims if d not in (xo, yo)]
    if extra:
        if group is None:
            raise GridError(f"the surface has a {extra[0]!r} dim; pass group= one of its labels")
        da, low = da.sel({extra[0]: group}), low.sel({extra[0]: group})
    da, low = da.transpose(yo, xo), low.transpose(yo, xo)
    fig, ax = figure_axes(ax, (5.6, 4.4))
    xs, ys = surface[xo].values, surface[yo].values
    values = np.asarray(da.values, dtype="float64")
    if variable == "change":
        half = float(np.nanmax(np.abs(values))) or 1.0
        levels = np.linspace(-half, half, 17)
        cmap = "RdBu_r"
    else:
        levels, cmap = 16, "viridis"
    if xs.size > 1 and ys.size > 1:
        cs = ax.contourf(xs, ys, values, levels=levels, cmap=cmap)
        ax.contour(
            xs, ys, values, levels=[0.0] if variable == "change" else 6, colors="k", linewidths=0.7
        )
        mask = np.asarray(low.values, dtype=float)
        if mask.any():
            ax.contourf(xs, ys, mask, levels=[0.5, 1.5], colors="none", hatches=["///"])
    else:
        cs = ax.pcolormesh(xs, ys, values, cmap=cmap, shading="nearest")
    units = da.attrs.get("units", "")
    fig.colorbar(cs, ax=ax, shrink=0.85).set_label(f"{variable} ({units})")
    ax.axvline(0.0, color="0.6", linewidth=0.5)
    ax.axhline(0.0, color="0.6", linewidth=0.5)
    where = f" at {group}" if group is not None else ""
    return finish_axes(
        ax,
        path,
        overwrite,
        title=title or f"response to {x} and {y}{where} (hatched: little data)",
        xlabel=f"{x} offset ({surface[xo].attrs.get('units', '')})",
        ylabel=f"{y} offset ({surface[yo].attrs.get('units', '')})",
    )
