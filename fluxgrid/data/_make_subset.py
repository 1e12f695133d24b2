"""How the bundled demo subsets were made (kept for provenance).

``fluxnet2015_hh_demo.zarr``:
It copies, byte for byte, the packed ``uint16`` values of five FLUXNET2015 sites for
2007-2012 (UTC 2007-01-01 00:00 to 2013-01-01 12:00) out of the EXCITED-CO2 Zarr
conversion of FLUXNET2015 FULLSET, keeping its encoding (scale_factor, add_offset,
_FillValue) and attributes, so the demo exercises the same reader as the full store.

``MCD12C1.A2019001.006.demo.nc``: the MODIS MCD12C1 (collection 6, 2019) IGBP land-cover
GeoTIFF cut, values unchanged (0 water, 1..16 IGBP, 255 fill), to the demo's driver-grid box
(2-16 E, 43-53 N, 200 x 280 cells of 0.05 degree).

Run from the repository root::

    python -m fluxgrid.data._make_subset path/to/fluxnet2015/hh.zarr
    python -m fluxgrid.data._make_subset path/to/MCD12C1.A2019001.006.2020220162300.tif
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import xarray as xr

from fluxgrid.io.fluxnet_zarr import open_fluxnet_zarr

SITES = ["US-MMS", "US-UMB", "DE-Hai", "DE-Tha", "FR-Pue"]
PERIOD = slice("2006-12-31T12:00", "2013-01-01T12:00")
LAND_COVER_BOX = (2.0, 43.0, 16.0, 53.0)  # lon_min, lat_min, lon_max, lat_max


def main(source: str) -> None:
    """Write the subset next to this file."""
    target = Path(__file__).with_name("fluxnet2015_hh_demo.zarr")
    raw = xr.open_zarr(source, mask_and_scale=False)
    sub = raw.sel(site=SITES, time=PERIOD).load()
    for name in sub.variables:
        enc = raw[name].encoding if name in raw.variables else {}
        sub[name].encoding = {
            k: enc[k] for k in ("compressors", "dtype") if k in enc and name not in ("time",)
        }
        if name == "site":
            sub[name].encoding = {}
    # the subset no longer starts at each site's first record, so the UTC offsets detected
    # on the full store are stored with it
    full = open_fluxnet_zarr(source, sites=SITES, variables=["ta"])
    sub["utc_offset"] = (
        "site",
        full.utc_offset.values.astype("float32"),
        {"units": "h", "long_name": "local standard time minus UTC"},
    )
    sub["record_minutes"] = (
        "site",
        full.record_minutes.values.astype(np.int16),
        {"units": "min", "long_name": "native record length"},
    )
    sub.attrs["history"] = (
        raw.attrs.get("history", "") + f"\nSubset for the fluxgrid demo: sites {SITES}, "
        f"time {PERIOD.start}..{PERIOD.stop} UTC, values unchanged."
    )
    if target.exists():
        shutil.rmtree(target)
    sub = sub.chunk({"site": 1, "time": -1})
    sub.to_zarr(target, zarr_format=2, consolidated=True, mode="w")


def land_cover(source: str) -> None:
    """Write the MCD12C1 cut next to this file (NetCDF, zlib, the product's codes and fill).

    NetCDF, not GeoTIFF, so that the demo reads it with the core dependencies only.
    """
    import rioxarray

    lon0, lat0, lon1, lat1 = LAND_COVER_BOX
    raw = rioxarray.open_rasterio(source).isel(band=0, drop=True)
    cut = raw.sel(x=slice(lon0, lon1), y=slice(lat1, lat0)).drop_vars("spatial_ref")
    cut = cut.rename(x="lon", y="lat").sortby("lat")
    cut.name = "Majority_Land_Cover_Type_1"
    cut.attrs = {
        "long_name": "MODIS MCD12C1 IGBP land-cover class (0 water, 1-16 IGBP, 255 fill)",
        "flag_values": np.arange(17, dtype=np.uint8),
        "flag_meanings": "WAT ENF EBF DNF DBF MF CSH OSH WSA SAV GRA WET CRO URB CVM SNO BSV",
    }
    cut["lat"].attrs = {"standard_name": "latitude", "units": "degrees_north"}
    cut["lon"].attrs = {"standard_name": "longitude", "units": "degrees_east"}
    ds = cut.to_dataset()
    ds.attrs = {
        "title": "MODIS MCD12C1 C6 2019 IGBP land cover, 2-16 E, 43-53 N (fluxgrid demo cut)",
        "source": Path(source).name,
        "references": "Friedl, M., Sulla-Menashe, D. MCD12C1 MODIS/Terra+Aqua Land Cover Type "
        "Yearly L3 Global 0.05Deg CMG V006, NASA LP DAAC, doi:10.5067/MODIS/MCD12C1.006",
    }
    encoding = {cut.name: {"zlib": True, "complevel": 9, "dtype": "uint8", "_FillValue": 255}}
    ds.to_netcdf(Path(__file__).with_name("MCD12C1.A2019001.006.demo.nc"), encoding=encoding)


if __name__ == "__main__":
    arg = sys.argv[1]
    land_cover(arg) if arg.lower().endswith(".tif") else main(arg)
