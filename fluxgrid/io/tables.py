"""Plain tables (CSV or Excel) with a column map: networks without the ONEFlux layout.

Many networks (ChinaFLUX exports, national archives, a PI's spreadsheet) publish daily or
monthly tables with their own column names and units. A *column map* (a YAML file or a dict)
says, per source column, the canonical fluxgrid name and the source units; where the time
stamps and the site ID are; which values mean missing. :func:`read_table` converts every
column to canonical units once (:func:`fluxgrid.catalog.units.convert`) and returns the same
site cube as :func:`fluxgrid.io.fluxnet.read_fluxnet` (resolution DD or MM).

The column map's keys (site or site column, resolution, time columns, source columns with
their canonical names and units, missing values, rows to skip, Excel sheet, coordinates of
sites missing from the metadata, citation, licence) are described in
:mod:`fluxgrid.io.column_map`, which checks a map before any table is read.

Totals per period without a time unit ("mm", "gC m-2") mean per day in a daily table and per
calendar month in a monthly table; totals per month (``gC m-2 mon-1``, ``mm mon-1``) become
daily rates using the number of days of each month, so every output is in the canonical
daily-rate units (``catalog.units_for(name, "DD")``: gC m-2 d-1, mm d-1, W m-2, hPa, ...).

Examples
--------
>>> import pandas as pd, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> pd.DataFrame({"Date": ["2010-01-01", "2010-01-02"], "Ta": [1.5, 2.0],
...               "Rg": [8.64, 4.32]}).to_csv(folder / "t.csv", index=False)
>>> cube = read_table(folder / "t.csv", {
...     "site": "US-MMS", "resolution": "DD", "time": {"column": "Date"},
...     "columns": {"Ta": {"name": "ta", "units": "degC"},
...                 "Rg": {"name": "sw_in", "units": "MJ m-2 d-1"}}})
>>> cube.sw_in.values.round(1).tolist()
[[100.0, 50.0]]
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from .._lazy import lazy_import
from ..catalog.units import convert, normalise, same_dimension
from ..errors import (
    ColumnError,
    DataNotFoundError,
    FileFormatError,
    MetadataError,
    TimestampError,
    UnitError,
)
from .column_map import ColumnMap, ColumnSpec, SiteSpec, TimeSpec, load_column_map
from .fluxnet_csv import binary_kind, check_unique_names, excerpt
from .fluxnet_files import source_paths
from .metadata import METADATA_COLUMNS, read_site_metadata, site_coordinates, site_coords

__all__ = ["ColumnMap", "ColumnSpec", "SiteSpec", "TimeSpec", "load_column_map", "read_table"]

_QC_UNITS = {"": 1.0, "1": 1.0, "-": 1.0, "fraction": 1.0, "%": 0.01, "percent": 0.01}
# totals per period without a time unit: per day in DD tables, per month in MM tables
_PERIOD_TOTALS = {
    "mm": ("mm d-1", "mm mon-1"),
    "gc m-2": ("gC m-2 d-1", "gC m-2 mon-1"),
    "g c m-2": ("gC m-2 d-1", "gC m-2 mon-1"),
    "gc/m2": ("gC m-2 d-1", "gC m-2 mon-1"),
}


# --------------------------------------------------------------------------- reading
def _read_checked(
    read: Callable[..., pd.DataFrame],
    source: Any,
    path: Path,
    missing: list[str],
    options: Mapping[str, Any],
    *,
    head: Mapping[str, Any] | None = None,
    body: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """``read(source, **options, **body)`` once the header line names each column once.

    The header line alone is read first (``read(source, header=None, nrows=1, **options,
    **head)``): pandas would rename a second ``TA_F`` and it would go unread. ``missing`` are
    the cell values read as NaN (and only those).
    """
    first = read(source, header=None, nrows=1, **options, **(head or {}))
    check_unique_names(first.iloc[0].tolist() if len(first) else [], path, unit="columns")
    return read(source, na_values=missing, keep_default_na=False, **options, **(body or {}))


def _read_raw(path: Path, cmap: ColumnMap, sheet: str | int | None) -> pd.DataFrame:
    missing = [str(v) for v in cmap.missing_values]
    skip = list(cmap.skip_rows) or None
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            sheet = sheet if sheet is not None else cmap.sheet
            if isinstance(sheet, str) and sheet.isdigit():
                sheet = int(sheet)
            if path.suffix.lower() != ".xls":  # pandas reads .xlsx/.xlsm with openpyxl
                lazy_import("openpyxl")
            with pd.ExcelFile(path) as book:
                if (
                    sheet is not None
                    and not isinstance(sheet, int)
                    and sheet not in book.sheet_names
                ):
                    raise FileFormatError(
                        path,
                        f"has no sheet {sheet!r}",
                        expected=f"one of {book.sheet_names}",
                    )
                options = {"sheet_name": sheet if sheet is not None else 0, "skiprows": skip}
                frame = _read_checked(pd.read_excel, book, path, missing, options)
        else:
            with open(path, "rb") as fh:
                kind = binary_kind(fh.read(8192))
            if kind is not None:
                raise FileFormatError(
                    path,
                    f"is {kind}, not a text table",
                    expected="a CSV text file, or an Excel workbook named .xlsx/.xls",
                )
            options = {"sep": cmap.delimiter, "encoding": cmap.encoding, "skiprows": skip}
            frame = _read_checked(
                pd.read_csv,
                path,
                path,
                missing,
                options,
                head={"dtype": str},
                body={"skipinitialspace": True},
            )
    except pd.errors.EmptyDataError as err:
        raise FileFormatError(path, "file is empty", expected="a header line and rows") from err
    except pd.errors.ParserError as err:
        raise FileFormatError(path, f"is not a well-formed table ({err})") from err
    except (ValueError, OSError, UnicodeDecodeError) as err:
        if isinstance(err, FileFormatError):
            raise
        raise FileFormatError(
            path, f"cannot be read ({err})", expected="a CSV file or an Excel workbook"
        ) from err
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise FileFormatError(path, "has a header but no rows", expected="data rows")
    return frame


def _require_columns(frame: pd.DataFrame, cmap: ColumnMap, path: Path) -> None:
    needed = list(cmap.columns) + cmap.time.source_columns()
    if cmap.site_column is not None:
        needed.append(cmap.site_column)
    have = list(frame.columns)
    for col in needed:
        if col not in have:
            raise ColumnError(
                col,
                file=path,
                expected="a column of the table (it is named in the column map)",
                found=f"columns {', '.join(have)}",
            )


def _numeric(series: pd.Series, column: str, path: Path, missing: set[float]) -> np.ndarray:
    """Numbers of one column; text that is neither a number nor a missing marker raises."""
    values = pd.to_numeric(series, errors="coerce")
    bad = values.isna() & series.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ColumnError(
            column,
            file=path,
            expected="numbers or a missing-value marker of the column map",
            found=f"{excerpt(str(series.iloc[i]))} in data row {i + 1}",
        )
    out = np.array(values.to_numpy(dtype="float64", na_value=np.nan), dtype="float64")
    if missing:
        out[np.isin(out, list(missing))] = np.nan
    return out


def _parse_time(frame: pd.DataFrame, spec: TimeSpec, path: Path) -> pd.DatetimeIndex:
    if spec.column is not None:
        raw = frame[spec.column]
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = pd.to_datetime(raw)
            text = raw.astype(str)
        else:
            text = raw.astype(str).str.strip()
            if spec.format is not None:
                parsed = pd.to_datetime(text, format=spec.format, errors="coerce")
            else:
                try:
                    parsed = pd.to_datetime(text, errors="coerce")
                except ValueError as err:
                    raise TimestampError(
                        f"{path}: column {spec.column!r}: cannot infer the date format ({err}); "
                        "give time.format in the column map, e.g. '%Y-%m-%d'"
                    ) from err
        what, column = (spec.format or "a date"), spec.column
    else:
        year = _numeric(frame[spec.year], spec.year, path, set())
        parts = {"year": year}
        column = spec.year
        if spec.doy is not None:
            doy = _numeric(frame[spec.doy], spec.doy, path, set())
            jan1 = pd.to_datetime(
                pd.DataFrame({"year": year, "month": 1, "day": 1}), errors="coerce"
            )
            parsed = jan1 + pd.to_timedelta(doy - 1, unit="D")
            bad_doy = (doy < 1) | (doy > 366) | (parsed.dt.year.to_numpy() != year)
            parsed[bad_doy] = pd.NaT
            text = pd.Series([f"{y:g} doy {d:g}" for y, d in zip(year, doy, strict=True)])
            what = "year and day of year"
        else:
            parts["month"] = _numeric(frame[spec.month], spec.month, path, set())
            parts["day"] = (
                _numeric(frame[spec.day], spec.day, path, set()) if spec.day else np.ones_like(year)
            )
            parsed = pd.to_datetime(pd.DataFrame(parts), errors="coerce")
            text = pd.Series(
                ["-".join(f"{v:g}" for v in row) for row in zip(*parts.values(), strict=True)]
            )
            what = "year, month" + (", day" if spec.day else "")
    if parsed.isna().any():
        i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
        raise TimestampError(
            f"{path}: column {column!r}: cannot parse {excerpt(str(text.iloc[i]))} (data row "
            f"{i + 1}) as "
            f"{what}; fix the table or time.format in the column map"
        )
    return pd.DatetimeIndex(parsed).as_unit("ns")


def _stamp_resolutions(time: pd.DatetimeIndex, site_idx: np.ndarray) -> set[str]:
    """What the spacing of each site's stamps shows: ``DD``, ``MM`` or ``"N-day steps"``.

    Sites with a single row show nothing.
    """
    found = set()
    for s in np.unique(site_idx):
        t = np.unique(time[site_idx == s].normalize().asi8)
        if t.size < 2:
            continue
        steps = np.diff(t) // (86_400 * 10**9)
        if steps.min() == 1:
            found.add("DD")
        elif steps.min() >= 28 and pd.DatetimeIndex(t).to_period("M").is_unique:
            found.add("MM")
        else:
            found.add(f"{steps.min()}-day steps")
    return found


_SHOWN = {"DD": "daily (DD)", "MM": "monthly (MM)"}


def _resolution(
    declared: str | None, time: pd.DatetimeIndex, site_idx: np.ndarray, path: Path, where: str
) -> str:
    """The table's resolution: the declared one, checked against the stamps, or detected."""
    found = _stamp_resolutions(time, site_idx)
    if declared is not None:
        # sparse daily rows (one on the 15th of each month) are daily data; rows a month
        # apart, all on the 1st (year/month columns), are months
        monthly = found == {"MM"} and bool((time.day == 1).all())
        if (declared == "MM" and found - {"MM"}) or (declared == "DD" and monthly):
            shown = ", ".join(_SHOWN.get(f, f) for f in sorted(found))
            fix = (
                f"set resolution: {next(iter(found))}"
                if len(found) == 1 and found <= {"DD", "MM"}
                else "fix the time columns"
            )
            raise TimestampError(
                f"{where}: resolution: {declared} is declared, but the time stamps of {path} "
                f"are {shown}; {fix} in the column map (or leave resolution out to detect it)"
            )
        return declared
    if len(found) != 1 or not found <= {"DD", "MM"}:
        raise TimestampError(
            f"{path}: cannot tell the resolution from the time stamps (found "
            f"{', '.join(sorted(found)) or 'a single row per site'}); set resolution: DD or MM "
            "in the column map"
        )
    return found.pop()


def _target_units(name: str, units: str, res: str, column: str, path: Path) -> tuple[str, str]:
    """(source units in canonical spelling, canonical target units) for one column."""
    target = catalog.units_for(name, res)
    key = " ".join(str(units).strip().lower().split())
    if key in _PERIOD_TOTALS:
        if catalog.get(name).aggregation != "sum" and not catalog.get(name).carbon:
            raise UnitError(
                f"{path}: column {column!r} ({name}): {units!r} is a total per period, which "
                f"does not fit {name}; expected units like {target!r}"
            )
        return _PERIOD_TOTALS[key][0 if res == "DD" else 1], target
    if not key:
        raise UnitError(
            f"{path}: column {column!r} ({name}) has no units in the column map; give them "
            f"(canonical: {target!r})"
        )
    try:
        src = normalise(units)
    except UnitError as err:
        raise UnitError(f"{path}: column {column!r} ({name}): {err}") from None
    if not same_dimension(src, target):
        raise UnitError(
            f"{path}: column {column!r} ({name}): cannot convert {units!r} to {target!r} "
            "(different quantities); check the units in the column map"
        )
    return src, target


def _metadata_rows(
    site_ids: list[str], metadata: pd.DataFrame | str | os.PathLike | None, cmap: ColumnMap
) -> pd.DataFrame:
    from_map = pd.DataFrame(
        {
            "site_name": [s.name for s in cmap.sites.values()],
            "latitude": [s.latitude for s in cmap.sites.values()],
            "longitude": [s.longitude for s in cmap.sites.values()],
            "elevation_m": [s.elevation for s in cmap.sites.values()],
            "igbp": [s.igbp for s in cmap.sites.values()],
            "utc_offset": [s.utc_offset for s in cmap.sites.values()],
        },
        index=pd.Index(list(cmap.sites), name="site_id"),
    ).astype({c: "float64" for c in ("latitude", "longitude", "elevation_m", "utc_offset")})
    if metadata is None:
        primary = from_map.combine_first(read_site_metadata())[METADATA_COLUMNS]
        rows = site_coords(site_ids, primary, require_coordinates=False)
        where = "the column map 'sites' nor the bundled FLUXNET2015 site list"
    else:
        rows = site_coords(site_ids, metadata, fallback=from_map, require_coordinates=False)
        for col in ("igbp", "site_name"):  # '' means unknown in metadata tables
            known = from_map[col].reindex(rows.index).fillna("")
            rows[col] = rows[col].where(rows[col] != "", known)
        where = "the metadata table nor the column map 'sites'"
    lacking = [
        s
        for s in site_ids
        if np.isnan(rows.loc[s, "latitude"]) or np.isnan(rows.loc[s, "longitude"])
    ]
    if lacking:
        raise MetadataError(
            f"site {lacking[0]!r} has no coordinates in {where}; add it under 'sites:' in "
            "the column map (latitude, longitude, elevation, igbp) or pass metadata= a table"
        )
    return rows


def _site_codes(frame: pd.DataFrame, cmap: ColumnMap, path: Path) -> tuple[np.ndarray, list[str]]:
    """Site index of each row and the site IDs, in order of first appearance."""
    if cmap.site_column is None:
        return np.zeros(len(frame), dtype=np.int64), [str(cmap.site)]
    site_text = frame[cmap.site_column].astype("string").str.strip()
    if site_text.isna().any() or (site_text == "").any():
        i = int(np.flatnonzero((site_text.isna() | (site_text == "")).to_numpy())[0])
        raise ColumnError(
            cmap.site_column,
            file=path,
            expected="a site ID on every row",
            found=f"an empty cell in data row {i + 1}",
        )
    codes, uniques = pd.factorize(site_text.to_numpy(dtype=object))
    return codes, [str(s) for s in uniques]


def _check_unique(
    codes: np.ndarray, time: pd.DatetimeIndex, site_ids: list[str], res: str, path: Path
) -> None:
    """One row per site and period."""
    key = pd.MultiIndex.from_arrays([codes, time.asi8])
    dup = key.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero((codes == codes[i]) & (time.asi8 == time.asi8[i]))[0])
        raise TimestampError(
            f"{path}: site {site_ids[codes[i]]!r} has {time[i].date()} twice (data rows "
            f"{first + 1} and {i + 1}); expected one row per site and "
            f"{'day' if res == 'DD' else 'month'}"
        )


def _missing_numbers(cmap: ColumnMap) -> set[float]:
    """The numeric missing-value markers of the map (text markers are read as NaN already)."""
    numbers = set()
    for v in cmap.missing_values:
        try:
            number = float(v)
        except (TypeError, ValueError):
            continue
        if not np.isnan(number):
            numbers.add(number)
    return numbers


def _convert_columns(
    frame: pd.DataFrame, cmap: ColumnMap, time: pd.DatetimeIndex, res: str, path: Path
) -> tuple[dict[str, np.ndarray], dict[str, dict[str, str]]]:
    """Every mapped column in canonical units (QC as fractions), with its attributes."""
    missing = _missing_numbers(cmap)
    values: dict[str, np.ndarray] = {}
    attrs: dict[str, dict[str, str]] = {}
    for col, spec in cmap.columns.items():
        raw = _numeric(frame[col], col, path, missing)
        if spec.name.endswith("_qc"):
            ukey = str(spec.units).strip().lower()
            if ukey not in _QC_UNITS:
                raise UnitError(
                    f"{path}: column {col!r} ({spec.name}): QC units {spec.units!r} unknown; "
                    "expected '1' (fraction 0-1) or '%' (percent)"
                )
            values[spec.name] = raw * _QC_UNITS[ukey]
            attrs[spec.name] = {
                **catalog.qc_attrs(spec.name.removesuffix("_qc"), res),
                "source_column": col,
                "source_units": spec.units or "1",
            }
            continue
        src, target = _target_units(spec.name, spec.units, res, col, path)
        values[spec.name] = convert(raw, src, target, time=time, what=f"{path}: column {col!r}")
        attrs[spec.name] = {
            **catalog.cf_attrs(spec.name, res),
            "source_column": col,
            "source_units": spec.units,
        }
    return values, attrs


def _on_regular_axis(
    values: dict[str, np.ndarray],
    attrs: dict[str, dict[str, str]],
    codes: np.ndarray,
    time: pd.DatetimeIndex,
    n_site: int,
    res: str,
) -> tuple[xr.Dataset, pd.DatetimeIndex]:
    """The converted rows on a regular ``(site, time)`` grid, variables in catalog order."""
    axis = pd.date_range(time.min(), time.max(), freq="D" if res == "DD" else "MS").as_unit("ns")
    pos = axis.get_indexer(time)
    out = xr.Dataset()
    names = [n for v in catalog.names() for n in (v, f"{v}_qc") if n in values]
    for name in names:
        arr = np.full((n_site, len(axis)), np.nan, dtype=np.float32)
        arr[codes, pos] = values[name]
        out[name] = xr.DataArray(arr, dims=("site", "time"), attrs=attrs[name])
    return out, axis


def _table_attrs(
    frame: pd.DataFrame, cmap: ColumnMap, path: Path, res: str, n_site: int
) -> dict[str, str]:
    """Global attributes: provenance, unused columns, time conventions, citation, licence."""
    used = set(cmap.columns) | set(cmap.time.source_columns()) | {cmap.site_column}
    attrs = {
        "title": f"site cube from table {path.name}",
        "source": f"table {path.name} read with a column map",
        "source_files": str(path),
        "unused_columns": ", ".join(c for c in frame.columns if c not in used),
        "resolution": res,
        "time_zone": "local standard time",
        "time_label": "start",
        "Conventions": "CF-1.8",
        "history": f"fluxgrid.read_table: {len(frame)} rows, {n_site} site(s)",
    }
    if cmap.citation:
        attrs["citation"] = cmap.citation
    if cmap.license:
        attrs["license"] = cmap.license
    return attrs


def read_table(
    path: str | os.PathLike,
    column_map: ColumnMap | Mapping[str, Any] | str | os.PathLike,
    *,
    metadata: pd.DataFrame | str | os.PathLike | None = None,
    sheet: str | int | None = None,
) -> xr.Dataset:
    """Read a daily or monthly CSV/Excel table into a site cube, using a column map.

    Parameters
    ----------
    path
        CSV (any delimiter, see ``delimiter`` in the map) or Excel workbook
        (``.xlsx``/``.xls``).
    column_map
        A YAML file, a dict or a :class:`ColumnMap` (keys in the module documentation).
    metadata
        Site metadata table or path (flat or BIF); the map's ``sites`` fill sites it lacks.
        Default: the map's ``sites``, then the bundled FLUXNET2015 site list.
    sheet
        Excel sheet name or 0-based index (overrides the map's ``sheet``).

    Returns
    -------
    xarray.Dataset
        Dims ``(site, time)``, sites in order of first appearance; ``time`` the local date
        (DD) or first day of the month (MM) on a regular axis shared by all sites. Float32
        variables in canonical daily-rate units (``catalog.units_for(name, "DD")``) with CF
        attributes, ``source_column`` and
        ``source_units``; ``<var>_qc`` as fractions 0-1. Coordinates ``latitude``,
        ``longitude``, ``elevation``, ``igbp``, ``utc_offset``. Attributes ``resolution``
        (DD or MM), ``time_zone="local standard time"``, ``time_label="start"``,
        ``source_files``, ``unused_columns`` (table columns the map does not name).

    Raises
    ------
    ConfigError
        Malformed column map (unknown key, wrong type, site/time given twice or not at all).
    ColumnError
        A column named in the map is not in the table, a column given twice in the header,
        a canonical name is unknown, a value is not a number.
    UnitError
        Unknown units, or units of another quantity than the canonical variable's.
    TimestampError
        Unparseable or duplicated (site, time) stamps, undetectable resolution, stamps of
        another resolution than the map's ``resolution`` (e.g. ``DD`` on a monthly table).
    MetadataError
        A site without coordinates.
    FileFormatError
        Empty or unreadable file, missing Excel sheet.

    Examples
    --------
    >>> cube = read_table("chinaflux_daily.csv",  # doctest: +SKIP
    ...                   "docs/guide/examples/chinaflux_daily.yaml")
    """
    (path,) = source_paths(path)
    cmap = load_column_map(column_map)
    where = str(column_map) if isinstance(column_map, str | os.PathLike) else "column map"
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such table")
    frame = _read_raw(path, cmap, sheet)
    _require_columns(frame, cmap, path)
    time = _parse_time(frame, cmap.time, path)
    codes, site_ids = _site_codes(frame, cmap, path)
    res = _resolution(cmap.resolution, time, codes, path, where)
    time = time.to_period("M").to_timestamp() if res == "MM" else time.normalize()
    time = pd.DatetimeIndex(time).as_unit("ns")
    _check_unique(codes, time, site_ids, res, path)
    values, attrs = _convert_columns(frame, cmap, time, res, path)
    meta = _metadata_rows(site_ids, metadata, cmap)
    out, axis = _on_regular_axis(values, attrs, codes, time, len(site_ids), res)
    out = out.assign_coords(site_coordinates(site_ids, meta))
    out = out.assign_coords(time=("time", axis.to_numpy()))
    out["time"].attrs = {
        "long_name": "day (local standard time)"
        if res == "DD"
        else "first day of calendar month (local standard time)"
    }
    out.attrs = _table_attrs(frame, cmap, path, res, len(site_ids))
    return out
