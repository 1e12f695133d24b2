"""Remote-sensing acquisitions -> the site cube's daily axis (local standard-time dates).

An acquisition at UTC time ``t`` belongs to the local date of ``t + utc_offset``. Several
acquisitions on one local day (overlapping orbits) are averaged, weighted by their valid
pixel counts; days without a valid value carry the reason in ``<product>_status``.
:func:`join_rs` optionally interpolates linearly between acquisitions and adds the
variables to the cube under canonical names with ``units``/``long_name`` attributes.

Examples
--------
>>> import numpy as np, pandas as pd, xarray as xr
>>> acq = pd.to_datetime(["2020-06-01T10:30", "2020-06-03T10:30"])
>>> table = xr.Dataset({"v": ("time", [1.0, 3.0])}, coords={"time": acq})
>>> status = xr.DataArray([0, 0], dims="time", coords={"time": acq})
>>> days = pd.date_range("2020-06-01", periods=4)
>>> daily = daily_from_acquisitions(table, status, utc_offset=1.0, time=days, product="x")
>>> daily.v.values.tolist(), daily.x_status.values.tolist()
([1.0, nan, 3.0, nan], [0, 1, 0, 1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import RemoteSensingError
from .items import item_local_dates
from .names import STATUS, rs_attrs
from .sites import site_table

__all__ = [
    "Acquisitions",
    "daily_from_acquisitions",
    "daily_site_values",
    "interpolate_time",
    "join_rs",
]


def interpolate_time(da: xr.DataArray, *, max_gap_days: float) -> xr.DataArray:
    """Linear interpolation along ``time`` across gaps of at most ``max_gap_days``.

    The gap is the distance between the valid values on either side (as in
    :meth:`xarray.DataArray.interpolate_na` with ``max_gap``); values before the first and
    after the last valid one stay missing. Vectorised over all other dimensions.

    Examples
    --------
    >>> t = pd.date_range("2020-01-01", periods=5)
    >>> da = xr.DataArray([0.0, np.nan, 2.0, np.nan, np.nan], dims="time", coords={"time": t})
    >>> interpolate_time(da, max_gap_days=2).values.tolist()
    [0.0, 1.0, 2.0, nan, nan]
    """
    other = [d for d in da.dims if d != "time"]
    arr = da.transpose(*other, "time")
    values = np.asarray(arr.values, dtype="float64")
    t = arr["time"].values.astype("datetime64[ns]").astype("int64") / 86_400e9
    n = values.shape[-1]
    valid = np.isfinite(values)
    idx = np.broadcast_to(np.arange(n), values.shape)
    prev = np.maximum.accumulate(np.where(valid, idx, -1), axis=-1)
    nxt = np.minimum.accumulate(np.where(valid, idx, n)[..., ::-1], axis=-1)[..., ::-1]
    inner = ~valid & (prev >= 0) & (nxt < n)
    p = np.clip(prev, 0, n - 1)
    q = np.clip(nxt, 0, n - 1)
    gap = t[q] - t[p]
    fill = inner & (gap <= max_gap_days)
    vp = np.take_along_axis(values, p, axis=-1)
    vq = np.take_along_axis(values, q, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = (t[idx] - t[p]) / np.where(gap > 0, gap, 1.0)
    out = np.where(fill, vp + w * (vq - vp), values)
    return arr.copy(data=out.astype(values.dtype)).transpose(*da.dims).astype(da.dtype)


def daily_from_acquisitions(
    table: xr.Dataset,
    status: xr.DataArray,
    *,
    utc_offset: float,
    time: xr.DataArray | pd.DatetimeIndex | np.ndarray,
    weight: xr.DataArray | None = None,
    product: str,
) -> xr.Dataset:
    """Average acquisitions of one site onto local days (vectorised, no loop over days).

    Parameters
    ----------
    table
        Values per acquisition, dim ``time`` (UTC) first, any further dims (``index``).
    status
        Per-acquisition status code (:data:`fluxgrid.rs.names.STATUS`); only ``ok``
        acquisitions contribute values.
    utc_offset
        Hours of local standard time ahead of UTC.
    time
        The cube's daily axis (local dates at 00:00).
    weight
        Weight of each acquisition (e.g. clear-pixel count); default 1.
    product
        Prefix of the status variable (``"s2"`` -> ``s2_status``).

    Returns
    -------
    xarray.Dataset
        Same variables on ``time``; ``<product>_status`` per day (``ok`` if any acquisition
        was valid, else the most specific reason of that day's acquisitions, else
        ``no_acquisition``).
    """
    days = pd.DatetimeIndex(np.asarray(time)).values.astype("datetime64[ns]")
    local = item_local_dates(pd.DatetimeIndex(table.time.values), utc_offset)
    pos = np.searchsorted(days, local)
    inside = (pos < len(days)) & (days[np.minimum(pos, len(days) - 1)] == local)
    codes = np.asarray(status.values, dtype="int64")
    ok = (codes == STATUS["ok"]) & inside
    w = np.ones(len(local)) if weight is None else np.nan_to_num(np.asarray(weight.values, float))
    day_status = np.full(len(days), STATUS["no_acquisition"], dtype="int64")
    bad = inside & ~ok
    np.maximum.at(day_status, pos[bad], codes[bad])
    day_status[np.unique(pos[ok])] = STATUS["ok"]
    out = {}
    for name, var in table.data_vars.items():
        values = np.asarray(var.transpose("time", ...).values, dtype="float64")
        finite = np.isfinite(values) & ok.reshape((-1,) + (1,) * (values.ndim - 1))
        ww = np.where(finite, w.reshape((-1,) + (1,) * (values.ndim - 1)), 0.0)
        sums = np.zeros((len(days), *values.shape[1:]))
        wsum = np.zeros_like(sums)
        np.add.at(sums, pos[inside], np.where(finite, values * ww, 0.0)[inside])
        np.add.at(wsum, pos[inside], ww[inside])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(wsum > 0, sums / wsum, np.nan)
        other = [d for d in var.dims if d != "time"]
        out[name] = xr.DataArray(
            mean.astype("float32"),
            dims=("time", *other),
            coords={"time": days, **{d: var[d].values for d in other if d in var.coords}},
            attrs=var.attrs,
        )
    ds = xr.Dataset(out)
    ds[f"{product}_status"] = xr.DataArray(
        day_status.astype("int8"), dims="time", coords={"time": days}
    )
    return ds


class Acquisitions(NamedTuple):
    """One site's values per acquisition, as :func:`daily_site_values` takes them.

    Attributes
    ----------
    table
        Values per acquisition, dim ``time`` (UTC) first.
    status
        Status code per acquisition (:data:`fluxgrid.rs.names.STATUS`), dim ``time``.
    weight
        Weight per acquisition (e.g. clear-pixel count), dim ``time``; ``None`` = 1.
    """

    table: xr.Dataset
    status: xr.DataArray
    weight: xr.DataArray | None = None


def daily_site_values(
    cube: xr.Dataset,
    acquisitions: Mapping[str, Acquisitions],
    *,
    product: str,
    variables: Sequence[str] = (),
) -> xr.Dataset:
    """Acquisitions of many sites -> values on the cube's ``(site, time)`` with a status.

    Each site's acquisitions are averaged onto its local days by
    :func:`daily_from_acquisitions`; sites of the cube without acquisitions get NaN and
    the status ``no_acquisition``; sites that are not in the cube are left out.

    Parameters
    ----------
    cube
        Daily site cube (coords ``latitude``, ``longitude``, ``utc_offset``).
    acquisitions
        Site -> its :class:`Acquisitions`.
    product
        Prefix of the status variable (``"s1"`` -> ``s1_status``).
    variables
        Names of the value variables, used only when no site has acquisitions (the
        result is then all missing).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)`` in the cube's site order, ready for :func:`join_rs`.

    Raises
    ------
    RemoteSensingError
        No site has acquisitions and ``variables`` is empty.

    Examples
    --------
    >>> t = pd.to_datetime(["2020-06-01T10:30"])
    >>> days = pd.date_range("2020-06-01", periods=2)
    >>> cube = xr.Dataset(coords={"site": ["a", "b"], "time": days,
    ...     "latitude": ("site", [51.0, 52.0]), "longitude": ("site", [10.0, 11.0]),
    ...     "utc_offset": ("site", [1.0, 1.0])})
    >>> acq = Acquisitions(xr.Dataset({"v": ("time", [2.0])}, coords={"time": t}),
    ...                    xr.DataArray([0], dims="time", coords={"time": t}))
    >>> daily = daily_site_values(cube, {"a": acq}, product="x")
    >>> daily.v.values.tolist(), daily.x_status.values.tolist()
    ([[2.0, nan], [nan, nan]], [[0, 1], [1, 1]])
    """
    sites = site_table(cube)
    per_site = {
        name: daily_from_acquisitions(
            acq.table,
            acq.status,
            utc_offset=float(sites.loc[name, "utc_offset"]),
            time=cube.time,
            weight=acq.weight,
            product=product,
        )
        for name, acq in acquisitions.items()
        if name in sites.index
    }
    empty = _no_acquisitions(per_site, cube, product, variables)
    parts = [per_site.get(name, empty) for name in sites.index]
    return xr.concat(parts, dim="site", join="outer").assign_coords(site=cube.site.values)


def _no_acquisitions(
    per_site: Mapping[str, xr.Dataset], cube: xr.Dataset, product: str, variables: Sequence[str]
) -> xr.Dataset:
    """The daily table of a site without acquisitions: NaN values, ``no_acquisition``."""
    status_name = f"{product}_status"
    if per_site:
        template = next(iter(per_site.values()))
        return xr.Dataset(
            {
                k: xr.full_like(v, STATUS["no_acquisition"] if k == status_name else np.nan)
                for k, v in template.data_vars.items()
            }
        )
    if not variables:
        raise RemoteSensingError(f"no site has {product} acquisitions")
    n = cube.sizes["time"]
    nan = np.full(n, np.nan, dtype="float32")
    return xr.Dataset(
        {
            **{name: ("time", nan) for name in variables},
            status_name: ("time", np.full(n, STATUS["no_acquisition"], "int8")),
        },
        coords={"time": cube.time.values},
    )


def join_rs(
    cube: xr.Dataset,
    daily: xr.Dataset,
    *,
    product: str,
    interpolate: bool = False,
    max_gap_days: int = 16,
    reasons: Mapping[str, str] | None = None,
) -> xr.Dataset:
    """Join daily remote-sensing variables (dims ``(site, time)``) into the site cube.

    Parameters
    ----------
    cube
        Daily site cube.
    daily
        Variables on the cube's sites and days, with ``<product>_status``.
    product
        Prefix (``"s2"``, ``"s1"``, ``"lst"``...). Existing variables of that product in
        ``cube`` are replaced.
    interpolate
        Linearly interpolate gaps of at most ``max_gap_days`` days; filled days get the
        status ``interpolated``.
    reasons
        Site -> reason for sites without data, stored in coordinate ``<product>_reason``.

    Returns
    -------
    xarray.Dataset
        New cube (the input is not modified).

    Raises
    ------
    RemoteSensingError
        If ``daily`` does not cover the cube's sites or its time axis differs.
    """
    if "site" not in daily.dims or "time" not in daily.dims:
        raise RemoteSensingError(f"join_rs: expected dims (site, time), got {dict(daily.sizes)}")
    cube_sites = [str(s) for s in cube.site.values]
    extra = sorted(set(map(str, daily.site.values)) - set(cube_sites))
    if extra:
        raise RemoteSensingError(f"join_rs: sites {extra} are not in the cube")
    daily = daily.reindex(site=cube.site.values)
    if not np.array_equal(daily.time.values, cube.time.values):
        raise RemoteSensingError(
            "join_rs: the product's days differ from the cube's time axis; build it with "
            "daily_from_acquisitions(time=cube.time)"
        )
    status_name = f"{product}_status"
    status = daily[status_name].fillna(STATUS["no_acquisition"]).astype("int8")
    values = daily.drop_vars(status_name)
    if interpolate:
        before = values.notnull()
        values = values.map(interpolate_time, max_gap_days=max_gap_days)
        first = next(iter(values.data_vars))
        filled = values[first].notnull() & ~before[first]
        while filled.ndim > 2:
            filled = filled.any([d for d in filled.dims if d not in ("site", "time")])
        status = status.where(~filled, STATUS["interpolated"]).astype("int8")
    out = cube.drop_vars(
        [v for v in cube.variables if str(v).startswith(f"{product}_") and v not in cube.dims]
    )
    for name, var in values.data_vars.items():
        var = var.astype("float32") if var.dtype.kind == "f" else var
        out[name] = var.transpose("site", "time", ...).assign_attrs(
            {**rs_attrs(str(name)), **var.attrs}
        )
    out[status_name] = status.transpose("site", "time").assign_attrs(rs_attrs(status_name))
    reasons = dict(reasons or {})
    out = out.assign_coords(
        {
            f"{product}_reason": (
                "site",
                np.array([reasons.get(s, "") for s in cube_sites], dtype=str),
                {"long_name": f"why a site has no {product} data ('' = has data)"},
            )
        }
    )
    return out
