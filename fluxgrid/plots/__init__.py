"""Matplotlib figures people expect, drawn from fluxgrid's labelled xarray results.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot state, no GUI backend
needed, safe in worker threads) and returned, so notebooks display them and scripts save
them with :func:`save_figure` (atomic; an existing file is refused unless ``overwrite``).
matplotlib is imported inside the functions. A plot that draws one panel takes ``ax=``.

The modules, one job each: ``figure`` (creating, annotating and saving figures), ``maps``
(gridded fields, regional totals), ``evaluation`` (observed vs predicted, scatter, transfer
matrix, training history), ``explain`` (attention, importance, SHAP summary, response
surface), ``ssa`` (SSA components). The study figures live beside their studies
(:mod:`fluxgrid.studies.guided.figures`, :mod:`fluxgrid.studies.gpp.figures`); their old
names here still work for one release, with a :class:`DeprecationWarning`.

Examples
--------
>>> fig = plot_mean_annual_nee(maps.nee)          # doctest: +SKIP
>>> save_figure(fig, "demo_out/nee_mean_annual.png")  # doctest: +SKIP
"""

from __future__ import annotations

from .._deprecation import moved
from .evaluation import part_mask, plot_history, plot_obs_pred, plot_scatter, plot_transfer_matrix
from .explain import plot_attention, plot_importance, plot_response_surface, plot_shap_summary
from .figure import (
    annotate_cells,
    figure_axes,
    finish_axes,
    finish_figure,
    new_figure,
    save_figure,
)
from .maps import DAYS_PER_YEAR, plot_map, plot_mean_annual_nee, plot_regional_totals
from .ssa import plot_ssa_components

__all__ = [
    "DAYS_PER_YEAR",
    "annotate_cells",
    "figure_axes",
    "finish_axes",
    "finish_figure",
    "new_figure",
    "part_mask",
    "plot_attention",
    "plot_history",
    "plot_importance",
    "plot_map",
    "plot_mean_annual_nee",
    "plot_obs_pred",
    "plot_regional_totals",
    "plot_response_surface",
    "plot_scatter",
    "plot_shap_summary",
    "plot_ssa_components",
    "plot_transfer_matrix",
    "save_figure",
]

__getattr__, __dir__ = moved(
    __name__,
    {
        "plot_taylor": "fluxgrid.studies.guided.figures",
        "plot_score_boxes": "fluxgrid.studies.gpp.figures",
        "plot_extreme_series": "fluxgrid.studies.gpp.figures",
        "plot_importance_ranking": "fluxgrid.studies.gpp.figures",
    },
)
