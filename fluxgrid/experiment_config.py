"""Deprecated: the experiment configs moved to :mod:`fluxgrid.config.experiment`."""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        **{
            name: "fluxgrid.config.experiment"
            for name in (
                "DataConfig",
                "ExperimentConfig",
                "ModelConfig",
                "SearchConfig",
                "SearchParam",
                "SplitConfig",
                "TrainConfig",
                "WindowConfig",
            )
        },
        "check_model_specs": "fluxgrid.training.build",
    },
)
