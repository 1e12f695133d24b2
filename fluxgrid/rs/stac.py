"""STAC search around a tower; the place to import the STAC helpers of :mod:`fluxgrid.rs` from.

A *source* is a STAC API URL (Planetary Computer, Earth Search, ...) or, offline, a local
static catalog (``catalog.json``) or ItemCollection (``items.json``). The same search
arguments work for both; offline sources are filtered here (collection, footprint, dates,
cloud cover). Loading the items lives in :mod:`fluxgrid.rs.stac_load`, item times and
grouping in :mod:`fluxgrid.rs.items`, the tower geometry in :mod:`fluxgrid.rs.geometry`;
their public names are importable from here as well.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._lazy import lazy_import
from ..errors import DataNotFoundError, FileFormatError, RemoteSensingError
from .config import StacConfig
from .geometry import odc_geo, site_geobox, tower_distance, tower_xy, utm_epsg
from .items import (
    ItemGroup,
    SolarDayKey,
    group_items,
    is_remote,
    item_local_dates,
    item_times,
    items_by_solar_day,
    product_day_key,
    solar_day,
)
from .stac_load import load_site_cube, reduce_groups

__all__ = [
    "ItemGroup",
    "SolarDayKey",
    "group_items",
    "item_local_dates",
    "item_times",
    "items_by_solar_day",
    "load_site_cube",
    "odc_geo",
    "product_day_key",
    "reduce_groups",
    "resolve_sign",
    "search_items",
    "search_options",
    "site_geobox",
    "solar_day",
    "tower_distance",
    "tower_xy",
    "utm_epsg",
]

Sign = Callable[[Any], Any]


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
def _search_box(latitude: float, longitude: float, buffer_m: float) -> tuple[float, ...]:
    """lon/lat box around the tower that contains the buffer (with a 10 % margin)."""
    dlat = 1.1 * buffer_m / 111_320.0
    dlon = 1.1 * buffer_m / (111_320.0 * max(np.cos(np.radians(latitude)), 1e-3))
    return (longitude - dlon, latitude - dlat, longitude + dlon, latitude + dlat)


@dataclass(frozen=True)
class _Query:
    """What a search asks for, the same offline and from an API."""

    collections: list[str]
    box: tuple[float, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    max_cloud_cover: float | None
    query: dict[str, Any] | None


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
                if not is_remote(asset.href) and not os.path.isabs(asset.href):
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


def _offline_filter(items: list, q: _Query) -> list:
    shapely_geometry = lazy_import("shapely.geometry")
    area = shapely_geometry.box(*q.box)
    out = []
    for item in items:
        if q.collections and item.collection_id not in q.collections:
            continue
        t0, t1 = item_times(item)
        if t1 < q.start or t0 > q.end:
            continue
        geom = item.geometry
        if geom is None or not shapely_geometry.shape(geom).intersects(area):
            continue
        cloud = item.properties.get("eo:cloud_cover")
        if q.max_cloud_cover is not None and cloud is not None and cloud > q.max_cloud_cover:
            continue
        if q.query and any(item.properties.get(k) != v for k, v in q.query.items()):
            continue
        out.append(item)
    return out


def _api_search(
    url: str,
    q: _Query,
    *,
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
    stac_query = {k: {"eq": v} for k, v in (q.query or {}).items()}
    if q.max_cloud_cover is not None:
        stac_query["eo:cloud_cover"] = {"lte": q.max_cloud_cover}
    try:
        client = Client.open(
            url, modifier=sign, stac_io=StacApiIO(max_retries=retry, timeout=timeout_s)
        )
        search = client.search(
            collections=list(q.collections),
            bbox=q.box,
            datetime=f"{q.start.isoformat()}Z/{q.end.isoformat()}Z",
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
    where = f"site {site} " if site else ""
    t0, t1 = _date_range(start, end, where)
    q = _Query(
        collections=[collections] if isinstance(collections, str) else list(collections),
        box=_search_box(float(latitude), float(longitude), float(buffer_m)),
        start=t0,
        end=t1,
        max_cloud_cover=max_cloud_cover,
        query=query,
    )
    sign_fn = resolve_sign(sign)
    if is_remote(str(source)):
        items = _api_search(
            str(source), q, sign=sign_fn, retries=retries, timeout_s=timeout_s, max_items=max_items
        )
        if query:
            items = [i for i in items if all(i.properties.get(k) == v for k, v in query.items())]
    else:
        items = _offline_filter(_read_offline(Path(source)), q)
        if max_items is not None:
            items = items[:max_items]
        items = _apply_sign(items, sign_fn)
    _check_found(items, q, source, float(latitude), float(longitude), where)
    items.sort(key=lambda i: item_times(i)[0])
    assert all(isinstance(i, pystac.Item) for i in items)
    return items


def search_options(stac: StacConfig) -> dict[str, Any]:
    """The :func:`search_items` keywords a :class:`StacConfig` stands for.

    Signing, retries, timeout and the bound on items; the per-site steps (``s2_site``,
    ``s1_site``, ``lst_site``) add their product's collection, buffer and filters.

    Examples
    --------
    >>> search_options(StacConfig(source="items.json", retries=5))
    {'sign': None, 'retries': 5, 'timeout_s': 60.0, 'max_items': None}
    """
    return {
        "sign": stac.sign,
        "retries": stac.retries,
        "timeout_s": stac.timeout_s,
        "max_items": stac.max_items,
    }


def _date_range(start, end, where: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Inclusive UTC range; an ``end`` without time of day includes that whole day."""
    t0 = pd.Timestamp(start)
    t1 = pd.Timestamp(end)
    if t1 == t1.normalize():
        t1 = t1 + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    if t1 < t0:
        raise RemoteSensingError(f"{where}date range {start}..{end} is empty (end before start)")
    return t0, t1


def _check_found(
    items: list, q: _Query, source, latitude: float, longitude: float, where: str
) -> None:
    """Refuse an empty result, or items none of which covers the tower."""
    shapely_geometry = lazy_import("shapely.geometry")
    colls = "/".join(q.collections)
    if not items:
        cloud = q.max_cloud_cover
        raise RemoteSensingError(
            f"{where}({latitude:.4f}, {longitude:.4f}): no {colls} items in {source} "
            f"between {q.start.date()} and {q.end.date()}"
            + (f" with cloud cover <= {cloud}%" if cloud is not None else "")
            + "; widen the date range or the cloud limit, or check the collection id"
        )
    point = shapely_geometry.Point(longitude, latitude)
    if not any(shapely_geometry.shape(i.geometry).covers(point) for i in items):
        raise RemoteSensingError(
            f"{where}({latitude:.4f}, {longitude:.4f}) lies outside the footprints of all "
            f"{len(items)} {colls} items found near it; check the site coordinates "
            "(latitude, longitude order) and that the collection covers this region"
        )
