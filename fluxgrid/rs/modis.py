"""MODIS land-surface temperature at towers (MOD11A1/MYD11A1) and FluxnetEO site files.

:func:`lst_window` reads the daily LST tiles on their own sinusoidal grid, takes the
``window`` x ``window`` pixels (default 3 x 3) centred on the pixel holding the tower, keeps
pixels whose QC says "good quality" (or "other quality" with an LST error class within
``max_lst_error_k``), scales the digital numbers (0.02 K) and averages them. Each
observation is dated by its local standard-time day: the product day is a UTC day, and the
observation happens at the platform's nominal local solar time (Terra 10:30/22:30, Aqua
13:30/01:30).

:func:`read_fluxneteo` reads FluxnetEO MODIS site files (Walther et al. 2022) into the same
canonical names (``lst_terra_day`` ...; degC) plus ``modis_<index>`` reflectance products.

Examples
--------
>>> decode_qc([0b00000000, 0b01000001, 0b11000001, 0b00000010], max_lst_error_k=2.0).tolist()
[True, True, False, False]
>>> ds = read_fluxneteo("../shared/data/fluxneteo/CG-Tch.modis.average_cutout.nc")  # doctest: +SKIP
>>> ds.lst_terra_day.attrs["units"]                                                # doctest: +SKIP
'degC'
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._docstring import fill_doc
from .._lazy import lazy_import
from ..errors import FileFormatError, RemoteSensingError
from .align import Acquisitions, daily_site_values, join_rs
from .config import LSTConfig, StacConfig
from .geometry import odc_geo, tower_xy
from .items import group_items, product_day_key
from .names import STATUS, rs_attrs
from .sites import ADD_DOCS, site_results, site_table
from .stac import search_items, search_options
from .stac_load import reduce_groups

__all__ = [
    "OVERPASS_HOURS",
    "add_lst",
    "decode_qc",
    "lst_site",
    "lst_streams",
    "lst_window",
    "modis_observation_times",
    "read_fluxneteo",
]

#: nominal local solar time (hours) of each MODIS overpass
OVERPASS_HOURS = {
    ("terra", "day"): 10.5,
    ("terra", "night"): 22.5,
    ("aqua", "day"): 13.5,
    ("aqua", "night"): 1.5,
}
_ERROR_CLASS = {1.0: 0, 2.0: 1, 3.0: 2}
_KELVIN = 273.15


def decode_qc(qc, *, max_lst_error_k: float = 2.0) -> np.ndarray:
    """Good-pixel mask from MOD11A1 ``QC_Day``/``QC_Night`` bits.

    Bits 0-1 (mandatory QA): 00 good -> kept; 01 other quality -> kept only if bits 6-7
    (LST error: 00 <= 1 K, 01 <= 2 K, 10 <= 3 K, 11 > 3 K) are within ``max_lst_error_k``;
    10 (cloud) and 11 (not produced) -> rejected.
    """
    qc = np.asarray(qc).astype("uint8")
    mandatory = qc & 0b11
    lst_error = (qc >> 6) & 0b11
    limit = _ERROR_CLASS[float(max_lst_error_k)]
    return (mandatory == 0) | ((mandatory == 1) & (lst_error <= limit))


def modis_observation_times(dates, longitude: float, platform: str, part: str) -> np.ndarray:
    """UTC times of the observations in daily MODIS products of ``dates`` (UTC days).

    The observation is at the nominal local solar time of the overpass; it lies within the
    product's UTC day, so ``utc = date + ((solar_hour - longitude/15) mod 24) h``.
    """
    hours = (OVERPASS_HOURS[(platform, part)] - float(longitude) / 15.0) % 24.0
    days = pd.DatetimeIndex(dates).normalize()
    return (days + pd.to_timedelta(hours, unit="h")).values.astype("datetime64[ns]")


def _platform(item) -> str:
    name = str(item.properties.get("platform", "")).lower()
    if name in ("terra", "aqua"):
        return name
    return "terra" if item.id.upper().startswith("MOD") else "aqua"


def _window_geobox(items: Sequence, latitude: float, longitude: float, window: int):
    """GeoBox of ``window`` x ``window`` native pixels centred on the tower pixel."""
    geobox_mod = odc_geo("geobox")
    geo = odc_geo()
    affine = lazy_import("affine")
    shapely_geometry = lazy_import("shapely.geometry")
    point = shapely_geometry.Point(float(longitude), float(latitude))
    covers = (i for i in items if shapely_geometry.shape(i.geometry).covers(point))
    item = next(covers, items[0])
    props = {**item.properties}
    asset = next(iter(item.assets.values()))
    props.update({k: v for k, v in asset.extra_fields.items() if k.startswith("proj:")})
    crs = (
        props.get("proj:wkt2")
        or props.get("proj:code")
        or (f"EPSG:{props['proj:epsg']}" if props.get("proj:epsg") else None)
    )
    transform = props.get("proj:transform")
    if crs is None or transform is None:
        raise RemoteSensingError(
            f"item {item.id} has no projection metadata (proj:wkt2/proj:epsg and "
            "proj:transform); the MODIS grid around the tower cannot be found"
        )
    a = affine.Affine(*transform[:6])
    x, y = tower_xy(latitude, longitude, crs)
    col = int(np.floor((x - a.c) / a.a))
    row = int(np.floor((y - a.f) / a.e))
    half = window // 2
    origin = a @ (col - half, row - half)
    grid = affine.Affine(a.a, 0.0, origin[0], 0.0, a.e, origin[1])
    return geobox_mod.GeoBox((window, window), grid, geo.CRS(crs))


def _lst_reduce(
    ds: xr.Dataset, *, groups: Sequence, scale: float, offset: float, max_lst_error_k: float
) -> np.ndarray:
    """Window statistics of a block of product days (one Dask task).

    Returns (t, 6): mean LST (degC), good pixels and any-cloud flag, for day then night.
    """
    out = np.full((ds.sizes["time"], 6), np.nan)
    for k, part in enumerate(("Day", "Night")):
        dn = ds[f"LST_{part}_1km"].values.astype("float64")
        qc = ds[f"QC_{part}"].values
        good = decode_qc(qc, max_lst_error_k=max_lst_error_k) & (dn > 0)
        n = good.sum(axis=(1, 2))
        total = np.where(good, dn * scale + offset, 0.0).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, 3 * k] = np.where(n > 0, total / n - _KELVIN, np.nan)
        out[:, 3 * k + 1] = n
        out[:, 3 * k + 2] = ((qc & 0b11) == 2).any(axis=(1, 2))
    return out


def lst_window(
    items: Sequence,
    latitude: float,
    longitude: float,
    *,
    config: LSTConfig | None = None,
    retries: int = 3,
    site: str | None = None,
) -> dict[str, xr.Dataset]:
    """LST window means per product day for each platform and overpass (lazy).

    Parameters
    ----------
    items
        MOD11A1/MYD11A1 items (assets ``LST_Day_1km``, ``QC_Day``, ``LST_Night_1km``,
        ``QC_Night``).
    latitude, longitude
        Tower position, degrees.
    config
        Window, QC and platform options (:class:`LSTConfig`).
    retries
        Retries of remote reads.
    site
        Site name for messages.

    Returns
    -------
    dict
        ``"terra"``/``"aqua"`` -> Dataset on ``time`` (the product's UTC day) with
        ``day_lst``/``night_lst`` (degC), ``day_n``/``night_n`` (good pixels in the window)
        and ``day_status``/``night_status``; :func:`lst_streams` splits them by overpass.
    """
    cfg = config or LSTConfig()
    out: dict[str, xr.Dataset] = {}
    for platform in cfg.platforms:
        group = [i for i in items if _platform(i) == platform]
        if not group:
            continue
        geobox = _window_geobox(group, latitude, longitude, cfg.window)
        groups = group_items(group, product_day_key)
        days = pd.DatetimeIndex([g.time for g in groups]).normalize()
        scale, offset = _lst_scaling(group[0])
        raw = reduce_groups(
            groups,
            bands=["LST_Day_1km", "QC_Day", "LST_Night_1km", "QC_Night"],
            geobox=geobox,
            key=product_day_key,
            reduce=_lst_reduce,
            n_stats=6,
            chunk=366,
            retries=retries,
            site=site,
            scale=scale,
            offset=offset,
            max_lst_error_k=cfg.max_lst_error_k,
        )
        ds = _window_table(raw, cfg.min_good_pixels)
        ds = ds.assign_coords(time=days.values.astype("datetime64[ns]"))
        ds.attrs.update(platform=platform, window=cfg.window, site=site or "", longitude=longitude)
        out[platform] = ds
    if not out:
        raise RemoteSensingError(
            f"site {site}: no items of platforms {list(cfg.platforms)} (MOD11A1 = terra, "
            "MYD11A1 = aqua) among the items"
        )
    return out


def _window_table(raw, min_good_pixels: int) -> xr.Dataset:
    """Window statistics ``(time, 6)`` -> ``<part>_lst`` (NaN unless ok), ``_n``, ``_status``."""
    stats = xr.DataArray(raw.rechunk(-1), dims=("time", "stat"))
    parts = {}
    for k, part in enumerate(("day", "night")):
        mean, n, cloud = (stats.isel(stat=3 * k + j, drop=True) for j in range(3))
        status = xr.where(
            n >= min_good_pixels,
            STATUS["ok"],
            xr.where(
                n > 0,
                STATUS["below_min_share"],
                xr.where(cloud > 0, STATUS["all_masked"], STATUS["no_data"]),
            ),
        ).astype("int8")
        parts[f"{part}_lst"] = mean.where(status == STATUS["ok"]).astype("float32")
        parts[f"{part}_n"] = n.astype("float32")
        parts[f"{part}_status"] = status
    return xr.Dataset(parts)


def _lst_scaling(item) -> tuple[float, float]:
    bands = item.assets["LST_Day_1km"].extra_fields.get("raster:bands") or [{}]
    return float(bands[0].get("scale", 0.02)), float(bands[0].get("offset", 0.0))


def lst_site(
    source: str | os.PathLike,
    site: str,
    latitude: float,
    longitude: float,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    config: LSTConfig | None = None,
    stac: StacConfig | None = None,
    scheduler: str | None = "threads",
) -> dict[str, xr.Dataset]:
    """Search, load and reduce one site (computed); see :func:`lst_window`.

    Returns
    -------
    dict
        Platform -> window table on product days (in memory).
    """
    cfg = config or LSTConfig()
    stac_cfg = stac or StacConfig(source=str(source))
    options = search_options(stac_cfg)
    options.update(collections=cfg.collection, buffer_m=1000.0 * cfg.window)
    items = search_items(source, latitude, longitude, start=start, end=end, site=site, **options)
    out = lst_window(items, latitude, longitude, config=cfg, retries=stac_cfg.retries, site=site)
    return {
        k: (v.compute(scheduler=scheduler) if scheduler else v.compute()) for k, v in out.items()
    }


def lst_streams(windows: dict[str, xr.Dataset], longitude: float) -> dict[str, xr.Dataset]:
    """Split per-platform window tables into overpass streams on observation times (UTC).

    Returns
    -------
    dict
        ``"terra_day"``, ``"terra_night"``, ... -> Dataset with ``lst``, ``n``, ``status``
        on ``time`` = UTC observation time (see :func:`modis_observation_times`).
    """
    streams = {}
    for platform, ds in windows.items():
        for part in ("day", "night"):
            times = modis_observation_times(ds.time.values, longitude, platform, part)
            streams[f"{platform}_{part}"] = xr.Dataset(
                {
                    "lst": ds[f"{part}_lst"],
                    "n": ds[f"{part}_n"],
                    "status": ds[f"{part}_status"],
                }
            ).assign_coords(time=times)
    return streams


@fill_doc(ADD_DOCS)
def add_lst(
    cube: xr.Dataset,
    source: str | os.PathLike | None = None,
    *,
    windows: dict[str, dict[str, xr.Dataset]] | None = None,
    failed: dict[str, str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    config: LSTConfig | None = None,
    stac: StacConfig | None = None,
    interpolate: bool = False,
    max_gap_days: int = 16,
    on_error: str = "record",
) -> xr.Dataset:
    """MODIS LST joined onto the site cube's daily axis.

    Parameters
    ----------
    %(cube)s
    %(source)s
    windows, failed
        Precomputed :func:`lst_site` results (platform -> window table) per site and reasons
        of failed sites.
    %(period)s
    %(options)s
    %(join)s
    %(on_error)s

    Returns
    -------
    xarray.Dataset
        The cube plus, for each platform and overpass, ``lst_terra_day`` (degC),
        ``lst_terra_day_n`` (good pixels in the window), ``lst_terra_day_status`` and
        coordinate ``lst_terra_day_reason``.
    """
    cfg = config or LSTConfig()
    sites = site_table(cube)
    windows, failed = site_results(
        lst_site,
        cube,
        source,
        windows,
        failed,
        caller="add_lst",
        what="windows",
        desc="MODIS LST sites",
        start=start,
        end=end,
        on_error=on_error,
        config=cfg,
        stac=stac,
    )
    split = {
        name: lst_streams(w, float(sites.loc[name, "longitude"])) for name, w in windows.items()
    }
    out = cube
    for stream in (f"{p}_{part}" for p in cfg.platforms for part in ("day", "night")):
        found = {name: streams[stream] for name, streams in split.items() if stream in streams}
        reasons = dict(failed)
        for name in sites.index:
            if name not in found:
                reasons.setdefault(name, f"no {stream.replace('_', ' ')} LST items")
        out = join_rs(
            out,
            _stream_daily(cube, f"lst_{stream}", found),
            product=f"lst_{stream}",
            interpolate=interpolate,
            max_gap_days=max_gap_days,
            reasons=reasons,
        )
    return out


def _stream_daily(cube: xr.Dataset, product: str, found: Mapping[str, xr.Dataset]) -> xr.Dataset:
    """One overpass stream of every site on the cube's days (no good pixel counts 0)."""
    acquisitions = {
        name: Acquisitions(xr.Dataset({product: w["lst"], f"{product}_n": w["n"]}), w["status"])
        for name, w in found.items()
    }
    daily = daily_site_values(
        cube, acquisitions, product=product, variables=(product, f"{product}_n")
    )
    daily[f"{product}_n"] = daily[f"{product}_n"].fillna(0.0)
    return daily


# --------------------------------------------------------------------------- FluxnetEO
_LST_RE = re.compile(
    r"^LST(?P<kind>_N|_NSTD|_gapfilltype)?_(?P<plat>TERRA|AQUA)_(?P<part>Day|Night)(?P<vza>_VZA\d+)?$"
)
_SUFFIX = {"_N": "n", "_NSTD": "nstd", "_gapfilltype": "gapfill"}


def _fluxneteo_name(var: str) -> tuple[str, str] | None:
    """(canonical name, kind) of a FluxnetEO variable; kind in value/n/nstd/gapfill."""
    m = _LST_RE.match(var)
    if m:
        base = f"lst_{m['plat'].lower()}_{m['part'].lower()}{(m['vza'] or '').lower()}"
        kind = _SUFFIX.get(m["kind"] or "", "value")
        return base, kind
    for suffix, kind in (("_NSTD", "nstd"), ("_N", "n"), ("_gapfilltype", "gapfill")):
        if var.endswith(suffix):
            return f"modis_{var[: -len(suffix)].lower()}", kind
    return f"modis_{var.lower()}", "value"


def read_fluxneteo(paths: str | os.PathLike | Sequence[str | os.PathLike]) -> xr.Dataset:
    """Read FluxnetEO MODIS site files into a (site, time) cube with canonical names.

    Parameters
    ----------
    paths
        One or more ``<SITE>.modis.*.nc`` files of the FluxnetEO product.

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)`` (the file's dates), coords ``latitude``/``longitude`` (from
        ``site_coordinates``). LST in degC as ``lst_terra_day``, ``lst_aqua_night``,
        ``lst_terra_day_vza0`` ...; reflectances and indices as ``modis_ndvi``,
        ``modis_nir`` ...; companions ``<name>_n`` (good pixels within 1 km),
        ``<name>_nstd`` (their standard deviation), ``<name>_gapfill`` (gap-fill type, 0 =
        original) and ``<name>_qc`` (1 for original values, 0 for gap-filled, NaN where
        there is no value).

    Raises
    ------
    FileFormatError
        A file without ``site_ID``/``site_coordinates`` attributes or a time axis.
    """
    files = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    cubes = [_read_fluxneteo_file(Path(path)) for path in files]
    out = xr.concat(cubes, dim="site", join="outer") if len(cubes) > 1 else cubes[0]
    out.attrs.update(
        source="FluxnetEO MODIS (Walther et al. 2022, Biogeosciences 19, 2805-2840)",
        resolution="DD",
        Conventions="CF-1.8",
    )
    return out


def _read_fluxneteo_file(path: Path) -> xr.Dataset:
    """One FluxnetEO site file -> a one-site cube with canonical names and companions."""
    if not path.is_file():
        raise FileFormatError(path, "no such file", "a FluxnetEO MODIS site file (.nc)")
    with xr.open_dataset(path) as raw:
        raw = raw.load()
    site = raw.attrs.get("site_ID")
    coords = raw.attrs.get("site_coordinates")
    if site is None or coords is None or "time" not in raw.dims:
        raise FileFormatError(
            path,
            "missing site_ID / site_coordinates attributes or time dimension",
            "a FluxnetEO MODIS site file",
        )
    lat, lon = (float(v) for v in str(coords).split(","))
    data = {}
    for var, da in raw.data_vars.items():
        if da.dims == ("time",):
            data.update([_fluxneteo_variable(str(var), da)])
    for name in [n for n in data if f"{n}_gapfill" in data]:
        gapfill = data[f"{name}_gapfill"][0]
        qc = np.where(np.isfinite(data[name][0]), (gapfill == 0).astype("float32"), np.nan)
        data[f"{name}_qc"] = (
            qc.astype("float32"),
            {"long_name": f"share of original (not gap-filled) data in {name}", "units": "1"},
        )
    return xr.Dataset(
        {k: (("site", "time"), v[None, :], a) for k, (v, a) in data.items()},
        coords={
            "site": [site],
            "time": raw.time.values.astype("datetime64[ns]"),
            "latitude": ("site", [lat]),
            "longitude": ("site", [lon]),
        },
    )


def _fluxneteo_variable(var: str, da: xr.DataArray) -> tuple[str, tuple[np.ndarray, dict]]:
    """(canonical name, (values, attrs)) of one FluxnetEO variable; LST in degC."""
    name, kind = _fluxneteo_name(var)
    values = da.values.astype("float64")
    is_lst = name.startswith("lst_")
    if kind == "value":
        if is_lst:
            return name, ((values - _KELVIN).astype("float32"), rs_attrs(name))
        what = f"MODIS {var} (FluxnetEO tower cut-out mean)"
        return name, (values.astype("float32"), {"long_name": what, "units": "1"})
    if kind == "n":
        what = f"number of good-quality pixels within 1 km behind {name}"
        return f"{name}_n", (values.astype("float32"), {"long_name": what, "units": "1"})
    if kind == "nstd":
        what = f"standard deviation of the good-quality pixels behind {name}"
        attrs = {"long_name": what, "units": "K" if is_lst else "1"}
        return f"{name}_nstd", (values.astype("float32"), attrs)
    attrs = {
        "long_name": f"FluxnetEO gap-fill type of {name}",
        "comment": da.attrs.get("description", ""),
        "units": "1",
    }
    return f"{name}_gapfill", (values.astype("float32"), attrs)
