"""Hyper-parameter search on the validation part: grid, random or Hyperband (Optuna).

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> from fluxgrid.training import prepare
>>> cfg = from_dict(ExperimentConfig, {
...     "data": {"sites": ["US-MMS"]}, "windows": {"lookback": 30},
...     "split": {"validation": "years", "val_fraction": 0.2},
...     "model": {"name": "lstm"}, "train": {"epochs": 2, "device": "cpu"},
...     "search": {"method": "grid", "space": {"model.hidden": {"choices": [8, 16]}}}})
>>> table, best, model, history = search(prepare(cfg))  # doctest: +SKIP
>>> table.state.values.tolist()                         # doctest: +SKIP
['COMPLETE', 'COMPLETE']
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._lazy import lazy_import
from .._progress import counter
from ..config.experiment import ExperimentConfig
from ..errors import ConfigError, ModelError, SplitError
from ..models import FluxModel
from .build import apply_params, fit_model
from .prepared import Prepared

__all__ = ["search", "search_or_fit"]


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

    Parameters
    ----------
    prepared
        The prepared experiment (its ``search`` section says what to try).
    progress
        Show a progress bar over the trials (each trial trains without its own bar);
        ``None``: in notebooks and on terminals, not under CI (:func:`fluxgrid.set_progress`).

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
        trial_cfg = apply_params(cfg, params)
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

    desc = f"{s.method} search, {cfg.model.name}"
    with counter(n_trials, desc=desc, show=progress) as bar:

        def advance(study: Any, trial: Any) -> None:
            bar.update(1)

        study.optimize(objective, n_trials=n_trials, timeout=s.timeout_s, callbacks=[advance])
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


def search_or_fit(
    prepared: Prepared, *, progress: bool | None = None
) -> tuple[FluxModel, xr.Dataset, xr.Dataset | None]:
    """Search the experiment's space, or fit its fixed parameters when it has no search.

    After a search the winning settings are merged into ``prepared.config`` (so a run saved
    from it records what was trained).

    Returns
    -------
    model : FluxModel
        The fitted model (the best trial's, after a search).
    history : xarray.Dataset
        Its training history.
    table : xarray.Dataset or None
        One row per trial, ``None`` without a search.
    """
    cfg = prepared.config
    if cfg.search.method == "none":
        model, history = fit_model(prepared, progress=progress)
        return model, history, None
    table, best, model, history = search(prepared, progress=progress)
    prepared.config = apply_params(cfg, best)
    return model, history, table
