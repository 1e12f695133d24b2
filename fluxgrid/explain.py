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

    def sample_coords(self) -> dict[str, Any]:
        """``site`` and ``time`` (and ``igbp``) coordinates of the windows (dim ``sample``)."""
        coords: dict[str, Any] = {
            "site": ("sample", self.index.sample_sites.astype(str)),
            "time": ("sample", self.index.sample_times),
        }
        if self.igbp is not None:
            coords["igbp"] = ("sample", np.asarray(self.igbp).astype(str)[self.index.site_idx])
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


# --------------------------------------------------------------------------- attention
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
        attention = attention.attention(cube, part=part)
        if "igbp" in cube.coords:
            lookup = dict(
                zip(cube.site.values.astype(str), cube.igbp.values.astype(str), strict=True)
            )
            attention = attention.assign_coords(
                igbp=("sample", [lookup[s] for s in attention.site.values.astype(str)])
            )
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
