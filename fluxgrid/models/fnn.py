"""Feed-forward network on the flattened input window (registered as ``fnn``).

Examples
--------
>>> import torch
>>> from fluxgrid.models import get_model
>>> model = get_model("fnn")(n_inputs=5, lookback=30, hidden=(32, 16))
>>> model(torch.zeros(2, 30, 5)).shape
torch.Size([2])
"""

from __future__ import annotations

from typing import Any

from .._docstring import fill_doc
from .._lazy import lazy_import
from ..errors import ConfigError
from .base import PARAM_DOCS, TorchModel
from .registry import register_model

__all__ = ["FNN", "FNNNet"]

torch = lazy_import("torch")
nn = torch.nn


class FNNNet(nn.Module):
    """MLP on the last ``steps`` steps of the window, flattened."""

    def __init__(self, n_inputs: int, steps: int, hidden: tuple[int, ...], dropout: float):
        super().__init__()
        self.steps = steps
        layers: list[nn.Module] = []
        width = n_inputs * steps
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, lookback, n_inputs) -> (batch,)``."""
        return self.mlp(x[:, -self.steps :].flatten(1)).squeeze(-1)


@register_model("fnn")
@fill_doc(PARAM_DOCS)
class FNN(TorchModel):
    """Fully connected network on the flattened window.

    Parameters
    ----------
    %(window)s
    hidden
        Units of the hidden ReLU layers.
    dropout
        Dropout after each hidden layer.
    steps
        Use only the last ``steps`` steps of the window (0: all).
    """

    name = "fnn"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        hidden: tuple[int, ...] = (128, 64),
        dropout: float = 0.1,
        steps: int = 0,
    ):
        hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
        if any(h < 1 for h in hidden) or not 0 <= dropout < 1 or steps < 0:
            raise ConfigError(
                f"model 'fnn': hidden={hidden}, dropout={dropout}, steps={steps}; expected "
                "positive widths, 0 <= dropout < 1, steps >= 0"
            )
        super().__init__(n_inputs, lookback, **self.params_from(locals()))

    def build(self) -> Any:
        """The network from ``self.params``."""
        steps = self.params["steps"] or self.lookback
        steps = min(steps, self.lookback)
        return FNNNet(self.n_inputs, steps, self.params["hidden"], self.params["dropout"])
