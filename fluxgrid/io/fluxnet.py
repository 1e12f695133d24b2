"""Readers for FLUXNET-family CSV files (ONEFlux layout): FLUXNET2015, AmeriFlux, ICOS.

One function, :func:`read_fluxnet`, reads any mix of files, folders and ``.zip`` archives of
one temporal resolution into a site cube. Supported file names (the site and the resolution
are taken from the name, the resolution is checked against the timestamp columns)::

    FLX_{SITE}_FLUXNET2015_{FULLSET|SUBSET}_{RES}_{Y0}-{Y1}_{V}-{R}.csv   FLUXNET2015, Warm
                                                                       Winter 2020, Drought 2018
    AMF_{SITE}_FLUXNET_{FULLSET|SUBSET}_{RES}_{Y0}-{Y1}_{V}-{R}.csv     AmeriFlux FLUXNET
    ICOSETC_{SITE}_FLUXNET_{RES}_{RELEASE}.csv                         ICOS ETC L2 archives

with ``RES`` one of HH, HR (``TIMESTAMP_START``/``TIMESTAMP_END`` as YYYYMMDDHHMM), DD
(``TIMESTAMP`` YYYYMMDD), WW (``TIMESTAMP_START``/``TIMESTAMP_END`` as YYYYMMDD; ONEFlux weeks
start on 1 January, the 52nd week runs to 31 December), MM (``TIMESTAMP`` YYYYMM) and YY
(``TIMESTAMP`` YYYY). All stamps are local standard time.

Values are already in FLUXNET units, which are fluxgrid's canonical units for the resolution
(:func:`fluxgrid.catalog.units_for`): carbon fluxes in umolCO2 m-2 s-1 (HH/HR), gC m-2 d-1
(DD/WW/MM, mean daily rates) and gC m-2 y-1 (YY); precipitation in mm per record (HH/HR),
mm d-1 (DD/WW/MM) and mm y-1 (YY). The reader renames columns to canonical names, turns
-9999 into NaN and attaches CF attributes; it converts nothing.

Three modules, one stage each: :mod:`fluxgrid.io.fluxnet_files` finds the files (names,
folders, archives) and picks those a call reads, :mod:`fluxgrid.io.fluxnet_csv` reads one
file onto canonical names, and this module joins the files into a site cube. The public
names of the first two are importable from here too.

Examples
--------
>>> from fluxgrid.io.fluxnet import parse_fluxnet_filename
>>> info = parse_fluxnet_filename("FLX_US-MMS_FLUXNET2015_SUBSET_MM_1999-2014_1-4.csv")
>>> info.site, info.resolution, info.years, info.version
('US-MMS', 'MM', (1999, 2014), '1-4')
>>> cube = read_fluxnet("../shared/data/fluxnet2015/mm", sites=["US-MMS"])  # doctest: +SKIP
>>> float(cube.ta.sel(site="US-MMS", time="1999-01-01"))  # doctest: +SKIP
-2.073
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from .._progress import track
from ..errors import DataNotFoundError, FluxgridWarning, MetadataError, TimestampError
from .fluxnet_csv import RECORD_STEPS, FilePart, read_entry, week_ends
from .fluxnet_files import (
    RESOLUTIONS,
    FluxnetEntry,
    FluxnetFileName,
    collect_entries,
    parse_fluxnet_filename,
    select_entries,
    source_paths,
)
from .metadata import site_coordinates, site_coords

__all__ = [
    "RESOLUTIONS",
    "FluxnetFileName",
    "parse_fluxnet_filename",
    "read_fluxnet",
    "read_fluxnet_file",
    "week_ends",
]

#: one site's files joined: period starts, values per variable, the files
_Joined = tuple[pd.DatetimeIndex, dict[str, np.ndarray], list[FilePart]]

_TIME_LONG_NAMES = {
    "DD": "day (local standard time)",
    "WW": "first day of ONEFlux week (local standard time)",
    "MM": "first day of calendar month (local standard time)",
    "YY": "first day of calendar year (local standard time)",
}

_CITATIONS = {
    "FLUXNET2015": (
        "Pastorello, G. et al. The FLUXNET2015 dataset and the ONEFlux processing pipeline "
        "for eddy covariance data. Sci Data 7, 225 (2020). CC-BY-4.0; list the site IDs used."
    ),
    "FLUXNET": (
        "FLUXNET data product processed with ONEFlux (Pastorello, G. et al., Sci Data 7, 225, "
        "2020); cite the product and each site as its licence asks."
    ),
    "AmeriFlux": (
        "AmeriFlux FLUXNET product (ONEFlux; Pastorello, G. et al., Sci Data 7, 225, 2020). "
        "CC-BY-4.0; cite each site's AmeriFlux DOI."
    ),
    "ICOS": (
        "ICOS Ecosystem Thematic Centre L2 FLUXNET product (ONEFlux). CC-BY-4.0; cite the "
        "ICOS data object DOI of each site."
    ),
}


def read_fluxnet_file(
    path: str | os.PathLike,
    *,
    variables: Sequence[str] | None = None,
    drop_torn_last_line: bool = False,
) -> tuple[pd.DataFrame, str]:
    """Read one FLUXNET-family CSV into a table on canonical names (no site cube).

    Parameters
    ----------
    path
        The CSV file (name in a FLUXNET-family convention).
    variables
        Canonical variables to keep (default: every catalog variable present).
    drop_torn_last_line
        Leave out a last line that is cut short (with a :class:`~fluxgrid.errors.
        FluxgridWarning` and ``frame.attrs["dropped_lines"]``); by default it is refused.

    Returns
    -------
    frame : pandas.DataFrame
        Index ``time`` (period start, local standard time); float32 columns on canonical
        names (``ta``, ``nee``, ``nee_qc``, ...), NaN where the file has -9999.
    resolution : str
        The resolution code (HH, HR, DD, WW, MM, YY).

    Examples
    --------
    >>> frame, res = read_fluxnet_file(  # doctest: +SKIP
    ...     "../shared/data/fluxnet2015/mm/FLX_US-MMS_FLUXNET2015_SUBSET_MM_1999-2014_1-4.csv")
    """
    (path,) = source_paths(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    entry = FluxnetEntry(path, None, parse_fluxnet_filename(path.name))
    part = read_entry(entry, variables, drop_torn_last_line=drop_torn_last_line)
    _warn_dropped([part])
    frame = pd.DataFrame(part.values, index=pd.Index(part.time, name="time"))
    frame.attrs["dropped_lines"] = "\n".join(part.dropped)
    return frame, part.resolution


def _warn_dropped(parts: list[FilePart]) -> None:
    """One warning per torn last line left out on request."""
    for p in parts:
        for line in p.dropped:
            warnings.warn(line, FluxgridWarning, stacklevel=3)


# --------------------------------------------------------------------------- site cube
def _time_axis(resolution: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """The regular axis of ``resolution`` from ``first`` to ``last`` (period starts)."""
    if resolution in RECORD_STEPS:
        axis = pd.date_range(first, last, freq=RECORD_STEPS[resolution])
    elif resolution == "DD":
        axis = pd.date_range(first, last, freq="D")
    elif resolution == "MM":
        axis = pd.date_range(first, last, freq="MS")
    elif resolution == "YY":
        axis = pd.date_range(first, last, freq="YS")
    else:  # WW: 52 ONEFlux weeks per year
        years = np.arange(first.year, last.year + 1)
        jan1 = pd.to_datetime(years.astype(str) + "-01-01").to_numpy()
        starts = (jan1[:, None] + np.arange(52)[None, :] * np.timedelta64(7, "D")).ravel()
        axis = pd.DatetimeIndex(starts)
        axis = axis[(axis >= first) & (axis <= last)]
    return pd.DatetimeIndex(axis).as_unit("ns")


def _join_site(parts: list[FilePart]) -> _Joined:
    """One site's files, in time order, checked for overlaps."""
    parts = sorted(parts, key=lambda p: p.time[0])
    for a, b in itertools.pairwise(parts):
        if b.time[0] <= a.time[-1]:
            raise TimestampError(
                f"site {a.entry.info.site!r}: {a.entry.label} and {b.entry.label} overlap "
                f"({b.time[0]} .. {a.time[-1]}); expected each period of a site in one file "
                "(pass only one of them, e.g. the FULLSET or the SUBSET)"
            )
    time = pd.DatetimeIndex(np.concatenate([p.time.asi8 for p in parts]).view("M8[ns]"))
    names = [n for n in _ordered_names({n for p in parts for n in p.values})]
    values = {}
    for name in names:
        values[name] = np.concatenate(
            [p.values.get(name, np.full(len(p.time), np.nan, dtype=np.float32)) for p in parts]
        )
    return time, values, parts


def _hourly_on_half_hours(
    time: pd.DatetimeIndex, values: dict[str, np.ndarray], parts: list[FilePart]
) -> _Joined:
    """Put hourly records on the half-hourly axis: each value on both half-hours of its hour."""
    stamps = time.asi8[:, None] + np.array([0, RECORD_STEPS["HH"].value])[None, :]
    half_hourly = pd.DatetimeIndex(stamps.ravel().view("M8[ns]"))
    return half_hourly, {n: np.repeat(v, 2) for n, v in values.items()}, parts


def _ordered_names(names: set[str]) -> list[str]:
    """Catalog order, each variable followed by its QC companion; other names last, sorted."""
    order = []
    for var in catalog.names():
        if var in names:
            order.append(var)
            if f"{var}_qc" in names:
                order.append(f"{var}_qc")
    order += sorted(n for n in names if n not in order)
    return order


def _citation(networks: set[str]) -> str:
    """How to cite the networks read (one sentence per network)."""
    return " ".join(_CITATIONS[n] for n in sorted(networks))


def _arguments(
    src: str | os.PathLike | Sequence[str | os.PathLike],
    sites: Sequence[str] | None,
    variables: Sequence[str] | None,
) -> tuple[list[str] | None, list[Path]]:
    """Checked arguments of :func:`read_fluxnet`: the sites asked for and the source paths."""
    if variables is not None:
        for v in variables:
            catalog.get(v)  # unknown canonical names raise, listing the known ones
    if sites is not None:
        sites = [sites] if isinstance(sites, str) else list(sites)
    return sites, source_paths(src)


def _site_metadata(
    site_ids: list[str],
    entries: list[FluxnetEntry],
    metadata: pd.DataFrame | str | os.PathLike | None,
) -> pd.DataFrame:
    """Metadata rows of the sites; a site without coordinates raises, naming its file."""
    meta = site_coords(site_ids, metadata, require_coordinates=False)
    lacking = [
        s
        for s, lat, lon in zip(site_ids, meta.latitude, meta.longitude, strict=True)
        if np.isnan(lat) or np.isnan(lon)
    ]
    if lacking:
        file_of = {e.info.site: e.name for e in entries}
        where = (
            "the bundled FLUXNET2015 site list"
            if metadata is None
            else ("the metadata table" if isinstance(metadata, pd.DataFrame) else str(metadata))
        )
        more = (
            f" (nor {len(lacking) - 1} more: {', '.join(lacking[1:6])})" if len(lacking) > 1 else ""
        )
        raise MetadataError(
            f"site {lacking[0]!r} ({file_of[lacking[0]]}) has no coordinates in {where}{more}"
            "; pass metadata= a flat table (site_id, latitude, longitude, elevation_m, igbp) "
            "or a BIF file that has them (command line: --metadata)"
        )
    return meta


def _join_sites(
    parts: list[FilePart], site_ids: list[str], res: str
) -> tuple[dict[str, _Joined], dict[str, str]]:
    """Each site's files joined in time order, and each site's own resolution.

    Hourly sites read with half-hourly ones (``res="HH"``) are put on the half-hourly axis.
    """
    by_site: dict[str, list[FilePart]] = {}
    for p in parts:
        by_site.setdefault(p.entry.info.site, []).append(p)
    joined = {s: _join_site(by_site[s]) for s in site_ids}
    site_res = {}
    for s in site_ids:
        found = {str(p.entry.info.resolution) for p in by_site[s]}
        if len(found) > 1:
            raise TimestampError(
                f"site {s!r} has files of resolutions {sorted(found)}; pass resolution= to read "
                "one of them"
            )
        site_res[s] = found.pop()
        if res == "HH" and site_res[s] == "HR":
            joined[s] = _hourly_on_half_hours(*joined[s])
    return joined, site_res


def _on_common_axis(
    joined: dict[str, _Joined],
    site_ids: list[str],
    names: list[str],
    res: str,
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray]]:
    """The sites outer-joined on one regular axis: ``(site, time)`` float32 per variable."""
    first = min(t[0] for t, _, _ in joined.values())
    last = max(t[-1] for t, _, _ in joined.values())
    axis = _time_axis(res, first, last)
    arrays = {n: np.full((len(site_ids), len(axis)), np.nan, dtype=np.float32) for n in names}
    for i, s in enumerate(site_ids):
        time, values, _ = joined[s]
        pos = axis.get_indexer(time)  # stamps were checked to lie on the grid
        for n, v in values.items():
            arrays[n][i, pos] = v
    return axis, arrays


def _cube_variables(
    arrays: dict[str, np.ndarray], names: list[str], parts: list[FilePart], res: str
) -> xr.Dataset:
    """The cube's variables with CF attributes and the source columns they came from."""
    sources: dict[str, list[str]] = {}
    for p in parts:
        for n, col in p.columns.items():
            sources.setdefault(n, [])
            if col not in sources[n]:
                sources[n].append(col)
    out = xr.Dataset()
    for n in names:
        base = n.removesuffix("_qc")
        if n.endswith("_qc") and base in catalog.variables():
            attrs = catalog.qc_attrs(base, res)
        else:
            attrs = catalog.cf_attrs(n, res)
        attrs["source_column"] = ", ".join(sources.get(n, []))
        out[n] = xr.DataArray(arrays[n], dims=("site", "time"), attrs=attrs)
    return out


def _cube_attrs(parts: list[FilePart], skipped: list[str], res: str, n_site: int) -> dict:
    """Global attributes: provenance, citation, licence, time conventions."""
    networks = {p.entry.info.network for p in parts}
    unused = sorted({c for p in parts for c in p.unused})
    return {
        "title": "FLUXNET site cube",
        "source": f"{', '.join(sorted(networks))} CSV files (ONEFlux layout)",
        "source_files": "\n".join(p.entry.label for p in parts),
        "unused_columns": ", ".join(unused),
        "skipped_files": "\n".join(skipped),
        "dropped_lines": "\n".join(line for p in parts for line in p.dropped),
        "citation": _citation(networks),
        "license": "CC-BY-4.0",
        "resolution": res,
        "time_zone": "local standard time",
        "time_label": "start",
        "Conventions": "CF-1.8",
        "history": f"fluxgrid.read_fluxnet: {len(parts)} file(s), {n_site} site(s)",
    }


def read_fluxnet(
    src: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    sites: Sequence[str] | None = None,
    variables: Sequence[str] | None = None,
    metadata: pd.DataFrame | str | os.PathLike | None = None,
    resolution: str | None = None,
    drop_torn_last_line: bool = False,
) -> xr.Dataset:
    """Read FLUXNET-family CSV files of one resolution into a site cube.

    Parameters
    ----------
    src
        A path or list of paths: CSV files, folders (searched recursively for FLUXNET-family
        names) and ``.zip`` archives as distributed (members are read without extracting).
        In folders and archives, AUXMETEO/AUXNEE and ERAI/ERA5 files are skipped (and listed
        in ``attrs["skipped_files"]``); pass an ERAI file itself to read it.
    sites
        Site IDs to keep (default: every site found). Unknown ones raise.
    variables
        Canonical variables to keep (``ta``, ``nee``, ``gpp_nt``, ...); their QC companions
        follow (``gpp_nt`` brings ``nee_qc``). Default: every catalog variable present.
    metadata
        Site metadata: a table from :func:`fluxgrid.io.metadata.read_site_metadata`, a path to
        a flat table or a BIF file, or ``None`` for the bundled FLUXNET2015 site list. Sites
        outside that list (AmeriFlux, ICOS) need a table.
    resolution
        Read only files of this resolution (HH, HR, DD, WW, MM, YY). Needed when the sources
        hold several, e.g. a distributed archive with HH, DD, WW, MM and YY files. Half-hourly
        and hourly sites read together share a half-hourly axis: each hourly value sits on
        both half-hours of its hour and the site's ``record_minutes`` is 60 (daily means and
        sums from :func:`fluxgrid.prep.resample.to_daily` are then exact).
    drop_torn_last_line
        A file whose last line is cut short (fewer or more fields than the header, or no
        final newline: a truncated download or copy) is refused by default, naming the file
        and the line. With ``True`` that line is left out, a
        :class:`~fluxgrid.errors.FluxgridWarning` names it and ``attrs["dropped_lines"]``
        lists it (``label: line N dropped (why)``, one per line).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)``, sites in the order asked for (sorted otherwise). ``time`` is the
        period start in local standard time (``TIMESTAMP_START``, or the first day of the day,
        week, month or year), on a regular axis of the resolution shared by all sites (the
        sites are outer-joined: periods a site lacks are NaN). Float32 variables on canonical
        names in the resolution's canonical units (:func:`fluxgrid.catalog.units_for`) with CF
        attributes and ``source_column``; ``<var>_qc`` as in the files (HH/HR: flags 0-3;
        coarser: fraction 0-1). Coordinates ``latitude``, ``longitude``, ``elevation``,
        ``igbp``, ``utc_offset`` (and ``record_minutes`` for HH/HR). Attributes
        ``resolution``, ``time_zone="local standard time"``, ``time_label="start"``,
        ``source_files`` (one per line), ``unused_columns`` (comma-separated source columns
        that no canonical variable took, e.g. ``NEE_VUT_25`` or the lower-ranked ``TA_F_MDS``
        when ``TA_F`` is present), ``skipped_files`` (one ``label: reason`` per line),
        ``dropped_lines``, ``citation``, ``license``.

    Raises
    ------
    DataNotFoundError
        A path does not exist, a folder holds no FLUXNET file, an asked-for site or variable
        is absent.
    FileFormatError
        Unrecognised file name, empty file, corrupt zip, file name and timestamp columns
        disagreeing, a torn last line (unless ``drop_torn_last_line``).
    ColumnError
        No TIMESTAMP / TIMESTAMP_START+TIMESTAMP_END column, a column given twice, a value
        that is not a number.
    ConfigError
        ``src`` is not a path or a list of paths.
    TimestampError
        Unparseable, duplicated, decreasing or off-grid timestamps; mixed resolutions;
        two files of a site overlapping.
    MetadataError
        A site without coordinates in the metadata.

    Examples
    --------
    >>> cube = read_fluxnet("../shared/data/fluxnet2015/mm", sites=["US-MMS"])  # doctest: +SKIP
    >>> cube.nee.attrs["units"]  # doctest: +SKIP
    'gC m-2 d-1'
    >>> hh = read_fluxnet("FLX_DE-Hai_FLUXNET2015_FULLSET_2000-2014_1-4.zip",  # doctest: +SKIP
    ...                   resolution="HH", variables=["ta", "nee"])
    """
    sites, paths = _arguments(src, sites, variables)
    entries, skipped = collect_entries(paths)
    entries, res = select_entries(entries, skipped, set(paths), sites, resolution)
    site_ids = list(sites) if sites is not None else sorted({e.info.site for e in entries})
    meta = _site_metadata(site_ids, entries, metadata)
    parts = [
        read_entry(e, variables, drop_torn_last_line=drop_torn_last_line)
        for e in track(entries, desc="reading FLUXNET files")
    ]
    _warn_dropped(parts)
    joined, site_res = _join_sites(parts, site_ids, res)
    names = _ordered_names({n for t, v, _ in joined.values() for n in v})
    if variables is not None:
        absent = [v for v in variables if v not in names]
        if absent:
            raise DataNotFoundError(
                f"variables {absent} are in none of the files; found: {', '.join(names)}"
            )
    axis, arrays = _on_common_axis(joined, site_ids, names, res)
    out = _cube_variables(arrays, names, parts, res)
    minutes = None
    if res in RECORD_STEPS:
        minutes = [int(RECORD_STEPS[site_res[s]].total_seconds() // 60) for s in site_ids]
    out = out.assign_coords(site_coordinates(site_ids, meta, record_minutes=minutes))
    out = out.assign_coords(time=("time", axis.to_numpy()))
    out["time"].attrs = {
        "long_name": (
            "start of averaging period (local standard time)"
            if res in RECORD_STEPS
            else _TIME_LONG_NAMES[res]
        )
    }
    out.attrs = _cube_attrs(parts, skipped, res, len(site_ids))
    return out
