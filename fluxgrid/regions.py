"""Regional carbon sinks: cell areas on the WGS84 ellipsoid and area-weighted annual totals.

Cell areas are exact on the WGS84 ellipsoid (semi-major axis ``a = 6378137 m``, eccentricity
``e``; the area of a latitude zone follows from the authalic-latitude function ``q``)::

    A = a**2 / 2 * dlon * (q(lat2) - q(lat1)),      dlon in radians
    q(p) = (1 - e**2) * (sin p / (1 - e**2 sin**2 p) - ln((1 - e sin p) / (1 + e sin p)) / (2 e))

so the cells of a global grid add up to the ellipsoid's surface area exactly. A sphere
(``radius=``, e.g. :data:`R_AUTHALIC`, the sphere with the ellipsoid's area) would be off by
+0.45 % at the equator and -0.85 % at 80 N.

Annual totals (:func:`regional_totals`) integrate a daily (or monthly-mean) flux map in
gC m-2 d-1 over days and area::

    total[region, year] = sum_t sum_cells flux[t, cell] * days[t] * area[cell] * w[region, cell]

in TgC yr-1 (1 Tg = 1e12 g), where ``days[t]`` is 1 for daily maps and the days of the
month for monthly means, and ``w`` is 1 inside a region and 0 outside (or a fraction of the
cell, e.g. the area share of a vegetation type). All regions are done in one weighted
contraction over the grid (``xr.dot`` of the annual sums with the region weights), so the
work is one pass over the data and runs blockwise on Dask.

**Sign convention.** NEE < 0 is uptake by the land. ``total`` is the NEE total (negative =
net uptake); for NEE the table also has ``sink = -total`` (positive = net uptake, what
"regional sink" usually means). Both are reported; plots use ``sink``.

**Missing values.** Cells and days without data (NaN: ocean, ice, masked or gap days) add
nothing to a total; they are neither filled nor scaled up. ``coverage`` gives the share of
the region's area x days of the year that had data, and ``min_coverage`` turns totals with
less into NaN. Years not completely inside the time axis are NaN unless
``full_years=False`` (``n_days`` shows how many days the record has in each year).

Examples
--------
>>> from fluxgrid.grids import make_grid
>>> area = cell_area(make_grid(1.0))
>>> round(float(area.sum()) / (4 * np.pi * R_AUTHALIC**2), 6)  # same area as the sphere
1.0
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .catalog.units import convert, normalise, same_dimension
from .errors import GridError, UnitError
from .grids.core import grid_edges
from .io.atomic import atomic_path, check_writable

__all__ = [
    "R_AUTHALIC",
    "cell_area",
    "region_weights",
    "regional_totals",
    "totals_to_csv",
]

#: radius (m) of the sphere with the surface area of the WGS84 ellipsoid (authalic radius)
R_AUTHALIC = 6371007.2
#: WGS84 semi-major axis (m) and flattening
WGS84_A = 6378137.0
WGS84_F = 1 / 298.257223563

_G_PER_TG = 1e12


def _authalic_q(lat_deg: np.ndarray, e: float) -> np.ndarray:
    """The authalic-latitude function ``q`` of the ellipsoid with eccentricity ``e``."""
    s = np.sin(np.radians(lat_deg))
    es = e * s
    return (1 - e**2) * (s / (1 - es**2) - np.log((1 - es) / (1 + es)) / (2 * e))


def cell_area(grid: xr.Dataset | xr.DataArray, *, radius: float | None = None) -> xr.DataArray:
    """Area of each grid cell on the WGS84 ellipsoid (or a sphere), m2, dims ``(lat, lon)``.

    Exact zone areas on the ellipsoid (see the module text), with cell edges from the grid's
    bounds (``lat_bnds``/``lon_bnds``) or midpoints between centres (see
    :func:`fluxgrid.grids.grid_edges`).

    Parameters
    ----------
    grid
        Any object with ``lat``/``lon`` cell-centre coordinates.
    radius
        Sphere radius in m for areas on a sphere, ``A = R**2 dlon (sin lat2 - sin lat1)``
        (e.g. :data:`R_AUTHALIC`); default None: the WGS84 ellipsoid.

    Returns
    -------
    xarray.DataArray
        ``cell_area`` (m2), CF ``standard_name = cell_area``; ``attrs["ellipsoid"]`` or
        ``attrs["radius_m"]`` names the surface.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> a = cell_area(make_grid(1.0, bbox=(0, 0, 1, 1)))
    >>> round(float(a[0, 0]) / 1e6)  # km2 of a 1 degree cell at the equator
    12308
    >>> round(float(cell_area(make_grid(1.0, bbox=(0, 0, 1, 1)), radius=R_AUTHALIC)[0, 0]) / 1e6)
    12364
    """
    lat_e, lon_e = grid_edges(grid)
    dlon = np.radians(np.diff(lon_e))
    if radius is None:
        e = np.sqrt(WGS84_F * (2 - WGS84_F))
        dzone = 0.5 * WGS84_A**2 * np.diff(_authalic_q(lat_e, e))
        surface = {"long_name": "area of grid cell on the WGS84 ellipsoid", "ellipsoid": "WGS84"}
    else:
        dzone = radius**2 * np.diff(np.sin(np.radians(lat_e)))
        surface = {"long_name": "area of grid cell on the sphere", "radius_m": radius}
    return xr.DataArray(
        np.outer(dzone, dlon),
        dims=("lat", "lon"),
        coords={"lat": grid["lat"].values, "lon": grid["lon"].values},
        name="cell_area",
        attrs={"standard_name": "cell_area", "units": "m2", **surface},
    )


def _same_grid(a: xr.DataArray, grid: xr.DataArray | xr.Dataset, what: str) -> None:
    for c in ("lat", "lon"):
        if c not in a.dims:
            raise GridError(f"{what} has no {c!r} dimension; expected dims (lat, lon)")
        if a.sizes[c] != grid.sizes[c] or not np.allclose(a[c].values, grid[c].values):
            raise GridError(
                f"{what} is on another grid than the flux map ({c} differs); put it on the map's "
                "grid first, e.g. fluxgrid.grids.regrid(mask, flux, method='nearest')"
            )


def region_weights(
    regions: xr.DataArray | xr.Dataset | Mapping[str, xr.DataArray] | None,
    grid: xr.Dataset | xr.DataArray,
    *,
    names: Mapping[int, str] | None = None,
) -> xr.DataArray:
    """Region weights ``(region, lat, lon)`` in [0, 1] from any supported region description.

    Parameters
    ----------
    regions
        * ``None``: one region ``"total"`` covering the whole grid;
        * boolean ``(lat, lon)`` mask: one region named after the mask (or ``"region"``);
        * integer ids ``(lat, lon)`` (e.g. countries, or IGBP codes from
          :func:`fluxgrid.grids.vegetation_type`): one region per id; ids are taken from
          ``names``, else from the ``flag_values`` attribute, else all ids >= 0 present;
          names from ``names``, else ``flag_meanings``, else the id;
        * fractions with one extra dim ``(k, lat, lon)`` (e.g.
          :func:`fluxgrid.grids.class_fractions`): one region per ``k`` weighted by the
          fraction of each cell (names from a ``class_name`` coordinate or ``k``'s values);
        * a mapping or Dataset of boolean masks ``{name: (lat, lon)}`` (may overlap).
    grid
        The flux map (its ``lat``/``lon`` must match the regions').
    names
        ``{id: name}`` for integer ids.

    Returns
    -------
    xarray.DataArray
        Float weights, dims ``(region, lat, lon)``, coord ``region`` (names) and, for ids,
        ``region_id``.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 1))
    >>> ids = xr.DataArray([[1, 2]], coords={"lat": g.lat, "lon": g.lon}, dims=("lat", "lon"))
    >>> region_weights(ids, g, names={1: "west", 2: "east"}).region.values.tolist()
    ['west', 'east']
    """
    lat, lon = grid["lat"], grid["lon"]
    if regions is None:
        w = xr.ones_like(lat * lon, dtype="float64").expand_dims(region=["total"])
        return w.transpose("region", "lat", "lon")
    if isinstance(regions, xr.Dataset):
        regions = dict(regions.data_vars)
    if isinstance(regions, Mapping):
        return _mask_weights(regions, grid)
    if not isinstance(regions, xr.DataArray):
        raise GridError(
            "regions must be a DataArray, Dataset or mapping of masks, "
            f"got {type(regions).__name__}"
        )
    extra = [d for d in regions.dims if d not in ("lat", "lon")]
    _same_grid(regions, grid, "regions")
    if len(extra) > 1:
        raise GridError(
            f"regions has dims {list(regions.dims)}; expected (lat, lon) or (k, lat, lon)"
        )
    if extra:
        return _fraction_weights(regions, extra[0])
    if regions.dtype == bool:
        name = str(regions.name) if regions.name is not None else "region"
        return (
            regions.astype("float64").expand_dims(region=[name]).transpose("region", "lat", "lon")
        )
    # integer ids (possibly stored as float with NaN)
    table = _id_table(regions, names)
    ids = xr.DataArray(np.array(list(table), dtype="int64"), dims="region")
    w = (regions == ids).astype("float64")
    w = w.assign_coords(region=list(table.values()), region_id=("region", list(table)))
    return w.transpose("region", "lat", "lon")


def _mask_weights(masks: Mapping[str, xr.DataArray], grid) -> xr.DataArray:
    """One region per named boolean mask (masks may overlap)."""
    parts = []
    for name, mask in masks.items():
        _same_grid(mask, grid, f"region mask {name!r}")
        if mask.dtype != bool:
            raise GridError(f"region mask {name!r} must be boolean, got {mask.dtype}")
        parts.append(mask.astype("float64").expand_dims(region=[str(name)]))
    return xr.concat(parts, dim="region").transpose("region", "lat", "lon")


def _fraction_weights(regions: xr.DataArray, dim: str) -> xr.DataArray:
    """One region per entry of ``dim``, weighted by each cell's fraction."""
    labels = regions["class_name"].values if "class_name" in regions.coords else regions[dim].values
    w = regions.fillna(0.0).astype("float64")
    w = w.drop_vars([c for c in w.coords if c not in (dim, "lat", "lon")])
    w = w.rename({dim: "region"}).assign_coords(region=[str(x) for x in labels])
    if "class" in regions.coords or dim in regions.coords:
        w = w.assign_coords(region_id=("region", np.asarray(regions[dim].values)))
    return w.transpose("region", "lat", "lon")


def _id_table(regions: xr.DataArray, names: Mapping[int, str] | None) -> dict[int, str]:
    """``{id: name}`` from ``names``, else CF flag attributes, else the ids present (>= 0)."""
    if names is not None:
        return {int(k): str(v) for k, v in names.items()}
    if "flag_values" in regions.attrs:
        ids = [int(v) for v in str(regions.attrs["flag_values"]).replace(",", " ").split()]
        meanings = str(regions.attrs.get("flag_meanings", "")).split()
        if meanings and len(meanings) != len(ids):
            raise GridError("regions: flag_values and flag_meanings have different lengths")
        return dict(zip(ids, meanings or [str(i) for i in ids], strict=True))
    values = np.asarray(regions.values)
    found = (
        np.unique(values[np.isfinite(values)]) if values.dtype.kind == "f" else np.unique(values)
    )
    return {int(v): str(int(v)) for v in found if v >= 0}


def _days_per_step(time: np.ndarray) -> np.ndarray:
    """Days each time step stands for: 1 for daily maps, days of the month for monthly ones."""
    index = pd.DatetimeIndex(time)
    if index.size < 2:
        return np.ones(index.size)
    steps = np.diff(index.values) / np.timedelta64(1, "D")
    if np.all(steps == 1.0):
        return np.ones(index.size)
    if np.all((steps >= 28) & (steps <= 31)) and np.all(index.day == index[0].day):
        return index.days_in_month.to_numpy().astype("float64")
    raise GridError(
        "the map's time axis is neither daily nor monthly (steps of "
        f"{sorted(set(steps.tolist()))[:4]} days); regional totals need daily or monthly means"
    )


def regional_totals(
    flux: xr.DataArray | xr.Dataset,
    regions: xr.DataArray | xr.Dataset | Mapping[str, xr.DataArray] | None = None,
    *,
    names: Mapping[int, str] | None = None,
    variable: str | None = None,
    min_coverage: float = 0.0,
    full_years: bool = True,
    radius: float | None = None,
    area: xr.DataArray | None = None,
) -> xr.Dataset:
    """Area-weighted annual totals per region (or vegetation type), TgC yr-1.

    Parameters
    ----------
    flux
        Map of daily (or monthly mean) flux rates, dims ``(time, lat, lon)``, units
        ``gC m-2 d-1`` (other rate units such as ``umolCO2 m-2 s-1`` are converted). A
        Dataset gives ``variable`` (default ``nee``).
    regions
        Region description, see :func:`region_weights` (``None``: the whole grid).
    names
        ``{id: name}`` for integer region ids.
    variable
        Variable of a Dataset ``flux``.
    min_coverage
        Totals whose ``coverage`` (share of region area x days with data) is below this are
        NaN.
    full_years
        Years the time axis does not cover completely are NaN (their ``n_days`` is kept).
    radius
        Sphere radius for the cell areas (m); default None: the WGS84 ellipsoid.
    area
        Cell areas (m2, dims ``(lat, lon)``) to use instead of :func:`cell_area` of the map's
        centres, e.g. computed from a grid with bounds (a map one cell wide has no edges to
        derive) or multiplied by a land fraction.

    Returns
    -------
    xarray.Dataset
        Dims ``(region, year)``: ``total`` (TgC yr-1; for NEE negative = uptake), ``sink``
        (``-total``, only for NEE: positive = uptake), ``coverage`` (1), ``area``
        (region, m2), ``n_days`` (year); lazy where ``flux`` is.

    Raises
    ------
    UnitError
        If the flux has no units or units that are not a carbon flux rate.
    GridError
        If regions are on another grid or the time axis is not daily/monthly.

    Examples
    --------
    >>> from fluxgrid.grids import make_grid
    >>> g = make_grid(1.0, bbox=(0, 0, 2, 2))
    >>> time = pd.date_range("2001-01-01", "2001-12-31", freq="D")
    >>> nee = xr.DataArray(np.full((time.size, 2, 2), -1.0), name="nee",
    ...                    coords={"time": time, "lat": g.lat, "lon": g.lon},
    ...                    dims=("time", "lat", "lon"), attrs={"units": "gC m-2 d-1"})
    >>> table = regional_totals(nee)
    >>> expected = -365 * float(cell_area(g).sum()) / 1e12
    >>> bool(np.isclose(table.total.item(), expected)), bool(table.sink.item() > 0)
    (True, True)
    """
    da, variable = _flux_variable(flux, variable)
    factor = _to_gc_per_day(da, variable)
    time = da["time"].values
    days = xr.DataArray(_days_per_step(time), dims="time", coords={"time": da["time"]})
    weights = region_weights(regions, da, names=names)
    if area is None:
        area = cell_area(da, radius=radius)
    else:
        _same_grid(area, da, "area")
    aw = weights * area  # (region, lat, lon) m2

    grams, area_days, n_days, in_year = _annual_sums(da, factor, aw, days)
    region_area = aw.sum(["lat", "lon"])
    coverage = area_days / (region_area * in_year)
    keep = coverage >= min_coverage
    if full_years:
        keep = keep & (n_days >= in_year)
    total = (grams / _G_PER_TG).where(keep).transpose("region", "year")
    return _totals_table(
        total,
        coverage.transpose("region", "year"),
        region_area,
        n_days,
        variable=variable,
        attrs={
            "source_units": str(da.attrs["units"]),
            "cell_areas": "WGS84 ellipsoid" if radius is None else f"sphere, radius {radius} m",
        },
    )


def _annual_sums(da: xr.DataArray, factor: float, aw: xr.DataArray, days: xr.DataArray):
    """Grams and area x days with data per ``(year, region)``; days per year in the record.

    ``da * factor`` is the flux in gC m-2 d-1 ``(time, lat, lon)``, ``aw`` the region weights
    times the cell areas (m2), ``days`` the days each time step stands for. Missing values
    add nothing.
    """
    per_step = da.fillna(0.0) * (days * factor)  # gC m-2 in each step
    with_data = da.notnull() * days  # days with data
    annual = per_step.groupby("time.year").sum("time")  # (year, lat, lon) gC m-2
    covered = with_data.groupby("time.year").sum("time")
    grams = xr.dot(annual, aw, dim=["lat", "lon"])  # (year, region)
    area_days = xr.dot(covered, aw, dim=["lat", "lon"])
    years = np.unique(pd.DatetimeIndex(da["time"].values).year)
    n_days = days.groupby("time.year").sum().reindex(year=years)
    in_year = xr.DataArray(
        np.where(pd.DatetimeIndex([f"{y}-01-01" for y in years]).is_leap_year, 366.0, 365.0),
        dims="year",
        coords={"year": years},
    )
    return grams, area_days, n_days, in_year


def _flux_variable(flux: xr.DataArray | xr.Dataset, variable: str | None):
    """``(flux DataArray, its name)``; dims ``(time, lat, lon)`` checked."""
    if isinstance(flux, xr.Dataset):
        variable = variable or "nee"
        if variable not in flux.data_vars:
            raise GridError(
                f"the map has no variable {variable!r}; "
                f"pass variable= one of {sorted(flux.data_vars)}"
            )
        da = flux[variable]
    else:
        da = flux
        variable = variable or (str(flux.name) if flux.name is not None else "flux")
    for d in ("time", "lat", "lon"):
        if d not in da.dims:
            raise GridError(f"{variable}: dims {list(da.dims)}; expected (time, lat, lon)")
    return da, variable


def _to_gc_per_day(da: xr.DataArray, variable: str) -> float:
    """Factor from the map's carbon flux rate units to gC m-2 d-1 (UnitError otherwise)."""
    units = da.attrs.get("units")
    if units is None:
        raise UnitError(f"{variable}: no 'units' attribute; expected e.g. 'gC m-2 d-1'")
    try:
        ok = same_dimension(units, "gC m-2 d-1") and normalise(units) not in (
            "gC m-2 mon-1",
            "gC m-2 y-1",
        )
    except UnitError:
        ok = False
    if not ok:
        raise UnitError(
            f"{variable}: units {units!r}; expected a carbon flux rate such as 'gC m-2 d-1' "
            "or 'umolCO2 m-2 s-1' (monthly maps as mean daily rates)"
        )
    return float(convert(np.array([1.0]), units, "gC m-2 d-1", what=variable)[0])


def _totals_table(total, coverage, region_area, n_days, *, variable: str, attrs: dict):
    """The ``regional_totals`` Dataset with CF-style attributes (and ``sink`` for NEE)."""
    is_nee = variable.startswith("nee")
    out = xr.Dataset(
        {
            "total": total.assign_attrs(
                units="TgC yr-1",
                long_name=f"annual area-weighted total of {variable}",
                sign_convention=(
                    "negative = net uptake by the land (NEE convention)"
                    if is_nee
                    else f"same sign as {variable}"
                ),
            ),
            "coverage": coverage.assign_attrs(
                units="1",
                long_name="share of the region's area x days of the year with data",
            ),
            "area": region_area.assign_attrs(units="m2", long_name="area of the region"),
            "n_days": n_days.assign_attrs(units="d", long_name="days of the year in the record"),
        },
        attrs={
            "variable": variable,
            **attrs,
            "method": "sum over days and cells of flux x days x cell area x region weight",
            "missing_values": "cells/days without data add nothing; see coverage",
        },
    )
    if is_nee:
        out["sink"] = (-out["total"]).assign_attrs(
            units="TgC yr-1",
            long_name="annual carbon sink (-NEE total)",
            sign_convention="positive = net uptake by the land",
        )
    return out


def totals_to_csv(table: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write a :func:`regional_totals` table as a tidy CSV (one row per region and year).

    Columns: ``region``, ``year``, then each variable with its units in brackets, e.g.
    ``total [TgC yr-1]``, ``sink [TgC yr-1]``, ``coverage [1]``, ``area [m2]``,
    ``n_days [d]``. Written atomically; an existing file is refused unless ``overwrite``.

    Examples
    --------
    >>> totals_to_csv(table, "regional_sinks.csv")  # doctest: +SKIP
    """
    path = check_writable(path, overwrite)
    table = table.compute()
    frame = table[[v for v in table.data_vars if set(table[v].dims) == {"region", "year"}]]
    df = frame.to_dataframe().reset_index()
    df["area"] = table["area"].sel(region=df["region"].to_numpy()).values
    df["n_days"] = table["n_days"].sel(year=df["year"].to_numpy()).values
    keep = [c for c in ("region", "region_id", "year") if c in df.columns]
    values = [c for c in ("total", "sink", "coverage", "area", "n_days") if c in df.columns]
    df = df[keep + values]
    df = df.rename(columns={c: f"{c} [{table[c].attrs.get('units', '')}]" for c in values})
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path
