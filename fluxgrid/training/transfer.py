"""Cross-site transfer: one model per site, scored at every site (train on A, predict B).

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {"data": {"sites": ["US-MMS", "US-UMB"]},
...     "windows": {"lookback": 30}, "train": {"epochs": 1, "device": "cpu"}})
>>> matrix, predictions, runs = cross_site_transfer(cfg)  # doctest: +SKIP
>>> matrix.r2.sel(train_site="US-MMS", test_site="US-UMB")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import xarray as xr

from .._progress import track
from ..config.experiment import ExperimentConfig
from ..evaluate import transfer_matrix
from ..prep.pipeline import load_data
from ..prep.splits import make_split
from ..runs import TrainedRun
from .build import check_experiment
from .prepared import prepare_from_cube
from .tuning import search_or_fit

__all__ = ["cross_site_transfer"]


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
    :func:`~fluxgrid.training.train_experiment` with ``data.sites=[site]``; with a
    ``search`` section the hyper-parameters are searched per site on that site's
    validation part (never on any test part) and the winning model is kept (its table in
    ``run.search_table``, its settings in ``run.config``). The model is then applied, with
    its own scaler, to every site's data and scored on that site's test part.

    Returns
    -------
    matrix : xarray.Dataset
        :data:`fluxgrid.evaluate.METRICS` on ``(train_site, test_site)``.
    predictions : dict
        ``{train_site: predictions dataset over all sites}``.
    runs : dict
        ``{train_site: TrainedRun}``.
    """
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
        model, _history, table = search_or_fit(prepared, progress=False)
        run = TrainedRun.from_prepared(prepared, model, split=split)
        run.search_table = table
        predictions[site] = run.predict(ds, split=split)
        runs[site] = run
    return transfer_matrix(predictions, part="test"), predictions, runs
