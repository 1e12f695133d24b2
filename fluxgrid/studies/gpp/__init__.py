"""The forest GPP study: RNN vs GRU vs LSTM on daily GPP, full year, growing season, extremes.

The study is declared over the core's computations (site-cube chain, QC, clear-sky
radiation, gap filling, training and search, scores, permutation importance), one module a
job:

``config``
    :class:`GppStudyConfig` and its sections (strict YAML);
``data``
    :func:`load_gpp_data` and :class:`GppData`: sites, QC with a reason per dropped site,
    predictors, :func:`first_years_split`;
``fitting``
    :func:`gpp_experiment`, :func:`fit_gpp_models` (Hyperband per model and group),
    :func:`gpp_predictions`;
``scores``
    :func:`extreme_days`, :func:`gpp_scores`, :func:`score_summary`, :func:`compare_models`;
``importance``
    :func:`gpp_importance`, :func:`importance_ranking`;
``workflow``
    :func:`run_gpp_study`, :class:`GppStudyResult` (saving), :func:`load_gpp_config`.

See :mod:`fluxgrid.studies.gpp.workflow` for the protocol.

Examples
--------
>>> from fluxgrid.studies.gpp import GppStudyConfig
>>> GppStudyConfig().predictor_names()
['ta', 'sw_in', 'vpd', 'sw_clearsky']
"""

from .config import (
    FOREST_IGBP,
    ExtremesConfig,
    GppDataConfig,
    GppModelConfig,
    GppPredictorConfig,
    GppSplitConfig,
    GppStudyConfig,
    ImportanceConfig,
)
from .data import GppData, first_years_split, load_gpp_data
from .fitting import GppFit, ensemble_label, fit_gpp_models, gpp_experiment, gpp_predictions
from .importance import gpp_importance, importance_ranking
from .scores import SETTINGS, compare_models, extreme_days, gpp_scores, score_summary
from .workflow import GppStudyResult, load_gpp_config, run_gpp_study

__all__ = [
    "FOREST_IGBP",
    "SETTINGS",
    "ExtremesConfig",
    "GppData",
    "GppDataConfig",
    "GppFit",
    "GppModelConfig",
    "GppPredictorConfig",
    "GppSplitConfig",
    "GppStudyConfig",
    "GppStudyResult",
    "ImportanceConfig",
    "compare_models",
    "ensemble_label",
    "extreme_days",
    "first_years_split",
    "fit_gpp_models",
    "gpp_experiment",
    "gpp_importance",
    "gpp_predictions",
    "gpp_scores",
    "importance_ranking",
    "load_gpp_config",
    "load_gpp_data",
    "run_gpp_study",
    "score_summary",
]
