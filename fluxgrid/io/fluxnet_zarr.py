"""Reader for the FLUXNET2015 half-hourly Zarr store (EXCITED-CO2 conversion).

The store holds ``(site, time)`` arrays packed as ``uint16`` with ``scale_factor`` /
``add_offset``; time is UTC and labels the *end* of each half-hour. Each site's record was
shifted from local standard time, and its first record is the one ending 00:30 local on
1 January, which gives the site's UTC offset. Hourly (HR) sites were put on the half-hourly
axis by repeating each hourly value on the two half-hour stamps that follow the hour's end;
they are recognised by those repeats.

Decoding is lazy (Dask) and produces float32, which halves memory against xarray's default
float64 decoding.

Examples
--------
>>> ds = open_fluxnet_zarr("../shared/data/fluxnet2015/hh.zarr", sites=["US-MMS"])  # doctest: +SKIP
>>> float(ds.utc_offset.sel(site="US-MMS"))  # doctest: +SKIP
-5.0
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from ..errors import DataNotFoundError, FileFormatError, MetadataError
from .metadata import site_coordinates, site_coords

__all__ = ["detect_utc_offsets", "open_fluxnet_zarr"]

_CITATION = (
    "Pastorello, G. et al. The FLUXNET2015 dataset and the ONEFlux processing pipeline for "
    "eddy covariance data. Sci Data 7, 225 (2020). CC-BY-4.0."
)


def _decode_block(raw: np.ndarray, scale: float, offset: float, fill: int) -> np.ndarray:
    out = raw.astype(np.float32)
    out *= np.float32(scale)
    out += np.float32(offset)
    out[raw == fill] = np.nan
    return out


def _read_sites(group, name: str, site_idx: np.ndarray) -> np.ndarray:
    """Decoded float32 values of variable ``name`` for the sites ``site_idx`` (eager)."""
    arr = group[name]
    attrs = arr.attrs
    if len(site_idx) > arr.shape[0] // 2:
        raw = arr[:][site_idx]  # one contiguous read beats many row reads
    else:
        raw = np.stack([arr[int(i)] for i in site_idx])
    return _decode_block(
        raw,
        float(attrs.get("scale_factor", 1.0)),
        float(attrs.get("add_offset", 0.0)),
        int(attrs.get("_FillValue", arr.fill_value)),
    )


def _check_offsets(utc_offset: np.ndarray, longitude: np.ndarray, sites, path) -> None:
    """Refuse offsets far from the site's solar time zone (a store cut mid-record gives those)."""
    solar = longitude / 15.0
    distance = np.abs((utc_offset - solar + 12.0) % 24.0 - 12.0)
    bad = np.flatnonzero(distance > 4.0)
    if bad.size:
        i = int(bad[0])
        raise MetadataError(
            f"{path}: site {sites[i]!r}: UTC offset {utc_offset[i]:+.1f} h read from its first "
            f"record is {distance[i]:.1f} h away from its longitude's solar time; the store does "
            "not start "
            "at each site's first record (00:30 local on 1 January). Store 'utc_offset' and "
            "'record_minutes' arrays (dim site) in it"
        )


def detect_utc_offsets(
    valid: np.ndarray, time: np.ndarray, probe: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """UTC offset and record length of each site from its first valid record.

    Parameters
    ----------
    valid
        Boolean array ``(site, time)``: where a gap-filled driver (``ta``) is present.
    time
        UTC end-of-interval stamps, regular half-hourly, ``(time,)``.
    probe
        Values ``(site, time)`` of the same driver, used to recognise hourly sites (each
        value repeated on two consecutive stamps). ``None`` treats all sites as half-hourly.

    Returns
    -------
    utc_offset : numpy.ndarray
        Hours to add to UTC to get local standard time, ``(site,)`` float.
    record_minutes : numpy.ndarray
        Length of the native record, 30 (HH) or 60 (HR), ``(site,)`` int.
    """
    n_site = valid.shape[0]
    first = valid.argmax(axis=1)
    has_data = valid.any(axis=1)
    record_minutes = np.full(n_site, 30, dtype="int64")
    if probe is not None:
        # two days of stamps after the first record are enough to see the repeats
        idx = np.minimum(first[:, None] + np.arange(96), valid.shape[1] - 1)
        pairs = np.take_along_axis(probe, idx, axis=1).reshape(n_site, 48, 2)
        present = ~np.isnan(pairs).any(axis=2)
        repeated = (pairs[..., 0] == pairs[..., 1]) | ~present
        hourly = has_data & (present.sum(axis=1) >= 8) & repeated.all(axis=1)
        record_minutes[hourly] = 60
    stamp = pd.DatetimeIndex(time[first])
    minutes_of_day = stamp.hour * 60 + stamp.minute
    # first record ends at local 00:30 (HH) or 01:00 (HR)
    local_end_minutes = record_minutes
    offset_min = (local_end_minutes - np.asarray(minutes_of_day)) % 1440
    offset_min = np.where(offset_min > 14 * 60, offset_min - 1440, offset_min)
    utc_offset = np.where(has_data, offset_min / 60.0, np.nan)
    return utc_offset.astype("float64"), record_minutes


def open_fluxnet_zarr(
    path: str | os.PathLike,
    *,
    sites: Sequence[str] | None = None,
    variables: Sequence[str] | None = None,
    metadata: pd.DataFrame | str | os.PathLike | None = None,
    sites_per_chunk: int = 8,
) -> xr.Dataset:
    """Open the FLUXNET2015 half-hourly Zarr store as a lazy site cube.

    Parameters
    ----------
    path
        Path of ``hh.zarr``.
    sites
        Site identifiers to keep (default: all). Unknown ones raise.
    variables
        Canonical variables to keep (default: all in the store; QC companions follow their
        variable).
    metadata
        Site metadata table or path (see :func:`fluxgrid.io.metadata.read_site_metadata`);
        default: the bundled FLUXNET2015 site list. Coordinates stored in the Zarr are used
        where the table has none.
    sites_per_chunk
        Sites per Dask chunk (each chunk holds the full time axis).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)``; float32 variables in ``umolCO2 m-2 s-1`` (carbon fluxes),
        degC, W m-2, hPa; QC flags 0-3. Coordinates ``latitude``, ``longitude``,
        ``elevation``, ``igbp``, ``utc_offset`` (hours), ``record_minutes`` (30 or 60).
        Attributes ``resolution="HH"``, ``time_zone="UTC"``, ``time_label="end"``.

    Raises
    ------
    FileFormatError
        If ``path`` is not the expected store.
    DataNotFoundError
        For unknown sites or variables.
    """
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileFormatError(path, "Zarr store not found")
    try:
        raw = xr.open_zarr(path, mask_and_scale=False, chunks={}, consolidated=None)
        group = zarr.open_group(str(path), mode="r")
    except Exception as err:  # zarr raises many types for a broken store
        raise FileFormatError(path, f"cannot be opened as Zarr ({err})") from err
    if set(raw.dims) != {"site", "time"} or "site" not in raw.coords:
        raise FileFormatError(path, f"dims {dict(raw.sizes)}", expected="dims (site, time)")

    all_sites = [str(s) for s in raw.site.values]
    site_idx = _site_positions(all_sites, sites, path)
    site_ids = [all_sites[i] for i in site_idx]
    wanted = _wanted_variables(raw, variables, path)
    time = raw.time.values
    utc_offset, record_minutes = _store_offsets(group, site_idx, time)
    all_idx = np.arange(len(all_sites))
    stored = pd.DataFrame(
        {
            "latitude": _read_sites(group, "latitude", all_idx)[site_idx].astype("float64"),
            "longitude": _read_sites(group, "longitude", all_idx)[site_idx].astype("float64"),
        },
        index=pd.Index(site_ids, name="site_id"),
    )
    meta = site_coords(site_ids, metadata, fallback=stored, source=str(path))
    _check_offsets(utc_offset, meta.longitude.to_numpy(), site_ids, path)

    sub = raw.isel(site=site_idx)
    out = xr.Dataset()
    for name in wanted:
        out[name] = _decoded(sub[name], group[name].fill_value, name, sites_per_chunk)
    out = out.assign_coords(
        site_coordinates(site_ids, meta, utc_offset=utc_offset, record_minutes=record_minutes)
    ).assign_coords(time=("time", time))
    out["time"].attrs = {"long_name": "end of averaging interval (UTC)"}
    out.attrs = {
        "title": "FLUXNET2015 half-hourly site cube",
        "source": f"FLUXNET2015 FULLSET via {path.name}",
        "citation": _CITATION,
        "license": "CC-BY-4.0",
        "resolution": "HH",
        "time_zone": "UTC",
        "time_label": "end",
        "Conventions": "CF-1.8",
    }
    return out


def _site_positions(all_sites: list[str], sites: Sequence[str] | None, path: Path) -> np.ndarray:
    """Positions of the asked-for sites in the store (all by default); unknown ones raise."""
    if sites is None:
        return np.arange(len(all_sites))
    unknown = [s for s in sites if s not in all_sites]
    if unknown:
        raise DataNotFoundError(f"{path}: sites not in the store: {unknown}")
    return np.array([all_sites.index(s) for s in sites])


def _wanted_variables(raw: xr.Dataset, variables: Sequence[str] | None, path: Path) -> list[str]:
    """Variables to open, in catalog order, each followed by its QC companion."""
    data_vars = [v for v in raw.data_vars if raw[v].dims == ("site", "time")]
    order = {name: i for i, name in enumerate(catalog.names())}
    keep = sorted((v for v in data_vars if not v.endswith("_qc")), key=lambda v: order.get(v, 999))
    if variables is not None:
        unknown = [v for v in variables if v not in keep]
        if unknown:
            raise DataNotFoundError(f"{path}: variables not in the store: {unknown}; have {keep}")
        keep = list(variables)
    wanted = []
    for name in keep:
        wanted.append(name)
        qc = catalog.qc_name(name) if name in catalog.variables() else f"{name}_qc"
        if qc in data_vars and qc not in wanted and (qc[:-3] in keep or qc[:-3] == name):
            wanted.append(qc)
    return wanted


def _store_offsets(group: Any, site_idx: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, ...]:
    """UTC offsets and record lengths of the sites: stored ones, or detected from ``ta``."""
    if "utc_offset" in group and "record_minutes" in group:
        # subsets that do not start at each site's first record carry their offsets
        utc_offset = np.asarray(group["utc_offset"][:], dtype="float64")[site_idx]
        record_minutes = np.asarray(group["record_minutes"][:], dtype="int64")[site_idx]
        return utc_offset, record_minutes
    # offsets from the first valid gap-filled air temperature, read straight from Zarr
    ta_vals = _read_sites(group, "ta", site_idx)
    return detect_utc_offsets(~np.isnan(ta_vals), time, ta_vals)


def _decoded(var: xr.DataArray, store_fill: Any, name: str, sites_per_chunk: int) -> xr.DataArray:
    """One stored integer variable decoded lazily to float32, with catalog attributes."""
    attrs = var.attrs
    fill_value = attrs.get("_FillValue", store_fill)
    arr = var.data.rechunk({0: sites_per_chunk, 1: -1})
    decoded = arr.map_blocks(
        _decode_block,
        float(attrs.get("scale_factor", 1.0)),
        float(attrs.get("add_offset", 0.0)),
        int(fill_value),
        dtype=np.float32,
    )
    base = name[:-3] if name.endswith("_qc") else name
    if base in catalog.variables():
        new_attrs = (
            catalog.qc_attrs(base, "HH") if name.endswith("_qc") else catalog.cf_attrs(base, "HH")
        )
    else:
        new_attrs = {k: v for k, v in attrs.items() if k in ("units", "long_name")}
    return xr.DataArray(decoded, dims=("site", "time"), attrs=new_attrs)
