"""Scales: stacked panels of one site's SSA components (:func:`fluxgrid.prep.ssa.ssa`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from .._docstring import fill_doc
from ..errors import GridError
from .figure import FIGURE_DOCS, finish_figure, new_figure

__all__ = ["plot_ssa_components"]


@fill_doc(FIGURE_DOCS)
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
    %(output)s

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
    fig = new_figure((9.0, 1.6 * (len(names) + 1) + 0.6))
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
    return finish_figure(fig, path, overwrite)
