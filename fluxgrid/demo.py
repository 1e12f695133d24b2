"""``fluxgrid demo``: the main job end to end on the bundled FLUXNET2015 subset.

:func:`run_demo` (the command ``fluxgrid demo``) and the ``quickstart`` recipe run the same
steps, :func:`run_quickstart`, each skipped when its output exists (recipes resume; the demo
recomputes everything):

1. **site cube**: the bundled half-hourly data of five towers (US-MMS, US-UMB, DE-Hai,
   DE-Tha, FR-Pue; FLUXNET2015, CC-BY-4.0) -> local-standard-time days 2007-2012 -> target
   QC (daily NEE with less than 70 % good half-hours masked) -> ``site_cube.zarr``,
   ``qc_report.nc``;
2. **model**: a small LSTM (16 units, 30-day look-back, ta/sw_in/vpd + day of year, site
   lat/lon and IGBP one-hot) trained on the CPU in well under a minute -> ``run/``;
3. **driver grid**: no real gridded meteorology can be bundled, so the demo builds a
   *transparent stand-in* from the towers' own measured drivers (:func:`tower_grid`): each
   cell of a 0.5 degree grid over western/central Europe gets the inverse-distance-weighted
   daily ``ta``, ``sw_in``, ``vpd`` of DE-Hai, DE-Tha and FR-Pue, and the IGBP class of the
   nearest of them. The grid's attributes (``title``, ``description``, ``method``,
   ``source``) say exactly this, and the map's ``data_drivers_*`` attributes carry them on.
   It is not a meteorological product; real maps use ERA5 / ERA5-Land drivers
   (``fluxgrid drivers``, :func:`fluxgrid.io.grids.read_era5`), the path the tests exercise;
4. **map**: blockwise inference (:func:`fluxgrid.upscale.upscale_to_map`) -> CF-1.8
   ``nee_map.nc`` (2011-2012);
5. **regional totals** per IGBP class and over all cells (TgC yr-1, sink = -NEE) ->
   ``regional_totals.csv``;
6. **figures**: ``nee_mean_annual.png`` and ``regional_sinks.png``.

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
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataNotFoundError, GridError

if TYPE_CHECKING:  # pragma: no cover
    from .config import QuickstartConfig
    from .recipe import RecipeContext

__all__ = ["run_demo", "run_quickstart", "tower_grid"]

#: Earth radius for great-circle distances (km)
_EARTH_KM = 6371.0


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
) -> xr.Dataset:
    """A demo driver grid made from towers' measured daily drivers (inverse distance weighting).

    Each cell's value on each day is ``sum_s w_s x_s / sum_s w_s`` over the towers ``s`` that
    have a value that day, with ``w_s = max(d_s, min_distance_km) ** -power`` and ``d_s`` the
    great-circle distance from the cell centre to the tower. No elevation, lapse-rate,
    land/sea or other adjustment is made; every cell is mapped (there is no land mask). The
    ``igbp`` variable is the IGBP class of the nearest tower. The attributes describe exactly
    this; the grid is a stand-in for gridded meteorology, not a product.

    Parameters
    ----------
    cube
        Daily site cube (dims ``(site, time)``, coordinates ``latitude``, ``longitude``,
        ``igbp``).
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

    Returns
    -------
    xarray.Dataset
        Drivers ``(time, lat, lon)`` float32 with the cube's units, ``igbp`` int16
        ``(lat, lon)`` (IGBP codes with ``flag_values``/``flag_meanings``), CF coordinate
        attributes, and ``title``/``description``/``method``/``source``/``sites``/
        ``references``/``license`` attributes.

    Raises
    ------
    DataNotFoundError
        If a site or a driver is not in the cube.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube().sel(time=slice("2010-01-01", "2010-01-31"))
    >>> g = tower_grid(cube, sites=["DE-Hai", "DE-Tha"], bbox=(10, 50, 14, 52), resolution=1.0)
    >>> g.ta.dims, g.sizes["lat"], g.sizes["lon"], g.igbp.attrs["flag_meanings"]
    (('time', 'lat', 'lon'), 2, 4, 'ENF DBF')
    """
    from . import __version__
    from .io.grids import IGBP_CLASSES, make_grid, standardise_grid

    sites = [str(s) for s in sites]
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
    grid = make_grid(resolution, bbox=bbox)
    sub = cube.sel(site=sites)
    lat_t = sub["latitude"].values.astype(float)
    lon_t = sub["longitude"].values.astype(float)
    glat, glon = np.meshgrid(grid["lat"].values, grid["lon"].values, indexing="ij")
    dist = _great_circle_km(glat.ravel(), glon.ravel(), lat_t, lon_t)  # (cell, tower)
    weights = np.maximum(dist, min_distance_km) ** -float(power)
    n_lat, n_lon, n_time = grid.sizes["lat"], grid.sizes["lon"], sub.sizes["time"]
    out = xr.Dataset(coords={"time": sub["time"].values, "lat": grid["lat"], "lon": grid["lon"]})
    for name in drivers:
        x = np.asarray(sub[name].transpose("site", "time").values, dtype=np.float64)
        valid = np.isfinite(x)
        num = weights @ np.where(valid, x, 0.0)
        den = weights @ valid.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(den > 0, num / den, np.nan)
        values = values.T.reshape(n_time, n_lat, n_lon).astype(np.float32)
        out[name] = (("time", "lat", "lon"), values, dict(sub[name].attrs))
    by_abbr = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}
    tower_codes = np.array([by_abbr.get(str(c), -1) for c in sub["igbp"].values], dtype=np.int16)
    nearest = tower_codes[np.argmin(dist, axis=1)].reshape(n_lat, n_lon)
    present = sorted({int(c) for c in np.unique(nearest) if c >= 0})
    out["igbp"] = (
        ("lat", "lon"),
        nearest,
        {
            "long_name": "IGBP vegetation type of the nearest tower",
            "flag_values": " ".join(str(c) for c in present),
            "flag_meanings": " ".join(IGBP_CLASSES[c][0] for c in present),
            "missing_value": -1,
        },
    )
    towers = ", ".join(
        f"{s} ({la:.4f} N, {lo:.4f} E, {ig})"
        for s, la, lo, ig in zip(sites, lat_t, lon_t, sub["igbp"].values.astype(str), strict=True)
    )
    period = f"{str(out.time.values[0])[:10]} to {str(out.time.values[-1])[:10]}"
    out.attrs = {
        "title": "fluxgrid demo driver grid from tower measurements (NOT a meteorological product)",
        "description": (
            f"Each cell's daily {', '.join(drivers)} is the inverse-distance-weighted mean of "
            f"the daily drivers measured at the towers {', '.join(sites)} (weights "
            f"1/max(d, {min_distance_km:g} km)**{power:g}, d = great-circle distance from the "
            "cell centre to the tower), using on each day only the towers with a value. No "
            "elevation, lapse-rate, land/sea or other adjustment; every cell is mapped (no land "
            "mask). igbp is the IGBP class of the nearest of these towers. Made by "
            f"fluxgrid.demo.tower_grid (fluxgrid {__version__}) for the demo only."
        ),
        "method": f"inverse distance weighting, power {power:g}, {resolution:g} degree cells",
        "source": (
            "FLUXNET2015 FULLSET half-hourly TA_F, SW_IN_F, VPD_F (bundled subset), aggregated "
            "to local standard-time days by fluxgrid.to_daily"
        ),
        "sites": towers,
        "time_coverage": period,
        "references": (
            "Pastorello, G. et al., The FLUXNET2015 dataset and the ONEFlux processing pipeline "
            "for eddy covariance data, Sci Data 7, 225 (2020)"
        ),
        "license": "CC-BY-4.0 (FLUXNET2015)",
    }
    return standardise_grid(out)


def _experiment(cfg: QuickstartConfig, source: str) -> Any:
    from .config import from_dict
    from .experiment_config import ExperimentConfig

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
    """
    from .io.grids import open_grid, write_grid
    from .io.store import open_cube, to_netcdf, write_cube
    from .plots import plot_mean_annual_nee, plot_regional_totals
    from .regions import totals_to_csv
    from .train import train_experiment
    from .upscale import map_totals, open_maps, upscale_to_map

    paths = {
        "site_cube": ctx.path("site_cube.zarr"),
        "qc_report": ctx.path("qc_report.nc"),
        "run": ctx.path("run"),
        "drivers": ctx.path("drivers.zarr"),
        "nee_map": ctx.path("nee_map.nc"),
        "regional_totals": ctx.path("regional_totals.csv"),
        "nee_mean_annual_png": ctx.path("nee_mean_annual.png"),
        "regional_sinks_png": ctx.path("regional_sinks.png"),
    }
    # 1. site cube
    if not (ctx.done(paths["site_cube"]) and paths["qc_report"].exists()):
        from .prep.qc import qc_mask
        from .prep.resample import to_daily

        if cfg.source == "demo":
            from .testing import load_demo_hh

            hh = load_demo_hh()
            if cfg.sites is not None:
                from .prep.select import select_sites

                hh = select_sites(hh, sites=list(cfg.sites))
        else:
            from .io.sources import read_source

            hh = read_source(cfg.source, sites=cfg.sites)
        ctx.note(
            f"[1/6] {cfg.source}: {hh.sizes['site']} sites "
            f"({', '.join(hh.site.values.astype(str))}); building local days {cfg.start}..{cfg.end}"
        )
        daily = hh if hh.attrs.get("resolution") == "DD" else to_daily(hh)
        daily = daily.sel(time=slice(cfg.start, cfg.end))
        daily = daily.persist() if ctx.client is not None else daily.compute()
        cube, report = qc_mask(
            daily, threshold=cfg.qc_threshold, min_valid_fraction=cfg.min_valid_fraction
        )
        write_cube(cube, paths["site_cube"], overwrite=True)
        to_netcdf(report, paths["qc_report"], overwrite=True)
        ctx.note(
            f"      site cube {cube.sizes['site']} sites x {cube.sizes['time']} days; QC >= "
            f"{cfg.qc_threshold} kept {int(cube.nee.notnull().sum())} of "
            f"{int(daily.nee.notnull().sum())} daily NEE values"
        )
    cube = open_cube(paths["site_cube"]).load()

    # 2. model
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

    # 3. driver grid from the towers
    map_start = pd.Timestamp(cfg.map_start)
    first = map_start - pd.Timedelta(days=cfg.lookback - 1)
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
        )
        write_grid(grid, paths["drivers"], overwrite=True)
        ctx.note(
            f"[3/6] demo driver grid {grid.sizes['lat']} x {grid.sizes['lon']} cells of "
            f"{cfg.grid_resolution:g} deg x {grid.sizes['time']} days: inverse-distance-weighted "
            f"drivers of {', '.join(cfg.grid_sites)} (see the grid's 'description' attribute)"
        )
    drivers = open_grid(paths["drivers"])
    igbp = drivers["igbp"].load()

    # 4. map
    if not ctx.done(paths["nee_map"]):
        ctx.note(
            f"[4/6] upscaling {cfg.map_start}..{cfg.map_end} "
            f"({drivers.sizes['lat'] * drivers.sizes['lon']} cells)"
        )
        upscale_to_map(
            paths["run"],
            drivers,
            paths["nee_map"],
            overwrite=True,
            igbp=igbp,
            period=(cfg.map_start, cfg.map_end),
            device=cfg.device,
            progress=False,
            title="fluxgrid demo: daily NEE from an LSTM trained at five FLUXNET2015 towers",
        )
    maps = open_maps(paths["nee_map"])

    # 5. regional totals
    table = map_totals(maps, igbp)
    if not ctx.done(paths["regional_totals"]):
        totals_to_csv(table, paths["regional_totals"], overwrite=True)
    sink = table["sink"].to_pandas()
    ctx.note("[5/6] regional sink (TgC yr-1, positive = uptake):")
    for region, row in sink.iterrows():
        years = ", ".join(f"{y}: {v:7.2f}" for y, v in row.items())
        ctx.note(f"      {region:>4}  {years}")

    # 6. figures
    if not ctx.done(paths["nee_mean_annual_png"]):
        plot_mean_annual_nee(maps["nee"], path=paths["nee_mean_annual_png"], overwrite=True)
    if not ctx.done(paths["regional_sinks_png"]):
        plot_regional_totals(table, path=paths["regional_sinks_png"], overwrite=True)
    ctx.note("[6/6] figures written")
    return {name: str(path) for name, path in paths.items()}


def run_demo(output: str | os.PathLike = "demo_out") -> dict[str, str]:
    """Run the demo (all steps, existing outputs replaced) and print where the outputs are.

    Parameters
    ----------
    output
        Folder for the outputs (created).

    Returns
    -------
    dict
        ``{name: path}``: ``site_cube``, ``qc_report``, ``run``, ``drivers``, ``nee_map``,
        ``regional_totals``, ``nee_mean_annual_png``, ``regional_sinks_png``.
    """
    from .config import QuickstartConfig
    from .recipe import RecipeContext

    start = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    ctx = RecipeContext(output=out, client=None, overwrite=True)
    paths = run_quickstart(QuickstartConfig(), ctx)
    print(f"done in {time.perf_counter() - start:.0f} s; outputs:")
    for name, path in paths.items():
        print(f"    {name}: {path}")
    return paths
