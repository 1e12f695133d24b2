"""The plain PyTorch LSTM that fluxgrid's defaults are measured against.

About forty lines a scientist would write by hand: one LSTM layer (hidden 64), dropout 0.2
before a linear head, MAE loss, Adam at 3e-3, 30 epochs over every training window, batch
256, no validation, no early stopping, no gradient clipping, no schedule. It reads the same
scaled windows as fluxgrid (:class:`fluxgrid.tensors.WindowCube`), so any difference comes
from the training recipe, not the data.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fluxgrid.tensors import WindowCube
from fluxgrid.windows import WindowIndex

#: the recipe, as written by hand
PLAIN = {"hidden": 64, "dropout": 0.2, "loss": "mae", "lr": 3e-3, "epochs": 30, "batch": 256}
#: study switches, off in the plain recipe: gradient-norm clipping, LSTM forget-gate bias
SWITCHES = {"clip": None, "forget_bias": None}


class PlainLSTM(nn.Module):
    """One LSTM layer, dropout, a linear head on the last step."""

    def __init__(self, n_inputs: int, hidden: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(n_inputs, hidden, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, lookback, n_inputs)`` -> ``(batch,)``."""
        out, _ = self.lstm(x)
        return self.head(self.drop(out[:, -1])).squeeze(-1)


class FittedPlain:
    """A trained :class:`PlainLSTM` with fluxgrid's ``predict(cube, index)`` interface."""

    def __init__(self, net: PlainLSTM):
        self.net = net.eval()

    def predict(self, cube: WindowCube, index: WindowIndex, *, batch_size: int = 4096):
        """Scaled predictions for every window of ``index`` (order kept)."""
        out = np.empty(len(index), dtype=np.float32)
        with torch.no_grad():
            for x, _y, pos in cube.batches(index, batch_size):
                out[pos.cpu().numpy()] = self.net(x).cpu().numpy()
        return out


def fit_plain(cube: WindowCube, train: WindowIndex, seed: int, **recipe) -> FittedPlain:
    """Train the plain LSTM on every window of ``train``.

    ``recipe`` overrides :data:`PLAIN` and :data:`SWITCHES`.
    """
    r = {**PLAIN, **SWITCHES, **recipe}
    torch.manual_seed(seed)
    net = PlainLSTM(cube.n_dynamic + cube.n_static, r["hidden"], r["dropout"]).to(cube.device)
    if r["forget_bias"] is not None:
        with torch.no_grad():
            net.lstm.bias_ih_l0[r["hidden"] : 2 * r["hidden"]].fill_(r["forget_bias"])
    opt = torch.optim.Adam(net.parameters(), lr=r["lr"])
    loss_fn = nn.L1Loss() if r["loss"] == "mae" else nn.MSELoss()
    gen = torch.Generator().manual_seed(seed)
    for _epoch in range(r["epochs"]):
        net.train()
        for x, y, _pos in cube.batches(train, r["batch"], shuffle=True, generator=gen):
            opt.zero_grad()
            loss_fn(net(x), y).backward()
            if r["clip"]:
                nn.utils.clip_grad_norm_(net.parameters(), r["clip"])
            opt.step()
    return FittedPlain(net)
