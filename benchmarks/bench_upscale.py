"""Benchmark: blockwise upscaling (pixel-days per second, peak memory) against per-pixel loops.

An LSTM (hidden 64, look-back L = 75 days; inputs ta, sw_in, vpd, day of year, cell lat/lon
and the IGBP one-hot, i.e. every input the upscaling path builds for grid cells) is trained
on the CPU for a handful of batches on the bundled demo towers
(:func:`fluxgrid.testing.load_demo_cube`) into a temporary run directory. Inference speed
does not depend on how well the model fits, so the run is deliberately barely trained: the
figures below measure speed, not science.

Driver grid: a 0.25 degree block of ``--cells`` x ``--cells`` cells starting at 5 E, 45 N.
It is NOT gridded meteorology: cell ``k`` (row-major) carries the measured daily drivers of
demo tower ``k mod 5`` taken from whole-year offset ``(k div 5) mod Y`` of the 2007-2012
record (``Y`` offsets that fit), so there are ``5 Y`` distinct series, and the IGBP class
of that tower; the grid is generated lazily, chunk by chunk, with Dask.

1. **Speed.** :func:`fluxgrid.upscale.upscale` on the ``--days``-day grid (in memory,
   computed; the first L - 1 days have no complete window, so pixel-days = cells x
   (days - L + 1)), against the obvious approach measured in the same run on
   ``--naive-pixels`` cells spread over the grid: a Python loop over pixels, each selected
   with ``.isel(lat=i, lon=j)``, its windows built one by one and each sent through the
   same model (same scaling, :meth:`fluxgrid.runs.TrainedRun.batch_predictor`) as a batch
   of one; its pixel-days/s is extrapolated from the subset. A second reference, "per-pixel
   batch" (loop over pixels, all windows of one pixel stacked with a strided view and
   predicted in one call), shows how much of the gain is batching windows at all and how
   much is batching across pixels. Both references must give the blockwise numbers on the
   subset (``assert_allclose``, float32 tolerance) before any ratio is printed. On the CPU
   always; with ``--device auto`` (or ``cuda``) also on the GPU when one is present.
2. **Peak memory.** The same upscale streamed from a Zarr store to a NetCDF map
   (:func:`fluxgrid.upscale.upscale_to_map`) for the 1x grid and a grid 4x larger in cells
   (``2 --cells`` x ``2 --cells``) over ``--memory-days`` days, each in a fresh process
   (peak RSS sampled every 50 ms during the upscale, and the process's exact high-water
   mark ``VmHWM``; ``ru_maxrss`` is not used: Linux carries the parent's value into a
   spawned child), with ``--chunk-kb`` tiles per driver so that the 4x grid has about 4x
   the tiles. Memory bounded by the tile and the batch stays flat (the increment over the
   imports is mostly one model batch: LSTM activations of ``--batch-size`` windows x 75
   steps); the size the whole grid's drivers and map would take in memory is printed next
   to it. A grid truly larger than RAM is out of reach here (at about 10^4 pixel-days/s on
   one CPU core it would take hours); pass larger ``--cells`` / ``--memory-days`` on a GPU.

Both ways run with the same ``--threads`` torch threads (default 1: on a busy two-core
machine two OpenMP threads waited on each other at each of the 75 LSTM steps, about 1 s
per model call whatever the batch size; give the machine's cores when it is idle) and the
same ``--batch-size`` (default: the library's, 512 windows on the CPU, 32768 on CUDA).

Usage::

    python benchmarks/bench_upscale.py [--cells 32] [--days 439] [--naive-pixels 8]
        [--memory-days 135] [--chunk-kb 64] [--device auto] [--threads 1] [--workers 1]
        [--batch-size 512] [--skip-memory]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import tempfile
import time
from pathlib import Path

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import psutil
import torch
import xarray as xr
from _bench_common import PeakRSS

from fluxgrid.config import ExperimentConfig, from_dict
from fluxgrid.grids import IGBP_CLASSES, grid_chunk_plan, make_grid, open_grid, write_grid
from fluxgrid.runs import TrainedRun, load_run
from fluxgrid.tensors import resolve_device
from fluxgrid.testing import load_demo_cube
from fluxgrid.training import train_experiment
from fluxgrid.upscale import upscale, upscale_to_map

DRIVERS = ["ta", "sw_in", "vpd"]
LOOKBACK = 75
HIDDEN = 64
RES = 0.25
ORIGIN = (5.0, 45.0)  # lon, lat of the grid's south-west corner
CODES = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}


# --------------------------------------------------------------------------- the run
def train_run(path: Path, cube: xr.Dataset) -> Path:
    """A barely trained LSTM (hidden 64, L = 75) on the demo towers, on the CPU."""
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "drivers": DRIVERS, "period": ["2007-01-01", "2008-12-31"]},
            "split": {"method": "random_years", "test_fraction": 0.5, "seed": 0},
            "windows": {"lookback": LOOKBACK, "static": ["doy", "latlon", "igbp"]},
            "model": {"name": "lstm", "params": {"hidden": HIDDEN}},
            "train": {
                "epochs": 1,
                "max_batches_per_epoch": 4,
                "batch_size": 256,
                "device": "cpu",
                "seed": 0,
            },
        },
    )
    return train_experiment(cfg, output=path, cube=cube, progress=False)


# --------------------------------------------------------------------------- the grid
def _fill(block, series, n_lon, offsets, block_info=None):
    """One chunk ``(time, lat, lon)``: each cell's tower series from its year offset."""
    (t0, t1), (i0, i1), (j0, j1) = block_info[0]["array-location"]
    k = np.arange(i0, i1)[:, None] * n_lon + np.arange(j0, j1)[None, :]
    site = k % series.shape[0]
    start = offsets[(k // series.shape[0]) % offsets.size]
    t = np.arange(t0, t1)[:, None, None]
    return series[site[None], start[None] + t]


def driver_grid(
    cube: xr.Dataset, n_cells: int, days: int, chunk_bytes: int
) -> tuple[xr.Dataset, xr.DataArray]:
    """Lazy ``(time, lat, lon)`` drivers and the ``(lat, lon)`` IGBP codes of the stand-in grid."""
    n_site, n_total = cube.sizes["site"], cube.sizes["time"]
    if not LOOKBACK <= days <= n_total:
        raise SystemExit(f"--days/--memory-days must be in [{LOOKBACK}, {n_total}], got {days}")
    offsets = 365 * np.arange((n_total - days) // 365 + 1)
    g = make_grid(RES, bbox=(*ORIGIN, ORIGIN[0] + n_cells * RES, ORIGIN[1] + n_cells * RES))
    coords = {"time": cube.time.values[:days], "lat": g.lat, "lon": g.lon}
    template = xr.Dataset(
        {"ta": (("time", "lat", "lon"), dsa.zeros((days, n_cells, n_cells), dtype="float32"))},
        coords=coords,
    )
    plan = grid_chunk_plan(template, target_bytes=chunk_bytes, layout="inference")
    chunks = (plan["time"], plan["lat"], plan["lon"])
    data = {}
    for v in DRIVERS:
        series = cube[v].transpose("site", "time").values.astype("float32")
        lazy = dsa.map_blocks(
            _fill,
            dsa.zeros((days, n_cells, n_cells), chunks=chunks, dtype="float32"),
            series=series,
            n_lon=n_cells,
            offsets=offsets,
            dtype="float32",
        )
        data[v] = (("time", "lat", "lon"), lazy, {"units": cube[v].attrs["units"]})
    k = np.arange(n_cells * n_cells).reshape(n_cells, n_cells)
    site_codes = np.array([CODES[c] for c in cube.igbp.values.astype(str)], dtype="int16")
    igbp = xr.DataArray(
        site_codes[k % n_site], dims=("lat", "lon"), coords={"lat": g.lat, "lon": g.lon}
    )
    ds = xr.Dataset(
        data,
        coords=coords,
        attrs={
            "title": "benchmark stand-in driver grid (NOT gridded meteorology)",
            "description": (
                f"cell k (row-major) carries the measured daily drivers of demo tower k mod "
                f"{n_site} from whole-year offset (k div {n_site}) mod {offsets.size} of the "
                "2007-2012 record, and that tower's IGBP class"
            ),
            "source": "fluxgrid.testing.load_demo_cube (FLUXNET2015, CC-BY-4.0)",
        },
    )
    return ds, igbp


# --------------------------------------------------------------------------- the references
def _features(
    run: TrainedRun, series: dict, times: pd.DatetimeIndex, lat: float, lon: float, cls: str
) -> np.ndarray:
    """``(time, feature)`` inputs at ``times`` in the model's order (raw units)."""
    angle = (
        2 * np.pi * (times.day_of_year.values - 0.5) / np.where(times.is_leap_year, 366.0, 365.0)
    )
    n = times.size
    cols = []
    for name in run.features:
        if name in DRIVERS:
            cols.append(series[name])
        elif name == "doy_sin":
            cols.append(np.sin(angle))
        elif name == "doy_cos":
            cols.append(np.cos(angle))
        elif name == "site_lat":
            cols.append(np.full(n, lat))
        elif name == "site_lon":
            cols.append(np.full(n, lon))
        else:
            cols.append(np.full(n, float(name == f"igbp_{cls}")))
    return np.stack(cols, axis=-1).astype(np.float32)


def _pixel_features(run: TrainedRun, pix: xr.Dataset, code: int) -> np.ndarray:
    """``(time, feature)`` inputs of one pixel's whole record."""
    cls = IGBP_CLASSES.get(int(code), ("", ""))[0]
    series = {v: pix[v].values for v in DRIVERS}
    times = pd.DatetimeIndex(pix.time.values)
    return _features(run, series, times, float(pix.lat), float(pix.lon), cls)


def _per_pixel(drivers, igbp, pixels, predict_pixel) -> tuple[np.ndarray, float]:
    """Loop over pixels (each selected with ``.isel``); their predictions and the seconds.

    ``predict_pixel(pix, code, out)`` fills ``out`` ``(time,)`` for one pixel.
    """
    out = np.full((len(pixels), drivers.sizes["time"]), np.nan, dtype=np.float32)
    start = time.perf_counter()
    with torch.no_grad():
        for p, (i, j) in enumerate(pixels):
            predict_pixel(drivers.isel(lat=i, lon=j), int(igbp.values[i, j]), out[p])
    return out, time.perf_counter() - start


def naive_per_window(run, drivers, igbp, pixels, device) -> tuple[np.ndarray, float]:
    """The obvious way: loop over pixels (``.isel``), then over windows, one model call each.

    Each window's inputs are built from its own slice (day of year included), as a
    per-window loop would.
    """
    f = run.batch_predictor(str(device))

    def predict(pix: xr.Dataset, code: int, out: np.ndarray) -> None:
        cls = IGBP_CLASSES.get(code, ("", ""))[0]
        series = {v: pix[v].values for v in DRIVERS}
        times = pd.DatetimeIndex(pix.time.values)
        lat, lon = float(pix.lat), float(pix.lon)
        for end in range(LOOKBACK - 1, times.size):
            win = slice(end - LOOKBACK + 1, end + 1)
            window = {v: x[win] for v, x in series.items()}
            x = _features(run, window, times[win], lat, lon, cls)
            if np.isnan(x).any():
                continue
            out[end] = float(f(torch.from_numpy(x[None]).to(device))[0])

    return _per_pixel(drivers, igbp, pixels, predict)


def naive_per_pixel_batch(run, drivers, igbp, pixels, device, batch) -> tuple[np.ndarray, float]:
    """Loop over pixels; all windows of one pixel as a strided view, one model call each."""
    f = run.batch_predictor(str(device))

    def predict(pix: xr.Dataset, code: int, out: np.ndarray) -> None:
        feats = _pixel_features(run, pix, code)
        windows = np.lib.stride_tricks.sliding_window_view(feats, LOOKBACK, axis=0)
        windows = np.ascontiguousarray(windows.transpose(0, 2, 1))  # (window, L, feature)
        ok = ~np.isnan(windows).any(axis=(1, 2))
        ends = np.flatnonzero(ok) + LOOKBACK - 1
        xs = torch.from_numpy(windows[ok])
        for b in range(0, len(xs), batch):
            out[ends[b : b + batch]] = f(xs[b : b + batch].to(device)).float().cpu().numpy()

    return _per_pixel(drivers, igbp, pixels, predict)


# --------------------------------------------------------------------------- memory cases
def _hwm() -> int | None:
    """Peak resident memory of this process (``VmHWM``, bytes); ``None`` off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f}"


def memory_case(
    store: str, run_dir: str, out: str, device: str, threads: int, workers: int, chunk: int, batch
) -> dict:
    """In a fresh process: stream ``store`` -> NetCDF map; seconds and memory."""
    torch.set_num_threads(threads)
    proc = psutil.Process()
    run = load_run(run_dir, device="cpu")
    drivers = open_grid(store)
    tiles = len(drivers.ta.chunks[1]) * len(drivers.ta.chunks[2])
    base = proc.memory_info().rss
    hwm_before = _hwm()
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    with PeakRSS() as mem, dask.config.set(scheduler="threads", num_workers=workers):
        start = time.perf_counter()
        upscale_to_map(
            run,
            drivers,
            out,
            device=device,
            torch_threads=threads,
            batch_size=batch,
            chunk_bytes=chunk,
            progress=False,
        )
        seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "peak": mem.peak,
        "base": base,
        "hwm": _hwm(),
        "hwm_before": hwm_before,
        "tiles": tiles,
        "tile": (drivers.ta.chunks[1][0], drivers.ta.chunks[2][0]),
        "gpu_peak": torch.cuda.max_memory_allocated() if dev.type == "cuda" else 0,
        "file": Path(out).stat().st_size,
    }


def run_memory_case(*args) -> dict:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(memory_case, *args).result()


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=32, help="grid side (cells) of the 1x grid")
    parser.add_argument("--days", type=int, default=LOOKBACK - 1 + 365, help="speed grid days")
    parser.add_argument("--naive-pixels", type=int, default=8)
    parser.add_argument("--memory-days", type=int, default=LOOKBACK - 1 + 61)
    parser.add_argument("--chunk-kb", type=int, default=64, help="tile KiB per driver (memory)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:n]")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--workers", type=int, default=1, help="Dask threads (tiles at once)")
    parser.add_argument("--batch-size", type=int, default=None, help="windows per model call")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_upscale_") as tmp:
        bench(args, Path(tmp))


def bench(args: argparse.Namespace, tmp: Path) -> None:
    """Run the benchmark with its files under ``tmp``."""
    torch.set_num_threads(args.threads)
    gpu = resolve_device(args.device)
    devices = [torch.device("cpu")] + ([gpu] if gpu.type == "cuda" else [])
    cube = load_demo_cube()
    start = time.perf_counter()
    run_dir = train_run(tmp / "run", cube)
    run = load_run(run_dir, device="cpu")
    print(
        f"run: LSTM hidden {HIDDEN}, L={LOOKBACK}, inputs {run.features} "
        f"({len(run.features)}); trained 1 epoch x 4 batches on the CPU in "
        f"{time.perf_counter() - start:.1f} s (speed only: the fit is irrelevant here)"
    )

    n = args.cells
    lazy, igbp = driver_grid(cube, n, args.days, 16 * 2**20)
    drivers = lazy.compute()
    mapped = args.days - LOOKBACK + 1
    print(
        f"grid: {n} x {n} cells at {RES} deg x {args.days} days "
        f"({pd.Timestamp(drivers.time.values[0]).date()}..."
        f"{pd.Timestamp(drivers.time.values[-1]).date()}); {mapped} mapped days per cell "
        f"-> {n * n * mapped:,} pixel-days; drivers {drivers.nbytes / 2**20:.1f} MiB; "
        "values: replicated demo-tower drivers (see docstring), not gridded meteorology"
    )
    rows, maps = speed(args, run, drivers, igbp, devices, n * n * mapped)
    naive(args, run, drivers, igbp, rows, maps, mapped)
    for dev in devices[1:]:
        diff = float(np.nanmax(np.abs(maps[str(dev)] - maps["cpu"])))
        print(f"  {dev} map vs cpu map: max |difference| {diff:.2e} gC m-2 d-1 (cuDNN, TF32)")
    if gpu.type != "cuda":
        print(f"GPU: none here (--device {args.device} resolved to {gpu}); no GPU figure")
    if not args.skip_memory:
        memory(args, cube, run_dir, gpu, tmp)


def speed(args, run, drivers, igbp, devices, pixel_days) -> tuple[dict, dict]:
    """1. fluxgrid's upscale on each device: pixel-days/s and the maps."""
    rows, maps = {}, {}
    for dev in devices:
        with PeakRSS() as mem, dask.config.set(scheduler="threads", num_workers=args.workers):
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            t0 = time.perf_counter()
            out = upscale(
                drivers,
                run,
                igbp=igbp,
                device=str(dev),
                batch_size=args.batch_size,
                torch_threads=args.threads,
            )
            seconds = time.perf_counter() - t0
        values = out[run.inputs["target"]].values
        got = int(np.isfinite(values).sum())
        if got != pixel_days:
            raise SystemExit(f"expected {pixel_days} predicted pixel-days, got {got}")
        extra = ""
        if dev.type == "cuda":
            extra = (
                f", {torch.cuda.get_device_name(dev)}, peak GPU memory "
                f"{torch.cuda.max_memory_allocated(dev) / 2**30:.2f} GiB"
            )
        rows[str(dev)] = pixel_days / seconds
        maps[str(dev)] = values
        print(
            f"fluxgrid upscale on {dev} (torch threads {torch.get_num_threads()}{extra}): "
            f"{seconds:.1f} s = {pixel_days / seconds:,.0f} pixel-days/s; "
            f"peak RSS {mem.peak / 2**30:.2f} GiB"
        )
    return rows, maps


def naive(args, run, drivers, igbp, rows, maps, mapped) -> None:
    """The two per-pixel references on a subset: same numbers first, then the ratios."""
    n = drivers.sizes["lat"]
    cells = n * drivers.sizes["lon"]
    k = np.linspace(0, cells - 1, max(1, args.naive_pixels)).round().astype(int)
    shape = (n, drivers.sizes["lon"])
    pixels = [(int(a), int(b)) for a, b in zip(*np.unravel_index(k, shape), strict=True)]
    cpu = torch.device("cpu")
    fast_sub = np.stack([maps["cpu"][:, i, j] for i, j in pixels])
    slow, t_slow = naive_per_window(run, drivers, igbp, pixels, cpu)
    batch = args.batch_size or 512  # the library's CPU default; these loops run on the CPU
    mid, t_mid = naive_per_pixel_batch(run, drivers, igbp, pixels, cpu, batch)
    for name, ref in (("per-window loop", slow), ("per-pixel batch", mid)):
        np.testing.assert_array_equal(np.isnan(ref), np.isnan(fast_sub), err_msg=name)
        np.testing.assert_allclose(ref, fast_sub, rtol=1e-4, atol=1e-4, err_msg=name)
    sub_days = len(pixels) * mapped
    per_window = sub_days / t_slow
    per_pixel = sub_days / t_mid
    print(
        f"naive on cpu, {len(pixels)} pixels x {mapped} days = {sub_days:,} pixel-days "
        "(same numbers as fluxgrid on these pixels: checked, rtol 1e-4):\n"
        f"  per-pixel .isel + per-window loop, batch of 1 : {t_slow:8.1f} s = "
        f"{per_window:10,.0f} pixel-days/s (extrapolated: {cells * mapped / per_window:,.0f} s "
        "for the grid)\n"
        f"  per-pixel .isel + one batch per pixel          : {t_mid:8.1f} s = "
        f"{per_pixel:10,.0f} pixel-days/s"
    )
    for dev, rate in rows.items():
        print(
            f"  ratio fluxgrid ({dev}) / per-window loop (cpu)  : {rate / per_window:10,.0f} x\n"
            f"  ratio fluxgrid ({dev}) / per-pixel batch (cpu)  : {rate / per_pixel:10,.1f} x"
        )


def memory(args, cube, run_dir, gpu, tmp) -> None:
    """2. peak memory of the 1x and 4x grids streamed Zarr -> NetCDF, fresh processes."""
    n = args.cells
    chunk = args.chunk_kb * 1024
    results = {}
    for label, side in (("1x", n), ("4x", 2 * n)):
        grid, codes = driver_grid(cube, side, args.memory_days, chunk)
        store = write_grid(
            grid.assign(igbp=codes), tmp / f"drivers_{label}.zarr", target_bytes=chunk
        )
        res = run_memory_case(
            str(store),
            str(run_dir),
            str(tmp / f"map_{label}.nc"),
            str(gpu),
            args.threads,
            args.workers,
            chunk,
            args.batch_size,
        )
        res["cells"] = side * side
        res["whole"] = grid.nbytes + grid.ta.nbytes  # drivers + a float32 map
        results[label] = res
    mapped_m = args.memory_days - LOOKBACK + 1
    print(
        f"peak memory, Zarr store -> upscale_to_map -> NetCDF, {args.memory_days} days "
        f"({mapped_m} mapped), tiles of {args.chunk_kb} KiB per driver, device {gpu}, "
        f"{args.workers} Dask thread(s), each in a fresh process:"
    )
    for label, res in results.items():
        pd_m = res["cells"] * mapped_m
        gpu_txt = f", peak GPU {res['gpu_peak'] / 2**20:.0f} MiB" if res["gpu_peak"] else ""
        print(
            f"  {label}: {res['cells']:6,} cells, {res['tiles']:4} tiles of {res['tile'][0]} x "
            f"{res['tile'][1]} cells; whole grid drivers+map {res['whole'] / 2**20:6.1f} MiB; "
            f"{res['seconds']:6.1f} s = {pd_m / res['seconds']:8,.0f} pixel-days/s; "
            f"peak RSS {res['peak'] / 2**20:6.0f} MiB (+{(res['peak'] - res['base']) / 2**20:.0f} "
            f"MiB over the {res['base'] / 2**20:.0f} MiB after imports), VmHWM "
            f"{_mib(res['hwm_before'])} -> {_mib(res['hwm'])} MiB{gpu_txt}"
        )
    a, b = results["1x"], results["4x"]
    print(
        f"  4x / 1x: cells x{b['cells'] / a['cells']:.0f}, whole-grid size "
        f"x{b['whole'] / a['whole']:.1f}, peak RSS x{b['peak'] / a['peak']:.2f} "
        f"(increment over imports x{(b['peak'] - b['base']) / max(1, a['peak'] - a['base']):.2f})"
    )


if __name__ == "__main__":
    main()
