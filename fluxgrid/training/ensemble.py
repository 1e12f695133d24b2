"""Seed ensembles: one member per seed, their mean and spread, written as one directory.

:func:`train_ensemble` trains the members of an experiment with an ``ensemble`` section on
one prepared experiment (same data, split, scaler and windows; only ``train.seed``
differs), writes each as a normal run directory ``members/seed<k>/`` and, beside them, the
ensemble's predictions (member mean, standard deviation, every member), the scores of the
mean and every member's scores (layout in :mod:`fluxgrid.runs`).
:func:`~fluxgrid.training.train_experiment` calls it when ``ensemble.seeds`` is set.

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {"data": {"sites": ["US-MMS"]},
...     "windows": {"lookback": 30}, "model": {"name": "lstm", "params": {"hidden": 8}},
...     "train": {"epochs": 1, "device": "cpu"}, "ensemble": {"seeds": [0, 1, 2]}})
>>> member_config(cfg, 2).train.seed, member_config(cfg, 2).ensemble.seeds
(2, ())
>>> run_dir = train_experiment(cfg, output="runs/lstm_ensemble")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._progress import track
from ..config.experiment import EnsembleConfig, ExperimentConfig
from ..config.serialise import dump_config
from ..errors import ModelError
from ..evaluate import METRICS, pooled_table, run_scores, write_csv
from ..io.store import to_netcdf
from ..runs import ENSEMBLE_FILE, TrainedRun
from .build import fit_model
from .prepared import Prepared, predict_prepared, save_prepared_run, scored_parts

__all__ = [
    "SPREAD_METRICS",
    "ensemble_predictions",
    "fit_member",
    "member_config",
    "member_dir",
    "member_predictions",
    "member_spread",
    "member_table",
    "train_ensemble",
]

#: metrics whose spread over the members is summarised by :func:`member_spread`
SPREAD_METRICS = ("r2", "rmse", "mae", "bias")


def member_config(cfg: ExperimentConfig, seed: int) -> ExperimentConfig:
    """The configuration of the member with ``seed``: ``train.seed`` set, no ensemble."""
    return dataclasses.replace(
        cfg,
        train=dataclasses.replace(cfg.train, seed=int(seed)),
        ensemble=EnsembleConfig(),
    )


def fit_member(prepared: Prepared, seed: int) -> tuple[TrainedRun, xr.Dataset]:
    """One member in memory: the prepared experiment trained with ``seed``.

    Returns
    -------
    run, history
        The trained run (its config is :func:`member_config`) and its per-epoch losses.
    """
    cfg = member_config(prepared.config, seed)
    model, history = fit_model(prepared, cfg, progress=False)
    return dataclasses.replace(TrainedRun.from_prepared(prepared, model), config=cfg), history


def member_dir(seed: int) -> str:
    """The member's directory relative to the ensemble directory.

    Examples
    --------
    >>> member_dir(3)
    'members/seed3'
    """
    return f"members/seed{int(seed)}"


def ensemble_predictions(members: Sequence[xr.Dataset], seeds: Sequence[int]) -> xr.Dataset:
    """Member predictions combined: mean, standard deviation and each member.

    Parameters
    ----------
    members
        Predictions of each member (``pred``, ``obs``, ``part`` on ``(site, time)``, the
        same windows: one prepared experiment).
    seeds
        The members' seeds (the ``member`` coordinate).

    Returns
    -------
    xarray.Dataset
        ``pred`` (member mean), ``pred_std`` (standard deviation across members,
        ``ddof=1``), ``pred_member`` ``(member, site, time)``, with ``obs`` and ``part`` of
        the first member; target units. ``attrs["members"]`` is the number of members.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube().isel(site=[0])
    >>> a = xr.Dataset({"pred": cube.gpp_nt, "obs": cube.gpp_nt})
    >>> b = xr.Dataset({"pred": cube.gpp_dt, "obs": cube.gpp_nt})
    >>> ens = ensemble_predictions([a, b], [0, 1])
    >>> ens.pred_member.dims, ens.attrs["members"]
    (('member', 'site', 'time'), 2)
    """
    if len(members) < 2 or len(members) != len(seeds):
        raise ModelError(
            f"an ensemble needs at least two members with one seed each; got "
            f"{len(members)} predictions and {len(seeds)} seeds"
        )
    first = members[0]
    stack = xr.concat(
        [m["pred"].transpose("site", "time") for m in members],
        dim=pd.Index([int(s) for s in seeds], name="member"),
    )
    name = first.attrs.get("target", "target")
    units = first["pred"].attrs.get("units", "")
    out = first.drop_vars("pred")
    out["pred"] = stack.mean("member").assign_attrs(
        long_name=f"predicted {name}, mean of {len(members)} members", units=units
    )
    out["pred_std"] = stack.std("member", ddof=1).assign_attrs(
        long_name=f"standard deviation of predicted {name} across members (ddof=1)",
        units=units,
    )
    out["pred_member"] = stack.assign_attrs(
        long_name=f"predicted {name} of each member", units=units
    )
    out["member"].attrs = {"long_name": "seed of the ensemble member (train.seed)"}
    seed_list = np.asarray([int(s) for s in seeds], dtype=np.int64)
    out.attrs = {**first.attrs, "members": len(members), "seeds": seed_list}
    return out


def member_table(scores: Mapping[int, xr.Dataset]) -> pd.DataFrame:
    """Pooled scores of every member, one row per ``(seed, part)``.

    Parameters
    ----------
    scores
        ``{seed: run scores}`` (:func:`fluxgrid.evaluate.run_scores` of each member).

    Returns
    -------
    pandas.DataFrame
        Index ``(seed, part)``, columns :data:`fluxgrid.evaluate.METRICS`.
    """
    frames = {int(seed): pooled_table(s) for seed, s in scores.items()}
    table = pd.concat(frames, names=["seed", "part"])
    return table[[m for m in METRICS if m in table]]


def member_predictions(ensemble: xr.Dataset, seed: int) -> xr.Dataset:
    """One member's predictions out of :func:`ensemble_predictions` (its values as ``pred``).

    Raises
    ------
    ModelError
        ``seed`` is none of the members.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> c = load_demo_cube().isel(site=[0])
    >>> runs = [xr.Dataset({"pred": c[v], "obs": c.gpp_nt}) for v in ("gpp_nt", "gpp_dt")]
    >>> one = member_predictions(ensemble_predictions(runs, [0, 1]), 1)
    >>> bool((one.pred == c.gpp_dt.transpose("site", "time")).all()), "pred_member" in one
    (True, False)
    """
    seeds = [int(m) for m in ensemble["member"].values]
    if seed not in seeds:
        raise ModelError(f"seed={seed!r}: the ensemble's members are {seeds}")
    one = ensemble["pred_member"].sel(member=seed, drop=True)
    return ensemble.drop_vars(["pred_member", "pred_std", "member"]).assign(pred=one)


def member_spread(table: pd.DataFrame) -> pd.DataFrame:
    """Spread of the members' scores per part: mean, standard deviation, min, max.

    Parameters
    ----------
    table
        :func:`member_table` (or ``members.csv`` read with ``index_col=[0, 1]``).

    Returns
    -------
    pandas.DataFrame
        Index ``part`` (train, val, test where present), columns
        ``<metric>_mean``, ``<metric>_sd`` (``ddof=1``), ``<metric>_min``,
        ``<metric>_max`` for :data:`SPREAD_METRICS`.

    Examples
    --------
    >>> idx = pd.MultiIndex.from_product([[0, 1], ["test"]], names=["seed", "part"])
    >>> t = pd.DataFrame({"r2": [0.5, 0.7], "rmse": [1.0, 2.0], "mae": [1, 1], "bias": [0, 0]},
    ...                  index=idx)
    >>> member_spread(t).loc["test", ["r2_mean", "r2_sd", "rmse_max"]].round(3).tolist()
    [0.6, 0.141, 2.0]
    """
    grouped = table.groupby(level="part", sort=False)
    columns = {}
    for m in SPREAD_METRICS:
        if m in table:
            columns[f"{m}_mean"] = grouped[m].mean()
            columns[f"{m}_sd"] = grouped[m].std(ddof=1)
            columns[f"{m}_min"] = grouped[m].min()
            columns[f"{m}_max"] = grouped[m].max()
    return pd.DataFrame(columns)


def train_ensemble(
    prepared: Prepared,
    path: Path,
    *,
    progress: bool | None = None,
    predict_parts: Sequence[str] | None = None,
) -> Path:
    """Train one member per seed of ``prepared.config.ensemble`` and write the ensemble.

    Parameters
    ----------
    prepared
        The prepared experiment (shared by every member: same split, scaler, windows).
    path
        Directory to create (callers pass a temporary folder moved into place afterwards,
        :func:`fluxgrid.io.atomic.atomic_path`).
    progress
        Progress bars.
    predict_parts
        Predict (and score) only these split parts, see :func:`train_experiment`.

    Returns
    -------
    pathlib.Path
        ``path``, laid out as in :mod:`fluxgrid.runs` (ensemble directory).
    """
    cfg = prepared.config
    seeds = [int(s) for s in cfg.ensemble.seeds]
    if len(seeds) < 2:
        raise ModelError("train_ensemble needs ensemble.seeds with at least two seeds")
    parts = scored_parts(predict_parts)
    path = Path(path)
    path.mkdir(parents=True)
    predictions, scores = [], {}
    for seed in track(seeds, desc=f"ensemble of {cfg.model.name}", show=progress):
        member_cfg = member_config(cfg, seed)
        model, history = fit_model(prepared, member_cfg, progress=False)
        pred = predict_prepared(prepared, model, parts=predict_parts)
        scores[seed] = save_prepared_run(
            path / member_dir(seed),
            prepared,
            config=member_cfg,
            model=model,
            history=history,
            predictions=pred,
            parts=parts,
        )
        predictions.append(pred)
    ensemble = ensemble_predictions(predictions, seeds)
    dump_config(cfg, path / "config.yaml")
    to_netcdf(prepared.split, path / "split.nc")
    to_netcdf(ensemble, path / "predictions.nc")
    mean_scores = run_scores(ensemble, by=("site",), parts=parts)
    to_netcdf(mean_scores, path / "metrics.nc")
    write_csv(pooled_table(mean_scores), path / "metrics.csv")
    write_csv(member_table(scores), path / "members.csv")
    info = {
        "seeds": seeds,
        "members": [member_dir(s) for s in seeds],
        "model": cfg.model.name,
        "target": cfg.data.target,
    }
    (path / ENSEMBLE_FILE).write_text(json.dumps(info, indent=2))
    return path
