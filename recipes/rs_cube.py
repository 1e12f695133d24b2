"""Recipe ``rs_cube``: remote-sensing predictors at every tower, joined into the site cube.

Steps (each a public function a notebook can call): per-site Sentinel-2 / Sentinel-1 /
MODIS jobs on the cluster (:func:`fluxgrid.rs.pipeline.run_site_jobs`, resumable from
``sites/``), clear-sky radiation for all sites at once, then ``add_s2``/``add_s1``/
``add_lst`` onto the daily axis and one Zarr store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fluxgrid._progress import progress_bar
from fluxgrid.io.store import open_cube, write_cube
from fluxgrid.recipe import RecipeContext
from fluxgrid.rs.config import ClearSkyConfig, LSTConfig, S1Config, S2Config, StacConfig
from fluxgrid.rs.modis import add_lst
from fluxgrid.rs.pipeline import load_site_results, run_site_jobs
from fluxgrid.rs.radiation import add_clearsky
from fluxgrid.rs.sentinel1 import add_s1
from fluxgrid.rs.sentinel2 import add_s2


@dataclass(frozen=True)
class Config:
    """Parameters of the recipe (strict: unknown keys are refused)."""

    stac: StacConfig
    cube: str = "demo"
    sites: tuple[str, ...] | None = None
    start: str | None = None
    end: str | None = None
    sources: dict[str, str] = field(default_factory=dict)
    clearsky: ClearSkyConfig | None = field(default_factory=ClearSkyConfig)
    s2: S2Config | None = field(default_factory=S2Config)
    s1: S1Config | None = field(default_factory=S1Config)
    lst: LSTConfig | None = field(default_factory=LSTConfig)
    interpolate: bool = False
    max_gap_days: int = 16


def _cube(cfg: Config):
    if cfg.cube == "demo":
        from fluxgrid.testing import load_demo_cube

        cube = load_demo_cube()
    else:
        cube = open_cube(cfg.cube)
    if cfg.sites is not None:
        cube = cube.sel(site=list(cfg.sites))
    if cfg.start or cfg.end:
        cube = cube.sel(time=slice(cfg.start, cfg.end))
    return cube


def run(cfg: Config, ctx: RecipeContext) -> dict[str, str]:
    out_path = ctx.path("rs_cube.zarr")
    folder = ctx.path("sites", "x").parent
    if ctx.done(out_path):
        return {"rs_cube": str(out_path), "sites": str(folder)}
    cube = _cube(cfg)
    ctx.note(f"{cube.sizes['site']} sites, {cube.sizes['time']} days")
    steps = {
        "s2": (cfg.s2, add_s2, "footprints"),
        "s1": (cfg.s1, add_s1, "annuli"),
        "lst": (cfg.lst, add_lst, "windows"),
    }
    failures: dict[str, dict[str, str]] = {}
    for product, (pcfg, _, _) in steps.items():
        if pcfg is None:
            continue
        source = cfg.sources.get(product, cfg.stac.source)
        failures[product] = run_site_jobs(
            product,
            cube,
            source,
            folder,
            config=pcfg,
            stac=cfg.stac,
            client=ctx.client,
            overwrite=ctx.overwrite,
            note=ctx.note,
        )
    if cfg.clearsky is not None:
        ctx.note("clear-sky radiation for all sites (vectorised)")
        with progress_bar(label="clear-sky radiation"):
            cube = add_clearsky(cube, config=cfg.clearsky, lazy=True).compute()
    for product, (pcfg, add, keyword) in steps.items():
        if pcfg is None:
            continue
        platforms = getattr(pcfg, "platforms", ("terra", "aqua"))
        results, missing = load_site_results(product, folder, cube.site.values, platforms=platforms)
        missing.update(failures.get(product, {}))
        if not results:
            ctx.note(f"{product}: no site has data: {missing}")
            continue
        cube = add(
            cube,
            **{keyword: results},
            failed=missing,
            config=pcfg,
            interpolate=cfg.interpolate,
            max_gap_days=cfg.max_gap_days,
        )
        ctx.note(f"{product}: joined {len(results)} sites, {len(missing)} without data")
    write_cube(cube, out_path, overwrite=True)
    ctx.note(f"wrote {out_path}")
    return {"rs_cube": str(out_path), "sites": str(folder)}
