"""One FLUXNET-family CSV: header, timestamp columns, column plan, values on canonical names.

The second stage of :func:`fluxgrid.io.fluxnet.read_fluxnet`: :func:`read_entry` reads one
file (plain or inside an archive, see :mod:`fluxgrid.io.fluxnet_files`) with one vectorised
numeric ``read_csv`` of the columns it needs, parses the timestamp columns, checks that the
resolution they show is the one the file name says, and returns the values as float32 arrays
on canonical names (-9999 as NaN) in a :class:`FilePart`. Where the fast read fails, the
file is read again as text to name the offending cell.

Timestamps (local standard time): HH and HR files have ``TIMESTAMP_START`` /
``TIMESTAMP_END`` as YYYYMMDDHHMM; WW files the same columns as YYYYMMDD (ONEFlux weeks start
on 1 January, the 52nd runs to 31 December, :func:`week_ends`); DD, MM and YY files one
``TIMESTAMP`` column as YYYYMMDD, YYYYMM or YYYY.

Examples
--------
>>> import pandas as pd
>>> week_ends(pd.DatetimeIndex(["2001-01-01", "2001-12-24"])).strftime("%m-%d").tolist()
['01-07', '12-31']
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import catalog
from ..errors import ColumnError, FileFormatError, TimestampError
from .fluxnet_files import FluxnetEntry, open_bytes, open_text

__all__ = [
    "RECORD_STEPS",
    "FilePart",
    "TornRecord",
    "binary_kind",
    "check_unique_names",
    "excerpt",
    "read_entry",
    "torn_last_record",
    "week_ends",
]

#: length of one record of the sub-daily resolutions
RECORD_STEPS = {"HH": pd.Timedelta(minutes=30), "HR": pd.Timedelta(hours=1)}
_TS_FORMATS = {12: "%Y%m%d%H%M", 8: "%Y%m%d", 6: "%Y%m", 4: "%Y"}
_TS_DESCRIPTION = {12: "YYYYMMDDHHMM", 8: "YYYYMMDD", 6: "YYYYMM", 4: "YYYY"}
_SINGLE_STAMP_RES = {8: "DD", 6: "MM", 4: "YY"}
#: archive members can fail while being read, not only when opened
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


# --------------------------------------------------------------------------- header
#: what a file that is not text may be, by its first bytes
_SIGNATURES = {
    b"PK\x03\x04": "a zip archive (or an .xlsx workbook)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"\x89HDF": "a NetCDF-4 / HDF5 file",
    b"CDF\x01": "a NetCDF-3 file",
    b"CDF\x02": "a NetCDF-3 file",
    b"\x1f\x8b": "a gzip file",
    b"PAR1": "a Parquet file",
}


def excerpt(text: str, limit: int = 40) -> str:
    r"""A cell or line quoted in a message: escaped (non-ASCII as ``\x..``), at most ``limit``.

    Examples
    --------
    >>> print(excerpt("20100101"))
    '20100101'
    >>> print(excerpt("\x00\x01" + "x" * 60, limit=8))
    '\x00\x01xxxxxx'... (62 characters)
    """
    quoted = ascii(text[:limit])
    return quoted if len(text) <= limit else f"{quoted}... ({len(text)} characters)"


def binary_kind(head: bytes) -> str | None:
    r"""What the first bytes of a file say it is when it is not text, else ``None``.

    Examples
    --------
    >>> binary_kind(b"PK\x03\x04..."), binary_kind(b"TIMESTAMP,TA_F\n")
    ('a zip archive (or an .xlsx workbook)', None)
    """
    kind = next((k for sig, k in _SIGNATURES.items() if head.startswith(sig)), None)
    if kind is None and b"\x00" in head:
        kind = "a binary file"
    return kind


def _check_text(entry: FluxnetEntry) -> None:
    """Refuse a file that is not text (NUL bytes, a known binary signature)."""
    try:
        with open_bytes(entry) as fh:
            head = fh.read(8192)
    except _ZIP_ERRORS as err:
        raise FileFormatError(entry.label, f"archive member is corrupt ({err})") from err
    kind = binary_kind(head)
    if kind is None:
        return
    raise FileFormatError(
        entry.label,
        f"is {kind}, not a CSV text file (first bytes {head[:16]!a})",
        expected="a FLUXNET CSV (ONEFlux layout, comma-separated text); extract or convert it",
    )


def _header(entry: FluxnetEntry) -> list[str]:
    _check_text(entry)
    try:
        with open_text(entry) as fh:
            first = fh.readline()
            while first and not first.strip():
                first = fh.readline()
    except _ZIP_ERRORS as err:
        raise FileFormatError(entry.label, f"archive member is corrupt ({err})") from err
    if not first.strip():
        raise FileFormatError(
            entry.label, "file is empty", expected="a header line and data rows (ONEFlux CSV)"
        )
    names = next(csv.reader([first]))  # names as pandas will see them (quotes removed)
    check_unique_names(names, entry.label)
    return names


def check_unique_names(names: Sequence[Any], source: str | Path, *, unit: str = "fields") -> None:
    """Refuse a header that names a column twice (pandas would rename the second, unread).

    Parameters
    ----------
    names
        The header's names in file order; blank and missing (NaN) names are passed over.
    source
        The file (or archive member) the error names.
    unit
        What the error calls the 1-based positions it gives: ``"fields"`` or ``"columns"``.

    Raises
    ------
    ColumnError
        A name (stripped of white space) stands twice.

    Examples
    --------
    >>> check_unique_names(["TIMESTAMP", "TA_F", ""], "site.csv")
    >>> check_unique_names(["TIMESTAMP", "TA_F", " TA_F"], "site.csv")
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ColumnError: site.csv: column 'TA_F': expected each column once in the \
header, found it twice (fields 2 and 3); remove or rename one
    """
    seen: dict[str, int] = {}
    for pos, name in enumerate(names):
        key = "" if pd.isna(name) else str(name).strip()
        if not key:
            continue
        if key in seen:
            raise ColumnError(
                key,
                file=source,
                expected="each column once in the header",
                found=f"it twice ({unit} {seen[key] + 1} and {pos + 1}); remove or rename one",
            )
        seen[key] = pos


# --------------------------------------------------------------------------- torn last line
#: bytes read from the end of a file to find its last line (a ONEFlux line is a few KB)
_TAIL_BYTES = 1 << 20


@dataclass(frozen=True)
class TornRecord:
    """The last line of a file, cut short (a truncated download or copy).

    Attributes
    ----------
    line
        Its line number (1 is the first line of the file).
    problem
        What is wrong with it (field count, no final newline).
    stop
        Byte offset where it starts: the file read up to here holds only complete lines.
    """

    line: int
    problem: str
    stop: int


def _line_number(entry: FluxnetEntry, stop: int) -> int:
    """Line number of the line starting at byte ``stop`` (counted only for a torn file)."""
    count = 0
    with open_bytes(entry) as fh:
        left = stop
        while left > 0:
            chunk = fh.read(min(left, 1 << 22))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count + 1


def torn_last_record(entry: FluxnetEntry, n_fields: int) -> TornRecord | None:
    """The last line of a CSV if it is cut short, else ``None``.

    A line is torn when its number of fields differs from the header's (``n_fields``), or
    when the file does not end with a newline (its last value may be cut in the middle).

    Parameters
    ----------
    entry
        The file (plain or an archive member).
    n_fields
        Number of fields of the header.

    Returns
    -------
    TornRecord or None
        Line number, problem and the byte offset where the torn line starts.
    """
    try:
        with open_bytes(entry) as fh:
            size = fh.seek(0, io.SEEK_END)
            start = max(0, size - _TAIL_BYTES)
            fh.seek(start)
            tail = fh.read()
    except _ZIP_ERRORS as err:
        raise FileFormatError(entry.label, f"archive member is corrupt ({err})") from err
    body = tail.rstrip(b"\r\n")
    cut = body.rfind(b"\n")
    if cut < 0 or (start == 0 and not body[:cut].strip()):
        return None  # one line only (the header; no data rows is refused later)
    last = body[cut + 1 :]
    fields = len(next(csv.reader([last.decode("utf-8", "replace")]), []))
    if fields != n_fields:
        problem = (
            f"has {fields} field{'s' if fields != 1 else ''} but the header has {n_fields}: "
            "the file was cut short (truncated download or copy)"
        )
    elif len(body) == len(tail):
        problem = "does not end with a newline, so its last value may be cut short"
    else:
        return None
    stop = start + cut + 1
    return TornRecord(_line_number(entry, stop), problem, stop)


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
            else f"no timestamp column (first columns: {', '.join(excerpt(c) for c in header[:5])})"
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
        cell = excerpt(str(text[bad]))
        raise TimestampError(
            f"{label}: column {column!r}: cannot parse {cell} on line {bad + 2}; "
            "expected YYYYMMDDHHMM (HH/HR), YYYYMMDD (DD/WW), YYYYMM (MM) or YYYY (YY), "
            "the same width on every row"
        )
    parsed = pd.to_datetime(pd.Series(text), format=_TS_FORMATS[width], errors="coerce")
    if parsed.isna().any():
        bad = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise TimestampError(
            f"{label}: column {column!r}: cannot parse {excerpt(str(text[bad]))} on line {bad + 2} "
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


def week_ends(start: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Last day of each ONEFlux week (7 days from 1 January; the 52nd runs to 31 December).

    Parameters
    ----------
    start
        First days of ONEFlux weeks (1 January + 7k days, k = 0..51).

    Returns
    -------
    pandas.DatetimeIndex
        The matching last days (``TIMESTAMP_END`` of a WW file), nanosecond unit.

    Examples
    --------
    >>> week_ends(pd.DatetimeIndex(["2004-01-01", "2004-12-23"])).strftime("%m-%d").tolist()
    ['01-07', '12-31']
    """
    last_week = start.day_of_year == 358
    ends = start + pd.Timedelta(days=6)
    year_end = pd.to_datetime(start.year.astype(str) + "-12-31")
    return pd.DatetimeIndex(np.where(last_week, year_end, ends)).as_unit("ns")


def _subdaily_resolution(
    start: pd.DatetimeIndex, end: pd.DatetimeIndex, c_start: str, c_end: str, label: str
) -> str:
    """HH or HR from the record length; checks that the starts lie on the record grid."""
    lengths = np.unique((end - start).asi8)
    if len(lengths) == 1 and lengths[0] == RECORD_STEPS["HH"].value:
        res = "HH"
    elif len(lengths) == 1 and lengths[0] == RECORD_STEPS["HR"].value:
        res = "HR"
    else:
        minutes = sorted({int(v // 60_000_000_000) for v in lengths})
        raise TimestampError(
            f"{label}: {c_end} - {c_start} is {minutes} minutes; expected 30 (HH) or 60 (HR) "
            "on every row"
        )
    offset = (start - start.normalize()).asi8 % RECORD_STEPS[res].value
    if (offset != 0).any():
        i = int(np.flatnonzero(offset != 0)[0])
        raise TimestampError(
            f"{label}: {c_start} {start[i]} on line {i + 2} is not on the "
            f"{int(RECORD_STEPS[res].total_seconds() // 60)}-minute grid of {res} records"
        )
    return res


def _check_weeks(
    start: pd.DatetimeIndex, end: pd.DatetimeIndex, c_start: str, c_end: str, label: str
) -> None:
    """Every row of a WW file is one ONEFlux week."""
    doy = start.day_of_year
    bad = ((doy - 1) % 7 != 0) | (doy > 358)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TimestampError(
            f"{label}: {c_start} {start[i].date()} on line {i + 2} is not an ONEFlux week "
            "start; expected 1 January + 7k days (k = 0..51)"
        )
    bad = end != week_ends(start)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise TimestampError(
            f"{label}: {c_end} {end[i].date()} on line {i + 2} does not end the week of "
            f"{start[i].date()}; expected 6 days later (31 December for the 52nd week)"
        )


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
        return _subdaily_resolution(start, end, c_start, c_end, label)
    if width == 8:
        _check_weeks(start, end, c_start, c_end, label)
        return "WW"
    raise TimestampError(
        f"{label}: {c_start}/{c_end} hold {_TS_DESCRIPTION[width]} stamps; expected "
        "YYYYMMDDHHMM (HH/HR) or YYYYMMDD (WW)"
    )


@dataclass
class FilePart:
    """The values of one file, already on canonical names.

    Attributes
    ----------
    entry
        The file read.
    resolution
        Its resolution code, as the timestamp columns show it.
    time
        Period starts (local standard time), ``(time,)``, increasing.
    values
        Canonical name -> float32 ``(time,)`` in FLUXNET units (NaN where the file has -9999).
    columns
        Canonical name -> the source column it came from.
    unused
        Source columns that no canonical variable took.
    dropped
        ``"label: line N dropped (why)"`` for a torn last line left out on request.
    """

    entry: FluxnetEntry
    resolution: str
    time: pd.DatetimeIndex
    values: dict[str, np.ndarray]
    columns: dict[str, str]
    unused: list[str]
    dropped: list[str] = field(default_factory=list)


def _diagnose(
    entry: FluxnetEntry, usecols: list[str], ts_cols: list[str], stop: int | None
) -> None:
    """Find the cell that made the fast numeric read fail and raise an error naming it."""
    with open_text(entry, stop) as fh:
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
                found=f"{excerpt(text.iloc[i])} on line {i + 2}",
            )


def _read_frame(
    entry: FluxnetEntry, usecols: list[str], ts_cols: list[str], stop: int | None = None
) -> tuple[list[str], np.ndarray]:
    """The ``usecols`` of a FLUXNET CSV as one float64 array (rows, columns), vectorised.

    ``stop``: read only the bytes before this offset (a torn last line left out).
    """
    try:
        try:
            with open_text(entry, stop) as fh:
                frame = pd.read_csv(fh, usecols=usecols, dtype=np.float64)
        except ValueError as err:
            if "Usecols" in str(err) or "usecols" in str(err):
                raise
            _diagnose(entry, usecols, ts_cols, stop)
            raise FileFormatError(entry.label, f"cannot be read as numbers ({err})") from err
    except pd.errors.EmptyDataError as err:
        raise FileFormatError(
            entry.label, "file is empty", expected="a header line and data rows"
        ) from err
    except pd.errors.ParserError as err:
        raise FileFormatError(
            entry.label, f"is not a well-formed CSV ({err})", expected="comma-separated rows"
        ) from err
    except _ZIP_ERRORS as err:
        raise FileFormatError(entry.label, f"archive member is corrupt ({err})") from err
    return [str(c) for c in frame.columns], frame.to_numpy(dtype=np.float64)


def _stamps(
    data: np.ndarray, index: dict[str, int], ts_cols: list[str], entry: FluxnetEntry
) -> tuple[pd.DatetimeIndex, str]:
    """Period starts and resolution of a file; the name and the columns must agree."""
    label = entry.label
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
    return time, resolution


def _torn_stop(entry: FluxnetEntry, n_fields: int, drop: bool) -> tuple[int | None, list[str]]:
    """Where to stop reading (a torn last line left out on request) and what was dropped."""
    torn = torn_last_record(entry, n_fields)
    if torn is None:
        return None, []
    if not drop:
        raise FileFormatError(
            entry.label,
            f"last line (line {torn.line}) {torn.problem}",
            expected=(
                "complete lines; download or copy the file again, or pass "
                "drop_torn_last_line=True (command line: --drop-torn-last-line) to leave "
                f"line {torn.line} out"
            ),
        )
    return torn.stop, [f"{entry.label}: line {torn.line} dropped (it {torn.problem})"]


def read_entry(
    entry: FluxnetEntry, variables: Sequence[str] | None, *, drop_torn_last_line: bool = False
) -> FilePart:
    """Read one FLUXNET-family CSV (plain or an archive member) onto canonical names.

    Parameters
    ----------
    entry
        The file (:func:`fluxgrid.io.fluxnet_files.collect_entries`).
    variables
        Canonical variables to keep with their QC companions (``None``: every catalog
        variable present).
    drop_torn_last_line
        Leave out a last line that is cut short (see :func:`torn_last_record`) and say so
        in :attr:`FilePart.dropped`; by default such a file is refused.

    Returns
    -------
    FilePart
        Period starts, resolution and float32 values per canonical name.

    Raises
    ------
    FileFormatError
        Empty file, no data rows, corrupt archive member, name and timestamps disagreeing,
        a torn last line (unless ``drop_torn_last_line``).
    ColumnError
        No timestamp column, a column given twice, a value that is not a number.
    TimestampError
        Unparseable, duplicated, decreasing or off-grid timestamps.

    Examples
    --------
    >>> from fluxgrid.io.fluxnet_files import collect_entries
    >>> entries, _ = collect_entries("../shared/data/fluxnet2015/mm")  # doctest: +SKIP
    >>> read_entry(entries[0], ["ta"]).values["ta"].dtype  # doctest: +SKIP
    dtype('float32')
    """
    label = entry.label
    header = _header(entry)
    ts_cols = _timestamp_layout(header, label)
    plan, unused = _column_plan(header, ts_cols, variables)
    stop, dropped = _torn_stop(entry, len(header), drop_torn_last_line)
    usecols = ts_cols + list(dict.fromkeys(plan.values()))
    columns, data = _read_frame(entry, usecols, ts_cols, stop)
    if data.shape[0] == 0:
        raise FileFormatError(label, "has a header but no data rows", expected="data rows")
    index = {c: i for i, c in enumerate(columns)}
    time, resolution = _stamps(data, index, ts_cols, entry)
    names = list(plan)
    block = data[:, [index[plan[n]] for n in names]]
    block[(block <= -9999.0) & (block >= -10000.0)] = np.nan  # -9999, -9999.0, -9999.99
    block = np.ascontiguousarray(block.astype(np.float32).T)
    values = {n: block[k] for k, n in enumerate(names)}
    return FilePart(entry, resolution, time, values, dict(plan), unused, dropped)
