"""Gridded drivers: ERA5 / ERA5-Land and MODIS-like grids -> canonical daily grids.

One module a job, each importing only those above it in this list:

* :mod:`~fluxgrid.grids.core` -- the grid convention (dims ``(time, lat, lon)``, ``lat``
  ascending, ``lon`` in [-180, 180), CF attributes): :func:`standardise_grid`,
  :func:`make_grid`, cell edges, unit conversion that stays lazy.
* :mod:`~fluxgrid.grids.regrid` -- :func:`regrid` (conservative on the sphere, bilinear,
  nearest) and :func:`conservative_weights`.
* :mod:`~fluxgrid.grids.store` -- grid files: :func:`open_grid` (NetCDF / Zarr),
  :func:`open_raster` (GeoTIFF, MODIS), :func:`write_grid` (Zarr), chunk plans.
* :mod:`~fluxgrid.grids.era5` -- ERA5 / ERA5-Land hourly fields -> daily drivers
  (:func:`era5_to_daily`, :func:`read_era5`, :func:`open_era5_zarr` for the analysis-ready
  cloud stores, accumulation conventions, VPD).
* :mod:`~fluxgrid.grids.landcover` -- land-cover products (:func:`open_land_cover`,
  MODIS MCD12C1/MCD12Q1), IGBP class fractions, land masks, dominant vegetation types.
* :mod:`~fluxgrid.grids.sites` -- grid pixels as a ``(site, time)`` cube and back.
* :mod:`~fluxgrid.grids.prepare` -- daily drivers checked and completed for inference, or
  built from a :class:`fluxgrid.config.DriversConfig`.

Examples
--------
>>> grid = make_grid(1.0, bbox=(-10, 40, 10, 60))
>>> grid.sizes["lat"], grid.sizes["lon"], float(grid.lat[0]), float(grid.lon[0])
(20, 20, 40.5, -9.5)
>>> round(float(saturation_vapour_pressure(20.0)), 2)  # hPa
23.37
>>> era5 = open_grid("era5_2010_*.nc")                       # doctest: +SKIP
>>> drivers = era5_to_daily(era5, accumulation="per_step")   # doctest: +SKIP
>>> drivers = regrid(drivers, make_grid(0.5), method="conservative")  # doctest: +SKIP
"""

from __future__ import annotations

from .core import DRIVER_VARIABLES, cell_edges, grid_edges, make_grid, standardise_grid
from .era5 import (
    ERA5_SOURCES,
    ERA5_ZARR_STORES,
    detect_accumulation,
    era5_to_daily,
    open_era5_zarr,
    read_era5,
    saturation_vapour_pressure,
)
from .landcover import (
    IGBP_CLASSES,
    LAND_COVER_SCHEMES,
    check_fractions,
    class_fractions,
    igbp_codes,
    land_mask,
    open_land_cover,
    vegetation_mask,
    vegetation_type,
)
from .prepare import drivers_from_config, prepare_drivers
from .regrid import conservative_weights, regrid
from .sites import grid_to_sites, sites_to_grid
from .store import grid_chunk_plan, open_grid, open_raster, rechunk_for_inference, write_grid

__all__ = [
    "DRIVER_VARIABLES",
    "ERA5_SOURCES",
    "ERA5_ZARR_STORES",
    "IGBP_CLASSES",
    "LAND_COVER_SCHEMES",
    "cell_edges",
    "check_fractions",
    "class_fractions",
    "conservative_weights",
    "detect_accumulation",
    "drivers_from_config",
    "era5_to_daily",
    "grid_chunk_plan",
    "grid_edges",
    "grid_to_sites",
    "igbp_codes",
    "land_mask",
    "make_grid",
    "open_era5_zarr",
    "open_grid",
    "open_land_cover",
    "open_raster",
    "prepare_drivers",
    "read_era5",
    "rechunk_for_inference",
    "regrid",
    "saturation_vapour_pressure",
    "sites_to_grid",
    "standardise_grid",
    "vegetation_mask",
    "vegetation_type",
    "write_grid",
]
