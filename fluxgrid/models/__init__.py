"""Models behind one fit/predict contract (see :mod:`fluxgrid.models.base`).

Importing this package registers the built-in models: ``lstm``, ``gru``, ``rnn``
(:mod:`~fluxgrid.models.recurrent`), ``ilstm`` (:mod:`~fluxgrid.models.ilstm`), ``fnn``
(:mod:`~fluxgrid.models.fnn`) and the scikit-learn baselines ``lasso``, ``svr``, ``rf``
(:mod:`~fluxgrid.models.baselines`). Look them up with :func:`fluxgrid.get_model`.
"""

from __future__ import annotations

from . import baselines, fnn, ilstm, recurrent  # noqa: F401  (register models)
from .base import FluxModel, SklearnModel, TorchModel, load_model

__all__ = ["FluxModel", "SklearnModel", "TorchModel", "load_model"]
