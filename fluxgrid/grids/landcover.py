"""Land cover on grids: IGBP class fractions, land masks and dominant vegetation types.

Class grids (e.g. MODIS MCD12Q1 LC_Type1, IGBP codes 1..17) are one-hot encoded against the
class codes and aggregated conservatively (:func:`fluxgrid.grids.regrid`), so a coarse cell
gets the share of its area in each class (:func:`class_fractions`). Masks follow from the
shares: land where the share of non-water classes (or a land fraction such as ERA5 ``lsm``)
reaches a threshold (:func:`land_mask`), the class with the largest share
(:func:`vegetation_type`), or cells dominated by chosen classes (:func:`vegetation_mask`).

Products are read with :func:`open_land_cover`, which brings their class scheme to the
IGBP codes used throughout (MODIS MCD12C1 stores water as 0, MCD12Q1 LC_Type1 as 17).

Examples
--------
>>> IGBP_CLASSES[4]
('DBF', 'deciduous broadleaf forests')
>>> lc = open_land_cover("MCD12C1.A2019001.006.tif", bbox=(2, 43, 16, 53))  # doctest: +SKIP
>>> igbp = vegetation_type(lc, target=drivers)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import GridError
from .core import grid_edges
from .regrid import conservative_weights, regrid
from .store import open_grid, open_raster

__all__ = [
    "IGBP_CLASSES",
    "LAND_COVER_SCHEMES",
    "check_fractions",
    "class_fractions",
    "igbp_codes",
    "land_mask",
    "open_land_cover",
    "vegetation_mask",
    "vegetation_type",
]

#: IGBP classes of MODIS MCD12Q1 LC_Type1 (code -> FLUXNET abbreviation, description)
IGBP_CLASSES: dict[int, tuple[str, str]] = {
    1: ("ENF", "evergreen needleleaf forests"),
    2: ("EBF", "evergreen broadleaf forests"),
    3: ("DNF", "deciduous needleleaf forests"),
    4: ("DBF", "deciduous broadleaf forests"),
    5: ("MF", "mixed forests"),
    6: ("CSH", "closed shrublands"),
    7: ("OSH", "open shrublands"),
    8: ("WSA", "woody savannas"),
    9: ("SAV", "savannas"),
    10: ("GRA", "grasslands"),
    11: ("WET", "permanent wetlands"),
    12: ("CRO", "croplands"),
    13: ("URB", "urban and built-up lands"),
    14: ("CVM", "cropland/natural vegetation mosaics"),
    15: ("SNO", "permanent snow and ice"),
    16: ("BSV", "barren"),
    17: ("WAT", "water bodies"),
}


def igbp_codes(names: Sequence[str] | np.ndarray, *, dtype: str = "int16") -> np.ndarray:
    """IGBP codes of FLUXNET class abbreviations; -1 for a name that is no IGBP class.

    Examples
    --------
    >>> igbp_codes(["DBF", "ENF", ""]).tolist()
    [4, 1, -1]
    """
    return np.array([_CODE_OF.get(str(n), -1) for n in names], dtype=dtype)


#: class schemes of land-cover products: ``{scheme: {product code: IGBP code}}`` (codes not
#: listed keep their value); 255 is the fill value of both
LAND_COVER_SCHEMES: dict[str, dict[int, int]] = {
    "igbp": {},  # MODIS MCD12Q1 LC_Type1: IGBP 1..17, 17 water
    "mcd12c1": {0: 17},  # MODIS MCD12C1 Majority_Land_Cover_Type_1: 0 water, 1..16 IGBP
}
_FILL = 255
_CODE_OF = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}


def _detect_scheme(path: Path, codes: set[int]) -> str:
    """The class scheme of a product, from its file name or else its codes."""
    name = path.name.upper()
    if "MCD12C1" in name:
        return "mcd12c1"
    if "MCD12Q1" in name:
        return "igbp"
    if 0 in codes and 17 in codes:
        raise GridError(
            f"{path}: classes 0 and 17 both present, which is neither IGBP (17 water) nor "
            "MCD12C1 (0 water); give scheme= and check the file holds IGBP classes"
        )
    return "mcd12c1" if 0 in codes else "igbp"


def open_land_cover(
    path: str | os.PathLike,
    *,
    scheme: str = "auto",
    bbox: tuple[float, float, float, float] | None = None,
    variable: str | None = None,
) -> xr.DataArray:
    """Read a land-cover product (MODIS MCD12C1 / MCD12Q1, IGBP scheme) as IGBP codes 1..17.

    The raster is read with :func:`fluxgrid.grids.open_raster` (geographic rasters as they
    are; projected ones, such as MCD12Q1 sinusoidal tiles, warped by nearest neighbour),
    cut to ``bbox`` before anything is loaded, and its codes brought to the IGBP codes of
    :data:`IGBP_CLASSES` (MCD12C1's water 0 becomes 17).

    Parameters
    ----------
    path
        NetCDF / Zarr with ``lat``/``lon`` (read with the core dependencies), or a GeoTIFF
        or another GDAL raster (needs ``rioxarray``; the HDF4 products need a GDAL built
        with HDF4, e.g. with ``variable="Majority_Land_Cover_Type_1"`` for MCD12C1).
    scheme
        ``"mcd12c1"``, ``"igbp"`` (MCD12Q1 LC_Type1) or ``"auto"`` (from the file name, else
        from the codes present).
    bbox
        ``(lon_min, lat_min, lon_max, lat_max)`` to read, degrees (default: all).
    variable
        Sub-dataset of a multi-variable file.

    Returns
    -------
    xarray.DataArray
        ``land_cover`` uint8 dims ``(lat, lon)`` (lat ascending), IGBP codes 1..17, 255 where
        unclassified; attrs ``flag_values``/``flag_meanings``, ``class_scheme``, ``source``.

    Raises
    ------
    GridError
        If the file holds codes outside the scheme (not an IGBP land-cover grid) or the
        ``bbox`` holds no cell.

    Examples
    --------
    >>> from fluxgrid.data import demo_land_cover_path
    >>> lc = open_land_cover(demo_land_cover_path())
    >>> lc.dims, lc.attrs["class_scheme"], int(lc.max()) <= 17
    (('lat', 'lon'), 'igbp', True)
    """
    path = Path(path)
    raw = _open_classes(path, variable)
    if bbox is not None:
        lon0, lat0, lon1, lat1 = map(float, bbox)
        raw = raw.sel(lat=slice(lat0, lat1), lon=slice(lon0, lon1))
        if raw.sizes["lat"] == 0 or raw.sizes["lon"] == 0:
            raise GridError(f"{path}: bbox {bbox} holds no cell of the land-cover grid")
    values = raw.fillna(_FILL).astype("uint8").load()
    codes = {int(c) for c in np.unique(values.values)} - {_FILL}
    if scheme == "auto":
        scheme = _detect_scheme(path, codes)
    if scheme not in LAND_COVER_SCHEMES:
        raise GridError(
            f"scheme={scheme!r} is not a known land-cover class scheme; expected 'auto' or one "
            f"of {sorted(LAND_COVER_SCHEMES)}"
        )
    remap = LAND_COVER_SCHEMES[scheme]
    allowed = (set(range(1, 18)) - set(remap.values())) | set(remap)
    unknown = sorted(codes - allowed)
    if unknown:
        raise GridError(
            f"{path}: class codes {unknown[:10]} are not in the {scheme!r} scheme (codes "
            f"{min(allowed)}..{max(allowed)}, fill {_FILL}); expected an IGBP land-cover grid "
            "(MCD12C1 Majority_Land_Cover_Type_1 or MCD12Q1 LC_Type1)"
        )
    out = values.copy()
    for code, igbp in remap.items():
        out = out.where(values != code, igbp)
    out.name = "land_cover"
    out.attrs = {
        "long_name": "IGBP land-cover class",
        "flag_values": " ".join(str(c) for c in IGBP_CLASSES),
        "flag_meanings": " ".join(abbr for abbr, _ in IGBP_CLASSES.values()),
        "missing_value": _FILL,
        "class_scheme": "igbp",
        "source_scheme": scheme,
        "source": str(path.name),
    }
    return out


def _open_classes(path: Path, variable: str | None) -> xr.DataArray:
    """The class grid of a NetCDF/Zarr file (xarray) or of a raster (rioxarray), lat ascending."""
    if path.suffix.lower() not in (".nc", ".nc4", ".zarr"):
        return open_raster(path, variable=variable)
    ds = open_grid(path)
    names = (
        [variable] if variable else [v for v in ds.data_vars if {"lat", "lon"} <= set(ds[v].dims)]
    )
    if len(names) != 1 or names[0] not in ds.data_vars:
        raise GridError(
            f"{path}: expected one land-cover variable on (lat, lon); it has "
            f"{sorted(ds.data_vars)}: pass variable=..."
        )
    return ds[names[0]]


def _check_geographic(land_cover: xr.DataArray) -> None:
    if not {"lat", "lon"} <= set(land_cover.dims):
        raise GridError(
            f"land cover has dims {land_cover.dims}; expected a geographic grid with dims "
            "(lat, lon): read projected rasters with open_land_cover / open_raster, which "
            "warp them to latitude/longitude"
        )


def _check_covers(land_cover: xr.DataArray, target: xr.Dataset | xr.DataArray) -> None:
    """Refuse a target grid that reaches outside the land-cover grid."""
    (slat, slon), (tlat, tlon) = grid_edges(land_cover), grid_edges(target)
    tol_lat, tol_lon = 0.5 * abs(slat[1] - slat[0]), 0.5 * abs(slon[1] - slon[0])
    if (
        tlat.min() < slat.min() - tol_lat
        or tlat.max() > slat.max() + tol_lat
        or tlon.min() < slon.min() - tol_lon
        or tlon.max() > slon.max() + tol_lon
    ):
        raise GridError(
            f"the land-cover grid (lat {slat.min():g}..{slat.max():g}, lon {slon.min():g}.."
            f"{slon.max():g}) does not cover the target grid (lat {tlat.min():g}..{tlat.max():g}"
            f", lon {tlon.min():g}..{tlon.max():g}); read land cover over the whole target"
        )


def check_fractions(fractions: xr.DataArray, *, tolerance: float = 1e-3) -> xr.DataArray:
    """Check class fractions ``(class, ..., lat, lon)``: in [0, 1], summing to 1 where defined.

    Parameters
    ----------
    fractions
        Class fractions (e.g. :func:`class_fractions`), dim ``class``; NaN cells are allowed
        (not covered) but a cell is either all NaN or all finite.
    tolerance
        Allowed deviation of a cell's sum from 1.

    Returns
    -------
    xarray.DataArray
        ``fractions`` unchanged.

    Raises
    ------
    GridError
        Naming how many cells fail and the worst sum.

    Examples
    --------
    >>> f = xr.DataArray([[0.3], [0.7]], dims=("class", "cell"), coords={"class": [4, 10]})
    >>> check_fractions(f).sizes["class"]
    2
    """
    if "class" not in fractions.dims:
        raise GridError(f"fractions have dims {fractions.dims}; expected a 'class' dim")
    values = np.asarray(fractions.values, dtype="float64")
    axis = fractions.dims.index("class")
    finite = np.isfinite(values)
    partly = finite.any(axis=axis) & ~finite.all(axis=axis)
    if partly.any():
        raise GridError(
            f"{int(partly.sum())} cells have fractions for some classes and NaN for others; "
            "expected every class's fraction (0 where absent) or NaN for all"
        )
    if ((values < -tolerance) | (values > 1 + tolerance))[finite].any():
        raise GridError("class fractions outside [0, 1]; expected area shares of each class")
    total = np.nansum(values, axis=axis)
    bad = finite.all(axis=axis) & (np.abs(total - 1) > tolerance)
    if bad.any():
        worst = total[bad][np.argmax(np.abs(total[bad] - 1))]
        raise GridError(
            f"class fractions of {int(bad.sum())} cells do not sum to 1 (e.g. {worst:.4f}); "
            "expected shares of all classes present (include water and non-vegetated classes, "
            "or renormalise)"
        )
    return fractions


def _class_table(
    classes: Sequence[int | str] | Mapping[int, str] | None = None,
) -> dict[int, str]:
    """``{code: name}`` of ``classes``: codes/IGBP abbreviations, a mapping, or all (None)."""
    if classes is None:
        return {code: abbr for code, (abbr, _) in IGBP_CLASSES.items()}
    if isinstance(classes, Mapping):
        return {int(k): str(v) for k, v in classes.items()}
    table = {}
    for c in classes:
        if isinstance(c, str):
            if c not in _CODE_OF:
                raise GridError(f"unknown IGBP class {c!r}; known: {', '.join(_CODE_OF)}")
            table[_CODE_OF[c]] = c
        else:
            table[int(c)] = IGBP_CLASSES.get(int(c), (str(c), ""))[0]
    return table


def class_fractions(
    land_cover: xr.DataArray,
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    classes: Sequence[int | str] | Mapping[int, str] | None = None,
    min_coverage: float = 0.5,
) -> xr.DataArray:
    """Area fraction of each land-cover class in each (target) cell.

    The class grid is one-hot encoded against the class codes (one vectorised comparison)
    and, with ``target``, aggregated conservatively (area-weighted), so a 0.25 degree cell
    gets the share of its area in each class. Cells whose classified area is below
    ``min_coverage`` are NaN; unclassified (fill, NaN) pixels count as not covered.

    Parameters
    ----------
    land_cover
        Integer class grid, dims ``(..., lat, lon)`` (e.g. MODIS MCD12Q1 LC_Type1, IGBP codes;
        codes not in ``classes`` are treated as unclassified).
    target
        Grid to aggregate onto (default: the land-cover grid itself).
    classes
        Codes, IGBP abbreviations or ``{code: name}``; default all 17 IGBP classes.
    min_coverage
        See above (used only with ``target``).

    Returns
    -------
    xarray.DataArray
        ``class_fraction`` dims ``(class, ..., lat, lon)``, coords ``class`` (codes) and
        ``class_name``; fractions in [0, 1] summing to 1 over ``classes`` where covered.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lc = xr.DataArray([[4, 17], [4, 4]], coords=g.coords, dims=("lat", "lon"))
    >>> frac = class_fractions(lc, target=make_grid(2.0, bbox=(0, 0, 2, 2)), classes=["DBF", "WAT"])
    >>> frac.sel(class_name="DBF").round(2).item()
    0.75
    """
    _check_geographic(land_cover)
    if target is not None:
        _check_covers(land_cover, target)
    table = _class_table(classes)
    codes = xr.DataArray(
        np.array(list(table), dtype="int64"),
        dims="class",
        coords={"class": list(table), "class_name": ("class", list(table.values()))},
    )
    if target is not None and land_cover.dims == ("lat", "lon"):
        return _aggregated_fractions(land_cover, target, table, codes.coords, min_coverage)
    classified = land_cover.isin(list(table))
    onehot = (land_cover == codes).astype("float32").where(classified)
    if target is not None:
        onehot = regrid(onehot, target, method="conservative", min_coverage=min_coverage)
    onehot.name = "class_fraction"
    onehot.attrs = dict(_FRACTION_ATTRS)
    return onehot


_FRACTION_ATTRS = {"long_name": "area fraction of land-cover class", "units": "1"}


def _aggregated_fractions(
    land_cover: xr.DataArray,
    target: xr.Dataset | xr.DataArray,
    table: dict[int, str],
    class_coords: xr.Coordinates,
    min_coverage: float,
) -> xr.DataArray:
    """Class fractions on ``target`` from the exact overlap areas of every pixel with every cell.

    The conservative weights are separable and sparse (a pixel overlaps a few target cells):
    each (pixel, cell) overlap adds its area to the cell's bin of the pixel's class, one
    weighted ``bincount`` per block of source rows, so no one-hot array is ever built.
    """
    w_lat, w_lon, full = conservative_weights(land_cover, target)
    i_t, r_s = np.nonzero(w_lat.values)  # (target row, source row) pairs
    j_t, k_s = np.nonzero(w_lon.values)  # (target column, source column) pairs
    wl, wk = w_lat.values[i_t, r_s], w_lon.values[j_t, k_s]
    n_cls, (ni, nj) = len(table), full.shape
    lookup = np.full(256 if land_cover.dtype.itemsize == 1 else 65536, -1, dtype=np.int64)
    lookup[np.array(list(table), dtype=np.int64)] = np.arange(n_cls)
    values = np.asarray(land_cover.values)
    if values.dtype.kind == "f":
        values = np.where(np.isfinite(values), values, _FILL)
    values = values.astype(np.int64)
    if values.min() < 0 or values.max() >= lookup.size:
        lookup = np.pad(
            lookup, (0, max(int(values.max()) + 1 - lookup.size, 0)), constant_values=-1
        )
        values = np.where(values < 0, lookup.size - 1, values)
    sums = np.zeros(n_cls * ni * nj)
    block = max(1, 4_000_000 // max(len(j_t), 1))  # lat pairs per block (~4e6 overlaps)
    for start in range(0, len(i_t), block):
        p = slice(start, start + block)
        cls = lookup[values[r_s[p, None], k_s[None, :]]]  # (lat pairs, lon pairs)
        keep = cls >= 0
        index = (cls * ni + i_t[p, None]) * nj + j_t[None, :]
        weight = wl[p, None] * wk[None, :]
        sums += np.bincount(index[keep], weights=weight[keep], minlength=sums.size)
    area = sums.reshape(n_cls, ni, nj)
    covered = area.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = area / covered
    ok = (covered > 0) & (covered >= min_coverage * full.values * (1 - 1e-9))
    frac = np.where(ok, frac, np.nan).astype("float32")
    return xr.DataArray(
        frac,
        dims=("class", "lat", "lon"),
        coords={**class_coords, "lat": target["lat"].values, "lon": target["lon"].values},
        name="class_fraction",
        attrs=dict(_FRACTION_ATTRS),
    )


def land_mask(
    source: xr.DataArray,
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    threshold: float = 0.5,
    kind: Literal["auto", "classes", "fraction"] = "auto",
    water_classes: Sequence[int] = (0, 17),
    fill_values: Sequence[int] = (255,),
) -> xr.DataArray:
    """Boolean land mask ``(lat, lon)`` from a land-cover class grid or a land fraction.

    Parameters
    ----------
    source
        Either integer classes (IGBP: 17 water, 0 water in some products, 255 unclassified)
        or a land fraction in [0, 1] (e.g. ERA5 ``lsm``).
    target
        Grid to build the mask on (classes -> land fraction aggregated conservatively).
    threshold
        A cell is land when its land fraction is at least this.
    kind
        ``"classes"``, ``"fraction"`` or ``"auto"`` (integers or ``flag_values`` -> classes,
        floats within [0, 1] -> fraction).
    water_classes, fill_values
        Class codes of water and of unclassified pixels.

    Returns
    -------
    xarray.DataArray
        ``land`` (bool), dims ``(lat, lon)``, attrs with the rule used.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lsm = xr.DataArray([[0.9, 0.1], [0.6, 0.0]], coords=g.coords, dims=("lat", "lon"))
    >>> land_mask(lsm).values.tolist()
    [[True, False], [True, False]]
    """
    if kind == "auto":
        is_classes = source.dtype.kind in "iu" or "flag_values" in source.attrs
        if not is_classes and float(source.max()) > 1.0:
            is_classes = True
        kind = "classes" if is_classes else "fraction"
    if kind == "classes":
        valid = source.notnull() & ~source.isin(list(fill_values))
        land = (~source.isin(list(water_classes))).astype("float32").where(valid)
        rule = f"class not in {list(water_classes)} (unclassified {list(fill_values)} ignored)"
    elif kind == "fraction":
        land = source.astype("float32")
        rule = "land fraction"
    else:
        raise GridError(f"kind={kind!r}; expected 'auto', 'classes' or 'fraction'")
    if target is not None:
        land = regrid(land, target, method="conservative", min_coverage=0.5)
    mask = (land >= threshold).fillna(False).astype(bool)
    mask.name = "land"
    mask.attrs = {
        "long_name": "land mask",
        "flag_values": "0 1",
        "flag_meanings": "not_land land",
        "rule": f"{rule} >= {threshold}",
    }
    return mask


def vegetation_type(
    land_cover: xr.DataArray,
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    classes: Sequence[int | str] | Mapping[int, str] | None = None,
    exclude: Sequence[int | str] = ("WAT",),
) -> xr.DataArray:
    """Dominant vegetation type (IGBP code) per (target) cell; -1 where none.

    Parameters
    ----------
    land_cover
        Integer class grid (IGBP codes).
    target
        Grid to aggregate onto (area fractions, then the class with the largest share).
    classes
        Classes considered (default all IGBP classes).
    exclude
        Classes that never dominate (water by default): a coastal cell takes its dominant
        land class.

    Returns
    -------
    xarray.DataArray
        ``igbp`` int16 dims ``(lat, lon)``, attrs ``flag_values``/``flag_meanings`` (IGBP
        abbreviations), usable as a region grid by :func:`fluxgrid.regions.regional_totals`.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lc = xr.DataArray([[4, 17], [1, 4]], coords=g.coords, dims=("lat", "lon"))
    >>> vegetation_type(lc, target=make_grid(2.0, bbox=(0, 0, 2, 2))).item()
    4
    """
    table = _class_table(classes)
    skip = set(_class_table(list(exclude)))
    table = {k: v for k, v in table.items() if k not in skip}
    frac = class_fractions(land_cover, target=target, classes=table, min_coverage=0.0)
    best = frac.fillna(-1.0).argmax("class")
    has = (frac.fillna(0) > 0).any("class")
    codes = np.array(list(table), dtype="int16")
    out = xr.DataArray(codes, dims="k")[best.rename(None)].where(has, -1).astype("int16")
    out = out.drop_vars([c for c in out.coords if c not in ("lat", "lon")])
    out.name = "igbp"
    out.attrs = {
        "long_name": "dominant IGBP vegetation type",
        "flag_values": " ".join(str(c) for c in codes),
        "flag_meanings": " ".join(table.values()),
        "missing_value": -1,
    }
    return out


def vegetation_mask(
    land_cover: xr.DataArray,
    igbp: Sequence[int | str],
    *,
    target: xr.Dataset | xr.DataArray | None = None,
    threshold: float = 0.5,
) -> xr.DataArray:
    """Boolean mask of cells whose area share of the ``igbp`` classes is at least ``threshold``.

    Parameters
    ----------
    land_cover
        Integer class grid (IGBP codes), dims ``(lat, lon)``.
    igbp
        Selected classes (codes or IGBP abbreviations).
    target
        Grid to aggregate onto (default: the land-cover grid itself).
    threshold
        Share (0-1) of a cell's area the selected classes must cover.

    Returns
    -------
    xarray.DataArray
        ``vegetation_mask`` (bool), dims ``(lat, lon)``.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> lc = xr.DataArray([[4, 17], [4, 10]], coords=g.coords, dims=("lat", "lon"))
    >>> vegetation_mask(lc, ["DBF", "GRA"]).values.tolist()
    [[True, False], [True, True]]
    """
    table = _class_table(None)
    wanted = _class_table(list(igbp))
    frac = class_fractions(land_cover, target=target, classes=table, min_coverage=0.0)
    share = frac.sel({"class": list(wanted)}).sum("class", min_count=1)
    mask = (share >= threshold).fillna(False).astype(bool)
    mask.name = "vegetation_mask"
    mask.attrs = {
        "long_name": f"cells with at least {threshold:g} of {'/'.join(wanted.values())}",
        "flag_values": "0 1",
        "flag_meanings": "other selected",
    }
    return mask
