"""The one chain from a source to an analysis-ready site cube: read, select, resample, QC.

Every entry point builds its site cube with these steps, so a source means the same thing
everywhere: ``fluxgrid ingest`` and the ``site_cube`` recipe (lazy, written to Zarr),
training (:class:`~fluxgrid.config.DataConfig`, :func:`load_data`), the demo and both
studies.

1. :func:`open_selected` opens a source (``"demo"``, a Zarr store, FLUXNET files, folders,
   zips, a plain table with a column map) and keeps the sites asked for;
2. :func:`keep_variables` keeps the variables a step needs (and their QC companions);
3. :func:`resample_to` brings it to ``native``, ``daily`` or ``monthly`` resolution;
4. :func:`select_period` cuts the period;
5. :func:`quality_control` masks targets by QC and drops poor or short sites.

:func:`site_cube` runs them in that order (loading into memory before QC when asked).

Examples
--------
>>> cube, report = site_cube("demo", sites=["US-MMS"], variables=["ta", "nee"],
...                          qc_threshold=0.7, load=True)
>>> sorted(cube.data_vars), cube.attrs["resolution"]
(['nee', 'nee_qc', 'ta', 'ta_qc'], 'DD')
>>> int(report.dropped.sum())
0
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any, Literal

import pandas as pd
import xarray as xr

from .._progress import progress_bar
from ..catalog import qc_name
from ..config.experiment import DataConfig
from ..data import load_demo_cube
from ..errors import ConfigError, DataNotFoundError, FluxgridWarning
from ..io.sources import read_source
from ..io.tables import read_table
from .qc import qc_mask
from .resample import to_daily, to_monthly
from .select import select_sites

__all__ = [
    "RESOLUTIONS",
    "check_not_empty",
    "keep_variables",
    "load_data",
    "open_selected",
    "parse_period",
    "quality_control",
    "resample_to",
    "select_period",
    "site_cube",
]

#: resolutions a chain can produce; ``native`` keeps the source's own
RESOLUTIONS = ("native", "daily", "monthly")
_SUB_DAILY = ("HH", "HR")
_CODE = {"daily": "DD", "monthly": "MM"}


def open_selected(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    cube: xr.Dataset | None = None,
    sites: Sequence[str] | None = None,
    exclude_sites: Sequence[str] | None = None,
    igbp: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    metadata: str | os.PathLike | None = None,
    file_resolution: str | None = None,
    column_map: str | os.PathLike | None = None,
    drop_torn_last_line: bool = False,
) -> xr.Dataset:
    """Open a source (or take ``cube``) and keep the sites a config asks for.

    Parameters
    ----------
    source
        ``"demo"`` (the bundled daily subset), anything
        :func:`fluxgrid.io.sources.read_source` opens (Zarr stores, FLUXNET files, folders,
        zips), or with ``column_map`` one plain CSV/Excel table; ignored when ``cube`` is
        given.
    cube
        An already open site cube.
    sites, exclude_sites, igbp, bbox
        Sites to keep, sites to drop, IGBP classes and ``(lon_min, lat_min, lon_max,
        lat_max)`` to keep (see :func:`~fluxgrid.prep.select.select_sites`); ``None`` keeps
        all.
    metadata
        Site metadata table for file sources (default: the bundled FLUXNET2015 list).
    file_resolution
        FLUXNET files: read only this resolution (HH, HR, DD, WW, MM, YY).
    column_map
        Read ``source`` as a plain table with this column map (see
        :func:`fluxgrid.io.tables.read_table`).
    drop_torn_last_line
        FLUXNET files: leave out a last line that is cut short, with a warning, instead of
        refusing the file (see :func:`fluxgrid.io.fluxnet.read_fluxnet`).

    Returns
    -------
    xarray.Dataset
        The selected ``(site, time)`` cube (lazy where the source is).

    Raises
    ------
    DataNotFoundError
        A selection that leaves no site, or a named site that is absent.

    Examples
    --------
    >>> ds = open_selected("demo", igbp=["DBF"], exclude_sites=["US-UMB"])
    >>> ds.site.values.tolist()
    ['US-MMS', 'DE-Hai']
    """
    if cube is None:
        cube = _read(source, sites, metadata, file_resolution, column_map, drop_torn_last_line)
    ds = cube
    if sites is not None:
        ds = select_sites(ds, sites=list(sites))
    if exclude_sites:
        drop = set(exclude_sites)
        keep = [s for s in ds.site.values.astype(str) if s not in drop]
        if not keep:
            raise DataNotFoundError(f"exclude_sites {sorted(drop)} removes every site")
        ds = ds.sel(site=keep)
    if igbp is not None:
        ds = select_sites(ds, igbp=list(igbp))
    if bbox is not None:
        ds = select_sites(ds, bbox=tuple(bbox))
    return ds


def _read(source, sites, metadata, file_resolution, column_map, drop_torn) -> xr.Dataset:
    if column_map is not None:
        if not isinstance(source, str | os.PathLike):
            raise DataNotFoundError(
                f"a column map reads one table; give one source file per call, not {len(source)}"
            )
        return read_table(source, column_map, metadata=metadata)
    if isinstance(source, str) and source == "demo":
        return load_demo_cube()
    return read_source(
        source,
        sites=sites,
        metadata=metadata,
        resolution=file_resolution,
        drop_torn_last_line=drop_torn,
    )


def keep_variables(
    ds: xr.Dataset,
    required: Sequence[str],
    optional: Sequence[str] = (),
    *,
    source: Any = "the cube",
    qc: bool = True,
) -> xr.Dataset:
    """Keep ``required`` (all must exist), the ``optional`` ones present, and their QC.

    Parameters
    ----------
    ds
        Site cube.
    required
        Variables that must be in ``ds``.
    optional
        Variables kept when present.
    source
        Named in the error (a path, ``"demo"``).
    qc
        Also keep the ``<var>_qc`` companions present.

    Raises
    ------
    DataNotFoundError
        Naming the missing variables and listing those available.

    Examples
    --------
    >>> sorted(keep_variables(load_demo_cube(), ["nee"], ["p"]).data_vars)
    ['nee', 'nee_qc']
    """
    missing = [v for v in required if v not in ds.data_vars]
    if missing:
        raise DataNotFoundError(
            f"variables {missing} are not in {source}; it has {sorted(ds.data_vars)}"
        )
    names = [*required, *(v for v in optional if v in ds.data_vars and v not in required)]
    if qc:
        names += [qc_name(v) for v in list(names) if qc_name(v) in ds.data_vars]
    return ds[list(dict.fromkeys(names))]


def resample_to(
    ds: xr.Dataset,
    to: Literal["native", "daily", "monthly"],
    *,
    min_coverage: float = 0.5,
    source: Any = "the source",
) -> xr.Dataset:
    """Bring a site cube to ``to`` resolution (sub-daily -> days -> months).

    Parameters
    ----------
    ds
        Site cube with ``attrs["resolution"]`` (``HH``, ``HR``, ``DD``, ``WW``, ``MM``,
        ``YY``; missing means ``DD``).
    to
        ``native`` (unchanged), ``daily`` or ``monthly``.
    min_coverage
        Share of records a day (or days a month) needs (see
        :func:`~fluxgrid.prep.resample.to_daily`).
    source
        Named in the error.

    Raises
    ------
    DataNotFoundError
        If the data are coarser than ``to`` (monthly data cannot give daily values).

    Examples
    --------
    >>> resample_to(load_demo_cube(), "monthly").attrs["resolution"]
    'MM'
    """
    if to == "native":
        return ds
    have = ds.attrs.get("resolution", "DD")
    if have in _SUB_DAILY:
        ds = to_daily(ds, min_coverage=min_coverage)
        have = "DD"
    if to == "monthly" and have == "DD":
        ds = to_monthly(ds, min_coverage=min_coverage)
        have = "MM"
    if have != _CODE[to]:
        finer = "daily or sub-daily" if to == "daily" else "monthly, daily or sub-daily"
        raise DataNotFoundError(
            f"{source} holds {have} data, which cannot give {to} values; give {finer} data "
            + ("or ask for monthly values" if to == "daily" else "")
        )
    return ds


def parse_period(
    period: Sequence[Any] | None, name: str = "period"
) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """``[start, end]`` as two timestamps, checked (``None`` stays ``None``).

    Parameters
    ----------
    period
        Two dates (``"2012-01-01"``, ``"2012-06"``, ``"2012"``, timestamps).
    name
        How messages name the parameter (``period``, ``--period``, ``data.period``).

    Raises
    ------
    ConfigError
        Not two values, a value that is not a date, or a start after the end.

    Examples
    --------
    >>> parse_period(["2012-01-01", "2012-12-31"])[1].date()
    datetime.date(2012, 12, 31)
    >>> parse_period(["2012-13-01", "2012-12-31"], "--period")
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ConfigError: --period: cannot read '2012-13-01' as a date; expected ...
    """
    if period is None:
        return None
    if isinstance(period, str | bytes) or len(period) != 2:
        raise ConfigError(
            f"{name}: {period!r}; expected [start, end], two dates such as "
            "['2012-01-01', '2012-12-31']"
        )
    stamps = []
    for value in period:
        try:
            stamp = pd.Timestamp(value if isinstance(value, pd.Timestamp) else str(value))
        except (ValueError, TypeError, OverflowError):
            stamp = pd.NaT
        if pd.isna(stamp):
            raise ConfigError(
                f"{name}: cannot read {str(value)!r} as a date; expected YYYY-MM-DD (or YYYY-MM, "
                "YYYY), e.g. 2012-01-01"
            )
        stamps.append(stamp)
    if stamps[0] > stamps[1]:
        raise ConfigError(
            f"{name}: start {period[0]} is after end {period[1]}; expected [start, end]"
        )
    return stamps[0], stamps[1]


def select_period(ds: xr.Dataset, period: tuple[Any, Any] | None) -> xr.Dataset:
    """Keep ``[start, end]`` (inclusive dates; ``None`` keeps all).

    Raises
    ------
    ConfigError
        A period that is not two dates, start after end (see :func:`parse_period`).
    DataNotFoundError
        If the period selects no time step.
    """
    if period is None:
        return ds
    parse_period(period)
    ds = ds.sel(time=slice(str(period[0]), str(period[1])))
    if ds.sizes["time"] == 0:
        raise DataNotFoundError(f"period {list(period)} selects no time step")
    return ds


def _period_text(ds: xr.Dataset) -> str:
    time = pd.DatetimeIndex(ds["time"].values)
    return f"{time[0].date()}..{time[-1].date()}" if len(time) else "no time step"


def _listing(names: Sequence[str], most: int = 8) -> str:
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def check_not_empty(ds: xr.Dataset, *, source: Any = "the cube", refuse: bool = True) -> None:
    """Warn about variables and sites without a single valid value; refuse an empty cube.

    A variable (or a site) that is missing everywhere (-9999 or NaN in the source, or masked
    by QC) makes an all-NaN result without any error further on; this says so, naming the
    variables, the sites and the period. ``<var>_qc`` companions are not looked at. A lazy
    cube is computed for the check.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)``.
    source
        Named in the messages (a path, ``"demo"``).
    refuse
        Raise when no variable has any valid value (``False``: warn, e.g. for a cube that
        is already written).

    Warns
    -----
    FluxgridWarning
        ``"<source>: variables [...] have no valid value at any of the N sites in
        <start>..<end> ..."`` and ``"<source>: sites [...] have no valid value of any
        variable in <start>..<end> ..."``.

    Raises
    ------
    DataNotFoundError
        When no variable has any valid value: nothing can be computed from the cube.

    Examples
    --------
    >>> check_not_empty(load_demo_cube())  # every variable has values: silent
    """
    names = [v for v in ds.data_vars if ds[v].dims == ("site", "time") and not v.endswith("_qc")]
    if not names or ds.sizes["site"] == 0 or ds.sizes["time"] == 0:
        return
    present = xr.concat([ds[v].notnull().any("time") for v in names], "variable")
    present = present.transpose("variable", "site").values
    period, n_site = _period_text(ds), ds.sizes["site"]
    where = f"at site {ds['site'].values[0]}" if n_site == 1 else f"at any of the {n_site} sites"
    if not present.any():
        message = (
            f"{source}: no variable has a valid value ({_listing(names)}) {where} in "
            f"{period}: every value is missing "
            "(-9999 or NaN in the source, or masked by QC); check the source files, the period "
            "and the sites"
        )
        if refuse:
            raise DataNotFoundError(message)
        warnings.warn(message, FluxgridWarning, stacklevel=2)
        return
    empty_vars = [v for v, has in zip(names, present.any(axis=1), strict=True) if not has]
    if empty_vars:
        warnings.warn(
            f"{source}: variables {empty_vars} have no valid value {where} in {period} "
            "(all missing: -9999 or NaN in the "
            "source, or masked by QC); they are all-NaN in the result",
            FluxgridWarning,
            stacklevel=2,
        )
    sites = [str(s) for s in ds["site"].values]
    empty_sites = [s for s, has in zip(sites, present.any(axis=0), strict=True) if not has]
    if empty_sites:
        warnings.warn(
            f"{source}: sites [{_listing(empty_sites)}] have no valid value of any variable "
            f"in {period} (all missing: -9999 or NaN in the source, or masked by QC); they are "
            "all-NaN in the result",
            FluxgridWarning,
            stacklevel=2,
        )


def quality_control(
    ds: xr.Dataset,
    *,
    qc_threshold: float | None,
    targets: Sequence[str] | None = None,
    min_valid_fraction: float = 0.0,
    min_years: float | None = None,
    variable: str = "nee",
    **qc_kwargs: Any,
) -> tuple[xr.Dataset, xr.Dataset | None]:
    """Mask targets by QC (:func:`~fluxgrid.prep.qc.qc_mask`) and keep long-enough sites.

    Parameters
    ----------
    ds
        Site cube.
    qc_threshold
        Mask target values whose QC fraction is below this; ``None`` skips QC.
    targets
        Variables QC applies to (default: every flux target present).
    min_valid_fraction
        Drop sites with a smaller share of valid target values.
    min_years
        Keep sites with at least this many years of valid ``variable`` values (after QC).
    variable
        The variable ``min_years`` counts.
    **qc_kwargs
        Passed to :func:`~fluxgrid.prep.qc.qc_mask` (``drop_negative_gpp``, ``period``).

    Returns
    -------
    cube : xarray.Dataset
    report : xarray.Dataset or None
        The QC report (``None`` without QC).

    Raises
    ------
    DataNotFoundError
        QC asked for a target without its QC companion, or no site is left.
    """
    report = None
    if qc_threshold is not None:
        for name in targets or ():
            if qc_name(name) not in ds:
                raise DataNotFoundError(
                    f"QC of {name!r} needs {qc_name(name)!r} in the cube; set the QC "
                    "threshold to null (data.qc_threshold: null) to go without QC"
                )
        ds, report = qc_mask(
            ds,
            threshold=qc_threshold,
            targets=list(targets) if targets is not None else None,
            min_valid_fraction=min_valid_fraction,
            **qc_kwargs,
        )
    if min_years is not None:
        ds = select_sites(ds, min_years=min_years, variable=variable)
    if ds.sizes["site"] == 0:
        raise DataNotFoundError("no site is left after selection and QC")
    return ds, report


def site_cube(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    cube: xr.Dataset | None = None,
    sites: Sequence[str] | None = None,
    exclude_sites: Sequence[str] | None = None,
    igbp: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    metadata: str | os.PathLike | None = None,
    file_resolution: str | None = None,
    column_map: str | os.PathLike | None = None,
    variables: Sequence[str] | None = None,
    optional: Sequence[str] = (),
    to: Literal["native", "daily", "monthly"] = "daily",
    min_coverage: float = 0.5,
    period: tuple[Any, Any] | None = None,
    load: bool = False,
    progress: bool | None = None,
    qc_threshold: float | None = None,
    targets: Sequence[str] | None = None,
    min_valid_fraction: float = 0.0,
    min_years: float | None = None,
    min_years_variable: str = "nee",
    keep_qc: bool = True,
    drop_torn_last_line: bool = False,
) -> tuple[xr.Dataset, xr.Dataset | None]:
    """Read -> select -> keep variables -> resample -> period -> (load) -> QC -> check.

    Parameters are those of the steps (:func:`open_selected`, :func:`keep_variables`,
    :func:`resample_to`, :func:`select_period`, :func:`quality_control`); ``variables=None``
    keeps every variable, ``keep_qc`` their ``<var>_qc`` companions; ``load`` computes the
    cube into memory before QC (with a progress bar, see ``progress``). A cube in memory
    (loaded, or read from files) is then checked by :func:`check_not_empty`: variables or
    sites without any valid value are named in a :class:`~fluxgrid.errors.FluxgridWarning`,
    a cube without any valid value is refused. A lazy cube is not computed for that check.

    Returns
    -------
    cube : xarray.Dataset
        Dims ``(site, time)``; ``attrs["resolution"]`` says the resolution.
    report : xarray.Dataset or None
        The QC report (``None`` without QC).
    """
    ds = open_selected(
        source,
        cube=cube,
        sites=sites,
        exclude_sites=exclude_sites,
        igbp=igbp,
        bbox=bbox,
        metadata=metadata,
        file_resolution=file_resolution,
        column_map=column_map,
        drop_torn_last_line=drop_torn_last_line,
    )
    if variables is not None:
        ds = keep_variables(ds, variables, optional, source=source, qc=keep_qc)
    ds = resample_to(ds, to, min_coverage=min_coverage, source=source)
    ds = select_period(ds, period)
    if load:
        with progress_bar(progress, label="loading the site cube"):
            ds = ds.load()
    ds, report = quality_control(
        ds,
        qc_threshold=qc_threshold,
        targets=targets,
        min_valid_fraction=min_valid_fraction,
        min_years=min_years,
        variable=min_years_variable,
    )
    if not ds.chunks:
        check_not_empty(ds, source=source)
    return ds, report


def load_data(
    cfg: DataConfig, *, cube: xr.Dataset | None = None, progress: bool | None = None
) -> tuple[xr.Dataset, xr.Dataset | None]:
    """The QC'd, in-memory site cube an experiment's ``data`` section describes.

    Parameters
    ----------
    cfg
        Data section of an experiment.
    cube
        Use this cube instead of reading ``cfg.source`` (selection, resampling, period and QC
        still apply).
    progress
        Show a progress bar while the cube is computed.

    Returns
    -------
    cube : xarray.Dataset
        Dims ``(site, time)`` with the drivers, the target and its QC fraction, loaded.
    qc_report : xarray.Dataset or None
        The :func:`fluxgrid.qc_mask` report (``None`` without QC).

    Examples
    --------
    >>> cube, _ = load_data(DataConfig(sites=("US-MMS",), qc_threshold=None))
    >>> sorted(cube.data_vars)
    ['nee', 'nee_qc', 'sw_in', 'ta', 'vpd']
    """
    ds, report = site_cube(
        cfg.source,
        cube=cube,
        sites=cfg.sites,
        exclude_sites=cfg.exclude_sites,
        igbp=cfg.igbp,
        variables=[*cfg.drivers, cfg.target],
        optional=[qc_name(cfg.target)],  # drivers' QC companions are not model inputs
        keep_qc=False,
        to=cfg.resolution,
        period=cfg.period,
        load=True,
        progress=progress,
        qc_threshold=cfg.qc_threshold,
        targets=[cfg.target],
        min_valid_fraction=cfg.min_valid_fraction,
        min_years=cfg.min_years,
        min_years_variable=cfg.target,
    )
    ds.attrs["resolution"] = _CODE[cfg.resolution]
    return ds, report
