"""Recipe ``train``: an :class:`~fluxgrid.config.ExperimentConfig` -> run directory.

The same YAML works with ``fluxgrid train recipes/train.yaml``. Training runs in the
recipe's process (torch uses the local cores or the GPU); the Dask cluster of ``fluxgrid
run`` only matters for reading and aggregating the source cube.
"""

from __future__ import annotations

from fluxgrid.config import ExperimentConfig
from fluxgrid.recipe import RecipeContext
from fluxgrid.training import train_experiment

#: the recipe's config is the experiment config of ``fluxgrid train``
Config = ExperimentConfig


def run(cfg: ExperimentConfig, ctx: RecipeContext) -> dict[str, str]:
    run_dir = ctx.path("run")
    if ctx.done(run_dir / "metrics.csv"):
        return {"run": str(run_dir)}
    ctx.note(f"training {cfg.model.name} on {cfg.data.source} ({', '.join(cfg.data.drivers)})")
    train_experiment(cfg, output=run_dir, overwrite=True)
    ctx.note(f"wrote {run_dir}")
    return {"run": str(run_dir), "metrics": str(run_dir / "metrics.csv")}
