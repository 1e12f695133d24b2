"""Benchmark: training input pipeline and one full LSTM epoch over all sites of hh.zarr.

1. Input pipeline (windows per second fed to a model): fluxgrid's design (the scaled cube is
   one tensor, a batch is one advanced-indexing gather of windows) against a plain
   ``torch.utils.data.Dataset`` doing per-sample xarray selection (``ds.isel(site=s,
   time=slice(...))``) behind a ``DataLoader``; same windows, same batch size, same run.
2. One full training epoch of an LSTM (hidden 64, look-back 75 days, Adam, MSE) over every
   valid daily window of every site of hh.zarr (NEE with QC >= 0.7, drivers ta, sw_in, vpd
   plus day of year): seconds, windows per second, peak memory. On CPU here; on a GPU when
   one is present (``--device cuda``).

Usage::

    python benchmarks/bench_training.py [--hh ../shared/data/fluxnet2015/hh.zarr]
        [--naive-batches 20] [--device auto] [--threads 2] [--skip-epoch]
        [--epoch-batches N]
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from _bench_common import PeakRSS, shared_data_option

from fluxgrid.config import ExperimentConfig, from_dict
from fluxgrid.models import get_model
from fluxgrid.prep.pipeline import load_data
from fluxgrid.prep.splits import TRAIN
from fluxgrid.training import fit_torch, prepare_from_cube

LOOKBACK = 75
BATCH = 256


class NaiveWindows(torch.utils.data.Dataset):
    """The obvious approach: one xarray selection per sample."""

    def __init__(self, ds, names, target, site_idx, end_idx):
        self.ds, self.names, self.target = ds, names, target
        self.site_idx, self.end_idx = site_idx, end_idx

    def __len__(self):
        return len(self.site_idx)

    def __getitem__(self, i):
        s, e = int(self.site_idx[i]), int(self.end_idx[i])
        win = self.ds.isel(site=s, time=slice(e - LOOKBACK + 1, e + 1))
        x = np.stack([win[n].values for n in self.names], axis=-1).astype(np.float32)
        y = np.float32(self.ds[self.target].isel(site=s, time=e).values)
        return torch.from_numpy(x), torch.tensor(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared_data_option(parser, "--hh", "fluxnet2015/hh.zarr")
    parser.add_argument("--naive-batches", type=int, default=20)
    parser.add_argument("--fast-batches", type=int, default=400)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-epoch", action="store_true")
    parser.add_argument(
        "--epoch-batches",
        type=int,
        default=0,
        help="time only the first N batches of the epoch and extrapolate (0: the full epoch)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": args.hh, "drivers": ["ta", "sw_in", "vpd"], "target": "nee"},
            "split": {"method": "temporal", "validation": "none"},
            "windows": {"lookback": LOOKBACK, "static": ["doy"]},
            "model": {"name": "lstm", "params": {"hidden": 64}},
            "train": {"epochs": 1, "batch_size": BATCH, "device": args.device, "amp": True},
        },
    )
    t0 = time.perf_counter()
    with PeakRSS() as mem:
        cube, _ = load_data(cfg.data)
        t_load = time.perf_counter() - t0
        t1 = time.perf_counter()
        prepared = prepare_from_cube(cfg, cube)
        t_prep = time.perf_counter() - t1
    wc, index = prepared.wcube, prepared.index
    print(
        f"data: {cube.sizes['site']} sites x {cube.sizes['time']} days; load + to_daily + QC "
        f"{t_load:.1f} s; split + features + window index + scaling + tensors {t_prep:.2f} s "
        f"({len(index)} valid {LOOKBACK}-day windows); peak RSS {mem.peak / 2**30:.2f} GiB"
    )
    print(f"device {wc.device}, placement {wc.placement}, cube {wc.nbytes / 2**20:.1f} MiB")

    # ---------------------------------------------------------------- 1. input pipeline
    gen = torch.Generator().manual_seed(0)
    n_fast = min(args.fast_batches, wc.n_batches(len(index), BATCH))
    start = time.perf_counter()
    count = 0
    for x, _y, _pos in wc.batches(index, BATCH, shuffle=True, generator=gen, max_batches=n_fast):
        count += x.shape[0]
    if wc.device.type == "cuda":
        torch.cuda.synchronize()
    fast = count / (time.perf_counter() - start)

    names = list(wc.features)
    feats = prepared.features
    scaled = prepared.scaler.transform(
        feats[[n for n in names if n in prepared.scaler.center]].assign(nee=cube.nee)
    )
    for n in names:  # calendar inputs as (site, time) variables, like the drivers
        if n not in scaled:
            scaled[n] = feats[n].broadcast_like(cube.nee)
    naive_ds = NaiveWindows(scaled, names, "nee", index.site_idx, index.end_idx)
    loader = torch.utils.data.DataLoader(
        naive_ds, batch_size=BATCH, shuffle=True, num_workers=0, generator=gen
    )
    start = time.perf_counter()
    count = 0
    for b, (x, _y) in enumerate(loader):
        x = x.to(wc.device)
        count += x.shape[0]
        if b + 1 >= args.naive_batches:
            break
    naive = count / (time.perf_counter() - start)
    print(
        f"input pipeline ({BATCH} windows x {LOOKBACK} days x {len(names)} inputs per batch):\n"
        f"  fluxgrid gather      {fast:12,.0f} windows/s ({n_fast} batches)\n"
        f"  Dataset + isel       {naive:12,.0f} windows/s ({args.naive_batches} batches, "
        f"DataLoader num_workers=0)\n"
        f"  ratio                {fast / naive:12,.0f} x"
    )

    if args.skip_epoch:
        return
    # ---------------------------------------------------------------- 2. one full epoch
    every = dataclasses.replace(index, part=np.full(len(index), TRAIN, dtype=np.int8))
    torch.manual_seed(0)
    model = get_model("lstm")(len(names), LOOKBACK, hidden=64)
    model.to(str(wc.device))
    with PeakRSS() as mem:
        if wc.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        train_cfg = cfg.train
        if args.epoch_batches:
            train_cfg = dataclasses.replace(train_cfg, max_batches_per_epoch=args.epoch_batches)
        history = fit_torch(model, wc, every, None, train_cfg, progress=True)
        if wc.device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    gpu = ""
    if wc.device.type == "cuda":
        gpu = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
    n_batches = -(-len(every) // BATCH)
    if args.epoch_batches and args.epoch_batches < n_batches:
        done = args.epoch_batches * BATCH
        print(
            f"first {args.epoch_batches} of {n_batches} batches ({done:,} windows): "
            f"{seconds:.1f} s = {done / seconds:,.0f} windows/s -> full epoch "
            f"{seconds * n_batches / args.epoch_batches:.0f} s (extrapolated) on {wc.device} "
            f"({torch.get_num_threads()} threads, amp={bool(history.attrs['amp'])}); "
            f"peak RSS {mem.peak / 2**30:.2f} GiB{gpu}"
        )
        return
    print(
        f"one epoch, LSTM hidden 64, L={LOOKBACK}, batch {BATCH}, {len(every):,} windows of "
        f"{cube.sizes['site']} sites on {wc.device} ({torch.get_num_threads()} threads, "
        f"amp={bool(history.attrs['amp'])}): {seconds:.1f} s = {len(every) / seconds:,.0f} "
        f"windows/s; train loss {float(history.train_loss[0]):.3f}; "
        f"peak RSS {mem.peak / 2**30:.2f} GiB{gpu}"
    )


if __name__ == "__main__":
    main()
