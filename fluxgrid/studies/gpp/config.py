"""Configuration of the forest GPP study: RNN vs GRU vs LSTM (see :mod:`fluxgrid.studies.gpp`).

One frozen dataclass, :class:`GppStudyConfig`, holds the site selection and quality control,
the predictors, the temporal split by years, the models with their Hyperband search, the
extreme-event definition and the permutation importance. It is loaded strictly (unknown keys
fail with their path) and written into the output folder of every run;
``recipes/gpp_rnn.yaml`` is the commented example.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GppStudyConfig, {"data": {"source": "demo"}, "lookback": 90})
>>> sorted(cfg.models), cfg.train.loss, cfg.search.method
(['gru', 'lstm', 'rnn'], 'mae', 'hyperband')
>>> cfg.predictor_names()
['ta', 'sw_in', 'vpd', 'sw_clearsky']
>>> from_dict(GppStudyConfig, {"split": {"test_fraction": 1.5}})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: GppSplitConfig.test_fraction: expected a share between 0 and 1 ...
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ...config.experiment import EnsembleConfig, SearchConfig, SearchParam, TrainConfig
from ...errors import ConfigError
from ...training.build import check_model_specs
from ..common import StudyModelConfig, StudyModels

__all__ = [
    "FOREST_IGBP",
    "ExtremesConfig",
    "GppDataConfig",
    "GppModelConfig",
    "GppPredictorConfig",
    "GppSplitConfig",
    "GppStudyConfig",
    "ImportanceConfig",
]

#: IGBP forest classes of the GPP study (evergreen needleleaf, deciduous broadleaf, mixed,
#: evergreen broadleaf)
FOREST_IGBP = ("ENF", "DBF", "MF", "EBF")


@dataclasses.dataclass(frozen=True)
class GppDataConfig:
    """Sites, target and quality control.

    Attributes
    ----------
    source
        ``demo`` (bundled 5 FLUXNET2015 forest sites), the FLUXNET2015 ``hh.zarr``, a site
        cube written by fluxgrid (e.g. by the ``rs_cube`` recipe) or FLUXNET files.
    sites, exclude_sites
        Keep only / leave out these sites (``sites: null``: every site that passes the
        other criteria).
    igbp
        Vegetation classes kept, from the cube's ``igbp`` coordinate (default: the forest
        classes ENF, DBF, MF, EBF).
    bbox
        ``[lon_min, lat_min, lon_max, lat_max]`` in degrees (e.g. Europe), or ``null``.
    period
        ``[start, end]`` dates; ``null``: the whole record.
    target
        Daily target, ``gpp_nt`` (night-time partitioning) in the study.
    qc_threshold
        Target days whose QC fraction (share of measured or good gap-filled half-hours of
        NEE) is below this are discarded (0.7).
    drop_negative_gpp
        Discard negative GPP days.
    min_valid_fraction
        Sites with a smaller share of valid target days (in ``period`` when given, else in
        their own record) are dropped; :func:`fluxgrid.prep.qc.qc_mask` reports which and why.
    """

    source: str = "demo"
    sites: tuple[str, ...] | None = None
    exclude_sites: tuple[str, ...] = ()
    igbp: tuple[str, ...] | None = FOREST_IGBP
    bbox: tuple[float, float, float, float] | None = None
    period: tuple[str, str] | None = None
    target: str = "gpp_nt"
    qc_threshold: float = 0.7
    drop_negative_gpp: bool = True
    min_valid_fraction: float = 0.6

    def validate(self) -> None:
        """Check value ranges."""
        if not 0 <= self.qc_threshold <= 1:
            raise ConfigError("GppDataConfig.qc_threshold: expected a fraction between 0 and 1")
        if not 0 <= self.min_valid_fraction <= 1:
            raise ConfigError(
                "GppDataConfig.min_valid_fraction: expected a fraction between 0 and 1"
            )
        if self.bbox is not None:
            lon0, lat0, lon1, lat1 = self.bbox
            if not (-180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90):
                raise ConfigError(
                    f"GppDataConfig.bbox: {list(self.bbox)}; expected [lon_min, lat_min, "
                    "lon_max, lat_max] in degrees, e.g. [-25, 34, 45, 72] for Europe"
                )
        if self.period is not None:
            import pandas as pd

            try:
                start, end = (pd.Timestamp(str(v)) for v in self.period)
            except ValueError as err:
                raise ConfigError(
                    f"GppDataConfig.period: {list(self.period)}; expected [start, end] dates, "
                    "e.g. ['2000-01-01', '2014-12-31']"
                ) from err
            if start > end:
                raise ConfigError("GppDataConfig.period: start is after end")


@dataclasses.dataclass(frozen=True)
class GppPredictorConfig:
    """Model inputs.

    Attributes
    ----------
    drivers
        Meteorological drivers of the site cube (``ta``, ``sw_in``, ``vpd``).
    clearsky
        Add the simulated daily clear-sky shortwave radiation ``sw_clearsky``
        (:func:`fluxgrid.rs.radiation.add_clearsky`) as an input; an ``sw_clearsky`` already
        in the cube is used as it is.
    clearsky_model
        ``ineichen`` or ``haurwitz`` (see :class:`fluxgrid.rs.config.ClearSkyConfig`).
    day_of_year
        Day of year as input (sine and cosine, one importance group ``doy``).
    extra
        Further predictors taken from the source cube or ``rs_cube``: the Sentinel-1/-2 and
        MODIS variables of the study when a remote-sensing cube has them (e.g. ``[ndvi, evi,
        vh, vv, lst_day]``).
    rs_cube
        A site cube (Zarr or NetCDF, e.g. written by the ``rs_cube`` recipe) whose ``extra``
        variables (and ``sw_clearsky``) are joined on ``(site, time)``; ``null``: none.
    max_gap
        Predictor gaps of up to this many days are linearly interpolated
        (:func:`fluxgrid.prep.gapfill.gapfill`); longer gaps stay missing and the windows
        touching them are skipped (counted in the window report). The target is never
        filled.
    """

    drivers: tuple[str, ...] = ("ta", "sw_in", "vpd")
    clearsky: bool = True
    clearsky_model: Literal["ineichen", "haurwitz"] = "ineichen"
    day_of_year: bool = True
    extra: tuple[str, ...] = ()
    rs_cube: str | None = None
    max_gap: int = 30

    def validate(self) -> None:
        """Check names and ranges."""
        names = [*self.drivers, *self.extra]
        if not names and not self.clearsky:
            raise ConfigError("GppPredictorConfig: give at least one driver")
        if len(set(names)) != len(names) or (self.clearsky and "sw_clearsky" in names):
            raise ConfigError(
                f"GppPredictorConfig: predictor names repeat ({names}"
                f"{', sw_clearsky' if self.clearsky else ''}); list each once"
            )
        if self.max_gap < 0:
            raise ConfigError("GppPredictorConfig.max_gap: expected 0 or a number of days")


@dataclasses.dataclass(frozen=True)
class GppSplitConfig:
    """Temporal split by whole years per site (:func:`fluxgrid.studies.gpp.first_years_split`).

    Attributes
    ----------
    test_fraction
        Share of each site's years (with valid target days) at the end of its record used
        for testing; 0.4 trains on the first 60% of the years.
    validation
        How validation days (best checkpoint, Hyperband) are carved from the training years:
        ``tail`` (the last ``val_fraction`` of each site's valid training days) or ``years``
        (whole training years drawn at random). The test years are never touched.
    val_fraction
        Share of the training part moved to validation.
    seed
        Seed of the ``years`` draw.
    """

    test_fraction: float = 0.4
    validation: Literal["tail", "years"] = "tail"
    val_fraction: float = 0.2
    seed: int = 0

    def validate(self) -> None:
        """Check the shares."""
        if not 0 < self.test_fraction < 1:
            raise ConfigError(
                f"GppSplitConfig.test_fraction: expected a share between 0 and 1 (0.4 tests "
                f"the last 40% of each site's years), got {self.test_fraction}"
            )
        if not 0 < self.val_fraction < 1:
            raise ConfigError(
                "GppSplitConfig.val_fraction: expected a share between 0 and 1 (the best "
                "checkpoint is chosen on validation data)"
            )


@dataclasses.dataclass(frozen=True)
class GppModelConfig(StudyModelConfig):
    """One model compared (its search space is :attr:`GppStudyConfig.search`).

    Attributes
    ----------
    name
        Registered model name (``rnn``, ``gru``, ``lstm``); default: the key in ``models``.
    params
        Fixed model parameters (dropout 0.2 in the study); searched ones override them.
    train
        Overrides of :attr:`GppStudyConfig.train` for this model.
    """


@dataclasses.dataclass(frozen=True)
class ExtremesConfig:
    """Climate-induced extremes (see :func:`fluxgrid.evaluate.climate_extremes`).

    Attributes
    ----------
    quantile
        Days whose anomaly from the mean seasonal cycle of observed GPP is below this
        quantile (0.1) ...
    tail
        ... of the negative anomalies (``negative``, the study's "negative tail") or of all
        anomalies (``all``) ...
    min_duration
        ... for at least this many consecutive days (5) are extreme.
    smooth_days
        Circular moving average of the mean seasonal cycle (0: none).
    min_days
        Sites with fewer extreme test days get no extreme score (NaN): an NRMSE normalised
        by the range of a handful of days is not comparable.
    """

    quantile: float = 0.1
    tail: Literal["negative", "all"] = "negative"
    min_duration: int = 5
    smooth_days: int = 0
    min_days: int = 10

    def validate(self) -> None:
        """Check ranges."""
        if not 0 < self.quantile < 1:
            raise ConfigError("ExtremesConfig.quantile: expected a quantile between 0 and 1")
        if self.min_duration < 1 or self.min_days < 2 or self.smooth_days < 0:
            raise ConfigError(
                "ExtremesConfig: need min_duration >= 1, min_days >= 2, smooth_days >= 0"
            )


@dataclasses.dataclass(frozen=True)
class ImportanceConfig:
    """Permutation importance (see :func:`fluxgrid.explain.permutation_importance`).

    Attributes
    ----------
    enabled
        Compute it (``false`` skips the step).
    n_repeats
        Shuffles per predictor (10).
    metric
        Error metric whose increase is the importance (``nrmse``).
    within
        Shuffle windows within each site (``site``) or across all sites (``all``).
    part
        Windows scored (``test``).
    max_windows_per_site
        Score at most this many randomly chosen windows per site (``null``: all); bounds
        the cost on a CPU.
    seed
        Seed of the shuffles and of the window draw.
    """

    enabled: bool = True
    n_repeats: int = 10
    metric: Literal["nrmse", "rmse", "mae", "r2"] = "nrmse"
    within: Literal["site", "all"] = "site"
    part: Literal["test", "val", "train"] = "test"
    max_windows_per_site: int | None = None
    seed: int = 0

    def validate(self) -> None:
        """Check ranges."""
        if self.n_repeats < 1:
            raise ConfigError("ImportanceConfig.n_repeats: expected at least 1")
        if self.max_windows_per_site is not None and self.max_windows_per_site < 2:
            raise ConfigError("ImportanceConfig.max_windows_per_site: expected null or >= 2")


def _default_models() -> dict[str, GppModelConfig]:
    return {name: GppModelConfig(params={"dropout": 0.2}) for name in ("rnn", "gru", "lstm")}


def _default_search() -> SearchConfig:
    return SearchConfig(
        method="hyperband",
        space={
            "model.layers": SearchParam(low=1, high=5, integer=True),
            "model.hidden": SearchParam(choices=(32, 64, 128, 256, 512)),
            "train.lr": SearchParam(low=1e-4, high=1e-2, log=True),
        },
        n_trials=30,
        metric="val_loss",
        min_epochs=1,
        reduction_factor=3,
    )


@dataclasses.dataclass(frozen=True)
class GppStudyConfig(StudyModels):
    """Daily GPP at forest towers with RNN, GRU and LSTM; scores, extremes, importance.

    Attributes
    ----------
    data
        Sites, target, QC (:class:`GppDataConfig`).
    predictors
        Inputs (:class:`GppPredictorConfig`).
    split
        Temporal split by years (:class:`GppSplitConfig`).
    lookback
        Days per input sequence (sequence-to-one, 90).
    pooling
        ``pooled``: one site-agnostic model per model type for all sites; ``per_site``: one
        model (and search) per site; ``igbp``: one per vegetation class.
    models
        Model types compared, ``{label: GppModelConfig}`` (rnn, gru, lstm).
    train
        Optimisation shared by the models (MAE loss; ``epochs`` is Hyperband's maximum
        resource; the best validation checkpoint is kept).
    search
        Hyper-parameter search (Hyperband over layers, units and learning rate by default;
        ``method: none`` trains the fixed parameters).
    extremes
        Definition of the extreme-event days (:class:`ExtremesConfig`).
    importance
        Permutation importance (:class:`ImportanceConfig`).
    ensemble
        Seed ensembles beside the tuned models (``{seeds: [0, 1, 2]}``): after its search,
        every model type is trained again once per seed with the chosen settings, and the
        members' mean is scored as model ``<label>_x<n>`` (e.g. ``gru_x3``) beside the
        tuned model. Empty (default): no ensembles.
    description
        Free text kept with the run.
    """

    data: GppDataConfig = GppDataConfig()
    predictors: GppPredictorConfig = GppPredictorConfig()
    split: GppSplitConfig = GppSplitConfig()
    lookback: int = 90
    pooling: Literal["pooled", "per_site", "igbp"] = "pooled"
    models: dict[str, GppModelConfig] = dataclasses.field(default_factory=_default_models)
    train: TrainConfig = dataclasses.field(
        default_factory=lambda: TrainConfig(loss="mae", epochs=50, patience=5)
    )
    search: SearchConfig = dataclasses.field(default_factory=_default_search)
    extremes: ExtremesConfig = ExtremesConfig()
    importance: ImportanceConfig = ImportanceConfig()
    ensemble: EnsembleConfig = dataclasses.field(default_factory=EnsembleConfig)
    description: str = ""

    def validate(self) -> None:
        """Check the models (names, parameters, training overrides) and the look-back."""
        if self.lookback < 1:
            raise ConfigError("GppStudyConfig.lookback: expected a positive number of days")
        check_model_specs(self.models, self.train, "GppStudyConfig")

    def predictor_names(self) -> list[str]:
        """Dynamic inputs in model order: drivers, ``sw_clearsky``, extra predictors."""
        return [
            *self.predictors.drivers,
            *(["sw_clearsky"] if self.predictors.clearsky else []),
            *self.predictors.extra,
        ]
