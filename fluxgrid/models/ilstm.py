"""Interpretable multi-variable LSTM (IMV-LSTM, tensorized form) with mixture attention.

Formulation after Guo, Lin & Antulov-Fantulin (2019), "Exploring interpretable LSTM neural
networks over multi-variable data", ICML (the IMV-Tensor variant):

* The hidden state is a matrix ``H_t`` with one row ``h_t^n`` (``hidden`` units) per input
  variable ``n``. Gates and the candidate update of row ``n`` depend only on that row and
  on variable ``n``'s input (block-diagonal "tensor-dot" transitions), so each row follows
  one variable's dynamics::

      [i, f, o, j]_t^n = W^n h_{t-1}^n + U^n x_t^n + b^n
      c_t^n = sigmoid(f) * c_{t-1}^n + sigmoid(i) * tanh(j)
      h_t^n = sigmoid(o) * tanh(c_t^n)

* Temporal attention per variable: ``alpha_t^n = softmax_t(tanh(F_alpha^n h_t^n))`` and the
  summary ``g^n = sum_t alpha_t^n h_t^n``; alpha sums to 1 over lags for each variable.
* Variable attention: ``beta^n = softmax_n(tanh(F_beta^n [g^n ; h_T^n]))``, summing to 1
  over variables.
* Probabilistic mixture: ``p(y | X) = sum_n beta^n N(y; mu^n, sigma)`` with per-variable
  means ``mu^n = F_mu^n [g^n ; h_T^n]``; the prediction is the mixture mean
  ``sum_n beta^n mu^n``.

Deviation from the paper: the network is trained with the trainer's regression loss (MSE
or MAE) on the mixture mean, not with the mixture negative log-likelihood and the paper's
posterior-based importance updates; alpha and beta are read from the attention weights.

Examples
--------
>>> import torch
>>> from fluxgrid.registry import get_model
>>> model = get_model("ilstm")(n_inputs=4, lookback=10, hidden=8)
>>> y, alpha, beta = model.net(torch.randn(3, 10, 4), return_attention=True)
>>> tuple(alpha.shape), tuple(beta.shape)
((3, 4, 10), (3, 4))
>>> bool(torch.allclose(alpha.sum(-1), torch.ones(3, 4)))
True
>>> bool(torch.allclose(beta.sum(-1), torch.ones(3)))
True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import ConfigError
from ..registry import register_model
from .base import TorchModel

if TYPE_CHECKING:  # pragma: no cover
    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = ["ILSTM", "IMVTensorLSTM"]

torch = lazy_import("torch")
nn = torch.nn


class IMVTensorLSTM(nn.Module):
    """IMV-LSTM network: ``forward(x) -> (batch,)`` or, with attention, ``(y, alpha, beta)``.

    Parameters
    ----------
    n_inputs
        Input variables ``N`` (one hidden-state row each).
    hidden
        Units per variable row ``d``.
    dropout
        Dropout on the per-variable summaries before the mixture heads.
    """

    def __init__(self, n_inputs: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        n, d = n_inputs, hidden
        self.n_inputs, self.hidden = n, d
        bound = 1.0 / math.sqrt(d)
        # per-variable transitions, gates stacked as [i, f, o, j] along the last axis
        self.W = nn.Parameter(torch.empty(n, d, 4 * d).uniform_(-bound, bound))
        self.U = nn.Parameter(torch.empty(n, 4 * d).uniform_(-bound, bound))
        b = torch.zeros(n, 4 * d)
        b[:, d : 2 * d] = 1.0  # forget-gate bias
        self.b = nn.Parameter(b)
        self.alpha_w = nn.Parameter(torch.empty(n, d).uniform_(-bound, bound))
        self.alpha_b = nn.Parameter(torch.zeros(n))
        b2 = 1.0 / math.sqrt(2 * d)
        self.beta_w = nn.Parameter(torch.empty(n, 2 * d).uniform_(-b2, b2))
        self.beta_b = nn.Parameter(torch.zeros(n))
        self.mu_w = nn.Parameter(torch.empty(n, 2 * d).uniform_(-b2, b2))
        self.mu_b = nn.Parameter(torch.zeros(n))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, return_attention: bool = False) -> Any:
        """Mixture-mean prediction; with ``return_attention`` also alpha and beta.

        Parameters
        ----------
        x
            ``(batch, lookback, n_inputs)``.
        return_attention
            Also return ``alpha`` ``(batch, n_inputs, lookback)`` (lag axis oldest first,
            sums to 1 over it) and ``beta`` ``(batch, n_inputs)`` (sums to 1).
        """
        bsz, steps, n = x.shape
        d = self.hidden
        # input contributions of all steps at once: (steps, n, batch, 4d)
        xu = x.permute(1, 2, 0)[..., None] * self.U[None, :, None, :] + self.b[None, :, None, :]
        h = x.new_zeros(n, bsz, d)
        c = x.new_zeros(n, bsz, d)
        states = []
        for t in range(steps):
            gates = torch.baddbmm(xu[t], h, self.W)  # (n, batch, 4d)
            i, f, o, j = gates.split(d, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        hs = torch.stack(states, dim=0)  # (steps, n, batch, d)
        # temporal attention per variable
        e = torch.tanh(torch.einsum("tnbd,nd->bnt", hs, self.alpha_w) + self.alpha_b[None, :, None])
        alpha = torch.softmax(e, dim=-1)  # (batch, n, steps)
        g = torch.einsum("bnt,tnbd->bnd", alpha, hs)
        summary = self.drop(torch.cat([g, h.permute(1, 0, 2)], dim=-1))  # (batch, n, 2d)
        # variable attention and per-variable means of the mixture
        eb = torch.tanh((summary * self.beta_w[None]).sum(-1) + self.beta_b[None])
        beta = torch.softmax(eb, dim=-1)
        mu = (summary * self.mu_w[None]).sum(-1) + self.mu_b[None]
        y = (beta * mu).sum(-1)
        if return_attention:
            return y, alpha, beta
        return y


@register_model("ilstm")
class ILSTM(TorchModel):
    """Interpretable multi-variable LSTM (IMV-Tensor) with mixture attention.

    Parameters
    ----------
    n_inputs
        Input variables (each gets its own hidden-state row and attention weights).
    lookback
        Steps per window.
    hidden
        Units per variable row.
    dropout
        Dropout on the per-variable summaries.
    """

    name = "ilstm"

    def __init__(self, n_inputs: int, lookback: int, hidden: int = 32, dropout: float = 0.0):
        if hidden < 1:
            raise ConfigError(f"model 'ilstm': hidden={hidden}; expected >= 1")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model 'ilstm': dropout={dropout}; expected 0 <= dropout < 1")
        super().__init__(n_inputs, lookback, hidden=hidden, dropout=dropout)

    def build(self) -> Any:
        """The network from ``self.params``."""
        return IMVTensorLSTM(self.n_inputs, self.params["hidden"], self.params["dropout"])

    def attention(
        self, cube: WindowCube, index: WindowIndex, *, batch_size: int = 2048
    ) -> xr.Dataset:
        """Attention weights of every window of ``index``.

        Returns
        -------
        xarray.Dataset
            ``alpha`` (sample, variable, lag): temporal attention, lag 0 is the target
            step, summing to 1 over lags; ``beta`` (sample, variable): variable attention,
            summing to 1; ``prediction`` (sample) scaled. Coords ``site``/``time`` (sample)
            and ``variable`` (the cube's input names).
        """
        self._check_cube(cube, index)
        n = len(index)
        alpha = np.empty((n, self.n_inputs, self.lookback), dtype=np.float32)
        beta = np.empty((n, self.n_inputs), dtype=np.float32)
        pred = np.empty(n, dtype=np.float32)
        self.net.eval()
        with torch.no_grad():
            for x, _y, pos in cube.batches(index, batch_size):
                y, a, b = self.net(x.to(self.device), return_attention=True)
                p = pos.cpu().numpy()
                alpha[p] = a.float().cpu().numpy()[:, :, ::-1]  # lag 0 = target step
                beta[p] = b.float().cpu().numpy()
                pred[p] = y.float().cpu().numpy()
        return xr.Dataset(
            {
                "alpha": (
                    ("sample", "variable", "lag"),
                    alpha,
                    {"long_name": "temporal attention", "units": "1"},
                ),
                "beta": (
                    ("sample", "variable"),
                    beta,
                    {"long_name": "variable attention", "units": "1"},
                ),
                "prediction": ("sample", pred, {"long_name": "scaled prediction", "units": "1"}),
            },
            coords={
                "site": ("sample", index.sample_sites),
                "time": ("sample", index.sample_times),
                "variable": list(cube.features),
                "lag": (
                    "lag",
                    np.arange(self.lookback),
                    {"long_name": "steps before the target step"},
                ),
            },
        )
