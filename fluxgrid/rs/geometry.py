"""Tower geometry: UTM zone, tower position in a CRS, site-centred grids, footprint masks.

Every remote-sensing product is reduced over pixels near the tower: Sentinel-2 over a
footprint disc, Sentinel-1 over an annulus that leaves the mast out, MODIS over a pixel
window. This module places the tower on a grid (:func:`tower_xy`, :func:`site_geobox`) and
measures pixels from it (:func:`tower_distance`, :func:`footprint_grid`). odc-geo, pyproj
and affine come with the ``rs`` extra and are imported when first needed.

Examples
--------
>>> utm_epsg(51.08, 10.45)   # DE-Hai
32632
>>> gb, template, disc = footprint_grid(51.08, 10.45, outer_m=500, resolution=10)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import RemoteSensingError

__all__ = [
    "footprint_grid",
    "odc_geo",
    "site_geobox",
    "tower_distance",
    "tower_xy",
    "utm_epsg",
]


def utm_epsg(latitude: float, longitude: float) -> int:
    """EPSG code of the WGS 84 / UTM zone holding a point (326zz north, 327zz south).

    Parameters
    ----------
    latitude, longitude
        Degrees (WGS 84).

    Examples
    --------
    >>> utm_epsg(-4.29, 11.66)
    32732
    """
    zone = int(np.floor((float(longitude) + 180.0) / 6.0)) % 60 + 1
    return (32600 if latitude >= 0 else 32700) + zone


def odc_geo(module: str = ""):
    """Import ``odc.geo`` (or ``odc.geo.<module>``), installed with the ``rs`` extra.

    odc-geo comes with odc-stac, so a missing package is reported with the odc-stac
    install hint (``pip install 'fluxgrid[rs]'``).
    """
    lazy_import("odc.stac")
    return importlib.import_module(f"odc.geo.{module}" if module else "odc.geo")


def _transformer(crs: Any):
    pyproj = lazy_import("pyproj")
    return pyproj.Transformer.from_crs("EPSG:4326", pyproj.CRS.from_user_input(crs), always_xy=True)


def tower_xy(latitude: float, longitude: float, crs: Any) -> tuple[float, float]:
    """Tower position in the coordinates of ``crs`` (x, y)."""
    x, y = _transformer(crs).transform(float(longitude), float(latitude))
    return float(x), float(y)


def site_geobox(
    latitude: float,
    longitude: float,
    *,
    buffer_m: float,
    resolution: float,
    crs: Any = None,
    align: float = 60.0,
):
    """A square grid centred on the tower, covering ``buffer_m`` plus one pixel each side.

    Parameters
    ----------
    latitude, longitude
        Tower position, degrees.
    buffer_m
        Half side of the square (the footprint radius), metres.
    resolution
        Pixel size in units of ``crs`` (metres for UTM).
    crs
        Output CRS; ``None`` = the tower's UTM zone.
    align
        The grid origin is snapped to multiples of this (60 m keeps Sentinel-2 10/20/60 m
        pixels unresampled: tile origins are multiples of 60 m).

    Returns
    -------
    odc.geo.geobox.GeoBox
    """
    geobox_mod = odc_geo("geobox")
    geom = odc_geo()
    affine = lazy_import("affine")
    crs = crs if crs is not None else f"EPSG:{utm_epsg(latitude, longitude)}"
    x0, y0 = tower_xy(latitude, longitude, crs)
    half = float(buffer_m) + float(resolution)
    step = np.lcm(round(align), round(resolution)) if align else resolution
    xmin = np.floor((x0 - half) / step) * step
    ymax = np.ceil((y0 + half) / step) * step
    nx = int(np.ceil((x0 + half - xmin) / resolution))
    ny = int(np.ceil((ymax - (y0 - half)) / resolution))
    transform = affine.Affine(resolution, 0.0, xmin, 0.0, -resolution, ymax)
    return geobox_mod.GeoBox((ny, nx), transform, geom.CRS(crs))


def tower_distance(
    ds: xr.Dataset | xr.DataArray, latitude: float, longitude: float
) -> xr.DataArray:
    """Distance of every pixel centre from the tower, in the units of the cube's CRS.

    Parameters
    ----------
    ds
        Cube with ``x``/``y`` coordinates and a CRS (``ds.odc.crs`` or ``spatial_ref``).
    latitude, longitude
        Tower position, degrees.

    Returns
    -------
    xarray.DataArray
        Dims ``(y, x)``, metres for projected CRSs.
    """
    crs = _crs_of(ds)
    x0, y0 = tower_xy(latitude, longitude, crs)
    dist = np.hypot(ds.x - x0, ds.y - y0)
    dist.attrs = {"long_name": "distance from the tower", "units": "m"}
    return dist.transpose("y", "x")


def _crs_of(ds: xr.Dataset | xr.DataArray) -> Any:
    crs = None
    try:
        odc_geo("xr")
        crs = ds.odc.crs
    except Exception:  # fall back to rioxarray below
        crs = None
    if crs is None:
        try:
            lazy_import("rioxarray")
            crs = ds.rio.crs
        except Exception:  # no CRS readable
            crs = None
    if crs is None:
        raise RemoteSensingError(
            "the cube has no CRS (no spatial_ref coordinate); write one with "
            "ds.rio.write_crs('EPSG:32632') or load it with fluxgrid.rs.stac.load_site_cube"
        )
    return str(crs)


def footprint_grid(
    latitude: float,
    longitude: float,
    *,
    outer_m: float,
    resolution: float,
    inner_m: float = 0.0,
    align: float = 60.0,
) -> tuple[Any, xr.DataArray, xr.DataArray]:
    """Grid around the tower and the pixels whose centres lie ``inner_m..outer_m`` from it.

    Parameters
    ----------
    latitude, longitude
        Tower position, degrees.
    outer_m
        Outer radius of the footprint, metres (also the half side of the grid, see
        :func:`site_geobox`).
    resolution
        Pixel size, metres.
    inner_m
        Inner radius, metres: pixels closer than this are left out (an annulus around
        the mast); 0 gives a disc.
    align
        Snap of the grid origin (see :func:`site_geobox`).

    Returns
    -------
    (GeoBox, xarray.DataArray, xarray.DataArray)
        The grid, a ``uint8`` zeros template on it (dims ``(y, x)``, with its CRS) and the
        boolean footprint mask ``(y, x)``.

    Examples
    --------
    >>> gb, template, ring = footprint_grid(51.08, 10.45, outer_m=1000, resolution=10,
    ...                                     inner_m=50)                 # doctest: +SKIP
    """
    geobox = site_geobox(latitude, longitude, buffer_m=outer_m, resolution=resolution, align=align)
    template = odc_geo("xr").xr_zeros(geobox, dtype="uint8")
    dist = tower_distance(template, latitude, longitude)
    return geobox, template, (dist >= inner_m) & (dist <= outer_m)
