"""Stacked recurrent networks: LSTM, GRU and Elman RNN (sequence-to-one).

One class per cell type, registered as ``lstm``, ``gru`` and ``rnn``. The network reads the
whole window and a linear head (optionally one hidden layer) maps the last hidden state to
the prediction. Width and depth are free (the GPP study searched up to 5 layers x 512
units); dropout acts between stacked layers and before the head.

Examples
--------
>>> import torch
>>> from fluxgrid.models import get_model
>>> model = get_model("gru")(n_inputs=5, lookback=30, hidden=16, layers=2, dropout=0.1)
>>> model(torch.zeros(4, 30, 5)).shape
torch.Size([4])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..errors import ConfigError
from .base import TorchModel
from .registry import register_model

__all__ = ["GRU", "LSTM", "RNN", "RecurrentNet"]

torch = lazy_import("torch")
nn = torch.nn


class RecurrentNet(nn.Module):
    """``(batch, lookback, n_inputs) -> (batch,)`` with a stacked recurrent encoder.

    Parameters
    ----------
    cell
        ``lstm``, ``gru`` or ``rnn`` (tanh Elman).
    n_inputs, hidden, layers, dropout, head_hidden, forget_bias
        See :class:`LSTM` (``forget_bias`` only for ``lstm``).
    """

    def __init__(
        self,
        cell: str,
        n_inputs: int,
        hidden: int,
        layers: int,
        dropout: float,
        head_hidden: int,
        forget_bias: float | None = None,
    ):
        super().__init__()
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn_cls(
            n_inputs,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(dropout)
        if head_hidden > 0:
            self.head = nn.Sequential(
                nn.Linear(hidden, head_hidden), nn.ReLU(), nn.Linear(head_hidden, 1)
            )
        else:
            self.head = nn.Linear(hidden, 1)
        if cell == "lstm" and forget_bias is not None:
            for name, p in self.rnn.named_parameters():
                if name.startswith("bias_ih"):  # gates i, f, g, o: f is the second block
                    with torch.no_grad():
                        p[hidden : 2 * hidden].fill_(float(forget_bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction at the last step of each window, ``(batch,)``."""
        out, _ = self.rnn(x)
        return self.head(self.drop(out[:, -1])).squeeze(-1)


class _Recurrent(TorchModel):
    cell = "lstm"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.2,
        head_hidden: int = 0,
        **cell_options: Any,
    ):
        unknown = sorted(set(cell_options) - set(self.param_defaults()))
        if unknown:
            raise ConfigError(
                f"model {self.name!r}: unknown parameter(s) {unknown}; expected "
                f"{sorted(self.param_defaults())}"
            )
        if hidden < 1 or layers < 1 or head_hidden < 0:
            raise ConfigError(
                f"model {self.name!r}: hidden={hidden}, layers={layers}, head_hidden="
                f"{head_hidden}; expected hidden >= 1, layers >= 1, head_hidden >= 0"
            )
        if not 0 <= dropout < 1:
            raise ConfigError(f"model {self.name!r}: dropout={dropout}; expected 0 <= dropout < 1")
        super().__init__(n_inputs, lookback, **self.params_from({**locals(), **cell_options}))

    def build(self) -> Any:
        """The network from ``self.params``."""
        p = self.params
        return RecurrentNet(
            self.cell,
            self.n_inputs,
            p["hidden"],
            p["layers"],
            p["dropout"],
            p["head_hidden"],
            forget_bias=p.get("forget_bias"),
        )


@register_model("lstm")
class LSTM(_Recurrent):
    """Stacked LSTM, sequence-to-one.

    Parameters
    ----------
    n_inputs
        Input features per step.
    lookback
        Steps per window.
    hidden
        Units per layer (e.g. 64; up to 512 in the GPP study).
    layers
        Stacked layers (1-5).
    dropout
        Dropout between layers and before the head (default 0.2: see TrainConfig.loss).
    head_hidden
        Units of a hidden ReLU layer in the head (0: linear head).
    forget_bias
        Initial bias of the forget gate (input-hidden part; 1.0 remembers by default,
        Jozefowicz et al. 2015); ``None`` keeps PyTorch's uniform initialisation.
    """

    name = "lstm"
    cell = "lstm"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        hidden: int = 64,
        layers: int = 1,
        dropout: float = 0.2,
        head_hidden: int = 0,
        forget_bias: float | None = 1.0,
    ):
        numeric = isinstance(forget_bias, int | float) and not isinstance(forget_bias, bool)
        if forget_bias is not None and not (numeric and np.isfinite(forget_bias)):
            raise ConfigError(f"model 'lstm': forget_bias={forget_bias}; expected a number or null")
        super().__init__(
            n_inputs, lookback, hidden, layers, dropout, head_hidden, forget_bias=forget_bias
        )


@register_model("gru")
class GRU(_Recurrent):
    """Stacked GRU, sequence-to-one (parameters as :class:`LSTM`)."""

    name = "gru"
    cell = "gru"


@register_model("rnn")
class RNN(_Recurrent):
    """Stacked Elman RNN with tanh, sequence-to-one (parameters as :class:`LSTM`)."""

    name = "rnn"
    cell = "rnn"
