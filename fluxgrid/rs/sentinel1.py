"""Sentinel-1 RTC backscatter at towers: gamma0 VV/VH, dB, DpRVI, annulus means.

Per acquisition, the radiometrically terrain-corrected gamma0 (linear power) of the pixels
in an annulus around the tower (default 50-1000 m; the inner disc holds the tower and its
mast, bright corner reflectors) is averaged in linear units; dB values, the cross-ratio and
the vegetation indices are derived from the averaged intensities, which is the multilooked
estimate of the dual-pol covariance matrix.

DpRVI (Mandal et al. 2020) is ``1 - m * beta`` with the degree of polarisation ``m`` and the
dominant eigenvalue share ``beta`` of the 2x2 covariance matrix. RTC products carry
intensities only (no VV-VH cross-correlation), so the matrix is diagonal and
``DpRVI = q (q + 3) / (q + 1)^2`` with ``q = VH / VV`` (the form used for GRD data,
Bhogapurapu et al. 2022). The simpler dual-pol RVI ``4 VH / (VV + VH)`` is given too.
Ascending and descending passes are loaded separately (never mosaicked together).

Examples
--------
>>> round(float(dprvi(0.1, 0.02)), 4)
0.4444
>>> fp = s1_annulus(items, 51.08, 10.45)                       # doctest: +SKIP
>>> cube = add_s1(daily, "https://planetarycomputer.microsoft.com/api/stac/v1",
...               stac=StacConfig(source=..., sign="planetary_computer.sign"))  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .._docstring import fill_doc
from ..errors import RemoteSensingError
from .align import Acquisitions, daily_site_values, join_rs
from .config import S1Config, StacConfig
from .geometry import footprint_grid
from .items import SolarDayKey, group_items
from .names import STATUS, rs_attrs
from .sites import ADD_DOCS, site_results
from .stac import search_items, search_options
from .stac_load import reduce_groups

__all__ = ["add_s1", "dprvi", "s1_annulus", "s1_site"]

_NODATA = -32768.0


def dprvi(vv, vh):
    """DpRVI of intensity-only dual-pol data, ``q (q + 3) / (q + 1)^2`` with ``q = VH/VV``.

    Parameters
    ----------
    vv, vh
        Linear gamma0 (or sigma0) intensities, broadcastable arrays.
    """
    vv = np.asarray(vv, dtype="float64")
    vh = np.asarray(vh, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        q = vh / vv
        return q * (q + 3.0) / (q + 1.0) ** 2


def _pol_keys(items: Sequence) -> tuple[str, str]:
    keys = {k.lower(): k for k in items[0].assets}
    if "vv" not in keys or "vh" not in keys:
        raise RemoteSensingError(
            f"items of {items[0].collection_id!r} (e.g. {items[0].id}) have no vv/vh assets "
            f"(found {sorted(items[0].assets)}); use a dual-pol (VV+VH) Sentinel-1 RTC collection"
        )
    return keys["vv"], keys["vh"]


def _annulus_block(values: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """Annulus statistics: values (t, pol, y, x), ring (y, x) -> (t, 4) vv, vh, n_ring, n_valid."""
    ok = np.isfinite(values) & (values != _NODATA) & (values > 0)
    both = ok.all(axis=1) & ring.astype(bool)
    n = both.sum(axis=(1, 2))
    out = np.full((values.shape[0], 4), np.nan)
    out[:, 2] = ring.sum()
    out[:, 3] = n
    with np.errstate(invalid="ignore", divide="ignore"):
        sums = np.where(both[:, None], values, 0.0).sum(axis=(2, 3))
        out[:, :2] = np.where(n[:, None] > 0, sums / n[:, None], np.nan)
    return out


def _s1_reduce(
    ds: xr.Dataset, *, groups: Sequence, ring: np.ndarray, keys: tuple[str, str]
) -> np.ndarray:
    """Reduce an eagerly loaded block of acquisitions (one Dask task) to annulus statistics."""
    values = np.stack([ds[k].values.astype("float64") for k in keys], axis=1)
    return _annulus_block(values, ring)


def _annulus_table(raw, times: np.ndarray, groups: Sequence, min_valid_share: float) -> xr.Dataset:
    """Annulus statistics ``(time, 4)`` -> ``vv``, ``vh`` (NaN unless ``ok``), share, status."""
    stats = xr.DataArray(raw.rechunk(-1), dims=("time", "stat"), coords={"time": times})
    out = xr.Dataset(
        {
            "vv": stats.isel(stat=0, drop=True),
            "vh": stats.isel(stat=1, drop=True),
            "n_ring": stats.isel(stat=2, drop=True),
            "n_valid": stats.isel(stat=3, drop=True),
            "orbit_state": ("time", np.array([g.key[1] or "unknown" for g in groups])),
        }
    )
    share = (out["n_valid"] / out["n_ring"].where(out["n_ring"] > 0)).astype("float32")
    status = xr.where(
        out["n_valid"] == 0,
        STATUS["no_data"],
        xr.where(share < min_valid_share, STATUS["below_min_share"], STATUS["ok"]),
    ).astype("int8")
    ok = status == STATUS["ok"]
    out["vv"] = out["vv"].where(ok).astype("float32")
    out["vh"] = out["vh"].where(ok).astype("float32")
    out["valid_share"] = share
    out["status"] = status
    return out


def s1_annulus(
    items: Sequence,
    latitude: float,
    longitude: float,
    *,
    config: S1Config | None = None,
    retries: int = 3,
    site: str | None = None,
) -> xr.Dataset:
    """Annulus-mean gamma0 per acquisition (lazy; ascending and descending kept apart).

    Parameters
    ----------
    items
        Sentinel-1 RTC items with ``vv`` and ``vh`` assets.
    latitude, longitude
        Tower position, degrees.
    config
        Annulus radii, orbit filter, minimum valid share (:class:`S1Config`).
    retries
        Retries of remote reads.
    site
        Site name for messages.

    Returns
    -------
    xarray.Dataset
        Dim ``time`` (UTC): ``vv``, ``vh`` (linear), ``valid_share``, ``n_valid``,
        ``status`` and ``orbit_state``.
    """
    cfg = config or S1Config()
    items = list(items)
    if cfg.orbit_state is not None:
        items = [i for i in items if i.properties.get("sat:orbit_state") == cfg.orbit_state]
        if not items:
            raise RemoteSensingError(
                f"site {site}: no {cfg.orbit_state} Sentinel-1 passes among the items"
            )
    vv_key, vh_key = _pol_keys(items)
    key = SolarDayKey(longitude, ("sat:orbit_state",))
    groups = group_items(items, key)
    times = np.array([g.time for g in groups], dtype="datetime64[ns]")
    geobox, _, ring = footprint_grid(
        latitude,
        longitude,
        outer_m=cfg.outer_m,
        inner_m=cfg.inner_m,
        resolution=cfg.resolution,
        align=cfg.resolution,
    )
    raw = reduce_groups(
        groups,
        bands=[vv_key, vh_key],
        geobox=geobox,
        key=key,
        reduce=_s1_reduce,
        n_stats=4,
        chunk=cfg.chunk_dates,
        retries=retries,
        site=site,
        ring=ring.values,
        keys=(vv_key, vh_key),
    )
    out = _annulus_table(raw, times, groups, cfg.min_valid_share)
    out.attrs.update(
        site=site or "",
        latitude=float(latitude),
        longitude=float(longitude),
        inner_m=float(cfg.inner_m),
        outer_m=float(cfg.outer_m),
    )
    return out


def s1_site(
    source: str | os.PathLike,
    site: str,
    latitude: float,
    longitude: float,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    config: S1Config | None = None,
    stac: StacConfig | None = None,
    scheduler: str | None = "threads",
) -> xr.Dataset:
    """Search, load and reduce one site (computed); see :func:`s1_annulus`."""
    cfg = config or S1Config()
    stac_cfg = stac or StacConfig(source=str(source))
    query = {"sat:orbit_state": cfg.orbit_state} if cfg.orbit_state else None
    options = search_options(stac_cfg)
    options.update(collections=cfg.collection, buffer_m=cfg.outer_m, query=query)
    items = search_items(source, latitude, longitude, start=start, end=end, site=site, **options)
    out = s1_annulus(items, latitude, longitude, config=cfg, retries=stac_cfg.retries, site=site)
    return out.compute(scheduler=scheduler) if scheduler else out.compute()


@fill_doc(ADD_DOCS)
def add_s1(
    cube: xr.Dataset,
    source: str | os.PathLike | None = None,
    *,
    annuli: dict[str, xr.Dataset] | None = None,
    failed: dict[str, str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    config: S1Config | None = None,
    stac: StacConfig | None = None,
    interpolate: bool = False,
    max_gap_days: int = 16,
    on_error: str = "record",
) -> xr.Dataset:
    """Sentinel-1 predictors joined onto the site cube's daily axis.

    Parameters
    ----------
    %(cube)s
    %(source)s
    annuli, failed
        Precomputed per-site results of :func:`s1_site` and reasons of failed sites.
    %(period)s
    %(options)s
    %(join)s
    %(on_error)s

    Returns
    -------
    xarray.Dataset
        The cube plus ``s1_vv``, ``s1_vh`` (linear), ``s1_vv_db``, ``s1_vh_db``,
        ``s1_cr_db``, ``s1_dprvi``, ``s1_rvi``, ``s1_valid_share``, ``s1_status`` and
        coordinate ``s1_reason``. Same-day acquisitions are averaged in linear units
        before dB and indices are derived.
    """
    cfg = config or S1Config()
    annuli, failed = site_results(
        s1_site,
        cube,
        source,
        annuli,
        failed,
        caller="add_s1",
        what="annuli",
        desc="Sentinel-1 sites",
        start=start,
        end=end,
        on_error=on_error,
        config=cfg,
        stac=stac,
    )
    acquisitions = {
        name: Acquisitions(
            xr.Dataset({"s1_vv": a["vv"], "s1_vh": a["vh"], "s1_valid_share": a["valid_share"]}),
            a["status"],
            a["n_valid"],
        )
        for name, a in annuli.items()
    }
    daily = daily_site_values(
        cube, acquisitions, product="s1", variables=("s1_vv", "s1_vh", "s1_valid_share")
    )
    out = join_rs(
        cube,
        daily,
        product="s1",
        interpolate=interpolate,
        max_gap_days=max_gap_days,
        reasons=failed,
    )
    return _derived(out)


def _derived(out: xr.Dataset) -> xr.Dataset:
    """Add values in dB, the cross-ratio and the vegetation indices of daily linear gamma0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out["s1_vv_db"] = (10 * np.log10(out["s1_vv"])).astype("float32")
        out["s1_vh_db"] = (10 * np.log10(out["s1_vh"])).astype("float32")
        out["s1_cr_db"] = (out["s1_vh_db"] - out["s1_vv_db"]).astype("float32")
        out["s1_dprvi"] = xr.apply_ufunc(dprvi, out["s1_vv"], out["s1_vh"]).astype("float32")
        out["s1_rvi"] = (4 * out["s1_vh"] / (out["s1_vv"] + out["s1_vh"])).astype("float32")
    for name in ("s1_vv_db", "s1_vh_db", "s1_cr_db", "s1_dprvi", "s1_rvi"):
        out[name].attrs = rs_attrs(name)
    return out
