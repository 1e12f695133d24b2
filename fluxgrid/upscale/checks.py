"""Trained runs for upscaling: loading them, checking them against a driver grid, provenance.

Everything here happens before any tile is computed: :func:`load_runs` turns run
directories into :class:`~fluxgrid.runs.TrainedRun` objects, :func:`check_run` says whether
a run can be applied to a daily driver grid (and how its driver units must be converted),
:func:`provenance` gives the attributes that say which runs and drivers made a map.

Examples
--------
>>> load_runs([])
Traceback (most recent call last):
...
fluxgrid.errors.ModelError: no trained run given; pass a run directory or a TrainedRun
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from .. import catalog
from .._version import __version__
from ..catalog.units import convert, normalise
from ..errors import GridError, ModelError, UnitError
from ..prep.splits import PARTS
from ..runs import TrainedRun, ensemble_members, is_ensemble, load_run

__all__ = [
    "GRID_STATIC",
    "RunLike",
    "check_run",
    "load_runs",
    "provenance",
    "run_label",
    "unit_conversions",
]

#: static inputs that can be built for grid cells (besides the IGBP one-hot)
GRID_STATIC = ("doy_sin", "doy_cos", "site_lat", "site_lon")

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
    "land_cover",
)

RunLike = Any  # TrainedRun, or a run directory (str / PathLike)


def run_label(run: TrainedRun, i: int) -> str:
    """How messages name the ``i``-th run: its directory, or its position when in memory.

    Examples
    --------
    >>> class Run:
    ...     path = None
    >>> run_label(Run(), 2)
    'run #2 (in memory)'
    """
    return f"run {run.path}" if run.path is not None else f"run #{i} (in memory)"


def load_runs(runs: RunLike | Sequence[RunLike]) -> list[TrainedRun]:
    """Trained runs from run objects and/or run directories, ready for inference.

    Run directories are loaded on the CPU (each inference task moves the model to its own
    device); torch networks are put in eval mode once, so concurrent tasks never toggle it.

    Parameters
    ----------
    runs
        A :class:`fluxgrid.runs.TrainedRun`, a run directory, an ensemble directory
        (``fluxgrid train`` with ``ensemble.seeds``: it stands for its members), or a
        sequence of them.

    Returns
    -------
    list of TrainedRun

    Raises
    ------
    ModelError
        If nothing or something else than a run is given.
    DataNotFoundError
        If a directory is not a run directory.
    """
    items = [runs] if isinstance(runs, str | os.PathLike | TrainedRun) else list(runs)
    out = []
    expanded = []
    for item in items:
        if isinstance(item, str | os.PathLike) and is_ensemble(item):
            expanded += ensemble_members(item)
        else:
            expanded.append(item)
    for item in expanded:
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
        Daily drivers in canonical units (after :func:`fluxgrid.grids.prepare_drivers`).
    has_igbp
        Whether an IGBP vegetation-type grid is available.
    label
        Name of the run in messages.

    Returns
    -------
    dict
        ``{driver: (offset, factor)}`` for drivers whose units differ from the units the
        model was trained on (``model_units = offset + factor * canonical``); empty when all
        match (see :func:`unit_conversions`).

    Raises
    ------
    ModelError
        If the run is not a daily model, its inputs cannot be built on a grid, its scaler
        lacks a driver, its units cannot be converted, or it needs an IGBP grid that is
        missing.
    GridError
        If a driver of the run is not in the grid.
    """
    _check_checkpoint(run, label)
    _check_inputs(run, drivers, has_igbp, label)
    return unit_conversions(run, drivers, label=label)


def _check_checkpoint(run: TrainedRun, label: str) -> None:
    """A daily model whose checkpoint matches its ``inputs.json``."""
    resolution = run.inputs.get("resolution", "DD")
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


def _check_inputs(run: TrainedRun, drivers: xr.Dataset, has_igbp: bool, label: str) -> None:
    """Every input of the run can be built for grid cells from these drivers."""
    inputs, feats = run.inputs, run.features
    drivers_run = list(inputs["drivers"])
    igbp_feats = [f"igbp_{c}" for c in inputs.get("igbp_classes", [])]
    buildable = (*drivers_run, *GRID_STATIC, *igbp_feats)
    unknown = [f for f in feats if f not in buildable]
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
            "fluxgrid.grids.vegetation_type(land_cover, target=drivers)"
        )


def unit_conversions(
    run: TrainedRun, drivers: xr.Dataset, *, label: str = "run"
) -> dict[str, tuple[float, float]]:
    """Linear maps from the drivers' units to the units the run was trained on.

    Parameters
    ----------
    run
        The trained run (its scaler records the training units).
    drivers
        Daily drivers with ``units`` attributes (the catalog's units where absent).
    label
        Name of the run in messages.

    Returns
    -------
    dict
        ``{driver: (offset, factor)}`` with ``model_units = offset + factor * grid_units``,
        only for drivers whose units differ.

    Raises
    ------
    ModelError
        If a driver's units cannot be converted to the training units.
    """
    conversions: dict[str, tuple[float, float]] = {}
    for name in run.inputs["drivers"]:
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
    try:
        split = run.split()
        part = split["part"].transpose("site", "time").values
        return [str(s) for s in split["site"].values[(part == PARTS["train"]).any(axis=1)]]
    except Exception:  # no split saved: fall back to the configuration
        sites = run.config.data.sites
        return list(sites) if sites is not None else []


def provenance(runs: Sequence[TrainedRun], drivers: xr.Dataset) -> dict[str, Any]:
    """Provenance attributes of maps made from ``runs`` and ``drivers``.

    Parameters
    ----------
    runs
        The runs (one, or the members of an ensemble).
    drivers
        The driver grid as given (its ``title``, ``source``, ... attributes are carried on).

    Returns
    -------
    dict
        ``model_name``, ``model_run_dir``, ``model_training_sites``, ``model_target``,
        ``model_features``, ``model_lookback_days``, ``model_params``, ``model_members``,
        ``data_drivers_<key>`` for the drivers' ``title``, ``description``, ``source``, ...
        attributes, and ``fluxgrid_version``; values are strings or numbers (lists as JSON).
    """
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
