"""Sentinel-2 L2A at flux towers: masking, NBAR, footprint means, spectral indices, PCA.

Per site, :func:`s2_footprint` turns STAC items into a per-acquisition table, lazily and in
bounded Dask blocks (one task per block of dates after loading):

1. load all reflectance bands and SCL on a 10 m grid in the tower's UTM zone
   (:func:`fluxgrid.rs.stac.load_site_cube`);
2. digital numbers -> reflectance with each item's scale and offset (the -0.1 offset of
   processing baseline >= 04.00, or the provider's ``raster:bands`` values);
3. mask clouds, shadows and snow (default :func:`scl_mask`; any function
   ``mask(ds) -> bool DataArray (time, y, x)`` can replace it, e.g. an ML cloud mask);
   optionally keep only pixels of chosen land-cover classes;
4. NBAR by the c-factor (:mod:`fluxgrid.rs.brdf`) with sun and view angles at the tower
   from the granule metadata (or item properties);
5. mean over the footprint buffer (default 1 km) and the clear-pixel share; dates below
   the minimum share (default 1 %) are recorded with their status, not dropped.

:func:`s2_indices` adds every Sentinel-2 index of the Awesome Spectral Indices catalogue and
:func:`fluxgrid.rs.pca.fit_pca` reduces them; :func:`add_s2` runs it all for the sites of a
cube and joins ``s2_pc1..``, ``s2_ndvi``, ... onto its daily axis.

Examples
--------
>>> from fluxgrid.rs.sentinel2 import S2_BANDS, SCL_CLASSES
>>> S2_BANDS[:4]
('B01', 'B02', 'B03', 'B04')
>>> SCL_CLASSES[9]
'cloud_high_probability'
>>> fp = s2_footprint(items, 51.08, 10.45)                       # doctest: +SKIP
>>> cube = add_s2(daily, "https://earth-search.aws.element84.com/v1")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .._lazy import lazy_import
from ..errors import FileFormatError, RemoteSensingError
from .brdf import ROY2017, c_factor
from .config import S2Config, StacConfig
from .names import STATUS, rs_attrs
from .sites import for_each_site, site_table
from .stac import (
    SolarDayKey,
    _item_times,
    group_items,
    odc_geo,
    reduce_groups,
    search_items,
    site_geobox,
    tower_distance,
    tower_xy,
)

__all__ = [
    "ANGLE_SOURCES",
    "EARTH_SEARCH_NAMES",
    "S2_BANDS",
    "S2_RESOLUTION",
    "SCL_CLASSES",
    "add_s2",
    "landcover_mask",
    "s2_angles",
    "s2_asset_keys",
    "s2_footprint",
    "s2_indices",
    "s2_scaling",
    "s2_sites",
    "scl_mask",
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
_N_ANGLE = 5  # sza, saa, vza, vaa, source code
_NODATA = 0

MaskFunction = Callable[[xr.Dataset], xr.DataArray]


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
        when = _item_times(item)[0]
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
        sza, saa = _sun_from_pvlib(_item_times(item)[0], latitude, longitude)
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


# --------------------------------------------------------------------------- footprint
def _footprint_block(
    dn: np.ndarray,
    clear: np.ndarray,
    weight: np.ndarray,
    scale: np.ndarray,
    offset: np.ndarray,
    cfac: np.ndarray,
    *,
    index_names: tuple[str, ...],
    band_ids: tuple[str, ...],
    constants: Mapping[str, float],
) -> np.ndarray:
    """Footprint statistics of a block of dates (runs inside one Dask task).

    dn (t, band, y, x) digital numbers; clear (t, y, x); weight (y, x); scale, offset (t,);
    cfac (t, band). Returns (t, n_band + 3 + n_index): band means, n_footprint, n_data,
    n_valid, pixel-mean indices.
    """
    nt, nb = dn.shape[0], dn.shape[1]
    fp = weight.astype(bool)
    has_data = (dn != _NODATA).all(axis=1) & fp
    valid = has_data & clear.astype(bool)
    n_valid = valid.sum(axis=(1, 2))
    out = np.full((nt, nb + 3 + len(index_names)), np.nan, dtype="float64")
    out[:, nb] = fp.sum()
    out[:, nb + 1] = has_data.sum(axis=(1, 2))
    out[:, nb + 2] = n_valid
    for t in np.flatnonzero(n_valid):
        pix = dn[t][:, valid[t]].astype("float64")
        refl = (pix * scale[t] + offset[t]) * cfac[t][:, None]
        out[t, :nb] = refl.mean(axis=1)
        if index_names:
            from .indices import compute_indices

            idx = compute_indices(
                dict(zip(band_ids, refl, strict=True)), list(index_names), constants=constants
            ).values
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[t, nb + 3 :] = np.nanmean(idx, axis=0)
    return out


def _s2_reduce(
    ds: xr.Dataset,
    *,
    groups: Sequence,
    weight: np.ndarray,
    mask: MaskFunction | None,
    invalid_scl: tuple[int, ...],
    band_keys: Mapping[str, str],
    band_ids: tuple[str, ...],
    index_names: tuple[str, ...],
    constants: Mapping[str, float],
    latitude: float,
    longitude: float,
    nbar: bool,
    metadata_retries: int,
) -> np.ndarray:
    """Reduce an eagerly loaded block of dates (one Dask task) to footprint statistics.

    The items' metadata (scaling, sun/view angles from the granule metadata) is read here,
    in the task, so remote metadata is fetched in parallel and not while the graph is built.
    Returns ``(t, n_band + 3 + 5 + n_index)``: band means, n_footprint, n_data, n_valid,
    sza, saa, vza, vaa, angle-source code, indices.
    """
    meta = _group_metadata(
        groups, latitude, longitude, band_keys, band_ids, nbar=nbar, retries=metadata_retries
    )
    ds = ds.rename({v: k for k, v in band_keys.items() if v in ds and v != k})
    clear = mask(ds) if mask is not None else scl_mask(ds, invalid_scl)
    if not isinstance(clear, xr.DataArray) or set(clear.dims) != {"time", "y", "x"}:
        raise RemoteSensingError(
            "the mask function must return a boolean DataArray with dims (time, y, x), got "
            f"{getattr(clear, 'dims', type(clear).__name__)}"
        )
    dn = np.stack([ds[b].values for b in band_ids], axis=1)
    stats = _footprint_block(
        dn,
        np.asarray(clear.transpose("time", "y", "x").values),
        weight,
        meta["scale"],
        meta["offset"],
        meta["cfac"],
        index_names=index_names,
        band_ids=band_ids,
        constants=constants,
    )
    nb = len(band_ids)
    angles = np.stack(
        [
            meta["sza"],
            meta["saa"],
            meta["vza"],
            meta["vaa"],
            [ANGLE_SOURCES.index(a) for a in meta["angle_source"]],
        ],
        axis=1,
    )
    return np.concatenate([stats[:, : nb + 3], angles, stats[:, nb + 3 :]], axis=1)


def _group_metadata(
    groups: Sequence,
    latitude: float,
    longitude: float,
    keys: Mapping[str, str],
    bands: Sequence[str],
    *,
    nbar: bool,
    retries: int,
) -> dict[str, np.ndarray]:
    """Per time step (item group): scale, offset, c-factors and angles from its items."""
    from shapely.geometry import Point, shape

    point = Point(float(longitude), float(latitude))
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
        covering = [i for i in group if shape(i.geometry).covers(point)] or group
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
            for b, band in enumerate(bands):
                if band in ROY2017 and band in ang["vza"]:
                    raa = ang["vaa"][band] - ang["saa"]
                    meta["cfac"][t, b] = float(c_factor(band, ang["sza"], ang["vza"][band], raa))
    return meta


def s2_footprint(
    items: Sequence,
    latitude: float,
    longitude: float,
    *,
    config: S2Config | None = None,
    mask: MaskFunction | None = None,
    landcover: str | os.PathLike | xr.DataArray | None = None,
    retries: int = 3,
    site: str | None = None,
) -> xr.Dataset:
    """Footprint-mean NBAR reflectance and clear share per acquisition (lazy).

    Parameters
    ----------
    items
        Sentinel-2 L2A items over the tower (Planetary Computer or Earth Search layout).
    latitude, longitude
        Tower position, degrees.
    config
        Processing options (:class:`fluxgrid.rs.config.S2Config`).
    mask
        ``mask(cube) -> bool DataArray (time, y, x)``, True = clear. Default:
        :func:`scl_mask` with ``config.invalid_scl``. The cube holds the raw bands
        ``B01..B12`` and ``SCL`` (digital numbers), so an ML cloud mask can use them.
    landcover
        Land-cover raster (overrides ``config.landcover``); only ``config.landcover_classes``
        pixels count towards the footprint.
    retries
        Retries for remote reads.
    site
        Site name for messages and attributes.

    Returns
    -------
    xarray.Dataset
        Dims ``time`` (acquisition time, UTC) and ``band``: ``reflectance (time, band)``
        (NBAR if ``config.nbar``), ``clear_share``, ``n_footprint``, ``n_valid``,
        ``status`` (see :data:`fluxgrid.rs.names.STATUS`), angles ``sza``, ``saa``,
        ``vza``, ``vaa`` and, with ``index_from="pixels"``, ``indices (time, index)``.
        Dask-backed: one task per block of ``config.chunk_dates`` dates after loading.
    """
    cfg = config or S2Config()
    items = list(items)
    keys = s2_asset_keys(items)
    bands = list(S2_BANDS)
    key = SolarDayKey(longitude)
    groups = group_items(items, key)
    times = np.array([g.time for g in groups], dtype="datetime64[ns]")
    item_ids = np.array([",".join(i.id for i in g.items) for g in groups])
    geobox = site_geobox(latitude, longitude, buffer_m=cfg.buffer_m, resolution=cfg.resolution)
    template = odc_geo("xr").xr_zeros(geobox, dtype="uint8")
    weight = tower_distance(template, latitude, longitude) <= cfg.buffer_m
    lc = landcover if landcover is not None else cfg.landcover
    if lc is not None:
        weight = weight & landcover_mask(lc, template, cfg.landcover_classes)
    index_names: tuple[str, ...] = ()
    if cfg.index_from == "pixels":
        from .indices import s2_index_names

        index_names = tuple(cfg.indices or s2_index_names())
    nb = len(bands)
    raw = reduce_groups(
        groups,
        bands=[keys[b] for b in (*bands, "SCL")],
        geobox=geobox,
        key=key,
        reduce=_s2_reduce,
        n_stats=nb + 3 + _N_ANGLE + len(index_names),
        chunk=cfg.chunk_dates,
        retries=retries,
        site=site,
        weight=weight.values,
        mask=mask,
        invalid_scl=tuple(cfg.invalid_scl),
        band_keys=dict(keys),
        band_ids=tuple(bands),
        index_names=index_names,
        constants=dict(cfg.constants),
        latitude=float(latitude),
        longitude=float(longitude),
        nbar=cfg.nbar,
        metadata_retries=retries,
    )
    # the statistics are tiny (dates x ~15): one chunk keeps the derived variables at one
    # task each, so the graph grows only by the load-and-reduce tasks
    stats = xr.DataArray(raw.rechunk(-1), dims=("time", "stat"), coords={"time": times})

    def tvar(v):
        return xr.DataArray(v, dims="time", coords={"time": times})

    n_fp = stats.isel(stat=nb)
    n_data = stats.isel(stat=nb + 1)
    n_valid = stats.isel(stat=nb + 2)
    share = (n_valid / n_fp.where(n_fp > 0)).astype("float32")
    status = xr.where(
        n_data == 0,
        STATUS["no_data"],
        xr.where(
            n_valid == 0,
            STATUS["all_masked"],
            xr.where(share < cfg.min_clear_share, STATUS["below_min_share"], STATUS["ok"]),
        ),
    ).astype("int8")
    ok = status == STATUS["ok"]
    refl = stats.isel(stat=slice(0, nb)).rename(stat="band").assign_coords(band=bands)
    out = xr.Dataset(
        {
            "reflectance": refl.where(ok).astype("float32"),
            "clear_share": share,
            "n_footprint": n_fp.astype("float32"),
            "n_valid": n_valid.astype("float32"),
            "status": status,
            "sza": stats.isel(stat=nb + 3, drop=True),
            "saa": stats.isel(stat=nb + 4, drop=True),
            "vza": stats.isel(stat=nb + 5, drop=True),
            "vaa": stats.isel(stat=nb + 6, drop=True),
            "angle_source": stats.isel(stat=nb + 7, drop=True).astype("int8"),
            "item_ids": tvar(item_ids),
        }
    )
    if index_names:
        idx = stats.isel(stat=slice(nb + 3 + _N_ANGLE, None)).rename(stat="index")
        out["indices"] = idx.assign_coords(index=list(index_names)).where(ok).astype("float32")
    out["reflectance"].attrs = {
        "long_name": "footprint-mean surface reflectance"
        + (" (NBAR, c-factor, Roy et al. 2017)" if cfg.nbar else ""),
        "units": "1",
        "nbar_bands": ",".join(b for b in bands if b in ROY2017) if cfg.nbar else "",
    }
    out["clear_share"].attrs = rs_attrs("s2_clear_share")
    out["status"].attrs = rs_attrs("s2_status")
    for name, what in (
        ("sza", "sun zenith"),
        ("saa", "sun azimuth"),
        ("vza", "view zenith (B08)"),
        ("vaa", "view azimuth (B08)"),
    ):
        out[name].attrs = {"units": "degree", "long_name": f"{what} angle at the tower"}
    out["angle_source"].attrs = {
        "long_name": "source of the sun/view angles",
        "flag_values": list(range(len(ANGLE_SOURCES))),
        "flag_meanings": " ".join(a.replace(", ", "_").replace(" ", "_") for a in ANGLE_SOURCES),
    }
    out.attrs.update(
        site=site or "",
        latitude=float(latitude),
        longitude=float(longitude),
        buffer_m=float(cfg.buffer_m),
        crs=f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt(),
        resolution_m=float(cfg.resolution),
        min_clear_share=float(cfg.min_clear_share),
        index_from=cfg.index_from,
    )
    return out


def s2_indices(footprint: xr.Dataset, config: S2Config | None = None) -> xr.DataArray:
    """Spectral indices per acquisition.

    Indices of the footprint-mean reflectance, or the footprint mean of per-pixel indices
    when :func:`s2_footprint` computed them (``index_from="pixels"``).

    Returns
    -------
    xarray.DataArray
        Dims ``(time, index)``, NaN where the date's status is not ``ok``.
    """
    from .indices import compute_indices

    cfg = config or S2Config()
    if "indices" in footprint:
        return footprint["indices"]
    return compute_indices(
        footprint["reflectance"], cfg.indices, constants=dict(cfg.constants), band_dim="band"
    )


# --------------------------------------------------------------------------- many sites
def s2_site(
    source: str | os.PathLike,
    site: str,
    latitude: float,
    longitude: float,
    *,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    config: S2Config | None = None,
    stac: StacConfig | None = None,
    mask: MaskFunction | None = None,
    scheduler: str | None = "threads",
) -> xr.Dataset:
    """Search, load and reduce one site (computed); see :func:`s2_footprint`.

    Returns
    -------
    xarray.Dataset
        The footprint table with ``indices (time, index)`` added, in memory.
    """
    cfg = config or S2Config()
    stac_cfg = stac or StacConfig(source=str(source))
    items = search_items(
        source,
        latitude,
        longitude,
        collections=cfg.collection,
        start=start,
        end=end,
        buffer_m=cfg.buffer_m,
        max_cloud_cover=cfg.max_cloud_cover,
        sign=stac_cfg.sign,
        retries=stac_cfg.retries,
        timeout_s=stac_cfg.timeout_s,
        max_items=stac_cfg.max_items,
        site=site,
    )
    fp = s2_footprint(
        items, latitude, longitude, config=cfg, mask=mask, retries=stac_cfg.retries, site=site
    )
    fp = fp.compute(scheduler=scheduler) if scheduler else fp.compute()
    fp["indices"] = s2_indices(fp, cfg)
    return fp


def s2_sites(
    cube: xr.Dataset,
    source: str | os.PathLike,
    *,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    config: S2Config | None = None,
    stac: StacConfig | None = None,
    mask: MaskFunction | None = None,
    on_error: str = "record",
) -> tuple[dict[str, xr.Dataset], dict[str, str]]:
    """:func:`s2_site` for every site of ``cube``; failures recorded per site.

    Returns
    -------
    (dict, dict)
        Site -> footprint table; site -> reason for sites without a result.
    """
    return for_each_site(
        s2_site,
        cube,
        source,
        desc="Sentinel-2 sites",
        start=start,
        end=end,
        on_error=on_error,
        config=config,
        stac=stac,
        mask=mask,
    )


def add_s2(
    cube: xr.Dataset,
    source: str | os.PathLike | None = None,
    *,
    footprints: Mapping[str, xr.Dataset] | None = None,
    failed: Mapping[str, str] | None = None,
    start: str | pd.Timestamp | None = None,
    end: str | pd.Timestamp | None = None,
    config: S2Config | None = None,
    stac: StacConfig | None = None,
    mask: MaskFunction | None = None,
    interpolate: bool = False,
    max_gap_days: int = 16,
    on_error: str = "record",
) -> xr.Dataset:
    """Sentinel-2 predictors joined onto the site cube's daily axis.

    Parameters
    ----------
    cube
        Daily site cube (dims ``(site, time)``, coords ``latitude``, ``longitude``,
        ``utc_offset``).
    source
        STAC API URL or offline catalog; not needed when ``footprints`` are given.
    footprints, failed
        Per-site results of :func:`s2_site` computed elsewhere (e.g. on a Dask cluster by
        the ``rs_cube`` recipe) and the reasons of sites without one.
    start, end
        Search period (default: the cube's time range).
    config, stac
        Processing and source options.
    mask
        Custom clear-pixel mask function (see :func:`s2_footprint`).
    interpolate, max_gap_days
        Fill the daily axis by linear interpolation between acquisitions no further apart
        than ``max_gap_days`` (status ``interpolated``); otherwise only acquisition days
        carry values.
    on_error
        ``"record"`` (default): a site that fails (no items, outside the tiles, missing
        bands) gets missing values and its reason in ``s2_reason``; ``"raise"``: stop.

    Returns
    -------
    xarray.Dataset
        ``cube`` plus ``s2_pc1..s2_pcK`` (components of the standardised indices explaining
        >= ``config.pca_variance``), ``s2_<index>`` for ``config.keep_indices``,
        ``s2_b02..`` NBAR reflectances, ``s2_clear_share``, ``s2_status`` (per site and
        day), coordinate ``s2_reason`` (per site), and the PCA itself as
        ``s2_pca_loadings (s2_pc, s2_index)``, ``s2_pca_explained (s2_pc)``,
        ``s2_pca_mean``/``s2_pca_scale (s2_index)``.
    """
    from .align import daily_from_acquisitions, join_rs
    from .pca import apply_pca, fit_pca

    cfg = config or S2Config()
    if footprints is None:
        if source is None:
            raise RemoteSensingError("add_s2: give a STAC source or precomputed footprints")
        footprints, failed = s2_sites(
            cube, source, start=start, end=end, config=cfg, stac=stac, mask=mask, on_error=on_error
        )
    failed = dict(failed or {})
    sites = site_table(cube)
    footprints = {k: v for k, v in footprints.items() if k in sites.index}
    # PCA on the valid acquisitions of all sites (not on the daily axis: the days without
    # an acquisition would only cost memory); scores are then aligned like any variable
    samples = [
        fp["indices"].where(fp["status"] == STATUS["ok"]).drop_vars("time").rename(time="sample")
        for fp in footprints.values()
    ]
    pca = None
    if samples:
        stacked = xr.concat(samples, dim="sample", join="inner")
        if int(np.isfinite(stacked).any("index").sum()) >= 2:
            pca = fit_pca(stacked, variance=cfg.pca_variance)
    if pca is None:
        for name in sites.index:
            failed.setdefault(name, "fewer than 2 valid Sentinel-2 dates over all sites: no PCA")
    per_site = {}
    for name, fp in footprints.items():
        indices = fp["indices"]
        names = [str(n) for n in indices["index"].values]
        table = xr.Dataset(
            {
                **{f"s2_{b.lower()}": fp["reflectance"].sel(band=b, drop=True) for b in S2_BANDS},
                "s2_clear_share": fp["clear_share"],
                **{
                    f"s2_{n.lower()}": indices.sel(index=n, drop=True)
                    for n in cfg.keep_indices
                    if n in names
                },
            }
        )
        if pca is not None:
            scores = apply_pca(indices, pca)
            for k in pca.pc.values:
                table[f"s2_pc{k}"] = scores.sel(pc=k, drop=True)
        per_site[name] = daily_from_acquisitions(
            table,
            fp["status"],
            utc_offset=float(sites.loc[name, "utc_offset"]),
            time=cube.time,
            weight=fp["n_valid"],
            product="s2",
        )
    daily = _stack_sites(per_site, cube, failed)
    out = join_rs(
        cube,
        daily,
        product="s2",
        interpolate=interpolate,
        max_gap_days=max_gap_days,
        reasons=failed,
    )
    if pca is not None:
        out["s2_pca_loadings"] = pca["loadings"].rename(pc="s2_pc", index="s2_index")
        out["s2_pca_explained"] = pca["explained_variance_ratio"].rename(pc="s2_pc")
        out["s2_pca_mean"] = pca["mean"].rename(index="s2_index")
        out["s2_pca_scale"] = pca["scale"].rename(index="s2_index")
        out["s2_pca_loadings"].attrs = {
            "long_name": "PCA loadings of standardised Sentinel-2 indices (rows: components)",
            "units": "1",
            "n_samples": pca.attrs["n_samples"],
            "variance_threshold": pca.attrs["variance_threshold"],
            "dropped": pca.attrs["dropped"],
        }
        out["s2_pca_explained"].attrs = {"long_name": "explained variance ratio", "units": "1"}
    for var in out.data_vars:
        if str(var).startswith("s2_") and not str(var).startswith("s2_pca"):
            out[var].attrs = {**rs_attrs(str(var)), **out[var].attrs}
    return out


def _stack_sites(
    per_site: Mapping[str, xr.Dataset], cube: xr.Dataset, failed: Mapping[str, str]
) -> xr.Dataset:
    """Per-site daily tables -> (site, time) in the cube's site order (failed sites NaN)."""
    if not per_site:
        raise RemoteSensingError(
            "no site produced Sentinel-2 data: " + "; ".join(f"{s}: {r}" for s, r in failed.items())
        )
    template = next(iter(per_site.values()))
    parts = []
    for name in cube.site.values:
        name = str(name)
        if name in per_site:
            parts.append(per_site[name])
        else:
            empty = xr.Dataset(
                {
                    k: xr.full_like(v, STATUS["no_acquisition"])
                    if k == "s2_status"
                    else xr.full_like(v, np.nan)
                    for k, v in template.data_vars.items()
                }
            )
            parts.append(empty)
    out = xr.concat(parts, dim="site", join="outer")
    return out.assign_coords(site=cube.site.values)
