"""Recipe ``gpp_rnn``: RNN vs GRU vs LSTM on daily GPP at forest towers (the GPP study).

Each step is a public function of :mod:`fluxgrid.studies.gpp` (a notebook calls the same):
:func:`~fluxgrid.studies.gpp.run_gpp_study` loads, QCs, enriches and splits the data, tunes
every model with Hyperband, predicts, scores and computes permutation importance; the
figures come from :mod:`fluxgrid.studies.gpp.figures`. Training runs in the recipe's process
(torch on the local cores or the GPU); the Dask cluster of ``fluxgrid run`` only matters for
reading and aggregating the half-hourly source.
"""

from __future__ import annotations

from fluxgrid.plots import save_figure
from fluxgrid.recipe import RecipeContext
from fluxgrid.studies.gpp import GppStudyConfig, run_gpp_study
from fluxgrid.studies.gpp.figures import (
    plot_extreme_series,
    plot_importance_ranking,
    plot_score_boxes,
)

#: the recipe's config is the study config
Config = GppStudyConfig


def run(cfg: GppStudyConfig, ctx: RecipeContext) -> dict[str, str]:
    out = ctx.path("result")
    paths = {"result": str(out), "scores": str(out / "scores.csv")}
    if ctx.done(out / "scores.csv"):
        return paths
    ctx.note(
        f"GPP study: {', '.join(cfg.models)} on {cfg.data.source} "
        f"(IGBP {', '.join(cfg.data.igbp or ['any'])}, search {cfg.search.method})"
    )
    result = run_gpp_study(cfg, output=out, overwrite=True, note=ctx.note)
    figures = {
        "nrmse_boxes": plot_score_boxes(result.scores, metric="nrmse"),
    }
    counts = result.extremes.sel(site=result.data.sites).where(result.data.split.part == 3, False)
    site = str(counts.sum("time").idxmax("site").values)
    figures["extremes_series"] = plot_extreme_series(result.predictions, site, result.extremes)
    if result.importance is not None:
        figures["importance_ranking"] = plot_importance_ranking(result.ranking())
    for name, fig in figures.items():
        path = ctx.path("figures", f"{name}.png")
        save_figure(fig, path, overwrite=True)
        paths[name] = str(path)
    table = result.summary().q50.to_pandas()
    ctx.note("median NRMSE across sites (test part):\n" + table.round(3).to_string())
    return paths
