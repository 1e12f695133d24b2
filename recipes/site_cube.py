"""Recipe ``site_cube``: any FLUXNET source -> daily (or monthly) site cube in Zarr + QC report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fluxgrid._progress import progress_bar
from fluxgrid.io.sources import read_source
from fluxgrid.io.store import to_netcdf, write_cube
from fluxgrid.prep.qc import qc_mask
from fluxgrid.prep.resample import to_daily, to_monthly
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
    cube = read_source(cfg.source, sites=cfg.sites)
    if cube.attrs.get("resolution") in ("HH", "HR"):
        cube = to_daily(cube, min_coverage=cfg.min_coverage)
    if cfg.to == "monthly":
        cube = to_monthly(cube, min_coverage=cfg.min_coverage)
    ctx.note(f"aggregating {cube.sizes['site']} sites to {cfg.to} values")
    with progress_bar(show=True):
        cube = cube.persist() if ctx.client is not None else cube.compute()
    out = {"site_cube": str(cube_path)}
    if cfg.qc_threshold is not None:
        cube, report = qc_mask(
            cube, threshold=cfg.qc_threshold, min_valid_fraction=cfg.min_valid_fraction
        )
        to_netcdf(report, report_path, overwrite=True)
        out["qc_report"] = str(report_path)
        ctx.note(f"QC: dropped {int(report.dropped.sum())} sites")
    write_cube(cube, cube_path, overwrite=True)
    ctx.note(f"wrote {cube_path}")
    return out
