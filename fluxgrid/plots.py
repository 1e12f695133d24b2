"""Matplotlib figures people expect, drawn from fluxgrid's labelled xarray results.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state, no GUI backend
needed, safe in worker threads) and returned, so notebooks display them and scripts save
them with :func:`save_figure` (atomic; an existing file is refused unless ``overwrite``).
matplotlib is imported inside the functions.

Examples
--------
>>> fig = plot_mean_annual_nee(maps.nee)          # doctest: +SKIP
>>> save_figure(fig, "demo_out/nee_mean_annual.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from .errors import GridError
from .io.atomic import atomic_path, check_writable

__all__ = [
    "plot_attention",
    "plot_extreme_series",
    "plot_history",
    "plot_importance",
    "plot_importance_ranking",
    "plot_map",
    "plot_mean_annual_nee",
    "plot_obs_pred",
    "plot_regional_totals",
    "plot_response_surface",
    "plot_scatter",
    "plot_score_boxes",
    "plot_shap_summary",
    "plot_ssa_components",
    "plot_taylor",
    "plot_transfer_matrix",
    "save_figure",
]

#: days per year used to turn a mean daily rate into a mean annual total
DAYS_PER_YEAR = 365.25


def _figure(figsize: tuple[float, float]) -> Any:
    from ._lazy import lazy_import

    lazy_import("matplotlib")  # an install hint instead of a bare ImportError
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, layout="constrained")


def save_figure(
    fig: Any, path: str | os.PathLike, *, overwrite: bool = False, dpi: int = 150
) -> Path:
    """Save ``fig`` (PNG, PDF or SVG by suffix) atomically; refuse an existing file.

    Examples
    --------
    >>> save_figure(fig, "map.png", overwrite=True)  # doctest: +SKIP
    """
    path = check_writable(path, overwrite)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path


def plot_map(
    da: xr.DataArray,
    *,
    title: str | None = None,
    cmap: str | None = None,
    center: float | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    label: str | None = None,
    ax: Any = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Any:
    """Quick-look map of a ``(lat, lon)`` field (a time dim is averaged first).

    Parameters
    ----------
    da
        Field with dims ``(lat, lon)`` or ``(time, lat, lon)``.
    title, label
        Axes title and colour-bar label (default: ``long_name`` and ``units``).
    cmap
        Colormap (default ``viridis``, or ``RdBu_r`` when ``center`` is given).
    center
        Centre of a diverging colour scale: limits become ``center +- max|x - center|``
        (98th percentile, so single outliers do not wash the map out).
    vmin, vmax
        Explicit limits (override ``center``'s).
    ax
        Axes to draw into (default: a new figure).
    path
        Save the figure there (see :func:`save_figure`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if "time" in da.dims:
        da = da.mean("time", keep_attrs=True)
    if set(da.dims) != {"lat", "lon"}:
        raise GridError(f"plot_map needs a (lat, lon) field, got dims {list(da.dims)}")
    da = da.transpose("lat", "lon")
    values = np.asarray(da.values, dtype="float64")
    if center is not None and (vmin is None or vmax is None):
        finite = np.abs(values[np.isfinite(values)] - center)
        half = float(np.percentile(finite, 98)) if finite.size else 1.0
        half = half if half > 0 else 1.0
        vmin = center - half if vmin is None else vmin
        vmax = center + half if vmax is None else vmax
    if ax is None:
        fig = _figure((8.0, 4.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    mesh = ax.pcolormesh(
        da["lon"].values,
        da["lat"].values,
        np.ma.masked_invalid(values),
        cmap=cmap or ("RdBu_r" if center is not None else "viridis"),
        vmin=vmin,
        vmax=vmax,
        shading="nearest",
    )
    units = da.attrs.get("units", "")
    bar = fig.colorbar(mesh, ax=ax, shrink=0.85)
    bar.set_label(label or f"{da.attrs.get('long_name', da.name or '')} ({units})".strip())
    ax.set_xlabel("longitude (degrees east)")
    ax.set_ylabel("latitude (degrees north)")
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title or str(da.attrs.get("long_name", da.name or "")))
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def plot_mean_annual_nee(
    nee: xr.DataArray,
    *,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Mean annual NEE map (gC m-2 yr-1), diverging colours centred at 0 (blue = uptake).

    The mean annual total is the mean daily rate over the record (missing days left out)
    times 365.25 days.

    Parameters
    ----------
    nee
        NEE maps, dims ``(time, lat, lon)``, units gC m-2 d-1.
    path
        Save the PNG there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    units = nee.attrs.get("units")
    if units not in ("gC m-2 d-1", "g m-2 d-1"):
        raise GridError(
            f"NEE units {units!r}; expected 'gC m-2 d-1' (see fluxgrid.io.maps.open_map)"
        )
    annual = nee.mean("time") * DAYS_PER_YEAR
    annual.attrs = {"long_name": "mean annual NEE (negative = uptake)", "units": "gC m-2 yr-1"}
    years = np.unique(nee["time"].dt.year.values)
    span = f"{years[0]}-{years[-1]}" if years.size > 1 else str(years[0])
    return plot_map(
        annual,
        center=0.0,
        cmap="RdBu_r",
        title=title or f"mean annual NEE {span}",
        path=path,
        overwrite=overwrite,
    )


def plot_regional_totals(
    table: xr.Dataset,
    *,
    variable: str = "sink",
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Time series of regional annual totals (one line per region), TgC yr-1.

    Parameters
    ----------
    table
        Result of :func:`fluxgrid.regions.regional_totals`, dims ``(region, year)``.
    variable
        ``"sink"`` (positive = uptake, default) or ``"total"``.
    path
        Save the PNG there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if variable not in table.data_vars:
        raise GridError(
            f"the table has no {variable!r}; available: {sorted(table.data_vars)} "
            "(sink exists for NEE totals only)"
        )
    da = table[variable].transpose("region", "year")
    fig = _figure((7.0, 4.0))
    ax = fig.add_subplot()
    years = da["year"].values
    for region in da["region"].values:
        ax.plot(years, da.sel(region=region).values, marker="o", label=str(region))
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel(f"{da.attrs.get('long_name', variable)} ({da.attrs.get('units', '')})")
    if years.size:
        ax.set_xticks(years)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title or f"regional {variable} ({da.attrs.get('sign_convention', '')})")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


# --------------------------------------------------------------------------- scales: SSA panels
def plot_ssa_components(
    parts: xr.Dataset,
    variable: str,
    site: Any = None,
    *,
    series: xr.DataArray | None = None,
    components: tuple[str, ...] | None = None,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Stacked panels of one site's SSA components (series, seasonal, interannual, ...).

    Parameters
    ----------
    parts
        Result of :func:`fluxgrid.prep.ssa.ssa` (``variable`` with dims
        ``(component, site, time)`` and ``<variable>_contribution``).
    variable
        The decomposed variable, e.g. ``"nee"``.
    site
        Site label (needed when ``parts`` has a ``site`` dim with more than one site).
    series
        The original series ``(time)`` or ``(site, time)`` for the top panel (default: the
        sum of the components, which equals it).
    components
        Components to draw (default: all, in order).
    path
        Save the figure there (see :func:`save_figure`).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per component under the series panel, sharing the time axis; each panel's
        label gives the component's share of the trajectory-matrix energy.

    Examples
    --------
    >>> parts = fluxgrid.ssa(daily, "nee", window=730)        # doctest: +SKIP
    >>> fig = plot_ssa_components(parts, "nee", "DE-Hai")      # doctest: +SKIP
    """
    if variable not in parts.data_vars or "component" not in parts[variable].dims:
        raise GridError(
            f"{variable!r} is not an SSA result in this dataset; pass the output of "
            f"fluxgrid.ssa (variables with a component dim: "
            f"{[v for v in parts.data_vars if 'component' in parts[v].dims]})"
        )
    da = parts[variable]
    share = parts.get(f"{variable}_contribution")
    if "site" in da.dims:
        if site is None:
            if da.sizes["site"] != 1:
                raise GridError(
                    f"{da.sizes['site']} sites in the result; pass site= one of "
                    f"{da['site'].values[:5].tolist()}..."
                )
            site = da["site"].values[0]
        if site not in da["site"].values:
            raise GridError(f"site {site!r} is not in the result; sites: {da['site'].values[:5]}")
        da = da.sel(site=site)
        share = share.sel(site=site) if share is not None else None
        if series is not None and "site" in series.dims:
            series = series.sel(site=site)
    names = list(components) if components is not None else [str(c) for c in da["component"].values]
    unknown = [c for c in names if c not in da["component"].values]
    if unknown:
        raise GridError(f"unknown component {unknown[0]!r}; have {da['component'].values.tolist()}")
    top = series if series is not None else da.sum("component", min_count=1)
    units = da.attrs.get("units", "")
    fig = _figure((9.0, 1.6 * (len(names) + 1) + 0.6))
    axes = fig.subplots(len(names) + 1, 1, sharex=True)
    time = da["time"].values
    axes[0].plot(time, np.asarray(top.values, dtype="float64"), color="0.2", linewidth=0.6)
    axes[0].set_ylabel(f"{variable}\n({units})", fontsize="small")
    colours = {"seasonal": "tab:green", "interannual": "tab:blue", "trend": "tab:red"}
    for ax, name in zip(axes[1:], names, strict=True):
        values = np.asarray(da.sel(component=name).values, dtype="float64")
        ax.plot(time, values, color=colours.get(name, "0.5"), linewidth=0.8)
        ax.axhline(0.0, color="0.7", linewidth=0.5)
        label = name
        if share is not None:
            label += f"\n{100 * float(share.sel(component=name)):.1f} %"
        ax.set_ylabel(label, fontsize="small")
    axes[-1].set_xlabel("time")
    where = f" at {site}" if site is not None else ""
    fig.suptitle(title or f"SSA components of {variable}{where}")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


# ------------------------------------------------------------------ models: predictions, attention
def _part_mask(predictions: xr.Dataset, part: str | None) -> xr.DataArray:
    from .prep.splits import PARTS

    valid = predictions["obs"].notnull() & predictions["pred"].notnull()
    if part is None:
        return valid
    if "part" not in predictions:
        raise GridError("predictions have no 'part' variable; pass part=None")
    return valid & (predictions["part"] == PARTS[part])


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
    path
        Save the figure there (see :func:`save_figure`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_obs_pred(xr.open_dataset("runs/x/predictions.nc"), "US-MMS")  # doctest: +SKIP
    """
    from .evaluate import metrics

    if site not in predictions["site"].values:
        raise GridError(f"site {site!r} not in the predictions; sites: {predictions.site.values}")
    one = predictions.sel(site=site)
    mask = _part_mask(predictions, part).sel(site=site)
    years = np.unique(one["time"].dt.year.values[mask.values])
    if years.size == 0:
        raise GridError(f"site {site!r} has no {part or 'predicted'} values to plot")
    fig = _figure((9.0, 2.0 * years.size + 0.6))
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
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


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
    ax
        Axes to draw into (default: a new figure).
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from .evaluate import metrics

    mask = _part_mask(predictions, part)
    o = predictions["obs"].values[mask.values]
    p = predictions["pred"].values[mask.values]
    if o.size == 0:
        raise GridError(f"no {part or ''} pairs to plot")
    if ax is None:
        fig = _figure((4.6, 4.2))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
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
    ax.set_xlabel(f"observed ({units})")
    ax.set_ylabel(f"predicted ({units})")
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(title or f"{predictions.attrs.get('target', '')} {part or ''}".strip())
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def plot_transfer_matrix(
    matrix: xr.Dataset | xr.DataArray,
    *,
    metric: str = "r2",
    reference: xr.DataArray | None = None,
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
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    da = matrix[metric] if isinstance(matrix, xr.Dataset) else matrix
    if set(da.dims) != {"train_site", "test_site"}:
        raise GridError(f"expected dims (train_site, test_site), got {list(da.dims)}")
    da = da.transpose("train_site", "test_site")
    values = np.asarray(da.values, dtype="float64")
    n_row, n_col = values.shape
    fig = _figure((1.3 * n_col + 2.2, 1.1 * n_row + 1.2))
    ax = fig.add_subplot()
    vmin = 0.0 if metric in ("r2", "r2_pearson") else None
    img = ax.imshow(values, cmap="viridis", vmin=vmin, vmax=1.0 if vmin == 0.0 else None)
    fig.colorbar(img, ax=ax, shrink=0.8).set_label(metric)
    for i in range(n_row):
        for j in range(n_col):
            text = f"{values[i, j]:.2f}"
            if reference is not None:
                ref = reference.sel(
                    train_site=da.train_site.values[i], test_site=da.test_site.values[j]
                )
                text += f"\n({float(ref):.2f})"
            ax.text(j, i, text, ha="center", va="center", color="w" if values[i, j] < 0.6 else "k")
    ax.set_xticks(range(n_col), [str(s) for s in da.test_site.values])
    ax.set_yticks(range(n_row), [str(s) for s in da.train_site.values])
    ax.set_xlabel("test site")
    ax.set_ylabel("training site")
    ax.set_title(title or f"cross-site transfer ({metric})")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


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
        :meth:`fluxgrid.train.TrainedRun.attention`; averaged over samples.
    path
        Save the figure there.

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
    fig = _figure((11.0, 0.35 * attention.sizes["variable"] + 2.6))
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
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def plot_history(
    history: xr.Dataset,
    *,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Training and validation loss per epoch, best epoch marked.

    Parameters
    ----------
    history
        ``history.nc`` of a run (dim ``epoch``).
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = _figure((5.5, 3.5))
    ax = fig.add_subplot()
    ax.plot(history.epoch.values, history.train_loss.values, label="train")
    if "val_loss" in history and np.isfinite(history.val_loss.values).any():
        ax.plot(history.epoch.values, history.val_loss.values, label="validation")
    best = history.attrs.get("best_epoch")
    if best:
        ax.axvline(int(best), color="0.5", linestyle="--", linewidth=0.8, label="best")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"loss ({history.attrs.get('loss', '')}, scaled)")
    ax.legend(fontsize="small")
    ax.set_title(title or "training history")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


# ------------------------------------------------------------------ explanations and scales
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
    ax
        Axes to draw into (default: a new figure).
    path
        Save the figure there (see :func:`save_figure`).

    Returns
    -------
    matplotlib.figure.Figure

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
    metric = importance.attrs.get("metric", "metric")
    if ax is None:
        n_groups = importance.sizes["site"] if site == "all" else 1
        fig = _figure((max(4.0, 0.45 * len(drivers) * n_groups + 2.0), 3.6))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    xpos = np.arange(len(drivers))
    if site == "all":
        sites = [str(s) for s in importance["site"].values]
        width = 0.8 / max(len(sites), 1)
        for k, s in enumerate(sites):
            mean = importance["importance"].sel(site=s).values
            err = importance["importance_std"].sel(site=s).values
            ax.bar(
                xpos + (k - (len(sites) - 1) / 2) * width, mean, width, yerr=err, capsize=2, label=s
            )
        ax.legend(fontsize="x-small", ncol=2)
        where = "per site"
    else:
        if site is None:
            mean = importance["importance_pooled"].values
            err = importance["importance_pooled_std"].values
            where = "all windows"
        else:
            if site not in importance["site"].values:
                raise GridError(f"site {site!r} not in the result; sites: {importance.site.values}")
            mean = importance["importance"].sel(site=site).values
            err = importance["importance_std"].sel(site=site).values
            where = str(site)
        order = np.argsort(-mean)
        xpos_sorted = np.arange(len(drivers))
        ax.bar(xpos_sorted, mean[order], yerr=err[order], capsize=3, color="tab:blue")
        drivers = [drivers[i] for i in order]
    ax.axhline(0.0, color="0.5", linewidth=0.8)
    ax.set_xticks(xpos, drivers, rotation=30 if len(drivers) > 5 else 0)
    ax.set_ylabel(f"loss of skill ({metric})")
    n_rep = importance.attrs.get("n_repeats", "")
    ax.set_title(title or f"permutation importance, {where} (mean +- sd of {n_rep} repeats)")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


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
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        Left: heatmap of the relative contribution (%) of each driver per group, annotated;
        right (when per-lag values exist): mean |SHAP| per lag for each driver, all windows.
    """
    from .explain import relative_contribution

    share = relative_contribution(shap, by=by, drivers=drivers)
    if by is None:
        share = share.expand_dims(group=["all"])
        gdim = "group"
    else:
        gdim = by
    share = share.transpose(gdim, "driver")
    has_lag = "shap_lag" in shap
    rows, cols = share.shape
    fig = _figure((1.0 * cols + 2.5 + (5.0 if has_lag else 0.0), 0.45 * rows + 1.8))
    if has_lag:
        ax, ax_lag = fig.subplots(1, 2, width_ratios=[1.0 * cols + 1.5, 5.0])
    else:
        ax = fig.add_subplot()
    values = np.asarray(share.values, dtype="float64")
    img = ax.imshow(values, cmap="YlGnBu", vmin=0, vmax=max(np.nanmax(values), 1.0), aspect="auto")
    for i in range(rows):
        for j in range(cols):
            if np.isfinite(values[i, j]):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.0f}",
                    ha="center",
                    va="center",
                    fontsize="small",
                    color="w" if values[i, j] > 0.6 * np.nanmax(values) else "k",
                )
    ax.set_xticks(range(cols), [str(d) for d in share["driver"].values], rotation=30)
    ax.set_yticks(range(rows), [str(g) or "(unknown)" for g in share[gdim].values])
    fig.colorbar(img, ax=ax, shrink=0.8).set_label("share of mean |SHAP| (%)")
    ax.set_title("relative contribution")
    if has_lag:
        lag_abs = abs(shap["shap_lag"]).mean("sample")
        names = share["driver"].values
        for d in names:
            ax_lag.plot(lag_abs["lag"].values, lag_abs.sel(driver=d).values, label=str(d))
        ax_lag.set_xlabel("lag (days before the target day)")
        ax_lag.set_ylabel(f"mean |SHAP| ({shap.attrs.get('units', '')})")
        ax_lag.set_yscale("log")
        ax_lag.legend(fontsize="x-small")
        ax_lag.set_title("by lag, all windows")
    fig.suptitle(
        title
        or f"SHAP ({shap.attrs.get('method', '')}, {shap.sizes['sample']} windows, "
        f"model {shap.attrs.get('model', '')})"
    )
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


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
    ax
        Axes to draw into.
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
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
    if ax is None:
        fig = _figure((5.6, 4.4))
        ax = fig.add_subplot()
    else:
        fig = ax.figure
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
    ax.set_xlabel(f"{x} offset ({surface[xo].attrs.get('units', '')})")
    ax.set_ylabel(f"{y} offset ({surface[yo].attrs.get('units', '')})")
    ax.axvline(0.0, color="0.6", linewidth=0.5)
    ax.axhline(0.0, color="0.6", linewidth=0.5)
    where = f" at {group}" if group is not None else ""
    ax.set_title(title or f"response to {x} and {y}{where} (hatched: little data)")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def plot_taylor(
    stats: xr.Dataset,
    *,
    normalize: bool = True,
    path: str | os.PathLike | None = None,
    overwrite: bool = False,
    title: str | None = None,
) -> Any:
    """Taylor diagram: standard deviation (radius) and correlation (angle) of each case.

    Parameters
    ----------
    stats
        Dim ``case`` with ``sd_obs``, ``sd_pred`` and ``r`` (e.g.
        :func:`fluxgrid.guided.taylor_statistics`); an optional ``reference`` coordinate on
        ``case`` groups cases that share an observation (one reference point is drawn per
        group when not normalised).
    normalize
        Divide each case's standard deviation by its observations' (the reference is at 1),
        so cases with different targets (e.g. seasonal and interannual NEE) share a diagram.
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
        Polar quarter (half when a correlation is negative) with the observations on the
        x axis, grey arcs of centred RMS difference around it, one marker per case.
    """
    for name in ("sd_obs", "sd_pred", "r"):
        if name not in stats:
            raise GridError(f"Taylor statistics need {name!r} on dim 'case'")
    r = np.clip(np.asarray(stats["r"].values, dtype="float64"), -1.0, 1.0)
    sd_o = np.asarray(stats["sd_obs"].values, dtype="float64")
    sd_p = np.asarray(stats["sd_pred"].values, dtype="float64")
    radius = sd_p / sd_o if normalize else sd_p
    refs = np.ones_like(sd_o) if normalize else sd_o
    fig = _figure((6.4, 5.2))
    ax = fig.add_subplot(projection="polar")
    tmax = np.pi if np.nanmin(r) < 0 else np.pi / 2
    ax.set_thetamin(0)
    ax.set_thetamax(np.degrees(tmax))
    rmax = 1.25 * np.nanmax(np.concatenate([radius, refs]))
    ax.set_ylim(0, rmax)
    # correlation ticks on the angle axis
    corr_ticks = np.array([-0.99, -0.9, -0.6, -0.3, 0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99])
    corr_ticks = corr_ticks[np.arccos(corr_ticks) <= tmax + 1e-9]
    ax.set_thetagrids(np.degrees(np.arccos(corr_ticks)), [f"{c:g}" for c in corr_ticks])
    # centred RMS difference arcs around each distinct reference point
    theta = np.linspace(0, tmax, 200)
    for ref in np.unique(np.round(refs, 12)):
        for crmsd in np.linspace(0.25, 1.5, 6) * ref:
            # points at distance crmsd from (ref, 0): r^2 - 2 r ref cos t + ref^2 = crmsd^2
            disc = (ref * np.cos(theta)) ** 2 - (ref**2 - crmsd**2)
            ok = disc >= 0
            rad = ref * np.cos(theta[ok]) + np.sqrt(disc[ok])
            ax.plot(theta[ok], rad, color="0.8", linewidth=0.6)
        ax.plot([0], [ref], marker="*", color="k", markersize=12, linestyle="none")
    markers = "osD^vP<>Xh"
    cases = [str(c) for c in stats["case"].values]
    for k, case in enumerate(cases):
        if np.isfinite(r[k]) and np.isfinite(radius[k]):
            ax.plot(
                np.arccos(r[k]),
                radius[k],
                marker=markers[k % len(markers)],
                linestyle="none",
                markersize=8,
                label=case,
            )
    from matplotlib.ticker import MaxNLocator

    ticks = [t for t in MaxNLocator(4).tick_values(0, rmax) if 0 < t <= rmax]
    ax.set_rticks(ticks, [f"{t:g}" for t in ticks])
    ax.annotate(
        "standard deviation" + (" / observed" if normalize else ""),
        xy=(0.5 if tmax > np.pi / 2 else 0.45, -0.1),
        xycoords="axes fraction",
        ha="center",
        fontsize="small",
    )
    fig.legend(loc="outside right upper", fontsize="small")
    ax.set_title(title or "Taylor diagram (angle: correlation; star: observations)")
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


# --------------------------------------------------------------------------- GPP study
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
        Metrics on ``(model, setting, site)``, e.g. :func:`fluxgrid.gpp_study.gpp_scores`.
    metric
        Variable drawn (``nrmse``).
    settings, models
        Panels and boxes drawn, in order (default: all).
    whis
        Whisker percentiles.
    path
        Save the figure there (see :func:`save_figure`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_score_boxes(result.scores, path="nrmse_boxes.png")  # doctest: +SKIP
    """
    for dim in ("model", "setting", "site"):
        if dim not in scores.dims:
            raise GridError(
                f"scores need dims (model, setting, site), got {tuple(scores.dims)}; pass "
                "fluxgrid.gpp_study.gpp_scores output"
            )
    if metric not in scores:
        raise GridError(f"no {metric!r} in the scores; they have {list(scores.data_vars)}")
    settings = settings or [str(s) for s in scores["setting"].values]
    models = models or [str(m) for m in scores["model"].values]
    fig = _figure((3.0 * len(settings) + 0.6, 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(settings), sharey=True))
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    for ax, setting in zip(axes, settings, strict=True):
        data = []
        for m in models:
            v = scores[metric].sel(model=m, setting=setting).values.astype(float)
            data.append(v[np.isfinite(v)])
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
        ax.set_title(setting.replace("_", " "))
        ax.grid(axis="y", color="0.9")
    axes[0].set_ylabel(metric.upper())
    fig.suptitle(
        title or f"{metric.upper()} per site (median, quartiles, {whis[0]:g}-{whis[1]:g}% whiskers)"
    )
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (inclusive) positions of the runs of True in a 1-d mask."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges[0::2], edges[1::2] - 1


def plot_extreme_series(
    predictions: dict[str, xr.Dataset],
    site: Any,
    extremes: xr.DataArray,
    *,
    part: str | None = "test",
    start: Any = None,
    end: Any = None,
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
        Boolean ``(site, time)`` mask (:func:`fluxgrid.gpp_study.extreme_days`); each run
        of extreme days is shaded.
    part
        Draw the days of this part (``None``: every day with predictions).
    start, end
        Limit the time axis (dates).
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure

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
        shown = shown & (_part_mask(first, part).sel(site=site).sel(time=slice(start, end)))
    days = np.flatnonzero(shown.values)
    if days.size == 0:
        raise GridError(f"site {site!r} has no {part or 'predicted'} days to plot")
    window = slice(days[0], days[-1] + 1)
    t = ref["time"].values[window]
    fig = _figure((10.0, 3.4))
    ax = fig.add_subplot()
    ext = (
        extremes.sel(site=site)
        .reindex(time=ref["time"].values, fill_value=False)
        .values[window]
        .astype(bool)
    )
    starts, ends = _runs(ext)
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
    ax.set_ylabel(f"{first.attrs.get('target', 'target')} ({units})")
    ax.legend(loc="upper right", fontsize="x-small", ncol=len(one) + 2)
    ax.set_title(
        title
        or f"{site}: {part or 'all'} days, {int(ext.sum())} extreme days in {len(starts)} events"
    )
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig


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
        :func:`fluxgrid.gpp_study.importance_ranking` output with a ``model`` dim
        (``median_rank``, ``rank_q25``, ``rank_q75`` on ``(model, driver)``).
    highlight
        Predictor drawn in a different colour (``None``: none).
    path
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_importance_ranking(importance_ranking(result.importance))  # doctest: +SKIP
    """
    for name in ("median_rank", "rank_q25", "rank_q75"):
        if name not in ranking:
            raise GridError(
                f"no {name!r}; pass the output of fluxgrid.gpp_study.importance_ranking"
            )
    ranking = ranking.expand_dims("model") if "model" not in ranking.dims else ranking
    models = [str(m) for m in ranking["model"].values]
    n_drivers = ranking.sizes["driver"]
    fig = _figure((3.2 * len(models) + 0.6, 0.35 * n_drivers + 1.6))
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
    if path is not None:
        save_figure(fig, path, overwrite=overwrite)
    return fig
