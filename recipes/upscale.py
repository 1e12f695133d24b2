"""Recipe ``upscale``: run directories + daily drivers -> NetCDF map, regional totals, PNGs.

Steps (each skipped when its output exists): ``drivers.zarr`` (only with ``era5``: ERA5
files -> daily drivers), ``nee_map.nc`` (:func:`fluxgrid.upscale.upscale_config_to_map`, as
``fluxgrid upscale``; computed tile by tile on the cluster), ``regional_totals.csv``
(:func:`fluxgrid.upscale.map_totals` of the written map: all cells and, with ``igbp``, per
vegetation type), ``nee_mean_annual.png``, ``regional_sinks.png`` and, for ensembles,
``nee_std.png``.
"""

from __future__ import annotations

from pathlib import Path

from fluxgrid.config import UpscaleConfig
from fluxgrid.grids import drivers_from_config, open_grid, write_grid
from fluxgrid.plots import plot_map, plot_mean_annual_nee, plot_regional_totals
from fluxgrid.recipe import RecipeContext
from fluxgrid.regions import totals_to_csv
from fluxgrid.upscale import (
    config_layers,
    main_variable,
    map_totals,
    open_maps,
    upscale_config_to_map,
)

#: the recipe's config (strict: unknown keys are refused)
Config = UpscaleConfig


def run(cfg: UpscaleConfig, ctx: RecipeContext) -> dict[str, str]:
    out: dict[str, str] = {}
    if cfg.era5 is not None:
        drivers_path = ctx.path("drivers.zarr")
        if not ctx.done(drivers_path):
            ctx.note(f"ERA5 -> daily drivers from {', '.join(cfg.era5.sources)}")
            write_grid(drivers_from_config(cfg.era5), drivers_path, overwrite=True)
        out["drivers"] = str(drivers_path)
    else:
        drivers_path = Path(cfg.drivers)
    drivers = open_grid(drivers_path)
    igbp, mask = config_layers(cfg)

    map_path = ctx.path("nee_map.nc")
    if not ctx.done(map_path):
        ctx.note(
            f"upscaling {len(cfg.runs)} run(s) over {drivers.sizes['lat']} x "
            f"{drivers.sizes['lon']} cells x {drivers.sizes['time']} days"
        )
        upscale_config_to_map(
            cfg,
            drivers,
            map_path,
            igbp=igbp,
            mask=mask,
            overwrite=True,
            progress=ctx.client is None,
        )
        ctx.note(f"wrote {map_path}")
    out["nee_map"] = str(map_path)
    maps = open_maps(map_path)
    variable = main_variable(maps)

    totals_path = ctx.path("regional_totals.csv")
    table = None
    if not ctx.done(totals_path):
        table = map_totals(maps, igbp, variable=variable)
        totals_to_csv(table, totals_path, overwrite=True)
        ctx.note(f"wrote {totals_path}")
    out["regional_totals"] = str(totals_path)

    png = ctx.path("nee_mean_annual.png")
    if not ctx.done(png):
        if variable.startswith("nee"):
            plot_mean_annual_nee(maps[variable], path=png, overwrite=True)
        else:
            plot_map(maps[variable], title=f"mean {variable}", path=png, overwrite=True)
    out["nee_mean_annual_png"] = str(png)
    png = ctx.path("regional_sinks.png")
    if not ctx.done(png):
        table = table if table is not None else map_totals(maps, igbp, variable=variable)
        plot_regional_totals(table, path=png, overwrite=True)
    out["regional_sinks_png"] = str(png)
    std = variable.replace("_mean", "_std")
    if std != variable and std in maps:
        png = ctx.path("nee_std.png")
        if not ctx.done(png):
            plot_map(
                maps[std],
                title="ensemble spread (std across members, mean over time)",
                path=png,
                overwrite=True,
            )
        out["nee_std_png"] = str(png)
    return out
