"""Template: a reader for a new site data source (here: one daily NetCDF file per site).

Copy this file to ``fluxgrid/io/<source>.py`` and adapt ``_read_one`` to the format. A
reader's contract (what every later step relies on):

* dims ``(site, time)``; ``time`` in local standard time, labelling the start of each step;
* canonical variable names (``ta``, ``sw_in``, ``vpd``, ``nee``, ...: ``fluxgrid/catalog``)
  converted to canonical units once, here (:func:`fluxgrid.catalog.units.convert`), with
  their CF attributes (:func:`fluxgrid.catalog.cf_attrs`);
* site coordinates ``latitude``, ``longitude``, ``elevation``, ``igbp``, ``utc_offset``
  from a metadata table (:mod:`fluxgrid.io.metadata`);
* ``attrs["resolution"]`` (``HH``, ``HR``, ``DD``, ``WW``, ``MM``, ``YY``) and provenance
  (``source_files``, ``history``);
* errors that name the file, the variable and what is expected, as
  :class:`~fluxgrid.errors.FluxgridError` subclasses; nothing silently dropped.

Then let :func:`fluxgrid.io.sources.read_source` recognise the format, so ``fluxgrid ingest``,
recipes and training configs read it through the one chain in
:mod:`fluxgrid.prep.pipeline`.

Examples
--------
>>> cube = read_site_netcdf(["US-MMS.nc"], {"TA": "ta", "NEE": "nee"})  # doctest: +SKIP
>>> cube.nee.attrs["units"]                                              # doctest: +SKIP
'gC m-2 d-1'
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from fluxgrid import catalog
from fluxgrid.catalog.units import convert
from fluxgrid.errors import ColumnError, FileFormatError
from fluxgrid.io.metadata import site_coordinates, site_coords

RESOLUTION = "DD"


def _read_one(path: Path, names: Mapping[str, str]) -> tuple[str, pd.DatetimeIndex, dict]:
    """One site's file: its site ID, daily time axis and canonical variables (float32)."""
    try:
        with xr.open_dataset(path) as f:
            f = f.load()
    except (OSError, ValueError) as err:
        raise FileFormatError(path, f"cannot be read as NetCDF ({err})") from err
    site = f.attrs.get("site_id")
    if not site:
        raise FileFormatError(path, "has no global attribute 'site_id'", expected="e.g. US-MMS")
    time = pd.DatetimeIndex(f["time"].values).normalize()
    if time.has_duplicates or not time.is_monotonic_increasing:
        raise FileFormatError(path, "time is not strictly increasing", expected="one value a day")
    values = {}
    for source_name, name in names.items():
        if source_name not in f:
            raise ColumnError(source_name, file=path, expected=f"the variable read as {name!r}")
        units = f[source_name].attrs.get("units")
        if units is None:
            raise ColumnError(source_name, file=path, expected="a 'units' attribute")
        target = catalog.units_for(name, RESOLUTION)
        data = convert(f[source_name].values, units, target, time=time, what=source_name)
        values[name] = np.asarray(data, dtype=np.float32)
    return str(site), time, values


def read_site_netcdf(
    paths: Sequence[str | os.PathLike],
    names: Mapping[str, str],
    *,
    metadata: str | os.PathLike | pd.DataFrame | None = None,
) -> xr.Dataset:
    """Daily NetCDF files, one per site, as a site cube in canonical names and units.

    Parameters
    ----------
    paths
        NetCDF files with a ``time`` coordinate (days), a global ``site_id`` attribute and
        variables with ``units`` attributes.
    names
        ``{variable in the file: canonical name}``, e.g. ``{"TA": "ta", "NEE": "nee"}``.
    metadata
        Site metadata table (default: the bundled FLUXNET2015 list).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)``, float32 variables in canonical units, site coordinates,
        ``attrs["resolution"] == "DD"``.

    Raises
    ------
    FileFormatError, ColumnError, UnitError, MetadataError
        Naming the file, the variable or the site and what is expected.
    """
    sites = [_read_one(Path(p), names) for p in paths]
    axis = pd.date_range(min(t[0] for _, t, _ in sites), max(t[-1] for _, t, _ in sites))
    site_ids = [s for s, _, _ in sites]
    cube = xr.Dataset()
    for name in names.values():
        grid = np.full((len(sites), len(axis)), np.nan, dtype=np.float32)
        for i, (_site, time, values) in enumerate(sites):
            grid[i, axis.get_indexer(time)] = values[name]
        cube[name] = (("site", "time"), grid, catalog.cf_attrs(name, RESOLUTION))
    meta = site_coords(site_ids, metadata, source=", ".join(map(str, paths)))
    cube = cube.assign_coords(site_coordinates(site_ids, meta)).assign_coords(time=axis)
    cube.attrs = {
        "resolution": RESOLUTION,
        "time_zone": "local standard time",
        "source_files": "\n".join(map(str, paths)),
        "history": f"read_site_netcdf: {len(paths)} file(s)",
    }
    return cube
