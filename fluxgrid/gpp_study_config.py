"""Deprecated: the GPP study's config moved to :mod:`fluxgrid.studies.gpp.config`."""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        name: "fluxgrid.studies.gpp.config"
        for name in (
            "FOREST_IGBP",
            "ExtremesConfig",
            "GppDataConfig",
            "GppModelConfig",
            "GppPredictorConfig",
            "GppSplitConfig",
            "GppStudyConfig",
            "ImportanceConfig",
        )
    },
)
