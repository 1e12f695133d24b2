"""Column maps: how a plain table (CSV or Excel) becomes a site cube, declared as data.

A column map (a YAML file, a dict or a :class:`ColumnMap`) says, per source column, the
canonical fluxgrid name and the source units; where the time stamps and the site ID are;
which values mean missing. :func:`load_column_map` checks it strictly (unknown keys, wrong
types and unknown canonical names fail with the key path) before any table is read;
:func:`fluxgrid.io.tables.read_table` applies it.

Column map keys (unknown keys are refused)::

    site: CN-Qia               # one site for the whole table, or
    site_column: Site          # a column holding the site ID
    resolution: DD             # DD or MM, checked against the stamps; omitted: detected
    time:
      column: Date             # one column, parsed with `format` (strftime codes) or, if no
      format: "%Y-%m-%d"       # format is given, pandas' inference; Excel dates as they are
      # or: year: Year, month: Month, day: Day   (or year + doy, or year + month for MM)
    columns:                   # source column -> canonical name and source units
      Ta:   {name: ta, units: degC}
      Rg:   {name: sw_in, units: MJ m-2 d-1}
      Prec: {name: p, units: mm}           # "mm": per day in DD tables, per month in MM
      NEE:  {name: nee, units: gC m-2 d-1}
      NEE_QC: {name: nee_qc, units: "%"}   # QC: fraction ("1") or percent ("%")
    missing_values: [-9999, -6999, NA, ""]
    skip_rows: [1]             # line numbers to skip (0 is the header), e.g. a units row
    sheet: daily               # Excel sheet (name or 0-based number as text)
    sites:                     # coordinates of sites not in the metadata table
      CN-Qia: {latitude: 26.74, longitude: 115.06, elevation: 102, igbp: ENF}
    citation: "..."            # copied into the cube's attributes
    license: "..."

Examples
--------
>>> cmap = load_column_map({"site": "US-MMS", "time": "Date",
...                         "columns": {"Ta": {"name": "ta", "units": "degC"}}})
>>> cmap.time.column, cmap.columns["Ta"].units
('Date', 'degC')
>>> load_column_map({"site": "US-MMS", "time": "Date", "columns": {"Ta": {"name": "temp"}}})
Traceback (most recent call last):
...
fluxgrid.errors.ColumnError: ...
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from .. import catalog
from ..config.serialise import from_dict
from ..errors import ColumnError, ConfigError, DataNotFoundError

__all__ = ["ColumnMap", "ColumnSpec", "SiteSpec", "TimeSpec", "load_column_map"]

_DEFAULT_MISSING = (-9999.0, "-9999", "NA", "NaN", "nan", "")


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """One source column: its canonical name (``ta``, ``nee``, ``nee_qc``) and units."""

    name: str
    units: str = ""


@dataclasses.dataclass(frozen=True)
class TimeSpec:
    """Where the time stamps are: one ``column`` (+ ``format``) or year/month/day columns."""

    column: str | None = None
    format: str | None = None
    year: str | None = None
    month: str | None = None
    day: str | None = None
    doy: str | None = None

    def validate(self) -> None:
        """Exactly one way of giving the time."""
        if self.column is not None:
            if any(v is not None for v in (self.year, self.month, self.day, self.doy)):
                raise ConfigError("time: give either 'column' or year/month/day columns")
            return
        if self.year is None:
            raise ConfigError(
                "time: missing; give 'column' (+ 'format') or 'year' with 'month' "
                "(+ 'day') or 'doy'"
            )
        if self.doy is not None and (self.month is not None or self.day is not None):
            raise ConfigError("time: give 'doy' or 'month'/'day', not both")
        if self.doy is None and self.month is None:
            raise ConfigError("time: with 'year', give 'month' (+ 'day') or 'doy'")

    def source_columns(self) -> list[str]:
        """Table columns used for the time."""
        cols = (self.column, self.year, self.month, self.day, self.doy)
        return [c for c in cols if c is not None]


@dataclasses.dataclass(frozen=True)
class SiteSpec:
    """Coordinates and class of a site, for sites missing from the metadata table."""

    latitude: float | None = None
    longitude: float | None = None
    elevation: float | None = None
    igbp: str = ""
    utc_offset: float | None = None
    name: str = ""


@dataclasses.dataclass(frozen=True)
class ColumnMap:
    """How to read a plain table into a site cube (see the module documentation)."""

    columns: dict[str, ColumnSpec]
    time: TimeSpec
    site: str | None = None
    site_column: str | None = None
    resolution: Literal["DD", "MM"] | None = None
    missing_values: tuple[float | str, ...] = _DEFAULT_MISSING
    skip_rows: tuple[int, ...] = ()
    sheet: str | None = None
    delimiter: str = ","
    encoding: str = "utf-8"
    sites: dict[str, SiteSpec] = dataclasses.field(default_factory=dict)
    citation: str = ""
    license: str = ""

    def validate(self) -> None:
        """Site given exactly once; at least one column; canonical names known."""
        if (self.site is None) == (self.site_column is None):
            raise ConfigError("give exactly one of 'site' (a constant ID) or 'site_column'")
        if not self.columns:
            raise ConfigError("columns: empty; map at least one source column")
        self.time.validate()


def _map_data(column_map: Mapping[str, Any] | str | os.PathLike) -> tuple[dict[str, Any], str]:
    """The plain data of a column map given as a YAML file or a mapping, and where it is."""
    where = ""
    if isinstance(column_map, str | os.PathLike):
        path = Path(column_map)
        where = str(path)
        if not path.is_file():
            raise DataNotFoundError(f"{path}: column map not found")
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
    else:
        data = dict(column_map)
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'column map'}: expected a mapping at the top level")
    data = dict(data)
    if "time" in data and isinstance(data["time"], str):
        data["time"] = {"column": data["time"]}
    if isinstance(data.get("sheet"), int):
        data["sheet"] = str(data["sheet"])
    return data, where


def _check_targets(cmap: ColumnMap, where: str) -> None:
    """Every target is a canonical name (or its ``_qc``), each taken by one column only."""
    targets: dict[str, str] = {}
    for col, spec in cmap.columns.items():
        base = spec.name.removesuffix("_qc")
        if base not in catalog.variables():
            raise ColumnError(
                col,
                file=where or None,
                expected=(
                    "a canonical fluxgrid name or '<name>_qc' in the column map, one of "
                    + ", ".join(catalog.names())
                ),
                found=repr(spec.name),
            )
        if spec.name in targets:
            raise ColumnError(
                col,
                file=where or None,
                expected=f"one source column per canonical name ({spec.name!r})",
                found=f"also mapped from {targets[spec.name]!r}",
            )
        targets[spec.name] = col


def load_column_map(column_map: ColumnMap | Mapping[str, Any] | str | os.PathLike) -> ColumnMap:
    """A :class:`ColumnMap` from a YAML file, a dict or a ColumnMap, strictly checked.

    Parameters
    ----------
    column_map
        A YAML file, a mapping with the keys of the module documentation (``time`` may be
        a column name), or a :class:`ColumnMap`.

    Returns
    -------
    ColumnMap
        The checked map.

    Raises
    ------
    ConfigError
        Unknown keys, wrong types, inconsistent site/time settings (the message names the key).
    ColumnError
        A canonical name that fluxgrid does not know, or two columns mapped to one name.
    DataNotFoundError
        A YAML file that does not exist.

    Examples
    --------
    >>> load_column_map({"site_column": "Site", "time": {"year": "Y", "doy": "D"},
    ...                  "columns": {"Rg": {"name": "sw_in", "units": "MJ m-2 d-1"}}}).site_column
    'Site'
    """
    where = ""
    if isinstance(column_map, ColumnMap):
        cmap = column_map
    else:
        data, where = _map_data(column_map)
        try:
            cmap = from_dict(ColumnMap, data)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}" if where else str(err)) from None
    cmap.validate()
    _check_targets(cmap, where)
    return cmap
