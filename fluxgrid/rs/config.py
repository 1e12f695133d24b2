"""Configuration of the remote-sensing stage: one frozen dataclass per product.

These dataclasses are exported by :mod:`fluxgrid.config` and parsed strictly by
:func:`fluxgrid.config.from_dict` (unknown keys and wrong types are refused).

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(S2Config, {"buffer_m": 500, "min_clear_share": 0.05})
>>> cfg.buffer_m, cfg.nbar
(500.0, True)
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..errors import ConfigError

__all__ = [
    "ClearSkyConfig",
    "LSTConfig",
    "S1Config",
    "S2Config",
    "StacConfig",
]


def _check_range(cls: str, name: str, value: float, lo: float, hi: float) -> None:
    if not lo <= value <= hi:
        raise ConfigError(f"{cls}.{name}: {value!r} is outside [{lo}, {hi}]")


@dataclasses.dataclass(frozen=True)
class StacConfig:
    """Where items come from (see :mod:`fluxgrid.rs.stac`).

    Attributes
    ----------
    source
        A STAC API URL (``https://planetarycomputer.microsoft.com/api/stac/v1``,
        ``https://earth-search.aws.element84.com/v1``) or a local static catalog
        (``catalog.json``) / ItemCollection (``items.json``) for offline work.
    sign
        Dotted import path of a signing function applied to every item before its assets
        are read, e.g. ``"planetary_computer.sign"`` (that package is not a dependency of
        fluxgrid; install it where needed). ``None``: no signing.
    retries
        HTTP retries (with back-off) for API requests and for reading remote rasters.
    timeout_s
        Timeout of one API request, seconds.
    max_items
        Upper bound on items per search (``None``: no bound).
    """

    source: str
    sign: str | None = None
    retries: int = 3
    timeout_s: float = 60.0
    max_items: int | None = None

    def validate(self) -> None:
        """Refuse negative retries or timeouts."""
        if self.retries < 0:
            raise ConfigError(f"StacConfig.retries: {self.retries} must be >= 0")
        if self.timeout_s <= 0:
            raise ConfigError(f"StacConfig.timeout_s: {self.timeout_s} must be > 0")


@dataclasses.dataclass(frozen=True)
class S2Config:
    """Sentinel-2 L2A processing at towers (see :mod:`fluxgrid.rs.sentinel2`).

    Attributes
    ----------
    collection
        STAC collection id (``sentinel-2-l2a`` on Planetary Computer and Earth Search).
    max_cloud_cover
        Scene cloud cover (``eo:cloud_cover``, percent) above which items are not loaded.
    buffer_m
        Radius of the footprint buffer around the tower, metres (default 1 km).
    min_clear_share
        Minimum share (0-1) of clear pixels in the footprint for a date to be kept
        (default 0.01 = 1 %); dates below it are recorded with status ``below_min_share``.
    invalid_scl
        Scene-classification (SCL) classes masked by the default mask: 0 no data,
        1 saturated/defective, 3 cloud shadow, 8/9 cloud medium/high probability,
        10 thin cirrus, 11 snow/ice. Class 2 (dark area pixels) is kept by default.
    nbar
        Normalise reflectances to nadir view (c-factor, Roy et al. 2017 coefficients).
    indices
        Spectral indices to compute (names of the Awesome Spectral Indices catalogue);
        ``None``: every index applicable to Sentinel-2.
    index_from
        ``"mean_reflectance"``: indices of the footprint-mean NBAR reflectance;
        ``"pixels"``: footprint mean of the per-pixel indices.
    constants
        Values for index constants that override the catalogue defaults (e.g.
        ``{"L": 0.5}``); see the remote-sensing guide for how each is set.
    pca_variance
        Components are kept until their cumulative explained variance exceeds this share.
    keep_indices
        Indices also joined into the site cube as ``s2_<name lower case>``.
    landcover
        Optional land-cover raster (GeoTIFF with a CRS); only pixels of
        ``landcover_classes`` count towards the footprint.
    landcover_classes
        Classes of ``landcover`` kept (e.g. WorldCover 10 = tree cover).
    resolution
        Output pixel size, metres (10 = native resolution of the 10 m bands).
    chunk_dates
        Dates per Dask chunk while loading; bounds memory and the task count.
    """

    collection: str = "sentinel-2-l2a"
    max_cloud_cover: float = 80.0
    buffer_m: float = 1000.0
    min_clear_share: float = 0.01
    invalid_scl: tuple[int, ...] = (0, 1, 3, 8, 9, 10, 11)
    nbar: bool = True
    indices: tuple[str, ...] | None = None
    index_from: Literal["mean_reflectance", "pixels"] = "mean_reflectance"
    constants: dict[str, float] = dataclasses.field(default_factory=dict)
    pca_variance: float = 0.99
    keep_indices: tuple[str, ...] = ("NDVI", "EVI", "NIRv", "kNDVI", "NDMI")
    landcover: str | None = None
    landcover_classes: tuple[int, ...] = ()
    resolution: float = 10.0
    chunk_dates: int = 8

    def validate(self) -> None:
        """Refuse out-of-range shares, radii and sizes."""
        _check_range("S2Config", "min_clear_share", self.min_clear_share, 0.0, 1.0)
        _check_range("S2Config", "pca_variance", self.pca_variance, 0.0, 1.0)
        _check_range("S2Config", "max_cloud_cover", self.max_cloud_cover, 0.0, 100.0)
        if self.buffer_m <= 0 or self.resolution <= 0 or self.chunk_dates < 1:
            raise ConfigError(
                "S2Config: buffer_m and resolution must be > 0 and chunk_dates >= 1, got "
                f"{self.buffer_m}, {self.resolution}, {self.chunk_dates}"
            )
        if self.landcover is not None and not self.landcover_classes:
            raise ConfigError(
                "S2Config.landcover_classes: name the classes to keep when a landcover raster "
                "is given, e.g. [10] for WorldCover tree cover"
            )


@dataclasses.dataclass(frozen=True)
class S1Config:
    """Sentinel-1 RTC backscatter at towers (see :mod:`fluxgrid.rs.sentinel1`).

    Attributes
    ----------
    collection
        STAC collection id (``sentinel-1-rtc`` on Planetary Computer).
    inner_m, outer_m
        Annulus around the tower, metres: pixels closer than ``inner_m`` (the tower and
        its mast) and farther than ``outer_m`` are excluded.
    orbit_state
        Keep only ``"ascending"`` or ``"descending"`` passes (``None``: both).
    min_valid_share
        Minimum share of valid annulus pixels for a date to be kept.
    resolution
        Output pixel size, metres (10 = native).
    chunk_dates
        Dates per Dask chunk while loading.
    """

    collection: str = "sentinel-1-rtc"
    inner_m: float = 50.0
    outer_m: float = 1000.0
    orbit_state: Literal["ascending", "descending"] | None = None
    min_valid_share: float = 0.01
    resolution: float = 10.0
    chunk_dates: int = 16

    def validate(self) -> None:
        """Refuse an empty annulus or out-of-range shares."""
        if not 0 <= self.inner_m < self.outer_m:
            raise ConfigError(
                f"S1Config: need 0 <= inner_m < outer_m, got {self.inner_m}, {self.outer_m}"
            )
        _check_range("S1Config", "min_valid_share", self.min_valid_share, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class LSTConfig:
    """MODIS MOD11A1/MYD11A1 land-surface temperature (see :mod:`fluxgrid.rs.modis`).

    Attributes
    ----------
    collection
        STAC collection id (``modis-11A1-061`` on Planetary Computer; Terra and Aqua
        items are told apart by their ``platform`` property or ``MOD``/``MYD`` id).
    platforms
        ``terra`` (MOD11A1), ``aqua`` (MYD11A1) or both.
    window
        Side of the pixel window centred on the tower pixel (3 = 3x3 pixels).
    max_lst_error_k
        Pixels flagged "other quality" are kept only if their LST error class is at most
        this (1, 2 or 3 K); "good quality" pixels are always kept.
    min_good_pixels
        Minimum number of good pixels in the window for a value.
    """

    collection: str = "modis-11A1-061"
    platforms: tuple[Literal["terra", "aqua"], ...] = ("terra", "aqua")
    window: int = 3
    max_lst_error_k: float = 2.0
    min_good_pixels: int = 1

    def validate(self) -> None:
        """Refuse even windows and impossible thresholds."""
        if self.window < 1 or self.window % 2 == 0:
            raise ConfigError(f"LSTConfig.window: {self.window} must be odd and >= 1")
        if self.max_lst_error_k not in (1.0, 2.0, 3.0):
            raise ConfigError(
                f"LSTConfig.max_lst_error_k: {self.max_lst_error_k} must be 1, 2 or 3 (the "
                "MOD11A1 LST error classes)"
            )
        if not 1 <= self.min_good_pixels <= self.window**2:
            raise ConfigError(
                f"LSTConfig.min_good_pixels: {self.min_good_pixels} must be in 1..window**2"
            )


@dataclasses.dataclass(frozen=True)
class ClearSkyConfig:
    """Daily clear-sky shortwave radiation (see :mod:`fluxgrid.rs.radiation`).

    Attributes
    ----------
    model
        ``"ineichen"`` (Ineichen-Perez with the Linke-turbidity climatology shipped with
        pvlib) or ``"haurwitz"`` (zenith angle only).
    step_minutes
        Sub-daily step of the solar-position integration over the local day, minutes.
    chunk_days
        Days per block of the vectorised computation (bounds memory); ``None`` chooses
        blocks of about half a million site-day-steps.
    """

    model: Literal["ineichen", "haurwitz"] = "ineichen"
    step_minutes: int = 30
    chunk_days: int | None = None

    def validate(self) -> None:
        """Refuse steps that do not divide the day."""
        if self.step_minutes < 1 or 1440 % self.step_minutes:
            raise ConfigError(
                f"ClearSkyConfig.step_minutes: {self.step_minutes} must divide 1440 (e.g. 10, "
                "15, 30, 60)"
            )
        if self.chunk_days is not None and self.chunk_days < 1:
            raise ConfigError(f"ClearSkyConfig.chunk_days: {self.chunk_days} must be >= 1")
