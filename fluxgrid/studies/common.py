"""What both studies share: site groups, their config files, their run directories.

The studies declare workflows over the core's computations (as xclim's indicators do over
its indices); the few steps both declare the same way live here once:

* :func:`igbp_groups` -- the sites of each model group (one per IGBP class, or pooled);
* :class:`StudyModelConfig`, :class:`StudyModels` and :func:`study_experiment` -- a model a
  study compares, the ``models`` mapping of its config, and the
  :class:`~fluxgrid.config.ExperimentConfig` it trains as on the study's prepared data;
* :func:`load_study_config` -- a study config from its YAML or a recipe's ``config`` section;
* :func:`start_study` and :func:`finish_study` -- what every study run does first and last
  (config read, output checked; result saved);
* :func:`concat_sites` -- per-group results put back on the study's sites;
* :func:`save_study_run` -- a run directory :func:`fluxgrid.runs.load_run` reads, for a
  model a study trained (without the predictions and metrics of a full run directory).

Examples
--------
>>> from fluxgrid.data import load_demo_cube
>>> igbp_groups(load_demo_cube(), min_sites=2)
{'DBF': ['US-MMS', 'US-UMB', 'DE-Hai'], 'other': ['DE-Tha', 'FR-Pue']}
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import pandas as pd
import xarray as xr
import yaml

from ..config.experiment import ExperimentConfig, TrainConfig
from ..config.serialise import dump_config, from_dict, load_config, to_dict
from ..errors import ConfigError, DataNotFoundError
from ..evaluate import write_csv
from ..io.atomic import check_writable
from ..io.store import to_netcdf
from ..runs import TrainedRun

__all__ = [
    "StudyConfig",
    "StudyModelConfig",
    "StudyModels",
    "concat_sites",
    "ensemble_label",
    "finish_study",
    "igbp_groups",
    "load_study_config",
    "save_study_run",
    "start_study",
    "study_experiment",
]

C = TypeVar("C")


class StudyConfig(Protocol):
    """What :func:`study_experiment` reads of a study's config."""

    @property
    def models(self) -> Mapping[str, StudyModelConfig]:
        """Label -> model the study compares."""

    @property
    def data(self) -> Any:
        """The data section: ``source`` and ``target`` at least."""

    @property
    def train(self) -> TrainConfig:
        """Training settings shared by the study's models."""


class SavesItself(Protocol):
    """A study result: :meth:`save` writes it into a folder."""

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result into ``path``."""


def igbp_groups(ds: xr.Dataset, *, min_sites: int = 1, mode: str = "igbp") -> dict[str, list[str]]:
    """Sites per model group: one group per IGBP class, small classes pooled as ``other``.

    Parameters
    ----------
    ds
        Site cube with an ``igbp`` coordinate (``''``: unknown class).
    min_sites
        Classes with fewer sites (and sites of unknown class) go to the group ``other``.
    mode
        ``"igbp"`` or ``"pooled"`` (one group ``all``).

    Returns
    -------
    dict
        ``{group: [site, ...]}``, groups sorted, ``other`` last.

    Examples
    --------
    >>> from fluxgrid.data import load_demo_cube
    >>> igbp_groups(load_demo_cube(), mode="pooled")["all"][:2]
    ['US-MMS', 'US-UMB']
    """
    sites = ds["site"].values.astype(str)
    if mode == "pooled":
        return {"all": sites.tolist()}
    if mode != "igbp":
        raise ConfigError(f"groups={mode!r}; expected 'igbp' or 'pooled'")
    if "igbp" not in ds.coords:
        raise DataNotFoundError("grouping by IGBP needs an 'igbp' coordinate (site) on the cube")
    classes = ds["igbp"].values.astype(str)
    counts = pd.Series(classes).value_counts()
    out: dict[str, list[str]] = {}
    other: list[str] = []
    for cls in sorted(set(classes.tolist())):
        members = sites[classes == cls].tolist()
        if cls == "" or counts[cls] < min_sites:
            other.extend(members)
        else:
            out[cls] = members
    if other:
        out["other"] = [s for s in sites.tolist() if s in set(other)]
    return out


@dataclasses.dataclass(frozen=True)
class StudyModelConfig:
    """One model type a study compares.

    Attributes
    ----------
    name
        Registered model name (``lstm``, ``gru``, ``rnn``, ``ilstm``, ``fnn``, ``lasso``,
        ``svr``, ``rf``); default: the key of the study's ``models`` mapping.
    params
        Model hyper-parameters (checked against the model before training).
    train
        Overrides of the study's :class:`~fluxgrid.config.TrainConfig` for this model
        (e.g. ``{epochs: 20}``).
    """

    name: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    train: dict[str, Any] = dataclasses.field(default_factory=dict)


class StudyModels:
    """What a study config with a ``models`` mapping (label -> StudyModelConfig) can answer."""

    models: dict[str, StudyModelConfig]

    def model_name(self, label: str) -> str:
        """Registered model name of ``models[label]`` (the label unless it names one)."""
        return self.models[label].name or label


def ensemble_label(label: str, n_members: int) -> str:
    """The model label of a seed ensemble of ``label``.

    Examples
    --------
    >>> ensemble_label("gru", 3)
    'gru_x3'
    """
    return f"{label}_x{n_members}"


def study_experiment(
    study: StudyConfig,
    label: str,
    *,
    drivers: Sequence[str],
    split: Mapping[str, Any],
    windows: Mapping[str, Any],
    description: str,
    search: Mapping[str, Any] | None = None,
) -> ExperimentConfig:
    """The experiment model ``label`` of a study trains as, on the study's prepared data.

    The study prepares the data itself (QC, gap filling, its split), so the experiment's
    QC is off; its model is ``study.models[label]`` and its training ``study.train`` with
    that model's ``train`` over it.

    Parameters
    ----------
    study
        The study's config: its ``models`` mapping, ``data.source``, ``data.target`` (recorded
        with the run) and shared ``train`` settings.
    label
        Key of ``study.models``.
    drivers
        The model inputs.
    split, windows, search
        The ``split``, ``windows`` and (optional) ``search`` sections, as plain data.
    description
        Free text kept with the run.

    Returns
    -------
    ExperimentConfig

    Examples
    --------
    >>> from fluxgrid.studies.guided import GuidedConfig
    >>> cfg = from_dict(GuidedConfig, {"data": {"source": "demo"},
    ...                                "models": {"fast": {"name": "gru", "train": {"epochs": 2}}}})
    >>> exp = study_experiment(cfg, "fast", drivers=["ta"], split={}, windows={},
    ...                        description="example")
    >>> exp.model.name, exp.train.epochs, exp.data.qc_threshold
    ('gru', 2, None)
    """
    spec = study.models[label]
    body: dict[str, Any] = {
        "data": {
            "source": study.data.source,
            "drivers": list(drivers),
            "target": study.data.target,
            "qc_threshold": None,
        },
        "split": dict(split),
        "windows": dict(windows),
        "model": {"name": spec.name or label, "params": dict(spec.params)},
        "train": {**to_dict(study.train), **spec.train},
        "description": description,
    }
    if search is not None:
        body["search"] = dict(search)
    return from_dict(ExperimentConfig, body)


def load_study_config(path: str | os.PathLike, cls: type[C]) -> C:
    """Read a study config ``cls`` from a YAML file, or from a recipe file's ``config``.

    Parameters
    ----------
    path
        A plain config file, or a recipe file (``recipe: <name>`` with a ``config:``
        section, as ``fluxgrid run`` reads it).
    cls
        The study's config dataclass (loaded strictly: unknown keys fail with their path).

    Raises
    ------
    ConfigError
        The file is missing, or its content does not fit ``cls``.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    section = "config" if isinstance(raw, dict) and "recipe" in raw else None
    return load_config(path, cls, section=section)


def start_study(
    cfg: Any,
    cls: type[C],
    output: str | os.PathLike | None,
    overwrite: bool,
    note: Callable[[str], None] | None,
) -> tuple[C, Callable[[str], None]]:
    """The config of a study run (read when a path is given), its output checked, its notes.

    Returns
    -------
    cfg : C
        ``cfg`` itself, or the ``cls`` read from that path (:func:`load_study_config`).
    say : callable
        ``note``, or a function that drops the lines.

    Raises
    ------
    OutputExistsError
        ``output`` exists and ``overwrite`` is false (before any work is done).
    """
    if not isinstance(cfg, cls):
        cfg = load_study_config(cfg, cls)
    if output is not None:
        check_writable(output, overwrite)
    return cfg, note or (lambda _msg: None)


def finish_study(
    result: SavesItself,
    output: str | os.PathLike | None,
    overwrite: bool,
    say: Callable[[str], None],
) -> None:
    """Save a study's result to ``output`` (if given) and say where."""
    if output is not None:
        result.save(output, overwrite=overwrite)
        say(f"wrote {output}")


def concat_sites(parts: Sequence[xr.Dataset], sites: Sequence[Any] | None = None) -> xr.Dataset:
    """Per-group datasets (disjoint sites) as one, on ``sites`` in that order when given.

    Parameters
    ----------
    parts
        Datasets with a ``site`` dim each (e.g. the predictions of each group's model).
    sites
        Reindex the result to these sites (sites of no part get NaN).
    """
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = xr.concat(
            parts, dim="site", join="outer", data_vars="all", coords="different", compat="equals"
        )
    return merged if sites is None else merged.reindex(site=sites)


def save_study_run(
    folder: Path,
    run: TrainedRun,
    history: xr.Dataset,
    *,
    inputs: Mapping[str, Any] | None = None,
    search: xr.Dataset | None = None,
) -> Path:
    """Write a run directory of a model a study trained; :func:`fluxgrid.load_run` reads it.

    The files are those of a training run directory (see :mod:`fluxgrid.runs`) but the
    predictions and metrics, which the study saves for all its models at once:
    ``config.yaml``, ``inputs.json``, ``scaler.json``, ``split.nc``, ``model.pt|pkl``,
    ``history.nc`` and, after a search, ``search.csv``.

    Parameters
    ----------
    folder
        The run directory (created; its parents too).
    run
        The trained model with its scaler, inputs and config.
    history
        Its per-epoch losses.
    inputs
        Entries added to ``inputs.json`` (what the study's data mean for the run, e.g. the
        SSA ``scale`` it was trained on, or the ``cube`` holding its prepared inputs).
    search
        The trials of its hyper-parameter search, one row each.
    """
    folder.mkdir(parents=True)
    dump_config(run.config, folder / "config.yaml")
    (folder / "inputs.json").write_text(json.dumps({**run.inputs, **(inputs or {})}, indent=2))
    run.scaler.to_json(folder / "scaler.json")
    to_netcdf(run.split(), folder / "split.nc")
    run.model.save(folder / ("model.pt" if run.model.kind == "torch" else "model.pkl"))
    to_netcdf(history, folder / "history.nc")
    if search is not None:
        write_csv(search.to_dataframe(), folder / "search.csv")
    return folder
