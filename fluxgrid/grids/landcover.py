"""Land cover on grids: IGBP class fractions, land masks and dominant vegetation types.

Class grids (e.g. MODIS MCD12Q1 LC_Type1, IGBP codes 1..17) are one-hot encoded against the
class codes and aggregated conservatively (:func:`fluxgrid.grids.regrid`), so a coarse cell
gets the share of its area in each class (:func:`class_fractions`). Masks follow from the
shares: land where the share of non-water classes (or a land fraction such as ERA5 ``lsm``)
reaches a threshold (:func:`land_mask`), the class with the largest share
(:func:`vegetation_type`), or cells dominated by chosen classes (:func:`vegetation_mask`).

Examples
--------
>>> IGBP_CLASSES[4]
('DBF', 'deciduous broadleaf forests')
>>> igbp = vegetation_type(open_raster("MCD12Q1.tif"), target=drivers)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import xarray as xr

from ..errors import GridError
from .regrid import regrid

__all__ = [
    "IGBP_CLASSES",
    "class_fractions",
    "land_mask",
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


def _class_table(
    classes: Sequence[int | str] | Mapping[int, str] | None = None,
) -> dict[int, str]:
    """``{code: name}`` of ``classes``: codes/IGBP abbreviations, a mapping, or all (None)."""
    if classes is None:
        return {code: abbr for code, (abbr, _) in IGBP_CLASSES.items()}
    if isinstance(classes, Mapping):
        return {int(k): str(v) for k, v in classes.items()}
    by_abbr = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}
    table = {}
    for c in classes:
        if isinstance(c, str):
            if c not in by_abbr:
                raise GridError(f"unknown IGBP class {c!r}; known: {', '.join(by_abbr)}")
            table[by_abbr[c]] = c
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
    table = _class_table(classes)
    codes = xr.DataArray(
        np.array(list(table), dtype="int64"),
        dims="class",
        coords={"class": list(table), "class_name": ("class", list(table.values()))},
    )
    classified = land_cover.isin(list(table))
    onehot = (land_cover == codes).astype("float32").where(classified)
    if target is not None:
        onehot = regrid(onehot, target, method="conservative", min_coverage=min_coverage)
    onehot.name = "class_fraction"
    onehot.attrs = {"long_name": "area fraction of land-cover class", "units": "1"}
    return onehot


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
