"""scikit-learn baselines on aggregated window features: ``lasso``, ``svr``, ``rf``.

Each window becomes means of every input over the last 1, 7, 30 steps and the whole window
(``aggregates``), computed from the same gathered batches the networks see (see
:func:`fluxgrid.models.base.window_summary`).

Examples
--------
>>> from fluxgrid.models import get_model
>>> sorted(get_model("lasso").param_defaults())
['aggregates', 'alpha', 'max_train_samples', 'seed']
"""

from __future__ import annotations

from typing import Any

from .._docstring import fill_doc
from .base import PARAM_DOCS, SklearnModel
from .registry import register_model

__all__ = ["RF", "SVR", "Lasso"]

_AGG = (1, 7, 30, 0)


@register_model("lasso")
@fill_doc(PARAM_DOCS)
class Lasso(SklearnModel):
    """L1-regularised linear regression.

    Parameters
    ----------
    %(window)s
    alpha
        L1 penalty on scaled features.
    %(sklearn)s
    """

    name = "lasso"
    #: a linear model: exact linear SHAP (:func:`fluxgrid.explain.shap_values`)
    shap_method = "linear"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        *,
        alpha: float = 0.001,
        aggregates: tuple[int, ...] = _AGG,
        max_train_samples: int | None = None,
        seed: int = 0,
    ):
        super().__init__(n_inputs, lookback, **self.params_from(locals()))

    def make_estimator(self) -> Any:
        """The unfitted estimator from ``self.params``."""
        from sklearn.linear_model import Lasso as _Lasso

        # few features, many windows: coordinate descent on the precomputed Gram matrix costs
        # O(features^2) per sweep instead of O(windows x features); same optimum
        return _Lasso(
            alpha=self.params["alpha"],
            max_iter=5000,
            precompute=True,
            random_state=self.params["seed"],
        )


@register_model("svr")
@fill_doc(PARAM_DOCS)
class SVR(SklearnModel):
    """Support-vector regression with an RBF kernel.

    Kernel SVR scales quadratically with the number of windows, so by default it fits on a
    seeded subset of 20000 training windows (``max_train_samples``).

    Parameters
    ----------
    %(window)s
    C, epsilon, gamma
        SVR parameters (``gamma`` ``"scale"`` or a number).
    %(sklearn)s
    """

    name = "svr"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        *,
        C: float = 1.0,
        epsilon: float = 0.05,
        gamma: Any = "scale",
        aggregates: tuple[int, ...] = _AGG,
        max_train_samples: int | None = 20000,
        seed: int = 0,
    ):
        super().__init__(n_inputs, lookback, **self.params_from(locals()))

    def make_estimator(self) -> Any:
        """The unfitted estimator from ``self.params``."""
        from sklearn.svm import SVR as _SVR

        p = self.params
        return _SVR(C=p["C"], epsilon=p["epsilon"], gamma=p["gamma"], cache_size=500)


@register_model("rf")
@fill_doc(PARAM_DOCS)
class RF(SklearnModel):
    """Random forest regression.

    Parameters
    ----------
    %(window)s
    n_estimators, max_depth, min_samples_leaf, max_features
        Forest parameters.
    n_jobs
        Parallel jobs (-1: all cores).
    %(sklearn)s
    """

    name = "rf"
    #: a tree ensemble: exact TreeSHAP (:func:`fluxgrid.explain.shap_values`)
    shap_method = "tree"

    def __init__(
        self,
        n_inputs: int,
        lookback: int,
        *,
        n_estimators: int = 200,
        max_depth: int | None = None,
        min_samples_leaf: int = 5,
        max_features: Any = 0.5,
        n_jobs: int = -1,
        aggregates: tuple[int, ...] = _AGG,
        max_train_samples: int | None = None,
        seed: int = 0,
    ):
        super().__init__(n_inputs, lookback, **self.params_from(locals()))

    def make_estimator(self) -> Any:
        """The unfitted estimator from ``self.params``."""
        from sklearn.ensemble import RandomForestRegressor

        p = self.params
        return RandomForestRegressor(
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            min_samples_leaf=p["min_samples_leaf"],
            max_features=p["max_features"],
            n_jobs=p["n_jobs"],
            random_state=p["seed"],
        )
