"""One experiment end to end: prepare, fit (or search, then fit), predict, write the run.

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {
...     "data": {"source": "demo", "sites": ["US-MMS"]},
...     "windows": {"lookback": 30},
...     "model": {"name": "lstm", "params": {"hidden": 8}},
...     "train": {"epochs": 1, "device": "cpu"}})
>>> run_dir = train_experiment(cfg, output="runs/doc_lstm", overwrite=True)  # doctest: +SKIP
>>> run = fluxgrid.load_run(run_dir)                                          # doctest: +SKIP

With ``ensemble: {seeds: [0, 1, 2]}`` the same call trains one member per seed and writes
an ensemble directory (:mod:`fluxgrid.training.ensemble`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from ..config.experiment import ExperimentConfig
from ..io.atomic import atomic_path, check_writable
from .build import check_experiment, load_experiment
from .ensemble import train_ensemble
from .prepared import predict_prepared, prepare, save_prepared_run, scored_parts
from .tuning import search_or_fit

__all__ = ["train_experiment"]


def train_experiment(
    cfg: ExperimentConfig | str | os.PathLike,
    *,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    cube: xr.Dataset | None = None,
    progress: bool | None = None,
    predict_parts: Sequence[str] | None = None,
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
    predict_parts
        Predict only the windows of these split parts (e.g. ``["test"]``): the run's
        ``predictions.nc`` is NaN elsewhere and its scores cover these parts alone. Default:
        every complete window. :func:`fluxgrid.validate_upscaling` passes ``["test"]`` for
        its fold runs, whose held-out towers it predicts again through the upscaling kernel.

    Returns
    -------
    pathlib.Path
        The run directory (layout in :mod:`fluxgrid.runs`); with ``ensemble.seeds`` an
        ensemble directory: ``members/seed<k>/`` (one run directory per seed), the
        member mean, standard deviation and members in ``predictions.nc``, the scores of
        the mean in ``metrics.csv`` and every member's in ``members.csv``.
    """
    if not isinstance(cfg, ExperimentConfig):
        cfg = load_experiment(cfg)
    run_dir = check_writable(output or cfg.output, overwrite)
    check_experiment(cfg)
    parts = scored_parts(predict_parts)
    prepared = prepare(cfg, cube=cube, progress=progress)
    if cfg.ensemble.seeds:
        with atomic_path(run_dir) as tmp:
            train_ensemble(prepared, tmp, progress=progress, predict_parts=predict_parts)
        return run_dir
    model, history, table = search_or_fit(prepared, progress=progress)
    cfg = prepared.config
    predictions = predict_prepared(prepared, model, parts=predict_parts)
    with atomic_path(run_dir) as tmp:
        save_prepared_run(
            tmp,
            prepared,
            config=cfg,
            model=model,
            history=history,
            predictions=predictions,
            search_table=table,
            parts=parts,
        )
    return run_dir
