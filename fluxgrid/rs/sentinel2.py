"""Sentinel-2 L2A at flux towers: footprint means of NBAR reflectance, indices, PCA.

Per site, :func:`s2_footprint` turns STAC items into a per-acquisition table, lazily and in
bounded Dask blocks (one task per block of dates after loading):

1. load all reflectance bands and SCL on a 10 m grid in the tower's UTM zone
   (:func:`fluxgrid.rs.stac_load.reduce_groups`);
2. digital numbers -> reflectance with each item's scale and offset (the -0.1 offset of
   processing baseline >= 04.00, or the provider's ``raster:bands`` values;
   :func:`fluxgrid.rs.s2_metadata.s2_scaling`);
3. mask clouds, shadows and snow (default :func:`fluxgrid.rs.scl.scl_mask`; any function
   ``mask(ds) -> bool DataArray (time, y, x)`` can replace it, e.g. an ML cloud mask);
   optionally keep only pixels of chosen land-cover classes;
4. NBAR by the c-factor (:mod:`fluxgrid.rs.brdf`) with sun and view angles at the tower
   from the granule metadata (or item properties; :mod:`fluxgrid.rs.s2_metadata`);
5. mean over the footprint buffer (default 1 km) and the clear-pixel share; dates below
   the minimum share (default 1 %) are recorded with their status, not dropped.

:func:`s2_indices` adds every Sentinel-2 index of the Awesome Spectral Indices catalogue and
:func:`fluxgrid.rs.pca.fit_pca` reduces them; :func:`add_s2` runs it all for the sites of a
cube and joins ``s2_pc1..``, ``s2_ndvi``, ... onto its daily axis. The band names, metadata
readers and masks of :mod:`~fluxgrid.rs.s2_metadata` and :mod:`~fluxgrid.rs.scl` are
importable from here too.

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

import os
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from .._docstring import fill_doc
from ..errors import RemoteSensingError
from .align import Acquisitions, daily_site_values, join_rs
from .brdf import ROY2017
from .config import S2Config, StacConfig
from .geometry import footprint_grid
from .indices import compute_indices, s2_index_names
from .items import SolarDayKey, group_items
from .names import STATUS, rs_attrs
from .pca import apply_pca, fit_pca
from .s2_metadata import (
    ANGLE_SOURCES,
    EARTH_SEARCH_NAMES,
    S2_BANDS,
    S2_RESOLUTION,
    angles_from_granule_metadata,
    s2_angles,
    s2_asset_keys,
    s2_scaling,
    s2_step_metadata,
)
from .scl import SCL_CLASSES, MaskFunction, landcover_mask, scl_mask
from .sites import ADD_DOCS, for_each_site, site_table
from .stac import search_items, search_options
from .stac_load import reduce_groups

__all__ = [
    "ANGLE_SOURCES",
    "EARTH_SEARCH_NAMES",
    "S2_BANDS",
    "S2_RESOLUTION",
    "SCL_CLASSES",
    "MaskFunction",
    "add_s2",
    "angles_from_granule_metadata",
    "landcover_mask",
    "s2_angles",
    "s2_asset_keys",
    "s2_footprint",
    "s2_indices",
    "s2_scaling",
    "s2_site",
    "s2_sites",
    "scl_mask",
]

_N_ANGLE = 5  # sza, saa, vza, vaa, source code
_NODATA = 0


# --------------------------------------------------------------------------- footprint


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
    meta = s2_step_metadata(
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


def _footprint_weight(
    latitude: float,
    longitude: float,
    cfg: S2Config,
    landcover: str | os.PathLike | xr.DataArray | None,
) -> tuple[object, np.ndarray]:
    """Grid around the tower and its footprint pixels ``(y, x)`` (disc, land-cover classes)."""
    geobox, template, weight = footprint_grid(
        latitude, longitude, outer_m=cfg.buffer_m, resolution=cfg.resolution
    )
    lc = landcover if landcover is not None else cfg.landcover
    if lc is not None:
        weight = weight & landcover_mask(lc, template, cfg.landcover_classes)
    return geobox, weight.values


def _footprint_table(
    raw,
    groups: Sequence,
    bands: Sequence[str],
    index_names: tuple[str, ...],
    cfg: S2Config,
) -> xr.Dataset:
    """Statistics ``(time, stat)`` of :func:`_s2_reduce` -> the footprint table with status."""
    times = np.array([g.time for g in groups], dtype="datetime64[ns]")
    item_ids = np.array([",".join(i.id for i in g.items) for g in groups])
    # the statistics are tiny (dates x ~15): one chunk keeps the derived variables at one
    # task each, so the graph grows only by the load-and-reduce tasks
    stats = xr.DataArray(raw.rechunk(-1), dims=("time", "stat"), coords={"time": times})
    nb = len(bands)
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
            "item_ids": xr.DataArray(item_ids, dims="time", coords={"time": times}),
        }
    )
    if index_names:
        idx = stats.isel(stat=slice(nb + 3 + _N_ANGLE, None)).rename(stat="index")
        out["indices"] = idx.assign_coords(index=list(index_names)).where(ok).astype("float32")
    _describe(out, bands, cfg.nbar)
    return out


def _describe(out: xr.Dataset, bands: Sequence[str], nbar: bool) -> None:
    """Attributes of the footprint table's variables (in place)."""
    out["reflectance"].attrs = {
        "long_name": "footprint-mean surface reflectance"
        + (" (NBAR, c-factor, Roy et al. 2017)" if nbar else ""),
        "units": "1",
        "nbar_bands": ",".join(b for b in bands if b in ROY2017) if nbar else "",
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
    geobox, weight = _footprint_weight(latitude, longitude, cfg, landcover)
    # per-pixel indices are computed in the tasks; mean-reflectance ones by s2_indices
    index_names = tuple(cfg.indices or s2_index_names()) if cfg.index_from == "pixels" else ()
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
        weight=weight,
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
    out = _footprint_table(raw, groups, bands, index_names, cfg)
    crs = f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt()
    out.attrs.update(site=site or "", latitude=float(latitude), longitude=float(longitude))
    out.attrs.update(
        buffer_m=float(cfg.buffer_m),
        crs=crs,
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
    options = search_options(stac_cfg)
    options.update(
        collections=cfg.collection, buffer_m=cfg.buffer_m, max_cloud_cover=cfg.max_cloud_cover
    )
    items = search_items(source, latitude, longitude, start=start, end=end, site=site, **options)
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


@fill_doc(ADD_DOCS)
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
    %(cube)s
    %(source)s
    footprints, failed
        Per-site results of :func:`s2_site` computed elsewhere (e.g. on a Dask cluster by
        the ``rs_cube`` recipe) and the reasons of sites without one.
    %(period)s
    %(options)s
    mask
        Custom clear-pixel mask function (see :func:`s2_footprint`).
    %(join)s
    %(on_error)s

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
    pca = _fit_sites_pca(footprints, cfg.pca_variance)
    if pca is None:
        for name in sites.index:
            failed.setdefault(name, "fewer than 2 valid Sentinel-2 dates over all sites: no PCA")
    if not footprints:
        raise RemoteSensingError(
            "no site produced Sentinel-2 data: " + "; ".join(f"{s}: {r}" for s, r in failed.items())
        )
    acquisitions = {
        name: Acquisitions(_predictors(fp, cfg.keep_indices, pca), fp["status"], fp["n_valid"])
        for name, fp in footprints.items()
    }
    out = join_rs(
        cube,
        daily_site_values(cube, acquisitions, product="s2"),
        product="s2",
        interpolate=interpolate,
        max_gap_days=max_gap_days,
        reasons=failed,
    )
    if pca is not None:
        _add_pca(out, pca)
    for var in out.data_vars:
        if str(var).startswith("s2_") and not str(var).startswith("s2_pca"):
            out[var].attrs = {**rs_attrs(str(var)), **out[var].attrs}
    return out


def _fit_sites_pca(footprints: Mapping[str, xr.Dataset], variance: float) -> xr.Dataset | None:
    """PCA of the indices of every site's valid acquisitions; ``None`` with < 2 of them."""
    # on the acquisitions, not on the daily axis: the days without an acquisition would
    # only cost memory; scores are then aligned like any variable
    samples = [
        fp["indices"].where(fp["status"] == STATUS["ok"]).drop_vars("time").rename(time="sample")
        for fp in footprints.values()
    ]
    if not samples:
        return None
    stacked = xr.concat(samples, dim="sample", join="inner")
    if int(np.isfinite(stacked).any("index").sum()) < 2:
        return None
    return fit_pca(stacked, variance=variance)


def _predictors(fp: xr.Dataset, keep_indices: Sequence[str], pca: xr.Dataset | None) -> xr.Dataset:
    """A site's per-acquisition predictors: reflectances, clear share, indices, PC scores."""
    indices = fp["indices"]
    names = [str(n) for n in indices["index"].values]
    table = xr.Dataset(
        {
            **{f"s2_{b.lower()}": fp["reflectance"].sel(band=b, drop=True) for b in S2_BANDS},
            "s2_clear_share": fp["clear_share"],
            **{
                f"s2_{n.lower()}": indices.sel(index=n, drop=True)
                for n in keep_indices
                if n in names
            },
        }
    )
    if pca is not None:
        scores = apply_pca(indices, pca)
        for k in pca.pc.values:
            table[f"s2_pc{k}"] = scores.sel(pc=k, drop=True)
    return table


def _add_pca(out: xr.Dataset, pca: xr.Dataset) -> None:
    """The PCA itself as ``s2_pca_*`` variables of the cube (in place)."""
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
