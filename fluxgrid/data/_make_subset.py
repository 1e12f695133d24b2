"""How the bundled demo subset ``fluxnet2015_hh_demo.zarr`` was made (kept for provenance).

It copies, byte for byte, the packed ``uint16`` values of five FLUXNET2015 sites for
2007-2012 (UTC 2007-01-01 00:00 to 2013-01-01 12:00) out of the EXCITED-CO2 Zarr
conversion of FLUXNET2015 FULLSET, keeping its encoding (scale_factor, add_offset,
_FillValue) and attributes, so the demo exercises the same reader as the full store.

Run from the repository root::

    python -m fluxgrid.data._make_subset ../shared/data/fluxnet2015/hh.zarr
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


if __name__ == "__main__":
    main(sys.argv[1])
