"""The scale-knowledge-guided workflow: seasonal and interannual models on SSA components.

The workflow is declared over the core's computations (site-cube chain, gap filling, SSA,
training, scores, SHAP), one module a job:

``config``
    :class:`GuidedConfig` and its sections (strict YAML);
``scales``
    :func:`prepare_scales` and :class:`ScaleData`: the site cube, gap-filled drivers, split
    and SSA components; :func:`decompose_predictions`;
``fitting``
    the experiment of each model and scale, training and predicting per IGBP group;
``result``
    :class:`GuidedResult` (scores, cross-scale tests, Taylor statistics, SHAP per scale,
    saving) and :func:`taylor_statistics`;
``workflow``
    :func:`run_guided`, :func:`load_guided` and :func:`load_guided_config`.

See :mod:`fluxgrid.studies.guided.workflow` for the protocol and how it keeps the test
period out of the training data.

Examples
--------
>>> from fluxgrid.studies.guided import GuidedConfig, run_guided
>>> cfg = GuidedConfig()
>>> cfg.seasonal.lookback, cfg.interannual.lookback
(90, 365)
"""

from ..common import igbp_groups
from .config import GuidedConfig, GuidedModelConfig, ScalesConfig, ScaleWindowConfig
from .result import KINDS, GuidedResult, taylor_statistics
from .scales import SCALES, ScaleData, decompose_predictions, prepare_scales
from .workflow import load_guided, load_guided_config, run_guided

__all__ = [
    "KINDS",
    "SCALES",
    "GuidedConfig",
    "GuidedModelConfig",
    "GuidedResult",
    "ScaleData",
    "ScaleWindowConfig",
    "ScalesConfig",
    "decompose_predictions",
    "igbp_groups",
    "load_guided",
    "load_guided_config",
    "prepare_scales",
    "run_guided",
    "taylor_statistics",
]
