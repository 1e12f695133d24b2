"""The per-tile kernel: grid cells become the sites of a device batch, windows are predicted.

Inside a tile the cells of the mask become the "sites" of a
:class:`fluxgrid.tensors.WindowCube` (on the GPU when present, ``device="auto"``); the
complete look-back windows of all cells are found at once
(:func:`fluxgrid.windows.complete_windows`, a cumulative sum of the missing-driver mask)
and gathered on the device by advanced indexing, ``batch_size`` windows at a time (cells
are grouped so that a batch holds whole cells; a cell with more windows than a batch is
split). There is no Python loop over cells or days.

The model sees what it saw at the towers: the run's drivers (short gaps filled as in
training when the run used ``fill_gaps``), day-of-year sine/cosine, the cell centre as
``site_lat``/``site_lon`` and the cell's IGBP class as the one-hot
(:func:`fluxgrid.windows.static_inputs`), in the order of ``inputs.json``, scaled inside
:meth:`fluxgrid.runs.TrainedRun.batch_predictor`.

**Cover fractions** (:func:`predict_fractions`, the FLUXCOM approach): every
``(cell, class)`` pair with a kept fraction becomes one "site" of the same device batch,
with that class as the IGBP one-hot; the cell's flux is ``sum_k f_k * y_k``. The pairs are
stacked once (``np.nonzero`` of the fraction table), so there is no loop over cells or
classes.

Examples
--------
>>> igbp_names(np.array([1, 4, 0, -1])).tolist()
['ENF', 'DBF', '', '']
>>> pixel_groups(np.array([3, 3, 3, 3]), batch_size=6).tolist()
[0, 2, 4]
>>> class_pairs(np.array([[0.5, 0.0], [0.5, 1.0]]))  # (class, cell) -> pairs, cell-major
(array([0, 0, 1]), array([0, 1, 1]))
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import numpy as np

from .._lazy import lazy_import
from ..errors import ModelError
from ..grids.landcover import IGBP_CLASSES
from ..runs import TrainedRun
from ..tensors import WindowCube, resolve_device
from ..windows import complete_windows, fill_short_gaps, static_inputs

__all__ = [
    "TileSpec",
    "class_pairs",
    "complete_ends",
    "igbp_names",
    "pixel_groups",
    "predict_fractions",
    "predict_pixels",
    "predict_tile",
]

#: windows per model call when none is asked for: larger CPU batches fall out of the caches
#: and run slower (1.6x on a 64-unit LSTM here); CUDA wants large batches
_DEFAULT_BATCH = {"cuda": 32768, "cpu": 512}


def igbp_names(codes: np.ndarray) -> np.ndarray:
    """IGBP abbreviations of integer codes (``''`` for codes outside 1..17).

    Parameters
    ----------
    codes
        Integer IGBP codes, any shape.

    Returns
    -------
    numpy.ndarray
        Strings of the same shape.
    """
    codes = np.asarray(codes)
    table = np.array([""] + [IGBP_CLASSES[c][0] for c in range(1, 18)], dtype=object)
    ok = (codes >= 1) & (codes <= 17)
    return np.where(ok, table[np.where(ok, codes, 0).astype(np.int64)], "").astype(str)


def pixel_groups(n_windows: np.ndarray, batch_size: int) -> np.ndarray:
    """Boundaries ``[0, ..., P]`` of consecutive cell groups of about ``batch_size`` windows.

    Parameters
    ----------
    n_windows
        Complete windows per cell ``(cell,)``.
    batch_size
        Windows per model call.

    Returns
    -------
    numpy.ndarray
        int64 cell indices where a group starts, then the number of cells.
    """
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
    torch = lazy_import("torch")
    dev = resolve_device(device)
    n_cell, n_time, _ = series.shape
    out = np.full((n_cell, n_time), np.nan, dtype=np.float32)
    series, complete = complete_ends(run, series)
    if n_cell == 0 or not complete.any():
        return out
    dynamic, static = _model_inputs(run, series, time, latitude, longitude, igbp)
    cube = WindowCube(
        dynamic,
        static,
        None,
        features=run.features,
        sites=np.arange(n_cell),
        times=np.asarray(time),
        device=dev,
        placement="auto",
    )
    del dynamic
    predict = run.batch_predictor(device=dev)
    if batch_size is None:
        batch_size = _DEFAULT_BATCH["cuda" if dev.type == "cuda" else "cpu"]
    with torch.no_grad():
        for cells, ends in _window_batches(complete, batch_size):
            x, _ = cube.gather(cells, ends, run.lookback)
            out[cells, ends] = predict(x).float().cpu().numpy()
    return out


def complete_ends(run: TrainedRun, series: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The drivers with short gaps filled as in training, and where complete windows end.

    Parameters
    ----------
    run
        Trained run (its drivers, ``fill_gaps`` and look-back).
    series
        Raw drivers ``(cell, time, driver)`` in the run's driver order and training units.

    Returns
    -------
    series : numpy.ndarray
        float32 ``(cell, time, driver)``, short gaps filled when the run used ``fill_gaps``.
    complete : numpy.ndarray
        bool ``(cell, time)``: a window of ``run.lookback`` days without a missing driver
        ends here.

    Raises
    ------
    ModelError
        If ``series`` does not have the run's number of drivers.
    """
    n_cell, n_time, n_drv = series.shape
    drivers = list(run.inputs["drivers"])
    if n_drv != len(drivers):
        raise ModelError(f"series has {n_drv} drivers; the run needs {drivers}")
    if n_cell == 0 or n_time < run.lookback:
        return np.asarray(series, dtype=np.float32), np.zeros((n_cell, n_time), dtype=bool)
    series = _filled(np.asarray(series, dtype=np.float32), int(run.inputs.get("fill_gaps", 0)))
    return series, complete_windows(np.isnan(series).any(axis=-1), run.lookback)


def class_pairs(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``(cell, class)`` pairs with a positive weight, cell-major (a cell's pairs adjacent).

    Parameters
    ----------
    weights
        Kept cover fractions ``(class, cell)`` (0 where a class is absent or skipped).

    Returns
    -------
    cells, classes : numpy.ndarray
        int64 ``(pair,)`` cell and class index of each pair.
    """
    cells, classes = np.nonzero(np.asarray(weights).T > 0)
    return cells.astype(np.int64), classes.astype(np.int64)


def predict_fractions(
    run: TrainedRun,
    series: np.ndarray,
    time: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    weights: np.ndarray,
    classes: np.ndarray,
    *,
    device: str = "auto",
    batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cover-fraction predictions of many cells: every ``(cell, class)`` pair in one batch.

    Each pair with a positive weight becomes a "site" of :func:`predict_pixels` (the
    cell's drivers and centre, the class as the IGBP input); the cell's flux is
    ``sum_k weights[k, cell] * y[k, cell]``. Classes with weight 0 (absent, skipped by
    ``min_fraction``, or non-vegetated) add nothing and cost nothing: a cell covered only
    by them has flux 0 on every day with a complete window. The weights are not
    renormalised.

    Parameters
    ----------
    run, series, time, latitude, longitude, device, batch_size
        See :func:`predict_pixels` (``series`` ``(cell, time, driver)``).
    weights
        Kept cover fractions ``(class, cell)`` in [0, 1].
    classes
        IGBP abbreviations ``(class,)`` of the weights' rows.

    Returns
    -------
    flux : numpy.ndarray
        float32 ``(cell, time)`` in target units; NaN where no complete window ends.
    per_class : numpy.ndarray
        float32 ``(class, cell, time)``: the prediction with each class as input (the flux
        per m2 of that class); NaN for pairs with weight 0.

    Examples
    --------
    >>> flux, y = predict_fractions(run, x, time, lat, lon, w, np.array(["DBF", "CRO"]))
    ...                                                              # doctest: +SKIP
    """
    weights = np.asarray(weights, dtype=np.float32)
    n_cell, n_time, _ = series.shape
    if weights.shape != (len(classes), n_cell):
        raise ModelError(
            f"weights have shape {weights.shape}; expected (class, cell) = "
            f"({len(classes)}, {n_cell})"
        )
    series, complete = complete_ends(run, series)
    flux = np.where(complete, np.float32(0.0), np.float32(np.nan)).astype(np.float32)
    per_class = np.full((len(classes), n_cell, n_time), np.nan, dtype=np.float32)
    cells, ks = class_pairs(weights)
    if cells.size == 0 or not complete.any():
        return flux, per_class
    pred = predict_pixels(
        run,
        series[cells],
        time,
        np.asarray(latitude)[cells],
        np.asarray(longitude)[cells],
        np.asarray(classes).astype(str)[ks],
        device=device,
        batch_size=batch_size,
    )  # (pair, time)
    per_class[ks, cells] = pred
    np.add.at(flux, cells, weights[ks, cells][:, None] * pred)
    return flux, per_class


def _filled(series: np.ndarray, max_gap: int) -> np.ndarray:
    """Short gaps of each driver filled as in training (``fill_gaps`` of the run)."""
    if max_gap <= 0:
        return series
    columns = [fill_short_gaps(series[..., j], max_gap)[0] for j in range(series.shape[-1])]
    return np.stack(columns, axis=-1).astype(np.float32)


def _model_inputs(
    run: TrainedRun,
    series: np.ndarray,
    time: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    igbp: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Dynamic ``(cell, time, feature)`` and static ``(cell, feature)`` inputs, model order."""
    drivers = list(run.inputs["drivers"])
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
    n_cell, n_time, _ = series.shape
    dyn = np.empty((n_cell, n_time, len(dynamic)), dtype=np.float32)
    for i, name in enumerate(dynamic):
        dyn[:, :, i] = series[..., drivers.index(name)] if name in drivers else extra[name].values
    static = (
        np.stack([extra[n].values.astype(np.float32) for n in per_cell], axis=1)
        if per_cell
        else None
    )
    return dyn, static


def _window_batches(complete: np.ndarray, batch_size: int):
    """``(cells, ends)`` of at most ``batch_size`` complete windows, whole cells together."""
    bounds = pixel_groups(complete.sum(axis=1), batch_size)
    for p0, p1 in itertools.pairwise(bounds):
        cells, ends = np.nonzero(complete[p0:p1])
        cells += p0
        for b0 in range(0, cells.size, batch_size):
            yield cells[b0 : b0 + batch_size], ends[b0 : b0 + batch_size]


@dataclasses.dataclass
class TileSpec:
    """What every inference task needs besides its tile (one graph node, shared by all).

    Attributes
    ----------
    runs
        The trained runs (members), in member order.
    columns
        Per run: positions of its drivers among the stacked driver blocks.
    conversions
        Per run: ``{driver: (offset, factor)}`` to the training units
        (:func:`fluxgrid.upscale.checks.unit_conversions`).
    time
        The drivers' daily time stamps ``(time,)``.
    device, batch_size
        See :func:`predict_pixels`.
    torch_threads
        torch CPU threads set in each task (``None``: torch's default).
    classes
        Cover-fraction mode: IGBP abbreviations of the fraction block's classes (the
        vegetated classes kept); ``None``: majority-class mode.
    class_fluxes
        Cover-fraction mode: also return each class's prediction (one output slot per
        class after the flux).
    """

    runs: list
    columns: list[list[int]]
    conversions: list[dict[str, tuple[float, float]]]
    time: np.ndarray
    device: str
    batch_size: int | None
    torch_threads: int | None
    classes: list[str] | None = None
    class_fluxes: bool = False

    @property
    def slots(self) -> int:
        """Output slots per member: the flux, then (with ``class_fluxes``) one per class."""
        return 1 + (len(self.classes) if self.classes is not None and self.class_fluxes else 0)


def predict_tile(*args: Any) -> np.ndarray:
    """One inference task: driver blocks ``(time, lat, lon)`` -> ``(member, slot, time, lat, lon)``.

    Parameters
    ----------
    *args
        The driver blocks (one per stacked driver), then the ``keep`` mask ``(lat, lon)``,
        the IGBP codes ``(lat, lon)``, the kept cover fractions ``(class, lat, lon)`` (or
        ``None`` in majority-class mode), the block's ``lat`` and ``lon`` and the
        :class:`TileSpec` (the order of :func:`dask.array.blockwise`'s arguments).

    Returns
    -------
    numpy.ndarray
        float32 predictions, NaN outside ``keep`` and where no complete window ends. Slot 0
        is the flux (majority class, or fraction-weighted sum of the classes); slots 1.. are
        the per-class predictions with ``spec.class_fluxes``.
    """
    *blocks, keep, codes, fractions, lat, lon, spec = args
    if spec.torch_threads is not None:
        lazy_import("torch").set_num_threads(int(spec.torch_threads))
    n_time, n_lat, n_lon = blocks[0].shape
    out = np.full((len(spec.runs), spec.slots, n_time, n_lat, n_lon), np.nan, dtype=np.float32)
    cells = np.flatnonzero(np.asarray(keep, dtype=bool).ravel())
    if cells.size == 0:
        return out
    stacked = np.stack([np.asarray(b, np.float32).reshape(n_time, -1)[:, cells] for b in blocks])
    lat_c = np.repeat(np.asarray(lat, np.float64), n_lon)[cells]
    lon_c = np.tile(np.asarray(lon, np.float64), n_lat)[cells]
    names = igbp_names(np.asarray(codes).ravel()[cells])
    flat = out.reshape(len(spec.runs), spec.slots, n_time, n_lat * n_lon)
    for k, run in enumerate(spec.runs):
        series = _converted(
            stacked[spec.columns[k]].transpose(2, 1, 0),  # (cell, time, driver)
            run.inputs["drivers"],
            spec.conversions[k],
        )
        if spec.classes is None:
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
            flat[k, 0][:, cells] = pred.T
            continue
        weights = np.asarray(fractions, np.float32).reshape(len(spec.classes), -1)[:, cells]
        pred, per_class = predict_fractions(
            run,
            series,
            spec.time,
            lat_c,
            lon_c,
            weights,
            np.array(spec.classes),
            device=spec.device,
            batch_size=spec.batch_size,
        )
        flat[k, 0][:, cells] = pred.T
        if spec.class_fluxes:
            flat[k, 1:][:, :, cells] = per_class.transpose(0, 2, 1)
    return out


def _converted(
    series: np.ndarray, drivers: list[str], conversions: dict[str, tuple[float, float]]
) -> np.ndarray:
    """``series`` with each driver in ``conversions`` mapped to ``offset + factor * value``."""
    if not conversions:
        return series
    series = series.copy()
    for name, (a, b) in conversions.items():
        j = drivers.index(name)
        series[..., j] = a + b * series[..., j]
    return series
