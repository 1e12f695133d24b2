"""STAC search around a tower and loading of a site-centred cube.

A *source* is a STAC API URL (Planetary Computer, Earth Search, ...) or, offline, a local
static catalog (``catalog.json``) or ItemCollection (``items.json``). The same search
arguments work for both; offline sources are filtered here (collection, footprint, dates,
cloud cover). Items are loaded with odc-stac into a cube centred on the tower, in the
tower's UTM zone (or the product's own grid) at native resolution.

Examples
--------
>>> utm_epsg(51.08, 10.45)   # DE-Hai
32632
>>> items = search_items(                                      # doctest: +SKIP
...     "https://planetarycomputer.microsoft.com/api/stac/v1", 51.08, 10.45,
...     collections="sentinel-2-l2a", start="2020-06-01", end="2020-06-30",
...     sign="planetary_computer.sign")
>>> cube = load_site_cube(items, 51.08, 10.45, bands=["B04", "B08", "SCL"])  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import json
import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._lazy import lazy_import
from ..errors import DataNotFoundError, FileFormatError, RemoteSensingError

__all__ = [
    "ItemGroup",
    "SolarDayKey",
    "group_items",
    "item_local_dates",
    "items_by_solar_day",
    "load_site_cube",
    "product_day_key",
    "reduce_groups",
    "resolve_sign",
    "search_items",
    "site_geobox",
    "solar_day",
    "tower_distance",
    "tower_xy",
    "utm_epsg",
]

Sign = Callable[[Any], Any]
_REMOTE = ("http://", "https://", "s3://", "gs://", "abfs://", "az://")


# --------------------------------------------------------------------------- geometry
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


# --------------------------------------------------------------------------- signing
def resolve_sign(sign: str | Sign | None) -> Sign | None:
    """Turn a dotted path such as ``"planetary_computer.sign"`` into the callable.

    Parameters
    ----------
    sign
        A callable taking an item (and returning the signed item, or signing in place),
        a dotted import path of one, or ``None``.

    Examples
    --------
    >>> resolve_sign("json.dumps") is json.dumps
    True
    """
    if sign is None or callable(sign):
        return sign
    module, _, attr = str(sign).rpartition(".")
    if not module:
        raise RemoteSensingError(
            f"sign={sign!r}: give a dotted path such as 'planetary_computer.sign'"
        )
    try:
        func = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise RemoteSensingError(
            f"sign={sign!r} cannot be imported ({err}); install the package that provides it "
            f"(e.g. pip install {module.split('.')[0].replace('_', '-')}) or pass sign=None"
        ) from err
    if not callable(func):
        raise RemoteSensingError(f"sign={sign!r} is not callable")
    return func


def _apply_sign(items: list, sign: Sign | None) -> list:
    if sign is None:
        return items
    out = []
    for item in items:
        signed = sign(item)
        out.append(item if signed is None else signed)
    return out


# --------------------------------------------------------------------------- search
def _is_remote(source: str) -> bool:
    return str(source).startswith(_REMOTE)


def _search_box(latitude: float, longitude: float, buffer_m: float) -> tuple[float, ...]:
    """lon/lat box around the tower that contains the buffer (with a 10 % margin)."""
    dlat = 1.1 * buffer_m / 111_320.0
    dlon = 1.1 * buffer_m / (111_320.0 * max(np.cos(np.radians(latitude)), 1e-3))
    return (longitude - dlon, latitude - dlat, longitude + dlon, latitude + dlat)


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(None) if ts.tzinfo is None else ts.tz_convert("UTC").tz_localize(None)


def _item_times(item) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) of an item in UTC (naive timestamps)."""
    props = item.properties
    start = props.get("start_datetime") or item.datetime
    end = props.get("end_datetime") or item.datetime
    if start is None or end is None:
        raise FileFormatError(item.get_self_href(), f"item {item.id} has no datetime")
    return _utc(start), _utc(end)


def _read_offline(path: Path) -> list:
    pystac = lazy_import("pystac")
    if path.is_dir():
        path = path / "catalog.json"
    if not path.is_file():
        raise DataNotFoundError(
            f"{path}: no such STAC file; give a static catalog (catalog.json), an "
            "ItemCollection JSON, or an https:// STAC API URL"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FileFormatError(path, f"not readable as JSON ({err})", "a STAC file") from err
    kind = data.get("type")
    if kind == "FeatureCollection":
        items = list(pystac.ItemCollection.from_dict(data, preserve_dict=False))
        base = path.parent
        for item in items:
            for asset in item.assets.values():
                if not _is_remote(asset.href) and not os.path.isabs(asset.href):
                    asset.href = str((base / asset.href).resolve())
        return items
    if kind in ("Catalog", "Collection"):
        cat = pystac.read_file(str(path))
        items = list(cat.get_items(recursive=True))
        for item in items:
            item.make_asset_hrefs_absolute()
        return items
    raise FileFormatError(
        path, f"STAC type {kind!r}", "a Catalog, Collection or FeatureCollection (ItemCollection)"
    )


def _offline_filter(
    items: list,
    *,
    collections: Sequence[str],
    box: tuple[float, ...],
    start: pd.Timestamp,
    end: pd.Timestamp,
    max_cloud_cover: float | None,
    query: dict[str, Any] | None,
) -> list:
    shapely_geometry = lazy_import("shapely.geometry")
    area = shapely_geometry.box(*box)
    out = []
    for item in items:
        if collections and item.collection_id not in collections:
            continue
        t0, t1 = _item_times(item)
        if t1 < start or t0 > end:
            continue
        geom = item.geometry
        if geom is None or not shapely_geometry.shape(geom).intersects(area):
            continue
        cloud = item.properties.get("eo:cloud_cover")
        if max_cloud_cover is not None and cloud is not None and cloud > max_cloud_cover:
            continue
        if query and any(item.properties.get(k) != v for k, v in query.items()):
            continue
        out.append(item)
    return out


def _api_search(
    url: str,
    *,
    collections: Sequence[str],
    box: tuple[float, ...],
    start: pd.Timestamp,
    end: pd.Timestamp,
    max_cloud_cover: float | None,
    query: dict[str, Any] | None,
    sign: Sign | None,
    retries: int,
    timeout_s: float,
    max_items: int | None,
) -> list:
    lazy_import("pystac_client")
    from pystac_client import Client
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO
    from requests.exceptions import RequestException
    from urllib3.util.retry import Retry

    retry = Retry(
        total=retries,
        backoff_factor=1.0,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
    )
    stac_query = {k: {"eq": v} for k, v in (query or {}).items()}
    if max_cloud_cover is not None:
        stac_query["eo:cloud_cover"] = {"lte": max_cloud_cover}
    try:
        client = Client.open(
            url, modifier=sign, stac_io=StacApiIO(max_retries=retry, timeout=timeout_s)
        )
        search = client.search(
            collections=list(collections),
            bbox=box,
            datetime=f"{start.isoformat()}Z/{end.isoformat()}Z",
            query=stac_query or None,
            max_items=max_items,
        )
        return list(search.item_collection())
    except (APIError, RequestException, OSError) as err:
        raise RemoteSensingError(
            f"STAC API {url} could not be searched after {retries} retries ({err}); check the "
            "internet connection and the URL, or work offline with a local static catalog / "
            "ItemCollection JSON as source"
        ) from err


def search_items(
    source: str | os.PathLike,
    latitude: float,
    longitude: float,
    *,
    collections: str | Sequence[str],
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    buffer_m: float = 1000.0,
    max_cloud_cover: float | None = None,
    query: dict[str, Any] | None = None,
    sign: str | Sign | None = None,
    retries: int = 3,
    timeout_s: float = 60.0,
    max_items: int | None = None,
    site: str | None = None,
) -> list:
    """Items of ``collections`` over a tower between ``start`` and ``end``.

    Parameters
    ----------
    source
        STAC API URL, or a local static catalog / ItemCollection JSON (offline).
    latitude, longitude
        Tower position, degrees.
    collections
        Collection id(s), e.g. ``"sentinel-2-l2a"``.
    start, end
        Inclusive date range (UTC); a date without time for ``end`` includes that day.
    buffer_m
        Items must intersect the square of this half side around the tower.
    max_cloud_cover
        Drop items with ``eo:cloud_cover`` above this (percent).
    query
        Further property equalities, e.g. ``{"sat:orbit_state": "ascending"}``.
    sign
        Signing hook applied to every item (callable or dotted path), e.g.
        ``"planetary_computer.sign"``.
    retries, timeout_s, max_items
        Request behaviour of API searches.
    site
        Site name, used in error messages.

    Returns
    -------
    list of pystac.Item
        Sorted by time.

    Raises
    ------
    RemoteSensingError
        No items in the date range, the tower outside every item footprint, or the API
        unreachable (with advice to work offline).
    """
    pystac = lazy_import("pystac")
    shapely_geometry = lazy_import("shapely.geometry")
    where = f"site {site} " if site else ""
    colls = [collections] if isinstance(collections, str) else list(collections)
    t0 = pd.Timestamp(start)
    t1 = pd.Timestamp(end)
    if t1 == t1.normalize():
        t1 = t1 + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    if t1 < t0:
        raise RemoteSensingError(f"{where}date range {start}..{end} is empty (end before start)")
    box = _search_box(float(latitude), float(longitude), float(buffer_m))
    sign_fn = resolve_sign(sign)
    if _is_remote(str(source)):
        items = _api_search(
            str(source),
            collections=colls,
            box=box,
            start=t0,
            end=t1,
            max_cloud_cover=max_cloud_cover,
            query=query,
            sign=sign_fn,
            retries=retries,
            timeout_s=timeout_s,
            max_items=max_items,
        )
        if query:
            items = [i for i in items if all(i.properties.get(k) == v for k, v in query.items())]
    else:
        items = _offline_filter(
            _read_offline(Path(source)),
            collections=colls,
            box=box,
            start=t0,
            end=t1,
            max_cloud_cover=max_cloud_cover,
            query=query,
        )
        if max_items is not None:
            items = items[:max_items]
        items = _apply_sign(items, sign_fn)
    if not items:
        raise RemoteSensingError(
            f"{where}({latitude:.4f}, {longitude:.4f}): no {'/'.join(colls)} items in {source} "
            f"between {t0.date()} and {t1.date()}"
            + (f" with cloud cover <= {max_cloud_cover}%" if max_cloud_cover is not None else "")
            + "; widen the date range or the cloud limit, or check the collection id"
        )
    point = shapely_geometry.Point(float(longitude), float(latitude))
    covering = [i for i in items if shapely_geometry.shape(i.geometry).covers(point)]
    if not covering:
        raise RemoteSensingError(
            f"{where}({latitude:.4f}, {longitude:.4f}) lies outside the footprints of all "
            f"{len(items)} {'/'.join(colls)} items found near it; check the site coordinates "
            "(latitude, longitude order) and that the collection covers this region"
        )
    items.sort(key=lambda i: _item_times(i)[0])
    assert all(isinstance(i, pystac.Item) for i in items)
    return items


# --------------------------------------------------------------------------- dates
def solar_day(times: Iterable, longitude: float) -> np.ndarray:
    """Mean-solar date of UTC times at ``longitude`` (datetime64[D])."""
    t = pd.DatetimeIndex(list(times) if not isinstance(times, pd.DatetimeIndex) else times)
    shifted = t + pd.to_timedelta(float(longitude) / 15.0, unit="h")
    return shifted.values.astype("datetime64[D]")


def item_local_dates(times: Iterable, utc_offset: float) -> np.ndarray:
    """Local standard-time dates of UTC times (datetime64[ns] at 00:00)."""
    t = pd.DatetimeIndex(list(times) if not isinstance(times, pd.DatetimeIndex) else times)
    local = t + pd.to_timedelta(float(utc_offset), unit="h")
    return local.normalize().values.astype("datetime64[ns]")


@dataclass(frozen=True)
class ItemGroup:
    """Items that form one time step (e.g. the tiles of one overpass).

    Attributes
    ----------
    key
        Grouping key (solar day, orbit, product day ...).
    time
        Earliest acquisition time of the items (UTC, datetime64[ns]).
    items
        The STAC items.
    """

    key: Any
    time: np.datetime64
    items: tuple


class _GroupKey:
    """Picklable odc-stac ``groupby`` callable wrapping an item -> key function."""

    def __init__(self, key: Callable[[Any], Any]):
        self.key = key

    def __call__(self, item, parsed=None, idx=None):
        return self.key(item)


class SolarDayKey:
    """Key function: the mean-solar date of an item at a fixed longitude (plus extras).

    Parameters
    ----------
    longitude
        Tower longitude, degrees (the same for every item, unlike odc-stac's per-item
        centroid, so tiles of one overpass always share the key).
    properties
        Item properties added to the key (``("sat:orbit_state",)`` keeps ascending and
        descending passes of one day apart).
    """

    def __init__(self, longitude: float, properties: Sequence[str] = ()):
        self.longitude = float(longitude)
        self.properties = tuple(properties)

    def __call__(self, item) -> tuple:
        """The key of ``item``: (solar date, *properties)."""
        day = solar_day([_item_times(item)[0]], self.longitude)[0]
        return (str(day), *(str(item.properties.get(p, "")) for p in self.properties))


def product_day_key(item) -> tuple:
    """Key function: the UTC day of an item (daily gridded products such as MOD11A1)."""
    return (str(_item_times(item)[0].date()),)


def group_items(items: Sequence, key: Callable[[Any], Any]) -> list[ItemGroup]:
    """Group items into time steps by ``key``; sorted by time.

    Examples
    --------
    >>> group_items([], product_day_key)
    []
    """
    groups: dict[Any, list] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    out = [
        ItemGroup(k, np.datetime64(min(_item_times(i)[0] for i in v), "ns"), tuple(v))
        for k, v in groups.items()
    ]
    return sorted(out, key=lambda g: (g.time, str(g.key)))


def items_by_solar_day(items: Sequence, longitude: float) -> dict[Any, list]:
    """Items grouped by the mean-solar day of their acquisition at ``longitude``."""
    return {g.key: list(g.items) for g in group_items(items, SolarDayKey(longitude))}


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
    warnings.filterwarnings("ignore", message="Dataset has no geotransform", module="rasterio.warp")
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
        From :func:`group_items` with the same ``key``.
    bands
        Asset keys to load.
    geobox
        Output grid (e.g. :func:`site_geobox`).
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
    if not groups:
        raise RemoteSensingError(f"site {site}: no items to load" if site else "no items to load")
    all_items = [i for g in groups for i in g.items]
    _check_bands(all_items, bands, site)
    if any(_is_remote(i.assets[bands[0]].href) for i in all_items):
        lazy_import("odc.stac").configure_rio(
            cloud_defaults=True, GDAL_HTTP_MAX_RETRY=str(retries), GDAL_HTTP_RETRY_DELAY="1"
        )
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


# --------------------------------------------------------------------------- loading
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
        STAC items (from :func:`search_items`).
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
    if not items:
        raise RemoteSensingError(f"site {site}: no items to load" if site else "no items to load")
    _check_bands(items, bands, site)
    if geobox is None:
        geobox = site_geobox(
            latitude, longitude, buffer_m=buffer_m, resolution=resolution, crs=crs, align=align
        )
    # odc-geo reprojects coarser bands between in-memory arrays, which rasterio reports as
    # "not georeferenced"; the arrays carry their transforms, so the warning is noise
    warnings.filterwarnings("ignore", message="Dataset has no geotransform", module="rasterio.warp")
    remote = any(_is_remote(i.assets[bands[0]].href) for i in items)
    if remote:
        odc_stac.configure_rio(
            cloud_defaults=True,
            GDAL_HTTP_MAX_RETRY=str(retries),
            GDAL_HTTP_RETRY_DELAY="1",
        )
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
