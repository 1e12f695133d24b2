"""Deprecated: training moved to :mod:`fluxgrid.training`, runs to :mod:`fluxgrid.runs`."""

from ._deprecation import moved

__getattr__, __dir__ = moved(
    __name__,
    {
        "Prepared": "fluxgrid.training.prepared",
        "prepare": "fluxgrid.training.prepared",
        "prepare_from_cube": "fluxgrid.training.prepared",
        "build_model": "fluxgrid.training.build",
        "check_experiment": "fluxgrid.training.build",
        "fit_model": "fluxgrid.training.build",
        "load_experiment": "fluxgrid.training.build",
        "fit_torch": "fluxgrid.training.fit",
        "search": "fluxgrid.training.tuning",
        "train_experiment": "fluxgrid.training.experiment",
        "cross_site_transfer": "fluxgrid.training.transfer",
        "load_data": "fluxgrid.prep.pipeline",
        "TrainedRun": "fluxgrid.runs",
        "load_run": "fluxgrid.runs",
        "predict_with": "fluxgrid.runs",
        "predictions_dataset": "fluxgrid.runs",
    },
)
