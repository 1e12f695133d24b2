"""Upscaling: trained models applied to gridded drivers, blockwise, as NEE/GPP maps.

:func:`upscale` turns a daily driver grid ``(time, lat, lon)`` and one trained run (or
several: :func:`upscale_ensemble`) into flux maps in the run's target units (gC m-2 d-1):

1. **Checks before any work.** The drivers are brought to the canonical names and units
   (:func:`fluxgrid.io.grids.prepare_drivers`: a missing driver is named together with the
   ERA5 fields it is made from), latitudes/longitudes are range-checked, the time axis must
   be daily and at least one look-back long, and the run must fit the grid
   (:func:`check_run`: daily model, drivers the grid has, units the drivers can be converted
   to, static inputs that can be built for grid cells, an IGBP grid when the model has an
   IGBP one-hot).
2. **Blocks.** The drivers are chunked as the full time axis x ``(lat, lon)`` tiles of about
   ``chunk_bytes`` per variable (:func:`fluxgrid.io.grids.grid_chunk_plan`); one
   :func:`dask.array.blockwise` task per tile runs :func:`predict_pixels`. The trained runs
   enter the graph once (one ``dask.delayed`` node shared by all tiles, so a large model is
   not copied into every task), which is why the blocks are built with ``blockwise`` rather
   than ``xr.map_blocks`` (whose keyword arguments are copied into each task).
3. **Pixels become a batch.** Inside a tile, the cells of the mask become the "sites" of a
   :class:`fluxgrid.tensors.WindowCube` (on the GPU when present, ``device="auto"``); the
   complete look-back windows are found for all cells at once (a cumulative sum of the
   missing-driver mask, :func:`fluxgrid.windows.build_windows`' rule) and gathered on the
   device by advanced indexing, ``batch_size`` windows at a time (cells are grouped so that
   a batch holds whole cells, a cell with more windows than a batch is split). There is no
   Python loop over cells or days; memory per task is bounded by the tile and the batch, not
   by the grid.
4. **Inputs as in training.** The model sees exactly what it saw at the towers: the run's
   drivers (short gaps filled as in training when the run used ``fill_gaps``), day-of-year
   sine/cosine, the cell centre as ``site_lat``/``site_lon`` and the cell's IGBP class as the
   one-hot, built by :func:`fluxgrid.windows.static_inputs`, in the order of ``inputs.json``,
   and scaled inside :meth:`fluxgrid.train.TrainedRun.batch_predictor` with the run's scaler.
   Torch networks and the scikit-learn baselines go through the same predictor.
5. **Missing values.** The map is NaN for the first ``lookback - 1`` days (no complete
   window), on days whose window has a missing driver, and in cells outside the mask (the
   ``mask`` argument, a ``land`` coordinate from ``prepare_drivers(mask=...)``, and cells
   whose IGBP grid value is negative, i.e. no vegetation type). Nothing is filled.

Ensembles (:func:`upscale_ensemble`) predict every member inside the same tile (one pass
over the drivers) and return the member mean, the standard deviation across members
(``ddof=1``) and optional quantiles; a value is defined only where every member has one.

Results are labelled xarray with provenance attributes (model, run directories, training
sites, driver source, fluxgrid version) that :func:`fluxgrid.io.maps.write_map` writes into
the NetCDF file; :func:`upscale_to_map` does the checks, the inference and the atomic write
in one call and refuses an existing file before computing anything.

Examples
--------
>>> from fluxgrid.io.grids import open_grid
>>> drivers = open_grid("drivers_2012.zarr")                    # doctest: +SKIP
>>> maps = upscale(drivers, "runs/lstm_seed0")                  # doctest: +SKIP
>>> maps.nee.dims                                               # doctest: +SKIP
('time', 'lat', 'lon')
>>> ens = upscale_ensemble(drivers, ["runs/s0", "runs/s1", "runs/s2"], quantiles=(0.05, 0.95))
...                                                             # doctest: +SKIP
>>> upscale_to_map(["runs/s0", "runs/s1"], drivers, "nee_map.nc")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import GridError, ModelError, UnitError

if TYPE_CHECKING:  # pragma: no cover
    from .train import TrainedRun

__all__ = [
    "DEFAULT_CHUNK_BYTES",
    "check_run",
    "load_runs",
    "main_variable",
    "map_totals",
    "open_maps",
    "predict_pixels",
    "provenance",
    "read_layer",
    "upscale",
    "upscale_ensemble",
    "upscale_to_map",
]

#: default bytes per driver variable in one inference tile (full time axis x lat/lon tile)
DEFAULT_CHUNK_BYTES = 16 * 2**20

#: static inputs that can be built for grid cells (besides the IGBP one-hot)
_GRID_STATIC = ("doy_sin", "doy_cos", "site_lat", "site_lon")

#: driver attributes copied into the map's provenance (as ``data_drivers_<key>``)
_DRIVER_PROVENANCE = (
    "title",
    "description",
    "method",
    "source",
    "source_files",
    "sites",
    "accumulation",
    "day_definition",
    "references",
    "license",
)

RunLike = Any  # TrainedRun, or a run directory (str / PathLike)


# --------------------------------------------------------------------------- runs
def _label(run: TrainedRun, i: int) -> str:
    return f"run {run.path}" if run.path is not None else f"run #{i} (in memory)"


def load_runs(runs: RunLike | Sequence[RunLike]) -> list[TrainedRun]:
    """Trained runs from run objects and/or run directories, ready for inference.

    Run directories are loaded on the CPU (each inference task moves the model to its own
    device); torch networks are put in eval mode once, so concurrent tasks never toggle it.

    Parameters
    ----------
    runs
        A :class:`fluxgrid.train.TrainedRun`, a run directory, or a sequence of them.

    Returns
    -------
    list of TrainedRun

    Raises
    ------
    ModelError
        If nothing or something else than a run is given.
    DataNotFoundError
        If a directory is not a run directory.

    Examples
    --------
    >>> load_runs([])
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ModelError: no trained run given; pass a run directory or a TrainedRun
    """
    from .train import TrainedRun, load_run

    if isinstance(runs, str | os.PathLike | TrainedRun):
        items = [runs]
    else:
        items = list(runs)
    out = []
    for item in items:
        if isinstance(item, str | os.PathLike):
            item = load_run(item, device="cpu")
        if not isinstance(item, TrainedRun):
            raise ModelError(
                f"expected a TrainedRun or a run directory, got {type(item).__name__}; "
                "train one with fluxgrid train / train_experiment"
            )
        if item.model.kind == "torch":
            item.model.net.eval()
        out.append(item)
    if not out:
        raise ModelError("no trained run given; pass a run directory or a TrainedRun")
    return out


def check_run(
    run: TrainedRun, drivers: xr.Dataset, *, has_igbp: bool, label: str = "run"
) -> dict[str, tuple[float, float]]:
    """Check that ``run`` can be applied to the (canonical) daily ``drivers``.

    Parameters
    ----------
    run
        The trained run.
    drivers
        Daily drivers in canonical units (after :func:`fluxgrid.io.grids.prepare_drivers`).
    has_igbp
        Whether an IGBP vegetation-type grid is available.
    label
        Name of the run in messages.

    Returns
    -------
    dict
        ``{driver: (offset, factor)}`` for drivers whose units differ from the units the
        model was trained on (``model_units = offset + factor * canonical``); empty when all
        match.

    Raises
    ------
    ModelError
        If the run is not a daily model, its inputs cannot be built on a grid, its scaler
        lacks a driver, its units cannot be converted, or it needs an IGBP grid that is
        missing.
    GridError
        If a driver of the run is not in the grid.
    """
    from . import catalog
    from .catalog.units import convert, normalise

    inputs = run.inputs
    resolution = inputs.get("resolution", "DD")
    if resolution != "DD":
        raise ModelError(
            f"{label}: the model was trained on {resolution} data; driver grids are daily, "
            "so apply a model trained on daily windows (data.resolution: daily)"
        )
    feats = run.features
    if run.model.n_inputs != len(feats) or run.model.lookback != run.lookback:
        raise ModelError(
            f"{label}: the checkpoint expects {run.model.n_inputs} inputs x "
            f"{run.model.lookback} steps but inputs.json lists {len(feats)} inputs x "
            f"{run.lookback} steps; the run directory is inconsistent, retrain it"
        )
    drivers_run = list(inputs["drivers"])
    igbp_feats = [f"igbp_{c}" for c in inputs.get("igbp_classes", [])]
    unknown = [
        f for f in feats if f not in drivers_run and f not in _GRID_STATIC + tuple(igbp_feats)
    ]
    if unknown:
        raise ModelError(
            f"{label}: inputs {unknown} cannot be built for grid cells; upscaling supports "
            f"drivers, day of year, lat/lon and the IGBP one-hot (features: {feats})"
        )
    missing = [d for d in drivers_run if d not in drivers.data_vars]
    if missing:
        raise GridError(
            f"{label}: the model was trained on drivers {drivers_run}; the grid lacks "
            f"{missing} (it has {sorted(map(str, drivers.data_vars))})"
        )
    scaled = [d for d in (*drivers_run, inputs["target"]) if d not in run.scaler.center]
    if scaled:
        raise ModelError(
            f"{label}: the scaler has no statistics for {scaled}; it was fitted on "
            f"{run.scaler.variables}: the run directory does not belong to these inputs"
        )
    if igbp_feats and not has_igbp:
        raise ModelError(
            f"{label}: the model has an IGBP one-hot input ({', '.join(igbp_feats)}); pass "
            "igbp= a (lat, lon) grid of IGBP codes, e.g. "
            "fluxgrid.io.grids.vegetation_type(land_cover, target=drivers)"
        )
    conversions: dict[str, tuple[float, float]] = {}
    for name in drivers_run:
        have = str(drivers[name].attrs.get("units", catalog.units_for(name)))
        want = str(run.scaler.units.get(name) or have)
        try:
            if normalise(want) == normalise(have):
                continue
            a = float(convert(np.array([0.0]), have, want, what=name)[0])
            b = float(convert(np.array([1.0]), have, want, what=name)[0]) - a
        except UnitError as err:
            raise ModelError(
                f"{label}: the model was trained on {name!r} in {want!r}; the drivers give "
                f"{have!r}, which cannot be converted ({err}); check the drivers or retrain"
            ) from None
        conversions[name] = (a, b)
    return conversions


def _training_sites(run: TrainedRun) -> list[str]:
    """Sites with training windows (from the split), else the configured sites."""
    from .prep.splits import PARTS

    try:
        split = run.split()
        part = split["part"].transpose("site", "time").values
        return [str(s) for s in split["site"].values[(part == PARTS["train"]).any(axis=1)]]
    except Exception:  # no split saved: fall back to the configuration
        sites = run.config.data.sites
        return list(sites) if sites is not None else []


def provenance(runs: Sequence[TrainedRun], drivers: xr.Dataset) -> dict[str, Any]:
    """Provenance attributes of maps made from ``runs`` and ``drivers``.

    Returns
    -------
    dict
        ``model_name``, ``model_run_dir``, ``model_training_sites``, ``model_target``,
        ``model_features``, ``model_lookback_days``, ``model_params``, ``model_members``,
        ``data_drivers_<key>`` for the drivers' ``title``, ``description``, ``source``, ...
        attributes, and ``fluxgrid_version``; values are strings or numbers (lists as JSON).
    """
    from . import __version__

    sites = sorted({s for run in runs for s in _training_sites(run)})
    attrs: dict[str, Any] = {
        "model_name": ", ".join(str(r.inputs.get("model", r.model.name)) for r in runs),
        "model_run_dir": "; ".join(
            str(r.path) if r.path is not None else "(in-memory run, not saved)" for r in runs
        ),
        "model_training_sites": ", ".join(sites) if sites else "unknown",
        "model_target": str(runs[0].inputs["target"]),
        "model_features": json.dumps(runs[0].features),
        "model_lookback_days": ", ".join(str(r.lookback) for r in runs),
        "model_params": json.dumps([r.model.params for r in runs], default=str),
        "model_training_source": ", ".join(sorted({str(r.config.data.source) for r in runs})),
        "model_members": len(runs),
    }
    for key in _DRIVER_PROVENANCE:
        if key in drivers.attrs:
            value = drivers.attrs[key]
            attrs[f"data_drivers_{key}"] = (
                value if isinstance(value, str | int | float) else json.dumps(value, default=str)
            )
    attrs["fluxgrid_version"] = __version__
    return attrs


# --------------------------------------------------------------------------- the kernel
def _igbp_names(codes: np.ndarray) -> np.ndarray:
    """IGBP abbreviations of integer codes (``''`` for codes outside 1..17)."""
    from .io.grids import IGBP_CLASSES

    codes = np.asarray(codes)
    table = np.array([""] + [IGBP_CLASSES[c][0] for c in range(1, 18)], dtype=object)
    ok = (codes >= 1) & (codes <= 17)
    return np.where(ok, table[np.where(ok, codes, 0).astype(np.int64)], "").astype(str)


def _pixel_groups(n_windows: np.ndarray, batch_size: int) -> np.ndarray:
    """Boundaries ``[0, ..., P]`` of consecutive cell groups of about ``batch_size`` windows."""
    before = np.cumsum(n_windows) - n_windows
    group = before // max(1, batch_size)
    inner = np.flatnonzero(np.diff(group)) + 1
    return np.concatenate([[0], inner, [n_windows.size]]).astype(np.int64)


def predict_pixels(
    run: TrainedRun,
    series: np.ndarray,
    time: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    igbp: np.ndarray | None = None,
    *,
    device: str = "auto",
    batch_size: int | None = None,
) -> np.ndarray:
    """Predict every complete window of many cells at once: the per-tile kernel.

    Parameters
    ----------
    run
        Trained run.
    series
        Raw drivers ``(cell, time, driver)`` in the run's driver order and training units.
    time
        Daily time stamps ``(time,)`` (for the day-of-year inputs).
    latitude, longitude
        Cell centres ``(cell,)``, degrees.
    igbp
        IGBP abbreviations ``(cell,)`` (``''`` unknown), needed when the model has an IGBP
        one-hot.
    device
        ``auto`` (CUDA when present), ``cpu`` or ``cuda[:n]``.
    batch_size
        Windows per model call (default 512 on the CPU, where larger batches fall out of
        the caches and run slower: 1.6x on a 64-unit LSTM here; 32768 on CUDA).

    Returns
    -------
    numpy.ndarray
        ``(cell, time)`` float32 predictions in target units; NaN where no complete window
        ends (the first ``lookback - 1`` days, windows with a missing driver).

    Examples
    --------
    >>> run = fluxgrid.load_run("runs/demo")                      # doctest: +SKIP
    >>> y = predict_pixels(run, x, time, lat, lon, igbp)          # doctest: +SKIP
    """
    from ._lazy import lazy_import
    from .tensors import WindowCube, resolve_device
    from .windows import _complete_windows, fill_short_gaps, static_inputs

    torch = lazy_import("torch")
    dev = resolve_device(device)
    n_cell, n_time, n_drv = series.shape
    drivers = list(run.inputs["drivers"])
    if n_drv != len(drivers):
        raise ModelError(f"series has {n_drv} drivers; the run needs {drivers}")
    lookback = run.lookback
    out = np.full((n_cell, n_time), np.nan, dtype=np.float32)
    if n_cell == 0 or n_time < lookback:
        return out
    series = np.asarray(series, dtype=np.float32)
    gaps = int(run.inputs.get("fill_gaps", 0))
    if gaps > 0:
        series = np.stack(
            [fill_short_gaps(series[..., j], gaps)[0] for j in range(n_drv)], axis=-1
        ).astype(np.float32)
    complete = _complete_windows(np.isnan(series).any(axis=-1), lookback)
    n_windows = complete.sum(axis=1)
    if not n_windows.any():
        return out
    extra = static_inputs(
        np.asarray(time),
        np.asarray(latitude, dtype=np.float64),
        np.asarray(longitude, dtype=np.float64),
        igbp,
        static=run.inputs.get("static", ()),
        igbp_classes=run.inputs.get("igbp_classes"),
    )
    feats = run.features
    dynamic = [f for f in feats if f in drivers or (f in extra and "time" in extra[f].dims)]
    per_cell = [f for f in feats if f not in dynamic]
    if dynamic + per_cell != feats:
        raise ModelError(f"cannot order the inputs as the model's {feats}")
    dyn = np.empty((n_cell, n_time, len(dynamic)), dtype=np.float32)
    for i, name in enumerate(dynamic):
        dyn[:, :, i] = series[..., drivers.index(name)] if name in drivers else extra[name].values
    static = (
        np.stack([extra[n].values.astype(np.float32) for n in per_cell], axis=1)
        if per_cell
        else None
    )
    cube = WindowCube(
        dyn,
        static,
        None,
        features=feats,
        sites=np.arange(n_cell),
        times=np.asarray(time),
        device=dev,
        placement="auto",
    )
    del dyn
    predict = run.batch_predictor(device=dev)
    if batch_size is None:
        batch_size = 32768 if dev.type == "cuda" else 512
    bounds = _pixel_groups(n_windows, batch_size)
    with torch.no_grad():
        for p0, p1 in itertools.pairwise(bounds):
            cells, ends = np.nonzero(complete[p0:p1])
            cells += p0
            for b0 in range(0, cells.size, batch_size):
                c, e = cells[b0 : b0 + batch_size], ends[b0 : b0 + batch_size]
                x, _ = cube.gather(c, e, lookback)
                out[c, e] = predict(x).float().cpu().numpy()
    return out


@dataclasses.dataclass
class _Spec:
    """What every inference task needs besides its tile (one graph node, shared)."""

    runs: list
    columns: list[list[int]]  # per run: positions of its drivers among the stacked ones
    conversions: list[dict[str, tuple[float, float]]]
    time: np.ndarray
    device: str
    batch_size: int | None
    torch_threads: int | None


def _tile(*args: Any) -> np.ndarray:
    """One inference task: driver blocks ``(time, lat, lon)`` -> ``(member, time, lat, lon)``."""
    *blocks, keep, codes, lat, lon, spec = args
    if spec.torch_threads is not None:
        from ._lazy import lazy_import

        lazy_import("torch").set_num_threads(int(spec.torch_threads))
    n_time, n_lat, n_lon = blocks[0].shape
    out = np.full((len(spec.runs), n_time, n_lat, n_lon), np.nan, dtype=np.float32)
    cells = np.flatnonzero(np.asarray(keep, dtype=bool).ravel())
    if cells.size == 0:
        return out
    stacked = np.stack([np.asarray(b, np.float32).reshape(n_time, -1)[:, cells] for b in blocks])
    lat_c = np.repeat(np.asarray(lat, np.float64), n_lon)[cells]
    lon_c = np.tile(np.asarray(lon, np.float64), n_lat)[cells]
    names = _igbp_names(np.asarray(codes).ravel()[cells])
    for k, run in enumerate(spec.runs):
        series = stacked[spec.columns[k]].transpose(2, 1, 0)  # (cell, time, driver)
        drivers = run.inputs["drivers"]
        if spec.conversions[k]:
            series = series.copy()
            for name, (a, b) in spec.conversions[k].items():
                j = drivers.index(name)
                series[..., j] = a + b * series[..., j]
        pred = predict_pixels(
            run,
            series,
            spec.time,
            lat_c,
            lon_c,
            names,
            device=spec.device,
            batch_size=spec.batch_size,
        )
        flat = out[k].reshape(n_time, n_lat * n_lon)
        flat[:, cells] = pred.T
    return out


# --------------------------------------------------------------------------- graph building
def _as_grid_array(da: xr.DataArray, like: xr.Dataset, what: str) -> xr.DataArray:
    from .io.grids import standardise_grid

    if set(da.dims) != {"lat", "lon"}:
        raise GridError(f"{what} has dims {list(da.dims)}; expected (lat, lon)")
    da = standardise_grid(da.to_dataset(name="v"))["v"]
    for c in ("lat", "lon"):
        if da.sizes[c] != like.sizes[c] or not np.allclose(da[c].values, like[c].values):
            raise GridError(
                f"{what} is on another grid than the drivers ({c} differs); build it with "
                "target=drivers (e.g. land_mask(lsm, target=drivers), "
                "vegetation_type(land_cover, target=drivers))"
            )
    return da.assign_coords(lat=like["lat"].values, lon=like["lon"].values)


def _to_dask_2d(da: xr.DataArray, chunks: tuple) -> Any:
    import dask.array as dsa

    data = da.data
    if isinstance(data, dsa.Array):
        return data.rechunk(chunks)
    return dsa.from_array(np.asarray(data), chunks=chunks)


def _members(
    drivers: xr.Dataset,
    runs: list[TrainedRun],
    *,
    mask: xr.DataArray | None,
    igbp: xr.DataArray | None,
    period: tuple[Any, Any] | None,
    device: str,
    batch_size: int | None,
    chunk_bytes: int,
    torch_threads: int | None,
) -> tuple[xr.DataArray, xr.Dataset, dict[str, Any]]:
    """Lazy member predictions ``(member, time, lat, lon)``, the prepared drivers, a report."""
    import dask
    import dask.array as dsa

    from .io.grids import grid_chunk_plan, prepare_drivers, standardise_grid

    if not isinstance(drivers, xr.Dataset):
        raise GridError(f"drivers must be an xarray.Dataset, got {type(drivers).__name__}")
    targets = {r.inputs["target"] for r in runs}
    if len(targets) > 1:
        raise ModelError(f"the runs predict different targets {sorted(targets)}; give runs of one")
    units = {r.inputs.get("target_units", "") for r in runs}
    if len(units) > 1:
        raise ModelError(f"the runs predict in different units {sorted(units)}")
    names: list[str] = []
    for run in runs:
        names += [d for d in run.inputs["drivers"] if d not in names]
    raw = standardise_grid(drivers)
    if igbp is None and "igbp" in raw.variables:
        igbp = raw["igbp"]
    try:
        ready = prepare_drivers(raw, variables=names)
    except GridError as err:
        labels = ", ".join(_label(r, i) for i, r in enumerate(runs))
        raise GridError(f"{labels} needs drivers {names}: {err}") from None
    n_time = ready.sizes["time"]
    longest = max(r.lookback for r in runs)
    if n_time < longest:
        raise GridError(
            f"the drivers cover {n_time} days ({_day(ready.time.values[0])} to "
            f"{_day(ready.time.values[-1])}) but the model needs a look-back of {longest} days; "
            f"give drivers from at least {longest - 1} days before the first day to map"
        )
    conversions = [
        check_run(r, ready, has_igbp=igbp is not None, label=_label(r, i))
        for i, r in enumerate(runs)
    ]

    plan = grid_chunk_plan(ready, target_bytes=chunk_bytes, layout="inference")
    first = ready[names[0]].data
    if isinstance(first, dsa.Array) and len(first.chunks[0]) == 1:
        lat_chunks, lon_chunks = first.chunks[1], first.chunks[2]
        ready = ready.chunk({"time": -1, "lat": lat_chunks, "lon": lon_chunks})
    else:
        ready = ready.chunk(plan)
        lat_chunks, lon_chunks = ready[names[0]].chunks[1], ready[names[0]].chunks[2]

    keep = xr.DataArray(
        np.ones((ready.sizes["lat"], ready.sizes["lon"]), dtype=bool),
        dims=("lat", "lon"),
        coords={"lat": ready["lat"].values, "lon": ready["lon"].values},
    )
    rules = []
    if "land" in ready.coords:
        keep = keep & ready["land"].reset_coords(drop=True).astype(bool)
        rules.append("land coordinate of the drivers")
    if mask is not None:
        m = _as_grid_array(mask, ready, "mask")
        if m.dtype != bool:
            raise GridError(f"mask must be boolean (lat, lon), got {m.dtype}")
        keep = keep & m
        rules.append("mask argument")
    codes = None
    if igbp is not None:
        codes = _as_grid_array(igbp, ready, "igbp grid")
        if codes.dtype.kind == "f":
            codes = codes.fillna(-1)
        if codes.dtype.kind not in "iuf":
            raise GridError(f"igbp grid must hold integer IGBP codes (1..17), got {codes.dtype}")
        codes = codes.astype("int16")
        keep = keep & (codes >= 0)
        rules.append("cells with an IGBP vegetation type (igbp >= 0)")
    report: dict[str, Any] = {"mask_rules": "; ".join(rules) if rules else "none (every cell)"}
    for name, arr in (("keep", keep), ("codes", codes)):
        if arr is not None and not isinstance(arr.data, dsa.Array):
            if name == "keep":
                report["cells_mapped"] = int(arr.values.sum())
                report["cells_masked"] = int(arr.size - arr.values.sum())
            else:
                report.update(_igbp_report(arr.values, keep, runs))
    chunks2d = (lat_chunks, lon_chunks)
    keep_d = _to_dask_2d(keep, chunks2d)
    codes_d = (
        _to_dask_2d(codes, chunks2d)
        if codes is not None
        else dsa.zeros(keep_d.shape, chunks=chunks2d, dtype="int16")
    )
    lat_d = dsa.from_array(ready["lat"].values, chunks=(lat_chunks,))
    lon_d = dsa.from_array(ready["lon"].values, chunks=(lon_chunks,))
    spec = _Spec(
        runs=list(runs),
        columns=[[names.index(d) for d in r.inputs["drivers"]] for r in runs],
        conversions=conversions,
        time=ready["time"].values,
        device=device,
        batch_size=batch_size,
        torch_threads=torch_threads,
    )
    spec_node = dask.delayed(spec, pure=False)
    args: list[Any] = []
    for name in names:
        args += [ready[name].data, "tyx"]
    args += [keep_d, "yx", codes_d, "yx", lat_d, "y", lon_d, "x", spec_node, None]
    data = dsa.blockwise(
        _tile,
        "ktyx",
        *args,
        new_axes={"k": len(runs)},
        dtype=np.float32,
        meta=np.empty((0, 0, 0, 0), dtype=np.float32),
        name=f"upscale-{dask.base.tokenize(spec_node.key, *names, chunks2d)}",
    )
    labels = _member_labels(runs)
    out = xr.DataArray(
        data,
        dims=("member", "time", "lat", "lon"),
        coords={
            "member": labels,
            "time": ready["time"],
            "lat": ready["lat"],
            "lon": ready["lon"],
        },
    )
    if period is not None:
        start, end = (pd.Timestamp(p) for p in period)
        first_ok = pd.Timestamp(ready.time.values[0]) + pd.Timedelta(days=longest - 1)
        if start < first_ok:
            raise GridError(
                f"period starts {start.date()} but the drivers start "
                f"{_day(ready.time.values[0])}: with a look-back of {longest} days the first "
                f"mappable day is {first_ok.date()}; extend the drivers back to "
                f"{(start - pd.Timedelta(days=longest - 1)).date()} or start the period later"
            )
        out = out.sel(time=slice(start, end))
        if out.sizes["time"] == 0:
            raise GridError(f"period {start.date()}..{end.date()} selects no day of the drivers")
    return out, ready, report


def _day(t: Any) -> str:
    return str(pd.Timestamp(t).date())


def _member_labels(runs: Sequence[TrainedRun]) -> list[str]:
    labels = [r.path.name if r.path is not None else f"member{i}" for i, r in enumerate(runs)]
    if len(set(labels)) < len(labels):
        labels = [f"{i}:{lab}" for i, lab in enumerate(labels)]
    return labels


def _igbp_report(codes: np.ndarray, keep: xr.DataArray, runs: Sequence[TrainedRun]) -> dict:
    """Cells whose IGBP class is not in a run's one-hot vocabulary (predicted with zeros)."""
    vocab = set()
    for r in runs:
        vocab |= set(r.inputs.get("igbp_classes", []))
    if not any("igbp" in r.inputs.get("static", ()) for r in runs):
        return {}
    mapped = np.asarray(keep.values, bool) if not hasattr(keep.data, "dask") else None
    names = _igbp_names(codes.ravel())
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


def _target_attrs(runs: Sequence[TrainedRun], what: str = "") -> dict[str, str]:
    from . import catalog

    target = runs[0].inputs["target"]
    try:
        long_name = catalog.get(target).long_name
    except Exception:  # a target outside the catalog keeps its name
        long_name = target
    return {
        "long_name": f"{long_name}{what}",
        "units": runs[0].inputs.get("target_units") or "gC m-2 d-1",
    }


def _missing_rule(runs: Sequence[TrainedRun]) -> str:
    lookback = max(r.lookback for r in runs)
    return (
        f"NaN for the first {lookback - 1} days of the drivers (look-back of {lookback} days), "
        "on days whose look-back window has a missing driver, and in cells outside the mask; "
        "nothing is filled"
    )


# --------------------------------------------------------------------------- public API
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
        Daily drivers, dims ``(time, lat, lon)`` (e.g. :func:`fluxgrid.io.grids.read_era5`,
        :func:`~fluxgrid.io.grids.open_grid` of a store written by ``fluxgrid drivers``),
        with the run's drivers under canonical names (other units are converted). A ``land``
        coordinate (from ``prepare_drivers(mask=...)``) and an ``igbp`` variable are used.
    run
        A :class:`~fluxgrid.train.TrainedRun` or run directory; several give an ensemble
        (:func:`upscale_ensemble`).
    mask
        Boolean ``(lat, lon)`` on the drivers' grid: cells to map (e.g. a land or
        vegetation mask); other cells are NaN and cost nothing.
    igbp
        ``(lat, lon)`` IGBP codes 1..17 (e.g. :func:`fluxgrid.io.grids.vegetation_type`);
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
        provenance attributes (:func:`provenance`) and ``mask_rules``, ``cells_mapped``,
        ``igbp_outside_training`` where known. Ensembles: see :func:`upscale_ensemble`.

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
    if len(runs) > 1:
        return upscale_ensemble(
            drivers,
            runs,
            mask=mask,
            igbp=igbp,
            period=period,
            device=device,
            batch_size=batch_size,
            chunk_bytes=chunk_bytes,
            torch_threads=torch_threads,
            quantiles=quantiles,
        )
    if len(quantiles):
        raise ModelError("quantiles need an ensemble: give several runs")
    members, _ready, report = _members(
        drivers,
        runs,
        mask=mask,
        igbp=igbp,
        period=period,
        device=device,
        batch_size=batch_size,
        chunk_bytes=chunk_bytes,
        torch_threads=torch_threads,
    )
    target = runs[0].inputs["target"]
    da = members.isel(member=0, drop=True)
    da.attrs = _target_attrs(runs)
    out = xr.Dataset({target: da}, attrs=_map_attrs(runs, drivers, report, "model output"))
    return out if _is_lazy(drivers) else out.compute()


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
    qs = [float(q) for q in quantiles]
    if any(not 0.0 <= q <= 1.0 for q in qs):
        raise ModelError(f"quantiles {qs}: expected values in [0, 1]")
    members, _ready, report = _members(
        drivers,
        members_runs,
        mask=mask,
        igbp=igbp,
        period=period,
        device=device,
        batch_size=batch_size,
        chunk_bytes=chunk_bytes,
        torch_threads=torch_threads,
    )
    run0 = members_runs[0]
    target = run0.inputs["target"]
    n = len(members_runs)
    out = xr.Dataset(attrs=_map_attrs(members_runs, drivers, report, f"{n}-member ensemble"))
    out[f"{target}_mean"] = members.mean("member", skipna=False).assign_attrs(
        _target_attrs(members_runs, f" (mean of {n} ensemble members)")
    )
    out[f"{target}_std"] = members.std("member", ddof=1, skipna=False).assign_attrs(
        _target_attrs(members_runs, f" (standard deviation across {n} ensemble members, ddof=1)")
    )
    if qs:
        qmaps = members.quantile(qs, dim="member", skipna=False)
        for q in qs:
            name = f"{target}_q{_percent(q)}"
            out[name] = (
                qmaps.sel(quantile=q, drop=True)
                .astype("float32")
                .assign_attrs(_target_attrs(members_runs, f" ({q:g} quantile across {n} members)"))
            )
    out.attrs["model_member_labels"] = ", ".join(members["member"].values.tolist())
    if keep_members:
        # (member, time, lat, lon): for analysis; drop it before write_map (maps are 3-D)
        out[f"{target}_member"] = members.assign_attrs(
            _target_attrs(members_runs, " (ensemble member)")
        )
    return out if _is_lazy(drivers) else out.compute()


def _percent(q: float) -> str:
    text = f"{q * 100:g}"
    return text.zfill(2) if "." not in text else text.replace(".", "p").zfill(4)


def _is_lazy(ds: xr.Dataset) -> bool:
    return any(v.chunks is not None for v in ds.data_vars.values())


def _map_attrs(runs, drivers, report, what) -> dict[str, Any]:
    attrs = {
        "title": f"fluxgrid upscaled {runs[0].inputs['target']} ({what})",
        "resolution": "DD",
        "missing_values": _missing_rule(runs),
        **provenance(runs, drivers),
        **{k: v for k, v in report.items()},
    }
    return attrs


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
    from ._progress import progress_bar
    from .io.atomic import check_writable
    from .io.maps import write_map

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


# --------------------------------------------------------------------------- after the maps
def main_variable(maps: xr.Dataset) -> str:
    """The flux variable of a map dataset: the target of a single run or the ensemble mean.

    Examples
    --------
    >>> main_variable(xr.Dataset({"nee_mean": 0.0, "nee_std": 0.0}))
    'nee_mean'
    """
    names = [str(n) for n in maps.data_vars]
    means = [n for n in names if n.endswith("_mean")]
    if means:
        return means[0]
    plain = [
        n for n in names if not any(n.endswith(s) for s in ("_std", "_member")) and "_q" not in n
    ]
    if not plain:
        raise GridError(f"no flux variable among {names}")
    return plain[0]


def map_totals(
    maps: xr.Dataset | xr.DataArray,
    igbp: xr.DataArray | None = None,
    *,
    variable: str | None = None,
    **kwargs: Any,
) -> xr.Dataset:
    """Annual regional totals of a flux map: all mapped cells, and per IGBP class.

    :func:`fluxgrid.regions.regional_totals` (TgC yr-1; for NEE ``sink = -total``, positive =
    uptake) for the region ``all`` (every cell, ``region_id`` -1) and, with ``igbp``, one
    region per vegetation type present (``region_id`` = IGBP code).

    Parameters
    ----------
    maps
        Map dataset (e.g. :func:`fluxgrid.io.maps.open_map` of an upscaled map) or one
        variable ``(time, lat, lon)`` in gC m-2 d-1.
    igbp
        ``(lat, lon)`` IGBP codes on the map's grid (negative: none).
    variable
        Variable of a dataset (default: :func:`main_variable`).
    **kwargs
        Passed to :func:`~fluxgrid.regions.regional_totals` (``min_coverage``,
        ``full_years``, ...).

    Returns
    -------
    xarray.Dataset
        Dims ``(region, year)``, see :func:`~fluxgrid.regions.regional_totals`; computed
        (Dask-backed maps are read in chunks of whole maps x many days).

    Examples
    --------
    >>> table = map_totals(open_map("demo_out/nee_map.nc"), igbp)  # doctest: +SKIP
    """
    from .io.grids import IGBP_CLASSES, grid_chunk_plan
    from .regions import regional_totals

    if isinstance(maps, xr.Dataset):
        variable = variable or main_variable(maps)
        da = maps[variable]
    else:
        da = maps
        variable = variable or str(da.name)
    if da.chunks is not None:
        # few large chunks (whole maps x many days) instead of one per day of the file
        plan = grid_chunk_plan(da.to_dataset(name="v"), layout="maps", target_bytes=64 * 2**20)
        da = da.chunk(plan)
    whole = regional_totals(da, None, variable=variable, **kwargs)
    whole = whole.assign_coords(region=["all"], region_id=("region", [-1]))
    parts = [whole]
    if igbp is not None:
        codes = _as_grid_array(igbp, da.to_dataset(name="v"), "igbp grid")
        values = np.asarray(codes.values)
        present = sorted({int(c) for c in np.unique(values[np.isfinite(values)]) if c >= 0})
        names = {c: IGBP_CLASSES.get(c, (str(c), ""))[0] for c in present}
        if present:
            codes = codes.copy()
            codes.attrs = {}
            parts.append(regional_totals(da, codes, names=names, variable=variable, **kwargs))
    table = xr.concat(parts, dim="region", data_vars="minimal", coords="minimal", compat="override")
    table = table.compute()
    table.attrs = dict(whole.attrs)
    table.attrs["regions"] = "all: every mapped cell; others: cells of one IGBP vegetation type"
    return table


def read_layer(path: str | os.PathLike, variables: Sequence[str] = ("igbp",)) -> xr.DataArray:
    """A ``(lat, lon)`` layer (IGBP codes, a mask) from a NetCDF file or Zarr store.

    Parameters
    ----------
    path
        File or store readable by :func:`fluxgrid.io.grids.open_grid`.
    variables
        Accepted variable names, in order of preference.

    Returns
    -------
    xarray.DataArray
        Dims ``(lat, lon)`` in the standard layout, loaded.

    Raises
    ------
    GridError
        If none of ``variables`` is there or it is not 2-D.

    Examples
    --------
    >>> igbp = read_layer("vegetation_0p5deg.nc")              # doctest: +SKIP
    >>> land = read_layer("land.nc", variables=("land", "mask"))  # doctest: +SKIP
    """
    from .io.grids import open_grid

    ds = open_grid(path)
    for name in variables:
        if name in ds.variables:
            da = ds[name]
            if "time" in da.dims and da.sizes["time"] == 1:
                da = da.isel(time=0, drop=True)
            if set(da.dims) != {"lat", "lon"}:
                raise GridError(f"{path}: {name!r} has dims {list(da.dims)}; expected (lat, lon)")
            da = da.load()
            if name != "igbp" and da.dtype != bool:
                da = da.fillna(0) != 0
            return da
    raise GridError(
        f"{path}: no variable {' or '.join(map(repr, variables))}; it has "
        f"{sorted(map(str, ds.data_vars))}"
    )


def open_maps(path: str | os.PathLike, *, target_bytes: int = 64 * 2**20) -> xr.Dataset:
    """:func:`fluxgrid.io.maps.open_map` with Dask chunks of whole maps x many days.

    Files are written with one day per NetCDF chunk (map access); summaries over time
    (annual totals, mean maps) are much faster on chunks of about ``target_bytes``.

    Examples
    --------
    >>> maps = open_maps("demo_out/nee_map.nc")  # doctest: +SKIP
    """
    from .io.grids import grid_chunk_plan
    from .io.maps import open_map

    with open_map(path) as probe:
        plan = grid_chunk_plan(probe, layout="maps", target_bytes=target_bytes)
    return open_map(path, chunks=plan)
