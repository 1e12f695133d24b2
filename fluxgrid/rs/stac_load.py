"""Loading STAC items around a tower: a site-centred cube, or statistics per time step.

:func:`load_site_cube` loads bands of the items into a lazy cube on a grid centred on the
tower (the tower's UTM zone or the product's own grid, native resolution).
:func:`reduce_groups` is what the per-site products use: one Dask task per block of time
steps loads its items eagerly with odc-stac and reduces them at once to a few numbers per
step (footprint means, pixel counts), so the graph stays small however many bands and
pixels there are.

Examples
--------
>>> cube = load_site_cube(items, 51.08, 10.45, bands=["B04", "B08", "SCL"])  # doctest: +SKIP
>>> cube.sizes                                                             # doctest: +SKIP
Frozen({'time': 3, 'y': 203, 'x': 203})
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import xarray as xr

from .._lazy import lazy_import
from ..errors import RemoteSensingError
from .geometry import site_geobox
from .items import ItemGroup, is_remote

__all__ = ["load_site_cube", "reduce_groups"]


class _GroupKey:
    """Picklable odc-stac ``groupby`` callable wrapping an item -> key function."""

    def __init__(self, key: Callable[[Any], Any]):
        self.key = key

    def __call__(self, item, parsed=None, idx=None):
        return self.key(item)


def _quiet_reprojection() -> None:
    # odc-geo reprojects coarser bands between in-memory arrays, which rasterio reports as
    # "not georeferenced"; the arrays carry their transforms, so the warning is noise
    warnings.filterwarnings("ignore", message="Dataset has no geotransform", module="rasterio.warp")


def _check_bands(items: Sequence, bands: Sequence[str], site: str | None) -> None:
    where = f"site {site}: " if site else ""
    missing = {b: [i.id for i in items if b not in i.assets] for b in bands}
    absent = [b for b, ids in missing.items() if len(ids) == len(items)]
    if absent:
        have = sorted(set().union(*(i.assets for i in items)))
        raise RemoteSensingError(
            f"{where}the items ({items[0].collection_id}) have no asset {absent}; available "
            f"assets: {have}. Use the band names of this provider (Planetary Computer: B04, "
            "SCL; Earth Search: red, scl)"
        )
    partial = {b: ids for b, ids in missing.items() if ids}
    if partial:
        b, ids = next(iter(partial.items()))
        raise RemoteSensingError(
            f"{where}{len(ids)} item(s) lack asset {b!r} (e.g. {ids[0]}); drop them from the "
            "item list or request bands present in every item"
        )


def _prepare_items(items: list, bands: Sequence[str], site: str | None, retries: int) -> None:
    """Refuse empty item lists and missing bands; set GDAL retries for remote rasters."""
    if not items:
        raise RemoteSensingError(f"site {site}: no items to load" if site else "no items to load")
    _check_bands(items, bands, site)
    if any(is_remote(i.assets[bands[0]].href) for i in items):
        lazy_import("odc.stac").configure_rio(
            cloud_defaults=True, GDAL_HTTP_MAX_RETRY=str(retries), GDAL_HTTP_RETRY_DELAY="1"
        )


def _load_reduce(
    groups: list,
    bands: list[str],
    geobox: Any,
    groupby: Callable,
    resampling: Any,
    reduce: Callable[..., np.ndarray],
    per_group: dict[str, np.ndarray],
    kwargs: dict[str, Any],
) -> np.ndarray:
    """One Dask task: load a block of item groups eagerly and reduce it to statistics."""
    items = [i for g in groups for i in g.items]
    n_groups = len(groups)
    odc_stac = lazy_import("odc.stac")
    _quiet_reprojection()
    ds = odc_stac.load(
        items,
        bands=bands,
        geobox=geobox,
        groupby=groupby,
        resampling=resampling,
        chunks=None,
        pool=1,
        fail_on_error=True,
    )
    if ds.sizes["time"] != n_groups:
        raise RemoteSensingError(
            f"expected {n_groups} time steps from the item groups, odc-stac made "
            f"{ds.sizes['time']}; check the items' datetimes"
        )
    return np.asarray(reduce(ds, groups=groups, **per_group, **kwargs), dtype="float64")


def reduce_groups(
    groups: Sequence[ItemGroup],
    *,
    bands: Sequence[str],
    geobox: Any,
    key: Callable[[Any], Any],
    reduce: Callable[..., np.ndarray],
    n_stats: int,
    chunk: int,
    per_group: dict[str, np.ndarray] | None = None,
    resampling: str | dict[str, str] = "nearest",
    retries: int = 3,
    site: str | None = None,
    **kwargs: Any,
):
    """Per-group statistics as a Dask array, one task per block of ``chunk`` groups.

    Each task loads its groups with odc-stac (eagerly, on the output ``geobox``) and calls
    ``reduce(ds, groups=block_groups, **per_group_block, **kwargs)``, which returns an
    array ``(n, n_stats)``; per-item metadata (angles, scale factors) can thus be read
    inside the task, in parallel, instead of while the graph is built.
    The graph therefore has O(groups / chunk) tasks however many bands and items there
    are, and a task holds at most ``chunk`` time steps in memory.

    Parameters
    ----------
    groups
        From :func:`fluxgrid.rs.items.group_items` with the same ``key``.
    bands
        Asset keys to load.
    geobox
        Output grid (e.g. :func:`fluxgrid.rs.geometry.site_geobox`).
    key
        The item -> key function the groups were built with (passed to odc-stac).
    reduce
        ``reduce(ds, groups=..., **kw) -> ndarray (n, n_stats)``; ``ds`` has dims
        ``(time, y, x)``, ``groups`` are the block's :class:`ItemGroup` s.
    n_stats
        Number of statistics per group.
    chunk
        Groups per task.
    per_group
        Arrays with one entry per group (first axis), sliced per block for ``reduce``.
    resampling, retries, site
        Loading options and the site name for messages.
    **kwargs
        Passed to ``reduce`` unchanged.

    Returns
    -------
    dask.array.Array
        ``(len(groups), n_stats)`` float64.

    Raises
    ------
    RemoteSensingError
        Bands missing from the items.
    """
    dask = lazy_import("dask")
    dask_array = lazy_import("dask.array")
    groups = list(groups)
    _prepare_items([i for g in groups for i in g.items], bands, site, retries)
    per_group = per_group or {}
    blocks = []
    for start in range(0, len(groups), max(int(chunk), 1)):
        part = groups[start : start + chunk]
        sliced = {k: np.asarray(v)[start : start + len(part)] for k, v in per_group.items()}
        task = dask.delayed(_load_reduce, pure=True)(
            part,
            list(bands),
            geobox,
            _GroupKey(key),
            resampling,
            reduce,
            sliced,
            kwargs,
        )
        blocks.append(dask_array.from_delayed(task, shape=(len(part), n_stats), dtype="float64"))
    return dask_array.concatenate(blocks, axis=0) if len(blocks) > 1 else blocks[0]


def load_site_cube(
    items: Sequence,
    latitude: float,
    longitude: float,
    *,
    bands: Sequence[str],
    buffer_m: float = 1000.0,
    resolution: float = 10.0,
    crs: Any = None,
    geobox: Any = None,
    chunks: dict[str, int] | None = None,
    groupby: str = "solar_day",
    resampling: str | dict[str, str] = "nearest",
    retries: int = 3,
    site: str | None = None,
    align: float = 60.0,
) -> xr.Dataset:
    """Load ``bands`` of ``items`` into a cube centred on the tower (lazy, Dask-backed).

    Parameters
    ----------
    items
        STAC items (from :func:`fluxgrid.rs.stac.search_items`).
    latitude, longitude
        Tower position, degrees.
    bands
        Asset keys to load, e.g. ``["B04", "B08", "SCL"]``.
    buffer_m
        Half side of the square around the tower, metres.
    resolution
        Pixel size (metres in UTM); 10 is the native resolution of Sentinel-2's finest bands.
    crs
        Output CRS; ``None`` = the tower's UTM zone. Ignored when ``geobox`` is given.
    geobox
        An exact output grid (e.g. the MODIS sinusoidal grid around the tower pixel).
    chunks
        Dask chunks, default ``{"time": 8}`` (whole spatial extent per chunk).
    groupby
        How items become time steps (``"solar_day"`` mosaics same-day tiles).
    resampling
        Resampling of coarser bands onto the grid (``"nearest"`` keeps class values).
    retries
        GDAL HTTP retries for remote rasters.
    site
        Site name for error messages.
    align
        Snap the grid origin to multiples of this many metres (60 keeps Sentinel-2's
        10/20/60 m pixels unresampled).

    Returns
    -------
    xarray.Dataset
        Dims ``(time, y, x)``; raw values (no scaling) with their nodata in attrs;
        ``time`` = acquisition time (UTC) of each group.

    Raises
    ------
    RemoteSensingError
        Bands missing from the items, or the rasters cannot be read.
    """
    odc_stac = lazy_import("odc.stac")
    items = list(items)
    _prepare_items(items, bands, site, retries)
    if geobox is None:
        geobox = site_geobox(
            latitude, longitude, buffer_m=buffer_m, resolution=resolution, crs=crs, align=align
        )
    _quiet_reprojection()
    try:
        ds = odc_stac.load(
            items,
            bands=list(bands),
            geobox=geobox,
            chunks=chunks if chunks is not None else {"time": 8},
            groupby=groupby,
            resampling=resampling,
            fail_on_error=True,
        )
    except Exception as err:  # odc-stac raises many types (rasterio, KeyError, ValueError)
        where = f"site {site}: " if site else ""
        raise RemoteSensingError(
            f"{where}loading {list(bands)} from {len(items)} items failed ({type(err).__name__}: "
            f"{err}); check the asset hrefs are readable (signed where the provider needs it)"
        ) from err
    ds = ds.assign_coords(time=ds.time.values.astype("datetime64[ns]"))
    ds.attrs.update(
        site=site or "",
        tower_latitude=float(latitude),
        tower_longitude=float(longitude),
        collection=items[0].collection_id or "",
    )
    return ds
