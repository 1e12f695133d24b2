"""Recipe ``site_cube``: any FLUXNET source -> daily (or monthly) site cube in Zarr + QC report.

The steps of the one site-cube chain (:mod:`fluxgrid.prep.pipeline`, as ``fluxgrid ingest``):
:func:`~fluxgrid.prep.pipeline.site_cube` reads, selects and resamples lazily, the cluster
computes the values (:meth:`~fluxgrid.recipe.RecipeContext.persist`), then
:func:`~fluxgrid.prep.pipeline.quality_control` masks the targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fluxgrid._progress import progress_bar
from fluxgrid.io.store import to_netcdf, write_cube
from fluxgrid.prep.pipeline import quality_control, site_cube
from fluxgrid.recipe import RecipeContext


@dataclass(frozen=True)
class Config:
    """Parameters of the recipe (strict: unknown keys are refused)."""

    source: str
    sites: tuple[str, ...] | None = None
    to: Literal["daily", "monthly"] = "daily"
    qc_threshold: float | None = 0.7
    min_valid_fraction: float = 0.0
    min_coverage: float = 0.5


def run(cfg: Config, ctx: RecipeContext) -> dict[str, str]:
    cube_path = ctx.path("site_cube.zarr")
    report_path = ctx.path("qc_report.nc")
    if ctx.done(cube_path) and report_path.exists():
        return {"site_cube": str(cube_path), "qc_report": str(report_path)}
    cube, _ = site_cube(cfg.source, sites=cfg.sites, to=cfg.to, min_coverage=cfg.min_coverage)
    ctx.note(f"aggregating {cube.sizes['site']} sites to {cfg.to} values")
    with progress_bar(label="site cube"):
        cube = ctx.persist(cube)
    cube, report = quality_control(
        cube, qc_threshold=cfg.qc_threshold, min_valid_fraction=cfg.min_valid_fraction
    )
    out = {"site_cube": str(cube_path)}
    if report is not None:
        to_netcdf(report, report_path, overwrite=True)
        out["qc_report"] = str(report_path)
        ctx.note(f"QC: dropped {int(report.dropped.sum())} sites")
    write_cube(cube, cube_path, overwrite=True)
    ctx.note(f"wrote {cube_path}")
    return out
