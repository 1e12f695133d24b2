"""``fluxgrid demo``: the main job end to end on the bundled FLUXNET2015 subset.

:func:`run_demo` (the command ``fluxgrid demo``) and the ``quickstart`` recipe run the same
steps, :func:`run_quickstart`, each skipped when its output exists (recipes resume; the demo
recomputes everything):

1. **site cube**: the bundled half-hourly data of five towers (US-MMS, US-UMB, DE-Hai,
   DE-Tha, FR-Pue; FLUXNET2015, CC-BY-4.0) -> local-standard-time days 2007-2012 -> target
   QC (daily NEE with less than 70 % good half-hours masked) -> ``site_cube.zarr``,
   ``qc_report.nc``, through the one site-cube chain (:func:`fluxgrid.prep.pipeline.site_cube`,
   then :func:`~fluxgrid.prep.pipeline.quality_control` once the days are computed);
2. **model**: a small LSTM (16 units, 30-day look-back, ta/sw_in/vpd + day of year, site
   lat/lon and IGBP one-hot) trained on the CPU in well under a minute -> ``run/``;
3. **driver grid**: no real gridded meteorology can be bundled, so the demo builds a
   *transparent stand-in* from the towers' own measured drivers (:func:`tower_grid`): each
   cell of a 0.5 degree grid over western/central Europe (2-16 E, 43-53 N) gets the
   inverse-distance-weighted daily ``ta``, ``sw_in``, ``vpd`` of DE-Hai, DE-Tha and
   FR-Pue. Land cover is real: the bundled MODIS MCD12C1 2019 cut
   (:func:`fluxgrid.data.demo_land_cover_path`, doi:10.5067/MODIS/MCD12C1.006) gives the
   grid's ``igbp`` (dominant vegetation type, :func:`fluxgrid.grids.vegetation_type`) and
   ``land`` (land/sea mask, :func:`fluxgrid.grids.land_mask`). The grid's attributes
   (``title``, ``description``, ``method``, ``source``, ``land_cover``) say exactly this,
   and the map's ``data_drivers_*`` attributes carry them on. The meteorology is not a
   product; real maps use ERA5 / ERA5-Land drivers (``fluxgrid drivers``,
   :func:`fluxgrid.grids.read_era5`, :func:`fluxgrid.grids.open_era5_zarr`);
4. **map**: blockwise inference (:func:`fluxgrid.upscale.upscale_to_map`) -> CF-1.8
   ``nee_map.nc`` (2011-2012), by cover fraction (``land_cover_mode="fractions"``: the
   MCD12C1 class fractions of each cell, :func:`fluxgrid.grids.class_fractions`; water,
   urban, snow/ice and barren add no flux) or by the dominant class (``"majority"``); sea
   cells (``land`` False) are NaN;
5. **regional totals** over all land cells and per IGBP class (TgC yr-1, sink = -NEE;
   with fractions each class's share: its prediction x its cover fraction x cell area,
   the classes adding up to ``all``) -> ``regional_totals.csv``;
6. **figures**: ``nee_mean_annual.png`` (with the coastline drawn from the land mask) and
   ``regional_sinks.png``.

Examples
--------
>>> from fluxgrid.demo import run_demo
>>> paths = run_demo("demo_out")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ._version import __version__
from .config.experiment import ExperimentConfig
from .config.serialise import from_dict
from .config.stages import QuickstartConfig
from .data import demo_land_cover_path, load_demo_hh
from .errors import DataNotFoundError, GridError
from .grids.core import make_grid, standardise_grid
from .grids.landcover import (
    IGBP_CLASSES,
    class_fractions,
    igbp_codes,
    land_mask,
    open_land_cover,
    vegetation_type,
)
from .grids.store import open_grid, write_grid
from .io.store import open_cube, to_netcdf, write_cube
from .plots import plot_mean_annual_nee, plot_regional_totals
from .prep.pipeline import quality_control, site_cube
from .recipe import RecipeContext
from .regions import totals_to_csv
from .training.experiment import train_experiment
from .upscale.maps import upscale_to_map
from .upscale.totals import map_totals, open_maps

__all__ = ["DEMO_LAND_COVER", "demo_land_cover", "run_demo", "run_quickstart", "tower_grid"]

#: Earth radius for great-circle distances (km)
_EARTH_KM = 6371.0

#: citation of the bundled land cover (map attribute ``data_drivers_land_cover``)
DEMO_LAND_COVER = (
    "MODIS MCD12C1 C6 2019 IGBP land cover (Majority_Land_Cover_Type_1, 0.05 deg), cut to "
    "2-16 E, 43-53 N: Friedl, M., Sulla-Menashe, D., MCD12C1 MODIS/Terra+Aqua Land Cover Type "
    "Yearly L3 Global 0.05Deg CMG V006, NASA LP DAAC, doi:10.5067/MODIS/MCD12C1.006"
)


def demo_land_cover() -> xr.DataArray:
    """The bundled MODIS MCD12C1 2019 cut as IGBP codes ``(lat, lon)`` (17 water, 255 fill).

    Returns
    -------
    xarray.DataArray
        :func:`fluxgrid.grids.open_land_cover` of :func:`fluxgrid.data.demo_land_cover_path`,
        ``attrs["source"]`` = :data:`DEMO_LAND_COVER`.
    """
    lc = open_land_cover(demo_land_cover_path())
    lc.attrs["source"] = DEMO_LAND_COVER
    return lc


def _great_circle_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Haversine distance (km) between every pair of ``(lat1, lon1)`` and ``(lat2, lon2)``."""
    p1, p2 = np.radians(lat1)[:, None], np.radians(lat2)[None, :]
    dlat = p2 - p1
    dlon = np.radians(lon2)[None, :] - np.radians(lon1)[:, None]
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * _EARTH_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def tower_grid(
    cube: xr.Dataset,
    *,
    sites: Sequence[str],
    bbox: tuple[float, float, float, float],
    resolution: float,
    drivers: Sequence[str] = ("ta", "sw_in", "vpd"),
    power: float = 2.0,
    min_distance_km: float = 1.0,
    land_cover: xr.DataArray | None = None,
) -> xr.Dataset:
    """A demo driver grid made from towers' measured daily drivers (inverse distance weighting).

    Each cell's value on each day is ``sum_s w_s x_s / sum_s w_s`` over the towers ``s`` that
    have a value that day, with ``w_s = max(d_s, min_distance_km) ** -power`` and ``d_s`` the
    great-circle distance from the cell centre to the tower. No elevation, lapse-rate or
    other adjustment is made to the drivers. With ``land_cover`` (IGBP codes, e.g.
    :func:`demo_land_cover`) the grid's ``igbp`` is the dominant vegetation type of each
    cell (:func:`fluxgrid.grids.vegetation_type`) and ``land`` its land/sea mask
    (:func:`fluxgrid.grids.land_mask`: water below half the cell); without it ``igbp`` is
    the IGBP class of the nearest tower and there is no land mask. The attributes describe
    exactly this; the grid is a stand-in for gridded meteorology, not a product.

    Parameters
    ----------
    cube
        The towers' daily values ``(site, time)`` with ``latitude``, ``longitude`` and
        ``igbp`` coordinates.
    sites
        Towers whose drivers are interpolated.
    bbox
        ``(lon_min, lat_min, lon_max, lat_max)`` of the grid, degrees.
    resolution
        Cell size, degrees.
    drivers
        Variables interpolated (units kept).
    power
        Inverse-distance power.
    min_distance_km
        Distances below this count as this (a tower inside a cell).
    land_cover
        IGBP class grid ``(lat, lon)`` covering ``bbox`` (its ``source`` attribute is
        recorded as the grid's ``land_cover`` attribute).

    Returns
    -------
    xarray.Dataset
        Drivers ``(time, lat, lon)`` float32 with the cube's units, ``igbp`` int16
        ``(lat, lon)`` (IGBP codes with ``flag_values``/``flag_meanings``), with
        ``land_cover`` also ``land`` (int8 0/1, ``(lat, lon)``), CF coordinate attributes,
        and ``title``/``description``/``method``/``source``/``sites``/``references``/
        ``license`` (and ``land_cover``) attributes.

    Raises
    ------
    DataNotFoundError
        If a tower of ``sites`` (the message lists the cube's towers) or one of the
        ``drivers`` is not in the cube.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube().sel(time=slice("2010-01-01", "2010-01-31"))
    >>> g = tower_grid(cube, sites=["DE-Hai", "DE-Tha"], bbox=(10, 50, 14, 52), resolution=1.0)
    >>> g.ta.dims, g.sizes["lat"], g.sizes["lon"], g.igbp.attrs["flag_meanings"]
    (('time', 'lat', 'lon'), 2, 4, 'ENF DBF')
    """
    sites = [str(s) for s in sites]
    _check_towers(cube, sites, drivers)
    grid = make_grid(resolution, bbox=bbox)
    sub = cube.sel(site=sites)
    glat, glon = np.meshgrid(grid["lat"].values, grid["lon"].values, indexing="ij")
    dist = _great_circle_km(
        glat.ravel(),
        glon.ravel(),
        sub["latitude"].values.astype(float),
        sub["longitude"].values.astype(float),
    )  # (cell, tower)
    weights = np.maximum(dist, min_distance_km) ** -float(power)
    shape = (grid.sizes["lat"], grid.sizes["lon"])
    out = xr.Dataset(coords={"time": sub["time"].values, "lat": grid["lat"], "lon": grid["lon"]})
    for name in drivers:
        values = _weighted_mean(weights, sub[name].transpose("site", "time").values)
        values = values.T.reshape(sub.sizes["time"], *shape).astype(np.float32)
        out[name] = (("time", "lat", "lon"), values, dict(sub[name].attrs))
    if land_cover is None:
        out["igbp"] = _nearest_igbp(sub["igbp"].values, dist, shape)
    else:
        out["igbp"] = vegetation_type(land_cover, target=grid)
        land = land_mask(land_cover, target=grid)
        out["land"] = land.astype("int8").assign_attrs(land.attrs)
    out.attrs = _grid_attrs(sub, out, drivers, power, min_distance_km, resolution)
    if land_cover is not None:
        out.attrs["land_cover"] = str(land_cover.attrs.get("source", "land_cover argument"))
    return standardise_grid(out)


def _check_towers(cube: xr.Dataset, sites: list[str], drivers: Sequence[str]) -> None:
    have = set(cube["site"].values.astype(str).tolist())
    lacking = [s for s in sites if s not in have]
    if lacking:
        raise DataNotFoundError(
            f"towers {lacking} are not in the site cube (it has {sorted(have)}); choose "
            "grid_sites among them"
        )
    missing = [d for d in drivers if d not in cube.data_vars]
    if missing:
        raise DataNotFoundError(f"drivers {missing} are not in the site cube")


def _weighted_mean(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``(cell, time)`` mean of the towers' ``x`` ``(tower, time)`` with a value that day."""
    x = np.asarray(x, dtype=np.float64)
    valid = np.isfinite(x)
    num = weights @ np.where(valid, x, 0.0)
    den = weights @ valid.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def _nearest_igbp(classes: np.ndarray, dist: np.ndarray, shape: tuple[int, int]) -> tuple:
    """The ``igbp`` variable: each cell's IGBP code from its nearest tower (-1 unknown)."""
    tower_codes = igbp_codes(classes)
    nearest = tower_codes[np.argmin(dist, axis=1)].reshape(shape)
    present = sorted({int(c) for c in np.unique(nearest) if c >= 0})
    attrs = {
        "long_name": "IGBP vegetation type of the nearest tower",
        "flag_values": " ".join(str(c) for c in present),
        "flag_meanings": " ".join(IGBP_CLASSES[c][0] for c in present),
        "missing_value": -1,
    }
    return ("lat", "lon"), nearest, attrs


def _grid_attrs(
    sub: xr.Dataset,
    out: xr.Dataset,
    drivers: Sequence[str],
    power: float,
    min_distance_km: float,
    resolution: float,
) -> dict[str, str]:
    """The attributes that say exactly how the stand-in grid was made."""
    sites = sub["site"].values.astype(str).tolist()
    towers = ", ".join(
        f"{s} ({la:.4f} N, {lo:.4f} E, {ig})"
        for s, la, lo, ig in zip(
            sites,
            sub["latitude"].values.astype(float),
            sub["longitude"].values.astype(float),
            sub["igbp"].values.astype(str),
            strict=True,
        )
    )
    return {
        "title": "fluxgrid demo driver grid from tower measurements (NOT a meteorological product)",
        "description": (
            f"Each cell's daily {', '.join(drivers)} is the inverse-distance-weighted mean of "
            f"the daily drivers measured at the towers {', '.join(sites)} (weights "
            f"1/max(d, {min_distance_km:g} km)**{power:g}, d = great-circle distance from the "
            "cell centre to the tower), using on each day only the towers with a value: a "
            "stand-in interpolated from towers, as no real gridded meteorology is bundled. No "
            "elevation, lapse-rate or other adjustment of the drivers. "
            + (
                "igbp is the dominant vegetation type and land the land/sea mask (water below "
                "half the cell) of the land cover named in the land_cover attribute. "
                if "land" in out
                else "igbp is the IGBP class of the nearest of these towers; no land mask. "
            )
            + f"Made by fluxgrid.demo.tower_grid (fluxgrid {__version__}) for the demo only."
        ),
        "method": f"inverse distance weighting, power {power:g}, {resolution:g} degree cells",
        "source": (
            "FLUXNET2015 FULLSET half-hourly TA_F, SW_IN_F, VPD_F (bundled subset), aggregated "
            "to local standard-time days by fluxgrid.to_daily"
        ),
        "sites": towers,
        "time_coverage": f"{str(out.time.values[0])[:10]} to {str(out.time.values[-1])[:10]}",
        "references": (
            "Pastorello, G. et al., The FLUXNET2015 dataset and the ONEFlux processing pipeline "
            "for eddy covariance data, Sci Data 7, 225 (2020)"
        ),
        "license": "CC-BY-4.0 (FLUXNET2015)",
    }


def _experiment(cfg: QuickstartConfig, source: str) -> ExperimentConfig:
    """The demo's LSTM experiment on the (already QC'd) site cube at ``source``."""
    return from_dict(
        ExperimentConfig,
        {
            "data": {
                "source": source,
                "drivers": ["ta", "sw_in", "vpd"],
                "target": "nee",
                "qc_threshold": None,  # the site cube is QC'd already
            },
            "split": {
                "method": "random_years",
                "test_fraction": 0.33,
                "validation": "years",
                "val_fraction": 0.2,
                "seed": cfg.seed,
            },
            "windows": {"lookback": cfg.lookback, "static": ["doy", "latlon", "igbp"]},
            "model": {"name": "lstm", "params": {"hidden": cfg.hidden, "layers": 1}},
            "train": {
                "epochs": cfg.epochs,
                "batch_size": 256,
                "lr": 0.002,
                "patience": 3,
                "seed": cfg.seed,
                "device": cfg.device,
            },
        },
    )


#: output name -> file or folder under the output folder
_OUTPUTS = {
    "site_cube": "site_cube.zarr",
    "qc_report": "qc_report.nc",
    "run": "run",
    "drivers": "drivers.zarr",
    "nee_map": "nee_map.nc",
    "regional_totals": "regional_totals.csv",
    "nee_mean_annual_png": "nee_mean_annual.png",
    "regional_sinks_png": "regional_sinks.png",
}


def run_quickstart(cfg: QuickstartConfig, ctx: RecipeContext) -> dict[str, str]:
    """Run the demo steps (module docstring) into ``ctx.output``; finished outputs are skipped.

    Parameters
    ----------
    cfg
        :class:`fluxgrid.config.QuickstartConfig`.
    ctx
        Recipe context (output folder, Dask client, ``overwrite``, progress notes).

    Returns
    -------
    dict
        ``{name: path}`` of every output.

    Examples
    --------
    >>> ctx = RecipeContext(output=Path("demo_out"), overwrite=True)  # doctest: +SKIP
    >>> paths = run_quickstart(QuickstartConfig(epochs=2), ctx)       # doctest: +SKIP
    """
    paths = {name: ctx.path(part) for name, part in _OUTPUTS.items()}
    cube = _site_cube_step(cfg, ctx, paths)
    _model_step(cfg, ctx, cube, paths)
    drivers = _drivers_step(cfg, ctx, cube, paths)
    layers = _land_cover_layers(cfg, drivers)
    maps = _map_step(cfg, ctx, drivers, layers, paths)
    table = _totals_step(ctx, maps, layers, paths)
    if not ctx.done(paths["nee_mean_annual_png"]):
        plot_mean_annual_nee(
            maps["nee"], land=layers["mask"], path=paths["nee_mean_annual_png"], overwrite=True
        )
    if not ctx.done(paths["regional_sinks_png"]):
        plot_regional_totals(table, path=paths["regional_sinks_png"], overwrite=True)
    ctx.note("[6/6] figures written")
    return {name: str(path) for name, path in paths.items()}


def _site_cube_step(cfg: QuickstartConfig, ctx: RecipeContext, paths: dict) -> xr.Dataset:
    """1. source -> local days of the period -> (computed) -> target QC -> Zarr + report."""
    if not (ctx.done(paths["site_cube"]) and paths["qc_report"].exists()):
        daily, _ = site_cube(
            cfg.source,
            cube=load_demo_hh() if cfg.source == "demo" else None,  # the half-hourly subset
            sites=cfg.sites,
            to="daily",
            period=(cfg.start, cfg.end),
        )
        ctx.note(
            f"[1/6] {cfg.source}: {daily.sizes['site']} sites "
            f"({', '.join(daily.site.values.astype(str))}); building local days "
            f"{cfg.start}..{cfg.end}"
        )
        daily = ctx.persist(daily)
        cube, report = quality_control(
            daily, qc_threshold=cfg.qc_threshold, min_valid_fraction=cfg.min_valid_fraction
        )
        write_cube(cube, paths["site_cube"], overwrite=True)
        to_netcdf(report, paths["qc_report"], overwrite=True)
        ctx.note(
            f"      site cube {cube.sizes['site']} sites x {cube.sizes['time']} days; QC >= "
            f"{cfg.qc_threshold} kept {int(cube.nee.notnull().sum())} of "
            f"{int(daily.nee.notnull().sum())} daily NEE values"
        )
    return open_cube(paths["site_cube"]).load()


def _model_step(cfg: QuickstartConfig, ctx: RecipeContext, cube: xr.Dataset, paths: dict) -> None:
    """2. the LSTM trained on the site cube -> run directory; its test scores noted."""
    if not ctx.done(paths["run"] / "metrics.csv"):
        ctx.note(
            f"[2/6] training an LSTM ({cfg.hidden} units, {cfg.lookback}-day look-back, "
            f"{cfg.epochs} epochs at most) on {cube.sizes['site']} sites"
        )
        train_experiment(
            _experiment(cfg, str(paths["site_cube"])),
            output=paths["run"],
            overwrite=True,
            cube=cube,
            progress=False,
        )
    scores = pd.read_csv(paths["run"] / "metrics.csv", index_col=0)
    if "test" in scores.index:
        test = scores.loc["test"]
        ctx.note(
            f"      test years: R2 {test['r2']:.2f}, RMSE {test['rmse']:.2f} gC m-2 d-1 "
            f"({int(test['n'])} days)"
        )


def _drivers_step(
    cfg: QuickstartConfig, ctx: RecipeContext, cube: xr.Dataset, paths: dict
) -> xr.Dataset:
    """3. the stand-in driver grid from the towers, one look-back before the map period."""
    first = pd.Timestamp(cfg.map_start) - pd.Timedelta(days=cfg.lookback - 1)
    if not ctx.done(paths["drivers"]):
        sub = cube.sel(time=slice(first, pd.Timestamp(cfg.map_end)))
        if sub.sizes["time"] == 0 or pd.Timestamp(sub.time.values[0]) > first:
            raise GridError(
                f"the site cube ({cfg.start}..{cfg.end}) does not reach {first.date()}, "
                f"{cfg.lookback - 1} days before map_start {cfg.map_start}; move map_start later"
            )
        grid = tower_grid(
            sub,
            sites=cfg.grid_sites,
            bbox=cfg.grid_bbox,
            resolution=cfg.grid_resolution,
            power=cfg.idw_power,
            land_cover=demo_land_cover(),
        )
        write_grid(grid, paths["drivers"], overwrite=True)
        ctx.note(
            f"[3/6] demo driver grid {grid.sizes['lat']} x {grid.sizes['lon']} cells of "
            f"{cfg.grid_resolution:g} deg x {grid.sizes['time']} days: inverse-distance-weighted "
            f"drivers of {', '.join(cfg.grid_sites)} (see the grid's 'description' attribute); "
            f"MODIS MCD12C1 2019 land cover: {int(grid['land'].sum())} land cells"
        )
    return open_grid(paths["drivers"])


def _land_cover_layers(cfg: QuickstartConfig, drivers: xr.Dataset) -> dict:
    """The land mask and, by ``land_cover_mode``, the class fractions or the IGBP grid."""
    mask = drivers["land"].load().astype(bool)
    if cfg.land_cover_mode == "majority":
        return {"mask": mask, "igbp": drivers["igbp"].load(), "fractions": None}
    fractions = class_fractions(demo_land_cover(), target=drivers)
    fractions.attrs["source"] = DEMO_LAND_COVER
    return {"mask": mask, "igbp": None, "fractions": fractions}


def _map_step(
    cfg: QuickstartConfig,
    ctx: RecipeContext,
    drivers: xr.Dataset,
    layers: dict,
    paths: dict,
) -> xr.Dataset:
    """4. blockwise inference of the map period -> ``nee_map.nc``, opened for summaries."""
    if not ctx.done(paths["nee_map"]):
        ctx.note(
            f"[4/6] upscaling {cfg.map_start}..{cfg.map_end} "
            f"({int(layers['mask'].sum())} land cells of "
            f"{drivers.sizes['lat'] * drivers.sizes['lon']}, by {cfg.land_cover_mode})"
        )
        upscale_to_map(
            paths["run"],
            drivers,
            paths["nee_map"],
            overwrite=True,
            igbp=layers["igbp"],
            fractions=layers["fractions"],
            mask=layers["mask"],
            period=(cfg.map_start, cfg.map_end),
            device=cfg.device,
            progress=False,
            title="fluxgrid demo: daily NEE from an LSTM trained at five FLUXNET2015 towers",
        )
    return open_maps(paths["nee_map"])


def _totals_step(ctx: RecipeContext, maps: xr.Dataset, layers: dict, paths: dict) -> xr.Dataset:
    """5. annual totals over all land cells and per IGBP class -> CSV; the sinks noted."""
    table = map_totals(maps, layers["igbp"], fractions=layers["fractions"])
    if not ctx.done(paths["regional_totals"]):
        totals_to_csv(table, paths["regional_totals"], overwrite=True)
    sink = table["sink"].to_pandas()
    ctx.note("[5/6] regional sink (TgC yr-1, positive = uptake):")
    for region, row in sink.iterrows():
        years = ", ".join(f"{y}: {v:7.2f}" for y, v in row.items())
        ctx.note(f"      {region:>4}  {years}")
    return table


def run_demo(output: str | os.PathLike = "demo_out") -> dict[str, str]:
    """Run the demo (all steps, existing outputs replaced); return where the outputs are.

    Progress messages go to the ``fluxgrid`` logger (``fluxgrid demo`` shows them).

    Parameters
    ----------
    output
        Folder for the outputs (created).

    Returns
    -------
    dict
        ``{name: path}``: ``site_cube``, ``qc_report``, ``run``, ``drivers``, ``nee_map``,
        ``regional_totals``, ``nee_mean_annual_png``, ``regional_sinks_png``.

    Examples
    --------
    >>> paths = run_demo("demo_out")  # doctest: +SKIP
    """
    start = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    ctx = RecipeContext(output=out, client=None, overwrite=True)
    paths = run_quickstart(QuickstartConfig(), ctx)
    ctx.note(f"done in {time.perf_counter() - start:.0f} s")
    return paths
