"""Deprecated: the experiment configs moved to :mod:`fluxgrid.config.experiment`."""

from ._deprecation import moved
from .config.experiment import __all__ as moved_names

__getattr__, __dir__ = moved(
    __name__,
    {
        **dict.fromkeys(moved_names, "fluxgrid.config.experiment"),
        "check_model_specs": "fluxgrid.training.build",
    },
)
