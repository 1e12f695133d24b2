"""Cross-site transfer: one model per site, scored at every site (train on A, predict B).

Each site's model is trained on that site alone, or (``pretrain="all_sites"``) fine-tuned
from one model pre-trained on the training years of all sites
(:mod:`fluxgrid.training.finetune`).

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {"data": {"sites": ["US-MMS", "US-UMB"]},
...     "windows": {"lookback": 30}, "train": {"epochs": 1, "device": "cpu"}})
>>> matrix, predictions, runs = cross_site_transfer(cfg)  # doctest: +SKIP
>>> matrix.r2.sel(train_site="US-MMS", test_site="US-UMB")  # doctest: +SKIP
>>> matrix, _, runs = cross_site_transfer(
...     cfg, pretrain="all_sites", fine_tune={"mode": "low_lr", "lr_factor": 0.1})  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import xarray as xr

from .._progress import track
from ..config.experiment import ExperimentConfig, FineTuneConfig
from ..errors import ConfigError, SplitError
from ..evaluate import transfer_matrix
from ..prep.pipeline import load_data
from ..prep.splits import make_split
from ..runs import TrainedRun
from .build import check_experiment
from .finetune import as_fine_tune, fine_tune_train_config
from .finetune import fine_tune as fine_tune_model
from .prepared import prepare_from_cube
from .tuning import search_or_fit

__all__ = ["cross_site_transfer"]


def cross_site_transfer(
    cfg: ExperimentConfig,
    *,
    cube: xr.Dataset | None = None,
    sites: Sequence[str] | None = None,
    progress: bool | None = None,
    pretrain: Literal["none", "all_sites"] = "none",
    fine_tune: FineTuneConfig | Mapping[str, Any] | None = None,
) -> tuple[xr.Dataset, dict[str, xr.Dataset], dict[str, TrainedRun]]:
    """Train one model per site and score it at every site (its test part).

    With ``pretrain="none"`` each training site gets its own split (per-site random
    streams: a site's years are the same alone or with others), scaler and model, trained
    exactly like :func:`~fluxgrid.training.train_experiment` with ``data.sites=[site]``;
    with a ``search`` section the hyper-parameters are searched per site on that site's
    validation part (never on any test part) and the winning model is kept (its table in
    ``run.search_table``, its settings in ``run.config``). The model is then applied, with
    its own scaler, to every site's data and scored on that site's test part.

    With ``pretrain="all_sites"`` one torch model is pre-trained on the training part of
    every site (one scaler fitted on it; a ``search`` section searches this model on the
    pooled validation part), and a copy is fine-tuned per site on that site's training
    part (early stopping on its validation part) as ``fine_tune`` says:
    ``{"mode": "full" | "freeze_recurrent" | "low_lr", "lr_factor": 0.1, "epochs": N}``
    (:class:`~fluxgrid.config.experiment.FineTuneConfig`). Row ``A`` of the matrix is
    then the model fine-tuned at ``A``; no test day of any site is used before scoring.

    Parameters
    ----------
    cfg
        The experiment (data, split, windows, model, train, search).
    cube
        Use this site cube instead of reading ``cfg.data.source``.
    sites
        Sites to use (default: ``cfg.data.sites``).
    progress
        Progress bar over the sites.
    pretrain
        ``none`` (one model per site from scratch) or ``all_sites``.
    fine_tune
        Fine-tuning of the pre-trained model (read with ``pretrain="all_sites"`` only;
        ``None``: mode ``full``, ``train.epochs`` epochs at ``train.lr``).

    Returns
    -------
    matrix : xarray.Dataset
        :data:`fluxgrid.evaluate.METRICS` on ``(train_site, test_site)``; attributes
        ``pretrain`` and (with pre-training) ``fine_tune``.
    predictions : dict
        ``{train_site: predictions dataset over all sites}``.
    runs : dict
        ``{train_site: TrainedRun}`` (fine-tuned runs record the fine-tuning ``lr`` and
        ``epochs`` in ``run.config.train``).

    Raises
    ------
    ConfigError
        An unknown ``pretrain``, ``fine_tune`` without pre-training, or pre-training of a
        model that cannot be fine-tuned (the sklearn baselines).
    """
    check_experiment(cfg)
    if pretrain not in ("none", "all_sites"):
        raise ConfigError(f"cross_site_transfer: pretrain={pretrain!r}; expected none or all_sites")
    if pretrain == "none" and fine_tune is not None:
        raise ConfigError(
            "cross_site_transfer: fine_tune is only read with pretrain='all_sites' (each site "
            "is otherwise trained from scratch); set pretrain or drop fine_tune"
        )
    fine = as_fine_tune(fine_tune) if pretrain == "all_sites" else None
    if sites is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, sites=tuple(sites)))
    ds, _report = load_data(cfg.data, cube=cube, progress=progress)
    names = ds.site.values.astype(str).tolist()
    split = make_split(ds, cfg.split, target=cfg.data.target)
    if fine is not None:
        predictions, runs = _pretrained(cfg, ds, split, names, fine, progress)
    else:
        predictions, runs = _per_site(cfg, ds, split, names, progress)
    matrix = transfer_matrix(predictions, part="test")
    matrix.attrs["pretrain"] = pretrain
    if fine is not None:
        matrix.attrs["fine_tune"] = fine.mode
    return matrix, predictions, runs


def _per_site(
    cfg: ExperimentConfig,
    ds: xr.Dataset,
    split: xr.Dataset,
    names: list[str],
    progress: bool | None,
) -> tuple[dict[str, xr.Dataset], dict[str, TrainedRun]]:
    """One model per site from scratch, each applied to every site."""
    predictions: dict[str, xr.Dataset] = {}
    runs: dict[str, TrainedRun] = {}
    for site in track(names, desc="transfer: train per site", show=progress):
        one = ds.sel(site=[site])
        sub_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, sites=(site,)))
        prepared = prepare_from_cube(sub_cfg, one, split=split)
        model, _history, table = search_or_fit(prepared, progress=False)
        run = TrainedRun.from_prepared(prepared, model, split=split)
        run.search_table = table
        predictions[site] = run.predict(ds, split=split)
        runs[site] = run
    return predictions, runs


def _pretrained(
    cfg: ExperimentConfig,
    ds: xr.Dataset,
    split: xr.Dataset,
    names: list[str],
    fine: FineTuneConfig,
    progress: bool | None,
) -> tuple[dict[str, xr.Dataset], dict[str, TrainedRun]]:
    """One model pre-trained on all sites, a copy fine-tuned per site."""
    cls = check_experiment(cfg)
    if cls.kind != "torch":
        raise ConfigError(
            f"cross_site_transfer: pretrain='all_sites' fine-tunes a torch model; "
            f"{cfg.model.name!r} is a {cls.kind} model trained in one step (use lstm, gru, "
            "rnn, ilstm or fnn, or pretrain='none')"
        )
    pooled = prepare_from_cube(cfg, ds, split=split)
    base, _history, table = search_or_fit(pooled, progress=False)
    pooled_cfg = pooled.config  # with the winners of a search
    train_cfg = fine_tune_train_config(pooled_cfg.train, fine)
    train_all, val_all = pooled.part("train"), pooled.part("val")
    predictions: dict[str, xr.Dataset] = {}
    runs: dict[str, TrainedRun] = {}
    for site in track(names, desc=f"transfer: fine-tune ({fine.mode})", show=progress):
        train = train_all.for_sites([site])
        if len(train) == 0:
            raise SplitError(
                f"site {site!r} has no complete training window to fine-tune on; lower "
                "split.test_fraction / val_fraction or shorten windows.lookback"
            )
        val = val_all.for_sites([site])  # may be empty: then no early stopping
        model, _ = fine_tune_model(base, pooled.wcube, train, val, pooled_cfg.train, fine)
        site_cfg = dataclasses.replace(
            pooled_cfg, data=dataclasses.replace(pooled_cfg.data, sites=(site,)), train=train_cfg
        )
        run = TrainedRun(model, pooled.scaler, pooled.inputs, site_cfg, None, split)
        run.search_table = table
        predictions[site] = run.predict(ds, split=split)
        runs[site] = run
    return predictions, runs
