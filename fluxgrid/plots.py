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
    "plot_map",
    "plot_mean_annual_nee",
    "plot_regional_totals",
    "plot_ssa_components",
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
