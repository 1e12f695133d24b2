"""Scale-knowledge-guided training: seasonal and interannual models on SSA components.

Flux-tower NEE varies on several time scales at once, and a model trained on the raw daily
series learns mostly the dominant seasonal cycle; its interannual variations are small and
easily lost. The scale-guided workflow decomposes drivers and target with singular spectrum
analysis (:func:`fluxgrid.prep.ssa.ssa`) and trains one model per scale:

* a **seasonal** model on the seasonal components (periods < 16 months) of the drivers and of
  NEE;
* an **interannual** model on the interannual components (16-128 months), with 365-day input
  windows, day of year, latitude and longitude;

each one per IGBP group of sites (classes with fewer than ``min_group_sites`` sites pooled as
``other``). For comparison the same model type is trained **end to end** on the raw data,
and its predictions are decomposed by the same SSA, so that all models are scored against
the same seasonal and interannual targets. The **cross-scale** experiment feeds each scale's
model the other scale's inputs and scores it on the other scale's target.

Leakage and non-causal SSA
--------------------------
SSA is non-causal: each component at day ``t`` depends on the series after ``t``. With
``scales.decompose = "train_separately"`` (the default) the training data (drivers and
target) come from a decomposition of each site's training period alone (every day before its
first test day), so no value of the test period reaches the models, their scaling or early
stopping. The test inputs are the drivers' components from the decomposition of the whole
record (drivers are exogenous: future drivers are known in a reconstruction, and no target
value enters), and the scoring truth is the decomposition of the whole observed record. The
end-to-end model's predictions are decomposed over the same span as that truth, with the same
settings. ``decompose = "whole_record"`` decomposes the whole record once for everything (as
in the scale-guided study); then training components near the test boundary carry
information from the test period (SSA mixes a window of ``L`` days on both sides).

The decomposed target is the unmasked (ONEFlux gap-filled) NEE: SSA needs a continuous
series. QC decides which days are trained on and scored: components on days whose NEE fails
QC are masked. Drivers are gap-filled first (:func:`fluxgrid.prep.gapfill.gapfill`); a driver
gap that filling leaves inside a record is an error.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GuidedConfig, {
...     "data": {"source": "demo", "sites": ["US-MMS", "US-UMB"], "min_years": 5},
...     "models": {"lstm": {"params": {"hidden": 8}, "train": {"epochs": 1}}},
...     "train": {"device": "cpu"}})
>>> result = run_guided(cfg, output="runs/guided_demo", overwrite=True)    # doctest: +SKIP
>>> result.scores().rmse.to_pandas()                                        # doctest: +SKIP
>>> again = load_guided("runs/guided_demo", device="cpu")                   # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import xarray as xr

from ...errors import DataNotFoundError
from ...runs import TrainedRun
from ..common import concat_sites, finish_study, load_study_config, start_study
from .config import GuidedConfig
from .fitting import check_models, end_to_end_kinds, fit_group
from .result import (
    GuidedResult,
    check_saved_splits,
    read_members,
    read_predictions,
    read_runs,
)
from .scales import SCALES, ScaleData, prepare_scales

__all__ = ["load_guided", "load_guided_config", "run_guided"]


def load_guided_config(path: str | os.PathLike) -> GuidedConfig:
    """Read a :class:`GuidedConfig` YAML, or the ``config`` section of a recipe file."""
    return load_study_config(path, GuidedConfig)


def _fit_all(
    cfg: GuidedConfig, data: ScaleData, seconds: dict[str, float], say: Callable[[str], None]
) -> tuple[
    dict[tuple[str, str, str], TrainedRun],
    dict[tuple[str, str, str], xr.Dataset],
    dict[tuple[str, str], xr.Dataset],
    dict[tuple[str, str, str], dict[int, tuple[TrainedRun, xr.Dataset]]],
]:
    """Every model label on every group: runs, histories, predictions on all sites, members."""
    scale_cubes = {
        (scale, which): data.scale_cube(scale, which)
        for scale in SCALES
        for which in ("train", "test")
    }
    runs: dict[tuple[str, str, str], TrainedRun] = {}
    histories: dict[tuple[str, str, str], xr.Dataset] = {}
    members: dict[tuple[str, str, str], dict[int, tuple[TrainedRun, xr.Dataset]]] = {}
    pieces: dict[tuple[str, str], list[xr.Dataset]] = {}
    ensembles = cfg.ensemble_labels()
    for label in cfg.models:
        for group, sites in data.groups.items():
            t1 = time.perf_counter()
            fit = fit_group(cfg, data, label, sites, scale_cubes)
            for scale, run in fit.runs.items():
                runs[(group, label, scale)] = run
                histories[(group, label, scale)] = fit.histories[scale]
            for scale, scale_members in fit.members.items():
                members[(group, label, scale)] = scale_members
            for key, pred in fit.predictions.items():
                pieces.setdefault(key, []).append(pred)
            took = seconds[f"{label}: {group}"] = time.perf_counter() - t1
            also = f" with its {ensembles[label]} ensemble" if label in ensembles else ""
            say(f"{label}: group {group} ({len(sites)} sites) trained{also} in {took:.0f} s")
    all_sites = data.cube["site"].values
    predictions = {key: concat_sites(parts, all_sites) for key, parts in pieces.items()}
    return runs, histories, predictions, members


def run_guided(
    cfg: GuidedConfig | str | os.PathLike,
    *,
    cube: xr.Dataset | None = None,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    note: Callable[[str], None] | None = None,
) -> GuidedResult:
    """Train the seasonal, interannual and end-to-end models of every group; predict and score.

    For each model group (IGBP class) and each model type of ``cfg.models``:

    1. the seasonal model is trained on the seasonal components (training decomposition) and
       predicts the test days from the whole-record seasonal components;
    2. the same for the interannual model;
    3. the end-to-end model is trained on the raw data (gap-filled drivers, QC'd target) and
       predicts every day; its predictions are decomposed by the same SSA;
    4. with ``cross_scale``, each scale's model also predicts the other scale's test days;
    5. with an ``ensemble``, steps 1-4 are repeated once per seed for the models of
       ``ensemble_models`` and the members' mean is scored as ``<label>_x<n>``.

    Parameters
    ----------
    cfg
        :class:`~fluxgrid.studies.guided.config.GuidedConfig` or the path of its YAML (a
        plain config or a ``scale_guided`` recipe file).
    cube
        Site cube to use instead of ``cfg.data.source``.
    output
        Write the result there (:meth:`GuidedResult.save`); ``None``: keep it in memory.
    overwrite
        Replace an existing output folder.
    progress
        Progress bars while loading.
    note
        Called with a line per step (e.g. a recipe's ``ctx.note``).

    Returns
    -------
    GuidedResult
    """
    cfg, say = start_study(cfg, GuidedConfig, output, overwrite, note)
    check_models(cfg)  # every model check before any data is read
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare_scales(cfg, cube=cube, progress=progress)
    seconds["prepare (load, QC, gap fill, split, SSA)"] = time.perf_counter() - t0
    say(
        f"{data.cube.sizes['site']} sites in {len(data.groups)} groups "
        f"({', '.join(f'{g}: {len(s)}' for g, s in data.groups.items())}); SSA done"
    )
    runs, histories, predictions, members = _fit_all(cfg, data, seconds, say)
    t2 = time.perf_counter()
    for label in cfg.scored_labels():
        e2e = predictions.pop((label, "end_to_end_all"))
        for kind, pred in end_to_end_kinds(e2e, data, cfg).items():
            predictions[(label, kind)] = pred
    seconds["decompose end-to-end predictions"] = time.perf_counter() - t2
    result = GuidedResult(cfg, data, predictions, runs, histories, seconds, members)
    finish_study(result, output, overwrite, say)
    return result


def load_guided(
    path: str | os.PathLike,
    *,
    cube: xr.Dataset | None = None,
    device: str = "auto",
    progress: bool | None = None,
) -> GuidedResult:
    """Read a folder written by :meth:`GuidedResult.save` back into a :class:`GuidedResult`.

    Configuration, groups, predictions, trained runs and histories are read from the folder.
    The decomposed data (:class:`ScaleData`) are not saved (they are several copies of the
    cube); they are rebuilt with :func:`prepare_scales` from the saved configuration, which
    is deterministic, and checked against the saved groups and every run's split.

    Parameters
    ----------
    path
        The result folder.
    cube
        Site cube to rebuild the data from instead of the configuration's ``data.source``
        (as given to :func:`run_guided`).
    device
        Device the torch models are loaded on.
    progress
        Progress bar while the source cube loads.

    Returns
    -------
    GuidedResult
        ``seconds`` holds the timings of the original run.

    Raises
    ------
    DataNotFoundError
        Not a guided result folder, a run directory missing, or data that no longer give the
        saved groups and splits (the source changed since the run).

    Examples
    --------
    >>> res = fluxgrid.load_guided("runs/guided")  # doctest: +SKIP
    >>> res.scores(by="igbp").r2.sel(kind="interannual")  # doctest: +SKIP
    >>> shares = res.contributions("lstm", max_windows=100)  # doctest: +SKIP
    """
    root = Path(path)
    for name in ("config.yaml", "groups.json", "predictions", "models"):
        if not (root / name).exists():
            raise DataNotFoundError(
                f"{root} is not a guided result folder (no {name}); write one with "
                "run_guided(..., output=...)"
            )
    cfg = load_guided_config(root / "config.yaml")
    groups = json.loads((root / "groups.json").read_text())
    predictions = read_predictions(root, cfg.scored_labels())
    runs, histories = read_runs(root, groups, list(cfg.models), device=device)
    members = read_members(root, cfg, runs, histories, device=device)
    data = prepare_scales(cfg, cube=cube, progress=progress)
    check_saved_splits(root, data, groups, runs)
    seconds = {}
    if (root / "timings.json").is_file():
        seconds = json.loads((root / "timings.json").read_text())
    return GuidedResult(cfg, data, predictions, runs, histories, seconds, members)
