"""Recipe ``quickstart``: the demo's steps (:func:`fluxgrid.demo.run_quickstart`), resumable."""

from __future__ import annotations

from fluxgrid.config import QuickstartConfig
from fluxgrid.demo import run_quickstart
from fluxgrid.recipe import RecipeContext

#: the recipe's config (strict: unknown keys are refused)
Config = QuickstartConfig


def run(cfg: QuickstartConfig, ctx: RecipeContext) -> dict[str, str]:
    return run_quickstart(cfg, ctx)
