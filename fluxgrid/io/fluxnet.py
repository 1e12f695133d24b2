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

import csv
import io
import itertools
import os
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from ..errors import (
    ColumnError,
    DataNotFoundError,
    FileFormatError,
    MetadataError,
    TimestampError,
)
from .metadata import site_coordinates, site_coords

__all__ = [
    "RESOLUTIONS",
    "FluxnetFileName",
    "find_fluxnet_files",
    "parse_fluxnet_filename",
    "read_fluxnet",
    "read_fluxnet_file",
]

#: FLUXNET temporal resolution codes, finest first
RESOLUTIONS = ("HH", "HR", "DD", "WW", "MM", "YY")

#: products that hold time series in the ONEFlux layout (read from folders and archives)
_DATA_PRODUCTS = frozenset({"FULLSET", "SUBSET", "FLUXMET", ""})
#: reanalysis products: same layout, read only when named explicitly (they duplicate sites)
_REANALYSIS_PRODUCTS = frozenset({"ERAI", "ERA5"})
#: auxiliary products (no time series in the ONEFlux layout)
_AUX_PRODUCTS = frozenset({"AUXMETEO", "AUXNEE"})
_PRODUCTS = _DATA_PRODUCTS | _REANALYSIS_PRODUCTS | _AUX_PRODUCTS

_PREFIXES = {"FLX": None, "AMF": "AmeriFlux", "ICOSETC": "ICOS"}
_SITE_RE = re.compile(r"^[A-Za-z]{2}-[A-Za-z0-9]{3}$")
_YEARS_RE = re.compile(r"^(\d{4})-(\d{4})$")

_STEP = {"HH": pd.Timedelta(minutes=30), "HR": pd.Timedelta(hours=1)}
_TS_FORMATS = {12: "%Y%m%d%H%M", 8: "%Y%m%d", 6: "%Y%m", 4: "%Y"}
_TS_DESCRIPTION = {12: "YYYYMMDDHHMM", 8: "YYYYMMDD", 6: "YYYYMM", 4: "YYYY"}
_SINGLE_STAMP_RES = {8: "DD", 6: "MM", 4: "YY"}

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


# --------------------------------------------------------------------------- file names
@dataclass(frozen=True)
class FluxnetFileName:
    """The parts of a FLUXNET-family file name.

    Attributes
    ----------
    network
        ``"FLUXNET2015"`` (``FLX_..._FLUXNET2015_...``, also Warm Winter 2020 and Drought
        2018 releases), ``"FLUXNET"`` (``FLX_..._FLUXNET_...``), ``"AmeriFlux"`` (``AMF_``)
        or ``"ICOS"`` (``ICOSETC_``).
    site
        Site ID ``CC-SSS``.
    product
        ``FULLSET``, ``SUBSET``, ``ERAI``, ``ERA5``, ``AUXMETEO``, ``AUXNEE``, ``FLUXMET`` or
        ``""`` where the name has none (ICOS L2 files).
    resolution
        HH, HR, DD, WW, MM, YY, or ``None`` (archives with all resolutions, AUX files).
    years
        First and last year, or ``None`` where the name has none.
    version
        Whatever follows: ``"1-4"`` (site-code version), ``"beta-3"``, ``"L2"``, ...
    name
        The file name itself.
    """

    network: str
    site: str
    product: str
    resolution: str | None
    years: tuple[int, int] | None
    version: str
    name: str = field(compare=False)

    @property
    def is_timeseries(self) -> bool:
        """Whether the file holds a time series in the ONEFlux layout."""
        return self.resolution is not None and self.product not in _AUX_PRODUCTS


def _parse_name(name: str) -> FluxnetFileName | None:
    stem, dot, ext = name.rpartition(".")
    if not dot or ext.lower() not in ("csv", "zip"):
        return None
    tokens = stem.split("_")
    if len(tokens) < 4 or tokens[0] not in _PREFIXES or not _SITE_RE.match(tokens[1]):
        return None
    family = tokens[2]
    if family not in ("FLUXNET2015", "FLUXNET"):
        return None
    rest = tokens[3:]
    product = ""
    if rest and rest[0] in _PRODUCTS:
        product = rest.pop(0)
    resolution = None
    if rest and rest[0] in RESOLUTIONS:
        resolution = rest.pop(0)
    years = None
    if rest and (m := _YEARS_RE.match(rest[0])):
        years = (int(m.group(1)), int(m.group(2)))
        rest.pop(0)
    if resolution is None and ext.lower() == "csv" and product not in _AUX_PRODUCTS:
        return None
    network = _PREFIXES[tokens[0]] or family
    return FluxnetFileName(
        network=network,
        site=tokens[1],
        product=product,
        resolution=resolution,
        years=years,
        version="_".join(rest),
        name=name,
    )


def parse_fluxnet_filename(name: str | os.PathLike) -> FluxnetFileName:
    """Parse a FLUXNET-family file name (CSV or ZIP; any folder part is ignored).

    Parameters
    ----------
    name
        File name or path, e.g. ``FLX_US-Ha1_FLUXNET2015_FULLSET_HH_1991-2012_1-4.csv``,
        ``AMF_US-Ha1_FLUXNET_FULLSET_DD_1991-2020_3-5.csv``,
        ``ICOSETC_BE-Bra_FLUXNET_HH_L2.csv`` or an archive such as
        ``FLX_US-Ha1_FLUXNET2015_SUBSET_1991-2012_1-4.zip``.

    Returns
    -------
    FluxnetFileName
        Network, site, product, resolution, years and version.

    Raises
    ------
    FileFormatError
        If the name does not follow a FLUXNET-family convention.

    Examples
    --------
    >>> parse_fluxnet_filename("AMF_US-Ha1_FLUXNET_FULLSET_HH_1991-2020_3-5.csv").network
    'AmeriFlux'
    >>> parse_fluxnet_filename("ICOSETC_BE-Bra_FLUXNET_DD_L2.csv").resolution
    'DD'
    """
    base = Path(name).name
    info = _parse_name(base)
    if info is None:
        raise FileFormatError(
            base,
            "file name is not a FLUXNET-family name, so the site and resolution are unknown",
            expected=(
                "FLX_{SITE}_FLUXNET2015_{FULLSET|SUBSET}_{HH|HR|DD|WW|MM|YY}_{Y0}-{Y1}_"
                "{V}-{R}.csv, "
                "AMF_{SITE}_FLUXNET_{FULLSET|SUBSET}_{RES}_{Y0}-{Y1}_{V}-{R}.csv or "
                "ICOSETC_{SITE}_FLUXNET_{RES}_{RELEASE}.csv (use fluxgrid.io.tables.read_table "
                "with a column map for other tables)"
            ),
        )
    return info


# --------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class _Entry:
    """One CSV to read: a plain file or a member of a zip archive."""

    path: Path
    member: str | None
    info: FluxnetFileName

    @property
    def label(self) -> str:
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def name(self) -> str:
        return self.info.name


def _zip_entries(path: Path) -> tuple[list[_Entry], list[str]]:
    try:
        with zipfile.ZipFile(path) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise FileFormatError(
            path,
            f"is not a readable zip archive ({err})",
            expected="a .zip archive of FLUXNET CSV files as distributed; download it again",
        ) from err
    entries, skipped = [], []
    for m in members:
        base = m.filename.rsplit("/", 1)[-1]
        info = _parse_name(base)
        if info is None or not base.lower().endswith(".csv"):
            skipped.append(f"{path}!{m.filename}: not a FLUXNET-family CSV name")
            continue
        entries.append(_Entry(path, m.filename, info))
    return entries, skipped


def find_fluxnet_files(
    src: str | os.PathLike | Sequence[str | os.PathLike],
) -> tuple[list[tuple[str, FluxnetFileName]], list[str]]:
    """List the FLUXNET-family CSV files in files, folders (recursively) and zip archives.

    Parameters
    ----------
    src
        A path or a list of paths: CSV files, folders, ``.zip`` archives.

    Returns
    -------
    files : list of (label, FluxnetFileName)
        ``label`` is the path, or ``archive.zip!member`` for archive members.
    skipped : list of str
        ``"label: reason"`` for every file that was looked at and will not be read.

    Examples
    --------
    >>> files, skipped = find_fluxnet_files("../shared/data/fluxnet2015/mm")  # doctest: +SKIP
    >>> len(files)  # doctest: +SKIP
    206
    """
    entries, skipped = _collect(src)
    return [(e.label, e.info) for e in entries], skipped


def _collect(
    src: str | os.PathLike | Sequence[str | os.PathLike],
) -> tuple[list[_Entry], list[str]]:
    paths = [Path(src)] if isinstance(src, str | os.PathLike) else [Path(p) for p in src]
    if not paths:
        raise DataNotFoundError("no FLUXNET source given; pass CSV files, folders or .zip archives")
    entries: list[_Entry] = []
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise DataNotFoundError(f"{path}: no such file or folder")
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".zip")
            )
            n_before = len(entries)
            for p in found:
                if p.suffix.lower() == ".zip":
                    more, why = _zip_entries(p)
                    entries += more
                    skipped += why
                    continue
                info = _parse_name(p.name)
                if info is None:
                    skipped.append(f"{p}: not a FLUXNET-family CSV name")
                else:
                    entries.append(_Entry(p, None, info))
            if len(entries) == n_before:
                raise DataNotFoundError(
                    f"{path}: no FLUXNET-family CSV files (FLX_*, AMF_*_FLUXNET_*, "
                    "ICOSETC_*_FLUXNET_*) in this folder or its sub-folders"
                )
        elif path.suffix.lower() == ".zip":
            more, why = _zip_entries(path)
            if not more:
                raise FileFormatError(
                    path,
                    "archive holds no FLUXNET-family CSV file",
                    expected="members named like FLX_{SITE}_FLUXNET2015_{PRODUCT}_{RES}_...csv",
                )
            entries += more
            skipped += why
        else:
            info = parse_fluxnet_filename(path.name)
            if not info.is_timeseries:
                raise FileFormatError(
                    path,
                    f"is a {info.product} file, which holds no time series",
                    expected="a FULLSET or SUBSET file of one resolution (HH, HR, DD, WW, MM, YY)",
                )
            entries.append(_Entry(path, None, info))
    return entries, skipped


def _select_entries(
    entries: list[_Entry],
    skipped: list[str],
    explicit: set[Path],
    sites: Sequence[str] | None,
    resolution: str | None,
) -> tuple[list[_Entry], str]:
    """Drop what is not asked for (reporting it) and check that one resolution remains."""
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ColumnError(
            "resolution", expected=f"one of {', '.join(RESOLUTIONS)}", found=repr(resolution)
        )
    keep: list[_Entry] = []
    seen: dict[str, str] = {}
    for e in entries:
        info = e.info
        named = e.member is None and e.path in explicit
        if not info.is_timeseries:
            skipped.append(f"{e.label}: {info.product} file (no time series)")
        elif info.product in _REANALYSIS_PRODUCTS and not named:
            skipped.append(
                f"{e.label}: {info.product} reanalysis product (pass the file itself to read it)"
            )
        elif sites is not None and info.site not in sites:
            continue
        elif resolution is not None and info.resolution != resolution:
            skipped.append(f"{e.label}: resolution {info.resolution}, not {resolution}")
        elif e.name in seen:
            skipped.append(f"{e.label}: same file name as {seen[e.name]}, read once")
        else:
            seen[e.name] = e.label
            keep.append(e)
    if sites is not None:
        found = {e.info.site for e in keep}
        missing = [s for s in sites if s not in found]
        if missing:
            available = sorted(
                {e.info.site for e in entries if e.info.is_timeseries}
                if resolution is None
                else {e.info.site for e in entries if e.info.resolution == resolution}
            )
            raise DataNotFoundError(
                f"no FLUXNET files for site(s) {missing}"
                + (f" at resolution {resolution}" if resolution else "")
                + f"; sites found: {', '.join(available) or 'none'}"
            )
    if not keep:
        raise DataNotFoundError(
            "no FLUXNET time-series file to read"
            + (f" at resolution {resolution}" if resolution else "")
            + (f"; skipped: {'; '.join(skipped[:5])}" if skipped else "")
        )
    by_res: dict[str, list[str]] = {}
    for e in keep:
        by_res.setdefault(str(e.info.resolution), []).append(e.name)
    if set(by_res) == {"HH", "HR"}:
        # half-hourly and hourly sites share the half-hourly axis (hourly values repeated on
        # both half-hours of their hour, record_minutes=60), as in the FLUXNET2015 Zarr store
        return keep, "HH"
    if len(by_res) > 1:
        listing = "; ".join(
            f"{res}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for res, names in sorted(by_res.items(), key=lambda kv: RESOLUTIONS.index(kv[0]))
        )
        raise TimestampError(
            f"mixed resolutions in one call ({listing}); pass resolution='HH' (or another "
            "code; command line: --resolution) to read one of them, a cube has one time step"
        )
    return keep, next(iter(by_res))


# --------------------------------------------------------------------------- one file
@contextmanager
def _open_text(entry: _Entry) -> Iterator[IO[str]]:
    if entry.member is None:
        with open(entry.path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            yield fh
    else:
        with zipfile.ZipFile(entry.path) as zf, zf.open(entry.member) as raw:
            yield io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="")


def _header(entry: _Entry) -> list[str]:
    try:
        with _open_text(entry) as fh:
            first = fh.readline()
            while first and not first.strip():
                first = fh.readline()
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise FileFormatError(entry.label, f"archive member is corrupt ({err})") from err
    if not first.strip():
        raise FileFormatError(
            entry.label, "file is empty", expected="a header line and data rows (ONEFlux CSV)"
        )
    return next(csv.reader([first]))  # names as pandas will see them (quotes removed)


def _timestamp_layout(header: list[str], label: str) -> list[str]:
    """The timestamp columns of a FLUXNET CSV header."""
    upper = {c.strip().upper(): c for c in header}
    if "TIMESTAMP_START" in upper and "TIMESTAMP_END" in upper:
        return [upper["TIMESTAMP_START"], upper["TIMESTAMP_END"]]
    if "TIMESTAMP" in upper:
        return [upper["TIMESTAMP"]]
    present = [c for c in header if c.strip().upper().startswith("TIMESTAMP")]
    raise ColumnError(
        "TIMESTAMP",
        file=label,
        expected=(
            "TIMESTAMP_START and TIMESTAMP_END (HH, HR: YYYYMMDDHHMM; WW: YYYYMMDD) or "
            "TIMESTAMP (DD: YYYYMMDD, MM: YYYYMM, YY: YYYY)"
        ),
        found=(
            f"only {present}"
            if present
            else f"no timestamp column (first columns: {', '.join(header[:5])})"
        ),
    )


def _column_plan(
    header: list[str], ts_cols: list[str], variables: Sequence[str] | None
) -> tuple[dict[str, str], list[str]]:
    """Canonical name -> source column (best-ranked alias, QC paired with it); unused columns."""
    candidates: dict[str, list[tuple[int, int, str]]] = {}
    qc_columns: dict[str, tuple[str, str]] = {}  # upper-case column -> (canonical qc, column)
    for pos, col in enumerate(header):
        if col in ts_cols:
            continue
        name = catalog.resolve_column(col.strip())
        if name is None:
            continue
        if name.endswith("_qc") and name.removesuffix("_qc") in catalog.variables():
            qc_columns[col.strip().upper()] = (name, col)
        else:
            candidates.setdefault(name, []).append((catalog.alias_rank(col.strip()), pos, col))
    plan: dict[str, str] = {}
    for name in catalog.names():
        if name not in candidates:
            continue
        col = min(candidates[name])[2]
        plan[name] = col
        qc = qc_columns.get(f"{col.strip().upper()}_QC")
        if qc is not None and qc[0] == f"{name}_qc":
            plan[qc[0]] = qc[1]
    if variables is not None:
        wanted = set(variables) | {catalog.qc_name(v) for v in variables}
        plan = {k: v for k, v in plan.items() if k in wanted}
        used = set(plan.values()) | set(ts_cols)
        # columns of other canonical variables were left out on purpose, not unused
        unused = [
            c for c in header if c not in used and catalog.resolve_column(c.strip()) is None and c
        ]
    else:
        used = set(plan.values()) | set(ts_cols)
        unused = [c for c in header if c not in used and c]
    return plan, unused


def _parse_stamps(text: np.ndarray, column: str, label: str) -> tuple[pd.DatetimeIndex, int]:
    """Parse one timestamp column given as strings of digits (YYYY[MM[DD[HHMM]]])."""
    text = np.char.strip(text.astype(str))
    empty = (text == "") | (text == "nan")
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise TimestampError(
            f"{label}: column {column!r}: empty timestamp on line {row + 2}; every row needs one"
        )
    lengths = np.char.str_len(text)
    width = int(lengths[0])
    if width not in _TS_FORMATS or (lengths != width).any():
        bad = int(np.flatnonzero(lengths != width)[0]) if width in _TS_FORMATS else 0
        raise TimestampError(
            f"{label}: column {column!r}: cannot parse {str(text[bad])!r} on line {bad + 2}; "
            "expected YYYYMMDDHHMM (HH/HR), YYYYMMDD (DD/WW), YYYYMM (MM) or YYYY (YY), "
            "the same width on every row"
        )
    parsed = pd.to_datetime(pd.Series(text), format=_TS_FORMATS[width], errors="coerce")
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise TimestampError(
            f"{label}: column {column!r}: cannot parse {str(text[bad])!r} on line {bad + 2} "
            f"as {_TS_DESCRIPTION[width]}"
        )
    return pd.DatetimeIndex(parsed).as_unit("ns"), width


def _stamp_text(values: np.ndarray, column: str, label: str) -> np.ndarray:
    """Timestamp digits from a float column (FLUXNET stamps are integers below 2**53)."""
    missing = np.isnan(values)
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise TimestampError(
            f"{label}: column {column!r}: empty timestamp on line {row + 2}; every row needs one"
        )
    whole = values.astype(np.int64)
    if (whole != values).any() or (whole < 0).any():
        row = int(np.flatnonzero((whole != values) | (whole < 0))[0])
        raise TimestampError(
            f"{label}: column {column!r}: cannot parse {float(values[row])!r} on line {row + 2}; "
            "expected YYYYMMDDHHMM, YYYYMMDD, YYYYMM or YYYY digits"
        )
    return whole.astype(str)


def _check_order(times: pd.DatetimeIndex, column: str, label: str) -> None:
    values = times.asi8
    steps = np.diff(values)
    if (steps == 0).any():
        i = int(np.flatnonzero(steps == 0)[0])
        raise TimestampError(
            f"{label}: column {column!r}: duplicated timestamp {times[i]} on lines {i + 2} and "
            f"{i + 3}; expected each period once"
        )
    if (steps < 0).any():
        i = int(np.flatnonzero(steps < 0)[0])
        raise TimestampError(
            f"{label}: column {column!r}: timestamps are not increasing: {times[i + 1]} on line "
            f"{i + 3} follows {times[i]}; expected rows in time order"
        )


def _week_ends(start: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Last day of each ONEFlux week (7 days from 1 January; the 52nd runs to 31 December)."""
    last_week = start.day_of_year == 358
    ends = start + pd.Timedelta(days=6)
    year_end = pd.to_datetime(start.year.astype(str) + "-12-31")
    return pd.DatetimeIndex(np.where(last_week, year_end, ends)).as_unit("ns")


def _detect_resolution(
    stamps: dict[str, pd.DatetimeIndex], widths: dict[str, int], ts_cols: list[str], label: str
) -> str:
    """Resolution code from the timestamp columns; checks their consistency."""
    if len(ts_cols) == 1:
        col = ts_cols[0]
        width = widths[col]
        if width not in _SINGLE_STAMP_RES:
            raise TimestampError(
                f"{label}: column {col!r} holds {_TS_DESCRIPTION[width]} stamps; a single "
                "TIMESTAMP column is expected as YYYYMMDD (DD), YYYYMM (MM) or YYYY (YY)"
            )
        return _SINGLE_STAMP_RES[width]
    c_start, c_end = ts_cols
    start, end = stamps[c_start], stamps[c_end]
    if widths[c_start] != widths[c_end]:
        raise TimestampError(
            f"{label}: {c_start!r} ({_TS_DESCRIPTION[widths[c_start]]}) and {c_end!r} "
            f"({_TS_DESCRIPTION[widths[c_end]]}) differ in form; expected both YYYYMMDDHHMM "
            "(HH/HR) or both YYYYMMDD (WW)"
        )
    width = widths[c_start]
    if width == 12:
        lengths = np.unique((end - start).asi8)
        if len(lengths) == 1 and lengths[0] == _STEP["HH"].value:
            res = "HH"
        elif len(lengths) == 1 and lengths[0] == _STEP["HR"].value:
            res = "HR"
        else:
            minutes = sorted({int(v // 60_000_000_000) for v in lengths})
            raise TimestampError(
                f"{label}: {c_end} - {c_start} is {minutes} minutes; expected 30 (HH) or 60 (HR) "
                "on every row"
            )
        offset = (start - start.normalize()).asi8 % _STEP[res].value
        if (offset != 0).any():
            i = int(np.flatnonzero(offset != 0)[0])
            raise TimestampError(
                f"{label}: {c_start} {start[i]} on line {i + 2} is not on the "
                f"{int(_STEP[res].total_seconds() // 60)}-minute grid of {res} records"
            )
        return res
    if width == 8:
        doy = start.day_of_year
        bad = ((doy - 1) % 7 != 0) | (doy > 358)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise TimestampError(
                f"{label}: {c_start} {start[i].date()} on line {i + 2} is not an ONEFlux week "
                "start; expected 1 January + 7k days (k = 0..51)"
            )
        bad = end != _week_ends(start)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise TimestampError(
                f"{label}: {c_end} {end[i].date()} on line {i + 2} does not end the week of "
                f"{start[i].date()}; expected 6 days later (31 December for the 52nd week)"
            )
        return "WW"
    raise TimestampError(
        f"{label}: {c_start}/{c_end} hold {_TS_DESCRIPTION[width]} stamps; expected "
        "YYYYMMDDHHMM (HH/HR) or YYYYMMDD (WW)"
    )


@dataclass
class _Part:
    """The values of one file, already on canonical names."""

    entry: _Entry
    resolution: str
    time: pd.DatetimeIndex
    values: dict[str, np.ndarray]
    columns: dict[str, str]
    unused: list[str]


def _diagnose(entry: _Entry, usecols: list[str], ts_cols: list[str]) -> None:
    """Find the cell that made the fast numeric read fail and raise an error naming it."""
    with _open_text(entry) as fh:
        frame = pd.read_csv(fh, usecols=usecols, dtype=str, keep_default_na=False)
    for col in ts_cols:
        _parse_stamps(frame[col].to_numpy(dtype=str), col, entry.label)
    for col in usecols:
        if col in ts_cols:
            continue
        text = frame[col].str.strip()
        number = pd.to_numeric(text, errors="coerce")
        bad = number.isna() & (text != "") & ~text.str.upper().isin(["NA", "NAN"])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ColumnError(
                col,
                file=entry.label,
                expected="numbers (-9999 for missing)",
                found=f"{text.iloc[i]!r} on line {i + 2}",
            )


def _read_frame(
    entry: _Entry, usecols: list[str], ts_cols: list[str]
) -> tuple[list[str], np.ndarray]:
    """The ``usecols`` of a FLUXNET CSV as one float64 array (rows, columns), vectorised."""
    try:
        try:
            with _open_text(entry) as fh:
                frame = pd.read_csv(fh, usecols=usecols, dtype=np.float64)
        except ValueError as err:
            if "Usecols" in str(err) or "usecols" in str(err):
                raise
            _diagnose(entry, usecols, ts_cols)
            raise FileFormatError(entry.label, f"cannot be read as numbers ({err})") from err
    except pd.errors.EmptyDataError as err:
        raise FileFormatError(
            entry.label, "file is empty", expected="a header line and data rows"
        ) from err
    except pd.errors.ParserError as err:
        raise FileFormatError(
            entry.label, f"is not a well-formed CSV ({err})", expected="comma-separated rows"
        ) from err
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise FileFormatError(entry.label, f"archive member is corrupt ({err})") from err
    return [str(c) for c in frame.columns], frame.to_numpy(dtype=np.float64)


def _read_entry(entry: _Entry, variables: Sequence[str] | None) -> _Part:
    label = entry.label
    header = _header(entry)
    ts_cols = _timestamp_layout(header, label)
    plan, unused = _column_plan(header, ts_cols, variables)
    usecols = ts_cols + list(dict.fromkeys(plan.values()))
    columns, data = _read_frame(entry, usecols, ts_cols)
    if data.shape[0] == 0:
        raise FileFormatError(label, "has a header but no data rows", expected="data rows")
    index = {c: i for i, c in enumerate(columns)}
    stamps, widths = {}, {}
    for col in ts_cols:
        text = _stamp_text(data[:, index[col]], col, label)
        stamps[col], widths[col] = _parse_stamps(text, col, label)
    resolution = _detect_resolution(stamps, widths, ts_cols, label)
    named = entry.info.resolution
    if named != resolution:
        layout = " and ".join(f"{c} ({_TS_DESCRIPTION[widths[c]]})" for c in ts_cols)
        raise FileFormatError(
            label,
            f"file name says resolution {named} but the timestamp columns {layout} are "
            f"{resolution}",
            expected="a file whose name and TIMESTAMP columns agree; rename it or fix the columns",
        )
    time = stamps[ts_cols[0]]
    _check_order(time, ts_cols[0], label)
    names = list(plan)
    block = data[:, [index[plan[n]] for n in names]]
    block[(block <= -9999.0) & (block >= -10000.0)] = np.nan  # -9999, -9999.0, -9999.99
    block = np.ascontiguousarray(block.astype(np.float32).T)
    values = {n: block[k] for k, n in enumerate(names)}
    return _Part(entry, resolution, time, values, dict(plan), unused)


def read_fluxnet_file(
    path: str | os.PathLike, *, variables: Sequence[str] | None = None
) -> tuple[pd.DataFrame, str]:
    """Read one FLUXNET-family CSV into a table on canonical names (no site cube).

    Parameters
    ----------
    path
        The CSV file (name in a FLUXNET-family convention).
    variables
        Canonical variables to keep (default: every catalog variable present).

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
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file")
    part = _read_entry(_Entry(path, None, parse_fluxnet_filename(path.name)), variables)
    frame = pd.DataFrame(part.values, index=pd.Index(part.time, name="time"))
    return frame, part.resolution


# --------------------------------------------------------------------------- site cube
def _time_axis(resolution: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """The regular axis of ``resolution`` from ``first`` to ``last`` (period starts)."""
    if resolution in _STEP:
        axis = pd.date_range(first, last, freq=_STEP[resolution])
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


def _join_site(parts: list[_Part]) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray], list[_Part]]:
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
    time: pd.DatetimeIndex, values: dict[str, np.ndarray], parts: list[_Part]
) -> tuple[pd.DatetimeIndex, dict[str, np.ndarray], list[_Part]]:
    """Put hourly records on the half-hourly axis: each value on both half-hours of its hour."""
    stamps = time.asi8[:, None] + np.array([0, _STEP["HH"].value])[None, :]
    half_hourly = pd.DatetimeIndex(stamps.ravel().view("M8[ns]"))
    return half_hourly, {n: np.repeat(v, 2) for n, v in values.items()}, parts


def _ordered_names(names: set[str]) -> list[str]:
    order = []
    for var in catalog.names():
        if var in names:
            order.append(var)
            if f"{var}_qc" in names:
                order.append(f"{var}_qc")
    order += sorted(n for n in names if n not in order)
    return order


def _citation(networks: set[str]) -> str:
    return " ".join(_CITATIONS[n] for n in sorted(networks))


def read_fluxnet(
    src: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    sites: Sequence[str] | None = None,
    variables: Sequence[str] | None = None,
    metadata: pd.DataFrame | str | os.PathLike | None = None,
    resolution: str | None = None,
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
        ``citation``, ``license``.

    Raises
    ------
    DataNotFoundError
        A path does not exist, a folder holds no FLUXNET file, an asked-for site or variable
        is absent.
    FileFormatError
        Unrecognised file name, empty file, corrupt zip, file name and timestamp columns
        disagreeing.
    ColumnError
        No TIMESTAMP / TIMESTAMP_START+TIMESTAMP_END column, a value that is not a number.
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
    if variables is not None:
        for v in variables:
            catalog.get(v)  # unknown canonical names raise, listing the known ones
    if sites is not None:
        sites = [sites] if isinstance(sites, str) else list(sites)
    paths = [Path(src)] if isinstance(src, str | os.PathLike) else [Path(p) for p in src]
    entries, skipped = _collect(paths)
    entries, res = _select_entries(entries, skipped, set(paths), sites, resolution)

    site_ids = list(sites) if sites is not None else sorted({e.info.site for e in entries})
    file_of = {e.info.site: e.name for e in entries}
    meta = site_coords(site_ids, metadata, require_coordinates=False)
    lacking = [
        s
        for s, lat, lon in zip(site_ids, meta.latitude, meta.longitude, strict=True)
        if np.isnan(lat) or np.isnan(lon)
    ]
    if lacking:
        where = (
            "the bundled FLUXNET2015 site list"
            if metadata is None
            else ("the metadata table" if isinstance(metadata, pd.DataFrame) else str(metadata))
        )
        raise MetadataError(
            f"site {lacking[0]!r} ({file_of[lacking[0]]}) has no coordinates in "
            f"{where}"
            + (
                f" (nor {len(lacking) - 1} more: {', '.join(lacking[1:6])})"
                if len(lacking) > 1
                else ""
            )
            + "; pass metadata= a flat table (site_id, latitude, longitude, elevation_m, igbp) "
            "or a BIF file that has them (command line: --metadata)"
        )

    from .._progress import track

    parts = [_read_entry(e, variables) for e in track(entries, desc="reading FLUXNET files")]

    by_site: dict[str, list[_Part]] = {}
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

    names = _ordered_names({n for t, v, _ in joined.values() for n in v})
    if variables is not None:
        absent = [v for v in variables if v not in names]
        if absent:
            raise DataNotFoundError(
                f"variables {absent} are in none of the files; found: {', '.join(names)}"
            )
    first = min(t[0] for t, _, _ in joined.values())
    last = max(t[-1] for t, _, _ in joined.values())
    axis = _time_axis(res, first, last)
    n_site, n_time = len(site_ids), len(axis)
    arrays = {n: np.full((n_site, n_time), np.nan, dtype=np.float32) for n in names}
    for i, s in enumerate(site_ids):
        time, values, _ = joined[s]
        pos = axis.get_indexer(time)  # stamps were checked to lie on the grid
        for n, v in values.items():
            arrays[n][i, pos] = v

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

    minutes = None
    if res in _STEP:
        minutes = [int(_STEP[site_res[s]].total_seconds() // 60) for s in site_ids]
    out = out.assign_coords(site_coordinates(site_ids, meta, record_minutes=minutes))
    out = out.assign_coords(time=("time", axis.to_numpy()))
    out["time"].attrs = {
        "long_name": (
            "start of averaging period (local standard time)"
            if res in _STEP
            else {
                "DD": "day (local standard time)",
                "WW": "first day of ONEFlux week (local standard time)",
                "MM": "first day of calendar month (local standard time)",
                "YY": "first day of calendar year (local standard time)",
            }[res]
        )
    }
    networks = {p.entry.info.network for p in parts}
    unused = sorted({c for p in parts for c in p.unused})
    out.attrs = {
        "title": "FLUXNET site cube",
        "source": f"{', '.join(sorted(networks))} CSV files (ONEFlux layout)",
        "source_files": "\n".join(p.entry.label for p in parts),
        "unused_columns": ", ".join(unused),
        "skipped_files": "\n".join(skipped),
        "citation": _citation(networks),
        "license": "CC-BY-4.0",
        "resolution": res,
        "time_zone": "local standard time",
        "time_label": "start",
        "Conventions": "CF-1.8",
        "history": f"fluxgrid.read_fluxnet: {len(parts)} file(s), {n_site} site(s)",
    }
    return out
