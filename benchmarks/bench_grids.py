"""Benchmark: conservative regridding and regional totals against the obvious loops.

Conservative regridding (``fluxgrid.grids.regrid``: separable sphere-overlap weights, two
tensor contractions) of a 0.25 degree daily field over Europe onto 1 degree, against the
obvious approach measured in the same run: a Python loop over target cells, each selecting
its source block with ``.sel`` and averaging with cos(lat) area weights. Regional totals
(``fluxgrid.regions.regional_totals``: one weighted contraction for all regions) against a
loop over regions with ``.where(mask)`` and a weighted sum per region. Both pairs are
checked to agree before timing is reported.

The field is a smooth synthetic pattern: this measures speed, not science.

Usage::

    python benchmarks/bench_grids.py [--days 60] [--regions 12] [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
import xarray as xr

from fluxgrid.grids import make_grid, regrid
from fluxgrid.regions import cell_area, regional_totals


def _field(days: int) -> xr.DataArray:
    src = make_grid(0.25, bbox=(-10, 35, 30, 70))
    time_ = pd.date_range("2010-01-01", periods=days, freq="D")
    lat = src.lat.values[:, None]
    lon = src.lon.values[None, :]
    phase = np.arange(days)[:, None, None] / 365.0
    values = np.sin(np.radians(lat))[None] + 0.01 * lon[None] + np.cos(2 * np.pi * phase)
    return xr.DataArray(
        values.astype("float32"),
        coords={"time": time_, "lat": src.lat, "lon": src.lon},
        dims=("time", "lat", "lon"),
        name="nee",
        attrs={"units": "gC m-2 d-1"},
    )


def naive_regrid(field: xr.DataArray, target: xr.Dataset) -> np.ndarray:
    out = np.full((field.sizes["time"], target.sizes["lat"], target.sizes["lon"]), np.nan)
    lat_b, lon_b = target.lat_bnds.values, target.lon_bnds.values
    for i, (la0, la1) in enumerate(lat_b):
        for j, (lo0, lo1) in enumerate(lon_b):
            block = field.sel(lat=slice(la0, la1), lon=slice(lo0, lo1))
            w = np.cos(np.radians(block.lat.values))[:, None] * np.ones(block.sizes["lon"])
            out[:, i, j] = (block.values * w).sum(axis=(1, 2)) / w.sum()
    return out


def naive_totals(field: xr.DataArray, ids: xr.DataArray, n_regions: int) -> np.ndarray:
    area = cell_area(field)
    out = []
    for r in range(n_regions):
        masked = field.where(ids == r)
        per_year = (masked * area).sum(["lat", "lon"]).groupby("time.year").sum()
        out.append(per_year.values / 1e12)
    return np.array(out)


def timed(func, repeat: int):
    best, result = np.inf, None
    tracemalloc.start()
    for _ in range(repeat):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--regions", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    field = _field(args.days)
    target = make_grid(1.0, bbox=(-10, 35, 30, 70))
    cells = field.sizes["lat"] * field.sizes["lon"]
    print(
        f"field: {args.days} days x {field.sizes['lat']} x {field.sizes['lon']} "
        f"(0.25 deg, {cells * args.days / 1e6:.1f} M cell-days) -> 1 deg "
        f"({target.sizes['lat']} x {target.sizes['lon']})"
    )
    t_fast, m_fast, fast = timed(
        lambda: regrid(field, target, method="conservative").values, args.repeat
    )
    t_slow, m_slow, slow = timed(lambda: naive_regrid(field, target), 1)
    # the naive cos(lat) midpoint weights differ from exact sin(lat) overlaps by < 1e-4
    np.testing.assert_allclose(fast, slow, rtol=1e-3, atol=1e-4)
    print(
        f"conservative regrid: fluxgrid {t_fast:.3f} s ({cells * args.days / t_fast / 1e6:.1f} M "
        f"cell-days/s, peak {m_fast / 2**20:.0f} MiB traced) | loop over target cells "
        f"{t_slow:.3f} s (peak {m_slow / 2**20:.0f} MiB) | speed-up x{t_slow / t_fast:.0f}"
    )

    rng = np.random.default_rng(0)
    ids = xr.DataArray(
        rng.integers(0, args.regions, size=(field.sizes["lat"], field.sizes["lon"])),
        coords={"lat": field.lat, "lon": field.lon},
        dims=("lat", "lon"),
    )
    names = {r: f"r{r}" for r in range(args.regions)}
    t_fast, m_fast, table = timed(
        lambda: regional_totals(field, ids, names=names, full_years=False).total.values,
        args.repeat,
    )
    t_slow, m_slow, slow = timed(lambda: naive_totals(field, ids, args.regions), 1)
    np.testing.assert_allclose(table, slow, rtol=1e-4)
    print(
        f"regional totals ({args.regions} regions): fluxgrid {t_fast:.3f} s (peak "
        f"{m_fast / 2**20:.0f} MiB traced) | loop over regions {t_slow:.3f} s (peak "
        f"{m_slow / 2**20:.0f} MiB) | speed-up x{t_slow / t_fast:.1f}"
    )


if __name__ == "__main__":
    main()
