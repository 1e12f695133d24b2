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

* Temporal attention per variable: ``alpha_t^n = softmax_t(f_n(h_t^n))`` and the summary
  ``g^n = sum_t alpha_t^n h_t^n``; alpha sums to 1 over lags for each variable.
* Variable attention: ``beta^n = softmax_n(f_beta^n([g^n ; h_T^n]))``, summing to 1 over
  variables.
* Probabilistic mixture: ``p(y | X) = sum_n beta^n N(y; mu^n, sigma^2)`` with per-variable
  means ``mu^n = F_mu^n [g^n ; h_T^n]``; the prediction is the mixture mean
  ``sum_n beta^n mu^n``.

Attention scores (``scores``): the paper's ``f_n`` are free ("flexible") functions; with
``scores="linear"`` (default) they are linear maps of the hidden rows, unbounded, so the
attention can become as sharp as the data ask. ``scores="tanh"`` squashes them into
``[-1, 1]`` as common re-implementations do; over a 75-step window the largest temporal
weight is then at most ``e**2`` times the smallest, which keeps alpha nearly flat.

Training objective (``objective``): ``"mean"`` fits the mixture mean with the trainer's
regression loss (MSE/MAE/Huber); ``"mixture"`` minimises the paper's mixture negative
log-likelihood ``-log sum_n beta^n N(y; mu^n, sigma^2)`` with a learned ``sigma`` (the EM
bound of the paper has the same gradient at its E-step posterior). Either way predictions
are the mixture mean and early stopping uses the trainer's loss on it. With the mixture
objective, :meth:`ILSTM.attention` also gives the paper's posterior
``q^n = beta^n N(y; mu^n, sigma^2) / sum_m beta^m N(y; mu^m, sigma^2)`` of windows with an
observed target; its mean over windows is the paper's variable importance.

The recurrence runs as one fused ``torch`` LSTM over block-diagonal weights (exactly the
per-variable updates above; cuDNN on CUDA) for up to ``FUSED_MAX_INPUTS`` variables, and as
a per-step loop of batched per-variable products beyond that (the dense block-diagonal
matrices grow with the square of the number of variables).

Examples
--------
>>> import torch
>>> from fluxgrid.models import get_model
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
import warnings
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import ConfigError, ModelError
from .base import TorchModel
from .registry import register_model

if TYPE_CHECKING:  # pragma: no cover
    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = ["FUSED_MAX_INPUTS", "ILSTM", "IMVTensorLSTM"]

torch = lazy_import("torch")
nn = torch.nn

#: up to this many input variables the recurrence runs as one fused block-diagonal LSTM
FUSED_MAX_INPUTS = 16
_TORCH_GATES = (0, 1, 3, 2)  # torch's LSTM gate order [i, f, g, o] in ours [i, f, o, j]
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


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
    scores
        ``"linear"`` (unbounded attention scores) or ``"tanh"`` (scores in ``[-1, 1]``).
    mixture_sigma
        Learn the mixture's component standard deviation ``sigma`` (parameter
        ``log_sigma``; needed by the mixture likelihood).
    fused
        Run the recurrence as one fused block-diagonal LSTM (default: when
        ``n_inputs <= FUSED_MAX_INPUTS``); both paths compute the same function.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden: int,
        dropout: float = 0.0,
        scores: str = "linear",
        mixture_sigma: bool = False,
        fused: bool | None = None,
    ):
        super().__init__()
        n, d = n_inputs, hidden
        self.n_inputs, self.hidden, self.scores = n, d, scores
        self.fused = n <= FUSED_MAX_INPUTS if fused is None else bool(fused)
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
        if mixture_sigma:
            self.log_sigma = nn.Parameter(torch.zeros(()))
        self.drop = nn.Dropout(dropout)
        # shape donor of the fused recurrence, deliberately not a registered submodule: its
        # own weights are never used (functional_call substitutes the block-diagonal ones)
        # and stay out of state_dict, parameters() and checkpoints
        object.__setattr__(self, "_cell", nn.LSTM(n, n * d, batch_first=True).requires_grad_(False))

    # ------------------------------------------------------------------ recurrence
    def _fused_weights(self) -> dict[str, torch.Tensor]:
        """Dense block-diagonal LSTM weights equal to the per-variable transitions."""
        n, d = self.n_inputs, self.hidden
        eye = torch.eye(n, device=self.W.device, dtype=self.W.dtype)
        w_hh, w_ih, b_ih = [], [], []
        for g in _TORCH_GATES:
            sl = slice(g * d, (g + 1) * d)
            w_hh.append(torch.block_diag(*self.W[:, :, sl].transpose(1, 2).unbind(0)))
            w_ih.append((self.U[:, sl, None] * eye[:, None, :]).reshape(n * d, n))
            b_ih.append(self.b[:, sl].reshape(n * d))
        return {
            "weight_ih_l0": torch.cat(w_ih, 0),
            "weight_hh_l0": torch.cat(w_hh, 0),
            "bias_ih_l0": torch.cat(b_ih, 0),
            "bias_hh_l0": torch.zeros_like(b_ih[0]).repeat(4),
        }

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden rows of every step, ``(batch, steps, n_inputs, hidden)``."""
        bsz, steps, n = x.shape
        d = self.hidden
        if self.fused:
            from torch.func import functional_call

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*contiguous chunk of memory.*")
                out, _ = functional_call(self._cell, self._fused_weights(), (x,))
            return out.view(bsz, steps, n, d)
        # input contributions of all steps at once: (steps, n, batch, 4d)
        xu = x.permute(1, 2, 0)[..., None] * self.U[None, :, None, :] + self.b[None, :, None, :]
        h = x.new_zeros(n, bsz, d)
        c = x.new_zeros(n, bsz, d)
        states = []
        for xu_t in xu.unbind(0):  # unbind: one backward node, not a zero-filled copy per step
            gates = torch.baddbmm(xu_t, h, self.W.to(xu_t.dtype))  # (n, batch, 4d)
            i, f, o, j = gates.split(d, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
            h = torch.sigmoid(o) * torch.tanh(c)
            states.append(h)
        return torch.stack(states, dim=0).permute(2, 0, 1, 3)

    # ------------------------------------------------------------------ mixture
    def mixture(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """All parts of the mixture for a batch.

        Returns
        -------
        dict
            ``y`` (batch,) mixture mean, ``mu`` (batch, n_inputs) component means,
            ``beta`` (batch, n_inputs) variable attention, ``alpha`` (batch, n_inputs,
            steps) temporal attention (oldest step first), ``log_beta`` (batch, n_inputs).
        """
        hs = self.hidden_states(x)  # (batch, steps, n, d)
        e = torch.einsum("btnd,nd->bnt", hs, self.alpha_w.to(hs.dtype)) + self.alpha_b[:, None]
        if self.scores == "tanh":
            e = torch.tanh(e)
        alpha = torch.softmax(e.float(), dim=-1)
        g = torch.einsum("bnt,btnd->bnd", alpha.to(hs.dtype), hs)
        summary = self.drop(torch.cat([g, hs[:, -1]], dim=-1)).float()  # (batch, n, 2d)
        eb = (summary * self.beta_w[None]).sum(-1) + self.beta_b[None]
        if self.scores == "tanh":
            eb = torch.tanh(eb)
        log_beta = torch.log_softmax(eb, dim=-1)
        beta = log_beta.exp()
        mu = (summary * self.mu_w[None]).sum(-1) + self.mu_b[None]
        y = (beta * mu).sum(-1)
        return {"y": y, "mu": mu, "beta": beta, "log_beta": log_beta, "alpha": alpha}

    def log_components(self, parts: dict[str, torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """``log beta^n + log N(y; mu^n, sigma^2)``, ``(batch, n_inputs)``.

        Raises
        ------
        ModelError
            If the network was built without ``mixture_sigma``.
        """
        if not hasattr(self, "log_sigma"):
            raise ModelError("this iLSTM has no mixture sigma; build it with objective='mixture'")
        z = (y[:, None].float() - parts["mu"]) / self.log_sigma.exp()
        return parts["log_beta"] - 0.5 * z**2 - self.log_sigma - _LOG_SQRT_2PI

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
        parts = self.mixture(x)
        if return_attention:
            return parts["y"], parts["alpha"], parts["beta"]
        return parts["y"]


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
    scores
        Attention scores: ``"linear"`` (unbounded, the paper's free ``f_n``) or ``"tanh"``
        (bounded to ``[-1, 1]``: nearly flat temporal attention over long windows).
    objective
        ``"mean"`` (the trainer's loss on the mixture mean) or ``"mixture"`` (the mixture
        negative log-likelihood of the paper, learned ``sigma``).
    """

    name = "ilstm"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        hidden: int = 32,
        dropout: float = 0.0,
        scores: Literal["linear", "tanh"] = "linear",
        objective: Literal["mean", "mixture"] = "mean",
    ):
        if hidden < 1:
            raise ConfigError(f"model 'ilstm': hidden={hidden}; expected >= 1")
        if not 0 <= dropout < 1:
            raise ConfigError(f"model 'ilstm': dropout={dropout}; expected 0 <= dropout < 1")
        if scores not in ("linear", "tanh"):
            raise ConfigError(f"model 'ilstm': scores={scores!r}; expected 'linear' or 'tanh'")
        if objective not in ("mean", "mixture"):
            raise ConfigError(
                f"model 'ilstm': objective={objective!r}; expected 'mean' or 'mixture'"
            )
        super().__init__(n_inputs, lookback, **self.params_from(locals()))

    def build(self) -> Any:
        """The network from ``self.params``."""
        p = self.params
        return IMVTensorLSTM(
            self.n_inputs,
            p["hidden"],
            p["dropout"],
            scores=p["scores"],
            mixture_sigma=p["objective"] == "mixture",
        )

    def training_loss(self, x: torch.Tensor, y: torch.Tensor, loss_fn: Any) -> torch.Tensor:
        """The objective: ``loss_fn`` on the mixture mean, or the mixture likelihood.

        With ``objective="mixture"`` this is the mean negative log-likelihood
        ``-log sum_n beta^n N(y; mu^n, sigma^2)`` of the scaled targets.
        """
        if self.params["objective"] == "mean":
            return super().training_loss(x, y, loss_fn)
        parts = self.net.mixture(x)
        return -torch.logsumexp(self.net.log_components(parts, y), dim=-1).mean()

    def attention(
        self, cube: WindowCube, index: WindowIndex, *, batch_size: int = 2048
    ) -> xr.Dataset:
        """Attention weights of every window of ``index``.

        Returns
        -------
        xarray.Dataset
            ``alpha`` (sample, variable, lag): temporal attention, lag 0 is the target
            step, summing to 1 over lags; ``beta`` (sample, variable): variable attention,
            summing to 1; ``prediction`` (sample) scaled. With ``objective="mixture"`` and
            targets in the cube also ``posterior`` (sample, variable): the paper's
            ``q^n`` (NaN where the target is missing), whose mean over samples is the
            paper's variable importance. Coords ``site``/``time`` (sample) and ``variable``
            (the cube's input names).
        """
        self.check_cube(cube, index)
        n = len(index)
        alpha = np.empty((n, self.n_inputs, self.lookback), dtype=np.float32)
        beta = np.empty((n, self.n_inputs), dtype=np.float32)
        pred = np.empty(n, dtype=np.float32)
        mixture = self.params["objective"] == "mixture"
        post = None
        was_training = self.net.training
        self.net.eval()
        try:
            with torch.no_grad():
                for x, y, pos in cube.batches(index, batch_size):
                    parts = self.net.mixture(x.to(self.device))
                    p = pos.cpu().numpy()
                    alpha[p] = parts["alpha"].float().cpu().numpy()[:, :, ::-1]  # lag 0 = target
                    beta[p] = parts["beta"].float().cpu().numpy()
                    pred[p] = parts["y"].float().cpu().numpy()
                    if mixture and y is not None:
                        if post is None:
                            post = np.full((n, self.n_inputs), np.nan, dtype=np.float32)
                        yt = y.to(self.device)
                        ok = torch.isfinite(yt)
                        log_c = self.net.log_components(parts, torch.nan_to_num(yt))
                        q = torch.softmax(log_c, dim=-1)
                        q[~ok] = float("nan")
                        post[p] = q.cpu().numpy()
        finally:
            self.net.train(was_training)
        data = {
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
        }
        if post is not None:
            data["posterior"] = (
                ("sample", "variable"),
                post,
                {"long_name": "posterior of the mixture component given the target", "units": "1"},
            )
        return xr.Dataset(
            data,
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
