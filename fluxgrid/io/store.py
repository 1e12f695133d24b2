"""Site cubes on disk: chunked, consolidated Zarr and NetCDF, written atomically.

The chunk plan serves time-series access (the models read whole records of a few sites):
each chunk holds the full time axis for a block of sites. Every write goes to a temporary
sibling path first and is moved into place only when complete, so an interrupted or failed
write leaves the previous store intact.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> cube = load_demo_cube()                          # doctest: +SKIP
>>> write_cube(cube, "cube.zarr", overwrite=True)    # doctest: +SKIP
>>> again = open_cube("cube.zarr")                   # lazy, Dask-backed  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import DataNotFoundError, FileFormatError, FluxgridError
from .atomic import atomic_path, check_writable, recover_interrupted_swap

__all__ = ["chunk_plan", "open_cube", "to_netcdf", "write_cube"]

#: target bytes per chunk of one variable (Dask and Zarr both like 10-100 MB)
_CHUNK_BYTES = 32 * 2**20


def chunk_plan(ds: xr.Dataset, *, target_bytes: int = _CHUNK_BYTES) -> dict[str, int]:
    """Chunk sizes for time-series access: all of ``time``, as many sites as fit the target.

    Parameters
    ----------
    ds
        Site cube with dims ``(site, time)``.
    target_bytes
        Approximate bytes per chunk of one float variable.

    Returns
    -------
    dict
        ``{"site": n, "time": ds.sizes["time"]}``.
    """
    n_time = max(int(ds.sizes.get("time", 1)), 1)
    itemsize = max((ds[v].dtype.itemsize for v in ds.data_vars), default=4)
    per_site = n_time * itemsize
    n_site = int(np.clip(target_bytes // per_site, 1, max(int(ds.sizes.get("site", 1)), 1)))
    return {"site": n_site, "time": n_time}


def _with_fixed_strings(ds: xr.Dataset) -> xr.Dataset:
    """Object-dtype coordinates as fixed-width strings, computed (their length must be known)."""
    out = ds.copy()
    for name in out.coords:
        if out[name].dtype == object or (out[name].dtype.kind == "U" and out[name].chunks):
            out[name] = out[name].load().astype(str)
    return out


def _prepared(ds: xr.Dataset) -> xr.Dataset:
    """Cube with the chunk plan applied and stale encodings dropped."""
    if "site" not in ds.dims:
        raise FileFormatError(
            None, f"cube has dims {dict(ds.sizes)}", expected="a 'site' dimension"
        )
    plan = {k: v for k, v in chunk_plan(ds).items() if k in ds.dims}
    out = _with_fixed_strings(ds)
    for name in out.variables:
        out[name].encoding = {}
    return out.chunk(plan)


def _write_zarr(ds: xr.Dataset, path: Path, **kwargs) -> None:
    # Zarr format 2: consolidated metadata and string coordinates are part of its spec
    # (in format 3 both are still extensions), and every Zarr reader can open it
    if kwargs.get("mode") == "w":
        kwargs.setdefault("zarr_format", 2)
    ds.to_zarr(path, consolidated=True, **kwargs)


def write_cube(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    mode: Literal["w", "a"] = "w",
    overwrite: bool = False,
) -> Path:
    """Write a site cube to a chunked, consolidated Zarr store, atomically.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)`` (lazy or in memory).
    path
        Target store (a directory).
    mode
        ``"w"`` writes a new store (refusing an existing one unless ``overwrite``);
        ``"a"`` adds new sites to an existing store. When the time axes match, the existing
        chunks are copied and the new sites appended; otherwise the union time axis is
        written anew. Either way the old store is replaced only once the new one is complete.
    overwrite
        With ``mode="w"``, replace an existing store.

    Returns
    -------
    pathlib.Path
        The store path.

    Raises
    ------
    OutputExistsError
        If the store exists and neither ``overwrite`` nor ``mode="a"`` was given.
    FluxgridError
        If appended sites are already in the store.
    """
    path = Path(path)
    if mode == "a" and not path.exists():
        mode = "w"
    if mode == "w":
        check_writable(path, overwrite)
        with atomic_path(path) as tmp:
            _write_zarr(_prepared(ds), tmp, mode="w")
        return path
    if mode != "a":
        raise FluxgridError(f"mode={mode!r}; expected 'w' (write) or 'a' (append sites)")

    old = open_cube(path)
    dup = sorted(set(map(str, ds.site.values)) & set(map(str, old.site.values)))
    if dup:
        raise FluxgridError(
            f"{path}: sites {dup} are already in the store; drop them from the new cube or "
            "rewrite the store with mode='w', overwrite=True"
        )
    same_axis = (
        old.sizes["time"] == ds.sizes["time"]
        and bool((old.time.values == ds.time.values).all())
        and set(old.data_vars) == set(ds.data_vars)
    )
    with atomic_path(path) as tmp:
        if same_axis:
            shutil.copytree(path, tmp)
            new = _prepared(ds)
            new = new.chunk({"site": old.chunks["site"][0] if old.chunks else new.sizes["site"]})
            _write_zarr(
                new.drop_vars([c for c in new.coords if "site" not in new[c].dims and c != "site"]),
                tmp,
                append_dim="site",
            )
        else:
            merged = xr.concat(
                [_with_fixed_strings(old), _with_fixed_strings(ds)],
                dim="site",
                join="outer",
                combine_attrs="override",
            )
            _write_zarr(_prepared(merged), tmp, mode="w")
    return path


def open_cube(path: str | os.PathLike, *, chunks: dict | str | None = "auto") -> xr.Dataset:
    """Open a site cube written by :func:`write_cube` (or any Zarr/NetCDF cube), lazily.

    Parameters
    ----------
    path
        A Zarr store or a NetCDF file.
    chunks
        Dask chunks; ``"auto"`` uses the store's own chunks.

    Returns
    -------
    xarray.Dataset
        Dask-backed cube; nothing is loaded until computed.
    """
    path = Path(path)
    recover_interrupted_swap(path)
    if not path.exists():
        raise DataNotFoundError(f"{path}: no such store or file")
    try:
        if path.suffix in (".nc", ".nc4", ".netcdf"):
            return xr.open_dataset(path, chunks={} if chunks == "auto" else chunks)
        return xr.open_zarr(path, chunks={} if chunks == "auto" else chunks)
    except (OSError, ValueError, KeyError) as err:
        raise FileFormatError(path, f"cannot be opened as a site cube ({err})") from err


def to_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    complevel: int = 4,
) -> Path:
    """Export a cube to compressed NetCDF-4, atomically.

    Parameters
    ----------
    ds
        Any dataset (site cube, results, maps).
    path
        Target ``.nc`` file.
    overwrite
        Replace an existing file.
    complevel
        zlib compression level for data variables.
    """
    path = check_writable(path, overwrite)
    encoding = {
        name: {"zlib": True, "complevel": complevel}
        for name, var in ds.data_vars.items()
        if var.dtype.kind in "fiu"
    }
    out = ds.copy()
    for name in out.variables:
        if out[name].dtype == object:
            out[name] = out[name].astype(str)
        out[name].encoding = {}
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return path
