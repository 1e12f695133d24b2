"""Trained runs: a fitted model with its scaler and input recipe, saved and loaded.

A :class:`TrainedRun` predicts on new site cubes (:meth:`TrainedRun.predict`), on gathered
batches in physical units (:meth:`TrainedRun.batch_predictor`, used by upscaling) and gives
attention weights; :func:`load_run` reads one back from the run directory that
:func:`save_run` (called by :func:`fluxgrid.training.train_experiment`) writes.

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

A seed ensemble (``ensemble: {seeds: [...]}``) writes an ensemble directory instead::

    ensemble.json     seeds and member directories
    config.yaml       the ExperimentConfig with its ensemble section
    split.nc          the split every member shares
    predictions.nc    obs, part, pred (member mean), pred_std (sd, ddof=1),
                      pred_member (member, site, time)
    metrics.nc/.csv   scores of the member mean
    members.csv       pooled scores of every member (seed, part)
    members/seed<k>/  one normal run directory per member

:func:`load_run` refuses it (naming its members); :func:`load_ensemble` loads every member
and ``fluxgrid upscale`` takes the ensemble directory as its members.

Examples
--------
>>> run = load_run("runs/demo")                    # doctest: +SKIP
>>> pred = run.predict(fluxgrid.load_demo_cube())  # doctest: +SKIP
>>> pred.pred.sel(site="US-MMS").plot()            # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from ._lazy import lazy_import
from .config.experiment import ExperimentConfig
from .config.serialise import dump_config, load_config
from .errors import DataNotFoundError, ModelError
from .evaluate import pooled_table, write_csv
from .io.store import open_cube, to_netcdf
from .models import FluxModel, get_model, load_model
from .prep.pipeline import load_data
from .prep.scaling import Scaler, load_scaler
from .tensors import WindowCube
from .windows import WindowIndex, build_windows, input_features

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "ENSEMBLE_FILE",
    "TrainedRun",
    "checkpoint_name",
    "ensemble_members",
    "is_ensemble",
    "load_ensemble",
    "load_run",
    "predict_with",
    "predictions_dataset",
    "save_run",
]


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
    def from_prepared(
        cls, prepared: Any, model: FluxModel, *, split: xr.Dataset | None = None
    ) -> TrainedRun:
        """A run object for a model fitted in this session.

        Parameters
        ----------
        prepared
            The :class:`~fluxgrid.training.prepared.Prepared` experiment.
        model
            The fitted model.
        split
            The split to keep (default: the prepared one; a transfer run keeps the split of
            every site it is applied to).
        """
        return cls(
            model,
            prepared.scaler,
            prepared.inputs,
            prepared.config,
            None,
            prepared.split if split is None else split,
        )

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "not saved"
        return (
            f"TrainedRun({self.model.name!r}, {where}: {self.inputs['target']} from "
            f"{', '.join(self.features)}; lookback {self.lookback})"
        )

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
        Other runs read ``config.data`` (:func:`fluxgrid.prep.pipeline.load_data`).

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
        device
            Device of the window tensors (``None``: the run's ``train.device``).
        batch_size
            Windows per model call.

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


def checkpoint_name(kind: str) -> str:
    """The checkpoint file of a run of a model of ``kind`` (``torch`` or ``sklearn``).

    Examples
    --------
    >>> checkpoint_name("torch"), checkpoint_name("sklearn")
    ('model.pt', 'model.pkl')
    """
    return "model.pt" if kind == "torch" else "model.pkl"


def _checkpoint(path: Path, cfg: ExperimentConfig) -> Path:
    """The checkpoint of a run directory: the file its model's kind writes."""
    kind = get_model(cfg.model.name).kind
    ckpt = path / checkpoint_name(kind)
    if ckpt.is_file():
        return ckpt
    other = path / checkpoint_name("sklearn" if kind == "torch" else "torch")
    found = (
        f"; it has {other.name}, which is not what a {kind} model writes" if other.is_file() else ""
    )
    raise DataNotFoundError(
        f"{path}: no {ckpt.name} (the checkpoint of the run's {kind} model "
        f"{cfg.model.name!r}){found}; the run directory is incomplete, train it again "
        "(fluxgrid train) or copy the whole directory"
    )


#: the file that marks an ensemble directory
ENSEMBLE_FILE = "ensemble.json"


def is_ensemble(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ensemble directory (it has ``ensemble.json``).

    Examples
    --------
    >>> is_ensemble("runs/does-not-exist")
    False
    """
    return (Path(path) / ENSEMBLE_FILE).is_file()


def ensemble_members(path: str | os.PathLike) -> list[Path]:
    """The member run directories of an ensemble directory, in seed order.

    Raises
    ------
    DataNotFoundError
        ``path`` is no ensemble directory, or a member listed in ``ensemble.json`` is
        missing.
    """
    path = Path(path)
    if not is_ensemble(path):
        raise DataNotFoundError(f"{path} is not a fluxgrid ensemble directory (no {ENSEMBLE_FILE})")
    listed = json.loads((path / ENSEMBLE_FILE).read_text())["members"]
    members = [path / m for m in listed]
    missing = [str(m) for m in members if not (m / "inputs.json").is_file()]
    if missing:
        raise DataNotFoundError(
            f"{path}/{ENSEMBLE_FILE} lists members {missing}, which are not run directories; "
            "the ensemble directory is incomplete, train it again or copy the whole directory"
        )
    return members


def load_ensemble(path: str | os.PathLike, *, device: str = "auto") -> list[TrainedRun]:
    """Every member of an ensemble directory as a :class:`TrainedRun` (seed order).

    Examples
    --------
    >>> members = load_ensemble("runs/lstm_ensemble")           # doctest: +SKIP
    >>> preds = [m.predict(fluxgrid.load_demo_cube()) for m in members]  # doctest: +SKIP
    """
    return [load_run(m, device=device) for m in ensemble_members(path)]


def load_run(run_dir: str | os.PathLike, *, device: str = "auto") -> TrainedRun:
    """Load a run directory written by :func:`train_experiment`.

    Returns
    -------
    TrainedRun
        Model (best checkpoint, on ``device``), scaler, input recipe and configuration.

    Raises
    ------
    DataNotFoundError
        ``run_dir`` is not a run directory; for an ensemble directory the message names
        its members (load one of them, or all with :func:`load_ensemble`).
    """
    path = Path(run_dir)
    if is_ensemble(path):
        members = ensemble_members(path)
        raise DataNotFoundError(
            f"{path} is an ensemble of {len(members)} runs, not one run; load a member "
            f"(load_run({str(members[0])!r}), the members are in {path / 'members'}) or all "
            "of them with fluxgrid.runs.load_ensemble; fluxgrid upscale takes the ensemble "
            "directory as it is"
        )
    if not (path / "inputs.json").is_file():
        raise DataNotFoundError(f"{path} is not a fluxgrid run directory (no inputs.json)")
    cfg = load_config(path / "config.yaml", ExperimentConfig)
    model = load_model(_checkpoint(path, cfg), device=device)
    scaler = load_scaler(path / "scaler.json")
    inputs = json.loads((path / "inputs.json").read_text())
    table = None
    if (path / "search.nc").is_file():
        with xr.open_dataset(path / "search.nc") as f:
            table = f.load()
    return TrainedRun(model, scaler, inputs, cfg, path, search_table=table)


def predict_with(
    run: TrainedRun | str | os.PathLike,
    ds: xr.Dataset,
    *,
    split: xr.Dataset | None = None,
    device: str | None = None,
    batch_size: int = 4096,
) -> xr.Dataset:
    """Predict ``ds`` with a :class:`TrainedRun` or a run directory (loaded first).

    Parameters
    ----------
    run
        A trained run or its directory.
    ds
        Site cube with the run's drivers.
    split, device, batch_size
        See :meth:`TrainedRun.predict` (``device=None``: the run's, or CUDA when present
        for a directory).

    Returns
    -------
    xarray.Dataset
        ``pred`` (and ``obs``, ``part``) on ``(site, time)`` in target units.

    Examples
    --------
    >>> pred = predict_with("runs/demo", fluxgrid.load_demo_cube())  # doctest: +SKIP
    """
    if not isinstance(run, TrainedRun):
        run = load_run(run, device=device or "auto")
    return run.predict(ds, split=split, device=device, batch_size=batch_size)


def save_run(
    path: str | os.PathLike,
    *,
    config: ExperimentConfig,
    inputs: dict[str, Any],
    scaler: Scaler,
    split: xr.Dataset,
    model: FluxModel,
    history: xr.Dataset,
    predictions: xr.Dataset,
    scores: xr.Dataset,
    window_report: xr.Dataset | None = None,
    qc_report: xr.Dataset | None = None,
    search_table: xr.Dataset | None = None,
) -> Path:
    """Write the files of a run directory (layout in the module docstring) into ``path``.

    ``path`` is created; callers write into a temporary folder that is moved into place
    afterwards (:func:`fluxgrid.io.atomic.atomic_path`), so a failed run leaves nothing.
    """
    path = Path(path)
    path.mkdir(parents=True)
    dump_config(config, path / "config.yaml")
    (path / "inputs.json").write_text(json.dumps(inputs, indent=2))
    scaler.to_json(path / "scaler.json")
    to_netcdf(split, path / "split.nc")
    model.save(path / checkpoint_name(model.kind))
    to_netcdf(history, path / "history.nc")
    to_netcdf(predictions, path / "predictions.nc")
    to_netcdf(scores, path / "metrics.nc")
    write_csv(pooled_table(scores), path / "metrics.csv")
    if window_report is not None:
        to_netcdf(window_report, path / "windows.nc")
    if qc_report is not None:
        to_netcdf(qc_report, path / "qc_report.nc")
    if search_table is not None:
        to_netcdf(search_table, path / "search.nc")
        write_csv(search_table.to_dataframe(), path / "search.csv")
    return path
