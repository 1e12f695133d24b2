"""Clear-pixel masks of Sentinel-2 L2A: scene classification (SCL) and land cover.

A mask is any function ``mask(ds) -> bool DataArray (time, y, x)``, True = clear, of the
loaded cube (raw bands and ``SCL``); :func:`scl_mask` is the default and an ML cloud mask
can replace it. :func:`landcover_mask` keeps the footprint pixels of chosen land-cover
classes.

Examples
--------
>>> import numpy as np, xarray as xr
>>> SCL_CLASSES[9]
'cloud_high_probability'
>>> ds = xr.Dataset({"SCL": (("time", "y", "x"), np.array([[[4, 9], [3, 5]]]))})
>>> scl_mask(ds).values.tolist()
[[[True, False], [False, True]]]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import RemoteSensingError

__all__ = ["SCL_CLASSES", "MaskFunction", "landcover_mask", "scl_mask"]

#: Sen2Cor scene classification (SCL) classes
SCL_CLASSES = {
    0: "no_data",
    1: "saturated_or_defective",
    2: "dark_area_pixels",
    3: "cloud_shadows",
    4: "vegetation",
    5: "not_vegetated",
    6: "water",
    7: "unclassified",
    8: "cloud_medium_probability",
    9: "cloud_high_probability",
    10: "thin_cirrus",
    11: "snow",
}

MaskFunction = Callable[[xr.Dataset], xr.DataArray]


# --------------------------------------------------------------------------- masks
def scl_mask(ds: xr.Dataset, invalid: Sequence[int] = (0, 1, 3, 8, 9, 10, 11)) -> xr.DataArray:
    """Clear-pixel mask from the scene classification: True where SCL is not ``invalid``.

    Parameters
    ----------
    ds
        Cube with an ``SCL`` variable (dims ``(time, y, x)``).
    invalid
        Classes to mask (see :data:`SCL_CLASSES`); default clouds, cloud shadows, cirrus,
        snow, no data and saturated pixels.

    Returns
    -------
    xarray.DataArray
        Boolean, same dims as ``SCL`` (lazy if ``ds`` is).
    """
    if "SCL" not in ds:
        raise RemoteSensingError(
            f"no SCL band in the cube (variables: {list(ds.data_vars)}); load it or pass "
            "your own mask function"
        )
    return ~ds["SCL"].isin(list(invalid))


def landcover_mask(
    landcover: str | os.PathLike | xr.DataArray, like: xr.Dataset, classes: Sequence[int]
) -> xr.DataArray:
    """Pixels of the cube grid whose land-cover class is in ``classes``.

    Parameters
    ----------
    landcover
        A classified raster (GeoTIFF path or DataArray with a CRS), e.g. ESA WorldCover or
        CORINE. It is reprojected (nearest neighbour) onto the grid of ``like``.
    like
        Cube on the target grid (from :func:`fluxgrid.rs.stac.load_site_cube`).
    classes
        Class values to keep.

    Returns
    -------
    xarray.DataArray
        Boolean ``(y, x)``.

    Raises
    ------
    RemoteSensingError
        Raster without CRS, or not covering the footprint.
    """
    rioxarray = lazy_import("rioxarray")
    if isinstance(landcover, xr.DataArray):
        raster = landcover
        name = landcover.name or "landcover DataArray"
    else:
        name = str(landcover)
        try:
            raster = rioxarray.open_rasterio(landcover, masked=False).squeeze("band", drop=True)
        except Exception as err:  # rasterio raises its own error types
            raise RemoteSensingError(
                f"{landcover}: land-cover raster not readable ({err})"
            ) from err
    if raster.rio.crs is None:
        raise RemoteSensingError(
            f"{name}: the land-cover raster has no CRS, so it cannot be matched to the cube "
            "grid (CRS mismatch); write one with raster.rio.write_crs(...)"
        )
    target = like.isel(time=0, drop=True) if "time" in like.dims else like
    template = xr.DataArray(
        np.zeros((target.sizes["y"], target.sizes["x"]), dtype="uint8"),
        dims=("y", "x"),
        coords={"y": target.y.values, "x": target.x.values},
    ).rio.write_crs(str(like.odc.crs))
    nodata = raster.rio.nodata
    fill = 255 if nodata is None else nodata
    matched = raster.rio.reproject_match(template, resampling=0, nodata=fill)
    valid = matched != fill
    if not bool(valid.any()):
        raise RemoteSensingError(
            f"{name} does not cover the footprint around the tower; give a raster that does"
        )
    keep = matched.isin(list(classes)) & valid
    return keep.drop_vars([c for c in keep.coords if c not in ("y", "x")]).assign_coords(
        y=target.y, x=target.x
    )
