"""The models of the GPP study: one experiment per model type, tuned and fitted per group.

:func:`gpp_experiment` declares the :class:`~fluxgrid.config.ExperimentConfig` of a model
type; :func:`fit_gpp_models` tunes it with Hyperband (or trains its fixed parameters) on
every group of sites (one pooled model, one per IGBP class or one per site), with the
seed ensemble of ``cfg.ensemble`` beside each, and :func:`gpp_predictions` predicts every
complete window of each model's sites (an ensemble by its members' mean, labelled
:func:`ensemble_label`).

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GppStudyConfig, {"lookback": 60})
>>> exp = gpp_experiment(cfg, "gru", cfg.predictor_names())
>>> exp.model.name, exp.windows.lookback, exp.search.method
('gru', 60, 'hyperband')
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import xarray as xr

from ...config.experiment import ExperimentConfig
from ...config.serialise import to_dict
from ...runs import TrainedRun
from ...training.build import check_experiment
from ...training.ensemble import ensemble_predictions, fit_member
from ...training.prepared import prepare_from_cube
from ...training.tuning import search_or_fit
from ..common import concat_sites, ensemble_label, study_experiment
from .config import GppStudyConfig
from .data import GppData

__all__ = [
    "GppFit",
    "check_models",
    "ensemble_label",
    "fit_gpp_models",
    "gpp_experiment",
    "gpp_predictions",
]


def gpp_experiment(cfg: GppStudyConfig, label: str, predictors: Sequence[str]) -> ExperimentConfig:
    """The :class:`~fluxgrid.config.ExperimentConfig` of one model of the study.

    The split is given as data (:func:`~fluxgrid.studies.gpp.data.first_years_split`, saved
    as ``split.nc`` with every run), so the experiment's ``split`` section only records the
    validation carving.
    """
    return study_experiment(
        cfg,
        label,
        drivers=predictors,
        split={
            "method": "temporal",
            "test_fraction": cfg.split.test_fraction,
            "validation": cfg.split.validation,
            "val_fraction": cfg.split.val_fraction,
            "seed": 0,
        },
        windows={"lookback": cfg.lookback, "static": ["doy"] if cfg.predictors.day_of_year else []},
        search=to_dict(cfg.search),
        description=(
            f"GPP study: {label}; split by years per site (first "
            f"{1 - cfg.split.test_fraction:.0%} train, see split.nc)"
        ),
    )


def check_models(cfg: GppStudyConfig, predictors: Sequence[str] | None = None) -> None:
    """Model names, parameters and search spaces of every model, before any data is read."""
    for label in cfg.models:
        names = cfg.predictor_names() if predictors is None else predictors
        check_experiment(gpp_experiment(cfg, label, names))


@dataclasses.dataclass
class GppFit:
    """One fitted model of the study (a model type on one group of sites).

    Attributes
    ----------
    run
        The trained model with its scaler and input recipe (predicts on site cubes).
    history
        Per-epoch losses of the chosen model (``best_epoch`` in its attributes).
    search
        One row per Hyperband trial (``None`` without a search).
    sites
        Sites the model was trained on.
    windows
        Window counts per part (``train``, ``val``, ``test``).
    seconds
        Wall time of the search / training.
    members
        The seed ensemble with the chosen settings, ``{seed: (run, history)}`` (empty
        without ``ensemble.seeds``).
    member_seconds
        Wall time of training the members.
    """

    run: TrainedRun
    history: xr.Dataset
    search: xr.Dataset | None
    sites: list[str]
    windows: dict[str, int]
    seconds: float
    members: dict[int, tuple[TrainedRun, xr.Dataset]] = dataclasses.field(default_factory=dict)
    member_seconds: float = 0.0

    def params(self) -> dict[str, Any]:
        """The chosen model parameters and learning rate."""
        return {**self.run.config.model.params, "lr": self.run.config.train.lr}


def fit_gpp_models(
    data: GppData,
    cfg: GppStudyConfig,
    *,
    note: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], GppFit]:
    """Tune (Hyperband) or train every model type on every group of sites.

    Parameters
    ----------
    data
        From :func:`~fluxgrid.studies.gpp.data.load_gpp_data`.
    cfg
        The study configuration (``models``, ``train``, ``search``, ``lookback``).
    note
        Called with one line per fitted model.

    Returns
    -------
    dict
        ``{(model label, group): GppFit}``.
    """
    say = note or (lambda _msg: None)
    check_models(cfg, data.predictors)
    fits: dict[tuple[str, str], GppFit] = {}
    for label in cfg.models:
        exp = gpp_experiment(cfg, label, data.predictors)
        for group, sites in data.groups.items():
            start = time.perf_counter()
            sub = data.cube.sel(site=sites)
            prepared = prepare_from_cube(exp, sub, split=data.split.sel(site=sites))
            model, history, table = search_or_fit(prepared)
            run = TrainedRun.from_prepared(prepared, model)
            counts = {p: len(prepared.part(p)) for p in ("train", "val", "test")}
            seconds = time.perf_counter() - start
            fit = fits[(label, group)] = GppFit(run, history, table, list(sites), counts, seconds)
            trials = "" if fit.search is None else f", {fit.search.sizes['trial']} trials"
            say(
                f"{label} [{group}: {len(sites)} sites, {fit.windows['train']} training windows"
                f"{trials}]: {fit.params()} in {fit.seconds:.0f} s"
            )
            if cfg.ensemble.seeds:
                start = time.perf_counter()
                fit.members = {s: fit_member(prepared, s) for s in cfg.ensemble.seeds}
                fit.member_seconds = time.perf_counter() - start
                say(
                    f"{ensemble_label(label, len(fit.members))} [{group}]: seeds "
                    f"{list(fit.members)} in {fit.member_seconds:.0f} s"
                )
    return fits


def gpp_predictions(data: GppData, fits: Mapping[tuple[str, str], GppFit]) -> dict[str, xr.Dataset]:
    """Predictions of every model on every complete input window of its sites.

    Returns
    -------
    dict
        ``{model label: Dataset}`` with ``obs``, ``pred``, ``part`` on the cube's
        ``(site, time)`` (NaN where no window ends), gC m-2 d-1; for each seed ensemble
        (label :func:`ensemble_label`) ``pred`` is the members' mean, ``pred_std`` their
        standard deviation and ``pred_member`` ``(member, site, time)`` each member's (the
        ``member`` coordinate holds the seeds).
    """
    pieces: dict[str, list[xr.Dataset]] = {}
    for (label, _group), fit in fits.items():
        sub = data.cube.sel(site=fit.sites)
        split = data.split.sel(site=fit.sites)
        pieces.setdefault(label, []).append(fit.run.predict(sub, split=split))
        if fit.members:
            members = [run.predict(sub, split=split) for run, _ in fit.members.values()]
            mean = ensemble_predictions(members, list(fit.members))
            key = ensemble_label(label, len(members))
            pieces.setdefault(key, []).append(mean)
    out = {}
    for label, parts in pieces.items():
        merged = concat_sites(parts, data.cube["site"].values)
        merged.attrs.update(model=label)
        out[label] = merged
    return out
