"""Models behind one fit/predict contract (see :mod:`fluxgrid.models.base`).

Importing this package registers the built-in models: ``lstm``, ``gru``, ``rnn``
(:mod:`~fluxgrid.models.recurrent`), ``ilstm`` (:mod:`~fluxgrid.models.ilstm`), ``fnn``
(:mod:`~fluxgrid.models.fnn`) and the scikit-learn baselines ``lasso``, ``svr``, ``rf``
(:mod:`~fluxgrid.models.baselines`). Look them up with :func:`get_model`; add one with
:func:`register_model` (see ``CONTRIBUTING.md``).

Examples
--------
>>> from fluxgrid.models import model_names
>>> model_names()
['fnn', 'gru', 'ilstm', 'lasso', 'lstm', 'rf', 'rnn', 'svr']
"""

from __future__ import annotations

from . import baselines, fnn, ilstm, recurrent  # noqa: F401  (register the built-in models)
from .base import FluxModel, SklearnModel, TorchModel, load_model
from .registry import MODELS, Registry, get_model, model_names, register_model

__all__ = [
    "MODELS",
    "FluxModel",
    "Registry",
    "SklearnModel",
    "TorchModel",
    "get_model",
    "load_model",
    "model_names",
    "register_model",
]
