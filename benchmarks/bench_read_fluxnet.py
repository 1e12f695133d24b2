"""Benchmark: read all 206 FLUXNET2015 monthly CSVs into one site cube, against a naive reader.

Prints absolute figures (seconds, files and rows per second, peak resident memory) for
``fluxgrid.read_fluxnet`` on the folder ``../shared/data/fluxnet2015/mm`` and the ratio against
the obvious approach measured in the same run: ``pd.read_csv`` of every column with type
inference, ``datetime.strptime`` per row, renaming column by column, one ``xr.Dataset`` per
site and ``xr.concat(..., join="outer")`` (it also skips what fluxgrid does: alias ranking, QC
pairing, timestamp checks, CF attributes, site metadata).

Usage::

    python benchmarks/bench_read_fluxnet.py [--mm ../shared/data/fluxnet2015/mm] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from _bench_common import PeakRSS, shared_data_option

from fluxgrid import catalog
from fluxgrid.io.fluxnet import read_fluxnet
from fluxgrid.io.metadata import read_site_metadata


def naive_read(folder: Path) -> xr.Dataset:
    """The obvious reader: per-row timestamp parsing, one Dataset per site, outer concat."""
    cubes = []
    for path in sorted(folder.glob("FLX_*.csv")):
        frame = pd.read_csv(path)
        frame = frame.replace(-9999, np.nan)
        times = [dt.datetime.strptime(str(v), "%Y%m") for v in frame["TIMESTAMP"]]
        data = {}
        for col in frame.columns:
            name = catalog.resolve_column(col)
            if name is not None and name not in data:
                data[name] = ("time", frame[col].to_numpy(dtype="float32"))
        site = path.name.split("_")[1]
        cubes.append(xr.Dataset(data, coords={"time": times}).expand_dims(site=[site]))
    return xr.concat(cubes, dim="site", join="outer")


def timed(func, repeat: int):
    best, result = float("inf"), None
    with PeakRSS() as mem:
        base = mem.peak
        for _ in range(repeat):
            start = time.perf_counter()
            result = func()
            best = min(best, time.perf_counter() - start)
    return best, result, (mem.peak - base) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared_data_option(parser, "--mm", "fluxnet2015/mm")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = Path(args.mm)
    files = sorted(folder.glob("FLX_*.csv"))
    rows = sum(sum(1 for _ in open(f)) - 1 for f in files)

    # the bundled site list lacks 5 of the sites; give them coordinates for the benchmark
    meta = read_site_metadata()
    ids = [f.name.split("_")[1] for f in files]
    extra = [s for s in ids if s not in meta.index]
    meta = pd.concat([meta, pd.DataFrame(index=pd.Index(extra, name="site_id"))])
    meta.loc[extra, ["latitude", "longitude"]] = 0.0
    meta["igbp"] = meta["igbp"].fillna("")
    meta["site_name"] = meta["site_name"].fillna("")

    fast_s, cube, fast_mb = timed(lambda: read_fluxnet(folder, metadata=meta), args.repeat)
    naive_s, naive, naive_mb = timed(lambda: naive_read(folder), args.repeat)
    same = np.allclose(
        cube.ta.sel(site=naive.site, time=naive.time).values, naive.ta.values, equal_nan=True
    )
    print(f"files: {len(files)}, data rows: {rows}, cube {dict(cube.sizes)}")
    print(
        f"fluxgrid.read_fluxnet: {fast_s:.2f} s (best of {args.repeat}), "
        f"{len(files) / fast_s:.0f} files/s, {rows / fast_s:,.0f} rows/s, "
        f"peak RSS growth {fast_mb:.0f} MiB"
    )
    print(
        f"naive per-file reader: {naive_s:.2f} s, {len(files) / naive_s:.0f} files/s, "
        f"peak RSS growth {naive_mb:.0f} MiB"
    )
    print(f"speed-up: {naive_s / fast_s:.1f}x; same ta values as the naive reader: {same}")


if __name__ == "__main__":
    main()
