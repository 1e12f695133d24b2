"""Flux maps from trained runs: :func:`upscale`, :func:`upscale_ensemble`, the NetCDF file.

The maps are labelled xarray ``(time, lat, lon)`` in the run's target units with the
attributes that say how they were made: :func:`~fluxgrid.upscale.checks.provenance`, the
rule for missing values, which cells were mapped. :func:`upscale_to_map` checks, infers and
writes atomically in one call; :func:`upscale_config_to_map` does so with the settings of an
:class:`~fluxgrid.config.UpscaleConfig` (``fluxgrid upscale`` and the ``upscale`` recipe).

Examples
--------
>>> maps = upscale(drivers, "runs/lstm_seed0")                           # doctest: +SKIP
>>> upscale_to_map(["runs/s0", "runs/s1"], drivers, "nee_ens.nc")        # doctest: +SKIP
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .. import catalog
from .._progress import progress_bar
from ..errors import FluxgridWarning, GridError, ModelError
from ..grids.core import standardise_grid
from ..io.atomic import atomic_path, check_writable, write_lock
from ..io.maps import write_map
from ..runs import TrainedRun
from .checks import RunLike, load_runs, provenance
from .layers import DEFAULT_NON_VEGETATED
from .members import DEFAULT_CHUNK_BYTES, MemberOptions, member_maps
from .totals import class_variable, main_variable

if TYPE_CHECKING:  # pragma: no cover
    from ..config.stages import UpscaleConfig

__all__ = [
    "check_map_values",
    "upscale",
    "upscale_config_to_map",
    "upscale_ensemble",
    "upscale_to_map",
]


def upscale(
    drivers: xr.Dataset,
    run: RunLike | Sequence[RunLike],
    *,
    mask: xr.DataArray | None = None,
    igbp: xr.DataArray | None = None,
    period: tuple[Any, Any] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    torch_threads: int | None = None,
    quantiles: Sequence[float] = (),
    clip_period: bool = False,
    fractions: xr.DataArray | None = None,
    non_vegetated: Sequence[int | str] = DEFAULT_NON_VEGETATED,
    min_fraction: float = 0.0,
    class_fluxes: bool = True,
) -> xr.Dataset:
    """Apply a trained run to a daily driver grid: flux maps ``(time, lat, lon)``.

    Two land-cover modes (recorded in the map's ``land_cover_mode`` attribute):

    * **majority class** (default, ``igbp=``): each cell is predicted once with its
      dominant IGBP class as the model's input;
    * **cover fractions** (``fractions=``, the FLUXCOM approach): each cell's flux is
      ``sum_k f_k * y_k`` over the vegetated classes ``k`` present in it, ``y_k`` being the
      model's prediction with class ``k`` as its IGBP input. All ``(cell, class)`` pairs of a
      tile are one device batch. Non-vegetated classes (``non_vegetated``, by default URB,
      SNO, BSV, WAT) contribute zero flux, so a cell covered only by them is 0 (NaN when a
      mask or the drivers' ``land`` coordinate excludes it). Fractions below
      ``min_fraction`` are skipped. The kept fractions are **not renormalised**: the flux
      is per m2 of the whole cell, water and skipped shares adding nothing, so that the
      map times the cell area is the cell's flux.

    Parameters
    ----------
    drivers
        Daily drivers, dims ``(time, lat, lon)`` (e.g. :func:`fluxgrid.grids.read_era5`,
        :func:`~fluxgrid.grids.open_grid` of a store written by ``fluxgrid drivers``),
        with the run's drivers under canonical names (other units are converted). A ``land``
        coordinate (from ``prepare_drivers(mask=...)``) and an ``igbp`` variable are used.
    run
        A :class:`~fluxgrid.runs.TrainedRun` or run directory; several give an ensemble
        (:func:`upscale_ensemble`).
    mask
        Boolean ``(lat, lon)`` on the drivers' grid: cells to map (e.g. a land or
        vegetation mask); other cells are NaN and cost nothing.
    igbp
        ``(lat, lon)`` IGBP codes 1..17 (e.g. :func:`fluxgrid.grids.vegetation_type`);
        needed when the model has an IGBP one-hot. Cells with negative codes are not mapped.
    period
        ``(start, end)`` dates of the maps; the drivers must start ``lookback - 1`` days
        before ``start`` and reach ``end``: a period they do not cover is refused, naming
        the drivers' range and the missing days. Default: the whole driver record (NaN for
        the first ``lookback - 1`` days).
    device
        ``auto`` (CUDA when present), ``cpu`` or ``cuda``; resolved in each task.
    batch_size
        Windows per model call (default 512 on the CPU, where larger batches fall out of
        the caches and run slower: 1.6x on a 64-unit LSTM here; 32768 on CUDA).
    chunk_bytes
        Bytes per driver variable in one tile (full time x lat/lon tile) when the drivers
        are rechunked; drivers already holding the full time axis per chunk keep their tiles.
    torch_threads
        Set torch's CPU threads in each task (e.g. 1 when Dask runs one task per core).
    quantiles
        For ensembles: quantiles across members to add.
    clip_period
        Map only the days of ``period`` the drivers cover instead of refusing; a
        :class:`~fluxgrid.errors.FluxgridWarning` names the days left out.
    fractions
        Cover fractions ``(class, lat, lon)`` on the drivers' grid, class = IGBP codes,
        summing to 1 over all classes (e.g. :func:`fluxgrid.grids.class_fractions` with
        ``target=drivers``); checked with :func:`fluxgrid.grids.check_fractions`. Cells
        with NaN fractions are not mapped. Not together with ``igbp``; an ``igbp``
        variable of the drivers is then ignored.
    non_vegetated
        Cover-fraction mode: classes (codes or abbreviations) with zero flux.
    min_fraction
        Cover-fraction mode: fractions below this are skipped (default 0: every class
        present is predicted).
    class_fluxes
        Cover-fraction mode: also return each modelled class's prediction ``y_k`` as
        ``<target>_class_<ABBR>`` (per m2 of that class; NaN where the class is absent),
        which :func:`~fluxgrid.upscale.map_totals` needs for totals per class. One map per
        class: pass False for large grids when no per-class totals are wanted.

    Returns
    -------
    xarray.Dataset
        The run's target (``nee`` or ``gpp_*``) in its units (gC m-2 d-1), dims
        ``(time, lat, lon)``, Dask-backed when the drivers are (else computed), with
        provenance attributes (:func:`~fluxgrid.upscale.checks.provenance`) and
        ``mask_rules``, ``land_cover_mode``, ``cells_mapped``, ``igbp_outside_training``
        where known (cover fractions: the ``land_cover_*`` attributes of the method).
        Ensembles: see :func:`upscale_ensemble`.

    Raises
    ------
    GridError
        Missing drivers (named with their ERA5 sources), a time axis shorter than the
        look-back or not daily, lat/lon out of range, a mask on another grid, a ``period``
        the drivers do not cover (without ``clip_period``); maps in memory without any value
        (every driver window incomplete: the message names the NaN-only drivers).

    Warns
    -----
    FluxgridWarning
        Maps in memory with mappable days that have no value in any cell (named, with the
        drivers that are NaN-only on them), and a clipped ``period``.
    ModelError
        A run trained on other variables, resolution or units than the drivers provide.

    Examples
    --------
    >>> maps = upscale(drivers, "runs/lstm", igbp=igbp)   # doctest: +SKIP
    >>> maps.nee.sel(time="2012-07").mean("time").plot()  # doctest: +SKIP
    """
    runs = load_runs(run)
    options = MemberOptions.of(locals())
    if len(runs) > 1:
        return _ensemble(drivers, runs, options, quantiles)
    if len(quantiles):
        raise ModelError("quantiles need an ensemble: give several runs")
    members, report, classes = member_maps(drivers, runs, options)
    target = runs[0].inputs["target"]
    da = members.isel(member=0, drop=True)
    da.attrs = _target_attrs(runs)
    out = xr.Dataset({target: da}, attrs=_map_attrs(runs, drivers, report, "model output"))
    if classes is not None:
        _add_class_fluxes(out, target, classes.isel(member=0, drop=True), runs)
    return _computed_unless_lazy(out, drivers, runs)


def _add_class_fluxes(
    out: xr.Dataset, variable: str, classes: xr.DataArray, runs: Sequence[TrainedRun], what=""
) -> None:
    """Each class's prediction ``(class, time, lat, lon)`` as ``<variable>_class_<ABBR>``."""
    base = _target_attrs(runs)
    for code, abbr in zip(classes["class"].values, classes["class_name"].values, strict=True):
        da = classes.sel({"class": code}, drop=True).drop_vars("class_name", errors="ignore")
        da.attrs = {
            "long_name": f"{base['long_name']} predicted for IGBP class {abbr}{what}",
            "units": base["units"],
            "land_cover_class": str(abbr),
            "land_cover_class_code": int(code),
            "comment": (
                f"the model's prediction with {abbr} as its IGBP input, per m2 of {abbr}; NaN "
                f"where the cell has no (kept) {abbr} fraction. The cell's flux is the sum over "
                "classes of this times the class's cover fraction"
            ),
        }
        out[class_variable(variable, str(abbr))] = da


def upscale_ensemble(
    drivers: xr.Dataset,
    runs: Sequence[RunLike],
    *,
    quantiles: Sequence[float] = (),
    mask: xr.DataArray | None = None,
    igbp: xr.DataArray | None = None,
    period: tuple[Any, Any] | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    torch_threads: int | None = None,
    keep_members: bool = False,
    clip_period: bool = False,
    fractions: xr.DataArray | None = None,
    non_vegetated: Sequence[int | str] = DEFAULT_NON_VEGETATED,
    min_fraction: float = 0.0,
    class_fluxes: bool = True,
) -> xr.Dataset:
    """Ensemble maps from several runs (seeds, folds): mean, spread and quantiles.

    All members are predicted inside the same tile (one pass over the drivers); the
    statistics are taken across members where *every* member has a value (a member's
    first ``lookback - 1`` days or missing windows make the statistic NaN).

    Parameters
    ----------
    drivers, mask, igbp, period, device, batch_size, chunk_bytes, torch_threads, clip_period
        See :func:`upscale`.
    fractions, non_vegetated, min_fraction, class_fluxes
        Cover-fraction mode, see :func:`upscale`; the class fluxes are the member means
        (``<target>_class_<ABBR>_mean``).
    runs
        Two or more runs (objects or directories) predicting the same target.
    quantiles
        Quantiles in [0, 1] across members, e.g. ``(0.05, 0.95)``.
    keep_members
        Also return the member maps as ``<target>_member`` ``(member, time, lat, lon)``
        (for analysis; :func:`fluxgrid.io.maps.write_map` writes 3-D maps only, so drop it
        before writing).

    Returns
    -------
    xarray.Dataset
        ``<target>_mean``, ``<target>_std`` (standard deviation across members, ``ddof=1``),
        ``<target>_q05``... (one per quantile, named by percent), dims ``(time, lat, lon)``,
        target units; attrs as :func:`upscale`, plus ``model_member_labels`` (the runs).

    Examples
    --------
    >>> ens = upscale_ensemble(drivers, ["runs/s0", "runs/s1", "runs/s2"])  # doctest: +SKIP
    >>> ens.nee_std.mean("time")                                          # doctest: +SKIP
    """
    members_runs = load_runs(runs)
    if len(members_runs) < 2:
        raise ModelError(
            "an ensemble needs at least two runs; use upscale() for one run "
            f"(got {len(members_runs)})"
        )
    options = MemberOptions.of(locals())
    return _ensemble(drivers, members_runs, options, quantiles, keep_members=keep_members)


def _ensemble(
    drivers: xr.Dataset,
    runs: list[TrainedRun],
    options: MemberOptions,
    quantiles: Sequence[float],
    *,
    keep_members: bool = False,
) -> xr.Dataset:
    """Mean, spread, quantiles (and members) of two or more loaded runs."""
    qs = [float(q) for q in quantiles]
    if any(not 0.0 <= q <= 1.0 for q in qs):
        raise ModelError(f"quantiles {qs}: expected values in [0, 1]")
    members, report, classes = member_maps(drivers, runs, options)
    target = runs[0].inputs["target"]
    n = len(runs)
    out = xr.Dataset(attrs=_map_attrs(runs, drivers, report, f"{n}-member ensemble"))
    out[f"{target}_mean"] = members.mean("member", skipna=False).assign_attrs(
        _target_attrs(runs, f" (mean of {n} ensemble members)")
    )
    out[f"{target}_std"] = members.std("member", ddof=1, skipna=False).assign_attrs(
        _target_attrs(runs, f" (standard deviation across {n} ensemble members, ddof=1)")
    )
    if qs:
        qmaps = members.quantile(qs, dim="member", skipna=False)
        for q in qs:
            out[f"{target}_q{_percent(q)}"] = (
                qmaps.sel(quantile=q, drop=True)
                .astype("float32")
                .assign_attrs(_target_attrs(runs, f" ({q:g} quantile across {n} members)"))
            )
    out.attrs["model_member_labels"] = ", ".join(members["member"].values.tolist())
    if classes is not None:
        _add_class_fluxes(
            out,
            f"{target}_mean",
            classes.mean("member", skipna=False),
            runs,
            f" (mean of {n} ensemble members)",
        )
    if keep_members:
        # (member, time, lat, lon): for analysis; drop it before write_map (maps are 3-D)
        out[f"{target}_member"] = members.assign_attrs(_target_attrs(runs, " (ensemble member)"))
    return _computed_unless_lazy(out, drivers, runs)


def _percent(q: float) -> str:
    """Quantile -> variable suffix: ``05`` for 0.05, ``02p5`` for 0.025."""
    text = f"{q * 100:g}"
    return text.zfill(2) if "." not in text else text.replace(".", "p").zfill(4)


def _lazy(drivers: xr.Dataset) -> bool:
    return any(v.chunks is not None for v in drivers.data_vars.values())


def _computed_unless_lazy(
    out: xr.Dataset, drivers: xr.Dataset, runs: Sequence[TrainedRun]
) -> xr.Dataset:
    """Lazy maps from Dask-backed drivers; from drivers in memory computed and checked."""
    if _lazy(drivers):
        return out
    out = out.compute()
    check_map_values(out, drivers, max(r.lookback for r in runs))
    return out


def _spans(days: pd.DatetimeIndex) -> str:
    """Days as runs of consecutive dates: ``2012-01-03..2012-01-09 (7 days), 2012-02-01``."""
    parts, start, prev = [], days[0], days[0]
    for day in [*days[1:], None]:
        if day is not None and day - prev == pd.Timedelta(days=1):
            prev = day
            continue
        n = (prev - start).days + 1
        parts.append(f"{start.date()}" if n == 1 else f"{start.date()}..{prev.date()} ({n} days)")
        if day is not None:
            start = prev = day
    return ", ".join(parts[:10]) + (f" and {len(parts) - 10} more spans" if len(parts) > 10 else "")


def _nan_only_drivers(raw: xr.Dataset, empty: pd.DatetimeIndex, lookback: int) -> str:
    """Drivers without a value in any cell in the windows of the days ``empty``.

    As ``"ta, vpd on 2012-01-03..2012-01-04 (2 days)"``; ``""`` when there are none.
    """
    start = empty[0] - pd.Timedelta(days=lookback - 1)
    times = pd.DatetimeIndex(raw.time.values)
    sel = np.flatnonzero((times >= start) & (times <= empty[-1]))
    by_days: dict[str, list[str]] = {}
    for name, v in raw.data_vars.items():
        if "time" not in v.dims or not sel.size:
            continue
        other = [d for d in v.dims if d != "time"]
        blank = np.asarray(v.isel(time=sel).isnull().all(other).values, bool)
        if blank.any():
            by_days.setdefault(_spans(times[sel][blank]), []).append(str(name))
    return "; ".join(f"{', '.join(names)} on {days}" for days, names in by_days.items())


def check_map_values(
    maps: xr.Dataset,
    drivers: xr.Dataset,
    lookback: int,
    *,
    variable: str | None = None,
    values: xr.DataArray | None = None,
    consequence: str = "",
) -> None:
    """Refuse maps without any value; warn about mappable days without a value in any cell.

    Days before the first mappable day (the drivers' first day plus ``lookback - 1``) are
    NaN by design and not counted. The messages name the days and the driver variables that
    are NaN-only (all cells NaN) on them.

    Parameters
    ----------
    maps
        Maps ``(time, lat, lon)`` (from :func:`upscale` or :func:`upscale_ensemble`).
    drivers
        The drivers they were made from.
    lookback
        The longest look-back of the runs (days).
    variable
        The map variable to check (default: :func:`~fluxgrid.upscale.main_variable`).
    values
        That variable as read back from a file (default: ``maps[variable]``).
    consequence
        Added to the error message (e.g. ``"; nothing was written"``).

    Raises
    ------
    GridError
        No value anywhere on a mappable day: nothing could be computed.

    Warns
    -----
    FluxgridWarning
        Some mappable days have no value in any cell.
    """
    variable = variable or main_variable(maps)
    da = maps[variable] if values is None else values
    raw = standardise_grid(drivers)
    first_ok = pd.Timestamp(raw.time.values[0]) + pd.Timedelta(days=lookback - 1)
    counts = da.notnull().sum(("lat", "lon")).compute().to_series()
    counts = counts[counts.index >= first_ok]
    empty = counts.index[counts.to_numpy() == 0]
    if counts.empty or empty.empty:
        return
    nan_only = _nan_only_drivers(raw, empty, lookback)
    why = (
        f"drivers NaN-only in every cell: {nan_only}"
        if nan_only
        else "no driver is NaN-only in every cell on these days or their look-back windows: "
        "each window misses some driver value in each mapped cell, or the cells are masked"
    )
    if len(empty) == len(counts):
        raise GridError(
            f"every value of {variable} is NaN on the mappable days {_spans(empty)}: nothing "
            f"could be computed ({why}). Check the driver files (missing values such as -9999 "
            f"are NaN), the mask and the period{consequence}"
        )
    warnings.warn(
        f"{variable} has no value in any cell on {len(empty)} of {len(counts)} mappable "
        f"day(s): {_spans(empty)} ({why})",
        FluxgridWarning,
        stacklevel=3,
    )


def _target_attrs(runs: Sequence[TrainedRun], what: str = "") -> dict[str, str]:
    target = runs[0].inputs["target"]
    try:
        long_name = catalog.get(target).long_name
    except Exception:  # a target outside the catalog keeps its name
        long_name = target
    return {
        "long_name": f"{long_name}{what}",
        "units": runs[0].inputs.get("target_units") or "gC m-2 d-1",
    }


def _map_attrs(
    runs: Sequence[TrainedRun], drivers: xr.Dataset, report: dict[str, Any], what: str
) -> dict[str, Any]:
    lookback = max(r.lookback for r in runs)
    return {
        "title": f"fluxgrid upscaled {runs[0].inputs['target']} ({what})",
        "resolution": "DD",
        "missing_values": (
            f"NaN for the first {lookback - 1} days of the drivers (look-back of {lookback} "
            "days), on days whose look-back window has a missing driver, and in cells outside "
            "the mask (and, with cover fractions, cells without fractions); nothing is filled"
        ),
        **provenance(runs, drivers),
        **report,
    }


def upscale_to_map(
    runs: RunLike | Sequence[RunLike],
    drivers: xr.Dataset,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    progress: bool | None = None,
    title: str | None = None,
    **kwargs: Any,
) -> Path:
    """Upscale and write the CF-1.8 NetCDF map in one call, atomically and exclusively.

    The output's lock ``.NAME.lock`` is taken first and held until the map is in place, so a
    second upscaling onto the same file is refused
    (:class:`~fluxgrid.errors.OutputLockedError`) instead of replacing this one. The output
    path is checked next (an existing file is refused unless ``overwrite``, before anything is
    computed); then the drivers and runs; then the map is computed tile by tile while it is
    written to a temporary file, checked (:func:`check_map_values`: a map without any value is
    refused, mappable days without any value are warned about) and moved into place only
    when complete, so a failure leaves no partial NetCDF.

    Parameters
    ----------
    runs
        One run (directory or object) or several (ensemble).
    drivers
        Daily driver grid (see :func:`upscale`).
    path
        Target ``.nc`` file.
    overwrite
        Replace an existing file.
    progress
        Progress bar while computing (default: on a terminal, local scheduler only).
    title
        Global ``title`` of the file.
    **kwargs
        Passed to :func:`upscale` (``mask``, ``igbp`` or ``fractions``, ``period``,
        ``clip_period``, ``quantiles``, ...).

    Returns
    -------
    pathlib.Path
        The written file (read it with :func:`fluxgrid.io.maps.open_map`).

    Raises
    ------
    OutputLockedError
        Another process writes ``path``.
    OutputExistsError
        ``path`` exists and ``overwrite`` is not given.
    GridError
        See :func:`upscale`; also a map without any value (nothing is written).
    """
    path = Path(path)
    with write_lock(path):
        path = check_writable(path, overwrite)
        loaded = load_runs(runs)
        maps = upscale(drivers, loaded, **kwargs)
        with progress_bar(progress, label=f"upscaling to {path}"), atomic_path(path) as tmp:
            write_map(
                maps,
                tmp,
                overwrite=True,
                title=title or maps.attrs.get("title"),
                history=(
                    f"fluxgrid.upscale.upscale_to_map: {maps.attrs['model_name']} from "
                    f"{maps.attrs['model_run_dir']} applied to "
                    f"{maps.attrs.get('data_drivers_source_files', 'drivers in memory')}"
                ),
            )
            if _lazy(drivers):  # maps from drivers in memory were checked by upscale
                _check_written(tmp, maps, drivers, loaded, path)
    return path


def _check_written(
    tmp: Path, maps: xr.Dataset, drivers: xr.Dataset, runs: list[TrainedRun], path: Path
) -> None:
    """:func:`check_map_values` on the map as written to ``tmp`` (one read of one variable)."""
    variable = main_variable(maps)
    with xr.open_dataset(tmp, chunks={}) as written:
        check_map_values(
            maps,
            drivers,
            max(r.lookback for r in runs),
            variable=variable,
            values=written[variable],
            consequence=f"; nothing was written to {path}",
        )


def upscale_config_to_map(
    cfg: UpscaleConfig,
    drivers: xr.Dataset,
    path: str | os.PathLike,
    *,
    igbp: xr.DataArray | None = None,
    mask: xr.DataArray | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    clip_period: bool = False,
    fractions: xr.DataArray | None = None,
) -> Path:
    """:func:`upscale_to_map` with the runs and inference settings of an ``UpscaleConfig``.

    ``fluxgrid upscale`` and the ``upscale`` recipe both make their map through this call.

    Parameters
    ----------
    cfg
        :class:`fluxgrid.config.UpscaleConfig` (``runs``, ``period``, ``quantiles``,
        ``device``, ``batch_size``, ``chunk_mb``, ``torch_threads``; its ``drivers``,
        ``igbp`` and ``mask`` files are read by the caller).
    drivers
        The daily driver grid.
    path
        Target ``.nc`` file.
    igbp, mask
        The layers (see :func:`fluxgrid.upscale.layers.config_layers`).
    fractions
        Cover fractions ``(class, lat, lon)`` (:func:`fluxgrid.upscale.layers.read_fractions`):
        cover-fraction mode, see :func:`upscale`.
    overwrite, progress
        See :func:`upscale_to_map`.
    clip_period
        Map only the days of ``cfg.period`` the drivers cover, with a warning naming the
        others (default: such a period is refused); see :func:`upscale`.

    Returns
    -------
    pathlib.Path
        The map file, complete (read it with :func:`fluxgrid.upscale.open_maps`).

    Examples
    --------
    >>> cfg = UpscaleConfig(runs=("runs/lstm",), drivers="drivers.zarr")  # doctest: +SKIP
    >>> upscale_config_to_map(cfg, open_grid(cfg.drivers), "nee_map.nc")  # doctest: +SKIP
    """
    return upscale_to_map(
        list(cfg.runs),
        drivers,
        path,
        overwrite=overwrite,
        progress=progress,
        igbp=igbp,
        mask=mask,
        period=tuple(cfg.period) if cfg.period else None,
        quantiles=cfg.quantiles,
        device=cfg.device,
        batch_size=cfg.batch_size,
        chunk_bytes=int(cfg.chunk_mb * 2**20),
        torch_threads=cfg.torch_threads,
        clip_period=clip_period,
        fractions=fractions,
    )
