"""Defaults study: what makes a plain PyTorch LSTM better, and fluxgrid's defaults against it.

Three parts, each on data the others do not tune on:

1. **Study** at three deciduous forests that are neither iLSTM sites nor ten-tower sites
   (DK-Sor, US-WCr, IT-Col): one factor at a time from fluxgrid's previous defaults towards
   the plain LSTM of ``plain_lstm.py`` (loss, learning rate, dropout, validation carving,
   gradient clipping), scored on those sites' own test years. The winning recipe becomes
   fluxgrid's default (``TrainConfig``, ``SplitConfig`` and the recurrent models' dropout).
2. **Check** on the iLSTM page's split (US-MMS, US-Oho, US-UMB, random whole years 2:1,
   seed 0): plain LSTM vs fluxgrid's previous defaults vs fluxgrid's defaults as they are now.
3. **Peer** on the ten long-record towers of ``bench_peers.py`` (train 2000-2008, test
   2009-2012, hidden 64, sequence 75, batch 256, 10 epochs, no validation for the
   neuralhydrology run): plain LSTM vs fluxgrid's defaults vs neuralhydrology's CudaLSTM.

Every model is trained per site (parts 1 and 2) or pooled over the ten towers (part 3),
``--seeds`` seeds each (mean and spread are reported). Nothing is tuned on test years of
parts 2 and 3. Results of finished runs are kept in docs/results/data/defaults_runs.csv;
``--reuse`` skips runs already there (same part, recipe, site and seed).

Writes docs/results/defaults.md.

Usage::

    python benchmarks/reproduce_defaults.py [--seeds 3] [--parts study check peer] [--reuse]
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import _repro_common as repro
import numpy as np
import pandas as pd
import xarray as xr
from _nh_adapter import nh_test_predictions, write_nh_run
from plain_lstm import PLAIN, SWITCHES, fit_plain

from fluxgrid.config import ExperimentConfig, SplitConfig, TrainConfig, from_dict
from fluxgrid.evaluate import scores
from fluxgrid.models import get_model
from fluxgrid.prep.pipeline import load_data
from fluxgrid.prep.splits import make_split
from fluxgrid.training import fit_model, prepare_from_cube
from fluxgrid.training.build import apply_params
from fluxgrid.training.prepared import predict_prepared
from fluxgrid.windows import input_features

STUDY_SITES = ("DK-Sor", "US-WCr", "IT-Col")
ILSTM_SITES = ("US-MMS", "US-Oho", "US-UMB")
#: ten long-record towers (the peers benchmark's training comparison)
TOWERS = (
    "US-Ha1", "US-MMS", "DE-Tha", "FI-Hyy", "BE-Vie", "DE-Hai", "CH-Dav", "US-UMB", "NL-Loo",
    "FR-Pue",
)  # fmt: skip
TOWER_YEARS = {"train": (2000, 2008), "test": (2009, 2012)}
RANDOM_YEARS = {"method": "random_years", "test_fraction": 1 / 3, "seed": 0}

#: fluxgrid's defaults before this study (TrainConfig, SplitConfig, lstm dropout)
PREVIOUS = {
    "train.loss": "mse",
    "train.lr": 1e-3,
    "train.epochs": 50,
    "train.patience": 10,
    "train.grad_clip": 1.0,
    "model.dropout": 0.0,
    "split.validation": "years",
}
#: the study's winning changes, fluxgrid's defaults since (MAE, lr 3e-3, dropout 0.2)
WINNER = {"train.loss": "mae", "train.lr": 3e-3, "model.dropout": 0.2}
#: the study's best fluxgrid recipe, checked in parts 2 and 3 beside the defaults: the
#: defaults with PyTorch's forget-gate initialisation and no gradient clipping
CANDIDATE_NAME = "defaults, PyTorch forget bias, no clipping"
CANDIDATE = {"model.forget_bias": None, "train.grad_clip": None}
#: study recipes: the previous defaults with one or more factors changed
STUDY_CHANGES: dict[str, dict] = {
    "previous defaults": {},
    "+ MAE loss": {"train.loss": "mae"},
    "+ lr 3e-3": {"train.lr": 3e-3},
    "+ dropout 0.2": {"model.dropout": 0.2},
    "+ all training years, 30 epochs": {"split.validation": "none", "train.epochs": 30},
    "+ no gradient clipping": {"train.grad_clip": None},
    "lr 3e-3, cosine schedule": {"train.lr": 3e-3, "train.lr_schedule": "cosine"},
    "lr 3e-3, patience 20": {"train.lr": 3e-3, "train.patience": 20},
    "lr 3e-3, all training years, 30 epochs": {
        "train.lr": 3e-3,
        "split.validation": "none",
        "train.epochs": 30,
    },
    "MAE, lr 3e-3, dropout 0.2": WINNER,
    # the plain LSTM's remaining differences (its study lost with clipping 1 and bias 1)
    "MAE, lr 3e-3, dropout 0.2, no clipping": {**WINNER, "train.grad_clip": None},
    "MAE, lr 3e-3, dropout 0.2, PyTorch forget bias": {**WINNER, "model.forget_bias": None},
    "MAE, lr 3e-3, dropout 0.2, PyTorch forget bias, no clipping": {**WINNER, **CANDIDATE},
    "MAE, lr 3e-3, dropout 0.2, all years, 30 epochs": {
        **WINNER,
        "split.validation": "none",
        "train.epochs": 30,
    },
}
STUDY = {name: {**PREVIOUS, **changes} for name, changes in STUDY_CHANGES.items()}
#: the plain LSTM and the same with one of fluxgrid's habits switched on (plain_lstm.SWITCHES)
PLAIN_STUDY = {
    "plain LSTM": {},
    "plain LSTM + gradient clipping 1": {"clip": 1.0},
    "plain LSTM + forget-gate bias 1": {"forget_bias": 1.0},
}
#: the plain LSTM reads the same windows, scaled on every training year
PLAIN_SPLIT = {"split.validation": "none"}


# --------------------------------------------------------------------------- experiments
def experiment(sites, split: dict, recipe: dict, threads: int) -> ExperimentConfig:
    """The fluxgrid LSTM (hidden 64, 75-day look-back, doy) with ``recipe`` over the defaults.

    ``recipe`` keys are dotted (``train.lr``, ``model.dropout``, ``split.validation``); keys
    not given keep fluxgrid's current defaults.
    """
    split = dict(split)
    if "split.validation" in recipe:
        split["validation"] = recipe["split.validation"]
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": repro.nee_data(repro.HH, sites),
            "split": split,
            "windows": {"lookback": 75, "static": ["doy"]},
            "model": {"name": "lstm", "params": {"hidden": 64}},
            "train": {"device": "auto", "num_threads": threads},
        },
    )
    params = {k: v for k, v in recipe.items() if not k.startswith("split.")}
    return apply_params(cfg, params)


def current_defaults() -> dict:
    """The recipe keys of :data:`PREVIOUS` at fluxgrid's current default values.

    ``model.forget_bias`` (1.0 in every run so far) is named only by the recipes that change
    it; should its default change, it joins these keys so that no old row answers.
    """
    train, split = TrainConfig(), SplitConfig()
    dropout = get_model("lstm")(n_inputs=1, lookback=1).params["dropout"]
    out = {f"train.{k}": getattr(train, k) for k in ("loss", "lr", "epochs", "patience")}
    out.update({"train.grad_clip": train.grad_clip, "model.dropout": dropout})
    out["split.validation"] = split.validation
    return out


def fluxgrid_settings(recipe: dict) -> str:
    """Every studied setting of a fluxgrid recipe, defaults filled in."""
    return recipe_text({**current_defaults(), **recipe})


def plain_settings(recipe: dict) -> str:
    """Every setting of a plain-LSTM recipe."""
    return recipe_text({**PLAIN, **SWITCHES, **recipe})


def score_run(prepared, model) -> dict:
    """Test R2, RMSE and MAE of ``model`` on ``prepared``'s test part (pooled)."""
    s = scores(predict_prepared(prepared, model), part="test")
    return {k: float(s[k]) for k in ("r2", "rmse", "mae")}


def fit_fluxgrid(cfg: ExperimentConfig, cube: xr.Dataset, split: xr.Dataset) -> dict:
    prepared = prepare_from_cube(cfg, cube, split=split)
    model, history = fit_model(prepared, progress=False)
    out = score_run(prepared, model)
    out["epochs run"] = int(history.sizes["epoch"])
    return out


def fit_plain_run(
    cfg: ExperimentConfig, cube: xr.Dataset, split: xr.Dataset, seed: int, **recipe
) -> dict:
    """The plain LSTM on every training-year window (``recipe``: see ``fit_plain``)."""
    prepared = prepare_from_cube(cfg, cube, split=split)
    model = fit_plain(prepared.wcube, prepared.index.select(["train", "val"]), seed, **recipe)
    return {**score_run(prepared, model), "epochs run": recipe.get("epochs", PLAIN["epochs"])}


class Runs:
    """Finished runs, one row each, kept in a CSV so that ``--reuse`` can skip them."""

    def __init__(self, path: Path, reuse: bool):
        self.path = path
        self.frame = pd.read_csv(path) if reuse and path.exists() else pd.DataFrame()

    def get(
        self, part: str, recipe: str, settings: str, site: str, seed: int, run: Callable[[], dict]
    ) -> dict:
        """The row of this run: from the CSV (``--reuse``) or by calling ``run``.

        ``settings`` spells out every setting the recipe trains with, so that a changed
        default is never answered from an old row.
        """
        key = {"part": part, "recipe": recipe, "settings": settings, "site": site, "seed": seed}
        if len(self.frame):
            hit = self.frame[(self.frame[list(key)] == pd.Series(key)).all(axis=1)]
            if len(hit):
                return hit.iloc[0].to_dict()
        row = {**key, **run()}
        print(f"  {part:5s} {recipe:48s} {site:7s} seed {seed}: R2 {row['r2']:.3f}", flush=True)
        self.frame = pd.concat([self.frame, pd.DataFrame([row])], ignore_index=True)
        with repro.atomic_path(self.path) as tmp:
            self.frame.to_csv(tmp, index=False)
        return row


# --------------------------------------------------------------------------- parts
def per_site_part(
    runs: Runs, part: str, sites, recipes: dict, seeds: int, threads: int
) -> pd.DataFrame:
    """Each recipe trained per site (random whole years), ``seeds`` seeds each."""
    cube, _ = load_data(experiment(sites, RANDOM_YEARS, {}, threads).data)
    rows = []
    for name, recipe in recipes.items():
        for site in sites:
            one = cube.sel(site=[site])
            for seed in range(seeds):
                plain = name.startswith("plain LSTM")
                cfg = experiment([site], RANDOM_YEARS, PLAIN_SPLIT if plain else recipe, threads)
                cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
                split = make_split(one, cfg.split)

                def run(cfg=cfg, one=one, split=split, seed=seed, plain=plain, recipe=recipe):
                    if plain:
                        return fit_plain_run(cfg, one, split, seed, **recipe)
                    return fit_fluxgrid(cfg, one, split)

                settings = plain_settings(recipe) if plain else fluxgrid_settings(recipe)
                rows.append(runs.get(part, name, settings, site, seed, run))
    return pd.DataFrame(rows)


def peer_part(runs: Runs, seeds: int, threads: int, epochs: int) -> pd.DataFrame:
    """Ten towers pooled: plain LSTM, fluxgrid's defaults and neuralhydrology's CudaLSTM."""
    split = {
        "method": "year_ranges",
        "train_years": list(TOWER_YEARS["train"]),
        "test_years": list(TOWER_YEARS["test"]),
    }
    first, last = TOWER_YEARS["train"][0] - 1, TOWER_YEARS["test"][1]
    cfg = experiment(TOWERS, split, {"train.epochs": epochs}, threads)
    data = dataclasses.replace(cfg.data, period=(f"{first}-10-01", f"{last}-12-31"))
    cfg = dataclasses.replace(cfg, data=data)
    cube, _ = load_data(cfg.data)
    plain_split = make_split(cube, from_dict(SplitConfig, {**split, "validation": "none"}))
    rows = []
    for seed in range(seeds):
        seeded = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, seed=seed))
        split_ds = make_split(cube, seeded.split)
        # the previous defaults with the new learning rate (validation years, as both)
        lr_only = {**PREVIOUS, "train.lr": 3e-3, "train.epochs": epochs}
        lr_cfg = apply_params(seeded, {k: v for k, v in lr_only.items() if "split." not in k})
        candidate_cfg = apply_params(seeded, CANDIDATE)
        recipes = {
            "fluxgrid defaults": lambda c=seeded, s=split_ds: fit_fluxgrid(c, cube, s),
            CANDIDATE_NAME: lambda c=candidate_cfg, s=split_ds: fit_fluxgrid(c, cube, s),
            "+ lr 3e-3": lambda c=lr_cfg, s=split_ds: fit_fluxgrid(c, cube, s),
            "plain LSTM": lambda c=seeded, k=seed: fit_plain_run(
                c, cube, plain_split, k, epochs=epochs
            ),
            "neuralhydrology CudaLSTM": lambda c=seeded, k=seed: nh_run(
                cube, c, plain_split, k, epochs
            ),
        }
        settings = {
            "fluxgrid defaults": fluxgrid_settings({"train.epochs": epochs}),
            CANDIDATE_NAME: fluxgrid_settings({"train.epochs": epochs, **CANDIDATE}),
            "+ lr 3e-3": fluxgrid_settings(lr_only),
            "plain LSTM": plain_settings({"epochs": epochs}),
            "neuralhydrology CudaLSTM": f"cudalstm, MSE, lr 0.001, clip 1, epochs {epochs}",
        }
        for name, run in recipes.items():
            label = f"{name} ({epochs} epochs)"
            rows.append(runs.get("peer", label, settings[name], "pooled", seed, run))
    return pd.DataFrame(rows)


def nh_run(cube, cfg: ExperimentConfig, split: xr.Dataset, seed: int, epochs: int) -> dict:
    """The neuralhydrology CudaLSTM (MSE, Adam 1e-3, clip 1, its own scaler) on the same days.

    It sees the same inputs as fluxgrid's LSTM: the drivers and the day-of-year sine and
    cosine (written as series, since neuralhydrology has no calendar inputs of its own).
    """
    from neuralhydrology.training.basetrainer import BaseTrainer
    from neuralhydrology.utils.config import Config

    logging.getLogger("neuralhydrology").setLevel(logging.WARNING)
    # the same inputs as fluxgrid: drivers plus day of year (sine, cosine) as series
    calendar = input_features(cube, list(cfg.data.drivers), static=list(cfg.windows.static))
    doy = [v for v in calendar.attrs["features"] if v not in cfg.data.drivers]
    inputs = cube.assign({v: calendar[v].broadcast_like(cube.nee) for v in doy})
    with tempfile.TemporaryDirectory() as tmp:
        setup = {**TOWER_YEARS, "hidden": 64, "epochs": epochs, "seed": seed}
        yml = write_nh_run(
            inputs, Path(tmp), setup, drivers=[*cfg.data.drivers, *doy], target="nee", seq=75
        )
        nh_cfg = Config(yml)
        trainer = BaseTrainer(cfg=nh_cfg)
        trainer.initialize_training()
        trainer.train_and_validate()
        pred = nh_test_predictions(Path(nh_cfg.run_dir), cube, target="nee")
    preds = xr.Dataset({"obs": cube.nee, "pred": pred, "part": split["part"]})
    s = scores(preds, part="test")
    return {**{k: float(s[k]) for k in ("r2", "rmse", "mae")}, "epochs run": epochs}


def with_extra_seeds(runs: Runs, done: pd.DataFrame) -> pd.DataFrame:
    """``done`` plus the finished runs of the same recipes with more seeds (``--recipes``)."""
    frame = runs.frame[runs.frame.part == done.part.iloc[0]]
    keys = set(zip(done.recipe, done.settings, strict=True))
    mine = [k in keys for k in zip(frame.recipe, frame.settings, strict=True)]
    return frame[mine].reset_index(drop=True)


# --------------------------------------------------------------------------- page
def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds per recipe, with the seed range of R2 (one pooled row per run)."""
    out = frame.groupby("recipe", sort=False)[["r2", "rmse", "mae"]].mean()
    r2 = frame.groupby("recipe", sort=False)["r2"]
    out["R2 seed min"] = r2.min()
    out["R2 seed max"] = r2.max()
    return out


def site_table(frame: pd.DataFrame) -> pd.DataFrame:
    wide = frame.groupby(["recipe", "site"], sort=False)["r2"].mean().unstack("site")
    wide["mean"] = wide.mean(axis=1)
    per_seed = frame.groupby(["recipe", "seed"], sort=False)["r2"].mean()
    wide["seeds"] = frame.groupby("recipe", sort=False)["seed"].nunique()
    wide["seed spread (mean R2 min-max)"] = [
        f"{per_seed[r].min():.3f}-{per_seed[r].max():.3f}" for r in wide.index
    ]
    wide.index.name = "recipe"
    return wide


SEED_INTS = (*repro.INT_COLUMNS, "seeds")


def study_winner(frame: pd.DataFrame) -> str:
    """The fluxgrid recipe with the highest mean study R2, and where fluxgrid's defaults stand."""
    means = frame.groupby("recipe", sort=False)["r2"].mean()
    ours = means[[not r.startswith("plain LSTM") for r in means.index]]
    best = ours.idxmax()
    defaults = fluxgrid_settings({})
    current = next((r for r in ours.index if fluxgrid_settings(STUDY[r]) == defaults), None)
    text = (
        f"Highest mean test R2 of a fluxgrid recipe: **{best}** ({ours[best]:.3f}, plain LSTM "
        f"{means['plain LSTM']:.3f})"
    )
    if current == best:
        text += "; it is fluxgrid's default."
    elif current is not None:
        text += f"; fluxgrid's defaults are **{current}** ({ours[current]:.3f})."
    return text + " The differences between the leading recipes are of the size of the seed spread."


def verdict(frame: pd.DataFrame, ours: str, others: list[str]) -> str:
    """One sentence: the mean R2 of recipe ``ours`` against each of ``others`` (by prefix)."""
    means = frame.groupby("recipe", sort=False)["r2"].mean()
    name = next(r for r in means.index if r.startswith(ours))
    parts = []
    for other in others:
        match = next(r for r in means.index if r.startswith(other))
        diff = means[name] - means[match]
        word = "above" if diff > 0 else "below"
        parts.append(f"{abs(diff):.3f} {word} {match} ({means[match]:.3f})")
    return f"**{name}**: mean test R2 {means[name]:.3f}, " + "; ".join(parts) + "."


def recipe_text(recipe: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in recipe.items())


def write_page(
    parts: dict[str, pd.DataFrame], seeds: int, study_seeds: int, timer: repro.Timer
) -> Path:
    lines = [
        "# Training defaults: a plain LSTM, fluxgrid's defaults and neuralhydrology",
        "",
        f"Written by `benchmarks/reproduce_defaults.py` on {pd.Timestamp.now():%Y-%m-%d} "
        f"({repro.machine()}); at least {study_seeds} seeds per study recipe (more for the "
        f"leading ones: column `seeds`), {seeds} per recipe in parts 2 and 3 (mean, and the "
        "range of the per-seed mean R2).",
        "",
        "All runs: FLUXNET2015 half-hourly (`hh.zarr`) aggregated to local days, daily NEE "
        "(gC m-2 d-1) kept where at least 70% of its half-hours are measured or good "
        "gap-fill, drivers ta, sw_in, vpd plus day of year (sine, cosine), 75-day look-back, "
        "hidden 64, batch 256, inputs and target z-scored on the training part (the plain "
        "LSTM reads the same scaled windows). The plain LSTM (`benchmarks/plain_lstm.py`): "
        f"{recipe_text(PLAIN)}; every training year, no validation, no early stopping, "
        "no gradient clipping. fluxgrid's previous defaults: "
        f"{recipe_text(PREVIOUS)}. fluxgrid's defaults now: {recipe_text(current_defaults())}.",
        "",
    ]
    if "study" in parts:
        lines += [
            "## 1. Study (DK-Sor, US-WCr, IT-Col: neither iLSTM nor ten-tower sites)",
            "",
            "One model per site, random whole years (test one third, seed 0); test R2 on "
            "these sites' own test years, which play no role in parts 2 and 3.",
            "",
            repro.md_table(site_table(parts["study"]), ints=SEED_INTS),
            "",
            study_winner(parts["study"]),
            "",
            "RMSE and MAE (gC m-2 d-1), means over sites and seeds; epochs run (mean):",
            "",
            repro.md_table(
                parts["study"]
                .groupby("recipe", sort=False)[["rmse", "mae", "epochs run"]]
                .mean()
                .rename(columns={"epochs run": "epochs"})
            ),
            "",
        ]
    if "check" in parts:
        lines += [
            "## 2. Check on the iLSTM page's split (US-MMS, US-Oho, US-UMB)",
            "",
            "Random whole years per site, train:test about 2:1 (seed 0), exactly the split of "
            "[the iLSTM page](ilstm.md); the test years were not used in part 1.",
            "",
            repro.md_table(site_table(parts["check"]), ints=SEED_INTS),
            "",
            verdict(parts["check"], "fluxgrid defaults", ["plain LSTM", "previous defaults"]),
            "",
            verdict(parts["check"], CANDIDATE_NAME, ["plain LSTM", "fluxgrid defaults"]),
            "",
        ]
    if "peer" in parts:
        years = TOWER_YEARS
        lines += [
            "## 3. Ten towers against neuralhydrology",
            "",
            f"{', '.join(TOWERS)}: one model pooled over the ten towers, train "
            f"{years['train'][0]}-{years['train'][1]}, test {years['test'][0]}-"
            f"{years['test'][1]}; neuralhydrology's CudaLSTM with MSE, Adam 1e-3, gradient "
            "clipping 1, forget-gate bias 1 and its own scaler, no validation (its usual "
            "set-up); fluxgrid with its defaults (validation carved from the training years as "
            "its default says); `+ lr 3e-3` is the previous defaults with the new learning "
            "rate; the plain LSTM trains on every training year. Pooled test scores:",
            "",
            repro.md_table(summary(parts["peer"])),
            "",
            verdict(parts["peer"], "fluxgrid defaults", ["plain LSTM", "neuralhydrology"]),
            "",
            verdict(parts["peer"], CANDIDATE_NAME, ["plain LSTM", "neuralhydrology"]),
            "",
        ]
    lines += [
        "## Run time",
        "",
        timer.table(),
        "",
        "Every run's scores are kept in `data/defaults_runs.csv`; with `--reuse` the times "
        "above count only the runs trained by the last invocation (a single LSTM run took "
        "15-30 s per site in parts 1 and 2 and about a minute per model in part 3 on this "
        "machine's two CPU cores).",
        "",
    ]
    lines += [repro.data_credit(), ""]
    return repro.write_text(repro.RESULTS / "defaults.md", "\n".join(lines))


def main() -> None:
    parser = repro.script_parser(__doc__, threads=2)
    parser.add_argument("--parts", nargs="+", default=["study", "check", "peer"])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per recipe (check, peer)")
    parser.add_argument("--study-seeds", type=int, default=2, help="seeds per study recipe")
    parser.add_argument("--peer-epochs", type=int, default=10)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument(
        "--recipes", nargs="+", default=None, help="study recipes to run (default: all)"
    )
    args = parser.parse_args()
    timer = repro.start(args)
    runs = Runs(repro.DATA / "defaults_runs.csv", args.reuse)
    parts: dict[str, pd.DataFrame] = {}
    check = {
        "plain LSTM": {},
        "previous defaults": PREVIOUS,
        "+ lr 3e-3": {**PREVIOUS, "train.lr": 3e-3},
        "fluxgrid defaults": {},
        CANDIDATE_NAME: CANDIDATE,
    }
    for part in args.parts:
        with timer(f"{part}"):
            if part == "study":
                recipes = {**PLAIN_STUDY, **STUDY}
                if args.recipes:
                    recipes = {k: v for k, v in recipes.items() if k in args.recipes}
                done = per_site_part(
                    runs, part, STUDY_SITES, recipes, args.study_seeds, args.threads
                )
                parts[part] = with_extra_seeds(runs, done)
            elif part == "check":
                parts[part] = per_site_part(
                    runs, part, ILSTM_SITES, check, args.seeds, args.threads
                )
            elif part == "peer":
                parts[part] = peer_part(runs, args.seeds, args.threads, args.peer_epochs)
            else:
                raise SystemExit(f"--parts: unknown part {part!r}; expected study, check, peer")
    print(write_page(parts, args.seeds, args.study_seeds, timer))
    for name, frame in parts.items():
        table = summary(frame) if name == "peer" else site_table(frame)
        print(f"\n{name}\n", table.round(3))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
