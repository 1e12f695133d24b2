"""Generalisation benchmark: recurrent models vs classic learners at towers they never saw.

Protocol: every FLUXNET2015 site of hh.zarr with at least 5 years of valid daily NEE (QC >=
0.7), drivers ta, sw_in, vpd plus day of year, latitude/longitude and an IGBP one-hot,
75-day windows, two protocols on the same sites, inputs and model settings:

* ``site_kfold``: the sites in 5 folds stratified by IGBP
  (:func:`fluxgrid.validate_upscaling`); each fold's model is trained on the other folds'
  towers (the last 20 % of their records validate early stopping) and predicts every day of
  the held-out towers through the upscaling kernel. Scored on all days and, to compare the
  protocols on the same days, on the temporal protocol's test days.
* ``temporal``: one model for all sites, the last 20 % of each record tested (the
  model-comparison protocol).

LSTM, GRU, iLSTM and FNN (fluxgrid's training defaults, trained as ``--seeds``-member seed
ensembles: seed 0 is the single model, the member mean the ensemble) against LASSO, SVR and
RF on lagged means of every input (1, 7, 30 and 75 days). Fixed settings in ``MODELS``,
nothing tuned on held-out towers or test days; the CPU budget is stated on the page.

Writes docs/results/generalisation.md, its figure and the scores per site and IGBP class
(docs/results/data/generalisation_sites.csv, generalisation_igbp.csv); runs go to
runs/generalisation/<protocol>/<model> and ``--reuse`` keeps those trained with the same
configuration.

Usage::

    python benchmarks/reproduce_generalisation.py [--models lstm gru ilstm fnn lasso svr rf]
        [--protocols site_kfold temporal] [--seeds 5] [--single ilstm ...]
        [--skip site_kfold:ilstm ...] [--folds 5] [--threads 2] [--reuse] [--train-only]
        [--quick]
"""

from __future__ import annotations

import time
from pathlib import Path

import _repro_common as repro
import numpy as np
import pandas as pd
import xarray as xr

from fluxgrid.config import ExperimentConfig, from_dict
from fluxgrid.config.experiment import TrainConfig
from fluxgrid.evaluate import scores
from fluxgrid.io.store import open_cube, write_cube
from fluxgrid.plots import new_figure, save_figure
from fluxgrid.prep.splits import TEST, temporal_split
from fluxgrid.training import train_experiment
from fluxgrid.upscale import open_validation, validate_upscaling

#: fixed settings (model params, training budget); budgets reduced to fit 2 CPU cores
MODELS: dict[str, tuple[dict, dict]] = {
    "lstm": ({"hidden": 64}, {"epochs": 15, "patience": 4, "max_batches_per_epoch": 80}),
    "gru": ({"hidden": 64}, {"epochs": 15, "patience": 4, "max_batches_per_epoch": 80}),
    # per-variable hidden states for each of the 17 inputs (the IGBP one-hot included):
    # the slowest model per batch, hence the smallest budget
    "ilstm": ({"hidden": 16}, {"epochs": 6, "patience": 2, "max_batches_per_epoch": 30}),
    "fnn": (
        {"hidden": [256, 128], "dropout": 0.2},
        {"epochs": 15, "patience": 4, "max_batches_per_epoch": 80},
    ),
    "lasso": ({"alpha": 0.001}, {}),
    "svr": ({"C": 1.0, "epsilon": 0.1, "max_train_samples": 10000}, {}),
    "rf": (
        {"n_estimators": 100, "min_samples_leaf": 5, "max_train_samples": 40000, "n_jobs": 2},
        {},
    ),
}
TORCH_MODELS = ("lstm", "gru", "ilstm", "fnn")
RECURRENT = ("lstm", "gru", "ilstm")
PROTOCOLS = ("site_kfold", "temporal")
LOOKBACK = 75
SITE_KFOLD_SPLIT = {"method": "site_kfold", "validation": "tail", "val_fraction": 0.2}


def experiment(
    name: str, sites: list[str], protocol: str, seeds: int, quick: bool
) -> ExperimentConfig:
    params, train = repro.model_settings(MODELS, name, quick=quick, batches=3)
    ensemble = name in TORCH_MODELS and seeds > 1
    return from_dict(
        ExperimentConfig,
        {
            "data": repro.nee_data(repro.HH, sites),
            "split": SITE_KFOLD_SPLIT if protocol == "site_kfold" else repro.TAIL_SPLIT,
            "windows": {"lookback": LOOKBACK, "static": ["doy", "latlon", "igbp"]},
            "model": {"name": name, "params": params},
            # learning rate, loss, clipping, batch size: fluxgrid's defaults
            "train": {"seed": 0, "device": "auto", **train},
            "ensemble": {"seeds": list(range(seeds))} if ensemble else {},
            "description": f"generalisation benchmark ({protocol})",
        },
    )


def predictions(folder: Path, protocol: str, ensemble: bool) -> tuple[dict, list[float]]:
    """Predictions of the single model (seed 0) and of the member mean, member test R2s.

    For a single-seed result only ``single`` is returned, with no member scores.
    """
    if protocol == "site_kfold":
        result = open_validation(folder)
        if not ensemble:
            return {"single": result.predictions}, []
        r2 = result.member_scores()["r2"].tolist()
        single = result.member(result.members[0]).predictions
        return {"single": single, "ensemble": result.predictions}, r2
    with xr.open_dataset(folder / "predictions.nc") as f:
        mean = f[["obs", "pred", "part"]].load()
    if not ensemble:
        return {"single": mean}, []
    with xr.open_dataset(folder / "members" / "seed0" / "predictions.nc") as f:
        single = f[["obs", "pred", "part"]].load()
    r2 = pd.read_csv(folder / "members.csv").query("part == 'test'")["r2"].tolist()
    return {"single": single, "ensemble": mean}, r2


def fit_cost(folder: Path, train: TrainConfig) -> dict[str, float | int | str]:
    """Fitting cost of every run below ``folder`` (folds, members), from their histories.

    Seconds summed over runs; per epoch (torch models): mean seconds, training windows per
    second and epochs run per fit; the devices and the largest peak GPU memory (GiB). Runs
    saved before histories counted ``windows`` get the count the epoch loop feeds:
    ``n_train``, or ``max_batches_per_epoch`` x ``batch_size`` when that is smaller.
    """
    cap = train.max_batches_per_epoch and train.max_batches_per_epoch * train.batch_size
    seconds, epochs, windows, peak, devices = [], [], [], [], set()
    for history in sorted(folder.rglob("history.nc")):
        with xr.open_dataset(history) as h:
            seconds.append(h["seconds"].values.astype(float))
            if "windows" in h:
                windows.append(float(h["windows"].sum()))
            elif "n_train" in h.attrs:
                windows.append(h.sizes["epoch"] * float(min(h.attrs["n_train"], cap or np.inf)))
            epochs.append(h.sizes["epoch"])
            devices.add(str(h.attrs.get("device", "cpu")))
            peak.append(float(h.attrs.get("peak_gpu_memory_bytes", np.nan)))
    total = float(sum(s.sum() for s in seconds))
    torch_runs = len(windows) == len(seconds) and bool(windows)
    return {
        "seconds": total,
        "runs": len(seconds),
        "epochs per fit": float(np.mean(epochs)) if torch_runs else np.nan,
        "s / epoch": total / sum(epochs) if torch_runs else np.nan,
        "windows / s": sum(windows) / total if torch_runs and total > 0 else np.nan,
        "peak GPU GiB": np.nanmax(peak) / 2**30 if np.isfinite(peak).any() else np.nan,
        "device": ", ".join(sorted(devices)),
    }


def label(name: str, kind: str, seeds: int) -> str:
    return name if kind == "single" else f"{name} ({seeds}-seed ensemble)"


def pooled_row(pred: xr.Dataset, subset: xr.DataArray | None = None) -> pd.Series:
    table = scores(pred, part="test", subset=subset)
    return pd.Series({k: float(table[k]) for k in ("r2", "rmse", "mae", "bias", "n")})


def figure(pooled: pd.DataFrame, per_site: pd.DataFrame, path: Path) -> None:
    """Pooled R2 per model and protocol; per-site R2, best recurrent model vs best baseline."""
    fig = new_figure((10.0, 3.8))
    bars, sc = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    columns = [c for c in ("temporal", "site k-fold, test days", "site k-fold") if c in pooled]
    width = 0.8 / max(len(columns), 1)
    x = np.arange(len(pooled))
    for i, col in enumerate(columns):
        bars.bar(x + i * width, pooled[col], width, label=col)
    bars.set_xticks(x + width * (len(columns) - 1) / 2, pooled.index, rotation=40, ha="right")
    bars.set_ylabel("pooled R2")
    bars.set_ylim(top=max(1.0, float(np.nanmax(pooled[columns].values)) + 0.15))
    bars.legend(fontsize=7, ncols=len(columns), loc="upper left")
    bars.set_title("daily NEE, pooled")
    kfold = per_site[per_site["protocol"] == "site_kfold"].pivot(
        index="site", columns="model", values="r2"
    )
    rec = [m for m in kfold if m.split()[0] in RECURRENT]
    base = [m for m in kfold if m.split()[0] not in TORCH_MODELS]
    if rec and base:
        best_rec = pooled.loc[rec, "site k-fold"].idxmax()
        best_base = pooled.loc[base, "site k-fold"].idxmax()
        lo = max(-1.0, float(np.nanmin(kfold[[best_rec, best_base]].values)))
        sc.scatter(kfold[best_base].clip(lower=lo), kfold[best_rec].clip(lower=lo), s=10)
        sc.plot([lo, 1], [lo, 1], color="k", lw=0.8)
        sc.set_xlabel(f"{best_base} R2")
        sc.set_ylabel(f"{best_rec} R2")
        sc.set_title("held-out towers: R2 per site (min -1)")
    else:
        sc.set_visible(False)
    save_figure(fig, path, overwrite=True)


def main() -> None:
    parser = repro.script_parser(
        __doc__, threads=2, quick="1 epoch, 12 sites", models=MODELS, seeds=5, reuse=True
    )
    parser.add_argument("--protocols", nargs="+", default=list(PROTOCOLS), choices=PROTOCOLS)
    parser.add_argument(
        "--single",
        nargs="*",
        default=[],
        choices=TORCH_MODELS,
        help="torch models trained as one seed only (no ensemble), to fit a CPU budget",
    )
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument(
        "--skip",
        nargs="*",
        default=[],
        metavar="PROTOCOL:MODEL",
        help="combinations not run (named on the page), e.g. site_kfold:ilstm",
    )
    parser.add_argument(
        "--cube",
        type=Path,
        help="read the sites' daily cube from this Zarr store (written by --save-cube) "
        "instead of hh.zarr, e.g. on a machine without the data folder",
    )
    parser.add_argument(
        "--save-cube",
        type=Path,
        metavar="ZARR",
        help="write the daily cube of the selected sites to this Zarr store and stop",
    )
    parser.add_argument(
        "--train-only",
        action="store_true",
        help="train what is missing and stop (write the page from every result later)",
    )
    args = parser.parse_args()
    skip = {tuple(item.split(":", 1)) for item in args.skip}
    unknown = [":".join(k) for k in skip if k[0] not in PROTOCOLS or k[-1] not in MODELS]
    if unknown:
        parser.error(
            f"--skip {unknown}: expected PROTOCOL:MODEL with {PROTOCOLS} and {list(MODELS)}"
        )
    timer = repro.start(args)
    work = repro.work_dir("generalisation", args.quick)

    if args.cube:
        with timer(f"load the daily cube {args.cube}"):
            cube = open_cube(args.cube, chunks=None).isel(site=slice(12 if args.quick else None))
            cube, sites = cube.load(), cube["site"].values.astype(str).tolist()
    else:
        with timer("load hh.zarr (204 sites), daily, QC"):
            base = experiment("rf", [], "temporal", 1, False)
            cube, sites = repro.long_record_cube(
                base.data, lambda years: years >= 5, limit=12 if args.quick else None
            )
    print(f"{len(sites)} sites with at least 5 years of valid daily NEE", flush=True)
    if args.save_cube:
        write_cube(cube, args.save_cube, overwrite=True)
        print(f"wrote {args.save_cube}", flush=True)
        return

    names = {"site_kfold": "site k-fold", "temporal": "temporal"}
    preds: dict[tuple[str, str], xr.Dataset] = {}
    fitting: dict[tuple[str, str], dict] = {}
    spread: dict[tuple[str, str], list[float]] = {}
    reused: list[str] = []
    for protocol in args.protocols:
        for name in args.models:
            if (protocol, name) in skip:
                continue
            seeds = 1 if name in args.single else args.seeds
            cfg = experiment(name, sites, protocol, seeds, args.quick)
            folder = work / protocol / name
            what = f"{name}, {protocol}"
            kfold = protocol == "site_kfold"
            if args.reuse and (
                repro.same_folds(folder, cfg, args.folds) if kfold else repro.same_run(folder, cfg)
            ):
                print(f"{what}: reusing {folder} (same config)", flush=True)
                reused.append(what)
            elif kfold:
                with timer(f"{what}: {args.folds} folds, train + predict held-out towers"):
                    validate_upscaling(
                        cfg, output=folder, n_folds=args.folds, overwrite=True, cube=cube
                    )
            else:
                with timer(f"{what}: train on all sites, predict"):
                    train_experiment(cfg, output=folder, overwrite=True, cube=cube)
            if args.train_only:
                continue
            ensemble = bool(cfg.ensemble.seeds)
            fitting[(names[protocol], name)] = fit_cost(folder, cfg.train)
            got, r2 = predictions(folder, protocol, ensemble)
            for kind, p in got.items():
                preds[(protocol, label(name, kind, args.seeds))] = p
            if r2:
                spread[(protocol, name)] = r2
    if args.train_only:
        return

    # the temporal protocol's test days, to score held-out towers on the same days
    test_days = temporal_split(cube, test_fraction=repro.TAIL_SPLIT["test_fraction"])
    test_days = (test_days["part"] == TEST).transpose("site", "time")
    rows: dict[str, dict[str, float]] = {}
    tables: dict[str, pd.DataFrame] = {}
    for protocol in args.protocols:
        table = pd.DataFrame({m: pooled_row(p) for (pr, m), p in preds.items() if pr == protocol}).T
        table.index.name = "model"
        tables[protocol] = table
        for m, row in table.iterrows():
            rows.setdefault(m, {})[names[protocol]] = row["r2"]
        if protocol == "site_kfold":
            for (pr, m), p in preds.items():
                if pr == protocol:
                    rows[m]["site k-fold, test days"] = pooled_row(p, test_days)["r2"]
    pooled = pd.DataFrame(rows).T
    pooled.index.name = "model"
    if {"temporal", "site k-fold, test days"} <= set(pooled):
        pooled["drop at unseen towers"] = pooled["temporal"] - pooled["site k-fold, test days"]

    per_site, per_igbp, igbp_long = [], {}, []
    n_sites = pd.Series(cube.igbp.values.astype(str)).replace("", "(unknown)").value_counts()
    for protocol in args.protocols:
        igbp = {}
        for (pr, m), p in preds.items():
            if pr != protocol:
                continue
            site = scores(p, by="site", part="test").to_dataframe()[["r2", "rmse", "mae", "n"]]
            site = site.reset_index().assign(protocol=protocol, model=m)
            of_site = dict(zip(p.site.values, p["igbp"].values.astype(str), strict=True))
            per_site.append(site.assign(igbp=site["site"].map(of_site)))
            by_igbp = scores(p, by="igbp", part="test").to_dataframe()[["r2", "rmse", "mae", "n"]]
            igbp_long.append(by_igbp.reset_index().assign(protocol=protocol, model=m))
            igbp[m] = by_igbp["r2"]
        frame = pd.DataFrame(igbp)
        frame.index = [i or "(unknown)" for i in frame.index]
        frame.insert(0, "sites", n_sites.reindex(frame.index).fillna(0).astype(int))
        frame.index.name = "IGBP"
        per_igbp[protocol] = frame
    per_site = pd.concat(per_site, ignore_index=True)
    site_summary = {}
    for protocol in args.protocols:
        wide = per_site[per_site["protocol"] == protocol].pivot(
            index="site", columns="model", values="r2"
        )
        site_summary[protocol] = repro.site_summary(wide).reindex(tables[protocol].index)

    targets = []
    protocol_of = {"site k-fold": "site_kfold", "temporal": "temporal"}
    for column in ("site k-fold", "site k-fold, test days", "temporal"):
        if column not in pooled:
            continue
        r2 = pooled[column].dropna()
        rec = r2[[m.split()[0] in RECURRENT for m in r2.index]]
        bas = r2[[m.split()[0] not in TORCH_MODELS for m in r2.index]]
        if len(rec) and len(bas):
            margin = rec.max() - bas.max()
            # a margin inside the members' spread is said so: another seed set may flip it
            members = spread.get((protocol_of.get(column), rec.idxmax().split()[0]), [])
            width = max(members) - min(members) if members else np.nan
            within = (
                f"; smaller than the spread of its members' R2 ({width:.3f})"
                if abs(margin) < width
                else ""
            )
            targets.append(
                f"* {column}: best recurrent **{rec.idxmax()}** R2 {rec.max():.3f} vs "
                f"best baseline **{bas.idxmax()}** {bas.max():.3f}: "
                f"{'met' if margin > 0 else 'not met'} ({margin:+.3f}{within})."
            )

    figdir = work / "figures" if args.quick else repro.FIGURES
    figdir.mkdir(parents=True, exist_ok=True)
    fig_path = figdir / "generalisation_pooled.png"
    figure(pooled, per_site, fig_path)
    link = str if args.quick else repro.rel
    data_dir = work if args.quick else repro.DATA
    sites_csv = data_dir / "generalisation_sites.csv"
    per_site.round(4).to_csv(sites_csv, index=False)
    igbp_csv = data_dir / "generalisation_igbp.csv"
    pd.concat(igbp_long, ignore_index=True).round(4).to_csv(igbp_csv, index=False)

    budget = "; ".join(
        f"`{m}` {MODELS[m][0]}" + (f", {MODELS[m][1]}" if MODELS[m][1] else "") for m in args.models
    )
    t = experiment("lstm", sites, "temporal", 1, False).train
    single_text = f" ({', '.join(args.single)}: one seed only)" if args.single else ""
    not_run = "; ".join(f"{m} in {names[pr]}" for pr, m in sorted(skip))
    not_run_text = f" Not run, to fit the CPU budget: {not_run}." if skip else ""
    spread_lines = "\n".join(
        f"* {names[pr]}, {m}: member R2 {min(v):.3f}-{max(v):.3f} ({len(v)} seeds; the "
        "single-model row is seed 0)"
        for (pr, m), v in spread.items()
    )
    sections = []
    for protocol in args.protocols:
        sections.append(
            f"""## {names[protocol]}: pooled scores (gC m-2 d-1)

{repro.md_table(tables[protocol])}

### R2 per IGBP class

{repro.md_table(per_igbp[protocol])}

### Per-site R2

{repro.md_table(site_summary[protocol], ints=("sites with R2 < 0", "sites where best"))}
"""
        )
    fit_table = pd.DataFrame.from_dict(fitting, orient="index")
    fit_table.index = [f"{pr}, {m}" for pr, m in fit_table.index]
    fit_table.index.name = "result"
    fit_table = fit_table.dropna(axis="columns", how="all")
    on_gpu = fit_table["device"].str.contains("cuda").any()
    hardware = (
        "a CUDA GPU (the device of every fit is in the run-time table)"
        if on_gpu
        else "2 cores, no GPU"
    )
    text = f"""# Generalisation: recurrent models vs classic learners at unseen towers

Written by `benchmarks/reproduce_generalisation.py` on {time.strftime("%Y-%m-%d")}
({repro.machine()}){" -- QUICK SMOKE RUN, not a result" if args.quick else ""}.

## Protocol

* Sites: the {len(sites)} sites of hh.zarr with at least 5 years of valid daily NEE after QC
  (NEE masked where fewer than 70% of the half-hours are measured or good gap-fill).
* Inputs: **ta, sw_in, vpd** (daily), day of year (sine, cosine), latitude/longitude and an
  IGBP one-hot, {LOOKBACK}-day windows. The baselines (LASSO, SVR, RF) see means of every
  input over the last 1, 7, 30 and {LOOKBACK} days (lagged features).
* **site k-fold**: the sites in {args.folds} folds stratified by IGBP class (seed 0). A fold's
  model is trained on the other folds' towers (the last 20% of each training tower's record
  validates early stopping) and predicts **every day of the towers it never saw** through the
  upscaling kernel (`fluxgrid validate-upscaling`). "site k-fold, test days" scores the same
  predictions on the temporal protocol's test days only, so both protocols are compared on
  the same days.
* **temporal**: one model for all sites; the last 20% of each site's record is the test part,
  the last 20% of the rest validation (the model-comparison protocol).
* Models (fixed settings, nothing tuned on held-out towers or test days): {budget}.
  Torch models: fluxgrid's training defaults (Adam lr {t.lr:g}, {t.loss.upper()}, gradient
  clipping {t.grad_clip}, batch {t.batch_size}), trained as {args.seeds}-member seed
  ensembles{single_text}: the single-model row is seed 0, the ensemble row the member mean.
* **Budget** ({hardware}). The torch models see at most `max_batches_per_epoch` x
  {t.batch_size} random training windows per epoch for at most `epochs` epochs (early
  stopping with `patience`), SVR and RF a seeded subset of the training windows: all are
  trained far less than a GPU run would allow, the recurrent models most.{not_run_text}

## Pooled R2 by protocol

{repro.md_table(pooled)}

**Target** (the best recurrent model or its ensemble ahead of the best baseline, pooled R2;
the headline is the site k-fold over all days):

{chr(10).join(targets) or "(recurrent models or baselines not run)"}

Seed spread (pooled test R2 of each member):

{spread_lines or "(no ensembles run)"}

![pooled R2 and per-site R2 at held-out towers]({link(fig_path)})

{chr(10).join(sections)}
R2, RMSE and MAE (gC m-2 d-1) per protocol and model for every site,
[{sites_csv.name}]({link(sites_csv)}), and every IGBP class, [{igbp_csv.name}]({link(igbp_csv)}).

## Run time

Fitting, as recorded in the runs' histories: seconds summed over every fold and member (the
baselines' one fit each); for the torch models the epochs run per fit, seconds per epoch
(validation included) and training windows per second, and on a GPU the largest peak memory
torch held:

{repro.md_table(fit_table, floats="{:.2f}", ints=("runs", "seconds", "windows / s"))}

This invocation:

{repro.closing_lines(timer, sites, reused)}"""
    repro.publish(text, "generalisation.md", work, args.quick)
    print(pooled.round(3).to_string())


if __name__ == "__main__":
    main()
