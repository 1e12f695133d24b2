"""Benchmark: remote-sensing stage (clear-sky radiation; Sentinel-2 pipeline at towers).

1. Daily clear-sky shortwave for the 204 FLUXNET2015 sites of hh.zarr x 24 years of days
   (1991-2014, 30-min integration, Ineichen-Perez): fluxgrid's vectorised
   ``clearsky_daily`` (geocentric SPA once per UTC instant, topocentric part and the model
   for all sites at once, Dask blocks of days) against the obvious per-site loop over
   ``pvlib.location.Location.get_clearsky`` + daily means, measured in the same run on a
   subset of sites and scaled to 204 (the loop's cost is the same for every site); the
   values of the subset are compared too.
2. Sentinel-2 pipeline on the offline fixture (real L2A layout: 13 COGs per date, granule
   metadata, SCL) for one site-year at a 5-day revisit: seconds per site-year and peak
   memory of ``s2_footprint`` (mask, NBAR, 1 km footprint) + indices, and of ``add_s2``
   (244 indices, PCA, join); against the obvious lazy approach (odc-stac lazy load of
   all bands, per-pixel xarray masking/scaling, footprint mean) in the same run; and Dask
   task counts of both graphs for 1, 4 and 24 years of acquisitions.

Usage::

    python benchmarks/bench_rs.py [--years 24] [--loop-sites 6] [--s2-dates 73]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _bench_common import PeakRSS, shared_data_option


def bench_clearsky(hh: Path, years: int, loop_sites: int) -> None:
    import pvlib

    from fluxgrid.io.fluxnet_zarr import open_fluxnet_zarr
    from fluxgrid.rs.radiation import clearsky_daily

    coords = open_fluxnet_zarr(hh)[["latitude", "longitude", "elevation", "utc_offset"]]
    lat = coords.latitude.values
    lon = coords.longitude.values
    elev = np.nan_to_num(coords.elevation.values, nan=0.0)
    off = coords.utc_offset.values
    days = pd.date_range("1991-01-01", f"{1990 + years}-12-31", freq="D")
    n_sites = len(lat)
    print(f"clear-sky: {n_sites} sites x {len(days)} days ({years} years), 30-min steps, ineichen")

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        vec = clearsky_daily(lat, lon, elev, off, days, site=coords.site.values)
        t_vec = time.perf_counter() - t0
    print(f"  vectorised clearsky_daily : {t_vec:8.1f} s  peak +{mem.mib:6.0f} MiB")

    # the obvious loop: one pvlib Location per site, 30-min times of the local days, daily mean
    pick = np.linspace(0, n_sites - 1, loop_sites).astype(int)
    t0 = time.perf_counter()
    diffs = []
    for i in pick:
        loc = pvlib.location.Location(lat[i], lon[i], tz="UTC", altitude=elev[i])
        local = pd.date_range(days[0], periods=len(days) * 48, freq="30min") + pd.Timedelta("15min")
        times = (local - pd.Timedelta(hours=float(off[i]))).tz_localize("UTC")
        ghi = loc.get_clearsky(times, model="ineichen")["ghi"].to_numpy()
        daily = ghi.reshape(len(days), 48).mean(axis=1)
        diffs.append(np.abs(daily - vec.sw_clearsky.values[i]).max())
    t_loop = time.perf_counter() - t0
    per_site = t_loop / len(pick)
    print(
        f"  per-site pvlib loop       : {t_loop:8.1f} s for {len(pick)} sites "
        f"({per_site:.2f} s/site) -> {per_site * n_sites:8.1f} s for {n_sites} sites (scaled)"
    )
    print(
        f"  ratio loop/vectorised     : {per_site * n_sites / t_vec:8.1f} x   "
        f"max |difference| on the looped sites: {max(diffs):.2e} W m-2"
    )
    print(f"  throughput                : {n_sites * len(days) / t_vec / 1e3:8.1f} k site-days/s")


def _replicate(items, years: int):
    """Items shifted by whole years (graph construction only, no pixels read)."""
    out = []
    for k in range(years):
        for item in items:
            clone = item.clone()
            clone.id = f"{item.id}-y{k}"
            clone.datetime = item.datetime + dt.timedelta(days=365 * k)
            out.append(clone)
    return out


def bench_s2(n_dates: int, folder: Path) -> None:
    import dask

    from fluxgrid.rs.config import S2Config
    from fluxgrid.rs.geometry import tower_distance
    from fluxgrid.rs.s2_metadata import EARTH_SEARCH_NAMES
    from fluxgrid.rs.sentinel2 import add_s2, s2_footprint, s2_indices
    from fluxgrid.rs.stac import search_items
    from fluxgrid.rs.stac_load import load_site_cube
    from fluxgrid.rs.testing import write_s2_catalog
    from fluxgrid.testing import load_demo_cube

    site, lat, lon = "DE-Hai", 51.0792, 10.453
    dates = pd.date_range("2021-01-03", periods=n_dates, freq="5D")
    rng = np.random.default_rng(0)
    conditions = rng.choice(
        ["clear", "clear", "clear", "cloud_patch", "cloudy", "snow", "shadow"], size=n_dates
    ).tolist()
    t0 = time.perf_counter()
    pc = write_s2_catalog(folder / "pc", {site: (lat, lon)}, dates, conditions=conditions)
    es = write_s2_catalog(
        folder / "es",
        {site: (lat, lon)},
        dates[:73],
        conditions=conditions[:73],
        layout="earth_search",
    )
    print(
        f"\nSentinel-2: {n_dates} acquisitions of one site (5-day revisit, "
        f"{n_dates / 73:.1f} site-years), fixture written in {time.perf_counter() - t0:.1f} s"
    )
    cfg = S2Config(max_cloud_cover=100)
    items = search_items(pc, lat, lon, collections="sentinel-2-l2a", start="2021", end="2031")
    site_years = len(items) / 73.0

    s2_indices(s2_footprint(items[:1], lat, lon, config=cfg).compute(), cfg)  # warm-up
    with PeakRSS() as mem, dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        fp = s2_footprint(items, lat, lon, config=cfg, site=site).compute()
        t_ours = time.perf_counter() - t0
        t1 = time.perf_counter()
        fp["indices"] = s2_indices(fp, cfg)
        t_idx = time.perf_counter() - t1
    ok = int((fp.status == 0).sum())
    print(
        f"  s2_footprint (SCL mask, NBAR, 1 km mean): {t_ours:6.2f} s = "
        f"{t_ours / site_years:6.2f} s per site-year, peak +{mem.mib:5.0f} MiB ({ok} valid dates)"
    )
    print(f"  {fp.sizes['index']} spectral indices of the footprint means: {t_idx:6.3f} s")

    # the obvious way: lazy odc-stac cube of all bands, per-pixel xarray ops, footprint mean
    bands = [f"B{b:02d}" for b in (1, 2, 3, 4, 5, 6, 7, 8)] + ["B8A", "B09", "B11", "B12"]
    with PeakRSS() as mem, dask.config.set(scheduler="threads"):
        t0 = time.perf_counter()
        cube = load_site_cube(items, lat, lon, bands=[*bands, "SCL"], chunks={"time": 8})
        clear = ~cube.SCL.isin([0, 1, 3, 8, 9, 10, 11])
        inside = tower_distance(cube, lat, lon) <= 1000
        offset = xr_offsets(cube, items, lon)
        refl = (cube[bands].astype("float32") * 1e-4 + offset).where(clear & inside)
        naive = refl.mean(("y", "x")).compute()
        t_naive = time.perf_counter() - t0
    print(
        f"  naive lazy xarray (mask, scale, mean; no NBAR): {t_naive:6.2f} s = "
        f"{t_naive / site_years:6.2f} s per "
        f"site-year, peak +{mem.mib:5.0f} MiB; ratio naive/ours {t_naive / t_ours:5.2f} x"
    )
    # agreement of the two on valid dates (NBAR off for the comparison)
    raw = s2_footprint(items, lat, lon, config=S2Config(max_cloud_cover=100, nbar=False)).compute()
    good = raw.status.values == 0
    diff = np.nanmax(np.abs(raw.reflectance.sel(band="B04").values[good] - naive.B04.values[good]))
    print(f"  max |B04 difference| ours (NBAR off) vs naive on valid dates: {diff:.1e}")

    cube = load_demo_cube().isel(site=[2], time=slice(0, 1))
    cube = cube.reindex(time=pd.date_range(dates[0], dates[-1] + pd.Timedelta(days=1)))
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        out = add_s2(cube, footprints={site: fp}, config=cfg)
        t_join = time.perf_counter() - t0
    print(
        f"  add_s2 (PCA of {out.sizes['s2_index']} indices -> {out.sizes['s2_pc']} PCs, "
        f"join): {t_join:5.2f} s, peak +{mem.mib:5.0f} MiB"
    )

    es_items = search_items(es, lat, lon, collections="sentinel-2-l2a", start="2021", end="2031")
    print("  Dask tasks for long periods (Earth Search layout, items replicated by year):")
    print("     years   acquisitions   ours (s2_footprint)   naive lazy load of 13 bands only")
    for years in (1, 4, 24):
        rep = _replicate(es_items, years)
        ours = len(dict(s2_footprint(rep, lat, lon, config=cfg).__dask_graph__()))
        es_bands = [EARTH_SEARCH_NAMES[b] for b in (*bands, "SCL")]
        lazy = load_site_cube(rep, lat, lon, bands=es_bands, chunks={"time": 8})
        naive_tasks = len(dict(lazy.__dask_graph__()))
        print(f"     {years:5d}   {len(rep):12d}   {ours:19d}   {naive_tasks:32d}")


def xr_offsets(cube, items, lon):
    """Per-time BOA offset (-0.1 from baseline 04.00) for the naive approach."""
    import xarray as xr

    from fluxgrid.rs.items import items_by_solar_day, solar_day
    from fluxgrid.rs.s2_metadata import s2_scaling

    groups = items_by_solar_day(items, lon)
    days = solar_day(pd.DatetimeIndex(cube.time.values), lon)
    values = [s2_scaling(groups[(str(d),)][0], "B04")[1] for d in days]
    return xr.DataArray(values, dims="time", coords={"time": cube.time})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared_data_option(parser, "--hh", "fluxnet2015/hh.zarr")
    parser.add_argument("--years", type=int, default=24)
    parser.add_argument("--loop-sites", type=int, default=6)
    parser.add_argument("--s2-dates", type=int, default=73)
    parser.add_argument("--skip-clearsky", action="store_true")
    args = parser.parse_args()
    if not args.skip_clearsky:
        bench_clearsky(Path(args.hh), args.years, args.loop_sites)
    with tempfile.TemporaryDirectory() as tmp:
        bench_s2(args.s2_dates, Path(tmp))


if __name__ == "__main__":
    main()
