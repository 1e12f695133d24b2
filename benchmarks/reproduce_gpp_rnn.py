"""Reproduce the GPP study: RNN vs GRU vs LSTM on daily GPP at forest towers, on a CPU budget.

Protocol (``recipes/gpp_rnn.yaml``, :mod:`fluxgrid.studies.gpp`): FLUXNET2015 forest sites
(IGBP ENF, DBF, MF, EBF) of hh.zarr in Europe (the recipe's bbox) or everywhere
(``--region all``), daily GPP_NT with days of QC fraction < 0.7 and negative GPP discarded,
sites with < 60% valid days dropped; predictors ta, sw_in, vpd, simulated clear-sky shortwave
radiation and day of year, predictor gaps linearly interpolated (the target never); the first
60% of each site's years train (the last 20% of their valid days validate), the rest test;
90-day sequence-to-one windows; one pooled, site-agnostic RNN, GRU and LSTM, each tuned with
Hyperband (MAE loss, dropout 0.2, best validation checkpoint); NRMSE per site and model on
the whole test period, its growing season and its climate-induced extreme days; paired
Wilcoxon tests between models across sites; permutation importance (10 repeats, NRMSE
increase) per site and model and the median rank of each predictor. Beside each tuned
model, a seed ensemble (``--seeds``, default 3) trained again with its chosen settings.

The full search of the recipe (up to 5 layers x 512 units, 30 trials per model, 50 epochs) is
GPU-hours; this script runs the same code with a reduced CPU budget (``budget()``; every
reduction is listed on the page): a smaller search space, few Hyperband trials with a time
cap per model, few epochs of capped random batches, and permutation importance on a seeded
sample of test windows per site.

Writes docs/results/gpp_rnn.md, its figures (docs/results/figures/gpp_rnn_*.png) and small
tables (docs/results/data/gpp_rnn_*.csv); the whole study result (predictions, scores, models)
goes to runs/gpp_rnn/result. ``--quick`` is a smoke run on 7 sites that writes its page to
runs/gpp_rnn/quick.md instead.

Usage::

    python benchmarks/reproduce_gpp_rnn.py [--region europe|all] [--threads 1] [--quick]
        [--trials 10] [--epochs 9] [--batches 40] [--search-timeout 540]
        [--importance-windows 200] [--importance-repeats 10] [--seeds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

import _repro_common as repro
import numpy as np
import pandas as pd
import torch
import xarray as xr

from fluxgrid.config import from_dict, to_dict
from fluxgrid.config.experiment import EnsembleConfig, SearchConfig, TrainConfig
from fluxgrid.evaluate import write_csv
from fluxgrid.plots import save_figure
from fluxgrid.studies.gpp import (
    GppStudyConfig,
    GppStudyResult,
    ImportanceConfig,
    compare_models,
    ensemble_label,
    gpp_scores,
    load_gpp_config,
    run_gpp_study,
    score_summary,
)
from fluxgrid.studies.gpp.figures import (
    plot_extreme_series,
    plot_importance_ranking,
    plot_score_boxes,
)
from fluxgrid.training.ensemble import member_predictions

RECIPE = repro.ROOT / "recipes" / "gpp_rnn.yaml"
#: the published finding the importance ranking is checked against
PUBLISHED_FIRST = "sw_clearsky"
#: smoke-run sites: six European forests and IT-Col (dropped: < 60% valid days)
QUICK_SITES = ("DE-Hai", "DE-Tha", "FR-Pue", "CH-Dav", "FI-Hyy", "BE-Vie", "IT-Col")
#: reduced search space of the CPU run (the recipe: layers 1-5, units 32-512)
SPACE = {
    "model.layers": {"low": 1, "high": 2, "integer": True},
    "model.hidden": {"choices": [16, 32, 64]},
    "train.lr": {"low": 1e-4, "high": 1e-2, "log": True},
}
SETTING_NAMES = {
    "full": "full test period",
    "growing_season": "growing season",
    "extremes": "climate extremes",
}
#: page labels of the study's column names (ranking and search-trial tables)
LABELS = {
    "median_rank": "median rank",
    "rank_q25": "rank q25",
    "rank_q75": "rank q75",
    "share_first": "share of sites ranked first",
    "median_importance": "median NRMSE increase",
    "model.layers": "layers",
    "model.hidden": "hidden",
    "train.lr": "lr",
    "value": "val MAE (scaled)",
    "best_epoch": "best epoch",
}
ALPHA = 0.05
#: columns printed as integers (last word of the column name)
INTS = (
    *repro.INT_COLUMNS,
    *("days", "trial", "layers", "hidden", "epoch", "events", "trials", "pruned", "seconds"),
    *("observed", "interpolated", "missing", "position"),
)


def table(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    """:func:`repro.md_table` with this page's count columns as integers."""
    return repro.md_table(frame, floats=floats, ints=INTS)


def predictor_origins(result: GppStudyResult) -> pd.DataFrame:
    """Site-days of each predictor inside each site's GPP record, by origin."""
    data = result.data
    valid = data.cube[data.target].transpose("site", "time").notnull().values
    pos = np.arange(valid.shape[1])
    first = np.where(valid.any(axis=1), valid.argmax(axis=1), valid.shape[1])
    last = valid.shape[1] - 1 - valid[:, ::-1].argmax(axis=1)
    inside = (pos[None, :] >= first[:, None]) & (pos[None, :] <= last[:, None])
    rows = {}
    for name in data.predictors:
        values = data.cube[name].transpose("site", "time").notnull().values
        flag = f"{name}_filled"
        filled = (
            data.cube[flag].transpose("site", "time").values == 1
            if flag in data.cube
            else np.zeros_like(values)
        )
        rows[name] = {
            "observed": int((inside & values & ~filled).sum()),
            "linearly interpolated": int((inside & filled).sum()),
            "still missing": int((inside & ~values).sum()),
        }
    frame = pd.DataFrame(rows).T
    frame.index.name = "predictor"
    return frame


def budget(args: argparse.Namespace) -> GppStudyConfig:
    """The recipe's config with the CPU budget of this run (every change listed on the page)."""
    full = load_gpp_config(RECIPE)
    data = dataclasses.replace(
        full.data,
        source=str(repro.HH),
        bbox=full.data.bbox if args.region == "europe" else None,
        sites=QUICK_SITES if args.quick else None,
    )
    train = from_dict(
        TrainConfig,
        {
            **to_dict(full.train),
            "epochs": args.epochs,
            "max_batches_per_epoch": args.batches,
            "patience": 3,
            "num_threads": args.threads,
            "seed": 0,
        },
    )
    search = from_dict(
        SearchConfig,
        {
            **to_dict(full.search),
            "n_trials": args.trials,
            "space": SPACE,
            "timeout_s": args.search_timeout,
        },
    )
    importance = from_dict(
        ImportanceConfig,
        {
            **to_dict(full.importance),
            "max_windows_per_site": args.importance_windows,
            "n_repeats": args.importance_repeats,
        },
    )
    seeds = tuple(range(args.seeds)) if args.seeds > 1 else ()
    return dataclasses.replace(
        full,
        data=data,
        train=train,
        search=search,
        importance=importance,
        ensemble=EnsembleConfig(seeds=seeds),
        description="benchmarks/reproduce_gpp_rnn.py: the GPP study on a CPU budget",
    )


def display(label: str) -> str:
    """``gru`` -> ``GRU``, ``gru_x3`` -> ``GRU x3``."""
    return label.upper().replace("_X", " x")


def singles(result: GppStudyResult) -> list[str]:
    """The tuned models (the study's comparison), without the ensembles."""
    return list(result.config.models)


def fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "-"
    return f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


def significance_table(result: GppStudyResult) -> pd.DataFrame:
    """Paired tests between the tuned models (Holm over their pairs; ensembles apart)."""
    sig = compare_models(result.scores.sel(model=singles(result)))
    rows = []
    for setting in sig.setting.values:
        for pair in sig.pair.values:
            t = sig.sel(setting=setting, pair=pair)
            a, b = str(t.model_a.values), str(t.model_b.values)
            rows.append(
                {
                    "setting": SETTING_NAMES.get(str(setting), str(setting)),
                    "pair (a-b)": f"{display(a)}-{display(b)}",
                    "sites": int(t.n_sites),
                    "median NRMSE a-b": float(t.median_difference),
                    "sites where a better": f"{int(t.a_better)}/{int(t.n_sites)}",
                    "Wilcoxon p": fmt_p(float(t.p_value)),
                    "Holm p": fmt_p(float(t.p_holm)),
                    "significant (Holm p < 0.05)": "yes" if float(t.p_holm) < ALPHA else "no",
                }
            )
    return pd.DataFrame(rows).set_index("setting")


def decisive(result: GppStudyResult) -> pd.DataFrame:
    """Per setting: the model with the lowest median NRMSE and whether it beats both others."""
    summary = result.summary().sel(model=singles(result))
    sig = compare_models(result.scores.sel(model=singles(result)))

    def holm(setting: str, a: str, b: str) -> float:
        pair = f"{a}-{b}" if f"{a}-{b}" in sig.pair.values else f"{b}-{a}"
        return float(sig.p_holm.sel(setting=setting, pair=pair))

    rows = []
    for setting in summary.setting.values:
        med = summary.q50.sel(setting=setting).to_series()
        if med.isna().all():
            continue
        best = str(med.idxmin())
        p = {str(o): holm(setting, best, str(o)) for o in med.index if o != best}
        rows.append(
            {
                "setting": SETTING_NAMES.get(str(setting), str(setting)),
                "lowest median NRMSE": best.upper(),
                "median NRMSE": float(med[best]),
                "Holm p against the others": ", ".join(
                    f"{o.upper()} {fmt_p(v)}" for o, v in p.items()
                ),
                "decisive": "yes" if all(v < ALPHA for v in p.values()) else "no",
            }
        )
    return pd.DataFrame(rows).set_index("setting")


def member_medians(result: GppStudyResult, ensemble: str) -> xr.DataArray:
    """Median NRMSE across sites of each member of ``ensemble``, ``(model, setting)``."""
    ds = result.predictions[ensemble]
    members = {str(int(s)): member_predictions(ds, int(s)) for s in ds["member"].values}
    scores = gpp_scores(members, result.extremes, min_extreme_days=result.config.extremes.min_days)
    return score_summary(scores, "nrmse").q50


def ensemble_table(result: GppStudyResult) -> pd.DataFrame:
    """Per setting and model: the tuned model against its seed ensemble, paired by site."""
    rows = []
    models = [str(m) for m in result.scores.model.values]
    for label in singles(result):
        ens = next((m for m in models if m.startswith(f"{label}_x")), None)
        if ens is None:
            continue
        test = compare_models(result.scores.sel(model=[label, ens]))
        med = result.summary().q50
        spread = member_medians(result, ens)
        for setting in test.setting.values:
            t = test.sel(setting=setting).isel(pair=0)
            lo, hi = (float(f(spread.sel(setting=setting))) for f in (np.min, np.max))
            single, mean = (
                float(med.sel(model=label, setting=setting)),
                float(med.sel(model=ens, setting=setting)),
            )
            rows.append(
                {
                    "setting": SETTING_NAMES.get(str(setting), str(setting)),
                    "model": display(label),
                    "tuned model": single,
                    "ensemble": mean,
                    "members": display(ens).split()[-1],
                    "members' medians (min-max)": f"{lo:.3f}-{hi:.3f}",
                    "sites where the ensemble is better": f"{int(t.n_sites - t.a_better)}/"
                    f"{int(t.n_sites)}",
                    "Wilcoxon p": fmt_p(float(t.p_value)),
                }
            )
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()


def summary_table(result: GppStudyResult) -> pd.DataFrame:
    s = result.summary()
    frame = s[["q50", "q25", "q75", "q05", "q95", "mean", "n_sites"]].to_dataframe()
    frame = frame[["q50", "q25", "q75", "q05", "q95", "mean", "n_sites"]]
    frame.columns = ["median", "q25", "q75", "q05", "q95", "mean", "sites"]
    frame = frame.reset_index()
    frame["setting"] = frame["setting"].map(lambda v: SETTING_NAMES.get(v, v))
    frame["model"] = frame["model"].map(display)
    return frame.set_index("setting")


def extremes_tables(result: GppStudyResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Extreme test days and events per site; error metrics on extreme vs all test days."""
    data = result.data
    test = data.split.part.sel(site=data.sites) == 3
    ext = result.extremes.sel(site=data.sites) & test
    valid = data.cube[data.target].notnull()
    ext_valid = ext & valid
    events = {}
    for site in data.sites:
        m = np.concatenate([[False], ext.sel(site=site).values.astype(bool), [False]])
        events[site] = int((np.diff(m.astype(int)) == 1).sum())
    min_days = result.config.extremes.min_days
    per_site = pd.DataFrame(
        {
            "igbp": data.cube.igbp.values.astype(str),
            "test days (valid GPP)": (test & valid).sum("time").values,
            "extreme test days": ext_valid.sum("time").values,
            "events": pd.Series(events).reindex(data.sites).values,
        },
        index=pd.Index(data.sites, name="site"),
    )
    per_site["scored"] = np.where(per_site["extreme test days"] >= min_days, "yes", "no")
    s = result.scores
    rows = []
    for m in s.model.values:
        for setting in ("full", "extremes"):
            one = s.sel(model=m, setting=setting)
            rows.append(
                {
                    "model": display(str(m)),
                    "days": SETTING_NAMES[setting],
                    "median NRMSE": float(one.nrmse.median(skipna=True)),
                    "median RMSE": float(one.rmse.median(skipna=True)),
                    "median bias (pred - obs)": float(one.bias.median(skipna=True)),
                    "median R2": float(one.r2.median(skipna=True)),
                    "sites": int(one.nrmse.notnull().sum()),
                }
            )
    errors = pd.DataFrame(rows).set_index("model")
    return per_site, errors


def ranking_tables(result: GppStudyResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    rank = result.ranking()
    frame = rank[["median_rank", "rank_q25", "rank_q75", "share_first", "median_importance"]]
    long = frame.to_dataframe().reset_index()
    long["model"] = long["model"].str.upper()
    long = long.rename(columns=LABELS)
    long = long.sort_values(["model", "median rank"]).set_index("model")
    rows = []
    for m in rank.model.values:
        r = rank.sel(model=m)
        order = [str(d) for d in r.order.values]
        med = r.median_rank.to_series()
        first = float(r.share_first.sel(driver=PUBLISHED_FIRST))
        rows.append(
            {
                "model": str(m).upper(),
                "order by median rank": ", ".join(order),
                "sw_clearsky median rank": float(med[PUBLISHED_FIRST]),
                "sw_clearsky position": order.index(PUBLISHED_FIRST) + 1,
                "sw_clearsky first at sites": f"{first:.0%}",
                "ranks first (median)": "yes" if order[0] == PUBLISHED_FIRST else "no",
            }
        )
    clearsky = pd.DataFrame(rows).set_index("model")
    return long, clearsky


def trials_table(result: GppStudyResult) -> pd.DataFrame:
    frames = []
    for (label, _group), fit in result.fits.items():
        if fit.search is None:
            continue
        t = fit.search.to_dataframe().reset_index()
        t.insert(0, "model", label.upper())
        frames.append(t)
    frame = pd.concat(frames)
    frame = frame.rename(columns=LABELS)
    keep = ["model", "trial", "layers", "hidden", "lr", "state"]
    keep += ["val MAE (scaled)", "best epoch", "seconds"]
    frame = frame[keep].set_index("model")
    frame["lr"] = frame["lr"].map(lambda v: f"{v:.2e}")
    frame["seconds"] = frame["seconds"].round(0)
    return frame


def extreme_site_year(result: GppStudyResult) -> tuple[str, int]:
    """The site with the most extreme test days, and its test year with the most."""
    test = result.data.split.part.sel(site=result.data.sites) == 3
    ext = result.extremes.sel(site=result.data.sites) & test
    site = str(ext.sum("time").idxmax("site").values)
    per_year = ext.sel(site=site).groupby("time.year").sum()
    return site, int(per_year.idxmax("year").values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", choices=["europe", "all"], default="europe")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: on two shared cores, 2 threads measured 5-15x slower)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run (7 sites, 1 epoch)")
    parser.add_argument("--trials", type=int, default=None, help="Hyperband trials per model")
    parser.add_argument("--epochs", type=int, default=None, help="Hyperband maximum epochs")
    parser.add_argument("--batches", type=int, default=None, help="batches per epoch (cap)")
    parser.add_argument(
        "--search-timeout",
        type=float,
        default=None,
        help="seconds per model after which the search starts no new trial",
    )
    parser.add_argument(
        "--importance-windows", type=int, default=None, help="test windows per site"
    )
    parser.add_argument("--importance-repeats", type=int, default=None)
    parser.add_argument(
        "--seeds", type=int, default=3, help="members of each seed ensemble (1: none)"
    )
    args = parser.parse_args()
    defaults = (
        {"trials": 2, "epochs": 1, "batches": 3, "search_timeout": 60.0}
        | {"importance_windows": 20, "importance_repeats": 2}
        if args.quick
        else {"trials": 10, "epochs": 9, "batches": 40, "search_timeout": 540.0}
        | {"importance_windows": 200, "importance_repeats": 10}
    )
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(args.threads)
    timer = repro.Timer()
    work = repro.ROOT / "runs" / "gpp_rnn"
    if args.quick:
        figdir, datadir, page = work / "quick_figures", work / "quick_data", work / "quick.md"
        link = str
        out = work / "quick_result"
    else:
        repro.ensure_dirs()
        figdir, datadir, page = repro.FIGURES, repro.DATA, repro.RESULTS / "gpp_rnn.md"
        link = repro.rel
        out = work / "result"
    figdir.mkdir(parents=True, exist_ok=True)
    datadir.mkdir(parents=True, exist_ok=True)
    cfg = budget(args)
    full = load_gpp_config(RECIPE)

    with timer("GPP study: read, QC, clear-sky, split, Hyperband x 3 models, scores, importance"):
        result = run_gpp_study(cfg, output=out, overwrite=True, note=lambda m: print(m, flush=True))

    with timer("tables and figures"):
        data = result.data
        sites = data.sites
        report = data.site_report.to_dataframe()
        report = report[["igbp", "valid_fraction", "kept", "reason"]]
        dropped = report[~report["kept"]][["igbp", "valid_fraction", "reason"]]
        dropped.columns = ["igbp", "valid fraction", "reason"]
        split = data.split_summary()
        split_years = split[["igbp", "train days", "val days", "test days"]].copy()
        for part in ("train", "test"):
            years = split[f"{part} years"].astype(str).str.split(",")
            split_years[f"{part} years"] = years.map(
                lambda y: f"{y[0]}-{y[-1]} ({len(y)})" if y and y[0] else "-"
            )
        summary = summary_table(result)
        sig = significance_table(result)
        verdict = decisive(result)
        ensembles = ensemble_table(result)
        ext_sites, ext_errors = extremes_tables(result)
        ranks, clearsky = ranking_tables(result)
        search = result.search_table().reset_index(level="group", drop=True)
        search.index = search.index.str.upper()
        trials = trials_table(result)
        gap_table = predictor_origins(result)

        prefix = "gpp_rnn"
        tables = {
            "scores": datadir / f"{prefix}_scores.csv",
            "significance": datadir / f"{prefix}_significance.csv",
            "ranking": datadir / f"{prefix}_ranking.csv",
            "sites": datadir / f"{prefix}_sites.csv",
        }
        per_site = (
            result.scores[["nrmse", "rmse", "r2", "bias", "n"]]
            .to_dataframe()[["nrmse", "rmse", "r2", "bias", "n"]]
            .round(4)
        )
        write_csv(per_site, tables["scores"])
        write_csv(result.significance().to_dataframe(), tables["significance"])
        write_csv(ranks, tables["ranking"])
        write_csv(report, tables["sites"])

        figs = {
            "boxes": figdir / f"{prefix}_nrmse_boxes.png",
            "extremes": figdir / f"{prefix}_extremes_series.png",
            "extremes_year": figdir / f"{prefix}_extremes_year.png",
            "ranking": figdir / f"{prefix}_importance_ranking.png",
        }
        save_figure(
            plot_score_boxes(
                result.scores,
                metric="nrmse",
                title="NRMSE per site on the test years (median, quartiles, 5-95% whiskers)",
            ),
            figs["boxes"],
            overwrite=True,
        )
        ext_site, ext_year = extreme_site_year(result)
        tuned = {m: result.predictions[m] for m in singles(result)}
        save_figure(
            plot_extreme_series(tuned, ext_site, result.extremes),
            figs["extremes"],
            overwrite=True,
        )
        save_figure(
            plot_extreme_series(
                tuned,
                ext_site,
                result.extremes,
                start=f"{ext_year}-01-01",
                end=f"{ext_year}-12-31",
                title=f"{ext_site} in {ext_year}: observed GPP_NT, predictions, extreme days",
            ),
            figs["extremes_year"],
            overwrite=True,
        )
        save_figure(plot_importance_ranking(result.ranking()), figs["ranking"], overwrite=True)

    n_decisive = int((verdict["decisive"] == "yes").sum())
    n_settings = len(verdict)
    cs_first = clearsky[clearsky["ranks first (median)"] == "yes"].index.tolist()
    cs_line = "; ".join(
        f"{m}: median rank {row['sw_clearsky median rank']:g} (position "
        f"{row['sw_clearsky position']} of {len(data.predictors) + int(data.day_of_year)}), "
        f"first at {row['sw_clearsky first at sites']} of the sites"
        for m, row in clearsky.iterrows()
    )
    n_trials = {m: int(r["trials"]) for m, r in search.iterrows()}
    n_pruned = {m: int(r["pruned"]) for m, r in search.iterrows()}
    region = (
        f"Europe (bbox lon {full.data.bbox[0]:g} to {full.data.bbox[2]:g}, lat "
        f"{full.data.bbox[1]:g} to {full.data.bbox[3]:g})"
        if args.region == "europe"
        else "all regions"
    )
    if args.quick:
        region += f", limited to {len(QUICK_SITES)} sites ({', '.join(QUICK_SITES)})"
    candidates = len(report)
    reduce_rows = [
        ("sites", "forest sites of FLUXNET2015 (Europe, then all)", region),
        (
            "search space: layers",
            "1-5",
            f"{SPACE['model.layers']['low']}-{SPACE['model.layers']['high']}",
        ),
        (
            "search space: units",
            ", ".join(str(v) for v in full.search.space["model.hidden"].choices),
            ", ".join(str(v) for v in SPACE["model.hidden"]["choices"]),
        ),
        ("search space: learning rate", "1e-4 to 1e-2, log-uniform", "same"),
        (
            "Hyperband trials per model",
            str(full.search.n_trials),
            f"at most {args.trials}, no new trial after {args.search_timeout:.0f} s "
            f"(run: {', '.join(f'{m} {n}' for m, n in n_trials.items())})",
        ),
        (
            "epochs (Hyperband maximum resource)",
            str(full.train.epochs),
            f"{args.epochs} (reduction factor {cfg.search.reduction_factor}, minimum 1)",
        ),
        (
            "batches per epoch",
            "every training window",
            f"{args.batches} random batches of {cfg.train.batch_size} windows",
        ),
        ("early stopping patience", str(full.train.patience), str(cfg.train.patience)),
        (
            "permutation importance windows",
            "every test window",
            f"{args.importance_windows} seeded random test windows per site",
        ),
        (
            "permutation repeats",
            str(full.importance.n_repeats),
            str(cfg.importance.n_repeats),
        ),
    ]
    reductions = pd.DataFrame(reduce_rows, columns=["", "recipe (full protocol)", "this run"])
    reductions = reductions.set_index("")
    windows = {m: result.fits[(m.lower(), "all")].windows for m in search.index}
    w0 = next(iter(windows.values()))
    models_line = ", ".join(m.upper() for m in cfg.models)
    cs_verdict = (
        f"met for {', '.join(cs_first)} (first by median rank)"
        if cs_first
        else "not met: it is not the first predictor by median rank for any model"
    )
    sites_line = ", ".join(sites) + (
        f" (used) and {', '.join(dropped.index)} (dropped)" if len(dropped) else ""
    )
    command = " ".join(["python benchmarks/reproduce_gpp_rnn.py", *sys.argv[1:]])
    sampler_line = (
        f"With no more trials than the TPE sampler's 10 start-up trials, the {args.trials} "
        "trials of a model are drawn at random from the space, with the same seed for every "
        "model type: the architectures are compared on the same configurations (as far as "
        "each search got before its time cap)."
        if args.trials <= 10
        else "The first 10 trials are drawn at random (TPE start-up), the rest by TPE."
    )
    rung_list, r = [], cfg.search.min_epochs
    while r < cfg.train.epochs:
        rung_list.append(r)
        r *= cfg.search.reduction_factor
    rungs = "epochs " + ", ".join(str(v) for v in rung_list) if rung_list else "none"
    still = [m for m, r in search.iterrows() if int(r["best_epoch"]) >= args.epochs]
    still_line = (
        f"The chosen model of {', '.join(still)} had its best validation loss in the last "
        f"epoch ({args.epochs}): still improving when the budget ended."
        if still
        else "Every chosen model had its best validation loss before the last epoch."
    )
    settings_decisive = ", ".join(verdict.index[verdict["decisive"] == "yes"]) or "none"
    seeds = list(cfg.ensemble.seeds)
    if seeds:
        ensemble_line = (
            f"Seed ensembles: after its search, each model type is trained again with the "
            f"chosen settings once per seed ({', '.join(map(str, seeds))}; full "
            f"{cfg.train.epochs}-epoch budget, early stopping on the validation part) and "
            f"the members' mean is scored as `{display(ensemble_label('gru', len(seeds)))}` "
            "etc. beside the tuned model (the best Hyperband trial; the member with the "
            "tuned model's seed repeats that trial where it ran the whole budget). The tests "
            "between model types above compare the tuned models only."
        )
        ensemble_text = (
            "Median NRMSE across sites of the tuned model and of its seed ensemble, and the "
            "paired Wilcoxon test of the two (per model type and setting, not adjusted):\n\n"
            + table(ensembles)
        )
        member_line = (
            "seed ensembles (seconds): "
            + ", ".join(f"{m} {r['member_seconds']:.0f}" for m, r in search.iterrows())
            + ".\n"
        )
    else:
        ensemble_line = "Seed ensembles: not run (`--seeds 1`)."
        ensemble_text = "Not run (`--seeds 1`)."
        member_line = ""

    text = f"""# Daily GPP at forest towers: RNN vs GRU vs LSTM (year, growing season, extremes)

Written by `benchmarks/reproduce_gpp_rnn.py` on {time.strftime("%Y-%m-%d")}
({repro.machine()}){" -- QUICK SMOKE RUN, not a result" if args.quick else ""}.
Command: `{command}` (study code: `fluxgrid.studies.gpp`; config: `recipes/gpp_rnn.yaml` with
the CPU budget below).

## Protocol

* Sites: FLUXNET2015 sites of `hh.zarr` whose IGBP class (site metadata) is a forest (ENF,
  DBF, MF, EBF), {region}: {candidates} candidates, **{len(sites)} kept**,
  {len(dropped)} dropped (table below, with the reason).
* Target: daily GPP_NT (night-time partitioning, `GPP_NT_VUT_REF` aggregated to local
  standard-time days, gC m-2 d-1). Days whose QC fraction (share of measured or good gap-filled
  half-hours of NEE) is below 0.7 and days with negative GPP are discarded; sites with fewer
  than 60% valid days in their record are dropped.
* Predictors: **ta, sw_in, vpd** (daily means of TA_F, SW_IN_F, VPD_F), **simulated clear-sky
  shortwave radiation** `sw_clearsky` (`fluxgrid.rs.radiation`, Ineichen model, daily mean at
  the tower) and **day of year** (sine and cosine, permuted together as `doy`). **The
  Sentinel-1/-2 and MODIS inputs of the paper are not available offline** and are not used
  here; the recipe accepts them (`predictors.extra: [ndvi, evi, vh, vv, ...]` with
  `predictors.rs_cube:` a remote-sensing site cube from `recipes/rs_cube.yaml`). Predictor gaps
  up to {cfg.predictors.max_gap} days are linearly interpolated (windows touching longer gaps
  are skipped); the target is never filled.
* Split by years per site: the first 60% of a site's years with valid GPP train, the rest
  test; the last 20% of each site's valid training days are the validation part (Hyperband's
  validation loss and the best checkpoint). The test years are never seen before scoring.
* Models: {models_line}, sequence-to-one on {cfg.lookback}-day windows ending on the target
  day; one pooled, site-agnostic model per type for all sites; dropout 0.2, MAE loss, Adam,
  batch {cfg.train.batch_size}; each type tuned with Hyperband (Optuna TPE sampler +
  Hyperband pruner on the per-epoch validation loss) over layers, units and learning rate
  (log-uniform 1e-4 to 1e-2); the best trial's best-validation checkpoint is the model.
  Windows: {w0["train"]} training, {w0["val"]} validation, {w0["test"]} test.
* {ensemble_line}
* Scores: NRMSE = RMSE / (max - min of the observations) per site and model on the whole test
  period, its growing season (May-September; November-March south of the equator) and its
  climate-induced extreme days (anomaly from the site's mean seasonal cycle of observed GPP
  below the 10% quantile of the negative anomalies for at least 5 consecutive days; sites with
  fewer than {cfg.extremes.min_days} extreme test days get no extreme score). Differences
  between models: paired two-sided Wilcoxon signed-rank tests across sites per setting
  (`fluxgrid.studies.gpp.compare_models`), Holm-adjusted over the three pairs.
* Permutation importance per site and model (`fluxgrid.explain.permutation_importance`):
  each predictor's 90-day input sequences are shuffled between test windows of a site,
  {cfg.importance.n_repeats} repeats, importance = NRMSE increase; predictors ranked per site
  (1 = largest increase) and the median rank taken across sites per model.

### CPU budget: what is reduced

The full search of `recipes/gpp_rnn.yaml` is GPU-hours. This run keeps the protocol above and
reduces only the budget:

{table(reductions)}

{sampler_line} Hyperband stops a trial (PRUNED) whose validation loss at a rung ({rungs})
is not among the best third of the trials of its bracket that reached the rung (while fewer
than three did: not the best); a trial also stops after {cfg.train.patience} epochs without
improvement (best checkpoint kept). The models are much smaller and far less trained than in
the study: the scores below are those of this budget, not of the protocol's full search.

### Sites

Dropped sites:

{table(dropped) if len(dropped) else "none"}

Kept sites, valid GPP days per part and years (first-last, count):

{table(split_years)}

Predictor days of the kept sites between their first and last valid GPP day, by origin
(TA_F, SW_IN_F and VPD_F of FLUXNET2015 are already gap-filled by ONEFlux, so little is left
to interpolate):

{table(gap_table)}

## Hyperband search

Chosen parameters per model (best trial; validation MAE in scaled units):

{table(search, floats="{:.4g}")}

{still_line}

Every trial:

{table(trials, floats="{:.4f}")}

## NRMSE on the test years: full period, growing season, extremes

![NRMSE box plots]({link(figs["boxes"])})

Distribution of the per-site NRMSE across sites:

{table(summary)}

Per-site scores: [{tables["scores"].name}]({link(tables["scores"])}).

### Are the differences between models significant across sites?

Paired Wilcoxon signed-rank tests of the per-site NRMSE (two-sided; Holm-adjusted over the
three pairs of a setting):

{table(sig)}

Per setting, the model with the lowest median NRMSE and whether it is significantly better
than both others:

{table(verdict)}

### Seed ensembles beside the tuned models

{ensemble_text}

## Climate extremes

Extreme days per site in the test years (valid GPP days only) and the number of events:

{table(ext_sites)}

Errors on the extreme days against the whole test period (medians across sites; NRMSE on the
extreme days is normalised by their own, smaller range of GPP, so it is larger by
construction; the bias shows whether the models over- or underestimate GPP during extremes):

{table(ext_errors)}

The site with the most extreme test days, {ext_site}, over its test years and in {ext_year}
(extreme days shaded):

![extreme days]({link(figs["extremes"])})

![extreme year]({link(figs["extremes_year"])})

## Permutation importance ranking

![importance ranking]({link(figs["ranking"])})

Median rank per model and predictor (1 = most important; quartiles across sites):

{table(ranks)}

Clear-sky radiation against the published finding that it ranks first:

{table(clearsky)}

## Against the targets

* **The comparison is decisive** (the differences between models are significant across
  sites): decisive in {n_decisive} of {n_settings} settings ({settings_decisive}); a setting
  counts as decisive when the model with the lowest median NRMSE is better than each other
  model with a Holm-adjusted paired Wilcoxon p < {ALPHA} across the {len(sites)} sites.
  **{"met" if n_decisive == n_settings else "met in part" if n_decisive else "not met"}**.
* **Clear-sky radiation ranks first** (published): {cs_line}.
  **{cs_verdict}**.
* These are results of the reduced CPU budget (a search of at most {args.trials} trials per
  model over 1-2 layers and at most 64 units, at most {args.epochs} epochs of {args.batches}
  batches),
  without the paper's remote-sensing predictors; the full search of the recipe may change
  both the ranking of the models and of the predictors.

## Run time

{timer.table()}

Steps inside the study (seconds): {", ".join(f"{k} {v:.0f}" for k, v in result.seconds.items())}.
Search per model (seconds): {", ".join(f"{m} {r['seconds']:.0f}" for m, r in search.iterrows())};
{member_line}
pruned trials: {", ".join(f"{m} {n}" for m, n in n_pruned.items())}.

Data: {repro.FLUXNET2015}, sites
{sites_line}.
"""
    repro.write_text(page, text)
    print(f"wrote {page}")
    print(summary.round(3).to_string())
    print(verdict.to_string())
    print(clearsky.to_string())


if __name__ == "__main__":
    main()
