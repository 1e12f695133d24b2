"""Recipe ``scale_guided``: seasonal and interannual models on SSA components vs end to end.

Runs :func:`fluxgrid.studies.guided.run_guided` (gap filling, QC, temporal split, SSA, one model per
IGBP group and scale, end-to-end comparison, cross-scale experiment) and draws a Taylor
diagram of the cross-scale experiment per model type. Training runs in the recipe's process
(torch on the local cores or the GPU); the Dask cluster of ``fluxgrid run`` only matters for
reading the source cube.
"""

from __future__ import annotations

from fluxgrid.plots import save_figure
from fluxgrid.recipe import RecipeContext
from fluxgrid.studies.guided import KINDS, GuidedConfig, run_guided
from fluxgrid.studies.guided.figures import plot_taylor

#: the recipe's config is the workflow config
Config = GuidedConfig


def run(cfg: GuidedConfig, ctx: RecipeContext) -> dict[str, str]:
    out = ctx.path("result")
    if ctx.done(out / "scores.csv"):
        return {"result": str(out), "scores": str(out / "scores.csv")}
    ctx.note(
        f"scale-guided training of {', '.join(cfg.models)} on {cfg.data.source} "
        f"(drivers {', '.join(cfg.data.drivers)}, decomposition: {cfg.scales.decompose})"
    )
    result = run_guided(cfg, output=out, overwrite=True, note=ctx.note)
    paths = {"result": str(out), "scores": str(out / "scores.csv")}
    if cfg.cross_scale:
        cross = [
            "seasonal",
            "interannual",
            "seasonal_model_on_interannual",
            "interannual_model_on_seasonal",
        ]
        for label in cfg.models:
            stats = result.taylor(label, [k for k in KINDS if k in cross])
            path = ctx.path("figures", f"{label}_cross_scale_taylor.png")
            fig = plot_taylor(stats, title=f"{label}: cross-scale experiment (test days)")
            save_figure(fig, path, overwrite=True)
            paths[f"{label}_taylor"] = str(path)
    table = result.scores()[["rmse", "r2", "lcs", "mae"]].to_dataframe()
    ctx.note("pooled test scores:\n" + table.round(3).to_string())
    return paths
