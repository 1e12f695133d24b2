"""FLUXNET-family files: names, discovery in folders and zip archives, selection.

The first stage of :func:`fluxgrid.io.fluxnet.read_fluxnet`: which CSV files there are and
which of them one call reads. A file name gives the network, the site, the product and the
resolution (:func:`parse_fluxnet_filename`); :func:`collect_entries` lists the CSV files in
files, folders (recursively) and ``.zip`` archives (members are read in place, never
extracted) as :class:`FluxnetEntry` objects; :func:`select_entries` keeps those a call asks
for and checks that one resolution remains. Reading a file's contents is
:mod:`fluxgrid.io.fluxnet_csv`.

Examples
--------
>>> info = parse_fluxnet_filename("FLX_US-MMS_FLUXNET2015_SUBSET_MM_1999-2014_1-4.csv")
>>> info.site, info.resolution, info.years, info.version
('US-MMS', 'MM', (1999, 2014), '1-4')
>>> entries, skipped = collect_entries("../shared/data/fluxnet2015/mm")  # doctest: +SKIP
>>> len(entries)  # doctest: +SKIP
206
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..errors import ColumnError, ConfigError, DataNotFoundError, FileFormatError, TimestampError

__all__ = [
    "RESOLUTIONS",
    "FluxnetEntry",
    "FluxnetFileName",
    "collect_entries",
    "open_bytes",
    "open_text",
    "parse_fluxnet_filename",
    "select_entries",
    "source_paths",
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
class FluxnetEntry:
    """One CSV to read: a plain file or a member of a zip archive.

    Attributes
    ----------
    path
        The file, or the archive that holds it.
    member
        The member's name inside the archive, ``None`` for a plain file.
    info
        What the file name says (:class:`FluxnetFileName`).
    """

    path: Path
    member: str | None
    info: FluxnetFileName

    @property
    def label(self) -> str:
        """The path, or ``archive.zip!member``: how messages name the file."""
        return f"{self.path}!{self.member}" if self.member else str(self.path)

    @property
    def name(self) -> str:
        """The file name itself (without folder or archive)."""
        return self.info.name


def _zip_entries(path: Path) -> tuple[list[FluxnetEntry], list[str]]:
    """The FLUXNET-family CSV members of an archive, and the members skipped (with why)."""
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
        entries.append(FluxnetEntry(path, m.filename, info))
    return entries, skipped


def _folder_entries(path: Path) -> tuple[list[FluxnetEntry], list[str]]:
    """Every FLUXNET-family CSV in a folder, its sub-folders and the archives there."""
    found = sorted(
        p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".zip")
    )
    entries: list[FluxnetEntry] = []
    skipped: list[str] = []
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
            entries.append(FluxnetEntry(p, None, info))
    if not entries:
        raise DataNotFoundError(
            f"{path}: no FLUXNET-family CSV files (FLX_*, AMF_*_FLUXNET_*, "
            "ICOSETC_*_FLUXNET_*) in this folder or its sub-folders"
        )
    return entries, skipped


def _archive_entries(path: Path) -> tuple[list[FluxnetEntry], list[str]]:
    """The CSV members of an archive named by the caller (an archive without any raises)."""
    entries, skipped = _zip_entries(path)
    if not entries:
        raise FileFormatError(
            path,
            "archive holds no FLUXNET-family CSV file",
            expected="members named like FLX_{SITE}_FLUXNET2015_{PRODUCT}_{RES}_...csv",
        )
    return entries, skipped


def _file_entry(path: Path) -> FluxnetEntry:
    """A CSV named by the caller: its name must be a FLUXNET-family time-series name."""
    info = parse_fluxnet_filename(path.name)
    if not info.is_timeseries:
        raise FileFormatError(
            path,
            f"is a {info.product} file, which holds no time series",
            expected="a FULLSET or SUBSET file of one resolution (HH, HR, DD, WW, MM, YY)",
        )
    return FluxnetEntry(path, None, info)


def source_paths(src: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """One path or a list of paths, as a list of :class:`~pathlib.Path`.

    Examples
    --------
    >>> source_paths("a.csv")
    [PosixPath('a.csv')]
    >>> source_paths(12345)
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ConfigError: source: expected a path (str or os.PathLike) or a list of ...
    """
    if isinstance(src, str | os.PathLike):
        return [Path(src)]
    if not isinstance(src, Sequence | set | tuple) or isinstance(src, bytes):
        raise ConfigError(
            f"source: expected a path (str or os.PathLike) or a list of paths, got "
            f"{type(src).__name__} {src!r}"
        )
    bad = [p for p in src if not isinstance(p, str | os.PathLike)]
    if bad:
        raise ConfigError(
            f"source: expected paths (str or os.PathLike) in the list, got "
            f"{type(bad[0]).__name__} {bad[0]!r}"
        )
    return [Path(p) for p in src]


def collect_entries(
    src: str | os.PathLike | Sequence[str | os.PathLike],
) -> tuple[list[FluxnetEntry], list[str]]:
    """List the FLUXNET-family CSV files in files, folders (recursively) and zip archives.

    Parameters
    ----------
    src
        A path or a list of paths: CSV files, folders, ``.zip`` archives.

    Returns
    -------
    entries : list of FluxnetEntry
        Every CSV found, in the order of ``src`` (folders sorted by path).
    skipped : list of str
        ``"label: reason"`` for every file that was looked at and will not be read.

    Raises
    ------
    DataNotFoundError
        No source, a path that does not exist, a folder without FLUXNET-family files.
    FileFormatError
        A corrupt archive, an archive without FLUXNET-family CSV, a named CSV whose name is
        not a FLUXNET-family time-series name.

    Examples
    --------
    >>> entries, skipped = collect_entries("../shared/data/fluxnet2015/mm")  # doctest: +SKIP
    >>> entries[0].label  # doctest: +SKIP
    '../shared/data/fluxnet2015/mm/FLX_AR-SLu_FLUXNET2015_SUBSET_MM_2009-2011_1-4.csv'
    """
    paths = source_paths(src)
    if not paths:
        raise DataNotFoundError("no FLUXNET source given; pass CSV files, folders or .zip archives")
    entries: list[FluxnetEntry] = []
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise DataNotFoundError(f"{path}: no such file or folder")
        if path.is_dir():
            more, why = _folder_entries(path)
        elif path.suffix.lower() == ".zip":
            more, why = _archive_entries(path)
        else:
            more, why = [_file_entry(path)], []
        entries += more
        skipped += why
    return entries, skipped


# --------------------------------------------------------------------------- selection
def _wanted(
    entries: list[FluxnetEntry],
    skipped: list[str],
    explicit: set[Path],
    sites: Sequence[str] | None,
    resolution: str | None,
) -> list[FluxnetEntry]:
    """The entries a call asks for; the others are reported in ``skipped`` (appended to)."""
    keep: list[FluxnetEntry] = []
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
    return keep


def _check_found(
    keep: list[FluxnetEntry],
    entries: list[FluxnetEntry],
    skipped: list[str],
    sites: Sequence[str] | None,
    resolution: str | None,
) -> None:
    """Every asked-for site has a file, and there is at least one file to read."""
    at = f" at resolution {resolution}" if resolution else ""
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
                f"no FLUXNET files for site(s) {missing}{at}; "
                f"sites found: {', '.join(available) or 'none'}"
            )
    if not keep:
        raise DataNotFoundError(
            f"no FLUXNET time-series file to read{at}"
            + (f"; skipped: {'; '.join(skipped[:5])}" if skipped else "")
        )


def _one_resolution(keep: list[FluxnetEntry]) -> str:
    """The resolution of the cube; files of several resolutions raise (HH with HR is HH)."""
    by_res: dict[str, list[str]] = {}
    for e in keep:
        by_res.setdefault(str(e.info.resolution), []).append(e.name)
    if set(by_res) == {"HH", "HR"}:
        # half-hourly and hourly sites share the half-hourly axis (hourly values repeated on
        # both half-hours of their hour, record_minutes=60), as in the FLUXNET2015 Zarr store
        return "HH"
    if len(by_res) > 1:
        listing = "; ".join(
            f"{res}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
            for res, names in sorted(by_res.items(), key=lambda kv: RESOLUTIONS.index(kv[0]))
        )
        raise TimestampError(
            f"mixed resolutions in one call ({listing}); pass resolution='HH' (or another "
            "code; command line: --resolution) to read one of them, a cube has one time step"
        )
    return next(iter(by_res))


def select_entries(
    entries: list[FluxnetEntry],
    skipped: list[str],
    explicit: set[Path],
    sites: Sequence[str] | None,
    resolution: str | None,
) -> tuple[list[FluxnetEntry], str]:
    """Drop what is not asked for (reporting it) and check that one resolution remains.

    Parameters
    ----------
    entries, skipped
        From :func:`collect_entries`; ``skipped`` is appended to (``"label: reason"``).
    explicit
        Paths the caller named: reanalysis files (ERAI, ERA5) are read only when named.
    sites
        Site IDs to keep, or ``None`` for all.
    resolution
        Resolution code to keep, or ``None`` (then the files must share one).

    Returns
    -------
    entries : list of FluxnetEntry
        The files to read, each file name once.
    resolution : str
        The cube's resolution code (``"HH"`` for half-hourly and hourly files together).

    Raises
    ------
    ColumnError
        An unknown resolution code.
    DataNotFoundError
        An asked-for site without files, or nothing left to read.
    TimestampError
        Files of several resolutions and no ``resolution``.
    """
    if resolution is not None and resolution not in RESOLUTIONS:
        raise ColumnError(
            "resolution", expected=f"one of {', '.join(RESOLUTIONS)}", found=repr(resolution)
        )
    keep = _wanted(entries, skipped, explicit, sites, resolution)
    _check_found(keep, entries, skipped, sites, resolution)
    return keep, _one_resolution(keep)


@contextmanager
def open_bytes(entry: FluxnetEntry) -> Iterator[IO[bytes]]:
    """Open an entry as bytes (seekable), from the file or inside its archive.

    Examples
    --------
    >>> with open_bytes(entry) as fh:  # doctest: +SKIP
    ...     size = fh.seek(0, 2)
    """
    if entry.member is None:
        with open(entry.path, "rb") as fh:
            yield fh
    else:
        with zipfile.ZipFile(entry.path) as zf, zf.open(entry.member) as raw:
            yield raw


class _Prefix(io.RawIOBase):
    """The first ``stop`` bytes of a binary stream (a file read up to a dropped line)."""

    def __init__(self, raw: IO[bytes], stop: int):
        self._raw, self._left = raw, stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        data = self._raw.read(len(view))
        view[: len(data)] = data
        self._left -= len(data)
        return len(data)


@contextmanager
def open_text(entry: FluxnetEntry, stop: int | None = None) -> Iterator[IO[str]]:
    """Open an entry as text (UTF-8, BOM removed), from the file or inside its archive.

    Parameters
    ----------
    entry
        The file.
    stop
        Read only the bytes before this offset (``None``: the whole file); used to leave
        out a torn last line.

    Examples
    --------
    >>> entry = FluxnetEntry(Path("f.csv"), None, parse_fluxnet_filename(  # doctest: +SKIP
    ...     "FLX_US-MMS_FLUXNET2015_SUBSET_MM_1999-2014_1-4.csv"))
    >>> with open_text(entry) as fh:  # doctest: +SKIP
    ...     header = fh.readline()
    """
    with open_bytes(entry) as raw:
        stream = raw if stop is None else io.BufferedReader(_Prefix(raw, stop))
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield text
        finally:
            text.detach()
