"""Real data for examples and tests: the bundled FLUXNET2015 subset and the shared data folder.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> cube = load_demo_cube()
>>> sorted(cube.site.values.tolist())
['DE-Hai', 'DE-Tha', 'FR-Pue', 'US-MMS', 'US-UMB']
>>> cube.nee.attrs["units"]
'gC m-2 d-1'
"""

from __future__ import annotations

import os
from functools import cache
from importlib import resources
from pathlib import Path

import xarray as xr

__all__ = [
    "DEMO_SITES",
    "demo_hh_path",
    "load_demo_cube",
    "load_demo_hh",
    "shared_data_path",
]

#: sites of the bundled half-hourly subset (FLUXNET2015, CC-BY-4.0)
DEMO_SITES = ("US-MMS", "US-UMB", "DE-Hai", "DE-Tha", "FR-Pue")


def demo_hh_path() -> Path:
    """Path of the bundled half-hourly FLUXNET2015 subset (5 sites, 2007-2012, Zarr)."""
    return Path(str(resources.files("fluxgrid.data").joinpath("fluxnet2015_hh_demo.zarr")))


def load_demo_hh() -> xr.Dataset:
    """The bundled half-hourly subset as a lazy site cube (see ``fluxgrid/data/README.md``)."""
    from .io.fluxnet_zarr import open_fluxnet_zarr

    return open_fluxnet_zarr(demo_hh_path())


@cache
def _demo_daily() -> xr.Dataset:
    from .prep.resample import to_daily

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


def shared_data_path() -> Path | None:
    """The project's shared real-data folder, or ``None`` where it is not available.

    Looks at ``$FLUXGRID_SHARED_DATA``, then ``../shared/data`` beside the repository.
    """
    env = os.environ.get("FLUXGRID_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for path in candidates:
        if (path / "fluxnet2015").is_dir():
            return path
    return None
