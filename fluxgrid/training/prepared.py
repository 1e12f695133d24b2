"""Everything a model is fitted on, checked before training: split, scaling, windows, tensors.

:func:`prepare` reads the data of an experiment (:func:`fluxgrid.prep.pipeline.load_data`)
and :func:`prepare_from_cube` builds, from a loaded cube, the split, the scaler (fitted on
the training part only), the window index and the device-resident
:class:`~fluxgrid.tensors.WindowCube`, checking every input *before* training.

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {"data": {"sites": ["US-MMS"]},
...     "windows": {"lookback": 30}, "train": {"device": "cpu"}})
>>> prepared = prepare(cfg)
>>> prepared.wcube.features
['ta', 'sw_in', 'vpd', 'doy_sin', 'doy_cos']
>>> len(prepared.part("train")) > len(prepared.part("test")) > 0
True
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import xarray as xr

from ..config.experiment import ExperimentConfig
from ..errors import ConfigError, SplitError
from ..evaluate import run_scores
from ..models import FluxModel
from ..prep.pipeline import load_data
from ..prep.scaling import Scaler, fit_scaler
from ..prep.splits import check_split, make_split
from ..runs import predictions_dataset, save_run
from ..tensors import WindowCube
from ..windows import WindowIndex, build_windows, input_features
from .build import check_experiment

__all__ = [
    "Prepared",
    "predict_prepared",
    "prepare",
    "prepare_from_cube",
    "save_prepared_run",
    "scored_parts",
]


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


def predict_prepared(
    prepared: Prepared, model: FluxModel, *, parts: Sequence[str] | None = None
) -> xr.Dataset:
    """Predict every complete input window (days without observations included).

    Parameters
    ----------
    prepared, model
        The prepared experiment and the model fitted on it.
    parts
        Predict only the windows whose target day lies in these split parts (e.g.
        ``["test"]``); the other days get NaN. Default: every complete window.

    Returns
    -------
    xarray.Dataset
        ``pred``, ``obs`` and ``part`` on ``(site, time)`` in target units (see
        :func:`fluxgrid.runs.predictions_dataset`).
    """
    cfg = prepared.config
    index = build_windows(
        prepared.cube,
        list(cfg.data.drivers),
        None,
        cfg.windows.lookback,
        split=None if parts is None else prepared.split,
        require_target=False,
        features=prepared.features,
    )
    if parts is not None:
        index = index.select(list(parts))
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


def scored_parts(predict_parts: Sequence[str] | None) -> tuple[str, ...]:
    """The split parts a run scores when it predicts ``predict_parts`` (None: all), checked.

    Raises
    ------
    ConfigError
        An unknown part name, or none given.
    """
    every = ("train", "val", "test")
    if predict_parts is None:
        return every
    parts = tuple(predict_parts)
    if not parts or any(p not in every for p in parts):
        raise ConfigError(f"predict_parts={list(parts)}: expected some of {list(every)}")
    return parts


def save_prepared_run(
    path: str | os.PathLike,
    prepared: Prepared,
    *,
    config: ExperimentConfig,
    model: FluxModel,
    history: xr.Dataset,
    predictions: xr.Dataset,
    search_table: xr.Dataset | None = None,
    parts: Sequence[str] = ("train", "val", "test"),
) -> xr.Dataset:
    """Write the run directory of ``model`` trained on ``prepared``; returns its site scores.

    The inputs, scaler, split and window/QC reports come from ``prepared``; the scores are
    :func:`fluxgrid.evaluate.run_scores` of ``predictions`` per site, for ``parts`` (the
    parts ``predictions`` covers).
    """
    scores = run_scores(predictions, by=("site",), parts=parts)
    save_run(
        path,
        config=config,
        inputs=prepared.inputs,
        scaler=prepared.scaler,
        split=prepared.split,
        model=model,
        history=history,
        predictions=predictions,
        scores=scores,
        window_report=prepared.index.report,
        qc_report=prepared.qc_report,
        search_table=search_table,
    )
    return scores
