"""Deprecated: the GPP study moved to :mod:`fluxgrid.studies.gpp`."""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        "GppData": "fluxgrid.studies.gpp.data",
        "GppFit": "fluxgrid.studies.gpp.fitting",
        "GppStudyConfig": "fluxgrid.studies.gpp.config",
        "GppStudyResult": "fluxgrid.studies.gpp.workflow",
        "SETTINGS": "fluxgrid.studies.gpp.scores",
        "compare_models": "fluxgrid.studies.gpp.scores",
        "extreme_days": "fluxgrid.studies.gpp.scores",
        "first_years_split": "fluxgrid.studies.gpp.data",
        "fit_gpp_models": "fluxgrid.studies.gpp.fitting",
        "gpp_experiment": "fluxgrid.studies.gpp.fitting",
        "gpp_importance": "fluxgrid.studies.gpp.importance",
        "gpp_predictions": "fluxgrid.studies.gpp.fitting",
        "gpp_scores": "fluxgrid.studies.gpp.scores",
        "importance_ranking": "fluxgrid.studies.gpp.importance",
        "load_gpp_config": "fluxgrid.studies.gpp.workflow",
        "load_gpp_data": "fluxgrid.studies.gpp.data",
        "run_gpp_study": "fluxgrid.studies.gpp.workflow",
        "score_summary": "fluxgrid.studies.gpp.scores",
    },
)
