"""Benchmark: half-hourly -> daily for all 204 sites of hh.zarr, against naive xarray resample.

Prints absolute figures (seconds, site-days per second, peak memory) for fluxgrid's vectorised
``to_daily`` (all variables + QC fractions, local standard-time days) and the ratio against
``ds.resample(time="1D").mean()`` measured in the same run on a subset of sites, loaded into
memory first (its most favourable form; on the lazy Dask-backed store the same call did not
finish within 600 s for 2 sites). The naive call also skips what fluxgrid does: local days,
QC fractions, unit conversion.

Usage::

    python benchmarks/bench_resample.py [--hh ../shared/data/fluxnet2015/hh.zarr] [--naive-sites 8]
"""

from __future__ import annotations

import argparse
import resource
import time

import dask
import xarray as xr
from _bench_common import PeakRSS, shared_data_option

from fluxgrid.io.fluxnet_zarr import open_fluxnet_zarr
from fluxgrid.prep.resample import to_daily


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared_data_option(parser, "--hh", "fluxnet2015/hh.zarr")
    parser.add_argument("--naive-sites", type=int, default=4)
    args = parser.parse_args()

    with PeakRSS() as mem:
        start = time.perf_counter()
        hh = open_fluxnet_zarr(args.hh)
        opened = time.perf_counter() - start
        daily = to_daily(hh)
        with dask.config.set(scheduler="threads"):
            daily = daily.compute()
        ours = time.perf_counter() - start
    n_site, n_day = daily.sizes["site"], daily.sizes["time"]
    n_vars = sum(not v.endswith("_qc") for v in daily.data_vars)
    n_qc = len(daily.data_vars) - n_vars
    print("fluxgrid to_daily, all sites of hh.zarr")
    print(f"  sites x days        : {n_site} x {n_day} ({n_vars} variables + {n_qc} QC fractions)")
    print(f"  wall time           : {ours:.1f} s (open + offsets {opened:.1f} s)")
    print(f"  throughput          : {n_site * n_day / ours / 1e3:.0f} k site-days/s")
    print(
        f"  peak memory (RSS)   : {mem.peak / 2**30:.2f} GiB "
        f"(max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB)"
    )
    del daily, hh

    sites = list(xr.open_zarr(args.hh).site.values[: args.naive_sites])
    start = time.perf_counter()
    ours_subset = to_daily(open_fluxnet_zarr(args.hh, sites=sites)).compute()
    ours_sub = time.perf_counter() - start
    start = time.perf_counter()
    subset = xr.open_zarr(args.hh).sel(site=sites).load()
    naive = subset.resample(time="1D").mean()
    naive_t = time.perf_counter() - start
    print(
        f"naive ds.load().resample(time='1D').mean() on {len(sites)} sites "
        "(UTC days, no QC fraction)"
    )
    print(f"  wall time           : {naive_t:.1f} s ({naive_t / len(sites):.2f} s per site)")
    print(f"  fluxgrid same sites : {ours_sub:.1f} s ({ours_sub / len(sites):.2f} s per site)")
    print(f"  speed-up, same sites: {naive_t / ours_sub:.1f}x")
    print(
        f"  speed-up per site vs fluxgrid all-sites run: "
        f"{(naive_t / len(sites)) / (ours / n_site):.1f}x"
    )
    assert naive.sizes["time"] > 0 and ours_subset.sizes["time"] > 0


if __name__ == "__main__":
    main()
