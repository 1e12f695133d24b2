"""``(lat, lon)`` layers of an upscaling: IGBP codes and masks, read and put on the drivers' grid.

:func:`read_layer` reads a layer from a file, :func:`align_layer` checks that it lies on the
drivers' grid, and :func:`mapped_cells` combines the drivers' ``land`` coordinate, a mask
and the IGBP grid into the cells that are mapped (cells outside cost nothing).

Examples
--------
>>> like = xr.Dataset(coords={"lat": [0.5, 1.5], "lon": [10.5, 11.5, 12.5]})
>>> codes = xr.DataArray([[4, 4, -1], [1, 2, 4]], dims=("lat", "lon"), coords=like.coords)
>>> keep, codes, rules = mapped_cells(like, igbp=codes)
>>> int(keep.sum()), rules
(5, ['cells with an IGBP vegetation type (igbp >= 0)'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import GridError
from ..grids.core import standardise_grid
from ..grids.store import open_grid

if TYPE_CHECKING:  # pragma: no cover
    from ..config.stages import UpscaleConfig

__all__ = ["align_layer", "config_layers", "mapped_cells", "read_layer"]


def read_layer(path: str | os.PathLike, variables: Sequence[str] = ("igbp",)) -> xr.DataArray:
    """A ``(lat, lon)`` layer (IGBP codes, a mask) from a NetCDF file or Zarr store.

    Parameters
    ----------
    path
        File or store readable by :func:`fluxgrid.grids.open_grid`.
    variables
        Accepted variable names, in order of preference.

    Returns
    -------
    xarray.DataArray
        Dims ``(lat, lon)`` in the standard layout, loaded; a layer other than ``igbp`` is
        made boolean (non-zero values are True, missing values False).

    Raises
    ------
    GridError
        If none of ``variables`` is there or it is not 2-D.

    Examples
    --------
    >>> igbp = read_layer("vegetation_0p5deg.nc")              # doctest: +SKIP
    >>> land = read_layer("land.nc", variables=("land", "mask"))  # doctest: +SKIP
    """
    ds = open_grid(path)
    for name in variables:
        if name in ds.variables:
            da = ds[name]
            if "time" in da.dims and da.sizes["time"] == 1:
                da = da.isel(time=0, drop=True)
            if set(da.dims) != {"lat", "lon"}:
                raise GridError(f"{path}: {name!r} has dims {list(da.dims)}; expected (lat, lon)")
            da = da.load()
            if name != "igbp" and da.dtype != bool:
                da = da.fillna(0) != 0
            return da
    raise GridError(
        f"{path}: no variable {' or '.join(map(repr, variables))}; it has "
        f"{sorted(map(str, ds.data_vars))}"
    )


def config_layers(cfg: UpscaleConfig) -> tuple[xr.DataArray | None, xr.DataArray | None]:
    """The IGBP grid and the mask an :class:`~fluxgrid.config.UpscaleConfig` names.

    Parameters
    ----------
    cfg
        Its ``igbp`` file holds an ``igbp`` layer, its ``mask`` file a ``mask`` or ``land``
        layer (see :func:`read_layer`).

    Returns
    -------
    igbp, mask : xarray.DataArray or None
        ``None`` where the config names no file.
    """
    igbp = read_layer(cfg.igbp, ("igbp",)) if cfg.igbp else None
    mask = read_layer(cfg.mask, ("mask", "land")) if cfg.mask else None
    return igbp, mask


def align_layer(da: xr.DataArray, like: xr.Dataset, what: str) -> xr.DataArray:
    """``da`` in the standard layout on exactly the ``lat``/``lon`` of ``like``.

    Parameters
    ----------
    da
        A ``(lat, lon)`` layer (any latitude order, longitudes in either convention).
    like
        The drivers whose grid the layer must lie on.
    what
        Name of the layer in messages.

    Returns
    -------
    xarray.DataArray
        The layer with ``like``'s coordinates.

    Raises
    ------
    GridError
        If ``da`` is not 2-D ``(lat, lon)`` or lies on another grid.
    """
    if set(da.dims) != {"lat", "lon"}:
        raise GridError(f"{what} has dims {list(da.dims)}; expected (lat, lon)")
    da = standardise_grid(da.to_dataset(name="v"))["v"]
    for c in ("lat", "lon"):
        if da.sizes[c] != like.sizes[c] or not np.allclose(da[c].values, like[c].values):
            raise GridError(
                f"{what} is on another grid than the drivers ({c} differs); build it with "
                "target=drivers (e.g. land_mask(lsm, target=drivers), "
                "vegetation_type(land_cover, target=drivers))"
            )
    return da.assign_coords(lat=like["lat"].values, lon=like["lon"].values)


def mapped_cells(
    drivers: xr.Dataset,
    mask: xr.DataArray | None = None,
    igbp: xr.DataArray | None = None,
) -> tuple[xr.DataArray, xr.DataArray | None, list[str]]:
    """The cells to map: the drivers' ``land`` coordinate, ``mask`` and IGBP codes >= 0.

    Parameters
    ----------
    drivers
        The prepared drivers (``lat``, ``lon``; a ``land`` coordinate is used).
    mask
        Boolean ``(lat, lon)`` on the drivers' grid.
    igbp
        ``(lat, lon)`` integer IGBP codes on the drivers' grid (negative or missing: none).

    Returns
    -------
    keep : xarray.DataArray
        Boolean ``(lat, lon)``: the cell is mapped.
    codes : xarray.DataArray or None
        int16 IGBP codes (``-1`` where missing), ``None`` without ``igbp``.
    rules : list of str
        The rules that removed cells, for the map's ``mask_rules`` attribute.

    Raises
    ------
    GridError
        A layer on another grid, a mask that is not boolean, IGBP codes that are not numbers.
    """
    keep = xr.DataArray(
        np.ones((drivers.sizes["lat"], drivers.sizes["lon"]), dtype=bool),
        dims=("lat", "lon"),
        coords={"lat": drivers["lat"].values, "lon": drivers["lon"].values},
    )
    rules = []
    if "land" in drivers.coords:
        keep = keep & drivers["land"].reset_coords(drop=True).astype(bool)
        rules.append("land coordinate of the drivers")
    if mask is not None:
        m = align_layer(mask, drivers, "mask")
        if m.dtype != bool:
            raise GridError(f"mask must be boolean (lat, lon), got {m.dtype}")
        keep = keep & m
        rules.append("mask argument")
    codes = None
    if igbp is not None:
        codes = align_layer(igbp, drivers, "igbp grid")
        if codes.dtype.kind == "f":
            codes = codes.fillna(-1)
        if codes.dtype.kind not in "iuf":
            raise GridError(f"igbp grid must hold integer IGBP codes (1..17), got {codes.dtype}")
        codes = codes.astype("int16")
        keep = keep & (codes >= 0)
        rules.append("cells with an IGBP vegetation type (igbp >= 0)")
    return keep, codes, rules
