"""Speed of the explanations: SHAP for 1000 LSTM windows, permutation importance.

An LSTM (64 units, 90-day windows, ta/sw_in/vpd + day of year + location) is trained briefly
on the bundled FLUXNET2015 demo sites (the cost of an explanation does not depend on how well
the model fits), then, in the same run:

SHAP (expected gradients, 1000 test windows)
* ``fluxgrid.shap_values`` with a budget of 200 path points per window (8 references x 25
  Gauss-Legendre points): every window's points go through the LSTM in stacked forward and
  backward passes;
* the same algorithm window by window (one forward/backward per window), the obvious loop;
* shap's ``GradientExplainer`` with ``nsamples=200`` (the library's default);
* ``fluxgrid.shap_values`` with its defaults (8 references x 64 points, windows above the
  additivity tolerance refined), the additivity error it reaches and the windows refined.
The two loops run on a subset of windows (``--naive-windows``) and are compared by
windows per second.

Permutation importance (all test windows, 3 drivers, 10 repeats)
* ``fluxgrid.permutation_importance``: partner windows gathered by index, all drivers of a
  repeat stacked in one forward pass;
* the obvious approach: shuffle the driver's series in the xarray cube and call
  ``run.predict`` again for every driver and repeat.

Usage::

    python benchmarks/bench_explain.py [--threads 1] [--windows 1000] [--naive-windows 100]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import torch

from fluxgrid.config import from_dict
from fluxgrid.config.experiment import ExperimentConfig
from fluxgrid.data import load_demo_cube
from fluxgrid.explain import permutation_importance, resolve_target, shap_values
from fluxgrid.explain.gradients import expected_gradients
from fluxgrid.explain.target import subsample
from fluxgrid.prep.pipeline import load_data
from fluxgrid.runs import TrainedRun
from fluxgrid.training import fit_model, prepare_from_cube


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(threads: int):
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo"},
            "split": {"method": "temporal", "test_fraction": 0.2, "validation": "tail"},
            "windows": {"lookback": 90, "static": ["doy", "latlon"]},
            "model": {"name": "lstm", "params": {"hidden": 64}},
            "train": {
                "device": "cpu",
                "epochs": 2,
                "max_batches_per_epoch": 40,
                "num_threads": threads,
            },
        },
    )
    ds, _ = load_data(cfg.data, cube=load_demo_cube())
    prepared = prepare_from_cube(cfg, ds)
    model, _ = fit_model(prepared, progress=False)
    return TrainedRun.from_prepared(prepared, model), ds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--windows", type=int, default=1000)
    parser.add_argument("--naive-windows", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}")
    run, ds = train(args.threads)
    target = resolve_target(run, ds, "test", device="cpu")
    print(
        f"LSTM 64 units, 90-day windows, {len(target.features)} inputs; "
        f"{len(target.index)} test windows at {ds.sizes['site']} sites"
    )

    # ---------------------------------------------------------------- SHAP
    t = time.perf_counter()
    # fixed points (no refinement): the same work per window as the loop below
    sv = shap_values(
        run, ds, "test", max_windows=args.windows, background=8, steps=25, tolerance=None
    )
    fast = time.perf_counter() - t
    n = sv.sizes["sample"]
    print(f"\nSHAP, expected gradients, 200 path points per window, {n} windows:")
    print(
        f"  fluxgrid.shap_values (stacked passes): {fast:7.1f} s  {n / fast:8.1f} windows/s"
        f"  max |additivity error| {float(abs(sv.additivity_error).max()):.4f} "
        f"(prediction sd {float(sv.prediction.std()):.3f} gC m-2 d-1)"
    )

    rng = np.random.default_rng(0)
    sub = subsample(target.index, args.naive_windows, rng)
    ref, _ = target.cube.gather(sub.site_idx[:8], sub.end_idx[:8], target.lookback)
    t = time.perf_counter()
    for i in range(len(sub)):  # the same algorithm, one window per pass
        expected_gradients(target, sub.take(np.array([i])), ref.float(), steps=25, batch_size=200)
    loop = time.perf_counter() - t
    ratio = (n / fast) / (len(sub) / loop)
    print(
        f"  same algorithm, loop over windows:     {loop:7.1f} s  {len(sub) / loop:8.1f} "
        f"windows/s ({len(sub)} windows)  -> stacked is {ratio:.1f}x faster"
    )

    t = time.perf_counter()
    lib = shap_values(run, ds, sub, method="shap_gradient", nsamples=200, background=8)
    lib_s = time.perf_counter() - t
    print(
        f"  shap.GradientExplainer, nsamples=200:  {lib_s:7.1f} s  {len(sub) / lib_s:8.1f} "
        f"windows/s ({len(sub)} windows)  -> fluxgrid {(n / fast) / (len(sub) / lib_s):.1f}x "
        "faster; "
        f"max |additivity error| {float(abs(lib.additivity_error).max()):.4f}"
    )

    t = time.perf_counter()
    sv_d = shap_values(run, ds, "test", max_windows=args.windows)
    dflt = time.perf_counter() - t
    refined = sv_d.steps > sv_d.attrs["steps"]
    print(
        f"  fluxgrid.shap_values defaults ({sv_d.attrs.get('n_background')} x "
        f"{sv_d.attrs.get('steps')} points, tolerance {sv_d.attrs['tolerance']} x sd): "
        f"{dflt:7.1f} s, max |additivity error| {float(abs(sv_d.additivity_error).max()):.4f}; "
        f"{int(refined.sum())} windows refined (up to {int(sv_d.steps.max())} points)"
    )
    print(f"  peak RSS so far {peak_mib():.0f} MiB")

    # ---------------------------------------------------------------- permutation
    drivers = ["ta", "sw_in", "vpd"]
    t = time.perf_counter()
    imp = permutation_importance(run, ds, "test", drivers=drivers, n_repeats=10)
    vec = time.perf_counter() - t
    print(f"\npermutation importance, {len(target.index)} test windows, 3 drivers x 10 repeats:")
    print(f"  fluxgrid.permutation_importance:       {vec:7.1f} s")
    t = time.perf_counter()
    rng = np.random.default_rng(0)
    for d in drivers:
        for _ in range(10):
            shuffled = ds.copy()
            values = ds[d].values.copy()
            for s in range(values.shape[0]):
                values[s] = values[s, rng.permutation(values.shape[1])]
            shuffled[d] = (ds[d].dims, values, ds[d].attrs)
            run.predict(shuffled)
    naive = time.perf_counter() - t
    print(
        f"  shuffle the cube, run.predict again:   {naive:7.1f} s  -> fluxgrid {naive / vec:.1f}x "
        "faster (run.predict rebuilds the tensors and predicts every window of the cube)"
    )
    print(
        "  pooled importance (NRMSE increase):",
        {k: round(float(v), 4) for k, v in imp.importance_pooled.to_series().items()},
    )
    print(f"peak RSS {peak_mib():.0f} MiB")


if __name__ == "__main__":
    main()
