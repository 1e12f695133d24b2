"""``fluxgrid demo``: the main job on the bundled FLUXNET2015 subset.

Builds the daily site cube from the bundled half-hourly data (five sites, 2007-2012), applies
target QC, writes the cube to Zarr and prints a summary with annual NEE per site.

Examples
--------
>>> from fluxgrid.demo import run_demo
>>> run_demo("demo_out")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

__all__ = ["run_demo"]


def run_demo(output: str | os.PathLike = "demo_out") -> dict[str, Path]:
    """Run the demo and return the paths it wrote.

    Parameters
    ----------
    output
        Folder for the outputs (created; existing demo outputs are replaced).

    Returns
    -------
    dict
        ``{"site_cube": path, "qc_report": path}``.
    """
    from .io.store import to_netcdf, write_cube
    from .prep.qc import qc_mask
    from .prep.resample import to_daily
    from .testing import load_demo_hh

    start = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    hh = load_demo_hh()
    print(
        f"[1/3] half-hourly subset: {hh.sizes['site']} sites "
        f"({', '.join(hh.site.values.astype(str))}), {hh.sizes['time']} half-hours"
    )
    daily = to_daily(hh).sel(time=slice("2007-01-01", "2012-12-31")).compute()
    cube, report = qc_mask(daily, threshold=0.7, min_valid_fraction=0.3)
    paths = {
        "site_cube": write_cube(cube, out / "site_cube.zarr", overwrite=True),
        "qc_report": to_netcdf(report, out / "qc_report.nc", overwrite=True),
    }
    print(
        f"[2/3] daily site cube: {cube.sizes['site']} sites x {cube.sizes['time']} days, "
        f"QC >= 0.7 kept {int(cube.nee.notnull().sum())} of "
        f"{int(daily.nee.notnull().sum())} daily NEE values"
    )
    annual = daily.nee.groupby("time.year").mean() * 365.25
    print("[3/3] mean annual NEE (gC m-2 y-1, negative = uptake):")
    for site in annual.site.values:
        values = annual.sel(site=site).values
        print(
            f"    {site} ({daily.igbp.sel(site=site).values!s}): "
            f"{np.nanmean(values):8.1f}  (years {annual.year.values[0]}-{annual.year.values[-1]})"
        )
    print(f"done in {time.perf_counter() - start:.1f} s; outputs:")
    for name, path in paths.items():
        print(f"    {name}: {path}")
    return paths
