"""The lazy graph of an upscaling: one Dask task per ``(lat, lon)`` tile, every member in it.

:func:`member_maps` checks the drivers and the runs before any work, chunks the drivers as
the full time axis x ``(lat, lon)`` tiles of about ``chunk_bytes`` per variable
(:func:`fluxgrid.grids.grid_chunk_plan`) and builds one :func:`dask.array.blockwise` task
per tile running :func:`fluxgrid.upscale.inference.predict_tile`. The trained runs enter
the graph once (one ``dask.delayed`` node shared by all tiles, so a large model is not
copied into every task), which is why the blocks are built with ``blockwise`` rather than
``xr.map_blocks`` (whose keyword arguments are copied into each task).

Examples
--------
>>> member_labels([type("Run", (), {"path": None})()] * 2)
['member0', 'member1']
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import pandas as pd
import xarray as xr

from ..errors import ConfigError, FluxgridWarning, GridError, ModelError
from ..grids.core import standardise_grid
from ..grids.prepare import prepare_drivers
from ..grids.store import grid_chunk_plan
from ..runs import TrainedRun
from .checks import check_run, run_label
from .inference import TileSpec, igbp_names, predict_tile
from .layers import DEFAULT_NON_VEGETATED, FractionLayer, fraction_layer, mapped_cells

__all__ = ["DEFAULT_CHUNK_BYTES", "MemberOptions", "member_labels", "member_maps"]

#: default bytes per driver variable in one inference tile (full time axis x lat/lon tile)
DEFAULT_CHUNK_BYTES = 16 * 2**20


@dataclasses.dataclass(frozen=True)
class MemberOptions:
    """Settings of one upscaling besides drivers and runs (see :func:`fluxgrid.upscale.upscale`).

    Attributes
    ----------
    mask
        Boolean ``(lat, lon)``: cells to map.
    igbp
        ``(lat, lon)`` IGBP codes (default: an ``igbp`` variable of the drivers).
    period
        ``(start, end)`` of the maps.
    device, batch_size
        Inference device and windows per model call.
    chunk_bytes
        Bytes per driver variable in one tile.
    torch_threads
        torch CPU threads in each task.
    clip_period
        Map only the days of ``period`` the drivers cover (with a warning naming the others)
        instead of refusing a period the drivers do not cover.
    fractions
        Cover fractions ``(class, lat, lon)``: cover-fraction mode instead of the majority
        class (see :func:`fluxgrid.upscale.upscale`).
    non_vegetated, min_fraction
        Classes with zero flux, and the smallest fraction kept (cover-fraction mode).
    class_fluxes
        Cover-fraction mode: also return each class's prediction.
    """

    mask: xr.DataArray | None = None
    igbp: xr.DataArray | None = None
    period: tuple[Any, Any] | None = None
    device: str = "auto"
    batch_size: int | None = None
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    torch_threads: int | None = None
    clip_period: bool = False
    fractions: xr.DataArray | None = None
    non_vegetated: tuple[int | str, ...] = DEFAULT_NON_VEGETATED
    min_fraction: float = 0.0
    class_fluxes: bool = True

    @classmethod
    def of(cls, arguments: Mapping[str, Any]) -> MemberOptions:
        """The options among ``arguments`` (a public function's ``locals()``), by name."""
        picked = {f.name: arguments[f.name] for f in dataclasses.fields(cls)}
        return cls(**{**picked, "non_vegetated": tuple(picked["non_vegetated"])})


def member_maps(
    drivers: xr.Dataset, runs: list[TrainedRun], options: MemberOptions
) -> tuple[xr.DataArray, dict[str, Any], xr.DataArray | None]:
    """Lazy member predictions ``(member, time, lat, lon)`` and a report of the mapped cells.

    Parameters
    ----------
    drivers
        Daily driver grid (any layout :func:`fluxgrid.grids.standardise_grid` accepts).
    runs
        Loaded runs (:func:`~fluxgrid.upscale.checks.load_runs`) of one target and unit.
    options
        Mask, IGBP grid, period and inference settings.

    Returns
    -------
    members : xarray.DataArray
        float32, Dask-backed, target units; coordinate ``member`` labels the runs.
    report : dict
        ``mask_rules``, ``land_cover_mode`` (``majority``, ``fractions`` or ``none``) and,
        where known without computing, ``cells_mapped``, ``cells_masked``,
        ``igbp_outside_training``; in cover-fraction mode the ``land_cover_*`` attributes.
    classes : xarray.DataArray or None
        Cover-fraction mode with ``class_fluxes``: each class's prediction
        ``(member, class, time, lat, lon)`` (coords ``class`` = IGBP codes, ``class_name``);
        else ``None``.

    Raises
    ------
    GridError
        Drivers missing or too short, layers on another grid, a period before the first
        mappable day.
    ModelError
        Runs of different targets or units, or a run that does not fit the drivers.
    """
    if not isinstance(drivers, xr.Dataset):
        raise GridError(f"drivers must be an xarray.Dataset, got {type(drivers).__name__}")
    _check_same_target(runs)
    names = _driver_names(runs)
    raw = standardise_grid(drivers)
    igbp = options.igbp
    if options.fractions is not None and igbp is not None:
        raise ConfigError(
            "give igbp= (majority-class mode) or fractions= (cover-fraction mode), not both"
        )
    if igbp is None and options.fractions is None and "igbp" in raw.variables:
        igbp = raw["igbp"]
    ready = _prepared(raw, runs, names)
    layer = (
        fraction_layer(
            options.fractions,
            ready,
            non_vegetated=options.non_vegetated,
            min_fraction=options.min_fraction,
        )
        if options.fractions is not None
        else None
    )
    conversions = [
        check_run(r, ready, has_igbp=igbp is not None or layer is not None, label=run_label(r, i))
        for i, r in enumerate(runs)
    ]
    ready, chunks2d = _tiled(ready, names, options.chunk_bytes)
    keep, codes, rules = mapped_cells(ready, options.mask, igbp)
    if layer is not None:
        keep = keep & layer.covered
        rules.append("cells with cover fractions (not NaN)")
    report = {"mask_rules": "; ".join(rules) if rules else "none (every cell)"}
    report.update(_cells_report(keep, codes, runs))
    if layer is not None:
        report.update(layer.attrs)
        report.update(_fraction_report(layer, runs))
    else:
        report["land_cover_mode"] = "majority" if codes is not None else "none"
    spec = TileSpec(
        runs=list(runs),
        columns=[[names.index(d) for d in r.inputs["drivers"]] for r in runs],
        conversions=conversions,
        time=ready["time"].values,
        device=options.device,
        batch_size=options.batch_size,
        torch_threads=options.torch_threads,
        classes=layer.names if layer is not None else None,
        class_fluxes=options.class_fluxes,
    )
    data = _blockwise(ready, names, keep, codes, layer, spec, chunks2d)
    coords = {
        "member": member_labels(runs),
        "time": ready["time"],
        "lat": ready["lat"],
        "lon": ready["lon"],
    }
    longest = max(r.lookback for r in runs)
    out = xr.DataArray(data[:, 0], dims=("member", "time", "lat", "lon"), coords=coords)
    out = _in_period(out, ready, options.period, longest, options.clip_period)
    classes = None
    if spec.slots > 1:
        classes = xr.DataArray(
            data[:, 1:],
            dims=("member", "class", "time", "lat", "lon"),
            coords={
                **coords,
                "class": layer.classes,
                "class_name": ("class", layer.names),
            },
        ).sel(time=out["time"])
    return out, report, classes


def _check_same_target(runs: Sequence[TrainedRun]) -> None:
    targets = {r.inputs["target"] for r in runs}
    if len(targets) > 1:
        raise ModelError(f"the runs predict different targets {sorted(targets)}; give runs of one")
    units = {r.inputs.get("target_units", "") for r in runs}
    if len(units) > 1:
        raise ModelError(f"the runs predict in different units {sorted(units)}")


def _driver_names(runs: Sequence[TrainedRun]) -> list[str]:
    """Every run's drivers, each once, in order of first use (the stacked driver order)."""
    names: list[str] = []
    for run in runs:
        names += [d for d in run.inputs["drivers"] if d not in names]
    return names


def _prepared(raw: xr.Dataset, runs: Sequence[TrainedRun], names: list[str]) -> xr.Dataset:
    """Canonical daily drivers ``names``, at least one look-back long."""
    try:
        ready = prepare_drivers(raw, variables=names)
    except GridError as err:
        labels = ", ".join(run_label(r, i) for i, r in enumerate(runs))
        raise GridError(f"{labels} needs drivers {names}: {err}") from None
    n_time = ready.sizes["time"]
    longest = max(r.lookback for r in runs)
    if n_time < longest:
        raise GridError(
            f"the drivers cover {n_time} days ({_day(ready.time.values[0])} to "
            f"{_day(ready.time.values[-1])}) but the model needs a look-back of {longest} days; "
            f"give drivers from at least {longest - 1} days before the first day to map"
        )
    return ready


def _tiled(
    ready: xr.Dataset, names: list[str], chunk_bytes: int
) -> tuple[xr.Dataset, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Drivers chunked as the full time axis x lat/lon tiles, and those tiles' chunks."""
    plan = grid_chunk_plan(ready, target_bytes=chunk_bytes, layout="inference")
    first = ready[names[0]].data
    if isinstance(first, dsa.Array) and len(first.chunks[0]) == 1:
        # already one chunk along time: keep the tiles the drivers were written with
        lat_chunks, lon_chunks = first.chunks[1], first.chunks[2]
        ready = ready.chunk({"time": -1, "lat": lat_chunks, "lon": lon_chunks})
    else:
        ready = ready.chunk(plan)
        lat_chunks, lon_chunks = ready[names[0]].chunks[1], ready[names[0]].chunks[2]
    return ready, (lat_chunks, lon_chunks)


def _blockwise(
    ready: xr.Dataset,
    names: list[str],
    keep: xr.DataArray,
    codes: xr.DataArray | None,
    layer: FractionLayer | None,
    spec: TileSpec,
    chunks2d: tuple[tuple[int, ...], tuple[int, ...]],
) -> dsa.Array:
    """One :func:`~fluxgrid.upscale.inference.predict_tile` task per tile; runs shared once.

    The result is ``(member, slot, time, lat, lon)``: slot 0 the flux, then (cover-fraction
    mode with class fluxes) one slot per class.
    """
    lat_chunks, lon_chunks = chunks2d
    keep_d = _to_dask_2d(keep, chunks2d)
    codes_d = (
        _to_dask_2d(codes, chunks2d)
        if codes is not None
        else dsa.zeros(keep_d.shape, chunks=chunks2d, dtype="int16")
    )
    lat_d = dsa.from_array(ready["lat"].values, chunks=(lat_chunks,))
    lon_d = dsa.from_array(ready["lon"].values, chunks=(lon_chunks,))
    spec_node = dask.delayed(spec, pure=False)
    args: list[Any] = []
    for name in names:
        args += [ready[name].data, "tyx"]
    args += [keep_d, "yx", codes_d, "yx"]
    if layer is not None:
        n_cls = layer.weights.sizes["class"]
        weights = dsa.from_array(layer.weights.values, chunks=((n_cls,), *chunks2d))
        args += [weights, "cyx"]
    else:
        args += [None, None]
    args += [lat_d, "y", lon_d, "x", spec_node, None]
    return dsa.blockwise(
        predict_tile,
        "kstyx",
        *args,
        new_axes={"k": len(spec.runs), "s": spec.slots},
        concatenate=True,
        dtype=np.float32,
        meta=np.empty((0, 0, 0, 0, 0), dtype=np.float32),
        name=f"upscale-{dask.base.tokenize(spec_node.key, *names, chunks2d, spec.slots)}",
    )


def _to_dask_2d(da: xr.DataArray, chunks: tuple) -> dsa.Array:
    data = da.data
    if isinstance(data, dsa.Array):
        return data.rechunk(chunks)
    return dsa.from_array(np.asarray(data), chunks=chunks)


def _period_bounds(period: tuple[Any, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end)`` as days, refused when unreadable or reversed."""
    if not isinstance(period, list | tuple) or len(period) != 2:
        raise ConfigError(f"period={period!r}; expected (start, end) dates, e.g. 2012-01-01")
    try:
        start, end = (pd.Timestamp(p).normalize() for p in period)
    except (ValueError, TypeError) as err:
        raise ConfigError(
            f"period={tuple(map(str, period))}: not a date ({err}); expected YYYY-MM-DD"
        ) from None
    if end < start:
        raise ConfigError(f"period {start.date()}..{end.date()} ends before it starts")
    return start, end


def _days(a: pd.Timestamp, b: pd.Timestamp) -> str:
    n = (b - a).days + 1
    return f"{a.date()}" if n == 1 else f"{a.date()}..{b.date()} ({n} days)"


def _in_period(
    out: xr.DataArray,
    ready: xr.Dataset,
    period: tuple[Any, Any] | None,
    longest: int,
    clip: bool = False,
) -> xr.DataArray:
    """``out`` cut to ``period``; days the drivers cannot map are refused, or clipped on request.

    A period starting before the first mappable day (the drivers' first day plus the
    look-back) or ending after the drivers' last day raises :class:`GridError` naming the
    drivers' range; with ``clip`` the maps cover only the mappable days of the period and a
    :class:`~fluxgrid.errors.FluxgridWarning` names the days left out.
    """
    if period is None:
        return out
    start, end = _period_bounds(period)
    first = pd.Timestamp(ready.time.values[0])
    last = pd.Timestamp(ready.time.values[-1])
    first_ok = first + pd.Timedelta(days=longest - 1)
    one = pd.Timedelta(days=1)
    gaps = []
    if start < first_ok:
        gaps.append(
            f"{_days(start, min(end, first_ok - one))} before the first mappable day "
            f"{first_ok.date()}"
        )
    if end > last:
        gaps.append(f"{_days(max(start, last + one), end)} after the drivers end")
    if start > last or end < first_ok:
        raise GridError(
            f"period {start.date()}..{end.date()} selects no mappable day of the drivers: "
            f"they cover {first.date()}..{last.date()} and, with a look-back of {longest} "
            f"days, the first mappable day is {first_ok.date()}"
        )
    if gaps and not clip:
        hints = []
        if start < first_ok:
            hints.append(
                f"extend the drivers back to {(start - pd.Timedelta(days=longest - 1)).date()} "
                "or start the period later"
            )
        if end > last:
            hints.append(f"extend the drivers to {end.date()} or end the period earlier")
        raise GridError(
            f"period {start.date()}..{end.date()} is not covered by the drivers: they cover "
            f"{first.date()}..{last.date()} and, with a look-back of {longest} days, the first "
            f"mappable day is {first_ok.date()}; missing: {'; '.join(gaps)}. "
            f"{'; '.join(hints).capitalize()}, or pass clip_period=True (command line: "
            "--clip-period) to map only the covered days"
        )
    if gaps:
        warnings.warn(
            f"period {start.date()}..{end.date()} clipped to "
            f"{max(start, first_ok).date()}..{min(end, last).date()}; not mapped: "
            f"{'; '.join(gaps)} (drivers cover {first.date()}..{last.date()}, look-back "
            f"{longest} days)",
            FluxgridWarning,
            stacklevel=5,
        )
    return out.sel(time=slice(max(start, first_ok), min(end, last)))


def _day(t: Any) -> str:
    return str(pd.Timestamp(t).date())


def member_labels(runs: Sequence[TrainedRun]) -> list[str]:
    """Member names: the run directories' names (numbered when two are alike).

    Parameters
    ----------
    runs
        The members.

    Returns
    -------
    list of str
        ``member<i>`` for runs held only in memory.
    """
    labels = [r.path.name if r.path is not None else f"member{i}" for i, r in enumerate(runs)]
    if len(set(labels)) < len(labels):
        labels = [f"{i}:{lab}" for i, lab in enumerate(labels)]
    return labels


def _cells_report(
    keep: xr.DataArray, codes: xr.DataArray | None, runs: Sequence[TrainedRun]
) -> dict[str, Any]:
    """Counts of mapped cells and IGBP classes outside training, where known in memory."""
    report: dict[str, Any] = {}
    if not isinstance(keep.data, dsa.Array):
        report["cells_mapped"] = int(keep.values.sum())
        report["cells_masked"] = int(keep.size - keep.values.sum())
    if codes is not None and not isinstance(codes.data, dsa.Array):
        report.update(_igbp_report(codes.values, keep, runs))
    return report


def _fraction_report(layer: FractionLayer, runs: Sequence[TrainedRun]) -> dict[str, str]:
    """Modelled classes that are not in a run's one-hot vocabulary (predicted with zeros)."""
    if not any("igbp" in r.inputs.get("static", ()) for r in runs):
        return {}
    vocab = set()
    for r in runs:
        vocab |= set(r.inputs.get("igbp_classes", []))
    outside = [n for n in layer.names if n not in vocab]
    if not outside:
        return {"igbp_outside_training": "none"}
    return {
        "igbp_outside_training": (
            f"{', '.join(outside)} (classes not in the training one-hot {sorted(vocab)}: "
            "all IGBP inputs 0)"
        )
    }


def _igbp_report(codes: np.ndarray, keep: xr.DataArray, runs: Sequence[TrainedRun]) -> dict:
    """Cells whose IGBP class is not in a run's one-hot vocabulary (predicted with zeros)."""
    vocab = set()
    for r in runs:
        vocab |= set(r.inputs.get("igbp_classes", []))
    if not any("igbp" in r.inputs.get("static", ()) for r in runs):
        return {}
    mapped = np.asarray(keep.values, bool) if not hasattr(keep.data, "dask") else None
    names = igbp_names(codes.ravel())
    sel = names if mapped is None else names[mapped.ravel()]
    outside = pd.Series(sel[~np.isin(sel, sorted(vocab))]).value_counts()
    if outside.empty:
        return {"igbp_outside_training": "none"}
    text = ", ".join(f"{k or 'unknown'}: {v} cells" for k, v in outside.items())
    return {
        "igbp_outside_training": (
            f"{text} (classes not in the training one-hot {sorted(vocab)}: all IGBP inputs 0)"
        )
    }
