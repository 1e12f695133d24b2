"""Deprecated: the guided workflow moved to :mod:`fluxgrid.studies.guided`."""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        "GuidedConfig": "fluxgrid.studies.guided.config",
        "GuidedResult": "fluxgrid.studies.guided.result",
        "KINDS": "fluxgrid.studies.guided.result",
        "SCALES": "fluxgrid.studies.guided.scales",
        "ScaleData": "fluxgrid.studies.guided.scales",
        "decompose_predictions": "fluxgrid.studies.guided.scales",
        "igbp_groups": "fluxgrid.studies.common",
        "load_guided": "fluxgrid.studies.guided.workflow",
        "load_guided_config": "fluxgrid.studies.guided.workflow",
        "prepare_scales": "fluxgrid.studies.guided.scales",
        "run_guided": "fluxgrid.studies.guided.workflow",
        "taylor_statistics": "fluxgrid.studies.guided.result",
    },
)
