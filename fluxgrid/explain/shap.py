"""SHAP values of windows: additive contributions per window, lag and driver.

:func:`shap_values` asks the model what it supports: every model class declares
``shap_method`` (:class:`~fluxgrid.models.base.FluxModel`), ``"gradient"`` for the torch
networks, ``"tree"`` for the random forest, ``"linear"`` for LASSO, ``None`` for the rest,
and :func:`shap_algorithm` picks the algorithm from that declaration (no list of model
names). The algorithms themselves live in :mod:`~fluxgrid.explain.gradients` and
:mod:`~fluxgrid.explain.exact`; this module draws the windows and references, runs the
algorithm and labels the result. :class:`ShapExplainer` is ``fluxgrid explain --method shap``.

Examples
--------
>>> from fluxgrid.models import get_model
>>> shap_algorithm(get_model("lstm")), shap_algorithm(get_model("rf"))
('expected_gradients', 'tree')
>>> shap_algorithm(get_model("svr"))
Traceback (most recent call last):
...
fluxgrid.errors.ModelError: SHAP cannot explain model 'svr' with method 'auto': ...
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .._lazy import lazy_import
from ..errors import ModelError
from ..models import MODELS, FluxModel
from ..plots.explain import plot_shap_summary
from ..windows import WindowIndex
from .base import Explainer, ExplainOptions, register_explainer
from .contributions import relative_contribution
from .exact import aggregate_lengths, linear_shap, tree_shap
from .gradients import expected_gradients, shap_gradient
from .target import (
    ExplainTarget,
    default_groups,
    inputs_of_groups,
    reference_windows,
    resolve_target,
    subsample,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..runs import TrainedRun
    from ..tensors import WindowCube

__all__ = ["ALGORITHMS", "SHAP_METHODS", "ShapExplainer", "shap_algorithm", "shap_values"]

#: explanation methods of :func:`shap_values`
SHAP_METHODS = ("auto", "expected_gradients", "shap_gradient", "tree", "linear")

#: the algorithms that explain each declared model capability (``FluxModel.shap_method``);
#: ``method="auto"`` takes the first
ALGORITHMS: dict[str, tuple[str, ...]] = {
    "gradient": ("expected_gradients", "shap_gradient"),
    "tree": ("tree",),
    "linear": ("linear",),
}


@dataclasses.dataclass(frozen=True)
class _Settings:
    """Settings of the algorithms (each reads its own)."""

    steps: int
    tolerance: float | None
    max_steps: int
    nsamples: int
    seed: int
    batch_size: int
    progress: bool | None = None


@dataclasses.dataclass
class _Attributions:
    """What an algorithm returns, in scaled units (lag 0 = target step)."""

    per_lag: np.ndarray | None  # (sample, lag, input)
    per_aggregate: np.ndarray | None  # (sample, aggregate, input)
    prediction: np.ndarray  # (sample,)
    base: float
    steps: np.ndarray | None = None  # points used per window
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)  # settings it used


# --------------------------------------------------------------------------- which algorithm
def _check_known(method: str) -> None:
    if method not in SHAP_METHODS:
        raise ModelError(f"SHAP method {method!r} unknown; use one of {list(SHAP_METHODS)}")


def _refusal(model: FluxModel | type[FluxModel], method: str) -> ModelError:
    """The error naming which registered models each algorithm explains."""
    declared: dict[str | None, list[str]] = {}
    for name in MODELS.names():
        declared.setdefault(MODELS.get(name).shap_method, []).append(name)

    def models(capability: str | None) -> str:
        return ", ".join(declared.get(capability, [])) or "none registered"

    return ModelError(
        f"SHAP cannot explain model {model.name!r} with method {method!r}: gradient methods "
        f"(expected_gradients, shap_gradient) need a model declaring shap_method 'gradient' "
        f"(the torch models: {models('gradient')}), 'tree' one declaring 'tree' "
        f"({models('tree')}), 'linear' one declaring 'linear' ({models('linear')}). For "
        f"{models(None)} (no gradients, no trees) use fluxgrid.permutation_importance"
    )


def shap_algorithm(model: FluxModel | type[FluxModel], method: str = "auto") -> str:
    """The SHAP algorithm that explains ``model``, from the model's declared ``shap_method``.

    Parameters
    ----------
    model
        A model (or model class); its ``shap_method`` says what it supports.
    method
        One of :data:`SHAP_METHODS`; ``"auto"`` picks the first algorithm of the model's
        capability in :data:`ALGORITHMS`.

    Returns
    -------
    str
        An algorithm name (never ``"auto"``).

    Raises
    ------
    ModelError
        An unknown method, or one the model does not support (the message names the
        models that support each).
    """
    _check_known(method)
    supported = ALGORITHMS.get(model.shap_method or "", ())
    chosen = supported[0] if method == "auto" and supported else method
    if chosen not in supported:
        raise _refusal(model, method)
    return chosen


# --------------------------------------------------------------------------- the algorithms
def _reference_tensor(target: ExplainTarget, ref_index: WindowIndex) -> Any:
    ref, _ = target.cube.gather(ref_index.site_idx, ref_index.end_idx, target.lookback)
    return ref.float()


def _by_expected_gradients(
    target: ExplainTarget, index: WindowIndex, ref_index: WindowIndex, settings: _Settings
) -> _Attributions:
    phi, pred, base, used, n_above = expected_gradients(
        target,
        index,
        _reference_tensor(target, ref_index),
        steps=settings.steps,
        batch_size=settings.batch_size,
        tolerance=settings.tolerance,
        max_steps=settings.max_steps,
        progress=settings.progress,
    )
    tolerance = settings.tolerance if settings.tolerance is not None else "none"
    attrs = {"steps": settings.steps, "tolerance": tolerance, "max_steps": settings.max_steps}
    attrs["n_above_tolerance"] = n_above
    return _Attributions(phi[:, ::-1], None, pred, base, steps=used, attrs=attrs)


def _by_shap_gradient(
    target: ExplainTarget, index: WindowIndex, ref_index: WindowIndex, settings: _Settings
) -> _Attributions:
    ref = _reference_tensor(target, ref_index)
    phi, pred, base = shap_gradient(
        target, index, ref, nsamples=settings.nsamples, seed=settings.seed
    )
    return _Attributions(phi[:, ::-1], None, pred, base, attrs={"nsamples": settings.nsamples})


def _by_tree(
    target: ExplainTarget, index: WindowIndex, ref_index: WindowIndex, settings: _Settings
) -> _Attributions:
    return _Attributions(*tree_shap(target, index))


def _by_linear(
    target: ExplainTarget, index: WindowIndex, ref_index: WindowIndex, settings: _Settings
) -> _Attributions:
    return _Attributions(*linear_shap(target, index, ref_index))


_RUN: dict[str, Callable[..., _Attributions]] = {
    "expected_gradients": _by_expected_gradients,
    "shap_gradient": _by_shap_gradient,
    "tree": _by_tree,
    "linear": _by_linear,
}


# --------------------------------------------------------------------------- windows drawn
def _settings(
    target: ExplainTarget,
    steps: int,
    tolerance: float | None,
    max_steps: int,
    nsamples: int,
    seed: int,
    batch_size: int | None,
    progress: bool | None = None,
) -> _Settings:
    if steps < 1 or nsamples < 1:
        raise ModelError(f"steps={steps}, nsamples={nsamples}; both must be >= 1")
    if tolerance is not None and not tolerance > 0:
        raise ModelError(f"tolerance={tolerance}; expected a positive number or None")
    if batch_size is None:  # larger passes fall out of the CPU caches
        batch_size = 8192 if target.cube.device.type == "cuda" else 512
    return _Settings(steps, tolerance, max(max_steps, steps), nsamples, seed, batch_size, progress)


def _background_index(
    model: Any,
    data: Any,
    target: ExplainTarget,
    background: int | WindowIndex,
    split: xr.Dataset | None,
    rng: np.random.Generator,
) -> WindowIndex:
    """Reference windows: drawn from the training part when a split is known."""
    if isinstance(background, WindowIndex):
        return background
    if isinstance(background, bool) or not isinstance(background, int) or background < 1:
        raise ModelError(f"background={background!r}; expected a number of windows >= 1")
    pool = reference_windows(model, data, split)
    return subsample(target.index if pool is None else pool, background, rng)


# --------------------------------------------------------------------------- the result
def _grouped_values(
    target: ExplainTarget, found: _Attributions, cols: Mapping[str, list[int]]
) -> tuple[dict[str, Any], np.ndarray]:
    """``shap_lag`` / ``shap_aggregate`` in target units summed per group; and the totals."""
    units = target.units

    def grouped(values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        summed = np.stack([values[..., c].sum(axis=-1) for c in cols.values()], axis=-1)
        return summed * target.target_scale

    data_vars: dict[str, Any] = {}
    totals = []
    if found.per_lag is not None:
        lag_vals = grouped(found.per_lag)
        data_vars["shap_lag"] = (
            ("sample", "lag", "driver"),
            lag_vals.astype(np.float32),
            {"long_name": "SHAP value per lag", "units": units},
        )
        totals.append(lag_vals.sum(axis=1))
    if found.per_aggregate is not None:
        agg_vals = grouped(found.per_aggregate)
        data_vars["shap_aggregate"] = (
            ("sample", "aggregate", "driver"),
            agg_vals.astype(np.float32),
            {
                "long_name": "SHAP value per window aggregate (mean of the last k days)",
                "units": units,
            },
        )
        totals.append(agg_vals.sum(axis=1))
    return data_vars, totals[0]  # per lag where there are lags


def _sum_vars(target: ExplainTarget, found: _Attributions, total: np.ndarray) -> dict[str, Any]:
    """``shap``, ``prediction``, ``base_value``, ``additivity_error`` (and ``steps``)."""
    units = target.units
    prediction = target.to_target_units(found.prediction)
    base_value = found.base * target.target_scale + target.target_center
    data_vars: dict[str, Any] = {
        "shap": (
            ("sample", "driver"),
            total.astype(np.float32),
            {"long_name": "SHAP value (sum over lags)", "units": units},
        ),
        "prediction": ("sample", prediction.astype(np.float32), {"units": units}),
        "base_value": (
            (),
            base_value,
            {"long_name": "mean prediction of the references", "units": units},
        ),
        "additivity_error": (
            "sample",
            (prediction - base_value - total.sum(axis=-1)).astype(np.float32),
            {"long_name": "prediction - base_value - sum of SHAP values", "units": units},
        ),
    }
    if found.steps is not None:
        data_vars["steps"] = (
            "sample",
            found.steps,
            {"long_name": "Gauss-Legendre points per path used for the window"},
        )
    return data_vars


def _coords(
    target: ExplainTarget, index: WindowIndex, found: _Attributions, names: list[str]
) -> dict[str, Any]:
    coords: dict[str, Any] = {"driver": names, **target.sample_coords(index)}
    if found.per_lag is not None:
        coords["lag"] = (
            "lag",
            np.arange(target.lookback),
            {"long_name": "steps before the target step"},
        )
    if found.per_aggregate is not None:
        aggs = aggregate_lengths(target.model.params["aggregates"], target.lookback)
        coords["aggregate"] = (
            "aggregate",
            np.asarray(aggs),
            {"long_name": "days averaged (last k)"},
        )
    return coords


def _shap_dataset(
    target: ExplainTarget,
    index: WindowIndex,
    found: _Attributions,
    groups: Mapping[str, Sequence[str]] | None,
    attrs: dict[str, Any],
) -> xr.Dataset:
    """The labelled result of :func:`shap_values`."""
    group_map = (
        dict(groups) if groups is not None else default_groups(target.features, target.drivers)
    )
    cols = {k: target.columns([v] if isinstance(v, str) else list(v)) for k, v in group_map.items()}
    data_vars, total = _grouped_values(target, found, cols)
    data_vars.update(_sum_vars(target, found, total))
    out = xr.Dataset(data_vars, coords=_coords(target, index, found, list(cols)))
    settings = {"steps": 0, "tolerance": "none", "max_steps": 0, "n_above_tolerance": 0}
    out.attrs = {
        "method": attrs["method"],
        "model": target.model.name,
        "n_background": attrs["n_background"],
        **{**settings, "nsamples": 0, **found.attrs},
        "seed": attrs["seed"],
        "units": target.units,
        "inputs_of_driver": inputs_of_groups(target, cols),
    }
    return out


def shap_values(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    method: str = "auto",
    max_windows: int | None = 1000,
    background: int | WindowIndex = 8,
    steps: int = 64,
    tolerance: float | None = 0.01,
    max_steps: int = 512,
    nsamples: int = 200,
    groups: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    split: xr.Dataset | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """SHAP values of windows: additive contributions per window, lag and driver.

    Methods (``method="auto"`` picks by the model's declared ``shap_method``):

    ``expected_gradients`` (``shap_method = "gradient"``: LSTM, GRU, RNN, iLSTM, FNN)
        Expected gradients (Erion et al. 2021), the algorithm of shap's
        ``GradientExplainer``, computed deterministically: for each window ``x`` and each of
        ``background`` reference windows ``b`` (training windows), the gradient is
        integrated along the straight path from ``b`` to ``x`` with a ``steps``-point
        Gauss-Legendre rule and multiplied by ``x - b``; the mean over references is the
        attribution. Attributions add up to ``prediction - base_value`` with ``base_value``
        the mean prediction of the references, up to the quadrature error, which is reported
        per window (``additivity_error``). All references and path points of a batch of
        windows go through the network in one forward and one backward pass. Recurrent
        networks run inside :meth:`~fluxgrid.models.base.TorchModel.explain_mode` (eval
        mode, cuDNN off), so gradients work on GPUs and predictions are unchanged.
    ``shap_gradient`` (``"gradient"`` models)
        shap's own ``GradientExplainer`` (``nsamples`` random reference/path points per
        window; additivity only holds on average). Slower; for cross-checks.
    ``tree`` (``shap_method = "tree"``: ``rf``)
        shap's exact ``TreeExplainer`` (path-dependent) on the model's window features
        (means of each input over the last 1, 7, 30, ... days); attributions per aggregate
        (``shap_aggregate``) and per input (their sum). No per-lag values.
    ``linear`` (``shap_method = "linear"``: ``lasso``)
        Exact SHAP of the linear model with independent inputs:
        ``w[lag, i] * (x[lag, i] - mean of the references)``, per lag.

    ``svr`` declares no method (neither gradients nor trees); it is refused (use
    :func:`~fluxgrid.explain.permutation_importance`).

    Parameters
    ----------
    model, data, windows, split, device
        As for :func:`~fluxgrid.explain.permutation_importance`.
    method
        See above.
    max_windows
        Explain a seeded random subset of at most this many windows (``None``: all).
    background
        Number of reference windows (drawn from the training part when the run's split is
        known, else from the explained windows), or a ``WindowIndex`` of them.
    steps
        Gauss-Legendre points per path (``expected_gradients``). Recurrent networks can
        change sharply along a path (saturating gates), so the quadrature needs more points
        than smooth functions would: the largest ``additivity_error`` relative to the spread
        of the predictions was 13 % with 25 points, 1.4 % with 50 and 0.05 % with 100 on a
        90-day, 64-unit LSTM of the demo sites (13 %, 0.5 % and 0.02 % with 16, 32 and 64
        points on a 30-day, 16-unit one); on 365-day LSTMs of the 83-site scale-guided run
        64 points left errors up to 0.5 gC m-2 d-1 in two groups. ``tolerance`` refines the
        windows that need it; the cost grows linearly with ``background * steps``.
    tolerance
        Windows whose ``|additivity_error|`` exceeds ``tolerance`` times the standard
        deviation of the explained predictions are computed again with twice the points,
        until they pass or reach ``max_steps`` (``expected_gradients``; ``None``: ``steps``
        points for every window). The points used are returned per window (``steps``), the
        windows still above the tolerance in ``attrs["n_above_tolerance"]``. Long-window
        LSTMs can respond almost discontinuously along a path (a memory cell flipping: a
        jump of 2 scaled units within 1/2000 of the path on a 365-day LSTM here); such
        windows stay above the tolerance at ``max_steps``, and their error shows it.
    max_steps
        Most points per path when refining (at least ``steps``).
    nsamples
        Samples per window (``shap_gradient``).
    groups
        ``{label: [inputs]}`` summed into one driver (SHAP values are additive); default
        :func:`~fluxgrid.explain.default_groups` (each driver alone, ``doy``, ``location``,
        ``igbp``).
    seed
        Seed of the window and reference draws.
    batch_size
        Sequences per forward/backward pass (windows x references x path points; at least
        one window's). Default 512 on the CPU, where larger passes fall out of the caches
        (2048 ran 2x slower than one window per pass here), 8192 on CUDA.
    progress
        Show a progress bar over the batches (``expected_gradients``); ``None``: in
        notebooks and on terminals, not under CI (:func:`fluxgrid.set_progress`).

    Returns
    -------
    xarray.Dataset
        Dim ``sample`` (with ``site``, ``time``, ``igbp`` coords), ``driver``, ``lag``
        (0 = target step), in target units:

        - ``shap`` (sample, driver): contribution of each driver, summed over lags;
        - ``shap_lag`` (sample, lag, driver): per lag (not for ``tree``);
        - ``shap_aggregate`` (sample, aggregate, driver): ``tree`` and ``linear`` only;
        - ``prediction`` (sample), ``base_value`` (), ``additivity_error`` (sample) =
          prediction - base_value - sum of ``shap``;
        - ``steps`` (sample): Gauss-Legendre points used (``expected_gradients``).

    Raises
    ------
    ModelError
        A model the method cannot explain (e.g. ``svr``), or an unknown method.

    Examples
    --------
    >>> sv = shap_values(run, cube, "test", max_windows=500)              # doctest: +SKIP
    >>> relative_contribution(sv, by="igbp", drivers=["ta", "sw_in", "vpd"])  # doctest: +SKIP
    """
    _check_known(method)
    target = resolve_target(model, data, windows, split=split, device=device)
    algorithm = shap_algorithm(target.model, method)
    settings = _settings(target, steps, tolerance, max_steps, nsamples, seed, batch_size, progress)
    lazy_import("torch")
    rng = np.random.default_rng(seed)
    index = subsample(target.index, max_windows, rng)
    ref_index = _background_index(model, data, target, background, split, rng)
    found = _RUN[algorithm](target, index, ref_index, settings)
    attrs = {"method": algorithm, "n_background": len(ref_index), "seed": seed}
    return _shap_dataset(target, index, found, groups, attrs)


@register_explainer("shap")
class ShapExplainer(Explainer):
    """``fluxgrid explain --method shap``: driver shares per group and mean |SHAP| by lag."""

    name = "shap"

    def compute(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """:func:`shap_values` of at most ``options.max_windows`` windows of the part."""
        return shap_values(
            run, cube, options.part, max_windows=options.max_windows, device=options.device
        )

    def figure(self, computed: xr.Dataset, options: ExplainOptions) -> Any:
        """:func:`~fluxgrid.plots.plot_shap_summary` grouped by ``options.by``."""
        return plot_shap_summary(computed, by=options.by)

    def table(self, result: xr.Dataset, options: ExplainOptions) -> tuple[str, pd.DataFrame]:
        """Relative contribution (%) of each driver per group."""
        heading = f"relative contribution (%, {result.attrs['method']}, {options.part} windows):"
        return heading, pd.DataFrame(relative_contribution(result, by=options.by).to_pandas())
