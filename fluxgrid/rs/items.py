"""STAC items in time: acquisition times (UTC), solar and local dates, grouping into steps.

A time step of a product is a group of items: the tiles of one overpass (same mean-solar
day at the tower, optionally the same orbit direction) or the tiles of one product day.
:func:`group_items` builds the groups with a key function (:class:`SolarDayKey`,
:func:`product_day_key`); :func:`item_local_dates` dates acquisitions on the site cube's
local standard-time days.

Examples
--------
>>> import pandas as pd
>>> solar_day(pd.to_datetime(["2020-06-01T23:30"]), longitude=10.45).tolist()
[datetime.date(2020, 6, 2)]
>>> item_local_dates(pd.to_datetime(["2020-06-01T23:30"]), utc_offset=1.0).astype(str).tolist()
['2020-06-02T00:00:00.000000000']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import FileFormatError

__all__ = [
    "REMOTE_PREFIXES",
    "ItemGroup",
    "SolarDayKey",
    "group_items",
    "is_remote",
    "item_local_dates",
    "item_times",
    "items_by_solar_day",
    "product_day_key",
    "solar_day",
]

#: URL schemes read over the network (STAC APIs, cloud object stores)
REMOTE_PREFIXES = ("http://", "https://", "s3://", "gs://", "abfs://", "az://")


def is_remote(href: str) -> bool:
    """True when ``href`` (a STAC source or asset) is read over the network.

    Examples
    --------
    >>> is_remote("https://earth-search.aws.element84.com/v1"), is_remote("items.json")
    (True, False)
    """
    return str(href).startswith(REMOTE_PREFIXES)


def _utc(value) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize(None) if ts.tzinfo is None else ts.tz_convert("UTC").tz_localize(None)


def item_times(item) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) of a STAC item in UTC, as naive timestamps.

    ``start_datetime``/``end_datetime`` where the item has them (daily products such as
    MOD11A1), else its ``datetime`` for both.

    Parameters
    ----------
    item
        A :class:`pystac.Item`.

    Returns
    -------
    (pandas.Timestamp, pandas.Timestamp)
        Acquisition start and end, UTC without time zone.

    Raises
    ------
    FileFormatError
        If the item has neither a datetime nor a start/end range.

    Examples
    --------
    >>> import datetime, pystac                                       # doctest: +SKIP
    >>> when = datetime.datetime(2020, 6, 1, 10, 30)                  # doctest: +SKIP
    >>> item = pystac.Item("a", None, None, when, {})                 # doctest: +SKIP
    >>> item_times(item)[0]                                           # doctest: +SKIP
    Timestamp('2020-06-01 10:30:00')
    """
    props = item.properties
    start = props.get("start_datetime") or item.datetime
    end = props.get("end_datetime") or item.datetime
    if start is None or end is None:
        raise FileFormatError(item.get_self_href(), f"item {item.id} has no datetime")
    return _utc(start), _utc(end)


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
        day = solar_day([item_times(item)[0]], self.longitude)[0]
        return (str(day), *(str(item.properties.get(p, "")) for p in self.properties))


def product_day_key(item) -> tuple:
    """Key function: the UTC day of an item (daily gridded products such as MOD11A1)."""
    return (str(item_times(item)[0].date()),)


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
        ItemGroup(k, np.datetime64(min(item_times(i)[0] for i in v), "ns"), tuple(v))
        for k, v in groups.items()
    ]
    return sorted(out, key=lambda g: (g.time, str(g.key)))


def items_by_solar_day(items: Sequence, longitude: float) -> dict[Any, list]:
    """Items grouped by the mean-solar day of their acquisition at ``longitude``."""
    return {g.key: list(g.items) for g in group_items(items, SolarDayKey(longitude))}
