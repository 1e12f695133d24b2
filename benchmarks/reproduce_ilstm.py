"""Reproduce the iLSTM study at US-MMS, US-Oho and US-UMB: per-site test R2 and transfer matrix.

Protocol (Guo-Lin-Antulov-Fantulin IMV-LSTM applied to daily NEE of three US deciduous
forests): FLUXNET2015 half-hourly data of hh.zarr aggregated to local days, daily NEE masked
where less than 70% of its half-hours are measured or good gap-fill, drivers ta, sw_in, vpd
plus day of year (sine, cosine), 75-day look-back, random whole years per site with
train:test about 2:1 (validation years carved from the training years for early stopping),
one model per site, each applied to the test years of every site (3 x 3 transfer matrix).
LSTM, GRU, RNN, FNN and the LASSO, SVR and RF baselines run through the same protocol.
Hyper-parameters are fixed in ``MODELS`` below (chosen before looking at any test score),
except for the iLSTM, whose training objective (the mixture mean with MSE, or the paper's
mixture likelihood) and width are grid-searched per site on that site's validation years
(``SEARCH``); nothing is tuned on test data. Training settings are fluxgrid's defaults.

Each torch model is also trained with ``--seeds`` seeds: the page reports the spread of the
single models and the seed ensemble (members' predictions averaged) beside seed 0. The
``--pretrain`` models are in addition pre-trained on all three sites and fine-tuned per
site (``--fine-tune`` modes of :func:`fluxgrid.training.cross_site_transfer`).

Writes docs/results/ilstm.md, its figures in docs/results/figures/ and the matrices in
docs/results/data/ilstm_transfer.nc.

Usage::

    python benchmarks/reproduce_ilstm.py [--models ilstm lstm ...] [--seeds 5] [--threads 2]
        [--pretrain lstm] [--fine-tune full freeze_recurrent low_lr]
"""

from __future__ import annotations

import time

import _repro_common as repro
import numpy as np
import pandas as pd
import xarray as xr

from fluxgrid.config import ExperimentConfig, from_dict
from fluxgrid.evaluate import scores, transfer_matrix
from fluxgrid.io.store import to_netcdf
from fluxgrid.plots import (
    plot_attention,
    plot_obs_pred,
    plot_scatter,
    plot_transfer_matrix,
)
from fluxgrid.prep.pipeline import load_data
from fluxgrid.training import cross_site_transfer
from fluxgrid.training.ensemble import ensemble_predictions

SITES = ["US-MMS", "US-Oho", "US-UMB"]
PUBLISHED_R2 = {"US-MMS": 0.81, "US-Oho": 0.83, "US-UMB": 0.76}
PUBLISHED_MATRIX = np.array([[0.81, 0.68, 0.42], [0.68, 0.83, 0.59], [0.34, 0.65, 0.76]])

#: fixed hyper-parameters (not tuned on test data)
MODELS: dict[str, dict] = {
    "ilstm": {"hidden": 32},
    "lstm": {"hidden": 64, "dropout": 0.1},
    "gru": {"hidden": 64, "dropout": 0.1},
    "rnn": {"hidden": 64, "dropout": 0.1},
    "fnn": {"hidden": [128, 64], "dropout": 0.2},
    "lasso": {"alpha": 0.001},
    "svr": {"C": 1.0, "epsilon": 0.05},
    "rf": {"n_estimators": 200, "min_samples_leaf": 5},
}

TORCH_MODELS = ("ilstm", "lstm", "gru", "rnn", "fnn")
#: fine-tuning of the model pre-trained on all three sites (``--fine-tune``)
FINE_TUNE = {
    "full": {"mode": "full"},
    "freeze_recurrent": {"mode": "freeze_recurrent"},
    "low_lr": {"mode": "low_lr", "lr_factor": 0.1},
}

#: cross-site transfer figures: model -> (file, title)
TRANSFER_FIGURES = {
    "ilstm": ("ilstm_transfer_r2.png", "iLSTM transfer R2 (published in parentheses)"),
    "lstm": (
        "ilstm_study_lstm_transfer_r2.png",
        "LSTM transfer R2 (published iLSTM in parentheses)",
    ),
}
#: per-site grid searches on the validation years (lowest validation loss wins)
SEARCH: dict[str, dict] = {
    "ilstm": {
        "method": "grid",
        "metric": "val_loss",
        "space": {
            "model.objective": {"choices": ["mean", "mixture"]},
            "model.hidden": {"choices": [32, 64]},
        },
    },
}


def diagonal_mean(matrix: xr.Dataset) -> float:
    """Mean R2 of the models tested at their own site."""
    r2 = matrix.r2.transpose("train_site", "test_site").values
    return float(np.diag(r2).mean())


def experiment(name: str, params: dict, epochs: int | None, seed: int = 0) -> ExperimentConfig:
    return from_dict(
        ExperimentConfig,
        {
            "data": repro.nee_data(repro.HH, SITES),
            "split": {
                "method": "random_years",
                "test_fraction": 1 / 3,
                "validation": "years",
                "val_fraction": 0.2,
                "seed": 0,
            },
            "windows": {"lookback": 75, "static": ["doy"]},
            "model": {"name": name, "params": params},
            # fluxgrid's training defaults (benchmarks/reproduce_defaults.py), seeded
            "train": {"seed": seed, "device": "auto"} | ({"epochs": epochs} if epochs else {}),
            "search": SEARCH.get(name, {"method": "none"}),
            "description": "iLSTM study reproduction (three US forests)",
        },
    )


def main() -> None:
    parser = repro.script_parser(__doc__, threads=2, models=MODELS, seeds=5)
    parser.add_argument("--epochs", type=int, default=None, help="default: fluxgrid's")
    parser.add_argument(
        "--single", nargs="*", default=[], help="torch models trained with seed 0 only"
    )
    parser.add_argument(
        "--pretrain", nargs="*", default=["lstm"], help="models pre-trained on all three sites"
    )
    parser.add_argument("--fine-tune", nargs="*", default=list(FINE_TUNE), choices=FINE_TUNE)
    args = parser.parse_args()
    timer = repro.start(args)

    with timer("load hh.zarr, daily, QC"):
        cube, _qc = load_data(experiment("ilstm", {}, 1).data)
    years = {
        s: f"{int(cube.time.dt.year.where(cube.nee.sel(site=s).notnull()).min())}-"
        f"{int(cube.time.dt.year.where(cube.nee.sel(site=s).notnull()).max())}"
        for s in SITES
    }

    matrices, runs_by_model, preds_by_model, spread = {}, {}, {}, {}
    for name in args.models:
        seeds = range(args.seeds if name in TORCH_MODELS and name not in args.single else 1)
        members = []
        with timer(f"{name}: train 3 sites, transfer ({len(seeds)} seed(s))"):
            for seed in seeds:
                matrix, preds, runs = cross_site_transfer(
                    experiment(name, MODELS[name], args.epochs, seed), cube=cube
                )
                members.append((matrix, preds))
                if seed == 0:
                    matrices[name], runs_by_model[name], preds_by_model[name] = matrix, runs, preds
                print(name, "seed", seed, matrix.r2.to_pandas().round(3), sep="\n", flush=True)
        if len(members) > 1:
            label = f"{name} x{len(members)}"
            ens = {
                site: ensemble_predictions([p[site] for _m, p in members], list(seeds))
                for site in SITES
            }
            matrices[label] = transfer_matrix(ens, part="test")
            spread[name] = [diagonal_mean(m) for m, _p in members]
    for name in args.pretrain:
        for mode in args.fine_tune:
            label = f"{name} pre-trained + {mode}"
            with timer(f"{label}: pre-train, fine-tune, transfer"):
                matrix, _preds, _runs = cross_site_transfer(
                    experiment(name, MODELS[name], args.epochs, 0),
                    cube=cube,
                    pretrain="all_sites",
                    fine_tune=FINE_TUNE[mode],
                )
            matrices[label] = matrix
            print(label, matrix.r2.to_pandas().round(3), sep="\n", flush=True)

    all_m = xr.concat(list(matrices.values()), dim=pd.Index(list(matrices), name="model"))
    all_m.attrs = {
        "description": "test scores of the model trained at train_site applied to test_site"
    }
    to_netcdf(all_m, repro.DATA / "ilstm_transfer.nc", overwrite=True)

    published = xr.DataArray(
        PUBLISHED_MATRIX,
        dims=("train_site", "test_site"),
        coords={"train_site": SITES, "test_site": SITES},
    )
    # ------------------------------------------------------------------ tables
    diag = pd.DataFrame(
        {
            m: [float(all_m.r2.sel(model=m, train_site=s, test_site=s)) for s in SITES]
            for m in matrices
        },
        index=pd.Index(SITES, name="site"),
    )
    diag.insert(0, "published iLSTM", [PUBLISHED_R2[s] for s in SITES])
    diag.loc["mean"] = diag.mean()
    diag_p = pd.DataFrame(
        {
            m: [float(all_m.r2_pearson.sel(model=m, train_site=s, test_site=s)) for s in SITES]
            for m in matrices
        },
        index=pd.Index(SITES, name="site"),
    )
    diag_rmse = pd.DataFrame(
        {
            m: [float(all_m.rmse.sel(model=m, train_site=s, test_site=s)) for s in SITES]
            for m in matrices
        },
        index=pd.Index(SITES, name="site"),
    )
    off = ~np.eye(3, dtype=bool)
    summary_rows = []
    for m in matrices:
        r2 = all_m.r2.sel(model=m).transpose("train_site", "test_site").values
        summary_rows.append(
            {
                "model": m,
                "diagonal mean R2": r2[~off].mean(),
                "diagonal >= 0.85": f"{int((r2[~off] >= 0.85).sum())}/3",
                "off-diagonal mean R2": r2[off].mean(),
                "off-diagonal above published": f"{int((r2[off] > PUBLISHED_MATRIX[off]).sum())}/6",
            }
        )
    summary = pd.DataFrame(summary_rows).set_index("model")

    def matrix_table(m: str, metric: str = "r2") -> str:
        da = all_m[metric].sel(model=m).transpose("train_site", "test_site").to_pandas()
        da.index.name = "trained at \\ tested at"
        if metric == "r2":
            da = da.map(lambda v: f"{v:.2f}").astype(object)
            for i, a in enumerate(SITES):
                for j, b in enumerate(SITES):
                    da.loc[a, b] = f"{da.loc[a, b]} ({PUBLISHED_MATRIX[i, j]:.2f})"
            return repro.md_table(da)
        return repro.md_table(da)

    # ------------------------------------------------------------------ figures
    figs = {}
    for m, (name, title) in TRANSFER_FIGURES.items():
        if m in matrices:
            figs[f"transfer_{m}"] = repro.FIGURES / name
            plot_transfer_matrix(
                matrices[m],
                reference=published,
                title=title,
                path=figs[f"transfer_{m}"],
                overwrite=True,
            )
    if "ilstm" in matrices:
        beta_rows = {}
        for site in SITES:
            run = runs_by_model["ilstm"][site]
            att = run.attention(cube.sel(site=[site]), part="test")
            beta_rows[site] = att.beta.mean("sample").to_pandas()
            figs[f"attention_{site}"] = repro.FIGURES / f"ilstm_attention_{site}.png"
            plot_attention(
                att,
                title=f"iLSTM attention at {site} (test windows)",
                path=figs[f"attention_{site}"],
                overwrite=True,
            )
            own = preds_by_model["ilstm"][site].sel(site=[site])
            figs[f"obs_pred_{site}"] = repro.FIGURES / f"ilstm_obs_pred_{site}.png"
            plot_obs_pred(
                own,
                site,
                title=f"iLSTM at {site}, test years",
                path=figs[f"obs_pred_{site}"],
                overwrite=True,
            )
        beta = pd.DataFrame(beta_rows).T
        beta.index.name = "site"
        diag_preds = xr.concat(
            [preds_by_model["ilstm"][s].sel(site=[s]) for s in SITES], dim="site"
        )
        figs["scatter"] = repro.FIGURES / "ilstm_scatter_test.png"
        plot_scatter(
            diag_preds,
            title="iLSTM, test years of each site",
            path=figs["scatter"],
            overwrite=True,
        )

    split = runs_by_model[args.models[0]][SITES[0]].split()
    split_rows = {}
    for s in SITES:
        part = split.part.sel(site=s).to_series()
        yrs = part.groupby(part.index.year).max()
        split_rows[s] = {
            "record (valid NEE)": years[s],
            "train years": ", ".join(str(y) for y in yrs.index[yrs == 1]),
            "validation years": ", ".join(str(y) for y in yrs.index[yrs == 2]),
            "test years": ", ".join(str(y) for y in yrs.index[yrs == 3]),
        }
    split_table = pd.DataFrame(split_rows).T
    split_table.index.name = "site"
    ilstm_choice = "(the iLSTM was not run)"
    if "ilstm" in runs_by_model:
        rows = []
        for s in SITES:
            table = runs_by_model["ilstm"][s].search_table.to_dataframe()
            for _, r in table.iterrows():
                rows.append(
                    {
                        "site": s,
                        "objective": r["model.objective"],
                        "hidden": int(r["model.hidden"]),
                        "validation loss (scaled)": float(r["value"]),
                        "best epoch": r["best_epoch"],
                        "chosen": "yes" if r["value"] == table["value"].min() else "",
                    }
                )
        ilstm_choice = repro.md_table(
            pd.DataFrame(rows), index=False, ints=("hidden", "best epoch")
        )
    n_test = scores(
        xr.concat([preds_by_model[args.models[0]][s].sel(site=[s]) for s in SITES], "site"),
        by="site",
        part="test",
    ).n.to_pandas()

    # ------------------------------------------------------------------ page
    t = experiment("lstm", {}, args.epochs).train
    train_text = (
        f"Adam lr {t.lr:g}, {t.loss.upper()} loss, batch {t.batch_size}, up to {t.epochs} "
        f"epochs, early stopping with patience {t.patience}, gradient clipping {t.grad_clip}"
    )
    spread_rows = [
        {
            "model": name,
            "seeds": len(values),
            "diagonal mean R2, seed 0": values[0],
            "seed min": min(values),
            "seed max": max(values),
            "ensemble": diagonal_mean(matrices[f"{name} x{len(values)}"]),
        }
        for name, values in spread.items()
    ]
    spread_table = (
        repro.md_table(pd.DataFrame(spread_rows).set_index("model"), ints=("seeds",))
        if spread_rows
        else "(single seeds only)"
    )
    transfer_text = ""
    if args.pretrain:
        transfer_text = """
* Multi-site pre-training (rows *MODEL pre-trained + MODE*): one model is trained on the
  training years of all three sites (one scaler), then a copy is fine-tuned at each site on
  that site's training years (early stopping on its validation years): `full` (every weight,
  at the training learning rate), `freeze_recurrent` (only the head), `low_lr` (every weight
  at 0.1 x the learning rate). Row A is the copy fine-tuned at A. Unlike the per-site rows,
  these models have seen the *training* years of the other sites (never a test year), so
  their off-diagonals measure transfer across years of known sites, not to unseen towers.
"""
    il = "ilstm" in matrices
    met = summary.loc["ilstm"] if il else None
    verdict = ""
    if il:
        verdict = (
            f"**Targets** (every diagonal R2 >= 0.85, every off-diagonal above the published "
            f"value): diagonal {met['diagonal >= 0.85']} met, off-diagonal "
            f"{met['off-diagonal above published']} met for the iLSTM."
        )
    text = f"""# iLSTM at three US deciduous forests: per-site R2 and cross-site transfer

Written by `benchmarks/reproduce_ilstm.py` on {time.strftime("%Y-%m-%d")} ({repro.machine()}).

## Protocol

* Data: FLUXNET2015 half-hourly (`hh.zarr`) of US-MMS, US-Oho, US-UMB, aggregated to local
  standard-time days (`to_daily`); daily NEE (gC m-2 d-1) masked where fewer than 70% of its
  half-hours are measured or good gap-fill (`qc_mask(threshold=0.7)`).
* Inputs: **ta, sw_in, vpd and day of year** (sine, cosine), 75-day look-back window ending on
  the target day. **Difference from the paper**: the iLSTM study also used wind speed and
  precipitation, which hh.zarr does not hold, so the models here see fewer drivers.
* Split: random whole years per site, train:test about 2:1 (`random_years`,
  `test_fraction=1/3`, seed 0); 20% of the training years are validation years for early
  stopping (never the test years). Scaling is fitted on the training years of the training
  site only.
* One model per site, applied (with its own scaler) to the test years of every site.
* Models and fixed hyper-parameters: {", ".join(f"`{m}` {MODELS[m]}" for m in args.models)};
  torch models trained with fluxgrid's defaults ({train_text}). The
  iLSTM is the IMV-Tensor LSTM of `fluxgrid.models.ilstm` with unbounded (linear) attention
  scores; per site, a grid search on the validation years chooses its training objective
  (`mean`: the training loss on the mixture mean; `mixture`: the paper's mixture negative
  log-likelihood) and its width (32 or 64 units per variable) by the validation loss of the
  predictions ({t.loss.upper()}; the test years play no role):

{ilstm_choice}

{transfer_text}
* Seed ensembles (rows *MODEL xN*): each torch model is trained with seeds
  0..N-1 (nothing else changes) and the members' predictions are averaged; the single-model
  rows are seed 0. Spread of the diagonal mean R2 over the seeds:

{spread_table}

* R2 is 1 - SSE/SST on the test days (squared Pearson r in a second table: the paper does not
  state which R2 it reports).

{repro.md_table(split_table)}

Test days per site: {", ".join(f"{s} {int(n_test[s])}" for s in SITES)}.

## Per-site test R2 (model trained and tested at the same site)

{repro.md_table(diag)}

Squared Pearson correlation:

{repro.md_table(diag_p)}

RMSE (gC m-2 d-1):

{repro.md_table(diag_rmse)}

## Transfer matrices (R2; published iLSTM values in parentheses)
"""
    for m in matrices:
        text += f"\n### {m}\n\n{matrix_table(m)}\n"
    text += f"""
## Against the targets

{repro.md_table(summary)}

{verdict}
"""
    if il:
        text += (
            f"""
## Figures

![iLSTM transfer]({repro.rel(figs["transfer_ilstm"])})
"""
            + (
                ""
                if "transfer_lstm" not in figs
                else f"\n![LSTM transfer]({repro.rel(figs['transfer_lstm'])})\n"
            )
            + f"""
![iLSTM scatter]({repro.rel(figs["scatter"])})

Mean variable attention (beta) of the iLSTM on the test windows of its own site:

{repro.md_table(beta)}

"""
            + "\n".join(
                f"![attention {s}]({repro.rel(figs[f'attention_{s}'])})\n\n"
                f"![obs vs pred {s}]({repro.rel(figs[f'obs_pred_{s}'])})\n"
                for s in SITES
            )
        )
    text += f"""
## Run time

{timer.table()}

Sites: US-MMS, US-Oho, US-UMB (FLUXNET2015, CC-BY-4.0; Pastorello et al. 2020, Sci Data 7, 225).
"""
    repro.write_text(repro.RESULTS / "ilstm.md", text)
    print(f"wrote {repro.RESULTS / 'ilstm.md'}")


if __name__ == "__main__":
    main()
