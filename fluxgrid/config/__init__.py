"""Strict, serialisable configuration: one frozen dataclass per stage.

:mod:`~fluxgrid.config.serialise` turns plain data and YAML files into frozen dataclasses
(unknown keys and wrong types fail with the key path) and back;
:mod:`~fluxgrid.config.stages` holds the configs of the single-step stages (drivers,
upscaling, the demo) and :mod:`~fluxgrid.config.experiment` those of a training experiment.
The remote-sensing configs live with their stage (:mod:`fluxgrid.rs.config`), the study
configs with their studies (:mod:`fluxgrid.studies`); the ones re-exported here are
importable from ``fluxgrid.config`` as before.

Examples
--------
>>> from fluxgrid.config import UpscaleConfig, from_dict
>>> cfg = from_dict(UpscaleConfig, {"runs": ["runs/lstm"], "drivers": "drivers.zarr"})
>>> cfg.device
'auto'
>>> from_dict(UpscaleConfig, {"run": ["runs/lstm"]})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: UpscaleConfig: unknown key 'run'; known keys: runs, drivers, ...
"""

from __future__ import annotations

from .._deprecation import moved
from ..rs.config import ClearSkyConfig, LSTConfig, S1Config, S2Config, StacConfig
from .experiment import (
    DataConfig,
    EnsembleConfig,
    ExperimentConfig,
    FineTuneConfig,
    ModelConfig,
    SearchConfig,
    SearchParam,
    SplitConfig,
    TrainConfig,
    WindowConfig,
)
from .serialise import dump_config, from_dict, load_config, to_dict
from .stages import DriversConfig, QuickstartConfig, UpscaleConfig

__all__ = [
    "ClearSkyConfig",
    "DataConfig",
    "DriversConfig",
    "EnsembleConfig",
    "ExperimentConfig",
    "FineTuneConfig",
    "LSTConfig",
    "ModelConfig",
    "QuickstartConfig",
    "S1Config",
    "S2Config",
    "SearchConfig",
    "SearchParam",
    "SplitConfig",
    "StacConfig",
    "TrainConfig",
    "UpscaleConfig",
    "WindowConfig",
    "dump_config",
    "from_dict",
    "load_config",
    "to_dict",
]

# the study configs moved beside their workflows (they check models, which needs torch)
__getattr__, __dir__ = moved(
    __name__,
    {
        "GuidedConfig": "fluxgrid.studies.guided.config",
        "GuidedModelConfig": "fluxgrid.studies.guided.config",
        "ScalesConfig": "fluxgrid.studies.guided.config",
        "ScaleWindowConfig": "fluxgrid.studies.guided.config",
    },
)
