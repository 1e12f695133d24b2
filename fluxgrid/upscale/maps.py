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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from .. import catalog
from .._progress import progress_bar
from ..errors import ModelError
from ..io.atomic import check_writable
from ..io.maps import write_map
from ..runs import TrainedRun
from .checks import RunLike, load_runs, provenance
from .members import DEFAULT_CHUNK_BYTES, MemberOptions, member_maps

if TYPE_CHECKING:  # pragma: no cover
    from ..config.stages import UpscaleConfig

__all__ = [
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
) -> xr.Dataset:
    """Apply a trained run to a daily driver grid: flux maps ``(time, lat, lon)``.

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
        before ``start``. Default: the whole driver record (NaN for the first
        ``lookback - 1`` days).
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

    Returns
    -------
    xarray.Dataset
        The run's target (``nee`` or ``gpp_*``) in its units (gC m-2 d-1), dims
        ``(time, lat, lon)``, Dask-backed when the drivers are (else computed), with
        provenance attributes (:func:`~fluxgrid.upscale.checks.provenance`) and
        ``mask_rules``, ``cells_mapped``, ``igbp_outside_training`` where known. Ensembles:
        see :func:`upscale_ensemble`.

    Raises
    ------
    GridError
        Missing drivers (named with their ERA5 sources), a time axis shorter than the
        look-back or not daily, lat/lon out of range, a mask on another grid.
    ModelError
        A run trained on other variables, resolution or units than the drivers provide.

    Examples
    --------
    >>> maps = upscale(drivers, "runs/lstm", igbp=igbp)   # doctest: +SKIP
    >>> maps.nee.sel(time="2012-07").mean("time").plot()  # doctest: +SKIP
    """
    runs = load_runs(run)
    options = MemberOptions(mask, igbp, period, device, batch_size, chunk_bytes, torch_threads)
    if len(runs) > 1:
        return _ensemble(drivers, runs, options, quantiles)
    if len(quantiles):
        raise ModelError("quantiles need an ensemble: give several runs")
    members, report = member_maps(drivers, runs, options)
    target = runs[0].inputs["target"]
    da = members.isel(member=0, drop=True)
    da.attrs = _target_attrs(runs)
    out = xr.Dataset({target: da}, attrs=_map_attrs(runs, drivers, report, "model output"))
    return _computed_unless_lazy(out, drivers)


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
) -> xr.Dataset:
    """Ensemble maps from several runs (seeds, folds): mean, spread and quantiles.

    All members are predicted inside the same tile (one pass over the drivers); the
    statistics are taken across members where *every* member has a value (a member's
    first ``lookback - 1`` days or missing windows make the statistic NaN).

    Parameters
    ----------
    drivers, mask, igbp, period, device, batch_size, chunk_bytes, torch_threads
        See :func:`upscale`.
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
    options = MemberOptions(mask, igbp, period, device, batch_size, chunk_bytes, torch_threads)
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
    members, report = member_maps(drivers, runs, options)
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
    if keep_members:
        # (member, time, lat, lon): for analysis; drop it before write_map (maps are 3-D)
        out[f"{target}_member"] = members.assign_attrs(_target_attrs(runs, " (ensemble member)"))
    return _computed_unless_lazy(out, drivers)


def _percent(q: float) -> str:
    """Quantile -> variable suffix: ``05`` for 0.05, ``02p5`` for 0.025."""
    text = f"{q * 100:g}"
    return text.zfill(2) if "." not in text else text.replace(".", "p").zfill(4)


def _computed_unless_lazy(out: xr.Dataset, drivers: xr.Dataset) -> xr.Dataset:
    """Dask-backed maps from Dask-backed drivers; computed maps from drivers in memory."""
    lazy = any(v.chunks is not None for v in drivers.data_vars.values())
    return out if lazy else out.compute()


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
            "the mask; nothing is filled"
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
    """Upscale and write the CF-1.8 NetCDF map in one call, atomically.

    The output path is checked first (an existing file is refused unless ``overwrite``,
    before anything is computed); the drivers and runs are checked next; then the map is
    computed tile by tile while it is written to a temporary file that is moved into place
    only when complete, so a failure leaves no partial NetCDF.

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
        Passed to :func:`upscale` (``mask``, ``igbp``, ``period``, ``quantiles``, ...).

    Returns
    -------
    pathlib.Path
        The written file (read it with :func:`fluxgrid.io.maps.open_map`).
    """
    path = check_writable(path, overwrite)
    maps = upscale(drivers, runs, **kwargs)
    with progress_bar(progress, label=f"upscaling to {path}"):
        return write_map(
            maps,
            path,
            overwrite=overwrite,
            title=title or maps.attrs.get("title"),
            history=(
                f"fluxgrid.upscale.upscale_to_map: {maps.attrs['model_name']} from "
                f"{maps.attrs['model_run_dir']} applied to "
                f"{maps.attrs.get('data_drivers_source_files', 'drivers in memory')}"
            ),
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
    overwrite, progress
        See :func:`upscale_to_map`.

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
    )
