"""Configuration of scale-knowledge-guided training (see :mod:`fluxgrid.studies.guided`).

One frozen dataclass, :class:`GuidedConfig`, holds the data selection, the gap filling and
SSA settings, the split, the IGBP grouping, the windows of each scale and the models
compared. It is loaded strictly (unknown keys fail with their path) and written into the
output folder of every run; ``recipes/scale_guided.yaml`` is an example.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GuidedConfig, {"data": {"source": "demo"},
...                                "models": {"lstm": {"params": {"hidden": 16}}}})
>>> cfg.interannual.lookback, cfg.scales.decompose
(365, 'train_separately')
>>> from_dict(GuidedConfig, {"scales": {"window": 0.8}})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: ScalesConfig.window: a share must be in (0, 0.5] of each record ...
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from ...config.experiment import DataConfig, EnsembleConfig, SplitConfig, TrainConfig
from ...errors import ConfigError
from ...training.build import check_model_specs
from ..common import StudyModelConfig, StudyModels, ensemble_label

__all__ = ["GuidedConfig", "GuidedModelConfig", "ScaleWindowConfig", "ScalesConfig"]


@dataclasses.dataclass(frozen=True)
class ScalesConfig:
    """Gap filling of the drivers and SSA of drivers, target and end-to-end predictions.

    Attributes
    ----------
    max_gap, long_gaps, min_count
        Driver gap filling (:func:`fluxgrid.prep.gapfill.gapfill`): linear over gaps of up to
        ``max_gap`` days, longer gaps by the day-of-year mean (``long_gaps: climatology``)
        from at least ``min_count`` observed years. Drivers must be gap-free for SSA.
    window
        SSA embedding window: a share (0, 0.5] of each site's record, or a number of days.
    rank, seasonal_max, trend_min, period_unit, solver, oversample, power_iterations, seed
        SSA settings (:func:`fluxgrid.prep.ssa.ssa`); seasonal below 16 months, interannual
        16-128 months by default. The target and the end-to-end predictions are decomposed
        over their longest gap-free span (``on_gaps="longest"``), the gap-filled drivers
        over their whole record.
    decompose
        ``train_separately`` (default): the training data (drivers and target) are
        decomposed from the training period alone, so nothing after the test boundary
        reaches the models; test inputs and the scoring truth come from the decomposition of
        the whole record. ``whole_record``: one decomposition of the whole record for
        everything (as in the scale-guided study; SSA is non-causal, so training
        components near the boundary carry information from the test period).
    """

    max_gap: int = 5
    long_gaps: Literal["climatology", "none"] = "climatology"
    min_count: int = 1
    window: int | float = 0.5
    rank: int | None = 64
    seasonal_max: float = 16.0
    trend_min: float = 128.0
    period_unit: Literal["months", "days"] = "months"
    solver: Literal["auto", "randomized", "full"] = "auto"
    oversample: int = 24
    power_iterations: int = 8
    seed: int = 0
    decompose: Literal["train_separately", "whole_record"] = "train_separately"

    def validate(self) -> None:
        """Check value ranges."""
        if self.max_gap < 0 or self.min_count < 1:
            raise ConfigError("ScalesConfig: need max_gap >= 0 and min_count >= 1")
        if isinstance(self.window, float) and not 0 < self.window <= 0.5:
            raise ConfigError(
                f"ScalesConfig.window: a share must be in (0, 0.5] of each record (SSA needs "
                f"a window of at most half the series), got {self.window}"
            )
        if isinstance(self.window, int) and self.window < 2:
            raise ConfigError("ScalesConfig.window: at least 2 days")
        if self.rank is not None and self.rank < 1:
            raise ConfigError("ScalesConfig.rank: a positive integer or null (all components)")
        if not 0 < self.seasonal_max < self.trend_min:
            raise ConfigError("ScalesConfig: need 0 < seasonal_max < trend_min")

    def ssa_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`fluxgrid.prep.ssa.ssa` (without ``on_gaps``)."""
        return {
            "window": self.window,
            "rank": self.rank,
            "seasonal_max": self.seasonal_max,
            "trend_min": self.trend_min,
            "period_unit": self.period_unit,
            "solver": self.solver,
            "oversample": self.oversample,
            "power_iterations": self.power_iterations,
            "seed": self.seed,
        }


@dataclasses.dataclass(frozen=True)
class ScaleWindowConfig:
    """Windows and extra inputs of the models of one scale.

    Attributes
    ----------
    lookback
        Days per input window (the target day included).
    static
        Extra inputs: ``doy`` (day-of-year sine/cosine), ``latlon`` (site latitude and
        longitude), ``igbp`` (one-hot; only useful for groups pooling several classes).
    """

    lookback: int = 90
    static: tuple[Literal["doy", "latlon", "igbp"], ...] = ("doy", "latlon")

    def validate(self) -> None:
        """Check value ranges."""
        if self.lookback < 1:
            raise ConfigError("ScaleWindowConfig.lookback: expected a positive number of days")


@dataclasses.dataclass(frozen=True)
class GuidedModelConfig(StudyModelConfig):
    """One model type trained at every scale (and end to end).

    Attributes
    ----------
    name
        Registered model name (``lstm``, ``gru``, ``ilstm``, ``fnn``, ``lasso``, ``svr``,
        ``rf``); default: the key of the ``models`` mapping.
    params
        Model hyper-parameters (checked against the model before training).
    train
        Overrides of :class:`~fluxgrid.config.TrainConfig` for this model
        (e.g. ``{epochs: 20}``).
    """


@dataclasses.dataclass(frozen=True)
class GuidedConfig(StudyModels):
    """Scale-knowledge-guided training and its comparison with end-to-end models.

    Attributes
    ----------
    data
        Sites, drivers, target, QC and the minimum record (``min_years`` counts years of
        valid target values after QC).
    scales
        Gap filling and SSA (:class:`ScalesConfig`).
    split
        Train / validation / test split (default: last 20% of each record is test, the last
        20% of the rest validation).
    groups
        ``igbp``: one model per IGBP group; ``pooled``: one model for all sites.
    min_group_sites
        IGBP classes with fewer sites are pooled into one group ``other``.
    seasonal, interannual, end_to_end
        Windows of the seasonal, interannual and end-to-end (raw data) models.
    models
        Model types compared, ``{label: GuidedModelConfig}``; each is trained on the
        seasonal and the interannual components and on the raw data.
    train
        Optimisation settings shared by all models (overridden per model).
    cross_scale
        Also score each scale's model on the other scale's inputs and targets.
    ensemble
        Seed ensembles beside the single models (``{seeds: [0, 1, 2]}``): each model of
        ``ensemble_models`` is trained once per seed at every scale and group, and the
        members' mean is scored as model ``<label>_x<n>`` (e.g. ``lstm_x3``, see
        :meth:`ensemble_labels`). The member whose seed is the model's own ``train.seed``
        is the single model itself (same settings, not trained twice). Empty (default):
        no ensembles.
    ensemble_models
        Labels of ``models`` trained as ensembles; empty (default): every label.
    description
        Free text kept with the run.

    Examples
    --------
    >>> from fluxgrid.config import from_dict
    >>> cfg = from_dict(GuidedConfig, {"models": {"lstm": {}, "rf": {}},
    ...                                "ensemble": {"seeds": [0, 1]}, "ensemble_models": ["lstm"]})
    >>> cfg.ensemble_labels()
    {'lstm': 'lstm_x2'}
    """

    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(min_years=5.0))
    scales: ScalesConfig = ScalesConfig()
    split: SplitConfig = dataclasses.field(
        default_factory=lambda: SplitConfig(method="temporal", test_fraction=0.2, validation="tail")
    )
    groups: Literal["igbp", "pooled"] = "igbp"
    min_group_sites: int = 1
    seasonal: ScaleWindowConfig = ScaleWindowConfig(lookback=90)
    interannual: ScaleWindowConfig = ScaleWindowConfig(lookback=365)
    end_to_end: ScaleWindowConfig = ScaleWindowConfig(lookback=365)
    models: dict[str, GuidedModelConfig] = dataclasses.field(
        default_factory=lambda: {"lstm": GuidedModelConfig(params={"hidden": 32})}
    )
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(epochs=20, patience=3)
    )
    cross_scale: bool = True
    ensemble: EnsembleConfig = dataclasses.field(default_factory=EnsembleConfig)
    ensemble_models: tuple[str, ...] = ()
    description: str = ""

    def validate(self) -> None:
        """Check the models (names, parameters, training overrides) and the grouping."""
        if self.min_group_sites < 1:
            raise ConfigError("GuidedConfig.min_group_sites: expected at least 1")
        check_model_specs(self.models, self.train, "GuidedConfig")
        unknown = [label for label in self.ensemble_models if label not in self.models]
        if unknown:
            raise ConfigError(
                f"GuidedConfig.ensemble_models: {unknown} are not labels of models "
                f"({', '.join(self.models)})"
            )
        if self.ensemble_models and not self.ensemble.seeds:
            raise ConfigError(
                "GuidedConfig.ensemble_models: set ensemble.seeds (at least two) to train "
                "ensembles, or remove ensemble_models"
            )
        taken = [name for name in self.ensemble_labels().values() if name in self.models]
        if taken:
            raise ConfigError(
                f"GuidedConfig.models: {taken} are also the labels of seed ensembles; "
                "rename those models"
            )

    def scored_labels(self) -> list[str]:
        """Every label scored: the models in configuration order, then their ensembles'."""
        return [*self.models, *self.ensemble_labels().values()]

    def ensemble_labels(self) -> dict[str, str]:
        """``{model label: ensemble label}`` of the models trained as seed ensembles."""
        if not self.ensemble.seeds:
            return {}
        chosen = self.ensemble_models or tuple(self.models)
        return {label: ensemble_label(label, len(self.ensemble.seeds)) for label in chosen}
