"""Strict, serialisable configuration: one frozen dataclass per stage.

Every stage (ingest, QC, ...) has a frozen dataclass here. :func:`from_dict` builds one from
plain data and refuses unknown keys and wrong types, naming the offending key path, so a typo
in a YAML file fails before any work starts. :func:`dump_config` writes the exact config into
each run directory.

Examples
--------
>>> from fluxgrid.config import QCConfig, from_dict, to_dict
>>> cfg = from_dict(QCConfig, {"qc_threshold": 0.8})
>>> cfg.qc_threshold
0.8
>>> from_dict(QCConfig, {"qc_treshold": 0.8})
Traceback (most recent call last):
...
fluxgrid.errors.ConfigError: QCConfig: unknown key 'qc_treshold'; known keys: qc_threshold, ...
"""

from __future__ import annotations

import dataclasses
import os
import types
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from .errors import ConfigError
from .experiment_config import (  # models stage: fluxgrid train
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    SearchConfig,
    SearchParam,
    SplitConfig,
    TrainConfig,
    WindowConfig,
)
from .guided_config import (  # scales stage: scale-knowledge-guided training
    GuidedConfig,
    GuidedModelConfig,
    ScalesConfig,
    ScaleWindowConfig,
)
from .rs.config import ClearSkyConfig, LSTConfig, S1Config, S2Config, StacConfig

__all__ = [
    "ClearSkyConfig",
    "DataConfig",
    "DriversConfig",
    "ExperimentConfig",
    "GapFillConfig",
    "GuidedConfig",
    "GuidedModelConfig",
    "IngestConfig",
    "LSTConfig",
    "ModelConfig",
    "QCConfig",
    "QuickstartConfig",
    "ResampleConfig",
    "S1Config",
    "S2Config",
    "SSAConfig",
    "ScaleWindowConfig",
    "ScalesConfig",
    "SearchConfig",
    "SearchParam",
    "SplitConfig",
    "StacConfig",
    "TrainConfig",
    "UpscaleConfig",
    "WindowConfig",
    "dump_config",
    "from_dict",
    "load_config",
    "to_dict",
]

C = TypeVar("C")


# --------------------------------------------------------------------------- stage configs
@dataclasses.dataclass(frozen=True)
class ResampleConfig:
    """Sub-daily -> daily -> monthly aggregation (see :mod:`fluxgrid.prep.resample`).

    Attributes
    ----------
    min_coverage
        Minimum share (0-1) of sub-daily records present in a day for the daily value to be
        kept; days below it become missing.
    sums
        Variables summed instead of averaged within a day (precipitation by default).
    monthly_totals
        If true, monthly carbon fluxes are totals in gC m-2 mon-1 and precipitation in
        mm mon-1; otherwise mean daily rates (the FLUXNET MM convention).
    """

    min_coverage: float = 0.5
    sums: tuple[str, ...] = ("p",)
    monthly_totals: bool = False


@dataclasses.dataclass(frozen=True)
class QCConfig:
    """Target quality control (see :mod:`fluxgrid.prep.qc`).

    Attributes
    ----------
    qc_threshold
        Daily targets whose QC fraction (share of measured or good gap-filled half-hours)
        is below this are masked (0.7 as in the GPP study).
    min_valid_fraction
        Sites with fewer valid target days than this share of their record are dropped.
    drop_negative_gpp
        Mask negative GPP values (physically impossible, partitioning artefacts).
    targets
        Variables the QC applies to.
    """

    qc_threshold: float = 0.7
    min_valid_fraction: float = 0.6
    drop_negative_gpp: bool = True
    targets: tuple[str, ...] = ("nee", "gpp_nt", "gpp_dt", "reco_nt", "reco_dt")


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    """Reading sources into a site cube (``fluxgrid ingest``)."""

    sources: tuple[str, ...] = ()
    output: str = "cube.zarr"
    to: Literal["native", "daily", "monthly"] = "daily"
    sites: tuple[str, ...] | None = None
    metadata: str | None = None
    #: FLUXNET files: the one resolution to read (HH, HR, DD, WW, MM, YY) where sources hold several
    resolution: Literal["HH", "HR", "DD", "WW", "MM", "YY"] | None = None
    #: read the source as a plain table with this column map (YAML path), see fluxgrid.io.tables
    column_map: str | None = None
    resample: ResampleConfig = ResampleConfig()
    qc: QCConfig | None = None


@dataclasses.dataclass(frozen=True)
class DriversConfig:
    """Gridded drivers for upscaling (see :mod:`fluxgrid.io.grids`, ``fluxgrid drivers``).

    Attributes
    ----------
    sources
        ERA5 / ERA5-Land NetCDF files or glob patterns, or one Zarr store.
    variables
        Canonical drivers to make (the models' inputs).
    accumulation
        ``ssrd``/``tp`` convention: ``per_step`` (ERA5), ``since_midnight`` (ERA5-Land) or
        ``auto`` (detected from the data).
    day
        ``utc`` days or local ``solar`` days.
    min_coverage
        Share of a day's time steps needed for a daily value.
    resolution
        Regrid onto a regular grid of this cell size (degrees); ``None`` keeps the source grid.
    bbox
        Extent ``(lon_min, lat_min, lon_max, lat_max)`` of that grid.
    regrid_method
        ``auto``, ``conservative``, ``bilinear`` or ``nearest``.
    """

    sources: tuple[str, ...] = ()
    variables: tuple[str, ...] = ("ta", "sw_in", "vpd", "p", "ws")
    accumulation: Literal["auto", "per_step", "since_midnight"] = "auto"
    day: Literal["utc", "solar"] = "utc"
    min_coverage: float = 1.0
    resolution: float | None = None
    bbox: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)
    regrid_method: Literal["auto", "conservative", "bilinear", "nearest"] = "auto"


@dataclasses.dataclass(frozen=True)
class UpscaleConfig:
    """Applying trained runs to gridded drivers (``fluxgrid upscale``, recipe ``upscale``).

    Attributes
    ----------
    runs
        Run directories; two or more make an ensemble (mean, std, quantiles).
    drivers
        Daily driver grid (Zarr store from ``fluxgrid drivers`` / ``write_grid``, or NetCDF).
    era5
        Instead of ``drivers``: ERA5 / ERA5-Land files turned into daily drivers first.
    igbp
        Grid file with an integer ``igbp`` (lat, lon) variable (IGBP codes, -1 none), e.g.
        from ``vegetation_type``; needed by models with an IGBP one-hot; totals per class.
    mask
        Grid file with a boolean (or 0/1) ``mask`` or ``land`` (lat, lon) variable.
    period
        ``[start, end]`` of the maps (the drivers must start a look-back earlier).
    quantiles
        Ensemble quantiles, e.g. ``[0.05, 0.95]``.
    device, batch_size, chunk_mb, torch_threads
        Inference settings (see :func:`fluxgrid.upscale.upscale`; ``chunk_mb`` per variable
        and tile).
    """

    runs: tuple[str, ...] = ()
    drivers: str | None = None
    era5: DriversConfig | None = None
    igbp: str | None = None
    mask: str | None = None
    period: tuple[str, str] | None = None
    quantiles: tuple[float, ...] = ()
    device: str = "auto"
    batch_size: int | None = None
    chunk_mb: float = 16.0
    torch_threads: int | None = 1

    def validate(self) -> None:
        """Raise :class:`ConfigError` for missing or contradictory settings."""
        if not self.runs:
            raise ConfigError("UpscaleConfig.runs: give at least one run directory")
        if (self.drivers is None) == (self.era5 is None):
            raise ConfigError("UpscaleConfig: give exactly one of drivers (a store) or era5")
        if any(not 0 <= q <= 1 for q in self.quantiles):
            raise ConfigError("UpscaleConfig.quantiles: values in [0, 1]")
        if self.quantiles and len(self.runs) < 2:
            raise ConfigError("UpscaleConfig.quantiles: an ensemble needs two or more runs")
        if self.chunk_mb <= 0:
            raise ConfigError("UpscaleConfig.chunk_mb: a positive size in MiB")


@dataclasses.dataclass(frozen=True)
class QuickstartConfig:
    """The demo as a recipe (``fluxgrid demo``, recipe ``quickstart``), see :mod:`fluxgrid.demo`.

    Attributes
    ----------
    source
        ``demo`` (bundled FLUXNET2015 half-hourly subset) or any source ``fluxgrid ingest``
        reads (e.g. ``../shared/data/fluxnet2015/hh.zarr`` with ``sites``).
    sites
        Sites to use (``None``: all of the source).
    start, end
        Period of the site cube (local dates).
    qc_threshold, min_valid_fraction
        Target QC (see :func:`fluxgrid.qc_mask`).
    lookback, hidden, epochs, seed
        The LSTM (look-back in days, hidden units) and its training.
    grid_sites, grid_bbox, grid_resolution, idw_power
        The demo driver grid: inverse-distance-weighted daily drivers of ``grid_sites`` on
        a regular grid (see :func:`fluxgrid.demo.tower_grid`).
    map_start, map_end
        Period of the NEE map.
    device
        Training and inference device (``auto``: CUDA when present).
    """

    source: str = "demo"
    sites: tuple[str, ...] | None = None
    start: str = "2007-01-01"
    end: str = "2012-12-31"
    qc_threshold: float = 0.7
    min_valid_fraction: float = 0.3
    lookback: int = 30
    hidden: int = 16
    epochs: int = 10
    seed: int = 0
    grid_sites: tuple[str, ...] = ("DE-Hai", "DE-Tha", "FR-Pue")
    grid_bbox: tuple[float, float, float, float] = (2.0, 43.0, 16.0, 53.0)
    grid_resolution: float = 0.5
    idw_power: float = 2.0
    map_start: str = "2011-01-01"
    map_end: str = "2012-12-31"
    device: str = "auto"

    def validate(self) -> None:
        """Raise :class:`ConfigError` for out-of-range values."""
        if self.lookback < 1 or self.hidden < 1 or self.epochs < 1:
            raise ConfigError("QuickstartConfig: lookback, hidden and epochs must be >= 1")
        if self.grid_resolution <= 0 or self.idw_power <= 0:
            raise ConfigError("QuickstartConfig: grid_resolution and idw_power must be > 0")
        if not self.grid_sites:
            raise ConfigError("QuickstartConfig.grid_sites: give at least one tower")


@dataclasses.dataclass(frozen=True)
class GapFillConfig:
    """Gap filling of daily predictors (see :func:`fluxgrid.prep.gapfill.gapfill`).

    Attributes
    ----------
    variables
        Predictors to fill (``None``: every non-target float variable). Flux targets are
        never filled.
    max_gap
        Longest gap in days filled by linear interpolation.
    long_gaps
        ``climatology`` (multi-year day-of-year mean) or ``none`` (leave missing).
    min_count
        Observed years needed behind a day-of-year mean.
    """

    variables: tuple[str, ...] | None = None
    max_gap: int = 5
    long_gaps: Literal["climatology", "none"] = "climatology"
    min_count: int = 1

    def validate(self) -> None:
        """Raise :class:`ConfigError` for out-of-range values."""
        if self.max_gap < 0 or self.min_count < 1:
            raise ConfigError("GapFillConfig: need max_gap >= 0 and min_count >= 1")


@dataclasses.dataclass(frozen=True)
class SSAConfig:
    """Singular spectrum analysis into scales (see :func:`fluxgrid.prep.ssa.ssa`).

    Attributes
    ----------
    variables
        Variables to decompose (``None``: every float variable but QC/fill companions).
    window
        Embedding window: an integer number of time steps, or a share (0, 0.5] of each
        site's record.
    rank
        Leading elementary components grouped (``None``: all, exact full SVD).
    seasonal_max, trend_min, period_unit
        Band limits of the dominant period (default 16 and 128 months).
    on_gaps
        ``raise`` or ``longest`` (decompose each site's longest gap-free span).
    solver, oversample, power_iterations, seed
        SVD solver and randomized-SVD settings.
    """

    variables: tuple[str, ...] | None = None
    window: int | float = 0.5
    rank: int | None = 64
    seasonal_max: float = 16.0
    trend_min: float = 128.0
    period_unit: Literal["months", "days"] = "months"
    on_gaps: Literal["raise", "longest"] = "raise"
    solver: Literal["auto", "randomized", "full"] = "auto"
    oversample: int = 24
    power_iterations: int = 8
    seed: int = 0

    def validate(self) -> None:
        """Raise :class:`ConfigError` for out-of-range values."""
        if isinstance(self.window, float) and not 0 < self.window <= 0.5:
            raise ConfigError("SSAConfig.window: a share must be in (0, 0.5]")
        if isinstance(self.window, int) and self.window < 2:
            raise ConfigError("SSAConfig.window: at least 2 time steps")
        if self.rank is not None and self.rank < 1:
            raise ConfigError("SSAConfig.rank: a positive integer or null (all components)")
        if not 0 < self.seasonal_max < self.trend_min:
            raise ConfigError("SSAConfig: need 0 < seasonal_max < trend_min")
        if self.oversample < 0 or self.power_iterations < 0:
            raise ConfigError("SSAConfig: oversample and power_iterations must be >= 0")


# --------------------------------------------------------------------------- machinery
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against type ``tp`` and convert lists to tuples / dicts to dataclasses."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        options = [arg for arg in args if arg is not type(None)]
        if len(options) == 1:  # Optional[X]: X's own error is the useful one
            return _coerce(value, options[0], path)
        for arg in options:
            try:
                return _coerce(value, arg, path)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{path}: {value!r} is not one of {list(get_args(tp))}")
        return value
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, _path=path)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
        return tuple(
            _coerce(v, a, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
        )
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        kt, vt = get_args(tp) or (Any, Any)
        return {_coerce(k, kt, path): _coerce(v, vt, f"{path}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    return value


def from_dict(cls: type[C], data: dict[str, Any] | None, *, _path: str | None = None) -> C:
    """Build the frozen dataclass ``cls`` from plain data, strictly.

    Unknown keys, wrong types and invalid literals raise :class:`ConfigError` naming the key
    path (``TrainConfig.optimizer.lr``) and what is expected.
    """
    path = _path or cls.__name__
    data = dict(data or {})
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known keys: {', '.join(fields)}")
    kwargs = {name: _coerce(value, hints[name], f"{path}.{name}") for name, value in data.items()}
    try:
        obj = cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path}: {err}") from err
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a config dataclass (tuples become lists), ready for YAML."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        return value

    return plain(cfg)


def load_config(path: str | os.PathLike, cls: type[C], *, section: str | None = None) -> C:
    """Read a YAML file (or one ``section`` of it) into the dataclass ``cls``, strictly."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if section is not None:
        if section not in data:
            raise ConfigError(f"{path}: missing section {section!r}")
        data = data[section]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return from_dict(cls, data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def dump_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Write ``cfg`` as YAML to ``path`` atomically and return the path."""
    from .io.atomic import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return path
