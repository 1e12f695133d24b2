"""Explanations of trained models: attention, permutation importance, SHAP, response surfaces.

Every function takes a trained model and the windows to explain, and returns labelled xarray
with dims named after the inputs (``driver``) and, where it applies, the look-back (``lag``:
0 is the target step, 1 the day before, ...):

* :func:`permutation_importance` -- how much a metric (NRMSE by default, any of
  :data:`fluxgrid.evaluate.METRICS`) worsens when one driver's input windows are shuffled,
  repeated ``n_repeats`` times, per site and pooled;
* :func:`shap_values` -- additive attributions per window, lag and input (expected gradients
  for the torch models, exact TreeSHAP for random forests, exact linear SHAP for LASSO: each
  model class declares which in ``shap_method``) and :func:`relative_contribution`, the share
  of each driver in percent per site or vegetation type;
* :func:`response_surface` -- the mean prediction when two drivers are shifted over a grid of
  offsets (the others as observed), with a mask where the shifted drivers leave the observed
  joint distribution;
* :func:`attention_summary` -- iLSTM temporal (alpha) and variable (beta) attention averaged
  per site or over any grouping.

The model is given as a :class:`~fluxgrid.runs.TrainedRun` (or its run directory) with a
site cube, or as a bare :class:`~fluxgrid.models.base.FluxModel` with an already-scaled
:class:`~fluxgrid.tensors.WindowCube` and a :class:`~fluxgrid.windows.WindowIndex`. Windows
are gathered from the device-resident cube by index (the cube is never rebuilt): a
permutation or a shift is applied to the gathered batch.

The modules, one job each: ``target`` (what is explained: :func:`resolve_target`, groups of
inputs), ``permutation``, ``shap`` (with the algorithms in ``gradients`` and ``exact``),
``contributions``, ``response``, ``attention``, and ``base``: the :class:`Explainer` each
method provides for ``fluxgrid explain --method NAME``, registered by name in
:data:`EXPLAINERS` (importing this package registers them all).

Examples
--------
>>> import fluxgrid
>>> run = fluxgrid.load_run("runs/demo")                                   # doctest: +SKIP
>>> cube = fluxgrid.load_demo_cube()                                       # doctest: +SKIP
>>> imp = permutation_importance(run, cube, "test", n_repeats=10)          # doctest: +SKIP
>>> imp.importance_pooled.to_series()                                      # doctest: +SKIP
"""

from __future__ import annotations

from .attention import AttentionExplainer, attention_summary, label_igbp
from .base import EXPLAINERS, Explainer, ExplainOptions, Explanation, register_explainer
from .contributions import relative_contribution
from .permutation import PermutationExplainer, permutation_importance
from .response import ResponseExplainer, response_surface
from .shap import SHAP_METHODS, ShapExplainer, shap_algorithm, shap_values
from .target import ExplainTarget, default_groups, resolve_target

__all__ = [
    "EXPLAINERS",
    "SHAP_METHODS",
    "AttentionExplainer",
    "ExplainOptions",
    "ExplainTarget",
    "Explainer",
    "Explanation",
    "PermutationExplainer",
    "ResponseExplainer",
    "ShapExplainer",
    "attention_summary",
    "default_groups",
    "label_igbp",
    "permutation_importance",
    "register_explainer",
    "relative_contribution",
    "resolve_target",
    "response_surface",
    "shap_algorithm",
    "shap_values",
]
