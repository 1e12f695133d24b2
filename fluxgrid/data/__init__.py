"""Real data bundled with fluxgrid: a FLUXNET2015 subset for the demo and the examples.

Five FLUXNET2015 towers (US-MMS, US-UMB, DE-Hai, DE-Tha, FR-Pue), half-hourly 2007-2012,
CC-BY-4.0, and the MODIS MCD12C1 (2019) IGBP land cover of the demo's map box (2-16 E,
43-53 N, 0.05 degree); see ``README.md`` in this folder for the attribution.

Examples
--------
>>> cube = load_demo_cube()
>>> sorted(cube.site.values.tolist())
['DE-Hai', 'DE-Tha', 'FR-Pue', 'US-MMS', 'US-UMB']
>>> cube.nee.attrs["units"]
'gC m-2 d-1'
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import xarray as xr

from ..io.fluxnet_zarr import open_fluxnet_zarr
from ..prep.resample import to_daily

__all__ = ["DEMO_SITES", "demo_hh_path", "demo_land_cover_path", "load_demo_cube", "load_demo_hh"]

#: sites of the bundled half-hourly subset (FLUXNET2015, CC-BY-4.0)
DEMO_SITES = ("US-MMS", "US-UMB", "DE-Hai", "DE-Tha", "FR-Pue")


def demo_hh_path() -> Path:
    """Path of the bundled half-hourly FLUXNET2015 subset (5 sites, 2007-2012, Zarr)."""
    return Path(str(resources.files("fluxgrid.data").joinpath("fluxnet2015_hh_demo.zarr")))


def demo_land_cover_path() -> Path:
    """Path of the bundled MODIS MCD12C1 2019 land-cover cut (NetCDF, 2-16 E, 43-53 N).

    Read it with :func:`fluxgrid.grids.open_land_cover`.
    """
    return Path(str(resources.files("fluxgrid.data").joinpath("MCD12C1.A2019001.006.demo.nc")))


def load_demo_hh() -> xr.Dataset:
    """The bundled half-hourly subset as a lazy site cube (see ``fluxgrid/data/README.md``)."""
    return open_fluxnet_zarr(demo_hh_path())


@cache
def _demo_daily() -> xr.Dataset:
    return to_daily(load_demo_hh()).sel(time=slice("2007-01-01", "2012-12-31")).compute()


def load_demo_cube() -> xr.Dataset:
    """Daily site cube of the bundled subset, in memory (5 sites, 2007-2012).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)``; ``ta`` degC, ``sw_in`` W m-2, ``vpd`` hPa, ``nee``/``gpp_*``
        gC m-2 d-1 and their QC fractions. A fresh copy on each call.
    """
    return _demo_daily().copy(deep=True)
