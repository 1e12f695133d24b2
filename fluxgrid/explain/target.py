"""What is explained: a model with its scaled windows, the unit maps, and groups of inputs.

:func:`resolve_target` turns a run (object or directory) and a site cube, or a bare model
with an already-scaled :class:`~fluxgrid.tensors.WindowCube`, into an :class:`ExplainTarget`
and makes every check before any work. The helpers here are shared by the methods:
:func:`feature_groups` (inputs explained together), :func:`subsample` (a seeded subset of
windows) and :func:`reference_windows` (the training windows of a run).

Examples
--------
>>> default_groups(["ta", "doy_sin", "doy_cos"], ["ta"])
{'ta': ['ta'], 'doy': ['doy_sin', 'doy_cos']}
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from ..errors import DataNotFoundError, ModelError
from ..models.base import FluxModel
from ..runs import TrainedRun, load_run
from ..tensors import WindowCube
from ..windows import WindowIndex

__all__ = [
    "EXPLAIN_DOCS",
    "ExplainTarget",
    "default_groups",
    "feature_groups",
    "inputs_of_groups",
    "reference_windows",
    "resolve_target",
    "subsample",
    "units_of",
]

#: numpydoc entries shared by the explanation methods, filled into their docstrings by
#: :func:`fluxgrid._docstring.fill_doc`
EXPLAIN_DOCS = {
    "progress": """progress
    Show a progress bar over the batches; ``None``: in notebooks and on terminals, not
    under CI (:func:`fluxgrid.set_progress`).""",
}

#: calendar inputs: not drivers of a bare model
_CALENDAR = ("doy_sin", "doy_cos")


@dataclasses.dataclass
class ExplainTarget:
    """A model with the scaled windows it is explained on (built by :func:`resolve_target`).

    Attributes
    ----------
    model
        The fitted model (:mod:`fluxgrid.models.base` contract).
    cube
        Scaled inputs (and target) on the device.
    index
        Windows explained.
    features
        Input names in model order (``cube.features``).
    drivers
        The dynamic driver inputs (what is permuted / grouped by default).
    target_scale, target_center
        Affine map from scaled predictions to target units (1 and 0 when unknown).
    input_scale, input_center
        Per input, the map from scaled to physical values (1 and 0 for unscaled inputs).
    units
        Units of the target (``"1 (scaled)"`` when only scaled values are known).
    igbp
        IGBP class per site of the cube (``''`` unknown), or ``None``.
    """

    model: FluxModel
    cube: WindowCube
    index: WindowIndex
    features: list[str]
    drivers: list[str]
    target_scale: float = 1.0
    target_center: float = 0.0
    input_scale: dict[str, float] = dataclasses.field(default_factory=dict)
    input_center: dict[str, float] = dataclasses.field(default_factory=dict)
    units: str = "1 (scaled)"
    igbp: np.ndarray | None = None

    @property
    def lookback(self) -> int:
        """Steps per window."""
        return int(self.index.lookback)

    def columns(self, names: Sequence[str]) -> list[int]:
        """Positions of ``names`` on the input axis; refuses names the model does not use."""
        unknown = [n for n in names if n not in self.features]
        if unknown:
            raise ModelError(
                f"{unknown} {'is' if len(unknown) == 1 else 'are'} not an input of this model "
                f"({self.model.name!r}); its inputs are {self.features}. Explain one of these, "
                "or retrain the model with the driver among its inputs"
            )
        return [self.features.index(n) for n in names]

    def to_target_units(self, scaled: np.ndarray) -> np.ndarray:
        """Scaled predictions or observations -> target units."""
        return np.asarray(scaled, dtype=np.float64) * self.target_scale + self.target_center

    def sample_coords(self, index: WindowIndex | None = None) -> dict[str, Any]:
        """``site``, ``time`` (and ``igbp``) coordinates of windows (dim ``sample``)."""
        index = self.index if index is None else index
        coords: dict[str, Any] = {
            "site": ("sample", index.sample_sites.astype(str)),
            "time": ("sample", index.sample_times),
        }
        if self.igbp is not None:
            coords["igbp"] = ("sample", np.asarray(self.igbp).astype(str)[index.site_idx])
        return coords


def _run_part_windows(
    run: TrainedRun,
    data: xr.Dataset,
    windows: str | Sequence[str] | None,
    split: xr.Dataset | None,
) -> WindowIndex:
    """Windows of a run on a site cube with a target: all, or those of split parts."""
    part_split = None
    if windows is not None:
        part_split = split if split is not None else run.split()
        missing = sorted(
            set(data.site.values.astype(str)) - set(part_split.site.values.astype(str))
        )
        if missing:
            raise DataNotFoundError(
                f"sites {missing} are not in the split; pass split= covering them, "
                "windows=None (all windows) or a WindowIndex"
            )
        part_split = part_split.sel(site=data.site.values)
    index = run.windows(data, split=part_split, require_target=True)
    return index if windows is None else index.select(windows)


def _from_run(
    run: TrainedRun,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None,
    split: xr.Dataset | None,
    device: str | None,
) -> ExplainTarget:
    """Target of a run: its scaler gives the unit maps, its input recipe the tensors."""
    target = run.inputs["target"]
    igbp = None
    if isinstance(data, xr.Dataset):
        if target not in data:
            raise DataNotFoundError(
                f"the cube has no target {target!r}; explanations score predictions against "
                "observations"
            )
        cube = run.window_cube(data, device=device)
        if isinstance(windows, WindowIndex):
            index = windows
        else:
            index = _run_part_windows(run, data, windows, split)
        if "igbp" in data.coords:
            igbp = data["igbp"].values.astype(str)
    elif isinstance(data, WindowCube):
        if not isinstance(windows, WindowIndex):
            raise ModelError(
                "with a WindowCube, pass windows= as a WindowIndex (part names need the site "
                "cube and its split)"
            )
        cube, index = data, windows
    else:
        raise ModelError(f"data must be a site cube or a WindowCube, got {type(data).__name__}")
    return ExplainTarget(
        model=run.model,
        cube=cube,
        index=index,
        features=list(cube.features),
        drivers=list(run.inputs["drivers"]),
        target_scale=float(run.scaler.scale[target]),
        target_center=float(run.scaler.center[target]),
        input_scale={n: float(run.scaler.scale.get(n, 1.0)) for n in run.features},
        input_center={n: float(run.scaler.center.get(n, 0.0)) for n in run.features},
        units=str(run.inputs.get("target_units", "")),
        igbp=igbp,
    )


def _from_model(model: FluxModel, data: Any, windows: Any) -> ExplainTarget:
    """Target of a bare model: scaled units, the dynamic non-calendar inputs as drivers."""
    if not isinstance(data, WindowCube) or not isinstance(windows, WindowIndex):
        raise ModelError(
            "a bare model needs a scaled WindowCube and a WindowIndex; to explain on a site "
            "cube, pass the TrainedRun (fluxgrid.load_run(run_dir)), which knows the scaling"
        )
    drivers = [f for f in data.features[: data.n_dynamic] if f not in _CALENDAR]
    return ExplainTarget(
        model=model,
        cube=data,
        index=windows,
        features=list(data.features),
        drivers=drivers,
    )


def resolve_target(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    split: xr.Dataset | None = None,
    device: str | None = None,
) -> ExplainTarget:
    """Model, scaled windows and unit maps for an explanation; every check before any work.

    Parameters
    ----------
    model
        A :class:`~fluxgrid.runs.TrainedRun`, a run directory, or a fitted
        :class:`~fluxgrid.models.base.FluxModel`.
    data
        A site cube (needs a run: its scaler and input recipe build the tensors) or an
        already-scaled :class:`~fluxgrid.tensors.WindowCube` (with its target).
    windows
        A :class:`~fluxgrid.windows.WindowIndex`, a split part name (``"test"``, ``"train"``,
        ``"val"`` or a list of them; needs the run's split or ``split``), or ``None``: every
        complete window with a valid target.
    split
        Split to take parts from (default: the run's own split).
    device
        Device for the tensors and the model (default: the run's ``train.device``).

    Returns
    -------
    ExplainTarget

    Raises
    ------
    ModelError
        A bare model with a site cube (no scaler to build inputs), or windows given by part
        name for a :class:`WindowCube` without a :class:`WindowIndex`.
    DataNotFoundError
        No target in the cube, or no window left.
    """
    if isinstance(model, str | os.PathLike):
        model = load_run(model, device=device or "auto")
    if isinstance(model, TrainedRun):
        target = _from_run(model, data, windows, split, device)
    elif isinstance(model, FluxModel):
        target = _from_model(model, data, windows)
    else:
        raise ModelError(
            "model must be a TrainedRun, a run directory or a FluxModel, got "
            f"{type(model).__name__}"
        )
    cube, index, fmodel = target.cube, target.index, target.model
    if len(index) == 0:
        raise DataNotFoundError(f"no window to explain ({windows!r} selects none)")
    fmodel.check_cube(cube, index)
    if cube.target_name is None:
        raise DataNotFoundError("the WindowCube was built without a target; rebuild it with one")
    if fmodel.kind == "torch" and cube.device != fmodel.device:
        fmodel.to(cube.device)
    return target


# --------------------------------------------------------------------------- groups of inputs
def default_groups(features: Sequence[str], drivers: Sequence[str]) -> dict[str, list[str]]:
    """Inputs grouped the way people read them: each driver alone, then calendar and site inputs.

    ``doy_sin`` + ``doy_cos`` -> ``doy``; ``site_lat`` + ``site_lon`` -> ``location``; every
    ``igbp_*`` one-hot column -> ``igbp``; any other input stays alone.

    Examples
    --------
    >>> g = default_groups(["ta", "doy_sin", "doy_cos", "site_lat", "site_lon"], ["ta"])
    >>> g["ta"], g["doy"], g["location"]
    (['ta'], ['doy_sin', 'doy_cos'], ['site_lat', 'site_lon'])
    """
    groups: dict[str, list[str]] = {d: [d] for d in drivers if d in features}
    for f in features:
        if f in groups:
            continue
        if f in _CALENDAR:
            key = "doy"
        elif f in ("site_lat", "site_lon"):
            key = "location"
        elif f.startswith("igbp_"):
            key = "igbp"
        else:
            key = f
        groups.setdefault(key, []).append(f)
    return groups


def feature_groups(
    target: ExplainTarget, drivers: Sequence[str] | Mapping[str, Sequence[str]] | None
) -> dict[str, list[int]]:
    """Input positions of each driver label: names alone, or ``{label: [inputs]}`` together.

    Parameters
    ----------
    target
        What is explained (its inputs).
    drivers
        Names (each alone), a mapping of labels to inputs explained together, or ``None``:
        the target's drivers, each alone.

    Returns
    -------
    dict
        ``{label: [input positions]}`` in the given order.

    Raises
    ------
    ModelError
        No driver, or a name that is not an input of the model.
    """
    if drivers is None:
        names: dict[str, list[str]] = {d: [d] for d in target.drivers}
    elif isinstance(drivers, Mapping):
        names = {str(k): [str(v)] if isinstance(v, str) else list(v) for k, v in drivers.items()}
    elif isinstance(drivers, str):
        names = {drivers: [drivers]}
    else:
        names = {str(d): [str(d)] for d in drivers}
    if not names:
        raise ModelError("no driver to explain; give drivers= names of model inputs")
    return {k: target.columns(v) for k, v in names.items()}


def inputs_of_groups(target: ExplainTarget, groups: Mapping[str, Sequence[int]]) -> str:
    """``"label: input, input; ..."``, the ``inputs_of_driver`` attribute of the results."""
    return "; ".join(f"{k}: {', '.join(target.features[c] for c in v)}" for k, v in groups.items())


# --------------------------------------------------------------------------- windows
def subsample(index: WindowIndex, n: int | None, rng: np.random.Generator) -> WindowIndex:
    """A seeded random subset of at most ``n`` windows, in their original order.

    Parameters
    ----------
    index
        Windows to draw from.
    n
        Most windows kept (``None``: all).
    rng
        Random generator of the draw.

    Returns
    -------
    WindowIndex
        ``index`` itself when it has at most ``n`` windows.
    """
    if n is None or len(index) <= n:
        return index
    return index.take(np.sort(rng.choice(len(index), size=int(n), replace=False)))


def reference_windows(model: Any, data: Any, split: xr.Dataset | None = None) -> WindowIndex | None:
    """The training windows of a run on a site cube (``None`` when no split covers the sites).

    Parameters
    ----------
    model
        What was explained (only a :class:`~fluxgrid.runs.TrainedRun` has a split).
    data
        What it was explained on (only a site cube has sites to split).
    split
        Split to take the training part from (default: the run's own).

    Returns
    -------
    WindowIndex or None
        The ``train`` windows (target not required), or ``None`` without a run, a site
        cube, a split covering every site of the cube, or any training window.
    """
    if not (isinstance(model, TrainedRun) and isinstance(data, xr.Dataset)):
        return None
    part_split = split
    if part_split is None:
        try:
            part_split = model.split()
        except DataNotFoundError:
            return None
    if not set(data.site.values.astype(str)) <= set(part_split.site.values.astype(str)):
        return None
    train = model.windows(
        data, split=part_split.sel(site=data.site.values), require_target=False
    ).select("train")
    return train if len(train) else None


def units_of(data: Any, name: str) -> str:
    """Units of variable ``name`` of a site cube (``"1 (scaled)"`` for a scaled WindowCube)."""
    if isinstance(data, xr.Dataset) and name in data:
        return str(data[name].attrs.get("units", ""))
    return "1 (scaled)"
