"""Configs of the single-step stages: gridded drivers, upscaling, the quickstart demo.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> from_dict(UpscaleConfig, {"runs": ["runs/lstm"], "drivers": "drivers.zarr"}).chunk_mb
16.0
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..errors import ConfigError
from .serialise import bounded

__all__ = ["DriversConfig", "QuickstartConfig", "UpscaleConfig"]


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
    min_coverage: float = bounded(1.0, 0, 1)
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
    batch_size: int | None = bounded(None, 1)
    chunk_mb: float = 16.0
    torch_threads: int | None = bounded(1, 1)

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
        a regular grid (see :func:`fluxgrid.demo.tower_grid`), with the land/sea mask and
        vegetation types of the bundled MODIS MCD12C1 2019 cut (2-16 E, 43-53 N: the box
        must lie inside it).
    map_start, map_end
        Period of the NEE map.
    land_cover_mode
        ``fractions`` (default: each cell's NEE is the cover-fraction-weighted sum of the
        predictions for the vegetation classes of the bundled MODIS MCD12C1 2019 land cover)
        or ``majority`` (each cell predicted once with its dominant class).
    device
        Training and inference device (``auto``: CUDA when present).
    """

    source: str = "demo"
    sites: tuple[str, ...] | None = None
    start: str = "2007-01-01"
    end: str = "2012-12-31"
    qc_threshold: float = bounded(0.7, 0, 1)
    min_valid_fraction: float = bounded(0.3, 0, 1)
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
    land_cover_mode: Literal["fractions", "majority"] = "fractions"
    device: str = "auto"

    def validate(self) -> None:
        """Raise :class:`ConfigError` for out-of-range values."""
        if self.land_cover_mode not in ("fractions", "majority"):
            raise ConfigError(
                f"QuickstartConfig.land_cover_mode={self.land_cover_mode!r}; expected "
                "'fractions' (cover-fraction upscaling) or 'majority' (dominant class)"
            )
        if self.lookback < 1 or self.hidden < 1 or self.epochs < 1:
            raise ConfigError("QuickstartConfig: lookback, hidden and epochs must be >= 1")
        if self.grid_resolution <= 0 or self.idw_power <= 0:
            raise ConfigError("QuickstartConfig: grid_resolution and idw_power must be > 0")
        if not self.grid_sites:
            raise ConfigError("QuickstartConfig.grid_sites: give at least one tower")
