"""Offline STAC catalogs with small COGs in the real product layouts, for tests and benchmarks.

The writers produce what the providers serve, only smaller: Sentinel-2 L2A (Planetary
Computer band assets ``B01..B12``, ``SCL`` with ``granule-metadata`` XML, or Earth Search
``coastal..swir22``, ``scl`` with ``raster:bands`` scale/offset), Sentinel-1 RTC (``vv``,
``vh`` float32 gamma0, nodata -32768) and MOD11A1/MYD11A1 (``LST_Day_1km``, ``QC_Day``,
``LST_Night_1km``, ``QC_Night`` on the MODIS sinusoidal grid, scale 0.02 K). Pixel values
are synthetic (a seasonal vegetation/soil mixture, backscatter and LST cycles) and only
serve to check the processing; the exact truths are returned for comparison.

Examples
--------
>>> import tempfile
>>> sites = {"DE-Hai": (51.0792, 10.4522)}
>>> path = write_s2_catalog(tempfile.mkdtemp(), sites, ["2020-06-01"])   # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._lazy import lazy_import
from .brdf import ROY2017, c_factor
from .geometry import tower_xy, utm_epsg
from .s2_metadata import EARTH_SEARCH_NAMES, S2_BANDS, S2_RESOLUTION

__all__ = [
    "MODIS_SINUSOIDAL",
    "S2_CONDITIONS",
    "SOIL",
    "VEGETATION",
    "lst_truth",
    "s1_truth",
    "s2_truth",
    "write_modis_catalog",
    "write_s1_catalog",
    "write_s2_catalog",
]

#: typical surface reflectance spectra (B01..B12 without B10)
VEGETATION = dict(
    zip(
        S2_BANDS,
        (0.03, 0.03, 0.06, 0.03, 0.09, 0.25, 0.32, 0.35, 0.37, 0.36, 0.18, 0.09),
        strict=True,
    )
)
SOIL = dict(
    zip(
        S2_BANDS,
        (0.10, 0.11, 0.14, 0.18, 0.20, 0.22, 0.23, 0.25, 0.26, 0.26, 0.32, 0.28),
        strict=True,
    )
)
#: what a date of the Sentinel-2 fixture can look like at the tower
S2_CONDITIONS = ("clear", "cloud_patch", "cloudy", "snow", "shadow", "nodata", "sliver")

MODIS_SINUSOIDAL = (
    'PROJCS["unnamed",GEOGCS["Unknown datum based upon the custom spheroid",'
    'DATUM["Not specified (based on custom spheroid)",SPHEROID["Custom spheroid",6371007.181,0]],'
    'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Sinusoidal"],'
    'PARAMETER["longitude_of_center",0],PARAMETER["false_easting",0],'
    'PARAMETER["false_northing",0],UNIT["Meter",1]]'
)
MODIS_PIXEL = 926.625433055833
MODIS_ORIGIN = (-20015109.354, 10007554.677)


_SCHEMAS = "https://stac-extensions.github.io"
#: STAC extensions of each fixture collection
_EXTENSIONS = {
    "sentinel-2-l2a": (
        f"{_SCHEMAS}/eo/v1.1.0/schema.json",
        f"{_SCHEMAS}/projection/v1.1.0/schema.json",
        f"{_SCHEMAS}/raster/v1.1.0/schema.json",
        f"{_SCHEMAS}/sat/v1.0.0/schema.json",
    ),
    "sentinel-1-rtc": (
        f"{_SCHEMAS}/sar/v1.0.0/schema.json",
        f"{_SCHEMAS}/projection/v1.1.0/schema.json",
    ),
    "modis-11A1-061": (f"{_SCHEMAS}/projection/v1.1.0/schema.json",),
}


def _write_cog(path: Path, data: np.ndarray, transform, crs: str, nodata: float | None) -> None:
    rasterio = lazy_import("rasterio")
    profile = {
        "driver": "COG",
        "height": data.shape[0],
        "width": data.shape[1],
        "count": 1,
        "dtype": data.dtype.name,
        "crs": crs,
        "transform": transform,
        "nodata": nodata,
        "compress": "deflate",
        "blocksize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)


def _cog_asset(
    path: Path, data: np.ndarray, transform, crs: str, raster: dict[str, Any], **fields: Any
) -> dict[str, Any]:
    """Write ``data`` as a COG at ``path``; its STAC asset (``fields`` after the roles)."""
    _write_cog(path, data, transform, crs, raster.get("nodata"))
    return {
        "href": str(path),
        "type": "image/tiff; application=geotiff; profile=cloud-optimized",
        "roles": ["data"],
        **fields,
        "proj:shape": list(data.shape),
        "proj:transform": list(transform)[:6],
        "raster:bands": [raster],
    }


def _out_folder(folder: str | os.PathLike) -> Path:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _item_folder(folder: Path, product: str, item_id: str) -> Path:
    return _out_folder(folder / product / item_id)


def _footprint_lonlat(transform, shape, crs: str) -> tuple[dict, list[float]]:
    pyproj = lazy_import("pyproj")
    tr = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    h, w = shape
    corners = [transform @ (0, 0), transform @ (w, 0), transform @ (w, h), transform @ (0, h)]
    lonlat = [tr.transform(x, y) for x, y in corners]
    ring = [[float(a), float(b)] for a, b in lonlat] + [[float(lonlat[0][0]), float(lonlat[0][1])]]
    lons = [p[0] for p in ring]
    lats = [p[1] for p in ring]
    return {"type": "Polygon", "coordinates": [ring]}, [min(lons), min(lats), max(lons), max(lats)]


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python types.

    pystac serialises with orjson when it is installed, and orjson refuses numpy scalars.
    """
    if isinstance(value, Mapping):
        return {key: _plain(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _item(
    item_id: str,
    when: pd.Timestamp,
    footprint: tuple[dict, list[float]],
    properties: dict[str, Any],
    assets: dict[str, dict],
    collection: str,
):
    pystac = lazy_import("pystac")
    geometry, bbox = footprint
    item = pystac.Item(
        id=item_id,
        geometry=_plain(geometry),
        bbox=_plain(bbox),
        datetime=when.to_pydatetime().replace(tzinfo=datetime.timezone.utc),
        properties=_plain(properties),
        collection=collection,
        stac_extensions=list(_EXTENSIONS[collection]),
    )
    for key, spec in assets.items():
        spec = _plain(dict(spec))
        href = spec.pop("href")
        item.add_asset(
            key,
            pystac.Asset(
                href=href,
                media_type=spec.pop("type", None),
                roles=spec.pop("roles", None),
                title=spec.pop("title", None),
                extra_fields=spec,
            ),
        )
    return item


def _save(items: list, folder: Path, collection: str, kind: str) -> Path:
    pystac = lazy_import("pystac")
    if kind == "items":
        path = folder / "items.json"
        coll = pystac.ItemCollection(items)
        data = coll.to_dict(transform_hrefs=False)
        for feat in data["features"]:
            for asset in feat["assets"].values():
                asset["href"] = os.path.relpath(asset["href"], folder)
        path.write_text(json.dumps(data))
        return path
    if kind == "catalog":
        cat = pystac.Catalog(
            id=f"{collection}-fixture", description=f"offline {collection} fixture"
        )
        for item in items:
            cat.add_item(item)
        cat.normalize_hrefs(str(folder / "catalog"))
        cat.make_all_asset_hrefs_relative()
        cat.save(catalog_type=pystac.CatalogType.SELF_CONTAINED)
        return folder / "catalog" / "catalog.json"
    raise ValueError(f"kind={kind!r}; expected 'items' or 'catalog'")


# --------------------------------------------------------------------------- Sentinel-2
def s2_truth(when: pd.Timestamp, latitude: float) -> float:
    """Vegetation fraction of the fixture at the tower on a date (seasonal, 0.2-0.8)."""
    doy = pd.Timestamp(when).day_of_year
    season = (
        np.sin(np.pi * (doy - 80) / 365.0) ** 2
        if latitude >= 0
        else np.cos(np.pi * (doy - 80) / 365.0) ** 2
    )
    return float(0.2 + 0.6 * season)


def _s2_angles(when: pd.Timestamp, latitude: float, k: int) -> dict[str, float]:
    doy = when.day_of_year
    decl = 23.44 * np.sin(np.radians(360.0 * (284 + doy) / 365.0))
    sza = float(np.clip(abs(latitude - decl) + 8.0, 15.0, 80.0))
    vza = float(2.0 + 9.0 * ((k * 37) % 10) / 10.0)
    vaa = 105.0 if k % 2 else 285.0
    return {"sza": sza, "saa": 155.0, "vza": vza, "vaa": vaa}


def _granule_xml(
    epsg: int, ulx: float, uly: float, angles: dict[str, float], when, tower_col: float
) -> str:
    """Granule metadata (MTD_TL.xml) with 23 x 23 angle grids at 5 km.

    The grids vary linearly across the tile and equal ``angles`` at the tower.
    """

    def grid(value: float, gradient: float, nan_cols: int = 0) -> str:
        rows = []
        for _ in range(23):
            vals = [value + gradient * (c - tower_col) / 22.0 for c in range(23)]
            vals = ["NaN" if c >= 23 - nan_cols else f"{v:.4f}" for c, v in enumerate(vals)]
            rows.append(f"<VALUES>{' '.join(vals)}</VALUES>")
        return "<Values_List>" + "".join(rows) + "</Values_List>"

    def block(tag: str, zen: float, azi: float, gz: float, ga: float, nan_cols: int = 0) -> str:
        return (
            f'<{tag}><Zenith><COL_STEP unit="m">5000</COL_STEP><ROW_STEP unit="m">5000</ROW_STEP>'
            f'{grid(zen, gz, nan_cols)}</Zenith><Azimuth><COL_STEP unit="m">5000</COL_STEP>'
            f'<ROW_STEP unit="m">5000</ROW_STEP>{grid(azi, ga, nan_cols)}</Azimuth></{tag}>'
        )

    view = []
    for band_id in range(13):
        for det, nan_cols in ((3, 0), (4, 20)):
            inner = block("X", angles["vza"], angles["vaa"], 0.5, 0.2, nan_cols)[3:-4]
            view.append(
                f'<Viewing_Incidence_Angles_Grids bandId="{band_id}" detectorId="{det}">'
                f"{inner}</Viewing_Incidence_Angles_Grids>"
            )
    sun = block("Sun_Angles_Grid", angles["sza"], angles["saa"], 0.3, 0.4)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<n1:Level-2A_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/'
        'S2_PDI_Level-2A_Tile_Metadata.xsd">'
        f"<n1:General_Info><SENSING_TIME>{when.isoformat()}Z</SENSING_TIME></n1:General_Info>"
        "<n1:Geometric_Info><Tile_Geocoding>"
        f"<HORIZONTAL_CS_NAME>WGS84 / UTM zone {epsg % 100}</HORIZONTAL_CS_NAME>"
        f"<HORIZONTAL_CS_CODE>EPSG:{epsg}</HORIZONTAL_CS_CODE>"
        '<Size resolution="10"><NROWS>10980</NROWS><NCOLS>10980</NCOLS></Size>'
        f'<Geoposition resolution="10"><ULX>{ulx:.0f}</ULX><ULY>{uly:.0f}</ULY>'
        "<XDIM>10</XDIM><YDIM>-10</YDIM></Geoposition>"
        f'<Geoposition resolution="20"><ULX>{ulx:.0f}</ULX><ULY>{uly:.0f}</ULY>'
        "<XDIM>20</XDIM><YDIM>-20</YDIM></Geoposition>"
        "</Tile_Geocoding><Tile_Angles>"
        f'{sun}<Mean_Sun_Angle><ZENITH_ANGLE unit="deg">{angles["sza"]:.4f}</ZENITH_ANGLE>'
        f'<AZIMUTH_ANGLE unit="deg">{angles["saa"]:.4f}</AZIMUTH_ANGLE></Mean_Sun_Angle>'
        + "".join(view)
        + "</Tile_Angles></n1:Geometric_Info></n1:Level-2A_Tile_ID>"
    )


def _s2_scene(
    rng: np.random.Generator,
    shape10: tuple[int, int],
    fveg: float,
    condition: str,
    cfac: dict[str, float],
    dn_offset: int,
    tower_rc: tuple[int, int],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """DN arrays per band (at their native resolution) and SCL (20 m)."""
    h, w = shape10
    yy, xx = np.mgrid[0:h, 0:w]
    pattern = 0.08 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    frac = np.clip(fveg + pattern, 0.0, 1.0)
    scl = np.full((h // 2, w // 2), 4, dtype="uint8")
    r2, c2 = tower_rc[0] // 2, tower_rc[1] // 2
    yy2, xx2 = np.mgrid[0 : h // 2, 0 : w // 2]
    dist2 = np.hypot(yy2 - r2, xx2 - c2) * 20.0
    if condition == "cloud_patch":
        scl[dist2 < 600] = 9
        scl[(dist2 >= 600) & (dist2 < 700)] = 3
    elif condition == "cloudy":
        scl[:] = 9
    elif condition == "snow":
        scl[dist2 < 800] = 11
    elif condition == "shadow":
        scl[dist2 < 400] = 3
    elif condition == "sliver":
        scl[:] = 8
        scl[r2 : r2 + 1, c2 : c2 + 1] = 4
    bands: dict[str, np.ndarray] = {}
    for band in S2_BANDS:
        nbar = frac * VEGETATION[band] + (1 - frac) * SOIL[band]
        obs = nbar / cfac.get(band, 1.0) + rng.normal(0.0, 0.002, nbar.shape)
        factor = S2_RESOLUTION[band] // 10
        if factor > 1:
            obs = obs.reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
        dn = np.clip(np.round(obs * 10000) + dn_offset, 1, 65535).astype("uint16")
        bands[band] = dn
    if condition == "nodata":
        for band in bands:
            bands[band][:] = 0
        scl[:] = 0
    return bands, scl


def write_s2_catalog(
    folder: str | os.PathLike,
    sites: Mapping[str, tuple[float, float]],
    dates: Sequence[str | pd.Timestamp],
    *,
    conditions: Sequence[str] | None = None,
    layout: str = "planetary_computer",
    half_size_m: float = 1260.0,
    kind: str = "items",
    seed: int = 0,
    missing_assets: Sequence[str] = (),
) -> Path:
    """Write Sentinel-2 L2A items and COGs around each site; return the STAC file path.

    Parameters
    ----------
    folder
        Output folder (created).
    sites
        Site name -> (latitude, longitude).
    dates
        Acquisition dates; each is acquired at 10:30 local mean solar time.
    conditions
        One of :data:`S2_CONDITIONS` per date (default all ``"clear"``).
    layout
        ``"planetary_computer"`` (``B04`` assets, granule-metadata XML, DNs with the
        +1000 offset from baseline 04.00) or ``"earth_search"`` (``red`` assets,
        ``raster:bands`` scale 1e-4 and offset -0.1, sun angles in properties).
    half_size_m
        Half side of the written rasters around the tower, metres.
    kind
        ``"items"`` (ItemCollection JSON) or ``"catalog"`` (static catalog).
    seed
        Seed of the pixel noise.
    missing_assets
        Asset keys to leave out (to test a collection lacking bands).

    Returns
    -------
    pathlib.Path
        ``items.json`` or ``catalog/catalog.json``.
    """
    folder = _out_folder(folder)
    rng = np.random.default_rng(seed)
    conditions = list(conditions or ["clear"] * len(dates))
    items = []
    for s_idx, (site, (lat, lon)) in enumerate(sites.items()):
        tile = _S2Tile.around(lat, lon, half_size_m)
        for k, (day, cond) in enumerate(zip(dates, conditions, strict=True)):
            when = pd.Timestamp(day).normalize() + pd.Timedelta(hours=10.5 - lon / 15.0)
            items.append(
                _s2_item(folder, site, when, cond, tile, rng, k + s_idx, layout, missing_assets)
            )
    return _save(items, folder, "sentinel-2-l2a", kind)


@dataclass(frozen=True)
class _S2Tile:
    """The fixture's 10 m grid around one tower (origin on the 60 m lattice)."""

    latitude: float
    epsg: int
    x0: float
    ulx: float
    uly: float
    n: int
    tower_rc: tuple[int, int]
    footprint: tuple[dict, list[float]]

    @classmethod
    def around(cls, lat: float, lon: float, half_size_m: float) -> _S2Tile:
        affine = lazy_import("affine")
        epsg = utm_epsg(lat, lon)
        x0, y0 = tower_xy(lat, lon, f"EPSG:{epsg}")
        ulx = np.floor((x0 - half_size_m) / 60.0) * 60.0
        uly = np.ceil((y0 + half_size_m) / 60.0) * 60.0
        n = int(np.ceil(2 * half_size_m / 60.0)) * 6
        tower_rc = (int((uly - y0) // 10), int((x0 - ulx) // 10))
        footprint = _footprint_lonlat(
            affine.Affine(10, 0, ulx, 0, -10, uly), (n, n), f"EPSG:{epsg}"
        )
        return cls(lat, epsg, x0, ulx, uly, n, tower_rc, footprint)


def _s2_item(
    folder: Path,
    site: str,
    when: pd.Timestamp,
    cond: str,
    tile: _S2Tile,
    rng: np.random.Generator,
    k: int,
    layout: str,
    missing_assets: Sequence[str],
):
    """One Sentinel-2 item of the fixture: its COGs, metadata XML and properties."""
    baseline = "05.09" if when >= pd.Timestamp("2022-01-25") else "02.14"
    dn_offset = 1000 if baseline >= "04.00" else 0
    ang = _s2_angles(when, tile.latitude, k)
    cfac = {b: float(c_factor(b, ang["sza"], ang["vza"], ang["vaa"] - ang["saa"])) for b in ROY2017}
    bands, scl = _s2_scene(
        rng, (tile.n, tile.n), s2_truth(when, tile.latitude), cond, cfac, dn_offset, tile.tower_rc
    )
    name = f"{tile.epsg % 100:02d}UNB"
    stamp = when.strftime("%Y%m%dT%H%M%S")
    item_id = f"S2B_MSIL2A_{stamp}_R065_T{name}_{stamp}_{site}"
    sub = _item_folder(folder, "s2", item_id)
    assets = _s2_assets(sub, bands, scl, tile, f"T{name}_{stamp}", layout, dn_offset)
    props: dict[str, Any] = {
        "platform": "Sentinel-2B",
        "constellation": "Sentinel 2",
        "instruments": ["msi"],
        "eo:cloud_cover": float({"cloudy": 100, "cloud_patch": 30, "sliver": 99}.get(cond, 2)),
        "proj:epsg": tile.epsg,
        "s2:mgrs_tile": name,
        "sat:orbit_state": "descending",
        "sat:relative_orbit": 65,
        "s2:processing_baseline": baseline,
    }
    if layout == "planetary_computer":
        meta = sub / "MTD_TL.xml"
        tower_col = (tile.x0 - tile.ulx) / 5000.0
        meta.write_text(_granule_xml(tile.epsg, tile.ulx, tile.uly, ang, when, tower_col))
        assets["granule-metadata"] = {
            "href": str(meta),
            "type": "application/xml",
            "roles": ["metadata"],
        }
        props.update({"s2:mean_solar_zenith": ang["sza"], "s2:mean_solar_azimuth": ang["saa"]})
    else:
        props.update(
            {
                "view:sun_elevation": 90.0 - ang["sza"],
                "view:sun_azimuth": ang["saa"],
                "view:incidence_angle": ang["vza"],
                "view:azimuth": ang["vaa"],
                "earthsearch:boa_offset_applied": bool(dn_offset),
            }
        )
    for key in missing_assets:
        assets.pop(key, None)
    return _item(item_id, when, tile.footprint, props, assets, "sentinel-2-l2a")


def _s2_assets(
    sub: Path,
    bands: Mapping[str, np.ndarray],
    scl: np.ndarray,
    tile: _S2Tile,
    prefix: str,
    layout: str,
    dn_offset: int,
) -> dict[str, dict]:
    """Band and SCL COGs at their native resolutions, keyed as the provider names them."""
    affine = lazy_import("affine")
    assets: dict[str, dict] = {}
    for band in (*S2_BANDS, "SCL"):
        data = scl if band == "SCL" else bands[band]
        res = S2_RESOLUTION[band]
        raster: dict[str, Any] = {
            "nodata": 0,
            "data_type": data.dtype.name,
            "spatial_resolution": res,
        }
        if layout == "earth_search" and band != "SCL":
            raster.update(scale=0.0001, offset=-0.1 if dn_offset else 0.0)
        spec = _cog_asset(
            sub / f"{prefix}_{band}_{res}m.tif",
            data,
            affine.Affine(res, 0, tile.ulx, 0, -res, tile.uly),
            f"EPSG:{tile.epsg}",
            raster,
            gsd=float(res),
        )
        if band != "SCL":
            spec["eo:bands"] = [{"name": band}]
        assets[band if layout == "planetary_computer" else EARTH_SEARCH_NAMES[band]] = spec
    return assets


# --------------------------------------------------------------------------- Sentinel-1
def s1_truth(when: pd.Timestamp) -> tuple[float, float]:
    """(VV, VH) linear gamma0 of the fixture's annulus on a date."""
    phase = np.sin(2 * np.pi * (pd.Timestamp(when).day_of_year - 100) / 365.0)
    return 0.08 + 0.02 * phase, 0.018 + 0.008 * phase


def write_s1_catalog(
    folder: str | os.PathLike,
    sites: Mapping[str, tuple[float, float]],
    dates: Sequence[str | pd.Timestamp],
    *,
    half_size_m: float = 1100.0,
    kind: str = "items",
    seed: int = 0,
) -> Path:
    """Write Sentinel-1 RTC items (``vv``, ``vh`` gamma0, float32, nodata -32768).

    Inside 50 m of the tower the rasters hold a bright target (gamma0 = 5), which the
    annulus mean must exclude; the western 300 m are nodata (swath edge); the valid
    annulus pixels average exactly to :func:`s1_truth` (speckled, float32).
    """
    folder = _out_folder(folder)
    affine = lazy_import("affine")
    rng = np.random.default_rng(seed)
    items = []
    for site, (lat, lon) in sites.items():
        epsg = utm_epsg(lat, lon)
        x0, y0 = tower_xy(lat, lon, f"EPSG:{epsg}")
        ulx = np.floor((x0 - half_size_m) / 10.0) * 10.0
        uly = np.ceil((y0 + half_size_m) / 10.0) * 10.0
        n = int(np.ceil(2 * half_size_m / 10.0))
        xs = ulx + 5 + 10 * np.arange(n)
        ys = uly - 5 - 10 * np.arange(n)
        dist = np.hypot(xs[None, :] - x0, ys[:, None] - y0)
        transform = affine.Affine(10, 0, ulx, 0, -10, uly)
        footprint = _footprint_lonlat(transform, (n, n), f"EPSG:{epsg}")
        for k, day in enumerate(dates):
            when = pd.Timestamp(day).normalize() + pd.Timedelta(hours=17.75 - lon / 15.0)
            stamp = when.strftime("%Y%m%dT%H%M%S")
            item_id = f"S1A_IW_GRDH_1SDV_{stamp}_{stamp}_0{k:05d}_rtc_{site}"
            sub = _item_folder(folder, "s1", item_id)
            assets = _s1_assets(sub, rng, s1_truth(when), dist, transform, f"EPSG:{epsg}")
            props = {
                "platform": "SENTINEL-1A",
                "constellation": "Sentinel-1",
                "sar:polarizations": ["VV", "VH"],
                "sar:instrument_mode": "IW",
                "sar:product_type": "GRD",
                "sat:orbit_state": "ascending" if k % 2 == 0 else "descending",
                "proj:epsg": epsg,
            }
            items.append(_item(item_id, when, footprint, props, assets, "sentinel-1-rtc"))
    return _save(items, folder, "sentinel-1-rtc", kind)


def _s1_assets(
    sub: Path,
    rng: np.random.Generator,
    truth: tuple[float, float],
    dist: np.ndarray,
    transform,
    crs: str,
) -> dict[str, dict]:
    """VV and VH gamma0 COGs: speckle around ``truth``, a bright mast, a nodata stripe."""
    n = dist.shape[0]
    stripe = np.zeros((n, n), dtype=bool)
    stripe[:, :30] = True  # swath edge: no data in the western 300 m
    ring = (dist >= 50) & (dist <= 1000) & ~stripe
    assets = {}
    for pol, value in zip(("vv", "vh"), truth, strict=True):
        speckle = rng.gamma(20.0, 1.0 / 20.0, (n, n))
        data = (value * speckle / speckle[ring].mean()).astype("float32")
        data[dist < 50] = 5.0
        data[stripe] = -32768.0
        receive = "vertical" if pol == "vv" else "horizontal"
        assets[pol] = _cog_asset(
            sub / f"{pol}.tif",
            data,
            transform,
            crs,
            {"nodata": -32768, "data_type": "float32", "spatial_resolution": 10},
            title=f"{pol.upper()}: vertical transmit, {receive} receive",
        )
    return assets


# --------------------------------------------------------------------------- MODIS
def lst_truth(when: pd.Timestamp, platform: str, part: str) -> float:
    """LST (K) of the fixture on a date for ``platform`` (terra/aqua) and day/night."""
    phase = np.sin(2 * np.pi * (pd.Timestamp(when).day_of_year - 110) / 365.0)
    base = 285.0 + 12.0 * phase
    return base + {"day": 6.0, "night": -5.0}[part] + (1.5 if platform == "aqua" else 0.0)


def write_modis_catalog(
    folder: str | os.PathLike,
    sites: Mapping[str, tuple[float, float]],
    dates: Sequence[str | pd.Timestamp],
    *,
    platforms: Sequence[str] = ("terra", "aqua"),
    kind: str = "items",
    seed: int = 0,
) -> Path:
    """Write MOD11A1/MYD11A1 items (sinusoidal 1 km COGs, 9 x 9 pixels on the MODIS grid).

    The 3 x 3 window around the tower pixel holds :func:`lst_truth` everywhere except one
    pixel per window flagged cloudy (QC mandatory bits 10, LST 0) and one pixel of
    "other quality" with LST error > 3 K holding a wrong value; outside the window values
    are 20 K off, so a wrong window shows.
    """
    folder = _out_folder(folder)
    affine = lazy_import("affine")
    rng = np.random.default_rng(seed)
    items = []
    for site, (lat, lon) in sites.items():
        xs, ys = tower_xy(lat, lon, MODIS_SINUSOIDAL)
        col = int(np.floor((xs - MODIS_ORIGIN[0]) / MODIS_PIXEL))
        row = int(np.floor((MODIS_ORIGIN[1] - ys) / MODIS_PIXEL))
        h, v = col // 1200, row // 1200
        ulx = MODIS_ORIGIN[0] + (col - 4) * MODIS_PIXEL
        uly = MODIS_ORIGIN[1] - (row - 4) * MODIS_PIXEL
        transform = affine.Affine(MODIS_PIXEL, 0, ulx, 0, -MODIS_PIXEL, uly)
        footprint = _footprint_lonlat(transform, (9, 9), MODIS_SINUSOIDAL)
        for day in dates:
            when = pd.Timestamp(day).normalize()
            for platform in platforms:
                prefix = "MOD11A1" if platform == "terra" else "MYD11A1"
                item_id = f"{prefix}.A{when.strftime('%Y%j')}.h{h:02d}v{v:02d}.061.{site}"
                sub = _item_folder(folder, "modis", item_id)
                assets = {}
                for part in ("day", "night"):
                    dn, qc = _lst_window(rng, lst_truth(when, platform, part))
                    key = f"LST_{part.capitalize()}_1km"
                    qkey = f"QC_{part.capitalize()}"
                    for akey, data, raster in (
                        (key, dn, {"nodata": 0, "scale": 0.02, "data_type": "uint16"}),
                        (qkey, qc, {"data_type": "uint8"}),
                    ):
                        assets[akey] = _cog_asset(
                            sub / f"{akey}.tif", data, transform, MODIS_SINUSOIDAL, raster
                        )
                end = when + pd.Timedelta(hours=23, minutes=59, seconds=59)
                props = {
                    "platform": platform,
                    "instruments": ["modis"],
                    "start_datetime": when.isoformat() + "Z",
                    "end_datetime": end.isoformat() + "Z",
                    "proj:wkt2": MODIS_SINUSOIDAL,
                    "modis:horizontal-tile": h,
                    "modis:vertical-tile": v,
                }
                items.append(_item(item_id, when, footprint, props, assets, "modis-11A1-061"))
    return _save(items, folder, "modis-11A1-061", kind)


def _lst_window(rng: np.random.Generator, truth: float) -> tuple[np.ndarray, np.ndarray]:
    """LST digital numbers and QC of 9 x 9 pixels: ``truth`` in the 3 x 3 window, traps."""
    lst = np.full((9, 9), truth + 20.0)
    lst[3:6, 3:6] = truth + rng.normal(0, 0.05, (3, 3))
    qc = np.zeros((9, 9), dtype="uint8")
    qc[3, 3] = 0b10  # not produced, cloud
    lst[3, 3] = 0.0
    qc[5, 5] = 0b11000001  # other quality, LST error > 3 K
    lst[5, 5] = truth + 15.0
    dn = np.where(lst > 0, np.round(lst / 0.02), 0).astype("uint16")
    return dn, qc
