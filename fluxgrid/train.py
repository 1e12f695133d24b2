"""Training: data -> split -> scaling -> windows -> tensors -> model, run directories, search.

The pieces, each usable alone:

* :func:`load_data` reads and QC's the site cube an :class:`ExperimentConfig` describes;
* :func:`prepare` checks every input (model name and parameters, drivers, look-back, split)
  *before* training and builds split, scaler, window index and the device-resident
  :class:`~fluxgrid.tensors.WindowCube`;
* :func:`fit_torch` is the trainer of the torch models: Adam, MSE/MAE/Huber loss, early
  stopping on the validation part (test windows are refused), best checkpoint kept,
  seeded, mixed precision on CUDA;
* :func:`search` runs grid, random or Hyperband (Optuna) hyper-parameter searches;
* :func:`train_experiment` does all of it and writes a run directory;
  :func:`load_run` gives back a :class:`TrainedRun` (model + scaler + input recipe) that
  predicts on new site cubes or on gathered batches (upscaling);
* :func:`cross_site_transfer` trains one model per site and scores it at every site.

Run directory layout::

    config.yaml       the ExperimentConfig (search winners merged into model/train)
    inputs.json       drivers, target, feature order, static inputs, IGBP vocabulary, look-back
    scaler.json       per-variable centre/scale fitted on the training part only
    split.nc          part (site, time): 0 unused, 1 train, 2 val, 3 test
    model.pt|pkl      best checkpoint (fluxgrid.models.load_model)
    history.nc        per-epoch losses (epoch)
    predictions.nc    obs, pred, part on (site, time), target units
    metrics.nc/.csv   scores pooled (part) and per site (part, site)
    windows.nc        per-site window counts and what was dropped
    qc_report.nc      QC removals (when QC ran)
    search.nc/.csv    one row per trial (when a search ran)

Examples
--------
>>> from fluxgrid.config import from_dict
>>> from fluxgrid.experiment_config import ExperimentConfig
>>> cfg = from_dict(ExperimentConfig, {
...     "data": {"source": "demo", "sites": ["US-MMS"]},
...     "windows": {"lookback": 30},
...     "model": {"name": "lstm", "params": {"hidden": 8}},
...     "train": {"epochs": 1, "device": "cpu"}})
>>> run_dir = train_experiment(cfg, output="runs/doc_lstm", overwrite=True)  # doctest: +SKIP
>>> run = load_run(run_dir)                                                   # doctest: +SKIP
>>> pred = run.predict(fluxgrid.load_demo_cube())                             # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ._lazy import lazy_import
from ._progress import track
from .config import dump_config, from_dict, load_config, to_dict
from .errors import ConfigError, DataNotFoundError, ModelError, SplitError
from .experiment_config import DataConfig, ExperimentConfig, TrainConfig

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .models.base import FluxModel
    from .prep.scaling import Scaler
    from .tensors import WindowCube
    from .windows import WindowIndex

__all__ = [
    "Prepared",
    "TrainedRun",
    "build_model",
    "check_experiment",
    "cross_site_transfer",
    "fit_model",
    "fit_torch",
    "load_data",
    "load_experiment",
    "load_run",
    "predict_with",
    "predictions_dataset",
    "prepare",
    "prepare_from_cube",
    "search",
    "train_experiment",
]


# --------------------------------------------------------------------------- config
def load_experiment(path: str | os.PathLike) -> ExperimentConfig:
    """Read an experiment YAML: a plain :class:`ExperimentConfig` or a ``train`` recipe.

    A recipe file (``recipe: train`` with a ``config:`` section, as run by ``fluxgrid
    run``) is accepted too, so one file serves ``fluxgrid train`` and ``fluxgrid run``.
    """
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    if isinstance(raw, dict) and "recipe" in raw:
        return load_config(path, ExperimentConfig, section="config")
    return load_config(path, ExperimentConfig)


def check_experiment(cfg: ExperimentConfig) -> type[FluxModel]:
    """Checks that need no data: the model name and its parameters, the search space.

    Returns the model class.

    Raises
    ------
    ModelError
        Unknown model name (the message lists the registered ones).
    ConfigError
        Unknown model parameter or search dimension.
    """
    from .registry import get_model

    cls = get_model(cfg.model.name)
    cls.check_params(cfg.model.params)
    for key in cfg.search.space:
        if key.startswith("model."):
            name = key.removeprefix("model.")
            if name not in cls.param_defaults():
                raise ConfigError(
                    f"SearchConfig.space: {key!r}: model {cfg.model.name!r} has no parameter "
                    f"{name!r}; known: {', '.join(cls.param_defaults())}"
                )
    if cfg.search.method == "hyperband" and cls.kind != "torch":
        raise ConfigError(
            f"hyperband search prunes by epoch; model {cfg.model.name!r} trains in one step. "
            "Use search.method grid or random"
        )
    return cls


# --------------------------------------------------------------------------- data
def load_data(
    cfg: DataConfig, *, cube: xr.Dataset | None = None, progress: bool | None = None
) -> tuple[xr.Dataset, xr.Dataset | None]:
    """The QC'd, in-memory site cube an experiment trains on.

    Parameters
    ----------
    cfg
        Data section of the experiment.
    cube
        Use this cube instead of reading ``cfg.source`` (selection, resampling, period and QC
        still apply).
    progress
        Show a progress bar while the cube is computed.

    Returns
    -------
    cube : xarray.Dataset
        Dims ``(site, time)`` with the drivers, the target and its QC fraction, loaded.
    qc_report : xarray.Dataset or None
        The :func:`fluxgrid.qc_mask` report (``None`` without QC).
    """
    from ._progress import progress_bar
    from .catalog import qc_name
    from .prep.select import open_selected, select_sites

    ds = open_selected(
        cfg.source, cube=cube, sites=cfg.sites, exclude_sites=cfg.exclude_sites, igbp=cfg.igbp
    )
    needed = [*cfg.drivers, cfg.target]
    missing = [v for v in needed if v not in ds.data_vars]
    if missing:
        raise DataNotFoundError(
            f"variables {missing} are not in {cfg.source}; it has {sorted(ds.data_vars)}"
        )
    qc_var = qc_name(cfg.target)
    keep_vars = needed + ([qc_var] if qc_var in ds.data_vars else [])
    ds = ds[keep_vars]
    resolution = ds.attrs.get("resolution", "DD")
    if resolution in ("HH", "HR"):
        from .prep.resample import to_daily

        ds = to_daily(ds)
        resolution = "DD"
    if cfg.resolution == "monthly" and resolution == "DD":
        from .prep.resample import to_monthly

        ds = to_monthly(ds)
        resolution = "MM"
    if cfg.resolution == "daily" and resolution != "DD":
        raise DataNotFoundError(
            f"{cfg.source} holds {resolution} data; set data.resolution: monthly or give "
            "daily or sub-daily data"
        )
    if cfg.period is not None:
        ds = ds.sel(time=slice(str(cfg.period[0]), str(cfg.period[1])))
        if ds.sizes["time"] == 0:
            raise DataNotFoundError(f"data.period {list(cfg.period)} selects no time step")
    with progress_bar(progress, label="loading the site cube"):
        ds = ds.load()
    report = None
    if cfg.qc_threshold is not None:
        from .prep.qc import qc_mask

        if qc_var not in ds:
            raise DataNotFoundError(
                f"data.qc_threshold needs {qc_var!r} in the cube; set data.qc_threshold: null "
                "to train without QC"
            )
        ds, report = qc_mask(
            ds,
            threshold=cfg.qc_threshold,
            targets=[cfg.target],
            min_valid_fraction=cfg.min_valid_fraction,
        )
    if cfg.min_years is not None:
        ds = select_sites(ds, min_years=cfg.min_years, variable=cfg.target)
    if ds.sizes["site"] == 0:
        raise DataNotFoundError("no site is left after selection and QC")
    ds.attrs["resolution"] = resolution
    return ds, report


# --------------------------------------------------------------------------- prepare
@dataclasses.dataclass
class Prepared:
    """Everything a model is fitted on; built by :func:`prepare`.

    Attributes
    ----------
    config
        The experiment.
    cube
        QC'd site cube (physical units).
    qc_report
        QC report or ``None``.
    split
        ``part`` (site, time).
    features
        Unscaled model inputs (:func:`fluxgrid.windows.input_features`).
    scaler
        Fitted on the training part only.
    index
        All windows with their parts.
    wcube
        Scaled tensors on the device.
    inputs
        The input recipe saved as ``inputs.json``.
    """

    config: ExperimentConfig
    cube: xr.Dataset
    qc_report: xr.Dataset | None
    split: xr.Dataset
    features: xr.Dataset
    scaler: Scaler
    index: WindowIndex
    wcube: WindowCube
    inputs: dict[str, Any]

    def part(self, name: str) -> WindowIndex:
        """Windows of part ``name`` (``train``, ``val``, ``test``)."""
        return self.index.select(name)


def prepare(
    cfg: ExperimentConfig, *, cube: xr.Dataset | None = None, progress: bool | None = None
) -> Prepared:
    """Load data and build split, scaler, windows and tensors; every check before training.

    Raises
    ------
    ModelError, ConfigError
        Unknown model or parameter (before any data is read).
    DataNotFoundError, WindowError, SplitError
        Missing drivers, look-back longer than the record, driver missing at a site, all
        targets masked, a split leaving no training data.
    """
    check_experiment(cfg)
    ds, report = load_data(cfg.data, cube=cube, progress=progress)
    return prepare_from_cube(cfg, ds, qc_report=report)


def prepare_from_cube(
    cfg: ExperimentConfig,
    ds: xr.Dataset,
    *,
    qc_report: xr.Dataset | None = None,
    split: xr.Dataset | None = None,
) -> Prepared:
    """:func:`prepare` on an already loaded and QC'd cube (optionally with a given split)."""
    from .prep.scaling import fit_scaler
    from .prep.splits import check_split, make_split
    from .tensors import WindowCube
    from .windows import build_windows, input_features

    check_experiment(cfg)
    d, w = cfg.data, cfg.windows
    if split is None:
        split = make_split(ds, cfg.split, target=d.target)
    else:
        split = split.sel(site=ds.site.values)
        check_split(split, ds, target=d.target)
    features = input_features(
        ds,
        list(d.drivers),
        static=list(w.static),
        igbp_classes=list(w.igbp_classes) if w.igbp_classes is not None else None,
        fill_gaps=w.fill_gaps,
    )
    index = build_windows(
        ds,
        list(d.drivers),
        d.target,
        w.lookback,
        split=split,
        fill_gaps=w.fill_gaps,
        features=features,
    )
    n_train = len(index.select("train"))
    if n_train == 0:
        raise SplitError(
            f"the split leaves no complete {w.lookback}-step training window; lower "
            "split.test_fraction / val_fraction, shorten windows.lookback or add sites"
        )
    scaled_vars = [*d.drivers, *[n for n in ("site_lat", "site_lon") if n in features]]
    scale_src = features[scaled_vars].assign({d.target: ds[d.target]})
    scaler = fit_scaler(scale_src, [*scaled_vars, d.target], split=split)
    wcube = WindowCube.from_dataset(
        ds,
        list(d.drivers),
        target=d.target,
        scaler=scaler,
        features=features,
        device=cfg.train.device,
        placement=cfg.train.placement,
    )
    inputs = {
        "drivers": list(d.drivers),
        "target": d.target,
        "target_units": str(ds[d.target].attrs.get("units", "")),
        "features": list(wcube.features),
        "static": list(w.static),
        "igbp_classes": list(features.attrs["igbp_classes"]),
        "lookback": w.lookback,
        "fill_gaps": w.fill_gaps,
        "resolution": ds.attrs.get("resolution", "DD"),
        "model": cfg.model.name,
    }
    return Prepared(cfg, ds, qc_report, split, features, scaler, index, wcube, inputs)


# --------------------------------------------------------------------------- training
def _seed_everything(seed: int) -> None:
    import random

    torch = lazy_import("torch")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds third-party code using the global RNG)
    torch.manual_seed(seed)


def build_model(cfg: ExperimentConfig, n_inputs: int) -> FluxModel:
    """The model of ``cfg`` for ``n_inputs`` inputs, weights seeded by ``train.seed``."""
    cls = check_experiment(cfg)
    _seed_everything(cfg.train.seed)
    params = dict(cfg.model.params)
    if cls.kind == "sklearn" and "seed" in cls.param_defaults() and "seed" not in params:
        params["seed"] = cfg.train.seed
    model = cls(n_inputs, cfg.windows.lookback, **params)
    if model.kind == "torch":
        model.to(cfg.train.device)
    return model


def _loss_fn(name: str) -> Callable:
    torch = lazy_import("torch")
    return {
        "mse": torch.nn.functional.mse_loss,
        "mae": torch.nn.functional.l1_loss,
        "huber": torch.nn.functional.huber_loss,
    }[name]


def _assert_parts(index: WindowIndex | None, code: int, what: str) -> None:
    from .prep.splits import PARTS

    if index is None or len(index) == 0:
        return
    bad = index.part != code
    if bad.any():
        found = sorted({k for k, v in PARTS.items() if v in set(index.part[bad].tolist())})
        allowed = next(k for k, v in PARTS.items() if v == code)
        raise SplitError(
            f"{what} windows include parts {found}; only '{allowed}' windows may be used here "
            "(test data never steer training or early stopping)"
        )


def fit_torch(
    model: FluxModel,
    cube: WindowCube,
    train: WindowIndex,
    val: WindowIndex | None,
    config: TrainConfig,
    *,
    trial: Any = None,
    progress: bool | None = None,
    desc: str = "",
) -> xr.Dataset:
    """Train a torch model with Adam and early stopping on the validation windows.

    Parameters
    ----------
    model
        A :class:`~fluxgrid.models.base.TorchModel`.
    cube
        Scaled inputs and target.
    train
        Training windows (part ``train`` only).
    val
        Validation windows (part ``val`` only) or ``None`` (then the last epoch is kept).
    config
        Optimisation settings.
    trial
        An Optuna trial: the validation loss is reported each epoch and the trial pruned
        when the pruner says so.
    progress
        Show a progress bar over epochs.
    desc
        Label of the progress bar.

    Returns
    -------
    xarray.Dataset
        Dim ``epoch``: ``train_loss``, ``val_loss`` (the training loss on validation
        windows), ``val_rmse``/``val_mae`` (scaled units), ``val_r2``, ``lr`` (of the
        epoch, after the schedule), ``seconds``. Attributes: ``loss``, ``objective`` (what
        was minimised: the loss or the model's own, e.g. ``mixture_nll``), ``best_epoch``,
        ``best_val_loss``, ``stopped_early``, ``device``, ``amp``, ``amp_dtype``,
        ``lr_schedule``. The model holds the best weights afterwards.

    Raises
    ------
    SplitError
        If ``train`` holds non-training or ``val`` non-validation (e.g. test) windows.
    """
    from .prep.splits import TRAIN, VAL

    torch = lazy_import("torch")
    _assert_parts(train, TRAIN, "training")
    _assert_parts(val, VAL, "validation")
    if len(train) == 0:
        raise SplitError("no training windows")
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    net = model.net
    device = cube.device
    net.to(device)
    _seed_everything(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = _loss_fn(config.loss)
    amp_dtype, use_amp = _amp_settings(config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    has_val = val is not None and len(val) > 0
    schedule = _lr_schedule(opt, config)
    records: list[dict[str, float]] = []
    best = (math.inf, 0)
    best_state = None
    bad_epochs = 0
    stopped_early = False
    epochs = track(range(1, config.epochs + 1), desc=desc or f"train {model.name}", show=progress)
    for epoch in epochs:
        start = time.perf_counter()
        net.train()
        lr_now = float(opt.param_groups[0]["lr"])
        total = torch.zeros((), device=device)  # accumulated on the device: no sync per step
        count = 0
        for x, y, _pos in cube.batches(
            train,
            config.batch_size,
            shuffle=True,
            generator=gen,
            max_batches=config.max_batches_per_epoch,
        ):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                loss = model.training_loss(x, y, loss_fn)
            scaler.scale(loss).backward()
            if config.grad_clip:
                scaler.unscale_(opt)
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
            scaler.step(opt)
            scaler.update()
            total += loss.detach().float() * len(y)
            count += len(y)
        rec = {"train_loss": float(total) / max(count, 1), "lr": lr_now}
        if has_val:
            rec.update(_validation_scores(model, cube, val, config, use_amp, amp_dtype))
        else:
            rec.update(val_loss=np.nan, val_rmse=np.nan, val_mae=np.nan, val_r2=np.nan)
        rec["seconds"] = time.perf_counter() - start
        records.append(rec)
        score = rec["val_loss"] if has_val else rec["train_loss"]
        if not np.isfinite(score):
            raise ModelError(
                f"training of {model.name!r} diverged at epoch {epoch} (loss {score}); lower "
                "train.lr or check the inputs"
            )
        if score < best[0] - config.min_delta:
            best = (score, epoch)
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            bad_epochs = 0
        else:
            bad_epochs += 1
        if schedule is not None:
            if config.lr_schedule == "plateau":
                schedule.step(score)
            else:
                schedule.step()
        if trial is not None:
            trial.report(float(score), epoch)
            if trial.should_prune():
                optuna = lazy_import("optuna")
                raise optuna.TrialPruned()
        if has_val and bad_epochs >= config.patience:
            stopped_early = True
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    history = xr.Dataset(
        {k: ("epoch", np.array([r[k] for r in records], dtype=np.float64)) for k in records[0]},
        coords={"epoch": np.arange(1, len(records) + 1)},
        attrs={
            "loss": config.loss,
            "objective": (
                "mixture_nll" if model.params.get("objective") == "mixture" else config.loss
            ),
            "best_epoch": int(best[1]),
            "best_val_loss": float(best[0]) if has_val else np.nan,
            "stopped_early": int(stopped_early),
            "device": str(device),
            "amp": int(use_amp),
            "amp_dtype": str(amp_dtype).removeprefix("torch.") if use_amp else "float32",
            "lr_schedule": config.lr_schedule,
            "n_train": len(train),
            "n_val": len(val) if val is not None else 0,
        },
    )
    return history


def _amp_settings(config: TrainConfig, device: torch.device) -> tuple[Any, bool]:
    """Autocast dtype and whether mixed precision is on for ``device``.

    float16 (with gradient scaling) runs on CUDA only; bfloat16 runs on CUDA and on CPU
    (no gradient scaling needed).
    """
    torch = lazy_import("torch")
    dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
    on = bool(config.amp) and (device.type == "cuda" or dtype == torch.bfloat16)
    return dtype, on


def _lr_schedule(opt: Any, config: TrainConfig) -> Any:
    """The learning-rate schedule of ``config`` (stepped once per epoch) or ``None``."""
    torch = lazy_import("torch")
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=max(config.epochs, 1), eta_min=config.lr * config.lr_min_factor
        )
    if config.lr_schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt,
            factor=0.5,
            patience=max(1, config.patience // 3),
            min_lr=config.lr * config.lr_min_factor,
        )
    return None


def _validation_scores(model, cube, val, config, use_amp, amp_dtype=None) -> dict[str, float]:
    torch = lazy_import("torch")
    net = model.net
    net.eval()
    dtype = amp_dtype if amp_dtype is not None else torch.float16
    preds, obs = [], []
    with torch.no_grad():
        for x, y, _pos in cube.batches(val, config.eval_batch_size):
            with torch.autocast(device_type=x.device.type, dtype=dtype, enabled=use_amp):
                out = net(x)
            preds.append(out.float())
            obs.append(y)
    p = torch.cat(preds)
    o = torch.cat(obs)
    loss = float(_loss_fn(config.loss)(p, o))
    err = p - o
    sst = float(((o - o.mean()) ** 2).sum())
    return {
        "val_loss": loss,
        "val_rmse": float(torch.sqrt((err**2).mean())),
        "val_mae": float(err.abs().mean()),
        "val_r2": 1.0 - float((err**2).sum()) / sst if sst > 0 else np.nan,
    }


def fit_model(
    prepared: Prepared,
    cfg: ExperimentConfig | None = None,
    *,
    trial: Any = None,
    progress: bool | None = None,
) -> tuple[FluxModel, xr.Dataset]:
    """Build and fit the model of ``cfg`` (default: the prepared one) on its windows."""
    cfg = cfg or prepared.config
    model = build_model(cfg, prepared.wcube.n_dynamic + prepared.wcube.n_static)
    train, val = prepared.part("train"), prepared.part("val")
    if model.kind == "torch":
        history = fit_torch(
            model, prepared.wcube, train, val, cfg.train, trial=trial, progress=progress
        )
    else:
        from .prep.splits import TRAIN, VAL

        _assert_parts(train, TRAIN, "training")
        _assert_parts(val, VAL, "validation")
        history = model.fit(prepared.wcube, train, val, cfg.train)
    return model, history


# --------------------------------------------------------------------------- predictions
def predictions_dataset(
    ds: xr.Dataset,
    index: WindowIndex,
    values: np.ndarray,
    *,
    target: str | None,
    split: xr.Dataset | None = None,
    units: str = "",
) -> xr.Dataset:
    """Predictions back on the ``(site, time)`` grid.

    Parameters
    ----------
    ds
        The cube the windows index (labels, observations, site coordinates).
    index
        Windows predicted.
    values
        Predictions in target units, ``(sample,)``.
    target
        Observed variable (``None``: no ``obs``).
    split
        Split whose ``part`` is attached.
    units
        Units of the predictions.

    Returns
    -------
    xarray.Dataset
        ``pred`` (and ``obs``, ``part``) on ``(site, time)``; NaN where no window ends.
    """
    grid = np.full((ds.sizes["site"], ds.sizes["time"]), np.nan, dtype=np.float32)
    grid[index.site_idx, index.end_idx] = values
    out = xr.Dataset(coords={"site": ds["site"].values, "time": ds["time"].values})
    name = target or "target"
    out["pred"] = (("site", "time"), grid, {"long_name": f"predicted {name}", "units": units})
    if target is not None and target in ds:
        obs = ds[target].transpose("site", "time")
        out["obs"] = (
            ("site", "time"),
            obs.values.astype(np.float32),
            {"long_name": f"observed {name}", "units": units or obs.attrs.get("units", "")},
        )
    if split is not None:
        out["part"] = split["part"].sel(site=out.site).reset_coords(drop=True).astype(np.int8)
    for c in ("latitude", "longitude", "igbp"):
        if c in ds.coords and ds[c].dims == ("site",):
            out = out.assign_coords(
                {c: ("site", ds[c].values if c != "igbp" else ds[c].values.astype(str))}
            )
    out.attrs = {"target": name}
    return out


def _predict_prepared(prepared: Prepared, model: FluxModel) -> xr.Dataset:
    """Predict every complete input window (days without observations included)."""
    from .windows import build_windows

    cfg = prepared.config
    index = build_windows(
        prepared.cube,
        list(cfg.data.drivers),
        None,
        cfg.windows.lookback,
        require_target=False,
        features=prepared.features,
    )
    scaled = model.predict(prepared.wcube, index, batch_size=cfg.train.eval_batch_size)
    values = prepared.scaler.inverse_values(scaled, cfg.data.target)
    return predictions_dataset(
        prepared.cube,
        index,
        values,
        target=cfg.data.target,
        split=prepared.split,
        units=prepared.inputs["target_units"],
    )


# --------------------------------------------------------------------------- search
def _apply_params(cfg: ExperimentConfig, params: dict[str, Any]) -> ExperimentConfig:
    model_params = dict(cfg.model.params)
    train_updates: dict[str, Any] = {}
    for key, value in params.items():
        if key.startswith("model."):
            model_params[key.removeprefix("model.")] = value
        else:
            train_updates[key.removeprefix("train.")] = value
    train = from_dict(TrainConfig, {**to_dict(cfg.train), **train_updates})
    return dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, params=model_params), train=train
    )


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str)


def _suggest(trial: Any, key: str, spec: Any) -> Any:
    if spec.choices is not None:
        choices = list(spec.choices)
        if all(_is_scalar(c) for c in choices):
            return trial.suggest_categorical(key, choices)
        i = trial.suggest_categorical(key, list(range(len(choices))))
        return choices[i]
    if spec.integer:
        return trial.suggest_int(
            key, int(spec.low), int(spec.high), step=int(spec.step or 1), log=spec.log
        )
    return trial.suggest_float(key, spec.low, spec.high, step=spec.step, log=spec.log)


def _max_epochs(cfg: ExperimentConfig) -> int:
    """Most epochs any trial can train: ``train.epochs`` or the top of its search range."""
    spec = cfg.search.space.get("train.epochs")
    if spec is None:
        return int(cfg.train.epochs)
    if spec.choices is not None:
        return int(max(spec.choices))
    return int(spec.high)


def search(
    prepared: Prepared, *, progress: bool | None = None
) -> tuple[xr.Dataset, dict[str, Any], FluxModel, xr.Dataset]:
    """Hyper-parameter search on the validation part (never the test part).

    ``grid`` tries every combination of ``choices``; ``random`` samples ``n_trials``
    points; ``hyperband`` uses Optuna's TPE sampler with a Hyperband pruner that stops
    poor trials early on their per-epoch validation loss.

    Returns
    -------
    table : xarray.Dataset
        One row per trial (dim ``trial``): the parameters, ``value`` (the search metric),
        ``state`` (COMPLETE, PRUNED by Hyperband, DIVERGED), ``best_epoch``, ``seconds``.
    best_params : dict
        Dotted names -> values of the best trial.
    model : FluxModel
        The best trial's fitted model (best checkpoint).
    history : xarray.Dataset
        Its training history.
    """
    optuna = lazy_import("optuna")
    cfg = prepared.config
    s = cfg.search
    if s.method == "none":
        raise ConfigError("search.method is 'none'; set grid, random or hyperband")
    if len(prepared.part("val")) == 0:
        raise SplitError(
            "hyper-parameter search needs validation windows; set split.validation to years, "
            "tail or sites with val_fraction > 0"
        )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    target_scale = prepared.scaler.scale[cfg.data.target]
    pruner = optuna.pruners.NopPruner()
    n_trials = s.n_trials
    if s.method == "grid":
        grid = {}
        for k, spec in s.space.items():
            choices = list(spec.choices)
            grid[k] = choices if all(_is_scalar(c) for c in choices) else list(range(len(choices)))
        sampler = optuna.samplers.GridSampler(grid, seed=s.seed)
        n_trials = int(np.prod([len(v) for v in grid.values()]))
    elif s.method == "random":
        sampler = optuna.samplers.RandomSampler(seed=s.seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=s.seed)
        pruner = optuna.pruners.HyperbandPruner(
            min_resource=s.min_epochs,
            max_resource=_max_epochs(cfg),
            reduction_factor=s.reduction_factor,
        )
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner)
    best: dict[str, Any] = {"value": math.inf}
    rows: list[dict[str, Any]] = []

    def objective(trial):
        params = {k: _suggest(trial, k, spec) for k, spec in s.space.items()}
        trial_cfg = _apply_params(cfg, params)
        start = time.perf_counter()
        row = {
            "trial": trial.number,
            **{k: repr(v) if not _is_scalar(v) else v for k, v in params.items()},
        }
        try:
            model, history = fit_model(
                prepared,
                trial_cfg,
                trial=trial if s.method == "hyperband" else None,
                progress=False,
            )
        except (optuna.TrialPruned, ModelError) as err:
            # pruned by Hyperband, or diverged (e.g. a learning rate too high): recorded,
            # and the search goes on
            rows.append(
                {
                    **row,
                    "value": np.nan,
                    "state": "PRUNED" if isinstance(err, optuna.TrialPruned) else "DIVERGED",
                    "best_epoch": np.nan,
                    "seconds": time.perf_counter() - start,
                }
            )
            raise optuna.TrialPruned() from err
        b = int(history.attrs.get("best_epoch", 1)) or int(history.epoch[-1])
        at = history.sel(epoch=b)
        if s.metric == "val_loss":
            value = float(at.val_loss)
        elif s.metric == "val_rmse":
            value = (
                float(at.val_rmse) * target_scale
                if "val_rmse" in at
                else float(np.sqrt(at.val_loss)) * target_scale
            )
        elif s.metric == "val_mae":
            value = float(at.val_mae) * target_scale
        else:
            value = -float(at.val_r2)
        rows.append(
            {
                **row,
                "value": value,
                "state": "COMPLETE",
                "best_epoch": b,
                "seconds": time.perf_counter() - start,
            }
        )
        if value < best["value"]:
            best.update(value=value, params=params, model=model, history=history)
        return value

    study.optimize(
        objective, n_trials=n_trials, timeout=s.timeout_s, show_progress_bar=bool(progress)
    )
    if "model" not in best:
        raise ModelError("no search trial completed; widen the space or raise n_trials")
    frame = pd.DataFrame(rows).set_index("trial").sort_index()
    table = xr.Dataset.from_dataframe(frame)
    table.attrs = {
        "method": s.method,
        "metric": s.metric,
        "best_trial": int(frame["value"].idxmin()),
    }
    return table, best["params"], best["model"], best["history"]


# --------------------------------------------------------------------------- runs
def train_experiment(
    cfg: ExperimentConfig | str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    cube: xr.Dataset | None = None,
    progress: bool | None = None,
) -> Path:
    """Train (or search, then train) the experiment and write its run directory.

    Parameters
    ----------
    cfg
        The experiment, or the path of its YAML.
    output
        Run directory (default ``cfg.output``); written atomically (a failed run leaves
        nothing behind).
    overwrite
        Replace an existing run directory.
    cube
        Use this site cube instead of reading ``cfg.data.source``.
    progress
        Progress bars (default: on a terminal).

    Returns
    -------
    pathlib.Path
        The run directory (layout in the module docstring).
    """
    from .evaluate import pooled_table, run_scores, write_csv
    from .io.atomic import atomic_path, check_writable
    from .io.store import to_netcdf

    if not isinstance(cfg, ExperimentConfig):
        cfg = load_experiment(cfg)
    run_dir = check_writable(output or cfg.output, overwrite)
    check_experiment(cfg)
    prepared = prepare(cfg, cube=cube, progress=progress)
    table = None
    if cfg.search.method != "none":
        table, best_params, model, history = search(prepared, progress=progress)
        cfg = _apply_params(cfg, best_params)
        prepared.config = cfg
    else:
        model, history = fit_model(prepared, progress=progress)
    predictions = _predict_prepared(prepared, model)
    scores = run_scores(predictions, by=("site",))
    with atomic_path(run_dir) as tmp:
        tmp.mkdir(parents=True)
        dump_config(cfg, tmp / "config.yaml")
        (tmp / "inputs.json").write_text(json.dumps(prepared.inputs, indent=2))
        prepared.scaler.to_json(tmp / "scaler.json")
        to_netcdf(prepared.split, tmp / "split.nc")
        model.save(tmp / ("model.pt" if model.kind == "torch" else "model.pkl"))
        to_netcdf(history, tmp / "history.nc")
        to_netcdf(predictions, tmp / "predictions.nc")
        to_netcdf(scores, tmp / "metrics.nc")
        write_csv(pooled_table(scores), tmp / "metrics.csv")
        if prepared.index.report is not None:
            to_netcdf(prepared.index.report, tmp / "windows.nc")
        if prepared.qc_report is not None:
            to_netcdf(prepared.qc_report, tmp / "qc_report.nc")
        if table is not None:
            to_netcdf(table, tmp / "search.nc")
            write_csv(table.to_dataframe(), tmp / "search.csv")
    return run_dir


@dataclasses.dataclass
class TrainedRun:
    """A trained model with its scaler and input recipe; predicts on new data.

    Obtain one with :func:`load_run` (from a run directory) or :meth:`from_prepared`.

    Attributes
    ----------
    model
        The fitted model (:mod:`fluxgrid.models.base` contract).
    scaler
        Scaling fitted on the training part.
    inputs
        ``drivers``, ``target``, ``features`` (input order), ``static``,
        ``igbp_classes``, ``lookback``, ``fill_gaps``, ``target_units``.
    config
        The experiment configuration.
    path
        The run directory (``None`` for runs not saved).
    search_table
        The hyper-parameter search of this model (one row per trial) when one ran in
        this session (:func:`cross_site_transfer`); saved runs keep it as ``search.nc``.
    """

    model: FluxModel
    scaler: Scaler
    inputs: dict[str, Any]
    config: ExperimentConfig
    path: Path | None = None
    _split: xr.Dataset | None = None
    search_table: xr.Dataset | None = None

    @classmethod
    def from_prepared(cls, prepared: Prepared, model: FluxModel) -> TrainedRun:
        """A run object for a model fitted in this session."""
        return cls(model, prepared.scaler, prepared.inputs, prepared.config, None, prepared.split)

    @property
    def lookback(self) -> int:
        """Steps per input window."""
        return int(self.inputs["lookback"])

    @property
    def features(self) -> list[str]:
        """Input names in model order."""
        return list(self.inputs["features"])

    def split(self) -> xr.Dataset:
        """The split the model was trained with."""
        if self._split is None:
            if self.path is None:
                raise DataNotFoundError("this run has no saved split")
            with xr.open_dataset(self.path / "split.nc") as f:
                self._split = f.load()
        return self._split

    def load_cube(self, *, progress: bool | None = None) -> xr.Dataset:
        """The site cube of this run's sites, prepared as for training (for explanations).

        Runs whose inputs were prepared outside the experiment (the GPP study: gap-filled
        predictors, computed ``sw_clearsky``) name that cube in ``inputs.json`` (``"cube"``,
        relative to the run directory); it is read and cut to the sites of the run's split.
        Other runs read ``config.data`` (:func:`load_data`).

        Returns
        -------
        xarray.Dataset
            Dims ``(site, time)``, loaded, QC applied as in training.

        Raises
        ------
        DataNotFoundError
            The named cube is missing (the study folder was moved without it).

        Examples
        --------
        >>> run = fluxgrid.load_run("gpp/models/lstm/all")  # doctest: +SKIP
        >>> fluxgrid.explain.permutation_importance(run, run.load_cube())  # doctest: +SKIP
        """
        cube = None
        if "cube" in self.inputs:
            from .io.store import open_cube

            if self.path is None:
                raise DataNotFoundError("this run has no directory to find its input cube in")
            path = (self.path / self.inputs["cube"]).resolve()
            if not path.exists():
                raise DataNotFoundError(
                    f"{self.path}/inputs.json names the input cube {self.inputs['cube']!r} "
                    f"({path}), which does not exist; keep the run inside its study folder"
                )
            cube = open_cube(path).sel(site=self.split()["site"].values)
        ds, _report = load_data(self.config.data, cube=cube, progress=progress)
        return ds

    def window_cube(
        self,
        ds: xr.Dataset,
        *,
        with_target: bool = True,
        device: str | None = None,
        placement: str = "auto",
    ) -> WindowCube:
        """Scaled tensors of ``ds`` built exactly as for training (same features, scaling)."""
        from .tensors import WindowCube
        from .windows import input_features

        drivers = self.inputs["drivers"]
        missing = [v for v in drivers if v not in ds]
        if missing:
            raise ModelError(f"the model was trained on drivers {drivers}; the data lack {missing}")
        feats = input_features(
            ds,
            drivers,
            static=self.inputs["static"],
            igbp_classes=self.inputs["igbp_classes"],
            fill_gaps=self.inputs["fill_gaps"],
        )
        target = self.inputs["target"] if with_target and self.inputs["target"] in ds else None
        cube = WindowCube.from_dataset(
            ds,
            drivers,
            target=target,
            scaler=self.scaler,
            features=feats,
            device=device or self.config.train.device,
            placement=placement,
        )
        if cube.features != self.features:
            raise ModelError(f"inputs {cube.features} differ from the model's {self.features}")
        return cube

    def windows(
        self, ds: xr.Dataset, *, split: xr.Dataset | None = None, require_target: bool = False
    ) -> WindowIndex:
        """Every complete input window of ``ds`` (with a valid target if required)."""
        from .windows import build_windows, input_features

        feats = input_features(
            ds, self.inputs["drivers"], static=(), fill_gaps=self.inputs["fill_gaps"]
        )
        target = self.inputs["target"] if self.inputs["target"] in ds else None
        return build_windows(
            ds,
            self.inputs["drivers"],
            target if require_target else None,
            self.lookback,
            split=split,
            require_target=require_target,
            features=feats,
        )

    def predict_windows(
        self, cube: WindowCube, index: WindowIndex, *, batch_size: int = 4096
    ) -> np.ndarray:
        """Predictions in target units for the windows of ``index``, ``(sample,)``."""
        scaled = self.model.predict(cube, index, batch_size=batch_size)
        return np.asarray(
            self.scaler.inverse_values(scaled, self.inputs["target"]), dtype=np.float32
        )

    def predict(
        self,
        ds: xr.Dataset,
        *,
        split: xr.Dataset | None = None,
        device: str | None = None,
        batch_size: int = 4096,
    ) -> xr.Dataset:
        """Predict every complete input window of a site cube.

        Parameters
        ----------
        ds
            Site cube with the run's drivers (any sites, any period; a driver may be
            permuted or perturbed for importance analyses).
        split
            Attach this split's ``part`` (e.g. :meth:`split` for the training sites).

        Returns
        -------
        xarray.Dataset
            ``pred`` (and ``obs`` when the target is present, ``part`` with a split) on
            ``(site, time)``, target units.
        """
        cube = self.window_cube(ds, device=device)
        index = self.windows(ds, split=split)
        values = self.predict_windows(cube, index, batch_size=batch_size)
        target = self.inputs["target"] if self.inputs["target"] in ds else None
        return predictions_dataset(
            ds, index, values, target=target, split=split, units=self.inputs.get("target_units", "")
        )

    def batch_predictor(self, device: str | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """A function ``f(x) -> y`` on raw (physical-unit) batches, e.g. for upscaling.

        ``x`` is ``(batch, lookback, n_features)`` in the order of :attr:`features`, in the
        units the model was trained on (drivers as in the cube, ``doy_sin``/``doy_cos``,
        ``site_lat``/``site_lon`` in degrees, IGBP one-hot); ``y`` is ``(batch,)`` in
        target units. Scaling happens inside, on ``x``'s device.

        Examples
        --------
        >>> run = load_run("runs/demo")            # doctest: +SKIP
        >>> f = run.batch_predictor()              # doctest: +SKIP
        >>> nee = f(x)   # x: (pixels, 75, 5)      # doctest: +SKIP
        """
        torch = lazy_import("torch")
        feats = self.features
        center = torch.tensor([self.scaler.center.get(n, 0.0) for n in feats], dtype=torch.float32)
        scale = torch.tensor([self.scaler.scale.get(n, 1.0) for n in feats], dtype=torch.float32)
        t = self.inputs["target"]
        tc, ts = self.scaler.center[t], self.scaler.scale[t]
        if self.model.kind == "torch" and device is not None:
            self.model.to(device)

        def predict(x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] != len(feats) or x.shape[-2] != self.lookback:
                raise ModelError(
                    f"batch of shape {tuple(x.shape)}; expected "
                    f"(batch, {self.lookback}, {len(feats)}) with inputs {feats}"
                )
            xs = (x.float() - center.to(x.device)) / scale.to(x.device)
            xs = torch.nan_to_num(xs, nan=0.0)
            return self.model.predict_batch(xs) * ts + tc

        return predict

    def attention(self, ds: xr.Dataset, *, part: str | None = "test") -> xr.Dataset:
        """Attention weights (alpha, beta) of an iLSTM on the windows of ``ds`` (of one split part).

        Raises
        ------
        ModelError
            If the model is not an iLSTM.
        """
        if not hasattr(self.model, "attention"):
            raise ModelError(f"model {self.model.name!r} has no attention weights; train 'ilstm'")
        cube = self.window_cube(ds)
        split = None
        if part is not None:
            split = self.split().sel(site=ds.site.values)
        index = self.windows(ds, split=split, require_target=part is not None)
        if part is not None:
            index = index.select(part)
        return self.model.attention(cube, index)


def load_run(run_dir: str | os.PathLike, *, device: str = "auto") -> TrainedRun:
    """Load a run directory written by :func:`train_experiment`.

    Returns
    -------
    TrainedRun
        Model (best checkpoint, on ``device``), scaler, input recipe and configuration.
    """
    from .models.base import load_model
    from .prep.scaling import load_scaler

    path = Path(run_dir)
    if not (path / "inputs.json").is_file():
        raise DataNotFoundError(f"{path} is not a fluxgrid run directory (no inputs.json)")
    cfg = load_config(path / "config.yaml", ExperimentConfig)
    ckpt = path / "model.pt"
    if not ckpt.is_file():
        ckpt = path / "model.pkl"
    model = load_model(ckpt, device=device)
    scaler = load_scaler(path / "scaler.json")
    inputs = json.loads((path / "inputs.json").read_text())
    table = None
    if (path / "search.nc").is_file():
        with xr.open_dataset(path / "search.nc") as f:
            table = f.load()
    return TrainedRun(model, scaler, inputs, cfg, path, search_table=table)


def predict_with(run: TrainedRun | str | os.PathLike, ds: xr.Dataset, **kwargs: Any) -> xr.Dataset:
    """Predict ``ds`` with a :class:`TrainedRun` or a run directory (loaded first).

    Examples
    --------
    >>> pred = predict_with("runs/demo", fluxgrid.load_demo_cube())  # doctest: +SKIP
    """
    if not isinstance(run, TrainedRun):
        run = load_run(run, device=kwargs.pop("device", None) or "auto")
    return run.predict(ds, **kwargs)


# --------------------------------------------------------------------------- transfer
def cross_site_transfer(
    cfg: ExperimentConfig,
    *,
    cube: xr.Dataset | None = None,
    sites: Sequence[str] | None = None,
    progress: bool | None = None,
) -> tuple[xr.Dataset, dict[str, xr.Dataset], dict[str, TrainedRun]]:
    """Train one model per site and score it at every site (its test part).

    Each training site gets its own split (per-site random streams: a site's years are
    the same alone or with others), scaler and model, trained exactly like
    :func:`train_experiment` with ``data.sites=[site]``; with a ``search`` section the
    hyper-parameters are searched per site on that site's validation part (never on any
    test part) and the winning model is kept (its table in ``run.search_table``, its
    settings in ``run.config``). The model is then applied, with its own scaler, to every
    site's data and scored on that site's test part.

    Returns
    -------
    matrix : xarray.Dataset
        :data:`fluxgrid.evaluate.METRICS` on ``(train_site, test_site)``.
    predictions : dict
        ``{train_site: predictions dataset over all sites}``.
    runs : dict
        ``{train_site: TrainedRun}``.
    """
    from .evaluate import transfer_matrix
    from .prep.splits import make_split

    check_experiment(cfg)
    if sites is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, sites=tuple(sites)))
    ds, _report = load_data(cfg.data, cube=cube, progress=progress)
    names = ds.site.values.astype(str).tolist()
    split = make_split(ds, cfg.split, target=cfg.data.target)
    predictions: dict[str, xr.Dataset] = {}
    runs: dict[str, TrainedRun] = {}
    for site in track(names, desc="transfer: train per site", show=progress):
        one = ds.sel(site=[site])
        sub_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, sites=(site,)))
        prepared = prepare_from_cube(sub_cfg, one, split=split)
        table = None
        if cfg.search.method != "none":
            table, best_params, model, _history = search(prepared, progress=False)
            prepared.config = _apply_params(sub_cfg, best_params)
        else:
            model, _history = fit_model(prepared, progress=False)
        run = TrainedRun.from_prepared(prepared, model)
        run._split = split
        run.search_table = table
        predictions[site] = run.predict(ds, split=split)
        runs[site] = run
    return transfer_matrix(predictions, part="test"), predictions, runs
