"""Open any supported source as a site cube: Zarr stores, FLUXNET files, folders, zips.

Examples
--------
>>> from fluxgrid.io.sources import read_source
>>> cube = read_source(["../shared/data/fluxnet2015/hh.zarr"], sites=["US-MMS"])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from ..errors import DataNotFoundError, FileFormatError
from .fluxnet import read_fluxnet
from .fluxnet_files import source_paths
from .fluxnet_zarr import open_fluxnet_zarr
from .store import open_cube

__all__ = ["is_zarr_store", "read_source"]


def is_zarr_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr store (format 2 or 3)."""
    path = Path(path)
    return path.is_dir() and any(
        (path / marker).exists() for marker in (".zgroup", ".zmetadata", "zarr.json")
    )


def read_source(
    sources: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    sites: Sequence[str] | None = None,
    metadata: str | os.PathLike | None = None,
    resolution: str | None = None,
    drop_torn_last_line: bool = False,
) -> xr.Dataset:
    """Open ``sources`` as one site cube.

    Parameters
    ----------
    sources
        One Zarr store (the FLUXNET2015 half-hourly store, or a cube written by fluxgrid), or
        FLUXNET-family CSV files, folders and ``.zip`` archives (see
        :func:`fluxgrid.io.fluxnet.read_fluxnet`).
    sites
        Keep only these sites.
    metadata
        Site metadata table (flat or BIF); default: the bundled FLUXNET2015 list.
    resolution
        For FLUXNET files: read only this resolution (HH, HR, DD, WW, MM, YY), needed when the
        sources hold several (distributed archives do). Ignored for Zarr stores.
    drop_torn_last_line
        For FLUXNET files: leave out a last line that is cut short, with a warning (by
        default such a file is refused; see :func:`fluxgrid.io.fluxnet.read_fluxnet`).

    Returns
    -------
    xarray.Dataset
        Site cube, dims ``(site, time)``, lazy where the source allows.
    """
    paths = source_paths(sources)
    if not paths:
        raise FileFormatError(
            None, "no source given", expected="files, folders, zips or a Zarr store"
        )
    zarrs = [p for p in paths if is_zarr_store(p)]
    if zarrs:
        if len(paths) > 1:
            raise FileFormatError(
                zarrs[0],
                "a Zarr store must be the only source of one ingest call",
            )
        store = zarrs[0]
        probe = xr.open_zarr(store, mask_and_scale=False, chunks=None)
        packed = any(probe[v].dtype == "uint16" for v in probe.data_vars)
        if packed and "resolution" not in probe.attrs:
            return open_fluxnet_zarr(store, sites=sites, metadata=metadata)
        cube = open_cube(store)
        if sites is not None:
            absent = sorted(set(sites) - set(cube["site"].values.astype(str)))
            if absent:
                raise DataNotFoundError(f"sites {absent} are not in {store}")
            cube = cube.sel(site=list(sites))
        return cube
    return read_fluxnet(
        paths,
        sites=sites,
        metadata=metadata,
        resolution=resolution,
        drop_torn_last_line=drop_torn_last_line,
    )
