"""Fine-tuning a pre-trained torch model: all weights, the head only, or a lower rate.

:func:`fine_tune` trains a *copy* of a fitted model further on other windows (one site's
training years after pre-training on all sites, in
:func:`~fluxgrid.training.cross_site_transfer`), in one of the modes of
:class:`~fluxgrid.config.experiment.FineTuneConfig`: ``full`` (every weight),
``freeze_recurrent`` (the recurrent layers keep their weights: ``requires_grad`` off, so
the optimiser never sees them; the head learns) or ``low_lr`` (every weight, at
``train.lr * lr_factor``). The loop is the usual :class:`~fluxgrid.training.fit.Trainer`
(early stopping on the validation windows given).

Examples
--------
>>> from fluxgrid.config import FineTuneConfig, TrainConfig
>>> cfg = fine_tune_train_config(TrainConfig(lr=0.01, epochs=30),
...                              FineTuneConfig(mode="low_lr", lr_factor=0.1, epochs=5))
>>> round(cfg.lr, 6), cfg.epochs
(0.001, 5)
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import xarray as xr

from .._lazy import lazy_import
from ..config.experiment import FineTuneConfig, TrainConfig
from ..config.serialise import from_dict
from ..errors import ConfigError, ModelError
from ..models import FluxModel
from ..models.ilstm import IMVTensorLSTM
from .fit import fit_torch

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = ["as_fine_tune", "fine_tune", "fine_tune_train_config", "recurrent_parameters"]

#: the recurrence of the IMV-LSTM (its attention and mixture heads are the rest)
_IMV_RECURRENT = ("W", "U", "b")


def as_fine_tune(value: FineTuneConfig | Mapping[str, Any] | None) -> FineTuneConfig:
    """A :class:`FineTuneConfig` from a config, a mapping of its keys, or ``None`` (defaults)."""
    if value is None:
        return FineTuneConfig()
    if isinstance(value, FineTuneConfig):
        return value
    return from_dict(FineTuneConfig, dict(value))


def fine_tune_train_config(train: TrainConfig, fine: FineTuneConfig) -> TrainConfig:
    """The training settings of a fine-tuning: ``lr`` scaled (``low_lr``), its epochs."""
    lr = train.lr * fine.lr_factor if fine.mode == "low_lr" else train.lr
    epochs = fine.epochs if fine.epochs is not None else train.epochs
    return dataclasses.replace(train, lr=lr, epochs=epochs)


def recurrent_parameters(model: FluxModel) -> dict[str, torch.nn.Parameter]:
    """The weights of a model's recurrent layers, by their ``state_dict`` name.

    The parameters of every torch recurrent module (``nn.LSTM``, ``nn.GRU``, ``nn.RNN``:
    models ``lstm``, ``gru``, ``rnn``) and the per-variable transitions ``W``, ``U``,
    ``b`` of the IMV-LSTM (``ilstm``); empty for models without a recurrence (``fnn``).

    Examples
    --------
    >>> from fluxgrid.models import get_model
    >>> sorted(recurrent_parameters(get_model("gru")(3, 10, hidden=4)))[:2]
    ['rnn.bias_hh_l0', 'rnn.bias_ih_l0']
    >>> recurrent_parameters(get_model("fnn")(3, 10))
    {}
    """
    if model.kind != "torch":
        return {}
    nn = lazy_import("torch").nn
    found: dict[str, Any] = {}
    for prefix, module in model.net.named_modules():
        dot = f"{prefix}." if prefix else ""
        if isinstance(module, nn.RNNBase):
            found.update({f"{dot}{n}": p for n, p in module.named_parameters()})
        elif isinstance(module, IMVTensorLSTM):
            found.update({f"{dot}{n}": getattr(module, n) for n in _IMV_RECURRENT})
    return found


def fine_tune(
    model: FluxModel,
    cube: WindowCube,
    train: WindowIndex,
    val: WindowIndex | None,
    config: TrainConfig,
    fine: FineTuneConfig | Mapping[str, Any] | None = None,
    *,
    progress: bool | None = None,
) -> tuple[FluxModel, xr.Dataset]:
    """Train a copy of a fitted torch model further (the model itself is not changed).

    Parameters
    ----------
    model
        The pre-trained model (a :class:`~fluxgrid.models.base.TorchModel`).
    cube
        Scaled inputs and target, scaled as for pre-training (the same scaler).
    train, val
        Fine-tuning windows (parts ``train`` and ``val``; ``val`` may be ``None``).
    config
        Training settings of the pre-training; ``lr`` and ``epochs`` are changed by
        ``fine`` (:func:`fine_tune_train_config`).
    fine
        Mode, ``lr_factor`` and epochs (:class:`~fluxgrid.config.experiment.FineTuneConfig`
        or a mapping of its keys; ``None``: mode ``full``).
    progress
        Progress bar over the epochs.

    Returns
    -------
    model : FluxModel
        The fine-tuned copy (best epoch, as in :func:`~fluxgrid.training.fit_torch`).
    history : xarray.Dataset
        Its history (``lr`` is the fine-tuning rate), with attributes ``fine_tune`` (the
        mode), ``lr_factor`` and ``frozen`` (comma-separated names of the frozen weights).

    Raises
    ------
    ModelError
        The model is not a torch model (sklearn baselines train in one step).
    ConfigError
        ``freeze_recurrent`` on a model without a recurrent layer (``fnn``).
    """
    fine = as_fine_tune(fine)
    if model.kind != "torch":
        raise ModelError(
            f"fine-tuning trains a torch model further; {model.name!r} is a {model.kind} "
            "model trained in one step: use lstm, gru, rnn, ilstm or fnn"
        )
    tuned = copy.deepcopy(model)
    frozen: list[str] = []
    if fine.mode == "freeze_recurrent":
        weights = recurrent_parameters(tuned)
        if not weights:
            raise ConfigError(
                f"fine_tune mode 'freeze_recurrent': model {model.name!r} has no recurrent "
                "layer; use mode 'full' or 'low_lr', or a recurrent model (lstm, gru, rnn, "
                "ilstm)"
            )
        for name, weight in weights.items():
            weight.requires_grad_(False)
            frozen.append(name)
    train_cfg = fine_tune_train_config(config, fine)
    history = fit_torch(
        tuned, cube, train, val, train_cfg, progress=progress, desc=f"fine-tune {model.name}"
    )
    history.attrs.update(
        fine_tune=fine.mode,
        lr_factor=fine.lr_factor if fine.mode == "low_lr" else 1.0,
        frozen=", ".join(frozen),
    )
    return tuned, history
