"""From an experiment config to a fitted model: checks, hyper-parameters, model building.

Every check that needs no data runs here, before any data is read: the model name and its
parameters (:func:`check_experiment`, :func:`check_model_specs`), the search space.
:func:`build_model` makes the seeded model of a config and :func:`fit_model` fits it on a
:class:`~fluxgrid.training.prepared.Prepared` experiment.

Examples
--------
>>> from fluxgrid.config import ExperimentConfig, from_dict
>>> cfg = from_dict(ExperimentConfig, {"model": {"name": "gru", "params": {"hidden": 8}}})
>>> check_experiment(cfg).__name__
'GRU'
>>> apply_params(cfg, {"model.hidden": 16, "train.lr": 0.01}).model.params
{'hidden': 16}
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr
import yaml

from ..config.experiment import ExperimentConfig, TrainConfig
from ..config.serialise import from_dict, load_config, to_dict
from ..errors import ConfigError
from ..models import FluxModel, get_model
from ..prep.splits import TRAIN, VAL
from .fit import check_parts, fit_torch, seed_everything

if TYPE_CHECKING:  # pragma: no cover
    from .prepared import Prepared

__all__ = [
    "apply_params",
    "build_model",
    "check_experiment",
    "check_model_specs",
    "fit_model",
    "load_experiment",
]


def load_experiment(path: str | os.PathLike) -> ExperimentConfig:
    """Read an experiment YAML: a plain :class:`ExperimentConfig` or a ``train`` recipe.

    A recipe file (``recipe: train`` with a ``config:`` section, as run by ``fluxgrid
    run``) is accepted too, so one file serves ``fluxgrid train`` and ``fluxgrid run``.

    Raises
    ------
    ConfigError
        The file is missing, not YAML, has unknown keys or wrong values, or does not name
        the essentials (:data:`REQUIRED_KEYS`): an empty file would otherwise train the
        whole default experiment.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    section = "config" if isinstance(raw, dict) and "recipe" in raw else None
    body = raw.get("config") if section else raw
    if isinstance(body, dict) or body is None:
        _require_keys(body or {}, path)
    return load_config(path, ExperimentConfig, section=section)


#: what an experiment file must name; the rest has defaults
REQUIRED_KEYS = ("data.source", "data.drivers", "data.target", "model.name")


def _require_keys(data: dict[str, Any], path: Path) -> None:
    """Refuse experiment files that leave the essentials to the defaults (an empty file)."""
    missing = []
    for dotted in REQUIRED_KEYS:
        section, key = dotted.split(".")
        if not isinstance(data.get(section), dict) or key not in data[section]:
            missing.append(dotted)
    if missing:
        raise ConfigError(
            f"{path}: an experiment must name {', '.join(REQUIRED_KEYS)}; missing "
            f"{', '.join(missing)} (e.g. data: {{source: demo, drivers: [ta, sw_in, vpd], "
            "target: nee}, model: {name: lstm})"
        )


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


def check_model_specs(models: dict[str, Any], train: TrainConfig, owner: str) -> None:
    """Check named model specs (``name``, ``params``, ``train`` overrides) against the registry.

    Parameters
    ----------
    models
        ``{label: spec}`` with ``spec.name`` (registered model name, or ``None`` for the
        label itself), ``spec.params`` and ``spec.train`` (overrides of ``train``).
    train
        The shared training settings.
    owner
        Config name used in messages (e.g. ``"GuidedConfig"``).

    Raises
    ------
    ConfigError
        No model, or a model whose parameters or training overrides are invalid (named by
        its ``owner.models.label`` path).
    """
    if not models:
        raise ConfigError(f"{owner}.models: give at least one model, e.g. {{lstm: {{}}}}")
    for label, spec in models.items():
        cls = get_model(spec.name or label)
        try:
            cls.check_params(spec.params)
            from_dict(TrainConfig, {**to_dict(train), **spec.train})
        except ConfigError as err:
            raise ConfigError(f"{owner}.models.{label}: {err}") from None


def apply_params(cfg: ExperimentConfig, params: dict[str, Any]) -> ExperimentConfig:
    """``cfg`` with dotted hyper-parameters set (``model.hidden``, ``train.lr``).

    Names without a prefix are training settings. The training section is validated again.
    """
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


def build_model(cfg: ExperimentConfig, n_inputs: int) -> FluxModel:
    """The model of ``cfg`` for ``n_inputs`` inputs, weights seeded by ``train.seed``."""
    cls = check_experiment(cfg)
    seed_everything(cfg.train.seed)
    params = dict(cfg.model.params)
    if cls.kind == "sklearn" and "seed" in cls.param_defaults() and "seed" not in params:
        params["seed"] = cfg.train.seed
    model = cls(n_inputs, cfg.windows.lookback, **params)
    if model.kind == "torch":
        model.to(cfg.train.device)
    return model


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
        check_parts(train, TRAIN, "training")
        check_parts(val, VAL, "validation")
        history = model.fit(prepared.wcube, train, val, cfg.train)
    return model, history
