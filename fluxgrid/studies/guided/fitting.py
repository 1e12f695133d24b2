"""The models of the guided workflow: one experiment per scale, fitted and predicting per group.

For a model label and a group of sites, :func:`fit_group` trains the seasonal and the
interannual model on the training decomposition and the end-to-end model on the raw cube
(:func:`scale_experiment` gives each its :class:`~fluxgrid.config.ExperimentConfig`), and
predicts: the scale models on the test days of the whole-record components (and, for the
cross-scale experiment, on the other scale's), the end-to-end model on every day.
:func:`end_to_end_kinds` turns the end-to-end predictions into the kinds scored against
each scale's truth (:func:`~fluxgrid.studies.guided.scales.decompose_predictions`).

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GuidedConfig, {"models": {"lstm": {"params": {"hidden": 8}}}})
>>> exp = scale_experiment(cfg, "lstm", cfg.interannual, ["ta", "sw_in", "vpd"])
>>> exp.windows.lookback, exp.model.name, exp.data.qc_threshold
(365, 'lstm', None)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ...config.experiment import ExperimentConfig
from ...config.serialise import to_dict
from ...runs import TrainedRun, predictions_dataset
from ...training.build import check_experiment, fit_model
from ...training.ensemble import ensemble_predictions, fit_member
from ...training.prepared import prepare_from_cube
from ..common import study_experiment
from .config import GuidedConfig, ScaleWindowConfig
from .scales import SCALES, ScaleData, decompose_predictions

__all__ = [
    "MODEL_SCALES",
    "GroupFit",
    "check_models",
    "end_to_end_kinds",
    "fit_group",
    "predict_part",
    "scale_experiment",
]

#: what each model label is trained on: the two scales and the raw data
MODEL_SCALES = (*SCALES, "end_to_end")


def _window(cfg: GuidedConfig, scale: str) -> ScaleWindowConfig:
    """The windows of ``seasonal``, ``interannual`` or ``end_to_end`` models."""
    return {"seasonal": cfg.seasonal, "interannual": cfg.interannual, "end_to_end": cfg.end_to_end}[
        scale
    ]


def scale_experiment(
    cfg: GuidedConfig, label: str, window: ScaleWindowConfig, drivers: Sequence[str]
) -> ExperimentConfig:
    """The experiment of model ``label`` with the windows of one scale.

    The data come prepared (QC'd, gap-filled, decomposed) from :class:`ScaleData`, so the
    experiment's QC is off; its split section is the workflow's.
    """
    return study_experiment(
        cfg,
        label,
        drivers=drivers,
        split=to_dict(cfg.split),
        windows={"lookback": window.lookback, "static": list(window.static)},
        description=f"scale-guided workflow: {label}",
    )


def check_models(cfg: GuidedConfig) -> None:
    """Every model check of every label and scale, before any data is read."""
    for label in cfg.models:
        for scale in MODEL_SCALES:
            check_experiment(scale_experiment(cfg, label, _window(cfg, scale), cfg.data.drivers))


def predict_part(
    run: TrainedRun, ds: xr.Dataset, split: xr.Dataset, part: str | None
) -> xr.Dataset:
    """Predictions of ``run`` on every complete window of ``ds`` ending in ``part``.

    Returns
    -------
    xarray.Dataset
        ``pred`` (``obs`` where the target is in ``ds``) and ``part`` on ``(site, time)``,
        target units; NaN where no window of ``part`` ends (``None``: any part).
    """
    index = run.windows(ds, split=split, require_target=False)
    if part is not None:
        index = index.select(part)
    cube = run.window_cube(ds)
    values = run.predict_windows(cube, index, batch_size=run.config.train.eval_batch_size)
    target = run.inputs["target"]
    return predictions_dataset(
        ds, index, values, target=target, split=split, units=run.inputs.get("target_units", "")
    )


@dataclasses.dataclass
class GroupFit:
    """The models of one label on one group of sites and their predictions.

    Attributes
    ----------
    runs, histories
        ``{scale: ...}`` for ``seasonal``, ``interannual``, ``end_to_end``.
    predictions
        ``{(label, kind): Dataset}`` on the group's sites: ``seasonal``, ``interannual``,
        the cross-scale kinds (with ``cross_scale``) and ``end_to_end_all`` (every day, not
        decomposed yet); with an ensemble the same kinds under the ensemble label (member
        mean ``pred``, ``pred_std``, ``pred_member``).
    members
        ``{scale: {seed: (run, history)}}`` of the seed ensemble (empty without one); the
        member of the model's own ``train.seed`` is the single run.
    """

    runs: dict[str, TrainedRun]
    histories: dict[str, xr.Dataset]
    predictions: dict[tuple[str, str], xr.Dataset]
    members: dict[str, dict[int, tuple[TrainedRun, xr.Dataset]]]


def fit_group(
    cfg: GuidedConfig,
    data: ScaleData,
    label: str,
    sites: Sequence[str],
    scale_cubes: dict[tuple[str, str], xr.Dataset],
) -> GroupFit:
    """Train model ``label`` at each scale and end to end on one group; predict.

    Parameters
    ----------
    cfg
        The workflow configuration.
    data
        The workflow data.
    label
        Model label of ``cfg.models``; with ``label`` in
        :meth:`~fluxgrid.studies.guided.config.GuidedConfig.ensemble_labels` its seed
        ensemble is trained too.
    sites
        The group's sites.
    scale_cubes
        ``{(scale, "train" | "test"): ScaleData.scale_cube(scale, which)}``.

    Returns
    -------
    GroupFit
    """
    split = data.split.sel(site=sites)
    ensemble = cfg.ensemble_labels().get(label)
    fit = GroupFit({}, {}, {}, {})
    for scale in MODEL_SCALES:
        exp = scale_experiment(cfg, label, _window(cfg, scale), data.drivers)
        if scale == "end_to_end":
            train_ds = data.cube.sel(site=sites)
        else:
            train_ds = scale_cubes[(scale, "train")].sel(site=sites)
        prepared = prepare_from_cube(exp, train_ds, split=split)
        model, fit.histories[scale] = fit_model(prepared, progress=False)
        run = fit.runs[scale] = TrainedRun.from_prepared(prepared, model)
        runs = {label: [run]}
        if ensemble is not None:
            members = fit.members[scale] = {
                seed: (run, fit.histories[scale])
                if seed == exp.train.seed
                else fit_member(prepared, seed)
                for seed in cfg.ensemble.seeds
            }
            runs[ensemble] = [m for m, _ in members.values()]
        predicted: dict[tuple[int, str], xr.Dataset] = {}  # the single run predicts once
        for kind, ds, part in _targets(cfg, scale, train_ds, scale_cubes, sites):
            for name, group_runs in runs.items():
                preds = []
                for r in group_runs:
                    if (id(r), kind) not in predicted:
                        predicted[(id(r), kind)] = predict_part(r, ds, split, part)
                    preds.append(predicted[(id(r), kind)])
                fit.predictions[(name, kind)] = (
                    preds[0]
                    if name == label
                    else ensemble_predictions(preds, list(cfg.ensemble.seeds))
                )
    return fit


def _targets(
    cfg: GuidedConfig,
    scale: str,
    train_ds: xr.Dataset,
    scale_cubes: dict[tuple[str, str], xr.Dataset],
    sites: Sequence[str],
) -> list[tuple[str, xr.Dataset, str | None]]:
    """What a model of ``scale`` predicts: ``(kind, cube of inputs, split part)``."""
    if scale == "end_to_end":
        return [("end_to_end_all", train_ds, None)]
    out = [(scale, scale_cubes[(scale, "test")].sel(site=sites), "test")]
    if cfg.cross_scale:
        other = "interannual" if scale == "seasonal" else "seasonal"
        out.append(
            (f"{scale}_model_on_{other}", scale_cubes[(other, "test")].sel(site=sites), "test")
        )
    return out


def end_to_end_kinds(e2e: xr.Dataset, data: ScaleData, cfg: GuidedConfig) -> dict[str, xr.Dataset]:
    """The end-to-end predictions as scored: undecomposed, and each scale's component.

    Parameters
    ----------
    e2e
        Predictions of the end-to-end model on every day (all sites).
    data
        The workflow data (observed target, truths, split).
    cfg
        The workflow configuration (SSA settings).

    Returns
    -------
    dict
        ``undecomposed`` (obs: the QC'd target) and ``<scale>_end_to_end`` (obs: the
        scale's truth, pred: the scale's component of the predictions).
    """
    raw = e2e.copy()
    raw["obs"] = data.cube[data.target].astype(np.float32)
    units = raw["obs"].attrs.get("units", "")
    out = {"undecomposed": raw}
    comps = decompose_predictions(e2e["pred"], data, cfg)
    for scale in SCALES:
        pred = comps[data.target].sel(component=scale, drop=True).reset_coords(drop=True)
        p = xr.Dataset(
            {
                "obs": data.truth(scale).astype(np.float32),
                "pred": pred.transpose("site", "time").astype(np.float32),
                "part": data.split["part"].reset_coords(drop=True),
            },
            coords={k: v for k, v in e2e.coords.items() if k not in ("site", "time")},
            attrs={"target": f"{scale} {data.target}"},
        )
        p["obs"].attrs = {"units": units, "long_name": f"observed {scale} {data.target}"}
        p["pred"].attrs = {
            "units": units,
            "long_name": f"{scale} component of end-to-end predictions",
        }
        out[f"{scale}_end_to_end"] = p
    return out
