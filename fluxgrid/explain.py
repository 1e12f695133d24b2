"""Explanations of trained models: attention, permutation importance, SHAP, response surfaces.

Every function takes a trained model and the windows to explain, and returns labelled xarray
with dims named after the inputs (``driver``) and, where it applies, the look-back (``lag``:
0 is the target step, 1 the day before, ...):

* :func:`permutation_importance` -- how much a metric (NRMSE by default, any of
  :data:`fluxgrid.evaluate.METRICS`) worsens when one driver's input windows are shuffled,
  repeated ``n_repeats`` times, per site and pooled;
* :func:`shap_values` -- additive attributions per window, lag and input (expected gradients
  for the torch models, exact TreeSHAP for random forests, exact linear SHAP for LASSO) and
  :func:`relative_contribution`, the share of each driver in percent per site or vegetation
  type;
* :func:`response_surface` -- the mean prediction when two drivers are shifted over a grid of
  offsets (the others as observed), with a mask where the shifted drivers leave the observed
  joint distribution;
* :func:`attention_summary` -- iLSTM temporal (alpha) and variable (beta) attention averaged
  per site or over any grouping.

The model is given as a :class:`~fluxgrid.train.TrainedRun` (or its run directory) with a
site cube, or as a bare :class:`~fluxgrid.models.base.FluxModel` with an already-scaled
:class:`~fluxgrid.tensors.WindowCube` and a :class:`~fluxgrid.windows.WindowIndex`. Windows
are gathered from the device-resident cube by index (the cube is never rebuilt): a
permutation or a shift is applied to the gathered batch.

Examples
--------
>>> import fluxgrid
>>> run = fluxgrid.load_run("runs/demo")                                   # doctest: +SKIP
>>> cube = fluxgrid.load_demo_cube()                                       # doctest: +SKIP
>>> imp = permutation_importance(run, cube, "test", n_repeats=10)          # doctest: +SKIP
>>> imp.importance_pooled.to_series()                                      # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ._lazy import lazy_import
from .errors import DataNotFoundError, ModelError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .models.base import FluxModel
    from .tensors import WindowCube
    from .train import TrainedRun
    from .windows import WindowIndex

__all__ = [
    "ExplainTarget",
    "attention_summary",
    "default_groups",
    "permutation_importance",
    "relative_contribution",
    "resolve_target",
    "response_surface",
    "shap_values",
]

#: metrics where larger is better (importance = baseline - permuted)
_HIGHER_IS_BETTER = ("r2", "r2_pearson")
_IMPORTANCE_METRICS = ("r2", "r2_pearson", "rmse", "mae", "bias", "nrmse", "lcs")


# --------------------------------------------------------------------------- what is explained
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


def _part_index(index: WindowIndex, windows: Any) -> WindowIndex:
    if windows is None:
        return index
    return index.select(windows)


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
        A :class:`~fluxgrid.train.TrainedRun`, a run directory, or a fitted
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
    from .models.base import FluxModel
    from .tensors import WindowCube
    from .train import TrainedRun, load_run
    from .windows import WindowIndex

    if isinstance(model, str | os.PathLike):
        model = load_run(model, device=device or "auto")
    if isinstance(model, TrainedRun):
        run = model
        fmodel = run.model
        target = run.inputs["target"]
        t_scale = float(run.scaler.scale[target])
        t_center = float(run.scaler.center[target])
        in_scale = {n: float(run.scaler.scale.get(n, 1.0)) for n in run.features}
        in_center = {n: float(run.scaler.center.get(n, 0.0)) for n in run.features}
        units = str(run.inputs.get("target_units", ""))
        drivers = list(run.inputs["drivers"])
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
                index = _part_index(
                    run.windows(data, split=part_split, require_target=True), windows
                )
            if "igbp" in data.coords:
                igbp = data["igbp"].values.astype(str)
        elif isinstance(data, WindowCube):
            cube = data
            if not isinstance(windows, WindowIndex):
                raise ModelError(
                    "with a WindowCube, pass windows= as a WindowIndex (part names need the site "
                    "cube and its split)"
                )
            index = windows
        else:
            raise ModelError(f"data must be a site cube or a WindowCube, got {type(data).__name__}")
    elif isinstance(model, FluxModel):
        fmodel = model
        if not isinstance(data, WindowCube) or not isinstance(windows, WindowIndex):
            raise ModelError(
                "a bare model needs a scaled WindowCube and a WindowIndex; to explain on a site "
                "cube, pass the TrainedRun (fluxgrid.load_run(run_dir)), which knows the scaling"
            )
        cube, index = data, windows
        t_scale, t_center, units = 1.0, 0.0, "1 (scaled)"
        in_scale, in_center = {}, {}
        n_dyn = cube.n_dynamic
        calendar = {"doy_sin", "doy_cos"}
        drivers = [f for f in cube.features[:n_dyn] if f not in calendar]
        igbp = None
    else:
        raise ModelError(
            "model must be a TrainedRun, a run directory or a FluxModel, got "
            f"{type(model).__name__}"
        )
    if len(index) == 0:
        raise DataNotFoundError(f"no window to explain ({windows!r} selects none)")
    fmodel._check_cube(cube, index)
    if cube.target_name is None:
        raise DataNotFoundError("the WindowCube was built without a target; rebuild it with one")
    if fmodel.kind == "torch" and cube.device != fmodel.device:
        fmodel.to(cube.device)
    return ExplainTarget(
        model=fmodel,
        cube=cube,
        index=index,
        features=list(cube.features),
        drivers=drivers,
        target_scale=t_scale,
        target_center=t_center,
        input_scale=in_scale,
        input_center=in_center,
        units=units,
        igbp=igbp,
    )


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
        if f in ("doy_sin", "doy_cos"):
            key = "doy"
        elif f in ("site_lat", "site_lon"):
            key = "location"
        elif f.startswith("igbp_"):
            key = "igbp"
        else:
            key = f
        groups.setdefault(key, []).append(f)
    return groups


def _groups(
    target: ExplainTarget, drivers: Sequence[str] | Mapping[str, Sequence[str]] | None
) -> dict[str, list[int]]:
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


# --------------------------------------------------------------------------- metrics by group
def _grouped_metric(
    obs: np.ndarray, pred: np.ndarray, group: np.ndarray, n_group: int, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """``metric`` of rows of ``pred`` (..., n) against ``obs`` (n,) per group and pooled.

    Returns ``(per_group (..., n_group), pooled (...))``; NaN observations are left out.
    """
    from .evaluate import _finish  # the same formulas as fluxgrid.evaluate.metrics

    valid = np.isfinite(obs)
    o = np.where(valid, obs, 0.0)
    lead = pred.shape[:-1]
    p2 = np.where(valid, np.nan_to_num(pred, nan=0.0), 0.0).reshape(-1, pred.shape[-1])
    g = group[valid]
    ov = o[valid]
    order = np.argsort(g, kind="stable")
    bounds = np.searchsorted(g[order], np.arange(n_group + 1))

    def by_group(values: np.ndarray) -> np.ndarray:
        return np.stack([np.bincount(g, weights=v, minlength=n_group) for v in values])

    pv = p2[:, valid]
    n = np.bincount(g, minlength=n_group).astype(np.float64)
    omin = np.full(n_group, np.nan)
    omax = np.full(n_group, np.nan)
    osorted = ov[order]
    for k in range(n_group):  # per-site extremes of the observations (once, not per repeat)
        if bounds[k + 1] > bounds[k]:
            chunk = osorted[bounds[k] : bounds[k + 1]]
            omin[k], omax[k] = chunk.min(), chunk.max()
    stats = {
        "n": np.broadcast_to(n, (p2.shape[0], n_group)),
        "so": np.broadcast_to(
            np.bincount(g, weights=ov, minlength=n_group), (p2.shape[0], n_group)
        ),
        "sp": by_group(pv),
        "soo": np.broadcast_to(
            np.bincount(g, weights=ov * ov, minlength=n_group), (p2.shape[0], n_group)
        ),
        "spp": by_group(pv * pv),
        "sop": by_group(pv * ov[None, :]),
        "sae": by_group(np.abs(pv - ov[None, :])),
        "omin": np.broadcast_to(omin, (p2.shape[0], n_group)),
        "omax": np.broadcast_to(omax, (p2.shape[0], n_group)),
    }
    per = _finish(stats, None)[metric].reshape(*lead, n_group)
    pooled_stats = {k: v.sum(axis=-1) for k, v in stats.items() if k not in ("omin", "omax")}
    pooled_stats["omin"] = np.broadcast_to(np.nanmin(omin) if valid.any() else np.nan, lead or ())
    pooled_stats["omax"] = np.broadcast_to(np.nanmax(omax) if valid.any() else np.nan, lead or ())
    pooled_stats = {k: np.asarray(v).reshape(-1) for k, v in pooled_stats.items()}
    pooled = _finish(pooled_stats, None)[metric].reshape(lead)
    return per, pooled


def _loss_change(metric: str, permuted: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """Positive = the model got worse without the driver's information."""
    if metric in _HIGHER_IS_BETTER:
        return baseline - permuted
    if metric == "bias":
        return np.abs(permuted) - np.abs(baseline)
    return permuted - baseline


# --------------------------------------------------------------------------- permutation
def _within_site_permutation(
    site_idx: np.ndarray, rng: np.random.Generator, within: str
) -> np.ndarray:
    """Positions ``perm`` such that window ``i`` takes its shuffled inputs from ``perm[i]``."""
    n = site_idx.size
    if within == "all":
        return rng.permutation(n)
    keys = rng.random(n)
    shuffled = np.lexsort((keys, site_idx))  # each site's positions in random order
    ordered = np.argsort(site_idx, kind="stable")  # each site's positions in order
    perm = np.empty(n, dtype=np.int64)
    perm[ordered] = shuffled
    return perm


def permutation_importance(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    drivers: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    metric: str = "nrmse",
    n_repeats: int = 10,
    seed: int = 0,
    within: Literal["site", "all"] = "site",
    split: xr.Dataset | None = None,
    batch_size: int = 4096,
    device: str | None = None,
) -> xr.Dataset:
    """Permutation importance: how much ``metric`` worsens when a driver's inputs are shuffled.

    For each repeat, the windows are put in random order (within each site by default) and,
    for one driver at a time, every window's whole look-back sequence of that driver is
    replaced by the sequence of the window it was paired with; the other inputs stay as
    observed. The model predicts the modified windows and the metric is recomputed per site
    and pooled. The importance is the loss of skill, averaged over ``n_repeats`` repeats,
    with the standard deviation over repeats as the spread.

    Shuffling whole windows (blocks of ``lookback`` consecutive days) keeps each driver's
    within-window dynamics and its distribution at the site, and breaks only its link with
    the target (and with the other drivers). ``within="all"`` pairs windows across sites, as
    the GPP study permutes a feature across all samples; it also moves climate between sites,
    so it measures spatial as well as temporal importance. Site-constant inputs
    (``site_lat``, IGBP one-hot) cannot change under a within-site shuffle: use
    ``within="all"`` for them.

    The work runs on the device-resident :class:`~fluxgrid.tensors.WindowCube`: each batch of
    windows is gathered once, its permuted partner windows are gathered by index, and all
    drivers of a repeat go through the model in one stacked forward pass. Nothing is rebuilt
    per repeat.

    Parameters
    ----------
    model
        A :class:`~fluxgrid.train.TrainedRun`, its run directory, or a fitted
        :class:`~fluxgrid.models.base.FluxModel` (then ``data`` is a scaled
        :class:`~fluxgrid.tensors.WindowCube`, ``windows`` a
        :class:`~fluxgrid.windows.WindowIndex`, and scores are in scaled units).
    data
        The site cube (with the target) or a scaled ``WindowCube``.
    windows
        Windows scored: a ``WindowIndex``, a split part (``"test"`` by default; the run's
        split, or ``split``), a list of parts, or ``None`` for every window with a target.
    drivers
        Inputs permuted: names (each permuted alone), or a mapping ``{label: [inputs]}`` of
        inputs permuted together (e.g. ``{"doy": ["doy_sin", "doy_cos"]}``). Default: the
        run's dynamic drivers.
    metric
        One of ``nrmse`` (default), ``rmse``, ``mae``, ``lcs``, ``bias`` (its absolute
        value), ``r2``, ``r2_pearson`` (see :mod:`fluxgrid.evaluate`).
    n_repeats
        Shuffles per driver (default 10).
    seed
        Seed of the shuffles (results are reproducible).
    within
        ``"site"`` (shuffle windows within each site) or ``"all"`` (across all windows).
    split
        Split whose parts ``windows`` names (default: the run's).
    batch_size
        Windows per forward pass (all drivers of a batch are stacked into it).
    device
        Device of the tensors (default: the run's).

    Returns
    -------
    xarray.Dataset
        Dims ``driver``, ``site`` (sites with windows), ``repeat``:

        - ``importance`` (driver, site): mean change of the metric (positive = worse
          without the driver: increase for error metrics, decrease for R2);
        - ``importance_std`` (driver, site): standard deviation over repeats;
        - ``score`` (repeat, driver, site): the metric after each shuffle;
        - ``baseline`` (site): the metric without shuffling; ``n_windows`` (site);
        - ``importance_pooled``, ``importance_pooled_std`` (driver), ``score_pooled``
          (repeat, driver), ``baseline_pooled``: the same over all windows together.

        Attributes: ``metric``, ``n_repeats``, ``seed``, ``within``, ``units``.

    Raises
    ------
    ModelError
        A driver that is not an input of the model (the message lists the inputs), an
        unknown metric, or ``n_repeats < 1``.
    DataNotFoundError
        No target or no windows to score.

    Examples
    --------
    >>> run = fluxgrid.load_run("runs/demo")                             # doctest: +SKIP
    >>> imp = permutation_importance(run, fluxgrid.load_demo_cube(), "test",
    ...                              drivers=["ta", "sw_in", "vpd"])      # doctest: +SKIP
    >>> imp.importance.sel(site="US-MMS").to_series()                    # doctest: +SKIP
    """
    torch = lazy_import("torch")
    if metric not in _IMPORTANCE_METRICS:
        raise ModelError(f"metric {metric!r} unknown; use one of {list(_IMPORTANCE_METRICS)}")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, int) or n_repeats < 1:
        raise ModelError(f"n_repeats={n_repeats!r}; expected an integer >= 1")
    if within not in ("site", "all"):
        raise ModelError(f"within={within!r}; expected 'site' or 'all'")
    target = resolve_target(model, data, windows, split=split, device=device)
    groups = _groups(target, drivers)
    names = list(groups)
    cube, index, fmodel = target.cube, target.index, target.model
    n, lookback = len(index), target.lookback
    n_groups = len(names)
    rng = np.random.default_rng(seed)
    perms = np.stack(
        [_within_site_permutation(index.site_idx, rng, within) for _ in range(n_repeats)]
    )
    s_all, e_all = index.site_idx, index.end_idx
    base = np.empty(n, dtype=np.float32)
    obs = np.empty(n, dtype=np.float32)
    permuted = np.empty((n_repeats, n_groups, n), dtype=np.float32)
    chunk = max(1, batch_size // max(n_groups, 1))
    masks = torch.zeros((n_groups, 1, 1, len(target.features)), dtype=torch.bool)
    for k, cols in enumerate(groups.values()):
        masks[k, 0, 0, cols] = True
    masks = masks.to(cube.device)
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        x, y = cube.gather(s_all[sl], e_all[sl], lookback)
        obs[sl] = y.float().cpu().numpy()
        base[sl] = fmodel.predict_batch(x).float().cpu().numpy()
        for r in range(n_repeats):
            partner = perms[r, sl]
            xp, _ = cube.gather(s_all[partner], e_all[partner], lookback)
            # one stacked forward pass for every driver: (group, batch, lag, input)
            stacked = torch.where(masks, xp.unsqueeze(0), x.unsqueeze(0))
            out = fmodel.predict_batch(stacked.reshape(-1, lookback, x.shape[-1]))
            permuted[r, :, sl] = out.float().cpu().numpy().reshape(n_groups, -1)
    obs_t = target.to_target_units(obs)
    site_codes, site_of = np.unique(index.site_idx, return_inverse=True)
    n_site = site_codes.size
    per_base, pooled_base = _grouped_metric(
        obs_t, target.to_target_units(base)[None, :], site_of, n_site, metric
    )
    per_perm, pooled_perm = _grouped_metric(
        obs_t, target.to_target_units(permuted), site_of, n_site, metric
    )
    change = _loss_change(metric, per_perm, per_base[0][None, None, :])
    change_pooled = _loss_change(metric, pooled_perm, pooled_base[0])
    sites = np.asarray(index.sites).astype(str)[site_codes]
    coords: dict[str, Any] = {"driver": names, "site": sites, "repeat": np.arange(n_repeats)}
    if target.igbp is not None:
        coords["igbp"] = ("site", np.asarray(target.igbp).astype(str)[site_codes])
    unit_attr = {"units": "1"} if metric in ("r2", "r2_pearson", "nrmse") else {}
    if not unit_attr:
        unit_attr = {"units": f"({target.units})2" if metric == "lcs" else target.units}
    ddof = 1 if n_repeats > 1 else 0
    out = xr.Dataset(
        {
            "importance": (
                ("driver", "site"),
                change.mean(axis=0),
                {
                    "long_name": f"loss of skill in {metric} when the driver is shuffled",
                    **unit_attr,
                },
            ),
            "importance_std": (
                ("driver", "site"),
                change.std(axis=0, ddof=ddof),
                {"long_name": "standard deviation over repeats", **unit_attr},
            ),
            "score": (
                ("repeat", "driver", "site"),
                per_perm,
                {"long_name": f"{metric} with the driver shuffled", **unit_attr},
            ),
            "baseline": (
                "site",
                per_base[0],
                {"long_name": f"{metric} without shuffling", **unit_attr},
            ),
            "n_windows": ("site", np.bincount(site_of, minlength=n_site).astype(np.int64)),
            "importance_pooled": (
                "driver",
                change_pooled.mean(axis=0),
                {"long_name": f"loss of skill in {metric}, all windows pooled", **unit_attr},
            ),
            "importance_pooled_std": (
                "driver",
                change_pooled.std(axis=0, ddof=ddof),
                {"long_name": "standard deviation over repeats", **unit_attr},
            ),
            "score_pooled": (("repeat", "driver"), pooled_perm, unit_attr),
            "baseline_pooled": ((), pooled_base[0], unit_attr),
        },
        coords=coords,
        attrs={
            "method": "permutation importance",
            "metric": metric,
            "n_repeats": n_repeats,
            "seed": seed,
            "within": within,
            "model": fmodel.name,
            "units": target.units,
            "inputs_of_driver": "; ".join(
                f"{k}: {', '.join(target.features[c] for c in v)}" for k, v in groups.items()
            ),
            "comment": "positive importance = the metric gets worse when the driver's input "
            "windows are shuffled (increase of errors, decrease of R2)",
        },
    )
    return out


# --------------------------------------------------------------------------- SHAP
#: explanation methods of :func:`shap_values`
SHAP_METHODS = ("auto", "expected_gradients", "shap_gradient", "tree", "linear")


def _subsample(index: WindowIndex, n: int | None, rng: np.random.Generator) -> WindowIndex:
    if n is None or len(index) <= n:
        return index
    return index.take(np.sort(rng.choice(len(index), size=int(n), replace=False)))


def _reference_windows(
    model: Any, data: Any, target: ExplainTarget, split: xr.Dataset | None
) -> WindowIndex | None:
    """The training windows of a run on ``data`` (``None`` when no split covers the sites)."""
    from .train import TrainedRun

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


def _background_index(
    model: Any,
    data: Any,
    target: ExplainTarget,
    background: int | WindowIndex,
    split: xr.Dataset | None,
    rng: np.random.Generator,
) -> WindowIndex:
    """Reference windows: drawn from the training part when a split is known."""
    from .windows import WindowIndex

    if isinstance(background, WindowIndex):
        return background
    if isinstance(background, bool) or not isinstance(background, int) or background < 1:
        raise ModelError(f"background={background!r}; expected a number of windows >= 1")
    pool = _reference_windows(model, data, target, split)
    return _subsample(target.index if pool is None else pool, background, rng)


def _gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a ``steps``-point Gauss-Legendre rule on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(int(steps))
    return (nodes + 1.0) / 2.0, weights / 2.0


def _expected_gradients(
    target: ExplainTarget,
    index: WindowIndex,
    ref: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    tolerance: float | None = None,
    max_steps: int = 512,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, int]:
    """Expected gradients: attributions (sample, step, input), predictions, base value (scaled).

    For each window ``x`` and reference ``b`` the path integral of the gradient from ``b``
    to ``x`` is computed with a Gauss-Legendre rule and multiplied by ``x - b``; averaging
    over the references gives attributions that add up to ``f(x) - mean_b f(b)`` up to the
    quadrature error. With ``tolerance``, windows whose error exceeds ``tolerance`` times
    the standard deviation of the predictions are computed again with twice the points,
    until they pass or reach ``max_steps``. Also returned: the points used per window and
    the number of windows still above the tolerance (0 without one).
    """
    torch = lazy_import("torch")
    with target.model.explain_mode() as net:
        with torch.no_grad():
            net_base = float(net(ref).float().mean())
    site_idx, end_idx = np.asarray(index.site_idx), np.asarray(index.end_idx)
    phi, pred = _gradient_paths(target, site_idx, end_idx, ref, steps, batch_size)
    used = np.full(len(index), steps, dtype=np.int32)
    if tolerance is None:
        return phi, pred, net_base, used, 0
    spread = float(np.std(pred)) if pred.size > 1 else 0.0
    if not spread > 0:
        spread = float(np.abs(pred - net_base).max()) or 1.0
    limit = tolerance * spread
    n_steps = steps
    while True:
        error = np.abs(pred - net_base - phi.sum(axis=(1, 2), dtype=np.float64))
        redo = np.flatnonzero(error > limit)
        if redo.size == 0 or n_steps >= max_steps:
            break
        n_steps = min(2 * n_steps, max_steps)
        phi[redo], pred[redo] = _gradient_paths(
            target, site_idx[redo], end_idx[redo], ref, n_steps, batch_size
        )
        used[redo] = n_steps
    return phi, pred, net_base, used, int(redo.size)


def _gradient_paths(
    target: ExplainTarget,
    site_idx: np.ndarray,
    end_idx: np.ndarray,
    ref: torch.Tensor,
    steps: int,
    batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Path-integrated gradients times ``x - b``, mean over references; and predictions."""
    torch = lazy_import("torch")
    cube = target.cube
    n, lookback, n_in = len(site_idx), target.lookback, len(target.features)
    nodes, weights = _gauss_legendre(steps)
    alpha = torch.as_tensor(nodes, dtype=torch.float32, device=cube.device)
    w = torch.as_tensor(weights, dtype=torch.float32, device=cube.device)
    k = ref.shape[0]
    phi = np.empty((n, lookback, n_in), dtype=np.float32)
    pred = np.empty(n, dtype=np.float32)
    chunk = max(1, batch_size // (k * steps))
    with target.model.explain_mode() as net:
        for start in range(0, n, chunk):
            sl = slice(start, min(start + chunk, n))
            x, _ = cube.gather(site_idx[sl], end_idx[sl], lookback)
            x = x.float()
            b = x.shape[0]
            diff = x[:, None] - ref[None]  # (batch, ref, step, input)
            path = ref[None, :, None] + alpha[None, None, :, None, None] * diff[:, :, None]
            path = path.reshape(-1, lookback, n_in).detach().requires_grad_(True)
            out = net(path)
            (grad,) = torch.autograd.grad(out.sum(), path)
            grad = grad.reshape(b, k, steps, lookback, n_in)
            mean_grad = (grad * w[None, None, :, None, None]).sum(dim=2)
            phi[sl] = (mean_grad * diff).mean(dim=1).detach().float().cpu().numpy()
            with torch.no_grad():
                pred[sl] = net(x).float().cpu().numpy()
    return phi, pred


def _shap_gradient(
    target: ExplainTarget, index: WindowIndex, ref: torch.Tensor, *, nsamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The shap package's GradientExplainer (Monte-Carlo expected gradients)."""
    shap = lazy_import("shap")
    torch = lazy_import("torch")
    fmodel, cube = target.model, target.cube
    x, _ = cube.gather(index.site_idx, index.end_idx, target.lookback)

    class _Column(torch.nn.Module):  # shap wants (batch, outputs)
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, inputs):
            return self.net(inputs).unsqueeze(-1)

    with fmodel.explain_mode() as net:
        wrapped = _Column(net)
        explainer = shap.GradientExplainer(wrapped, ref)
        values = explainer.shap_values(x.float(), nsamples=nsamples, rseed=seed)
        with torch.no_grad():
            pred = net(x.float()).float().cpu().numpy()
            base = float(net(ref).float().mean())
    phi = np.asarray(values, dtype=np.float32).reshape(len(index), target.lookback, -1)
    return phi, pred, base


def _tree_or_linear(
    target: ExplainTarget, index: WindowIndex, ref_index: WindowIndex, method: str
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray | None]:
    """SHAP of the scikit-learn baselines on their window features.

    Returns per-lag attributions (linear only, else ``None`` in their place), the per
    aggregate attributions ``(sample, aggregate, input)``, predictions and the base value.
    """
    fmodel, cube = target.model, target.cube
    aggs = tuple(fmodel.params["aggregates"])
    n_in, lookback = len(target.features), target.lookback
    x, _ = cube.gather(index.site_idx, index.end_idx, lookback)
    z = fmodel.features(x)
    pred = fmodel.estimator.predict(z).astype(np.float32)
    if method == "tree":
        shap = lazy_import("shap")
        explainer = shap.TreeExplainer(fmodel.estimator)
        values = np.asarray(explainer.shap_values(z, check_additivity=True), dtype=np.float64)
        base = float(np.ravel(explainer.expected_value)[0])
        return None, values.reshape(len(index), len(aggs), n_in), pred, base
    # linear: f(x) = c + sum_{a, i} coef[a, i] * mean of the last k_a steps of input i, so the
    # exact (interventional) SHAP value of x[lag, i] is w[lag, i] * (x[lag, i] - E_ref x[lag, i])
    coef = np.asarray(fmodel.estimator.coef_, dtype=np.float64).reshape(len(aggs), n_in)
    weight = np.zeros((lookback, n_in))
    for a, kk in enumerate(aggs):
        kk = lookback if kk <= 0 or kk > lookback else kk
        weight[:kk] += coef[a] / kk  # lag 0 = target step
    xr_, _ = cube.gather(ref_index.site_idx, ref_index.end_idx, lookback)
    ref_mean = xr_.float().cpu().numpy()[:, ::-1].mean(axis=0)  # (lag, input)
    xl = x.float().cpu().numpy()[:, ::-1]
    per_lag = weight[None] * (xl - ref_mean[None])
    base = float(fmodel.estimator.predict(fmodel.features(xr_)).mean())
    z_ref = fmodel.features(xr_).reshape(-1, len(aggs), n_in).mean(axis=0)
    per_agg = coef[None] * (z.reshape(len(index), len(aggs), n_in) - z_ref[None])
    return per_lag, per_agg, pred, base


def shap_values(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    method: str = "auto",
    max_windows: int | None = 1000,
    background: int | WindowIndex = 8,
    steps: int = 64,
    tolerance: float | None = 0.01,
    max_steps: int = 512,
    nsamples: int = 200,
    groups: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    split: xr.Dataset | None = None,
    batch_size: int | None = None,
    device: str | None = None,
) -> xr.Dataset:
    """SHAP values of windows: additive contributions per window, lag and driver.

    Methods (``method="auto"`` picks by model type):

    ``expected_gradients`` (torch models: LSTM, GRU, RNN, iLSTM, FNN)
        Expected gradients (Erion et al. 2021), the algorithm of shap's
        ``GradientExplainer``, computed deterministically: for each window ``x`` and each of
        ``background`` reference windows ``b`` (training windows), the gradient is
        integrated along the straight path from ``b`` to ``x`` with a ``steps``-point
        Gauss-Legendre rule and multiplied by ``x - b``; the mean over references is the
        attribution. Attributions add up to ``prediction - base_value`` with ``base_value``
        the mean prediction of the references, up to the quadrature error, which is reported
        per window (``additivity_error``). All references and path points of a batch of
        windows go through the network in one forward and one backward pass. Recurrent
        networks run inside :meth:`~fluxgrid.models.base.TorchModel.explain_mode` (eval
        mode, cuDNN off), so gradients work on GPUs and predictions are unchanged.
    ``shap_gradient`` (torch models)
        shap's own ``GradientExplainer`` (``nsamples`` random reference/path points per
        window; additivity only holds on average). Slower; for cross-checks.
    ``tree`` (``rf``)
        shap's exact ``TreeExplainer`` (path-dependent) on the model's window features
        (means of each input over the last 1, 7, 30, ... days); attributions per aggregate
        (``shap_aggregate``) and per input (their sum). No per-lag values.
    ``linear`` (``lasso``)
        Exact SHAP of the linear model with independent inputs:
        ``w[lag, i] * (x[lag, i] - mean of the references)``, per lag.

    ``svr`` has neither gradients nor trees; it is refused (use
    :func:`permutation_importance`).

    Parameters
    ----------
    model, data, windows, split, device
        As for :func:`permutation_importance`.
    method
        See above.
    max_windows
        Explain a seeded random subset of at most this many windows (``None``: all).
    background
        Number of reference windows (drawn from the training part when the run's split is
        known, else from the explained windows), or a ``WindowIndex`` of them.
    steps
        Gauss-Legendre points per path (``expected_gradients``). Recurrent networks can
        change sharply along a path (saturating gates), so the quadrature needs more points
        than smooth functions would: the largest ``additivity_error`` relative to the spread
        of the predictions was 13 % with 25 points, 1.4 % with 50 and 0.05 % with 100 on a
        90-day, 64-unit LSTM of the demo sites (13 %, 0.5 % and 0.02 % with 16, 32 and 64
        points on a 30-day, 16-unit one); on 365-day LSTMs of the 83-site scale-guided run
        64 points left errors up to 0.5 gC m-2 d-1 in two groups. ``tolerance`` refines the
        windows that need it; the cost grows linearly with ``background * steps``.
    tolerance
        Windows whose ``|additivity_error|`` exceeds ``tolerance`` times the standard
        deviation of the explained predictions are computed again with twice the points,
        until they pass or reach ``max_steps`` (``expected_gradients``; ``None``: ``steps``
        points for every window). The points used are returned per window (``steps``), the
        windows still above the tolerance in ``attrs["n_above_tolerance"]``. Long-window
        LSTMs can respond almost discontinuously along a path (a memory cell flipping: a
        jump of 2 scaled units within 1/2000 of the path on a 365-day LSTM here); such
        windows stay above the tolerance at ``max_steps``, and their error shows it.
    max_steps
        Most points per path when refining (at least ``steps``).
    nsamples
        Samples per window (``shap_gradient``).
    groups
        ``{label: [inputs]}`` summed into one driver (SHAP values are additive); default
        :func:`default_groups` (each driver alone, ``doy``, ``location``, ``igbp``).
    seed
        Seed of the window and reference draws.
    batch_size
        Sequences per forward/backward pass (windows x references x path points; at least
        one window's). Default 512 on the CPU, where larger passes fall out of the caches
        (2048 ran 2x slower than one window per pass here), 8192 on CUDA.

    Returns
    -------
    xarray.Dataset
        Dim ``sample`` (with ``site``, ``time``, ``igbp`` coords), ``driver``, ``lag``
        (0 = target step), in target units:

        - ``shap`` (sample, driver): contribution of each driver, summed over lags;
        - ``shap_lag`` (sample, lag, driver): per lag (not for ``tree``);
        - ``shap_aggregate`` (sample, aggregate, driver): ``tree`` and ``linear`` only;
        - ``prediction`` (sample), ``base_value`` (), ``additivity_error`` (sample) =
          prediction - base_value - sum of ``shap``;
        - ``steps`` (sample): Gauss-Legendre points used (``expected_gradients``).

    Raises
    ------
    ModelError
        A model type the method cannot explain (e.g. ``svr``), or an unknown method.

    Examples
    --------
    >>> sv = shap_values(run, cube, "test", max_windows=500)              # doctest: +SKIP
    >>> relative_contribution(sv, by="igbp", drivers=["ta", "sw_in", "vpd"])  # doctest: +SKIP
    """
    if method not in SHAP_METHODS:
        raise ModelError(f"SHAP method {method!r} unknown; use one of {list(SHAP_METHODS)}")
    target = resolve_target(model, data, windows, split=split, device=device)
    fmodel = target.model
    if method == "auto":
        if fmodel.kind == "torch":
            method = "expected_gradients"
        elif fmodel.name == "rf":
            method = "tree"
        elif fmodel.name == "lasso":
            method = "linear"
    allowed = {
        "expected_gradients": fmodel.kind == "torch",
        "shap_gradient": fmodel.kind == "torch",
        "tree": fmodel.name == "rf",
        "linear": fmodel.name == "lasso",
    }
    if not allowed.get(method, False):
        raise ModelError(
            f"SHAP cannot explain model {fmodel.name!r} with method {method!r}: gradient "
            "methods need a torch model (lstm, gru, rnn, ilstm, fnn), 'tree' a random forest "
            "(rf), 'linear' lasso. For svr (no gradients, no trees) use "
            "fluxgrid.permutation_importance"
        )
    if steps < 1 or nsamples < 1:
        raise ModelError(f"steps={steps}, nsamples={nsamples}; both must be >= 1")
    if tolerance is not None and not tolerance > 0:
        raise ModelError(f"tolerance={tolerance}; expected a positive number or None")
    max_steps = max(max_steps, steps)
    steps_used, n_above = None, 0
    lazy_import("torch")
    rng = np.random.default_rng(seed)
    index = _subsample(target.index, max_windows, rng)
    ref_index = _background_index(model, data, target, background, split, rng)
    per_agg = None
    if method in ("expected_gradients", "shap_gradient"):
        ref, _ = target.cube.gather(ref_index.site_idx, ref_index.end_idx, target.lookback)
        ref = ref.float()
        if method == "expected_gradients":
            if batch_size is None:
                batch_size = 8192 if target.cube.device.type == "cuda" else 512
            phi, pred, base, steps_used, n_above = _expected_gradients(
                target,
                index,
                ref,
                steps=steps,
                batch_size=batch_size,
                tolerance=tolerance,
                max_steps=max_steps,
            )
        else:
            phi, pred, base = _shap_gradient(target, index, ref, nsamples=nsamples, seed=seed)
        per_lag = phi[:, ::-1]  # lag 0 = target step
    else:
        per_lag, per_agg, pred, base = _tree_or_linear(target, index, ref_index, method)
    scale = target.target_scale
    group_map = (
        dict(groups) if groups is not None else default_groups(target.features, target.drivers)
    )
    cols = {k: target.columns([v] if isinstance(v, str) else list(v)) for k, v in group_map.items()}
    names = list(cols)
    data_vars: dict[str, Any] = {}

    def grouped(values: np.ndarray) -> np.ndarray:
        return np.stack([values[..., c].sum(axis=-1) for c in cols.values()], axis=-1)

    if per_lag is not None:
        lag_vals = grouped(np.asarray(per_lag, dtype=np.float64)) * scale
        data_vars["shap_lag"] = (
            ("sample", "lag", "driver"),
            lag_vals.astype(np.float32),
            {"long_name": "SHAP value per lag", "units": target.units},
        )
        total = lag_vals.sum(axis=1)
    if per_agg is not None:
        agg_vals = grouped(np.asarray(per_agg, dtype=np.float64)) * scale
        data_vars["shap_aggregate"] = (
            ("sample", "aggregate", "driver"),
            agg_vals.astype(np.float32),
            {
                "long_name": "SHAP value per window aggregate (mean of the last k days)",
                "units": target.units,
            },
        )
        if per_lag is None:
            total = agg_vals.sum(axis=1)
    prediction = target.to_target_units(pred)
    base_value = base * scale + target.target_center
    data_vars["shap"] = (
        ("sample", "driver"),
        total.astype(np.float32),
        {"long_name": "SHAP value (sum over lags)", "units": target.units},
    )
    data_vars["prediction"] = ("sample", prediction.astype(np.float32), {"units": target.units})
    data_vars["base_value"] = (
        (),
        base_value,
        {"long_name": "mean prediction of the references", "units": target.units},
    )
    data_vars["additivity_error"] = (
        "sample",
        (prediction - base_value - total.sum(axis=-1)).astype(np.float32),
        {"long_name": "prediction - base_value - sum of SHAP values", "units": target.units},
    )
    if steps_used is not None:
        data_vars["steps"] = (
            "sample",
            steps_used,
            {"long_name": "Gauss-Legendre points per path used for the window"},
        )
    coords: dict[str, Any] = {"driver": names, **target.sample_coords(index)}
    if per_lag is not None:
        coords["lag"] = (
            "lag",
            np.arange(target.lookback),
            {"long_name": "steps before the target step"},
        )
    if per_agg is not None:
        aggs = [
            target.lookback if k <= 0 or k > target.lookback else k
            for k in fmodel.params["aggregates"]
        ]
        coords["aggregate"] = (
            "aggregate",
            np.asarray(aggs),
            {"long_name": "days averaged (last k)"},
        )
    out = xr.Dataset(data_vars, coords=coords)
    out.attrs = {
        "method": method,
        "model": fmodel.name,
        "n_background": len(ref_index),
        "steps": steps if method == "expected_gradients" else 0,
        "tolerance": (
            tolerance if method == "expected_gradients" and tolerance is not None else "none"
        ),
        "max_steps": max_steps if method == "expected_gradients" else 0,
        "n_above_tolerance": n_above,
        "nsamples": nsamples if method == "shap_gradient" else 0,
        "seed": seed,
        "units": target.units,
        "inputs_of_driver": "; ".join(
            f"{k}: {', '.join(target.features[c] for c in v)}" for k, v in cols.items()
        ),
    }
    return out


# --------------------------------------------------------------------------- response surfaces
def response_surface(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    x: str = "ta",
    y: str = "sw_in",
    x_offsets: Sequence[float] | None = None,
    y_offsets: Sequence[float] | None = None,
    by: Literal["site", "igbp"] | None = None,
    bins: int = 10,
    min_count: int = 5,
    min_fraction: float = 0.5,
    max_windows: int | None = None,
    seed: int = 0,
    split: xr.Dataset | None = None,
    batch_size: int = 4096,
    device: str | None = None,
) -> xr.Dataset:
    """Mean response of the model to shifts of two drivers (others as observed), with a data mask.

    Every window's whole look-back of driver ``x`` is shifted by each of ``x_offsets`` and of
    ``y`` by each of ``y_offsets`` (in the drivers' physical units, e.g. degC and W m-2: "the
    same weather, 2 degrees warmer and 50 W m-2 brighter"); the model predicts all shifted
    windows and the predictions are averaged. All grid points of a batch of windows go
    through the model in one stacked forward pass.

    Where the shifted drivers leave the observed climate the model extrapolates. The joint
    distribution of ``(x, y)`` on the target days of the training windows (of the explained
    windows when no split is known) is binned (``bins`` x ``bins`` over the range of the
    observed and shifted values); a shifted window is supported when its bin holds at least
    ``min_count`` observed days. ``density`` is the share of supported
    windows per grid point and ``low_density`` marks grid points where it is below
    ``min_fraction``.

    Parameters
    ----------
    model, data, windows, split, device
        As for :func:`permutation_importance`.
    x, y
        The two drivers shifted.
    x_offsets, y_offsets
        Offsets in the drivers' units (bare models: scaled units). Default: 9 offsets from -2
        to +2 standard deviations of the driver on the windows' target days.
    by
        Also return responses per ``site`` or ``igbp`` (added as a leading dim).
    bins, min_count, min_fraction
        Density mask settings (see above).
    max_windows
        Use a seeded random subset of at most this many windows.
    batch_size
        Sequences per forward pass (windows x grid points).

    Returns
    -------
    xarray.Dataset
        Dims ``<x>_offset``, ``<y>_offset`` (and ``by``):

        - ``response``: mean prediction (target units);
        - ``change``: ``response`` minus the mean prediction without shifts;
        - ``density``: share of windows whose shifted ``(x, y)`` lies in the observed joint
          distribution; ``low_density``: ``density < min_fraction``;
        - ``baseline``: mean prediction without shifts; ``n_windows``.

    Raises
    ------
    ModelError
        A driver that is not a model input, ``x == y``, or bad mask settings.

    Examples
    --------
    >>> rs = response_surface(run, cube, "test", x="ta", y="sw_in",
    ...                       x_offsets=[-4, -2, 0, 2, 4], y_offsets=[-50, 0, 50])  # doctest: +SKIP
    >>> rs.change.where(~rs.low_density)                                 # doctest: +SKIP
    """
    torch = lazy_import("torch")
    if x == y:
        raise ModelError(f"x and y are both {x!r}; give two different drivers")
    if bins < 2 or min_count < 1 or not 0 <= min_fraction <= 1:
        raise ModelError(
            f"bins={bins}, min_count={min_count}, min_fraction={min_fraction}; expected "
            "bins >= 2, min_count >= 1, 0 <= min_fraction <= 1"
        )
    target = resolve_target(model, data, windows, split=split, device=device)
    ix, iy = target.columns([x, y])
    rng = np.random.default_rng(seed)
    index = _subsample(target.index, max_windows, rng)
    cube, fmodel, lookback = target.cube, target.model, target.lookback
    sx, cx = target.input_scale.get(x, 1.0), target.input_center.get(x, 0.0)
    sy, cy = target.input_scale.get(y, 1.0), target.input_center.get(y, 0.0)
    n = len(index)

    def target_day_values(idx: WindowIndex) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) on the target days of ``idx``, physical units (one-step gathers)."""
        last = np.empty((len(idx), 2))
        for start in range(0, len(idx), 65536):
            sl = slice(start, min(start + 65536, len(idx)))
            xb, _ = cube.gather(idx.site_idx[sl], idx.end_idx[sl], 1)
            last[sl] = xb[:, 0, [ix, iy]].float().cpu().numpy()
        return last[:, 0] * sx + cx, last[:, 1] * sy + cy

    xv, yv = target_day_values(index)
    # the observed climate: the training windows when the run's split is known
    ref_index = _reference_windows(model, data, target, split)
    rx, ry = (xv, yv) if ref_index is None else target_day_values(ref_index)
    dx = np.asarray(
        x_offsets if x_offsets is not None else np.linspace(-2, 2, 9) * np.std(xv), dtype=np.float64
    )
    dy = np.asarray(
        y_offsets if y_offsets is not None else np.linspace(-2, 2, 9) * np.std(yv), dtype=np.float64
    )
    if dx.ndim != 1 or dy.ndim != 1 or dx.size == 0 or dy.size == 0:
        raise ModelError("x_offsets and y_offsets must be non-empty 1-d sequences of numbers")
    nx, ny = dx.size, dy.size
    grid = nx * ny
    shift = torch.zeros((grid + 1, 1, 1, len(target.features)), dtype=torch.float32)
    gx, gy = np.meshgrid(dx, dy, indexing="ij")
    shift[:grid, 0, 0, ix] = torch.as_tensor(gx.ravel() / sx, dtype=torch.float32)
    shift[:grid, 0, 0, iy] = torch.as_tensor(gy.ravel() / sy, dtype=torch.float32)
    shift = shift.to(cube.device)  # the last grid point is the unshifted baseline
    preds = np.empty((grid + 1, n), dtype=np.float32)
    chunk = max(1, batch_size // (grid + 1))
    for start in range(0, n, chunk):
        sl = slice(start, min(start + chunk, n))
        xb, _ = cube.gather(index.site_idx[sl], index.end_idx[sl], lookback)
        stacked = xb.unsqueeze(0) + shift
        out = fmodel.predict_batch(stacked.reshape(-1, lookback, xb.shape[-1]))
        preds[:, sl] = out.float().cpu().numpy().reshape(grid + 1, -1)
    preds_t = target.to_target_units(preds)
    # density of the observed joint distribution, on bins covering every shifted value
    lo_x = min(xv.min() + dx.min(), rx.min())
    hi_x = max(xv.max() + dx.max(), rx.max())
    lo_y = min(yv.min() + dy.min(), ry.min())
    hi_y = max(yv.max() + dy.max(), ry.max())
    xe = np.linspace(lo_x, hi_x, bins + 1)
    ye = np.linspace(lo_y, hi_y, bins + 1)
    counts, _, _ = np.histogram2d(rx, ry, bins=[xe, ye])
    bx = np.clip(
        np.searchsorted(xe, xv[None, :] + gx.ravel()[:, None], side="right") - 1, 0, bins - 1
    )
    by_ = np.clip(
        np.searchsorted(ye, yv[None, :] + gy.ravel()[:, None], side="right") - 1, 0, bins - 1
    )
    supported = counts[bx, by_] >= min_count  # (grid, window)
    if by is None:
        labels = np.zeros(n, dtype=np.int64)
        names = None
    else:
        if by == "site":
            lab = index.sample_sites.astype(str)
        elif by == "igbp" and target.igbp is not None:
            lab = np.asarray(target.igbp).astype(str)[index.site_idx]
        else:
            raise DataNotFoundError(f"by={by!r}: use 'site', or 'igbp' with a cube that has igbp")
        names, labels = np.unique(lab, return_inverse=True)
    n_lab = int(labels.max()) + 1
    counts_l = np.bincount(labels, minlength=n_lab).astype(np.float64)

    def mean_by(values: np.ndarray) -> np.ndarray:  # (rows, n) -> (label, rows)
        return (
            np.stack([np.bincount(labels, weights=v, minlength=n_lab) for v in values], 1)
            / counts_l[:, None]
        )

    resp = mean_by(preds_t[:grid])
    base = mean_by(preds_t[grid:])[:, 0]
    dens = mean_by(supported.astype(np.float64))
    xo, yo = f"{x}_offset", f"{y}_offset"
    dims = (xo, yo) if by is None else (by, xo, yo)
    shape = (nx, ny) if by is None else (n_lab, nx, ny)
    units = target.units
    out = xr.Dataset(
        {
            "response": (
                dims,
                resp.reshape(shape),
                {"long_name": "mean prediction", "units": units},
            ),
            "change": (
                dims,
                (resp - base[:, None]).reshape(shape),
                {"long_name": "mean prediction minus the unshifted mean", "units": units},
            ),
            "density": (
                dims,
                dens.reshape(shape),
                {
                    "long_name": "share of windows inside the observed joint distribution",
                    "units": "1",
                },
            ),
            "baseline": (dims[:-2], base.reshape(shape[:-2]), {"units": units}),
            "n_windows": (dims[:-2], counts_l.reshape(shape[:-2]).astype(np.int64)),
        },
        coords={
            xo: (xo, dx, {"units": _units_of(data, x)}),
            yo: (yo, dy, {"units": _units_of(data, y)}),
        },
    )
    if names is not None:
        out = out.assign_coords({by: names})
    out["low_density"] = out["density"] < min_fraction
    out["low_density"].attrs = {"long_name": f"density below {min_fraction}"}
    out.attrs = {
        "method": "response surface",
        "model": fmodel.name,
        "x": x,
        "y": y,
        "bins": bins,
        "min_count": min_count,
        "min_fraction": min_fraction,
        "units": units,
    }
    return out


def _units_of(data: Any, name: str) -> str:
    if isinstance(data, xr.Dataset) and name in data:
        return str(data[name].attrs.get("units", ""))
    return "1 (scaled)"


# --------------------------------------------------------------------------- attention
def label_igbp(attention: xr.Dataset, cube: xr.Dataset) -> xr.Dataset:
    """Attach each window's IGBP class (coord ``igbp`` on ``sample``) from the site cube.

    Parameters
    ----------
    attention
        Output of :meth:`fluxgrid.train.TrainedRun.attention` (coord ``site`` on ``sample``).
    cube
        Site cube with an ``igbp`` coordinate (returned unchanged without one).

    Returns
    -------
    xarray.Dataset
    """
    if "igbp" not in cube.coords:
        return attention
    lookup = dict(zip(cube.site.values.astype(str), cube.igbp.values.astype(str), strict=True))
    return attention.assign_coords(
        igbp=("sample", [lookup[s] for s in attention.site.values.astype(str)])
    )


def attention_summary(
    attention: xr.Dataset | TrainedRun | str | os.PathLike,
    data: xr.Dataset | None = None,
    *,
    part: str | None = "test",
    by: str | None = "site",
    period: tuple[Any, Any] | None = None,
) -> xr.Dataset:
    """Attention of an iLSTM averaged per site (or vegetation type, month, year, or overall).

    Parameters
    ----------
    attention
        Output of :meth:`fluxgrid.train.TrainedRun.attention` (``alpha`` (sample, variable,
        lag), ``beta`` (sample, variable)), or a run (object or directory) with ``data``.
    data
        Site cube, when ``attention`` is a run.
    part
        Split part whose windows are read (when computing from a run).
    by
        ``"site"``, ``"igbp"``, ``"month"``, ``"year"`` or ``None`` (all windows together).
    period
        ``(start, end)`` dates: only windows whose target day falls in it.

    Returns
    -------
    xarray.Dataset
        ``alpha`` (group, driver, lag): mean temporal attention (sums to 1 over lags);
        ``beta`` (group, driver): mean variable attention (sums to 1 over drivers);
        ``beta_std`` (group, driver); ``n_windows`` (group). The group dim is named after
        ``by`` (absent when ``by=None``).

    Raises
    ------
    ModelError
        If the model is not an iLSTM.
    DataNotFoundError
        No window in ``period``, or a grouping the windows cannot be labelled by.

    Examples
    --------
    >>> att = run.attention(cube, part="test")                           # doctest: +SKIP
    >>> summary = attention_summary(att, by="site")                      # doctest: +SKIP
    >>> summary.beta.sel(site="US-MMS").to_series()                      # doctest: +SKIP
    """
    from .train import TrainedRun, load_run

    if isinstance(attention, str | os.PathLike):
        attention = load_run(attention)
    if isinstance(attention, TrainedRun):
        if data is None:
            raise DataNotFoundError("attention_summary of a run needs the site cube (data=)")
        cube = data
        attention = label_igbp(attention.attention(cube, part=part), cube)
    for name in ("alpha", "beta"):
        if name not in attention:
            raise ModelError(
                f"no {name!r} in the attention dataset; attention exists for 'ilstm' models "
                "(TrainedRun.attention)"
            )
    att = attention.rename(variable="driver") if "variable" in attention.dims else attention
    if period is not None:
        t = pd.DatetimeIndex(att["time"].values)
        keep = (t >= pd.Timestamp(str(period[0]))) & (t <= pd.Timestamp(str(period[1])))
        att = att.isel(sample=np.flatnonzero(keep))
        if att.sizes["sample"] == 0:
            raise DataNotFoundError(f"no window ends within period {list(period)}")
    if by is None:
        labels = None
    elif by in ("site", "igbp"):
        if by not in att.coords:
            raise DataNotFoundError(f"the attention windows carry no {by!r} label")
        labels = att[by].values.astype(str)
    elif by in ("month", "year"):
        t = pd.DatetimeIndex(att["time"].values)
        labels = (t.month if by == "month" else t.year).to_numpy()
    else:
        raise DataNotFoundError(f"by={by!r}; use site, igbp, month, year or None")
    alpha, beta = att["alpha"], att["beta"]
    if labels is None:
        out = xr.Dataset(
            {
                "alpha": alpha.mean("sample"),
                "beta": beta.mean("sample"),
                "beta_std": beta.std("sample"),
                "n_windows": ((), att.sizes["sample"]),
            }
        )
    else:
        key = xr.DataArray(labels, dims="sample", name=by)
        out = xr.Dataset(
            {
                "alpha": alpha.groupby(key).mean("sample"),
                "beta": beta.groupby(key).mean("sample"),
                "beta_std": beta.groupby(key).std("sample"),
                "n_windows": key.groupby(key).count(),
            }
        )
    out = out.drop_vars([c for c in ("site", "time", "igbp") if c in out.coords and c != by])
    out["alpha"].attrs = {
        "long_name": "mean temporal attention (lag 0 = target step)",
        "units": "1",
    }
    out["beta"].attrs = {"long_name": "mean variable attention", "units": "1"}
    out["beta_std"].attrs = {"long_name": "standard deviation of variable attention", "units": "1"}
    out.attrs = {"method": "iLSTM attention", "grouping": by or "all", "part": part or "all"}
    return out


# --------------------------------------------------------------------------- relative shares
def relative_contribution(
    values: xr.Dataset | xr.DataArray,
    *,
    by: str | None = "site",
    drivers: Sequence[str] | None = None,
) -> xr.DataArray:
    """Share of each driver in percent: mean |attribution| per driver over the sum of drivers.

    Parameters
    ----------
    values
        :func:`shap_values` output (its ``shap`` variable, dims ``(sample, driver)``) or a
        DataArray of per-window attributions with those dims and ``site``/``igbp``/``time``
        coords on ``sample``.
    by
        ``"site"``, ``"igbp"`` (vegetation type), ``"month"``, ``"year"`` or ``None``
        (all windows).
    drivers
        Drivers the shares are taken among (default: all on the ``driver`` dim).

    Returns
    -------
    xarray.DataArray
        Percent, dims ``(group, driver)`` (``(driver,)`` with ``by=None``); each group sums
        to 100.

    Examples
    --------
    >>> import numpy as np
    >>> phi = xr.DataArray([[1.0, -3.0], [-1.0, 1.0]], dims=("sample", "driver"),
    ...                    coords={"driver": ["ta", "vpd"], "site": ("sample", ["A", "A"])})
    >>> relative_contribution(phi, by="site").values.round(1).tolist()
    [[33.3, 66.7]]
    """
    da = values["shap"] if isinstance(values, xr.Dataset) else values
    if "sample" not in da.dims or "driver" not in da.dims:
        raise DataNotFoundError(
            f"attributions need dims (sample, driver), got {list(da.dims)}; pass shap_values(...)"
        )
    if "lag" in da.dims:
        da = da.sum("lag")
    if drivers is not None:
        missing = [d for d in drivers if d not in da["driver"].values]
        if missing:
            raise DataNotFoundError(f"drivers {missing} are not among {da.driver.values.tolist()}")
        da = da.sel(driver=list(drivers))
    mag = abs(da)
    if by is None:
        mean = mag.mean("sample")
    else:
        if by in ("month", "year"):
            t = pd.DatetimeIndex(da["time"].values)
            labels = (t.month if by == "month" else t.year).to_numpy()
        elif by in da.coords:
            labels = da[by].values
        else:
            raise DataNotFoundError(f"the attributions carry no {by!r} label; use site or igbp")
        key = xr.DataArray(labels, dims="sample", name=by)
        mean = mag.groupby(key).mean("sample")
    total = mean.sum("driver")
    share = 100.0 * mean / total.where(total > 0)
    share = share.drop_vars([c for c in share.coords if c not in share.dims])
    share.name = "relative_contribution"
    share.attrs = {"long_name": "share of mean |SHAP| among the drivers", "units": "%"}
    return share
