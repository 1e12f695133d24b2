"""Figures of the scale-knowledge-guided study: the Taylor diagram of the cross-scale tests.

Examples
--------
>>> fig = plot_taylor(result.taylor("lstm"), path="taylor_lstm.png")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import xarray as xr

from ..._docstring import fill_doc
from ...errors import GridError
from ...plots.figure import FIGURE_DOCS, finish_figure, new_figure

__all__ = ["plot_taylor"]


def _polar_axes(ax: Any, tmax: float, rmax: float) -> None:
    """Angles up to ``tmax`` labelled by correlation, radii up to ``rmax``."""
    from matplotlib.ticker import MaxNLocator  # after new_figure: its install hint comes first

    ax.set_thetamin(0)
    ax.set_thetamax(np.degrees(tmax))
    ax.set_ylim(0, rmax)
    corr_ticks = np.array([-0.99, -0.9, -0.6, -0.3, 0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99])
    corr_ticks = corr_ticks[np.arccos(corr_ticks) <= tmax + 1e-9]
    ax.set_thetagrids(np.degrees(np.arccos(corr_ticks)), [f"{c:g}" for c in corr_ticks])
    ticks = [t for t in MaxNLocator(4).tick_values(0, rmax) if 0 < t <= rmax]
    ax.set_rticks(ticks, [f"{t:g}" for t in ticks])


def _reference_arcs(ax: Any, refs: np.ndarray, tmax: float) -> None:
    """A star at each distinct reference and grey arcs of centred RMS difference around it."""
    theta = np.linspace(0, tmax, 200)
    for ref in np.unique(np.round(refs, 12)):
        for crmsd in np.linspace(0.25, 1.5, 6) * ref:
            # points at distance crmsd from (ref, 0): r^2 - 2 r ref cos t + ref^2 = crmsd^2
            disc = (ref * np.cos(theta)) ** 2 - (ref**2 - crmsd**2)
            ok = disc >= 0
            rad = ref * np.cos(theta[ok]) + np.sqrt(disc[ok])
            ax.plot(theta[ok], rad, color="0.8", linewidth=0.6)
        ax.plot([0], [ref], marker="*", color="k", markersize=12, linestyle="none")


@fill_doc(FIGURE_DOCS)
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
        :func:`fluxgrid.studies.guided.taylor_statistics`); an optional ``reference`` coordinate on
        ``case`` groups cases that share an observation (one reference point is drawn per
        group when not normalised).
    normalize
        Divide each case's standard deviation by its observations' (the reference is at 1),
        so cases with different targets (e.g. seasonal and interannual NEE) share a diagram.
    %(output)s

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
    fig = new_figure((6.4, 5.2))
    ax = fig.add_subplot(projection="polar")
    tmax = np.pi if np.nanmin(r) < 0 else np.pi / 2
    rmax = 1.25 * np.nanmax(np.concatenate([radius, refs]))
    _polar_axes(ax, tmax, rmax)
    _reference_arcs(ax, refs, tmax)
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
    ax.annotate(
        "standard deviation" + (" / observed" if normalize else ""),
        xy=(0.5 if tmax > np.pi / 2 else 0.45, -0.1),
        xycoords="axes fraction",
        ha="center",
        fontsize="small",
    )
    fig.legend(loc="outside right upper", fontsize="small")
    ax.set_title(title or "Taylor diagram (angle: correlation; star: observations)")
    return finish_figure(fig, path, overwrite)
