"""``(lat, lon)`` layers of an upscaling: IGBP codes and masks, read and put on the drivers' grid.

:func:`read_layer` reads a layer from a file, :func:`align_layer` checks that it lies on the
drivers' grid, and :func:`mapped_cells` combines the drivers' ``land`` coordinate, a mask
and the IGBP grid into the cells that are mapped (cells outside cost nothing).
:func:`read_fractions` and :func:`fraction_layer` do the same for cover fractions
``(class, lat, lon)`` (:func:`fluxgrid.grids.class_fractions`): checked with
:func:`fluxgrid.grids.check_fractions`, non-vegetated classes and fractions below
``min_fraction`` set to 0 (not renormalised).

Examples
--------
>>> like = xr.Dataset(coords={"lat": [0.5, 1.5], "lon": [10.5, 11.5, 12.5]})
>>> codes = xr.DataArray([[4, 4, -1], [1, 2, 4]], dims=("lat", "lon"), coords=like.coords)
>>> keep, codes, rules = mapped_cells(like, igbp=codes)
>>> int(keep.sum()), rules
(5, ['cells with an IGBP vegetation type (igbp >= 0)'])
>>> non_vegetated_codes(["WAT", 15]).tolist()
[15, 17]
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from ..errors import ConfigError, DataNotFoundError, GridError
from ..grids.core import standardise_grid
from ..grids.landcover import IGBP_CLASSES, check_fractions, igbp_codes
from ..grids.store import open_grid

if TYPE_CHECKING:  # pragma: no cover
    from ..config.stages import UpscaleConfig

__all__ = [
    "DEFAULT_NON_VEGETATED",
    "FractionLayer",
    "align_layer",
    "config_layers",
    "fraction_layer",
    "mapped_cells",
    "non_vegetated_codes",
    "read_fractions",
    "read_layer",
]

#: IGBP classes that contribute zero flux in cover-fraction mode (urban, snow/ice, barren,
#: water)
DEFAULT_NON_VEGETATED: tuple[str, ...] = ("URB", "SNO", "BSV", "WAT")


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
    return _on_grid(da, like, what)


def _on_grid(da: xr.DataArray, like: xr.Dataset, what: str) -> xr.DataArray:
    """``da`` (dims ``(..., lat, lon)``) standardised and checked to lie on ``like``'s grid."""
    if set(da.dims) == {"lat", "lon"}:
        da = standardise_grid(da.to_dataset(name="v"))["v"]
    else:  # the standard layout (lat ascending, lon in [-180, 180)) with extra dims kept
        da = da.assign_coords(lon=(da["lon"] + 180.0) % 360.0 - 180.0).sortby(["lat", "lon"])
    for c in ("lat", "lon"):
        if da.sizes[c] != like.sizes[c] or not np.allclose(da[c].values, like[c].values):
            raise GridError(
                f"{what} is on another grid than the drivers ({c} differs); build it with "
                "target=drivers (e.g. land_mask(lsm, target=drivers), "
                "vegetation_type(land_cover, target=drivers), "
                "class_fractions(land_cover, target=drivers))"
            )
    return da.assign_coords(lat=like["lat"].values, lon=like["lon"].values)


def non_vegetated_codes(classes: Sequence[int | str]) -> np.ndarray:
    """IGBP codes of ``classes`` given as codes or abbreviations (sorted, unique).

    Raises
    ------
    ConfigError
        An unknown abbreviation or a code outside 1..17.
    """
    codes = set()
    for c in classes:
        code = int(igbp_codes([c])[0]) if isinstance(c, str) else int(c)
        if code not in IGBP_CLASSES:
            raise ConfigError(
                f"non_vegetated: unknown IGBP class {c!r}; give codes 1..17 or one of "
                f"{', '.join(abbr for abbr, _ in IGBP_CLASSES.values())}"
            )
        codes.add(code)
    return np.array(sorted(codes), dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class FractionLayer:
    """Cover fractions on the drivers' grid, ready for the kernel.

    Attributes
    ----------
    weights
        float32 ``(class, lat, lon)`` of the vegetated classes kept anywhere: the cover
        fraction, 0 where the class is absent or below ``min_fraction``.
    covered
        bool ``(lat, lon)``: the cell has fractions (not NaN).
    classes
        IGBP codes of ``weights``' classes.
    names
        Their IGBP abbreviations.
    attrs
        The map attributes that record the mode (``land_cover_*``).
    """

    weights: xr.DataArray
    covered: xr.DataArray
    classes: list[int]
    names: list[str]
    attrs: dict[str, str]


def fraction_layer(
    fractions: xr.DataArray,
    like: xr.Dataset,
    *,
    non_vegetated: Sequence[int | str] = DEFAULT_NON_VEGETATED,
    min_fraction: float = 0.0,
) -> FractionLayer:
    """Checked cover fractions on the drivers' grid: the vegetated classes the kernel predicts.

    Parameters
    ----------
    fractions
        ``(class, lat, lon)`` area fractions (e.g. :func:`fluxgrid.grids.class_fractions`
        with ``target=drivers``), coordinate ``class`` = IGBP codes 1..17, summing to 1
        over all classes (water and non-vegetated included) where not NaN.
    like
        The drivers.
    non_vegetated
        Classes (codes or abbreviations) that contribute zero flux.
    min_fraction
        Fractions below this are skipped (contribute nothing; the others are not
        renormalised). 0 keeps every class present.

    Returns
    -------
    FractionLayer

    Raises
    ------
    GridError
        Not ``(class, lat, lon)``, class codes that are not IGBP codes, fractions outside
        [0, 1] or not summing to 1 (:func:`fluxgrid.grids.check_fractions`), or fractions
        on another grid than the drivers.
    ConfigError
        ``min_fraction`` outside [0, 1) or an unknown non-vegetated class.
    """
    if not isinstance(fractions, xr.DataArray):
        raise GridError(
            f"fractions must be an xarray.DataArray (class, lat, lon), got "
            f"{type(fractions).__name__}"
        )
    if set(fractions.dims) != {"class", "lat", "lon"}:
        raise GridError(
            f"fractions have dims {list(fractions.dims)}; expected (class, lat, lon), e.g. "
            "class_fractions(land_cover, target=drivers)"
        )
    if not 0.0 <= float(min_fraction) < 1.0:
        raise ConfigError(f"min_fraction={min_fraction!r}; expected a share in [0, 1)")
    skip = non_vegetated_codes(non_vegetated)
    codes = np.asarray(fractions["class"].values)
    if codes.dtype.kind not in "iu" or not np.isin(codes, list(IGBP_CLASSES)).all():
        raise GridError(
            f"fractions: class coordinate {codes.tolist()}; expected IGBP codes 1..17 (as "
            "from class_fractions)"
        )
    fr = _on_grid(fractions.load(), like, "fractions").transpose("class", "lat", "lon")
    check_fractions(fr)
    values = np.asarray(fr.values, dtype=np.float32)
    covered = np.isfinite(values).all(axis=0)
    kept = np.where(np.isfinite(values) & (values > 0) & (values >= min_fraction), values, 0.0)
    vegetated = ~np.isin(codes, skip)
    present = vegetated & (kept > 0).any(axis=(1, 2))
    names = [IGBP_CLASSES[int(c)][0] for c in codes[present]]
    weights = xr.DataArray(
        kept[present].astype(np.float32),
        dims=("class", "lat", "lon"),
        coords={"class": codes[present], "lat": like["lat"].values, "lon": like["lon"].values},
    )
    all_present = [IGBP_CLASSES[int(c)][0] for c in codes[(np.nan_to_num(values) > 0).any((1, 2))]]
    attrs = {
        "land_cover_mode": "fractions",
        "land_cover_method": (
            "cover-fraction upscaling: each cell's flux is sum_k f_k * y_k over the vegetated "
            "classes k with a fraction f_k > 0"
            + (f" and f_k >= {min_fraction:g}" if min_fraction > 0 else "")
            + ", y_k being the model's prediction with class k as its IGBP input; "
            "non-vegetated classes contribute zero flux; the kept fractions are not "
            "renormalised (skipped and non-vegetated shares add nothing)"
        ),
        "land_cover_classes_modelled": " ".join(names) or "none",
        "land_cover_classes_present": " ".join(all_present) or "none",
        "land_cover_non_vegetated": " ".join(IGBP_CLASSES[int(c)][0] for c in skip) or "none",
        "land_cover_min_fraction": f"{float(min_fraction):g}",
    }
    source = fractions.attrs.get("source") or fractions.attrs.get("title")
    if source:
        attrs["land_cover_source"] = str(source)
    return FractionLayer(
        weights,
        xr.DataArray(covered, dims=("lat", "lon"), coords=weights.drop_vars("class").coords),
        [int(c) for c in codes[present]],
        names,
        attrs,
    )


def read_fractions(path: str | os.PathLike) -> xr.DataArray:
    """Cover fractions ``(class, lat, lon)`` from a NetCDF file or Zarr store.

    Parameters
    ----------
    path
        File with a ``class_fraction`` variable (e.g. written from
        :func:`fluxgrid.grids.class_fractions`), dims ``(class, lat, lon)``, ``class`` =
        IGBP codes.

    Returns
    -------
    xarray.DataArray
        The fractions, loaded.

    Raises
    ------
    DataNotFoundError
        No such file.
    GridError
        No ``class_fraction`` (or ``fractions``) variable, or other dims.

    Examples
    --------
    >>> fractions = read_fractions("fractions_0p5deg.nc")  # doctest: +SKIP
    """
    if not os.path.exists(path):
        raise DataNotFoundError(f"{path}: no such cover-fraction file")
    ds = xr.open_dataset(path) if not str(path).endswith(".zarr") else xr.open_zarr(path)
    with ds:
        for name in ("class_fraction", "fractions"):
            if name in ds.data_vars:
                da = ds[name].load()
                if set(da.dims) != {"class", "lat", "lon"}:
                    raise GridError(
                        f"{path}: {name!r} has dims {list(da.dims)}; expected (class, lat, lon)"
                    )
                return da
        raise GridError(
            f"{path}: no variable 'class_fraction'; it has {sorted(map(str, ds.data_vars))} "
            "(write class_fractions(land_cover, target=drivers) to a file)"
        )


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
