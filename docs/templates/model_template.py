"""Template: a new model behind fluxgrid's fit/predict contract.

Copy this file to ``fluxgrid/models/<name>.py``, rename the classes and the registered name,
import the module in ``fluxgrid/models/__init__.py`` (that import registers it), and add a
test in ``tests/test_models.py`` showing that its loss falls on a real site. The model is
then usable by name everywhere: ``model: {name: linear_window}`` in an experiment YAML,
``fluxgrid.get_model("linear_window")``, searches, upscaling and explanations.

What a torch model provides (see :mod:`fluxgrid.models.base`):

* its hyper-parameters as keyword arguments of ``__init__`` after ``n_inputs`` and
  ``lookback`` (they are checked against this signature before training, saved in the
  checkpoint and searchable as ``model.<name>``);
* ``build()`` returning an ``nn.Module`` whose ``forward(x)`` maps
  ``(batch, lookback, n_inputs)`` to ``(batch,)``;
* optionally ``training_loss(x, y, loss_fn)`` for another objective.

Training (:class:`fluxgrid.training.fit.Trainer`), prediction, saving and loading come from
:class:`~fluxgrid.models.base.TorchModel`. A scikit-learn model subclasses
:class:`~fluxgrid.models.base.SklearnModel` instead and implements ``make_estimator()``.

Examples
--------
>>> import torch
>>> model = LinearWindow(n_inputs=5, lookback=30, steps=7)
>>> model(torch.zeros(4, 30, 5)).shape
torch.Size([4])
"""

from __future__ import annotations

import torch

from fluxgrid.errors import ConfigError
from fluxgrid.models.base import TorchModel
from fluxgrid.models.registry import register_model


class LinearWindowNet(torch.nn.Module):
    """A linear map of the last ``steps`` steps of the window (flattened) to the target."""

    def __init__(self, n_inputs: int, steps: int):
        super().__init__()
        self.steps = steps
        self.linear = torch.nn.Linear(n_inputs * steps, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, lookback, n_inputs) -> (batch,)``."""
        return self.linear(x[:, -self.steps :].flatten(1)).squeeze(-1)


@register_model("linear_window")
class LinearWindow(TorchModel):
    """Linear regression on the last days of the window, trained like the networks.

    Parameters
    ----------
    n_inputs, lookback
        Inputs per step and steps per window (given by the training code).
    steps
        Steps at the end of the window used (at most ``lookback``).
    """

    name = "linear_window"

    def __init__(self, n_inputs: int, lookback: int, steps: int = 7):
        if not 1 <= steps <= lookback:
            # errors name the parameter and what is expected
            raise ConfigError(f"model 'linear_window': steps={steps}; expected 1..{lookback}")
        super().__init__(n_inputs, lookback, steps=steps)

    def build(self) -> torch.nn.Module:
        """The network from ``self.n_inputs`` and ``self.params``."""
        return LinearWindowNet(self.n_inputs, self.params["steps"])
