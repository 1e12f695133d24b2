"""Spatial validation of the upscaling: towers predicted by models that never saw them.

Protocol: every FLUXNET2015 site of hh.zarr with at least 5 years of valid daily NEE (QC >=
0.7), drivers ta, sw_in, vpd plus day of year, latitude/longitude and an IGBP one-hot,
75-day windows. Sites in 5 folds stratified by IGBP (:func:`fluxgrid.validate_upscaling`);
for each fold a model is trained on the other folds' towers (the last 20% of their training
record validated for early stopping) and every tower of the fold is predicted from its own
drivers through the upscaling kernel, as a map cell. LSTM vs RF vs the iLSTM, fixed
hyper-parameters (``MODELS``, no tuning on held-out towers), CPU budget stated on the page;
with ``--seeds N`` the LSTM folds train seed ensembles, reported beside their seed-0 member.

Beside it, the map-level uncertainty: the five fold LSTMs applied as an ensemble to the demo
driver grid (towers' drivers interpolated over 2-16 E, 43-53 N, real MODIS land cover and
land mask), whose member spread is compared with the held-out error.

Writes docs/results/spatial_validation.md and its figure; folds go to
runs/spatial_validation/<model>.

Usage::

    python benchmarks/reproduce_spatial_validation.py [--models lstm rf ilstm] [--threads 2]
        [--folds 5] [--seeds 1] [--reuse] [--quick]
"""

from __future__ import annotations

import time

import _repro_common as repro
import numpy as np
import pandas as pd

from fluxgrid.config import ExperimentConfig, QuickstartConfig, from_dict
from fluxgrid.data import demo_land_cover_path, load_demo_cube
from fluxgrid.demo import tower_grid
from fluxgrid.grids import land_mask, open_land_cover, vegetation_type
from fluxgrid.training.ensemble import member_dir
from fluxgrid.upscale import open_validation, upscale_ensemble, validate_upscaling

#: fixed hyper-parameters (model params, train overrides); budgets reduced to fit 2 CPU cores
MODELS: dict[str, tuple[dict, dict]] = {
    "lstm": (
        {"hidden": 64, "layers": 1, "dropout": 0.1},
        {"epochs": 8, "patience": 3, "max_batches_per_epoch": 100, "batch_size": 256},
    ),
    "ilstm": (
        {"hidden": 16},
        {"epochs": 6, "patience": 3, "max_batches_per_epoch": 60, "batch_size": 256},
    ),
    "rf": (
        {"n_estimators": 100, "min_samples_leaf": 5, "max_train_samples": 40000, "n_jobs": 2},
        {},
    ),
}
LOOKBACK = 75


#: models trained as seed ensembles with --seeds
ENSEMBLE_MODELS = ("lstm",)


def experiment(name: str, sites: list[str], quick: bool, seeds: int = 1) -> ExperimentConfig:
    params, train = MODELS[name]
    train = {**train}
    if quick:
        train.update(epochs=1, max_batches_per_epoch=5)
        if name == "rf":
            params = {**params, "max_train_samples": 2000, "n_estimators": 10}
    return from_dict(
        ExperimentConfig,
        {
            "data": repro.nee_data(repro.HH, sites),
            "split": {"method": "site_kfold", "validation": "tail", "val_fraction": 0.2},
            "windows": {"lookback": LOOKBACK, "static": ["doy", "latlon", "igbp"]},
            "model": {"name": name, "params": params},
            "train": {"lr": 1e-3, "loss": "mse", "seed": 0, "device": "auto", **train},
            "description": "spatial validation (site k-fold, towers predicted as map cells)",
            **(
                {"ensemble": {"seeds": list(range(seeds))}}
                if seeds > 1 and name in ENSEMBLE_MODELS
                else {}
            ),
        },
    )


def ensemble_spread(fold_runs: list, quick: bool) -> dict:
    """Member spread of the fold models on the demo driver grid (real land cover and mask)."""
    demo = QuickstartConfig()
    cube = load_demo_cube().sel(time=slice("2011-01-01", "2012-12-31"))
    grid = tower_grid(cube, sites=demo.grid_sites, bbox=demo.grid_bbox, resolution=1.0)
    lc = open_land_cover(demo_land_cover_path())
    land = land_mask(lc, target=grid)
    igbp = vegetation_type(lc, target=grid).where(land, -1)
    if quick:
        grid = grid.isel(time=slice(0, 120))
    maps = upscale_ensemble(grid.drop_vars("igbp"), fold_runs, igbp=igbp).compute()
    year = maps.sel(time=slice("2012-01-01", None)) if not quick else maps
    return {
        "cells": int(land.sum()),
        "mean member sd": float(year["nee_std"].mean()),
        "median member sd": float(year["nee_std"].median()),
        "mean |NEE|": float(abs(year["nee_mean"]).mean()),
    }


MCD12C1_CREDIT = "MODIS MCD12C1 2019 land cover (doi:10.5067/MODIS/MCD12C1.006)"


def main() -> None:
    parser = repro.script_parser(
        __doc__, threads=2, quick="1 epoch, 12 sites", models=MODELS, seeds=1, reuse=True
    )
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    timer = repro.start(args)
    work = repro.work_dir("spatial_validation", args.quick)

    with timer("load hh.zarr (204 sites), daily, QC"):
        base = experiment("rf", [], False)
        cube, sites = repro.long_record_cube(
            base.data, lambda years: years >= 5, limit=12 if args.quick else None
        )
    print(f"{len(sites)} sites with at least 5 years of valid daily NEE", flush=True)

    results, reused = {}, []
    for name in args.models:
        cfg = experiment(name, sites, args.quick, args.seeds)
        if args.reuse and repro.same_folds(work / name, cfg, args.folds):
            print(f"{name}: reusing {work / name} (same config)", flush=True)
            result = open_validation(work / name)
            reused.append(name)
        else:
            with timer(f"{name}: {args.folds} site folds, train + predict held-out towers"):
                result = validate_upscaling(
                    cfg, output=work / name, n_folds=args.folds, overwrite=True, cube=cube
                )
        if cfg.ensemble.seeds:
            # the single model is the ensemble's seed-0 member, from the same fits
            results[name] = result.member(cfg.ensemble.seeds[0])
            results[f"{name} x{len(cfg.ensemble.seeds)}"] = result
        else:
            results[name] = result
    pooled = pd.concat({m: r.scores("pooled").iloc[0] for m, r in results.items()}, axis=1).T
    pooled.index.name = "model"
    cols = ["r2", "rmse", "mae", "bias", "lcs", "n"]
    per_igbp = pd.DataFrame({m: r.scores("igbp")["r2"] for m, r in results.items()})
    n_sites = pd.Series(cube.igbp.values.astype(str)).replace("", "(unknown)").value_counts()
    per_igbp.index = [i or "(unknown)" for i in per_igbp.index]
    per_igbp.insert(0, "sites", n_sites.reindex(per_igbp.index).fillna(0).astype(int))
    per_igbp.index.name = "IGBP"
    per_fold = pd.DataFrame({m: r.scores("fold")["r2"] for m, r in results.items()})
    per_site = pd.DataFrame({m: r.scores("site")["r2"] for m, r in results.items()})
    site_summary = repro.site_summary(per_site)

    spread = {}
    if "lstm" in results:
        with timer("fold LSTMs as an ensemble on the demo grid"):
            folds = [work / "lstm" / "folds" / f"fold{k}" for k in range(args.folds)]
            member = member_dir(0) if args.seeds > 1 else "."
            runs = [fold / member for fold in folds]
            spread = ensemble_spread(runs, args.quick)

    figdir = work / "figures" if args.quick else repro.FIGURES
    figdir.mkdir(parents=True, exist_ok=True)
    fig_path = figdir / "spatial_validation_pooled.png"
    repro.metric_bars(
        pooled,
        ["r2", "rmse", "mae"],
        "held-out towers (site 5-fold), pooled, daily NEE (gC m-2 d-1)",
        fig_path,
        size=(8.0, 3.0),
    )
    link = str if args.quick else repro.rel
    best = pooled["r2"].idxmax()
    spread_text = "(LSTM not run)"
    if spread:
        rmse = pooled.loc["lstm", "rmse"]
        spread_text = (
            f"The {args.folds} fold LSTMs applied as an ensemble to the demo driver grid "
            f"(1 degree, {spread['cells']} land cells of 2-16 E, 43-53 N by the MODIS MCD12C1 "
            "land mask, "
            f"2012): mean member standard deviation {spread['mean member sd']:.3f} gC m-2 d-1 "
            f"(median {spread['median member sd']:.3f}), against a mean |NEE| of "
            f"{spread['mean |NEE|']:.3f} and a held-out-tower RMSE of {rmse:.3f}. The spread "
            "of models trained on different towers is "
            f"{spread['mean member sd'] / rmse:.0%} of the error at towers they did not see: "
            "an ensemble spread alone understates a map's uncertainty."
        )
    skipped = [m for m in MODELS if m not in results]
    not_run = f" Not run for this page: {', '.join(skipped)}." if skipped else ""
    model_lines = "; ".join(
        f"`{m}` {MODELS[m][0]}, training {MODELS[m][1] or 'n/a'}" for m in results if m in MODELS
    )
    if args.seeds > 1:
        model_lines += (
            f"; `lstm x{args.seeds}`: the seed ensemble (seeds 0-{args.seeds - 1}) of `lstm`, "
            "trained in every fold, the towers predicted by the member mean; the `lstm` row is "
            "its seed-0 member"
        )
    text = f"""# Spatial validation: towers predicted by models that never saw them

Written by `benchmarks/reproduce_spatial_validation.py` on {time.strftime("%Y-%m-%d")}
({repro.machine()}){" -- QUICK SMOKE RUN, not a result" if args.quick else ""}.

## Protocol

* Sites: the {len(sites)} sites of hh.zarr with at least 5 years of valid daily NEE after QC
  (NEE masked where fewer than 70% of the half-hours are measured or good gap-fill).
* Inputs: **ta, sw_in, vpd** (daily), day of year, latitude/longitude and an IGBP one-hot,
  {LOOKBACK}-day windows.
* Folds: the sites in {args.folds} folds stratified by IGBP class (`fluxgrid validate-upscaling`,
  seed 0). A fold's model is trained on the other folds' towers (the last 20% of each training
  tower's record validates early stopping) and predicts every tower of the fold from its own
  drivers **through the upscaling kernel** (the tower is a map cell with its coordinates and
  IGBP class). Each tower is predicted once, all of its days.
* Models (fixed settings, nothing tuned on held-out towers): {model_lines}.{not_run}
  **CPU budget**: 2 cores, no GPU; the recurrent models see at most
  `max_batches_per_epoch` x 256 random training windows per epoch, RF a seeded subset of the
  training windows. A GPU run with full epochs would train them longer.

## Pooled scores at held-out towers (gC m-2 d-1)

{repro.md_table(pooled[cols])}

Best pooled R2: **{best}**.

![pooled scores]({link(fig_path)})

## R2 per IGBP class

{repro.md_table(per_igbp)}

## R2 per fold

{repro.md_table(per_fold.rename_axis("fold"))}

## Per-site R2

{repro.md_table(site_summary, ints=("sites with R2 < 0", "sites where best"))}

## Map-level uncertainty beside it

{spread_text}

## Run time

{repro.closing_lines(timer, sites, reused, MCD12C1_CREDIT)}"""
    repro.publish(text, "spatial_validation.md", work, args.quick)
    print(pooled[cols].round(3).to_string())
    if spread:
        print(spread)
    np.seterr(all="ignore")


if __name__ == "__main__":
    main()
