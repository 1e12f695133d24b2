"""Benchmark: fluxgrid against the libraries users would pick instead, side by side.

For each hot path the peer runs in the same process, on the same inputs, with the same
thread count; outputs are checked against each other first (the agreement figure), then
both are timed in interleaved runs (fluxgrid, peer, fluxgrid, peer, ...) and the minimum
and median seconds are printed with the ratio peer / fluxgrid (> 1: fluxgrid faster).

Paths and peers (install them with ``pip install fluxgrid[bench]``; a missing peer skips
its section with a message):

* HH -> DD means: ``fluxgrid.to_daily`` vs xarray ``resample(time="1D").mean()`` with flox;
* training input windows: ``WindowCube.batches`` vs xbatcher ``BatchGenerator`` + torch
  ``DataLoader``;
* SSA: ``fluxgrid.ssa`` vs pyts ``SingularSpectrumAnalysis`` (rank-r reconstructions);
* LSTM attributions: ``fluxgrid.explain.shap_values`` vs captum ``GradientShap`` at equal
  path points per window (windows/s and completeness error);
* conservative regridding, global 0.25 -> 1 degree: vs xarray-regrid;
* metrics on a lazy cube: ``fluxgrid.evaluate.metrics`` vs xskillscore;
* LSTM training: fluxgrid's ``lstm`` vs neuralhydrology's ``CudaLSTM`` (s/epoch, windows/s,
  peak RSS, test R2). neuralhydrology reads its own on-disk layout, so the benchmark writes
  the fluxgrid site cube (QC'd daily drivers ``ta``, ``sw_in``, ``vpd`` and target ``nee``)
  as a neuralhydrology GenericDataset (``time_series/<site>.nc`` with a ``date`` dim), a
  basin list and a run YAML with the same split years, hidden size, sequence length (75),
  batch size, epochs, optimiser (Adam 1e-3), loss (MSE), gradient clipping (1.0), forget-
  gate bias (1) and no static inputs; it trains through ``BaseTrainer`` and predicts with
  ``eval_run``. Both are scored with :func:`fluxgrid.evaluate.scores` on the test days both
  predicted (the day sets are compared first and the mismatch printed). Neither validates
  during training. ``--quick``: demo cube, hidden 32, 2 epochs, 2 runs; otherwise ten
  long-record towers of ``hh.zarr`` (train 2000-2008, test 2009-2012), hidden 64, 3 epochs.

Data: the bundled demo (five FLUXNET2015 sites, daily) and, where present, the shared
half-hourly ``hh.zarr``; the regridding field is synthetic (speed, not science).

Usage::

    python benchmarks/bench_peers.py [--quick] [--repeat 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import time
from collections.abc import Callable

import dask
import numpy as np
import pandas as pd
import torch
import xarray as xr
from _bench_common import PeakRSS
from _nh_adapter import nh_test_predictions, write_nh_run
from threadpoolctl import threadpool_limits

from fluxgrid.config import from_dict
from fluxgrid.config.experiment import ExperimentConfig
from fluxgrid.data import load_demo_cube, load_demo_hh
from fluxgrid.evaluate import metrics, scores
from fluxgrid.explain import resolve_target, shap_values
from fluxgrid.explain.target import subsample
from fluxgrid.grids import make_grid, regrid
from fluxgrid.io.fluxnet_zarr import open_fluxnet_zarr
from fluxgrid.prep.pipeline import load_data
from fluxgrid.prep.resample import to_daily
from fluxgrid.prep.splits import PARTS
from fluxgrid.prep.ssa import ssa
from fluxgrid.runs import TrainedRun
from fluxgrid.tensors import WindowCube
from fluxgrid.testing import shared_data_path
from fluxgrid.training import fit_model, prepare_from_cube
from fluxgrid.training.prepared import predict_prepared
from fluxgrid.windows import build_windows, input_features


def have(name: str) -> bool:
    """Whether a peer package is importable; prints the skip message when it is not."""
    if importlib.util.find_spec(name) is None:
        print(f"  SKIPPED: {name} is not installed (pip install fluxgrid[bench])")
        return False
    return True


def interleaved(ours: Callable, peer: Callable, repeat: int) -> tuple[list, list]:
    """Seconds of ``repeat`` alternating runs of both callables."""
    t_ours, t_peer = [], []
    for _ in range(repeat):
        for fn, out in ((ours, t_ours), (peer, t_peer)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return t_ours, t_peer


def report(label: str, t_ours: list, t_peer: list, agreement: str, unit: int | None = None):
    """One line per side: min / median seconds (and items/s), then the ratio."""
    for who, ts in (("fluxgrid", t_ours), ("peer", t_peer)):
        rate = f"  {unit / min(ts):10.0f} /s" if unit else ""
        print(f"  {who:9s} min {min(ts):8.3f} s  median {statistics.median(ts):8.3f} s{rate}")
    ratio = statistics.median(t_peer) / statistics.median(t_ours)
    print(f"  ratio peer/fluxgrid (median): {ratio:.2f}   agreement: {agreement}")
    RESULTS.append((label, min(t_ours), min(t_peer), ratio, agreement))


RESULTS: list[tuple] = []


# --------------------------------------------------------------------------- HH -> DD
def bench_resample(args) -> None:
    print("\n[HH -> DD] fluxgrid.to_daily vs xarray resample('1D').mean() with flox")
    if not have("flox"):
        return
    shared = shared_data_path()
    variables = ["ta", "vpd", "sw_in", "nee"]
    if shared is not None:
        store = shared / "fluxnet2015" / "hh.zarr"
        n = 3 if args.quick else 20
        hh = open_fluxnet_zarr(store, variables=variables)
        hh = hh.isel(site=slice(0, n)).load()
        source = f"hh.zarr, {n} sites"
    else:
        hh = load_demo_hh()
        source = "bundled demo HH"
    hh = hh.sel(time=slice("2011", "2012") if args.quick else slice("2007", "2012"))
    names = [v for v in variables if v in hh]
    print(f"  {source}: {hh.sizes['site']} sites x {hh.sizes['time']} half-hours, {names}")
    offsets = hh["utc_offset"].values if "utc_offset" in hh.coords else np.zeros(hh.sizes["site"])

    def ours():
        return to_daily(hh[[*names, *[f"{v}_qc" for v in names if f"{v}_qc" in hh]]]).compute()

    def peer():  # local standard-time days: shift each site by its UTC offset, then resample
        out = []
        with xr.set_options(use_flox=True):
            for i in range(hh.sizes["site"]):
                one = hh[names].isel(site=i)
                one = one.assign_coords(time=one.time + np.timedelta64(int(offsets[i] * 60), "m"))
                out.append(one.resample(time="1D").mean())
        return xr.concat(out, dim="site", join="outer")

    a, b = ours(), peer()
    b = b.reindex(time=a.time)
    diffs, n_both = [], 0
    for v in names:
        both = a[v].notnull() & b[v].notnull()
        n_both += int(both.sum())
        diffs.append(float(abs(a[v] - b[v]).where(both).max()))
    per_var = ", ".join(f"{v} {d:.2g}" for v, d in zip(names, diffs, strict=True))
    agree = f"max |diff| {per_var} over {n_both} site-days valid in both"
    agree += f" (fluxgrid leaves {int(a[names[0]].isnull().sum() - b[names[0]].isnull().sum())}"
    agree += f" more '{names[0]}' days missing: its day-coverage rule)"
    report("HH->DD to_daily vs resample+flox", *interleaved(ours, peer, args.repeat), agree)


# --------------------------------------------------------------------------- windows
def bench_windows(args, cube: xr.Dataset) -> None:
    print("\n[windows] WindowCube.batches vs xbatcher BatchGenerator + torch DataLoader")
    if not have("xbatcher"):
        return
    import xbatcher
    from xbatcher.loaders.torch import MapDataset

    drivers, lookback, batch = ["ta", "vpd", "sw_in"], 30, 256
    feats = input_features(cube, drivers, static=())
    index = build_windows(cube, drivers, None, lookback, require_target=False, features=feats)
    dyn = np.stack([feats[d].values for d in drivers], axis=-1)
    wc = WindowCube(
        dyn,
        None,
        None,
        features=drivers,
        sites=cube.site.values,
        times=cube.time.values,
        device="cpu",
    )
    n_peer = min(len(index), 2000 if args.quick else 20000)
    one = feats[drivers].isel(site=0).drop_vars([c for c in feats.coords if c != "time"])
    stacked = one.to_array("feature").transpose("time", "feature")

    def ours():
        n = 0
        for x, _, _ in wc.batches(index, batch):
            n += x.shape[0]
        return n

    def peer():
        gen = xbatcher.BatchGenerator(
            stacked, input_dims={"time": lookback}, input_overlap={"time": lookback - 1}
        )
        loader = torch.utils.data.DataLoader(MapDataset(gen), batch_size=None)
        n = 0
        for _x in loader:
            n += 1
            if n >= n_peer:
                break
        return n

    gen = xbatcher.BatchGenerator(
        stacked, input_dims={"time": lookback}, input_overlap={"time": lookback - 1}
    )
    first = np.asarray(gen[0].values)  # (lookback, feature) of site 0, window ending at L-1
    x, _ = wc.gather(np.array([0]), np.array([lookback - 1]), lookback)
    agree = f"first window max |diff| {float(np.abs(x[0].numpy() - first).max()):.1e}"
    t_ours, t_peer = interleaved(ours, peer, args.repeat)
    # report per-window rates: fluxgrid does every window, the peer n_peer of them
    t_peer_scaled = [t * len(index) / n_peer for t in t_peer]
    print(
        f"  {len(index)} windows ({lookback} days x {len(drivers)} drivers); xbatcher timed "
        f"on {n_peer} windows and scaled"
    )
    report("windows WindowCube vs xbatcher", t_ours, t_peer_scaled, agree, unit=len(index))


# --------------------------------------------------------------------------- SSA
def bench_ssa(args, cube: xr.Dataset) -> None:
    print("\n[SSA] fluxgrid.ssa vs pyts SingularSpectrumAnalysis (rank-r reconstruction)")
    if not have("pyts"):
        return
    from pyts.decomposition import SingularSpectrumAnalysis

    window, rank = (120, 8) if args.quick else (365, 16)
    frame = cube.ta.transpose("time", "site").to_pandas().interpolate(limit_direction="both")
    values = frame.to_numpy().T.astype("float64")
    ta = cube.ta.transpose("site", "time").copy(data=values)

    def ours():
        out = ssa(ta.rename("ta"), window=window, rank=rank)
        return (
            out["ta"]
            .sel(component=["seasonal", "interannual", "trend"])
            .sum("component")
            .transpose("site", "time")
            .values
        )

    def peer():
        comps = SingularSpectrumAnalysis(window_size=window).fit_transform(values)
        return comps[:, :rank].sum(axis=1)

    a, b = ours(), peer()
    rel = float(np.abs(a - b).max() / values.std())
    agree = f"max |diff| / sd(ta) = {rel:.1e} ({cube.sizes['site']} sites, L={window}, r={rank})"
    report("SSA vs pyts", *interleaved(ours, peer, args.repeat), agree, unit=cube.sizes["site"])


# --------------------------------------------------------------------------- attributions
def _trained_run(args):
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo"},
            "split": {"method": "temporal", "test_fraction": 0.2, "validation": "tail"},
            "windows": {"lookback": 30 if args.quick else 90, "static": ["doy"]},
            "model": {"name": "lstm", "params": {"hidden": 32 if args.quick else 64}},
            "train": {
                "device": "cpu",
                "epochs": 1,
                "max_batches_per_epoch": 20,
                "num_threads": args.threads,
            },
        },
    )
    ds, _ = load_data(cfg.data, cube=load_demo_cube())
    prepared = prepare_from_cube(cfg, ds)
    model, _ = fit_model(prepared, progress=False)
    return TrainedRun.from_prepared(prepared, model), ds


def bench_attributions(args) -> None:
    print("\n[attributions] shap_values (expected gradients) vs captum GradientShap")
    if not have("captum"):
        return
    from captum.attr import GradientShap

    run, ds = _trained_run(args)
    target = resolve_target(run, ds, "test", device="cpu")
    n_win = 100 if args.quick else 500
    background, steps = 8, 25  # 200 path points per window on both sides
    sub = subsample(target.index, n_win, np.random.default_rng(0))
    ref, _ = target.cube.gather(
        sub.site_idx[:background], sub.end_idx[:background], target.lookback
    )
    x, _ = target.cube.gather(sub.site_idx, sub.end_idx, target.lookback)

    def ours():
        return shap_values(
            run, ds, sub, background=background, steps=steps, tolerance=None, max_windows=None
        )

    def peer():
        with run.model.explain_mode() as net:
            gs = GradientShap(net)
            attr, delta = gs.attribute(
                x.float(),
                baselines=ref.float(),
                n_samples=background * steps,
                stdevs=0.0,
                return_convergence_delta=True,
            )
        return attr, delta

    sv = ours()
    _, delta = peer()
    with run.model.explain_mode() as net, torch.no_grad():
        sd = float(net(x.float()).std())
    ours_err = float(abs(sv.additivity_error).max()) / float(sv.prediction.std())
    # captum's delta is per (window, sample point): its mean per window is the error
    peer_err = float(delta.reshape(len(sub), -1).mean(axis=1).abs().max()) / sd
    agree = (
        f"max |completeness error| / sd(prediction): fluxgrid {ours_err:.3f}, captum {peer_err:.3f}"
    )
    print(
        f"  {len(sub)} test windows, {target.lookback} steps x {len(target.features)} inputs,"
        f" {background * steps} points per window"
    )
    report(
        "attributions vs captum GradientShap",
        *interleaved(ours, peer, args.repeat),
        agree,
        unit=len(sub),
    )


# --------------------------------------------------------------------------- regridding
def bench_regrid(args) -> None:
    print("\n[regrid] conservative global 0.25 -> 1 degree vs xarray-regrid")
    if not have("xarray_regrid"):
        return
    import xarray_regrid  # noqa: F401  (registers the .regrid accessor)

    steps = 4 if args.quick else 8
    src, dst = make_grid(0.25), make_grid(1.0)
    lat, lon = src.lat.values[:, None], src.lon.values[None, :]
    rng = np.random.default_rng(0)
    vals = (np.sin(np.radians(lat)) + 0.01 * lon)[None] + rng.normal(
        0, 0.1, (steps, *lat.shape[:1], lon.shape[1])
    )
    field = xr.DataArray(
        vals.astype("float32"),
        coords={
            "time": pd.date_range("2010-01-01", periods=steps),
            "lat": src.lat.values,
            "lon": src.lon.values,
        },
        dims=("time", "lat", "lon"),
        name="x",
    )
    target = xr.Dataset(coords={"lat": dst.lat.values, "lon": dst.lon.values})

    def ours():
        return regrid(field, dst, method="conservative").values

    def peer():
        return field.regrid.conservative(target, latitude_coord="lat").values

    a, b = ours(), peer()
    agree = f"max |diff| {float(np.nanmax(np.abs(a - b))):.1e}"
    area_s = np.cos(np.radians(lat)) * np.ones_like(lon)
    sphere = (
        np.sin(np.radians(dst.lat_bnds.values[:, 1]))
        - np.sin(np.radians(dst.lat_bnds.values[:, 0]))
    )[:, None]
    w_src = (
        np.sin(np.radians(src.lat_bnds.values[:, 1]))
        - np.sin(np.radians(src.lat_bnds.values[:, 0]))
    )[:, None]
    total = float((vals[0] * w_src).sum() * 0.25)
    errs = [abs(float((o[0] * sphere).sum()) - total) / abs(total) for o in (a, b)]
    del area_s
    agree += f"; global integral rel. error fluxgrid {errs[0]:.1e}, xarray-regrid {errs[1]:.1e}"
    print(f"  {steps} steps of 720 x 1440 -> 180 x 360")
    report("regrid conservative vs xarray-regrid", *interleaved(ours, peer, args.repeat), agree)


# --------------------------------------------------------------------------- training
#: long-record towers of hh.zarr for the full training comparison
TRAIN_SITES = (
    "US-Ha1", "US-MMS", "DE-Tha", "FI-Hyy", "BE-Vie", "DE-Hai", "CH-Dav", "US-UMB", "NL-Loo",
    "FR-Pue",
)  # fmt: skip
DRIVERS, TARGET, SEQ = ("ta", "sw_in", "vpd"), "nee", 75


def _training_setup(args) -> tuple[xr.Dataset, dict]:
    """The QC'd daily cube both models see and the shared settings (years, sizes)."""
    if args.quick:
        setup = {"train": (2007, 2010), "test": (2011, 2012), "hidden": 32, "epochs": 2}
        data = {"source": "demo"}
        cube = load_demo_cube()
    else:
        shared = shared_data_path()
        if shared is None:
            raise SystemExit("full mode needs the shared hh.zarr (or use --quick)")
        setup = {"train": (2000, 2008), "test": (2009, 2012), "hidden": 64, "epochs": 3}
        data = {"source": str(shared / "fluxnet2015" / "hh.zarr"), "sites": list(TRAIN_SITES)}
        data["period"] = [f"{setup['train'][0] - 1}-10-01", f"{setup['test'][1]}-12-31"]
        cube = None
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {**data, "drivers": list(DRIVERS), "target": TARGET},
            "split": {
                "method": "year_ranges",
                "train_years": list(setup["train"]),
                "test_years": list(setup["test"]),
                "validation": "none",
            },
            "windows": {"lookback": SEQ, "static": []},
            "model": {"name": "lstm", "params": {"hidden": setup["hidden"], "dropout": 0.0}},
            "train": {
                "device": "cpu",
                "epochs": setup["epochs"],
                "batch_size": 256,
                "lr": 1e-3,
                "loss": "mse",
                "grad_clip": 1.0,
                "num_threads": args.threads,
                "amp": False,
            },
        },
    )
    ds, _ = load_data(cfg.data, cube=cube)
    return ds, {**setup, "cfg": cfg}


def bench_training(args) -> None:
    print("\n[training] fluxgrid LSTM vs neuralhydrology CudaLSTM (same sites, days, sizes)")
    if not have("neuralhydrology"):
        return
    import logging
    import tempfile
    from pathlib import Path

    from neuralhydrology.training.basetrainer import BaseTrainer
    from neuralhydrology.utils.config import Config

    logging.getLogger("neuralhydrology").setLevel(logging.WARNING)
    ds, setup = _training_setup(args)
    cfg, repeat = setup["cfg"], 2 if args.quick else args.repeat
    start = time.perf_counter()
    prepared = prepare_from_cube(cfg, ds)
    t_prep = time.perf_counter() - start
    n_ours = len(prepared.part("train"))
    ours = {"s": [], "mem": [], "pred": None}
    peer = {"s": [], "mem": [], "pred": None, "prep": []}
    with tempfile.TemporaryDirectory() as tmp:
        yml = write_nh_run(ds, Path(tmp), setup, drivers=DRIVERS, target=TARGET, seq=SEQ)
        for r in range(repeat):
            with PeakRSS() as mem:
                start = time.perf_counter()
                model, _ = fit_model(prepared, progress=False)
                ours["s"].append((time.perf_counter() - start) / setup["epochs"])
            ours["mem"].append(mem.peak - mem.start)
            if r == 0:
                ours["pred"] = predict_prepared(prepared, model)
            nh_cfg = Config(Path(yml))
            nh_cfg.update_config({"experiment_name": f"fluxgrid_bench_{r}"})
            with PeakRSS() as mem:
                start = time.perf_counter()
                trainer = BaseTrainer(cfg=nh_cfg)
                trainer.initialize_training()  # reads the files, fits the scaler
                peer["prep"].append(time.perf_counter() - start)
                start = time.perf_counter()
                trainer.train_and_validate()
                peer["s"].append((time.perf_counter() - start) / setup["epochs"])
            peer["mem"].append(mem.peak - mem.start)
            n_peer = len(trainer.loader.dataset)
            if r == 0:
                peer["pred"] = nh_test_predictions(Path(nh_cfg.run_dir), ds, target=TARGET)
    _training_report(ds, setup, prepared, ours, peer, n_ours, n_peer, t_prep)


def _training_report(ds, setup, prepared, ours, peer, n_ours, n_peer, t_prep) -> None:
    """Check the scored day sets, score both on the same days, print the figures."""
    obs = ds[TARGET].transpose("site", "time")
    test = (prepared.split["part"] == PARTS["test"]).transpose("site", "time")
    ours_days = (ours["pred"]["pred"].notnull() & obs.notnull() & test).values
    peer_days = (peer["pred"].notnull() & obs.notnull() & test).values
    both = ours_days & peer_days
    print(
        f"  {ds.sizes['site']} sites, drivers {', '.join(DRIVERS)} -> {TARGET}; train "
        f"{setup['train'][0]}-{setup['train'][1]}, test {setup['test'][0]}-{setup['test'][1]};"
        f" hidden {setup['hidden']}, L={SEQ}, batch 256, Adam 1e-3, MSE, {setup['epochs']} epochs"
    )
    print(
        f"  training windows: fluxgrid {n_ours}, neuralhydrology {n_peer}; data preparation "
        f"(not timed below): fluxgrid {t_prep:.2f} s, neuralhydrology {min(peer['prep']):.2f} s"
    )
    print(
        f"  test days scored: fluxgrid {int(ours_days.sum())}, neuralhydrology "
        f"{int(peer_days.sum())}, both {int(both.sum())} (only fluxgrid "
        f"{int((ours_days & ~peer_days).sum())}, only neuralhydrology "
        f"{int((peer_days & ~ours_days).sum())})"
    )
    subset = xr.DataArray(both, dims=("site", "time"), coords={"site": obs.site, "time": obs.time})
    r2 = {}
    for who, pred in (("fluxgrid", ours["pred"]["pred"]), ("peer", peer["pred"])):
        table = xr.Dataset({"obs": obs, "pred": pred.transpose("site", "time")})
        r2[who] = float(scores(table, part=None, subset=subset).r2)
    for who, side, n in (("fluxgrid", ours, n_ours), ("peer", peer, n_peer)):
        print(
            f"  {who:9s} s/epoch min {min(side['s']):7.2f} "
            f"median {statistics.median(side['s']):7.2f}"
            f"  {n / min(side['s']):8.0f} windows/s  peak RSS +{max(side['mem']) / 2**20:5.0f} MiB"
            f"  test R2 {r2[who]:.3f}"
        )
    ratio = statistics.median(peer["s"]) / statistics.median(ours["s"])
    agree = f"test R2 on the {int(both.sum())} common days: fluxgrid {r2['fluxgrid']:.3f}, "
    agree += f"neuralhydrology {r2['peer']:.3f}"
    print(f"  ratio peer/fluxgrid (median s/epoch): {ratio:.2f}   agreement: {agree}")
    RESULTS.append(
        ("LSTM s/epoch vs neuralhydrology", min(ours["s"]), min(peer["s"]), ratio, agree)
    )


# --------------------------------------------------------------------------- metrics
def bench_metrics(args, cube: xr.Dataset) -> None:
    print("\n[metrics] fluxgrid.evaluate.metrics vs xskillscore on a lazy cube")
    if not have("xskillscore"):
        return
    import xskillscore as xs

    copies = 2 if args.quick else 8  # the demo sites repeated: a 10- or 40-site cube
    big = xr.concat([cube[["gpp_nt", "gpp_dt"]]] * copies, dim="site")
    big = big.assign_coords(site=[f"{s}_{i}" for i in range(copies) for s in cube.site.values])
    lazy = big.chunk({"site": 5, "time": -1})  # xskillscore needs time in one chunk
    o, p = lazy.gpp_nt, lazy.gpp_dt

    def ours():
        return metrics(o, p, dim="time")

    def peer():
        keep = o.notnull() & p.notnull()
        oo, pp = o.where(keep), p.where(keep)
        lazy_scores = xr.Dataset(
            {
                "r2": xs.r2(oo, pp, dim="time", skipna=True),
                "r2_pearson": xs.pearson_r(oo, pp, dim="time", skipna=True) ** 2,
                "rmse": xs.rmse(oo, pp, dim="time", skipna=True),
                "mae": xs.mae(oo, pp, dim="time", skipna=True),
                "bias": xs.me(pp, oo, dim="time", skipna=True),
            }
        )
        return lazy_scores.compute()

    a, b = ours(), peer()
    diff = max(float(abs(a[k] - b[k]).max()) for k in ("r2", "r2_pearson", "rmse", "mae", "bias"))
    agree = f"max |diff| over r2, r2_pearson, rmse, mae, bias: {diff:.1e}"
    print(f"  {big.sizes['site']} sites x {big.sizes['time']} days, Dask chunks of 5 whole sites")
    report("metrics lazy vs xskillscore", *interleaved(ours, peer, args.repeat), agree)


#: the sections, in the order they run: name -> f(args, cube)
SECTIONS = {
    "resample": lambda args, cube: bench_resample(args),
    "windows": bench_windows,
    "ssa": bench_ssa,
    "attributions": lambda args, cube: bench_attributions(args),
    "regrid": lambda args, cube: bench_regrid(args),
    "metrics": bench_metrics,
    "training": lambda args, cube: bench_training(args),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs (a few minutes)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only", nargs="+", choices=sorted(SECTIONS), help="run only these sections"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{args.threads} thread(s) for torch, BLAS and Dask; {args.repeat} interleaved runs; "
        f"torch {torch.__version__}, xarray {xr.__version__}, dask {dask.__version__}"
    )
    cube = load_demo_cube()
    with (
        threadpool_limits(args.threads),
        dask.config.set(scheduler="threads", num_workers=args.threads),
        PeakRSS() as mem,
    ):
        for name in args.only or SECTIONS:
            SECTIONS[name](args, cube)
    print(f"\nsummary (peak RSS above start {mem.mib:.0f} MiB)")
    print(f"  {'path':42s} {'fluxgrid s':>10s} {'peer s':>9s} {'ratio':>6s}")
    for label, a, b, r, _ in RESULTS:
        print(f"  {label:42s} {a:10.3f} {b:9.3f} {r:6.2f}")


if __name__ == "__main__":
    main()
