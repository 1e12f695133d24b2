"""Sentinel-2 L2A item metadata: band names, DN scaling, sun and view angles at the tower.

The providers name the bands differently (Planetary Computer ``B04``, Earth Search
``red``) and scale the digital numbers differently (the -0.1 BOA offset of processing
baseline >= 04.00, or ``raster:bands`` scale/offset). The sun and view angles at the tower
come from the granule metadata (MTD_TL.xml, per band), the item properties, or the sun
position from pvlib with a nadir view. :func:`s2_step_metadata` gathers all of it per time
step, with the c-factors of the NBAR normalisation.

Examples
--------
>>> S2_BANDS[:4]
('B01', 'B02', 'B03', 'B04')
>>> EARTH_SEARCH_NAMES["B04"]
'red'
>>> ang = s2_angles(item, 51.08, 10.45)                 # doctest: +SKIP
>>> ang["source"]                                       # doctest: +SKIP
'granule metadata'
"""

from __future__ import annotations

import math
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._lazy import lazy_import
from ..errors import FileFormatError, RemoteSensingError
from .brdf import ROY2017, c_factor
from .geometry import tower_xy
from .items import item_times

__all__ = [
    "ANGLE_SOURCES",
    "EARTH_SEARCH_NAMES",
    "S2_BANDS",
    "S2_RESOLUTION",
    "angles_from_granule_metadata",
    "s2_angles",
    "s2_asset_keys",
    "s2_scaling",
    "s2_step_metadata",
]

#: Sentinel-2 L2A reflectance bands (B10 is not in L2A products)
S2_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
#: native pixel size of each band, metres
S2_RESOLUTION = {
    "B01": 60,
    "B02": 10,
    "B03": 10,
    "B04": 10,
    "B05": 20,
    "B06": 20,
    "B07": 20,
    "B08": 10,
    "B8A": 20,
    "B09": 60,
    "B11": 20,
    "B12": 20,
    "SCL": 20,
}
#: band id -> asset key on Earth Search (element84) v1
EARTH_SEARCH_NAMES = {
    "B01": "coastal",
    "B02": "blue",
    "B03": "green",
    "B04": "red",
    "B05": "rededge1",
    "B06": "rededge2",
    "B07": "rededge3",
    "B08": "nir",
    "B8A": "nir08",
    "B09": "nir09",
    "B11": "swir16",
    "B12": "swir22",
    "SCL": "scl",
}
#: granule metadata bandId -> band (L2A metadata still lists B10 as bandId 10)
_BAND_IDS = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B10",
    "B11",
    "B12",
)
_METADATA_ASSETS = ("granule-metadata", "granule_metadata", "metadata")
#: where the sun/view angles of a date came from (``angle_source`` codes)
ANGLE_SOURCES = (
    "granule metadata",
    "item properties",
    "item properties, nadir view assumed",
    "pvlib sun position",
    "pvlib sun position, nadir view assumed",
)


# --------------------------------------------------------------------------- items
def s2_asset_keys(items: Sequence) -> dict[str, str]:
    """Band id -> asset key, for Planetary Computer (``B04``) or Earth Search (``red``) items.

    Raises
    ------
    RemoteSensingError
        If the items carry neither naming (not a Sentinel-2 L2A collection).
    """
    assets = items[0].assets
    if "B04" in assets and "SCL" in assets:
        return {b: b for b in (*S2_BANDS, "SCL")}
    if "red" in assets and "scl" in assets:
        return dict(EARTH_SEARCH_NAMES)
    raise RemoteSensingError(
        f"items of {items[0].collection_id!r} (e.g. {items[0].id}) have neither Planetary "
        f"Computer (B04, SCL) nor Earth Search (red, scl) Sentinel-2 L2A assets; found "
        f"{sorted(assets)}. Use a Sentinel-2 L2A collection"
    )


def s2_scaling(item, asset_key: str) -> tuple[float, float]:
    """(scale, offset) turning digital numbers into surface reflectance for one item.

    Uses the asset's ``raster:bands`` scale/offset when the provider gives them (Earth
    Search); otherwise 1e-4 and, from processing baseline 04.00 on (25 January 2022),
    the BOA offset -0.1 (Planetary Computer serves the DNs as produced by ESA).
    """
    asset = item.assets[asset_key]
    bands = asset.extra_fields.get("raster:bands") or []
    if bands and ("scale" in bands[0] or "offset" in bands[0]):
        return float(bands[0].get("scale", 1.0)), float(bands[0].get("offset", 0.0))
    props = item.properties
    baseline = props.get("s2:processing_baseline") or props.get("processing:version")
    if baseline is None:
        when = item_times(item)[0]
        offset = -0.1 if when >= pd.Timestamp("2022-01-25") else 0.0
    else:
        offset = -0.1 if float(str(baseline).lstrip("N")) >= 4.0 else 0.0
    return 1e-4, offset


# --------------------------------------------------------------------------- angles
def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(node, name: str):
    for el in node.iter():
        if _local(el.tag) == name:
            return el
    return None


def _grid_values(node) -> tuple[np.ndarray, float, float]:
    values = _find(node, "Values_List")
    col = float(_find(node, "COL_STEP").text)
    row = float(_find(node, "ROW_STEP").text)
    rows = [[float(v) for v in el.text.split()] for el in values if _local(el.tag) == "VALUES"]
    return np.array(rows, dtype="float64"), col, row


def _interp_grid(grid: np.ndarray, fr: float, fc: float, circular: bool) -> float:
    """Bilinear value at fractional (row, col), ignoring NaN nodes; degrees."""
    r0 = int(np.clip(np.floor(fr), 0, grid.shape[0] - 1))
    c0 = int(np.clip(np.floor(fc), 0, grid.shape[1] - 1))
    r1, c1 = min(r0 + 1, grid.shape[0] - 1), min(c0 + 1, grid.shape[1] - 1)
    wr, wc = float(np.clip(fr - r0, 0, 1)), float(np.clip(fc - c0, 0, 1))
    nodes = np.array([grid[r0, c0], grid[r0, c1], grid[r1, c0], grid[r1, c1]])
    weights = np.array([(1 - wr) * (1 - wc), (1 - wr) * wc, wr * (1 - wc), wr * wc])
    ok = np.isfinite(nodes)
    if not ok.any():
        near = np.isfinite(grid)
        if not near.any():
            return float("nan")
        rr, cc = np.nonzero(near)
        k = np.argmin((rr - fr) ** 2 + (cc - fc) ** 2)
        return float(grid[rr[k], cc[k]])
    w = weights * ok
    w = w / w.sum() if w.sum() > 0 else ok / ok.sum()
    if circular:
        rad = np.radians(nodes[ok])
        ang = np.degrees(np.arctan2((w[ok] * np.sin(rad)).sum(), (w[ok] * np.cos(rad)).sum()))
        return float(ang % 360.0)
    return float((w[ok] * nodes[ok]).sum())


def _circular_nanmean(stack: np.ndarray) -> np.ndarray:
    rad = np.radians(stack)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s, c = np.nanmean(np.sin(rad), axis=0), np.nanmean(np.cos(rad), axis=0)
    return np.degrees(np.arctan2(s, c)) % 360.0


def _read_text(href: str, retries: int = 3) -> str:
    if href.startswith(("http://", "https://")):
        requests = lazy_import("requests")
        last: Exception | None = None
        for _ in range(max(retries, 0) + 1):
            try:
                resp = requests.get(href, timeout=60)
                resp.raise_for_status()
                return resp.text
            except requests.RequestException as err:
                last = err
        raise RemoteSensingError(f"{href}: granule metadata not readable ({last})") from last
    return Path(href.removeprefix("file://")).read_text()


def angles_from_granule_metadata(
    text: str, latitude: float, longitude: float, *, source: str | None = None
) -> dict[str, Any]:
    """Sun and per-band view angles at the tower from a granule metadata file (MTD_TL.xml).

    The 5 km angle grids (``Sun_Angles_Grid``, ``Viewing_Incidence_Angles_Grids`` per band
    and detector) are averaged over detectors (circularly for azimuths) and interpolated
    bilinearly at the tower; grid nodes are at the tile's upper-left corner plus multiples
    of the step.

    Returns
    -------
    dict
        ``sza``, ``saa`` (degrees), ``vza``, ``vaa`` (dicts band -> degrees), ``source``.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise FileFormatError(source, f"not valid XML ({err})", "Sentinel-2 MTD_TL.xml") from err
    geocoding = _find(root, "Tile_Geocoding")
    angles = _find(root, "Tile_Angles")
    if geocoding is None or angles is None:
        raise FileFormatError(
            source, "no Tile_Geocoding/Tile_Angles", "Sentinel-2 granule metadata (MTD_TL.xml)"
        )
    epsg = _find(geocoding, "HORIZONTAL_CS_CODE").text.strip()
    geo = [g for g in geocoding if _local(g.tag) == "Geoposition"]
    ulx, uly = float(_find(geo[0], "ULX").text), float(_find(geo[0], "ULY").text)
    x, y = tower_xy(latitude, longitude, epsg)
    sun = _find(angles, "Sun_Angles_Grid")
    zen, col, row = _grid_values(_find(sun, "Zenith"))
    azi, _, _ = _grid_values(_find(sun, "Azimuth"))
    fr, fc = (uly - y) / row, (x - ulx) / col
    out: dict[str, Any] = {
        "sza": _interp_grid(zen, fr, fc, False),
        "saa": _interp_grid(azi, fr, fc, True),
        "vza": {},
        "vaa": {},
        "source": "granule metadata",
    }
    per_band: dict[str, dict[str, list[np.ndarray]]] = {}
    for grid in angles:
        if _local(grid.tag) != "Viewing_Incidence_Angles_Grids":
            continue
        band = _BAND_IDS[int(grid.attrib["bandId"])]
        entry = per_band.setdefault(band, {"z": [], "a": []})
        entry["z"].append(_grid_values(_find(grid, "Zenith"))[0])
        entry["a"].append(_grid_values(_find(grid, "Azimuth"))[0])
    for band, entry in per_band.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            z = np.nanmean(np.stack(entry["z"]), axis=0)
        a = _circular_nanmean(np.stack(entry["a"]))
        a[~np.isfinite(z)] = np.nan
        out["vza"][band] = _interp_grid(z, fr, fc, False)
        out["vaa"][band] = _interp_grid(a, fr, fc, True)
    if not math.isfinite(out["sza"]):
        raise FileFormatError(source, "sun zenith grid is empty at the tower")
    return out


def _sun_from_pvlib(when: pd.Timestamp, latitude: float, longitude: float) -> tuple[float, float]:
    pvlib = lazy_import("pvlib")
    pos = pvlib.solarposition.get_position(
        pd.DatetimeIndex([when]).tz_localize("UTC"), latitude, longitude, method="nrel_numpy"
    )
    return float(pos["apparent_zenith"].iloc[0]), float(pos["azimuth"].iloc[0])


def s2_angles(item, latitude: float, longitude: float, *, retries: int = 3) -> dict[str, Any]:
    """Sun and view angles at the tower for one Sentinel-2 item.

    Sources, in order: the granule metadata asset (per-band view angles); item properties
    (``s2:mean_solar_zenith``/``azimuth``, ``view:sun_elevation``/``azimuth``,
    ``view:incidence_angle``/``view:azimuth``); the sun position from pvlib at the
    acquisition time with a nadir view. The ``source`` entry says which was used.

    Returns
    -------
    dict
        ``sza``, ``saa`` (degrees), ``vza``/``vaa`` (band -> degrees), ``source``.
    """
    for key in _METADATA_ASSETS:
        asset = item.assets.get(key)
        if asset is None:
            continue
        if (asset.media_type or "").endswith("xml") or asset.href.split("?")[0].endswith(".xml"):
            try:
                text = _read_text(asset.href, retries)
            except OSError as err:
                raise RemoteSensingError(
                    f"item {item.id}: granule metadata {asset.href} not readable ({err})"
                ) from err
            return angles_from_granule_metadata(text, latitude, longitude, source=asset.href)
    props = item.properties
    sza = props.get("s2:mean_solar_zenith")
    saa = props.get("s2:mean_solar_azimuth")
    if sza is None and props.get("view:sun_elevation") is not None:
        sza = 90.0 - float(props["view:sun_elevation"])
        saa = props.get("view:sun_azimuth")
    source = "item properties"
    if sza is None or saa is None:
        sza, saa = _sun_from_pvlib(item_times(item)[0], latitude, longitude)
        source = "pvlib sun position"
    vza = props.get("view:incidence_angle")
    vaa = props.get("view:azimuth")
    if vza is None or vaa is None:
        vza, vaa = 0.0, 0.0
        source += ", nadir view assumed"
    bands = list(ROY2017)
    return {
        "sza": float(sza),
        "saa": float(saa),
        "vza": dict.fromkeys(bands, float(vza)),
        "vaa": dict.fromkeys(bands, float(vaa)),
        "source": source,
    }


# --------------------------------------------------------------------------- per time step
def s2_step_metadata(
    groups: Sequence,
    latitude: float,
    longitude: float,
    keys: Mapping[str, str],
    bands: Sequence[str],
    *,
    nbar: bool,
    retries: int,
) -> dict[str, np.ndarray]:
    """Scale, offset, c-factors and angles of each time step (item group) at the tower.

    The values of a step come from its first item whose footprint covers the tower (else
    its first item).

    Parameters
    ----------
    groups
        :class:`fluxgrid.rs.items.ItemGroup` s, one per time step.
    latitude, longitude
        Tower position, degrees.
    keys
        Band id -> asset key (:func:`s2_asset_keys`).
    bands
        Band ids in the order of the ``cfac`` columns.
    nbar
        Compute c-factors (else they stay 1).
    retries
        Retries for remote granule metadata.

    Returns
    -------
    dict
        Arrays over the steps: ``scale``, ``offset`` (DN -> reflectance), ``cfac``
        ``(step, band)``, ``sza``, ``saa``, ``vza``, ``vaa`` (degrees; view angles of B08),
        ``angle_source`` (an :data:`ANGLE_SOURCES` entry) and ``item_ids``.

    Examples
    --------
    >>> meta = s2_step_metadata(groups, 51.08, 10.45, keys, S2_BANDS,
    ...                         nbar=True, retries=3)              # doctest: +SKIP
    """
    shapely_geometry = lazy_import("shapely.geometry")
    point = shapely_geometry.Point(float(longitude), float(latitude))
    nt, nb = len(groups), len(bands)
    meta = {
        "scale": np.ones(nt),
        "offset": np.zeros(nt),
        "cfac": np.ones((nt, nb)),
        "sza": np.full(nt, np.nan),
        "saa": np.full(nt, np.nan),
        "vza": np.full(nt, np.nan),
        "vaa": np.full(nt, np.nan),
        "angle_source": np.full(nt, "", dtype=object),
        "item_ids": np.full(nt, "", dtype=object),
    }
    for t, grp in enumerate(groups):
        group = list(grp.items)
        covering = [i for i in group if shapely_geometry.shape(i.geometry).covers(point)] or group
        item = covering[0]
        meta["item_ids"][t] = ",".join(i.id for i in group)
        meta["scale"][t], meta["offset"][t] = s2_scaling(item, keys[bands[1]])
        ang = s2_angles(item, latitude, longitude, retries=retries)
        meta["sza"][t], meta["saa"][t] = ang["sza"], ang["saa"]
        meta["angle_source"][t] = ang["source"]
        ref = "B08" if "B08" in ang["vza"] else next(iter(ang["vza"]), None)
        if ref is not None:
            meta["vza"][t], meta["vaa"][t] = ang["vza"][ref], ang["vaa"][ref]
        if nbar:
            meta["cfac"][t] = _c_factors(ang, bands)
    return meta


def _c_factors(ang: Mapping[str, Any], bands: Sequence[str]) -> np.ndarray:
    """c-factor of each band (1 where Roy et al. 2017 give no coefficients or no angle)."""
    out = np.ones(len(bands))
    for b, band in enumerate(bands):
        if band in ROY2017 and band in ang["vza"]:
            raa = ang["vaa"][band] - ang["saa"]
            out[b] = float(c_factor(band, ang["sza"], ang["vza"][band], raa))
    return out
