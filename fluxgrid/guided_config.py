"""Deprecated: the guided workflow's config moved to :mod:`fluxgrid.studies.guided.config`."""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        name: "fluxgrid.studies.guided.config"
        for name in ("GuidedConfig", "GuidedModelConfig", "ScaleWindowConfig", "ScalesConfig")
    },
)
