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
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ColumnError, ConfigError, DataNotFoundError
from .guided_config import GuidedConfig

if TYPE_CHECKING:  # pragma: no cover
    from .train import TrainedRun

__all__ = [
    "KINDS",
    "SCALES",
    "GuidedResult",
    "ScaleData",
    "decompose_predictions",
    "igbp_groups",
    "load_guided",
    "prepare_scales",
    "run_guided",
    "taylor_statistics",
]

#: the scales models are trained on
SCALES = ("seasonal", "interannual")
#: prediction kinds of a model type: guided per scale, end to end (raw and decomposed), cross-scale
KINDS = (
    "undecomposed",
    "seasonal",
    "interannual",
    "seasonal_end_to_end",
    "interannual_end_to_end",
    "seasonal_model_on_interannual",
    "interannual_model_on_seasonal",
)


# --------------------------------------------------------------------------- data
def igbp_groups(ds: xr.Dataset, *, min_sites: int = 1, mode: str = "igbp") -> dict[str, list[str]]:
    """Sites per model group: one group per IGBP class, small classes pooled as ``other``.

    Parameters
    ----------
    ds
        Site cube with an ``igbp`` coordinate (``''``: unknown class).
    min_sites
        Classes with fewer sites (and sites of unknown class) go to the group ``other``.
    mode
        ``"igbp"`` or ``"pooled"`` (one group ``all``).

    Returns
    -------
    dict
        ``{group: [site, ...]}``, groups sorted, ``other`` last.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> igbp_groups(load_demo_cube(), min_sites=2)
    {'DBF': ['US-MMS', 'US-UMB', 'DE-Hai'], 'other': ['DE-Tha', 'FR-Pue']}
    """
    sites = ds["site"].values.astype(str)
    if mode == "pooled":
        return {"all": sites.tolist()}
    if mode != "igbp":
        raise ConfigError(f"groups={mode!r}; expected 'igbp' or 'pooled'")
    if "igbp" not in ds.coords:
        raise DataNotFoundError("grouping by IGBP needs an 'igbp' coordinate (site) on the cube")
    classes = ds["igbp"].values.astype(str)
    counts = pd.Series(classes).value_counts()
    out: dict[str, list[str]] = {}
    other: list[str] = []
    for cls in sorted(set(classes.tolist())):
        members = sites[classes == cls].tolist()
        if cls == "" or counts[cls] < min_sites:
            other.extend(members)
        else:
            out[cls] = members
    if other:
        out["other"] = [s for s in sites.tolist() if s in set(other)]
    return out


@dataclasses.dataclass
class ScaleData:
    """Everything the scale models are built from (see :func:`prepare_scales`).

    Attributes
    ----------
    cube
        Daily cube: gap-filled drivers (with ``<driver>_filled`` flags) and the QC-masked
        target; what the end-to-end models train on.
    target_raw
        The target before QC, ``(site, time)``: what SSA decomposes.
    valid
        Boolean ``(site, time)``: the target passes QC.
    split
        ``part`` (site, time).
    whole
        SSA of the drivers and the target over the whole record.
    train
        SSA of the drivers and the target over each site's training period (days before its
        first test day); ``whole`` itself with ``decompose="whole_record"``.
    groups
        ``{group: [site, ...]}``.
    drivers, target
        Variable names.
    qc_report
        :func:`fluxgrid.qc_mask` report.
    fill_report
        :func:`fluxgrid.gapfill_report` of the drivers.
    decompose
        ``train_separately`` or ``whole_record``.
    """

    cube: xr.Dataset
    target_raw: xr.DataArray
    valid: xr.DataArray
    split: xr.Dataset
    whole: xr.Dataset
    train: xr.Dataset
    groups: dict[str, list[str]]
    drivers: list[str]
    target: str
    qc_report: xr.Dataset | None = None
    fill_report: xr.Dataset | None = None
    decompose: str = "train_separately"

    def scale_cube(self, scale: str, which: str = "test") -> xr.Dataset:
        """Site cube of one scale: the drivers' and the target's components.

        Parameters
        ----------
        scale
            ``seasonal`` or ``interannual``.
        which
            ``train``: components of the training-period decomposition, target on QC-valid
            training and validation days only; ``test``: components of the whole-record
            decomposition, target on QC-valid days (the scoring truth).

        Returns
        -------
        xarray.Dataset
            Dims ``(site, time)``, the cube's coordinates, units of the original variables.
        """
        if scale not in SCALES:
            raise ConfigError(f"scale {scale!r}; expected one of {list(SCALES)}")
        if which not in ("train", "test"):
            raise ConfigError(f"which={which!r}; expected 'train' or 'test'")
        from .prep.splits import TEST

        parts = self.train if which == "train" else self.whole
        out = xr.Dataset(coords=self.cube.coords)
        for name in [*self.drivers, self.target]:
            comp = parts[name].sel(component=scale, drop=True).transpose("site", "time")
            attrs = {
                "units": self.cube[name].attrs.get("units", ""),
                "long_name": f"{scale} SSA component of {name}",
            }
            if name == self.target:
                keep = self.valid
                if which == "train":
                    keep = keep & (self.split["part"] != TEST)
                comp = comp.where(keep)
            out[name] = comp.reset_coords(drop=True).astype(np.float32).assign_attrs(attrs)
        out.attrs = {"resolution": "DD", "scale": scale, "decomposition": which}
        return out

    def truth(self, scale: str) -> xr.DataArray:
        """Whole-record component of the target on QC-valid days (``undecomposed``: the target)."""
        if scale == "undecomposed":
            return self.cube[self.target]
        comp = self.whole[self.target].sel(component=scale, drop=True).transpose("site", "time")
        return comp.where(self.valid).reset_coords(drop=True)


def _check_driver_gaps(filled: xr.Dataset, drivers: Sequence[str]) -> None:
    """Refuse gaps that gap filling left inside a driver's record (SSA cannot take them)."""
    for name in drivers:
        values = filled[name].transpose("site", "time").values
        valid = np.isfinite(values)
        has = valid.any(axis=1)
        first = np.where(has, valid.argmax(axis=1), 0)
        last = np.where(has, values.shape[1] - 1 - valid[:, ::-1].argmax(axis=1), -1)
        span = np.maximum(last - first + 1, 0)
        gaps = span - valid.sum(axis=1)
        if (gaps > 0).any():
            bad = np.flatnonzero(gaps > 0)
            sites = filled["site"].values.astype(str)
            example = ", ".join(f"{sites[i]} ({gaps[i]} days)" for i in bad[:3])
            raise ColumnError(
                name,
                expected=(
                    "a gap-free driver record for SSA; set scales.long_gaps: climatology and "
                    "lower scales.min_count (day-of-year means fill long gaps), or drop these "
                    "sites (data.exclude_sites)"
                ),
                found=f"gaps left after filling at {bad.size} site(s): {example}",
            )


def _before_test(split: xr.Dataset) -> xr.DataArray:
    """Boolean (site, time): days before each site's first test day."""
    from .prep.splits import TEST

    is_test = (split["part"] == TEST).transpose("site", "time")
    return (is_test.cumsum("time") == 0).reset_coords(drop=True)


def prepare_scales(
    cfg: GuidedConfig,
    *,
    cube: xr.Dataset | None = None,
    progress: bool | None = None,
) -> ScaleData:
    """Load, QC, select, gap-fill, split and decompose: the data of the guided workflow.

    Parameters
    ----------
    cfg
        The workflow configuration.
    cube
        Use this site cube instead of reading ``cfg.data.source``.
    progress
        Progress bar while the source cube loads.

    Returns
    -------
    ScaleData

    Raises
    ------
    DataNotFoundError
        No site with ``data.min_years`` years of valid target values.
    ColumnError
        A driver with gaps left after filling.
    ConfigError
        An SSA window longer than half of a site's record.
    """
    from .prep.gapfill import gapfill, gapfill_report
    from .prep.qc import qc_mask
    from .prep.select import select_sites
    from .prep.splits import make_split
    from .prep.ssa import ssa
    from .train import load_data

    d = cfg.data
    raw_cfg = dataclasses.replace(d, qc_threshold=None, min_years=None)
    raw, _ = load_data(raw_cfg, cube=cube, progress=progress)
    qc_report = None
    masked = raw
    if d.qc_threshold is not None:
        from .catalog import qc_name

        if qc_name(d.target) not in raw:
            raise DataNotFoundError(
                f"data.qc_threshold needs {qc_name(d.target)!r} in the cube; set "
                "data.qc_threshold: null to train without QC"
            )
        masked, qc_report = qc_mask(
            raw,
            threshold=d.qc_threshold,
            targets=[d.target],
            min_valid_fraction=d.min_valid_fraction,
        )
    if d.min_years is not None:
        masked = select_sites(masked, min_years=d.min_years, variable=d.target)
    sites = masked["site"].values
    raw = raw.sel(site=sites)
    s = cfg.scales
    filled = gapfill(
        masked, list(d.drivers), max_gap=s.max_gap, long_gaps=s.long_gaps, min_count=s.min_count
    )
    _check_driver_gaps(filled, d.drivers)
    split = make_split(filled, cfg.split, target=d.target)
    valid = filled[d.target].notnull().transpose("site", "time").reset_coords(drop=True)
    target_raw = raw[d.target].transpose("site", "time")
    kwargs = s.ssa_kwargs()
    drivers_ds = filled[list(d.drivers)]
    whole = xr.merge(
        [
            ssa(drivers_ds, list(d.drivers), on_gaps="raise", **kwargs),
            ssa(target_raw.to_dataset(name=d.target), d.target, on_gaps="longest", **kwargs),
        ],
        compat="override",
        combine_attrs="drop_conflicts",
    )
    if s.decompose == "train_separately":
        before = _before_test(split)
        train = xr.merge(
            [
                ssa(drivers_ds.where(before), list(d.drivers), on_gaps="raise", **kwargs),
                ssa(
                    target_raw.where(before).to_dataset(name=d.target),
                    d.target,
                    on_gaps="longest",
                    **kwargs,
                ),
            ],
            compat="override",
            combine_attrs="drop_conflicts",
        )
    else:
        train = whole
    groups = igbp_groups(filled, min_sites=cfg.min_group_sites, mode=cfg.groups)
    return ScaleData(
        cube=filled,
        target_raw=target_raw,
        valid=valid,
        split=split,
        whole=whole.load(),
        train=train.load(),
        groups=groups,
        drivers=list(d.drivers),
        target=d.target,
        qc_report=qc_report,
        fill_report=gapfill_report(filled),
        decompose=s.decompose,
    )


def decompose_predictions(pred: xr.DataArray, data: ScaleData, cfg: GuidedConfig) -> xr.Dataset:
    """SSA of end-to-end predictions with the truth's settings, over the truth's span.

    Parameters
    ----------
    pred
        Predictions ``(site, time)`` of a model trained on raw data, on every day with a
        complete input window (training and test days alike).
    data
        The workflow data (its ``whole`` decomposition defines the span).
    cfg
        The workflow configuration (SSA settings).

    Returns
    -------
    xarray.Dataset
        :func:`fluxgrid.prep.ssa.ssa` output for ``pred`` (its longest gap-free span inside
        the span where the observed target was decomposed).
    """
    from .prep.ssa import ssa

    span = data.whole[data.target].sum("component", min_count=1).notnull()
    name = data.target
    values = pred.transpose("site", "time").where(span.transpose("site", "time"))
    return ssa(
        values.to_dataset(name=name), name, on_gaps="longest", **cfg.scales.ssa_kwargs()
    ).load()


# --------------------------------------------------------------------------- statistics
def taylor_statistics(
    predictions: Mapping[str, xr.Dataset], *, part: str | None = "test"
) -> xr.Dataset:
    """Standard deviations and correlation of each case, pooled over the scored days.

    Parameters
    ----------
    predictions
        ``{case: predictions}`` with ``obs``, ``pred`` (and ``part``) on ``(site, time)``.
    part
        Split part scored (``None``: every pair).

    Returns
    -------
    xarray.Dataset
        Dim ``case``: ``sd_obs``, ``sd_pred`` (population standard deviations), ``r``
        (Pearson correlation), ``crmsd`` (centred RMS difference), ``n``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> c = load_demo_cube()
    >>> t = taylor_statistics({"dt": xr.Dataset({"obs": c.gpp_nt, "pred": c.gpp_dt})}, part=None)
    >>> round(float(t.r.sel(case="dt")), 2) > 0.9
    True
    """
    from .prep.splits import PARTS

    rows = []
    for case, p in predictions.items():
        o = p["obs"].transpose("site", "time").values.astype(np.float64)
        q = p["pred"].transpose("site", "time").values.astype(np.float64)
        ok = np.isfinite(o) & np.isfinite(q)
        if part is not None:
            ok &= p["part"].transpose("site", "time").values == PARTS[part]
        o, q = o[ok], q[ok]
        if o.size < 2:
            rows.append((case, np.nan, np.nan, np.nan, np.nan, o.size))
            continue
        so, sp = o.std(), q.std()
        r = float(np.corrcoef(o, q)[0, 1]) if so > 0 and sp > 0 else np.nan
        crmsd = float(np.sqrt(np.mean(((q - q.mean()) - (o - o.mean())) ** 2)))
        rows.append((case, so, sp, r, crmsd, o.size))
    frame = pd.DataFrame(rows, columns=["case", "sd_obs", "sd_pred", "r", "crmsd", "n"])
    out = xr.Dataset.from_dataframe(frame.set_index("case"))
    out["r"].attrs = {"long_name": "Pearson correlation", "units": "1"}
    out["crmsd"].attrs = {"long_name": "centred root-mean-square difference"}
    return out


# --------------------------------------------------------------------------- training
def _experiment(cfg: GuidedConfig, label: str, window: Any, drivers: Sequence[str]) -> Any:
    from .config import from_dict, to_dict
    from .experiment_config import ExperimentConfig

    spec = cfg.models[label]
    return from_dict(
        ExperimentConfig,
        {
            "data": {
                "source": cfg.data.source,
                "drivers": list(drivers),
                "target": cfg.data.target,
                "qc_threshold": None,
            },
            "split": to_dict(cfg.split),
            "windows": {"lookback": window.lookback, "static": list(window.static)},
            "model": {"name": cfg.model_name(label), "params": dict(spec.params)},
            "train": {**to_dict(cfg.train), **spec.train},
            "description": f"scale-guided workflow: {label}",
        },
    )


def _predict(run: TrainedRun, ds: xr.Dataset, split: xr.Dataset, part: str | None) -> xr.Dataset:
    """Predictions of ``run`` on every complete window of ``ds`` ending in ``part``."""
    from .train import predictions_dataset

    index = run.windows(ds, split=split, require_target=False)
    if part is not None:
        index = index.select(part)
    cube = run.window_cube(ds)
    values = run.predict_windows(cube, index, batch_size=run.config.train.eval_batch_size)
    target = run.inputs["target"]
    return predictions_dataset(
        ds, index, values, target=target, split=split, units=run.inputs.get("target_units", "")
    )


@dataclasses.dataclass
class GuidedResult:
    """Models, predictions and scores of :func:`run_guided`.

    Attributes
    ----------
    config
        The workflow configuration.
    data
        The decomposed data (:class:`ScaleData`).
    predictions
        ``{(label, kind): predictions}`` for every model label and kind of :data:`KINDS`:
        ``obs``, ``pred``, ``part`` on ``(site, time)`` (all sites, all groups).
    runs
        ``{(group, label, scale): TrainedRun}`` with ``scale`` in ``seasonal``,
        ``interannual``, ``end_to_end``.
    histories
        Training histories, same keys as ``runs``.
    seconds
        Wall-clock seconds per step.
    """

    config: GuidedConfig
    data: ScaleData
    predictions: dict[tuple[str, str], xr.Dataset]
    runs: dict[tuple[str, str, str], Any]
    histories: dict[tuple[str, str, str], xr.Dataset]
    seconds: dict[str, float]

    @property
    def labels(self) -> list[str]:
        """Model labels in configuration order."""
        return list(self.config.models)

    def scores(
        self, *, by: str | None = None, part: str = "test", kinds: Sequence[str] | None = None
    ) -> xr.Dataset:
        """Metrics of every model label and prediction kind (pooled or per IGBP / site).

        Returns
        -------
        xarray.Dataset
            :data:`fluxgrid.evaluate.METRICS` with dims ``(model, kind)`` (and ``by``).
        """
        from .evaluate import scores

        kinds = list(kinds) if kinds is not None else [k for k in KINDS if self._has(k)]
        per_model = []
        for label in self.labels:
            tables = [
                scores(self.predictions[(label, k)], by=() if by is None else by, part=part)
                for k in kinds
            ]
            per_model.append(xr.concat(tables, dim=pd.Index(kinds, name="kind"), join="outer"))
        out = xr.concat(per_model, dim=pd.Index(self.labels, name="model"), join="outer")
        out.attrs = {"part": part, "target": self.data.target}
        return out

    def _has(self, kind: str) -> bool:
        return all((label, kind) in self.predictions for label in self.labels)

    def cross_scale(self, *, part: str = "test") -> xr.Dataset:
        """Metrics of each scale's model on each scale's inputs and targets.

        Returns
        -------
        xarray.Dataset
            Metrics with dims ``(model, trained_on, scored_on)``.
        """
        from .evaluate import scores

        key = {
            ("seasonal", "seasonal"): "seasonal",
            ("interannual", "interannual"): "interannual",
            ("seasonal", "interannual"): "seasonal_model_on_interannual",
            ("interannual", "seasonal"): "interannual_model_on_seasonal",
        }
        if not self._has("seasonal_model_on_interannual"):
            raise DataNotFoundError("the cross-scale experiment was not run (cross_scale: false)")
        blocks = []
        for label in self.labels:
            rows = []
            for trained in SCALES:
                cols = [
                    scores(self.predictions[(label, key[(trained, s)])], part=part) for s in SCALES
                ]
                rows.append(xr.concat(cols, dim=pd.Index(list(SCALES), name="scored_on")))
            blocks.append(xr.concat(rows, dim=pd.Index(list(SCALES), name="trained_on")))
        return xr.concat(blocks, dim=pd.Index(self.labels, name="model"))

    def taylor(self, label: str, kinds: Sequence[str] | None = None) -> xr.Dataset:
        """:func:`taylor_statistics` of one model label's prediction kinds (test part)."""
        kinds = list(kinds) if kinds is not None else [k for k in KINDS if self._has(k)]
        return taylor_statistics({k: self.predictions[(label, k)] for k in kinds})

    def group_of(self, site: str) -> str:
        """Model group of a site."""
        for group, sites in self.data.groups.items():
            if site in sites:
                return group
        raise DataNotFoundError(f"site {site!r} is in no group")

    def contributions(
        self,
        label: str,
        *,
        scales: Sequence[str] = ("end_to_end", *SCALES),
        max_windows: int = 200,
        background: int = 8,
        steps: int = 64,
        seed: int = 0,
    ) -> dict[str, xr.Dataset]:
        """SHAP values of one model type per scale, all groups (test windows).

        Returns
        -------
        dict
            ``{scale: shap_values dataset}``, windows of every group concatenated on
            ``sample`` (at most ``max_windows`` per group; ``attrs["n_above_tolerance"]``
            sums the groups' windows left above the additivity tolerance); see
            :func:`fluxgrid.explain.relative_contribution` for the driver shares.
        """
        from .explain import shap_values

        out: dict[str, xr.Dataset] = {}
        for scale in scales:
            parts = []
            for group, sites in self.data.groups.items():
                run = self.runs[(group, label, scale)]
                if scale == "end_to_end":
                    ds = self.data.cube.sel(site=sites)
                else:
                    ds = self.data.scale_cube(scale, "test").sel(site=sites)
                sv = shap_values(
                    run,
                    ds,
                    "test",
                    split=self.data.split.sel(site=sites),
                    max_windows=max_windows,
                    background=background,
                    steps=steps,
                    seed=seed,
                    groups={d: [d] for d in self.data.drivers}
                    | _other_inputs(run.features, self.data.drivers),
                )
                parts.append(sv.assign_coords(group=("sample", np.full(sv.sizes["sample"], group))))
            out[scale] = xr.concat(parts, dim="sample", data_vars="all", join="outer")
            out[scale].attrs["n_above_tolerance"] = sum(
                int(p.attrs.get("n_above_tolerance", 0)) for p in parts
            )
        return out

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write config, predictions, scores and the trained models into a folder (atomic).

        Layout::

            config.yaml                    the GuidedConfig
            groups.json                    sites per model group
            predictions/<model>_<kind>.nc  obs, pred, part on (site, time)
            scores.csv                     pooled test scores (model, kind)
            scores_igbp.csv                test scores per IGBP class
            cross_scale.csv                cross-scale test scores (if run)
            models/<group>/<model>_<scale>/  run directories (load with fluxgrid.load_run)
            decomposition.nc               SSA errors, windows and energy shares per site
            timings.json                   seconds per step

        :func:`load_guided` reads the folder back into a :class:`GuidedResult`.
        """
        from .config import dump_config
        from .evaluate import write_csv
        from .io.atomic import atomic_path, check_writable
        from .io.store import to_netcdf

        out = check_writable(path, overwrite)
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            dump_config(self.config, tmp / "config.yaml")
            (tmp / "groups.json").write_text(json.dumps(self.data.groups, indent=2))
            (tmp / "predictions").mkdir()
            for (label, kind), p in self.predictions.items():
                to_netcdf(p, tmp / "predictions" / f"{label}_{kind}.nc")
            write_csv(self.scores().to_dataframe(), tmp / "scores.csv")
            write_csv(
                self.scores(by="igbp").to_dataframe().dropna(how="all"), tmp / "scores_igbp.csv"
            )
            if self._has("seasonal_model_on_interannual"):
                write_csv(self.cross_scale().to_dataframe(), tmp / "cross_scale.csv")
            for (group, label, scale), run in self.runs.items():
                _save_run(
                    scale,
                    run,
                    self.histories[(group, label, scale)],
                    tmp / "models" / group / f"{label}_{scale}",
                )
            to_netcdf(_decomposition_report(self.data), tmp / "decomposition.nc")
            (tmp / "timings.json").write_text(json.dumps(self.seconds, indent=2))
        return out


def _other_inputs(features: Sequence[str], drivers: Sequence[str]) -> dict[str, list[str]]:
    from .explain import default_groups

    groups = default_groups(features, drivers)
    return {k: v for k, v in groups.items() if k not in drivers}


def _save_run(scale: str, run: TrainedRun, history: xr.Dataset, folder: Path) -> None:
    """A run directory that :func:`fluxgrid.load_run` reads (without predictions).

    ``inputs.json`` records the ``scale`` the model was trained on: the data it expects are
    that scale's SSA components (:meth:`ScaleData.scale_cube`), not the raw cube.
    """
    from .config import dump_config
    from .io.store import to_netcdf

    folder.mkdir(parents=True)
    dump_config(run.config, folder / "config.yaml")
    (folder / "inputs.json").write_text(json.dumps({**run.inputs, "scale": scale}, indent=2))
    run.scaler.to_json(folder / "scaler.json")
    to_netcdf(run.split(), folder / "split.nc")
    run.model.save(folder / ("model.pt" if run.model.kind == "torch" else "model.pkl"))
    to_netcdf(history, folder / "history.nc")


def _decomposition_report(data: ScaleData) -> xr.Dataset:
    out = xr.Dataset()
    for which, parts in (("whole", data.whole), ("train", data.train)):
        for name in [*data.drivers, data.target]:
            for stat in ("error", "window", "length", "left_out", "contribution"):
                key = f"{name}_{stat}"
                if key in parts:
                    out[f"{which}_{key}"] = parts[key]
        if data.decompose == "whole_record":
            break
    out.attrs = {"decompose": data.decompose}
    return out


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
    4. with ``cross_scale``, each scale's model also predicts the other scale's test days.

    Parameters
    ----------
    cfg
        :class:`~fluxgrid.guided_config.GuidedConfig` or the path of its YAML (a plain
        config or a ``scale_guided`` recipe file).
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
    from .train import TrainedRun, check_experiment, fit_model, prepare_from_cube

    if not isinstance(cfg, GuidedConfig):
        cfg = load_guided_config(cfg)
    if output is not None:
        from .io.atomic import check_writable

        check_writable(output, overwrite)
    for label in cfg.models:  # every model check before any data is read
        for window in (cfg.seasonal, cfg.interannual, cfg.end_to_end):
            check_experiment(_experiment(cfg, label, window, cfg.data.drivers))
    say = note or (lambda _msg: None)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    data = prepare_scales(cfg, cube=cube, progress=progress)
    seconds["prepare (load, QC, gap fill, split, SSA)"] = time.perf_counter() - t0
    say(
        f"{data.cube.sizes['site']} sites in {len(data.groups)} groups "
        f"({', '.join(f'{g}: {len(s)}' for g, s in data.groups.items())}); SSA done"
    )
    split = data.split
    scale_cubes = {
        (scale, which): data.scale_cube(scale, which)
        for scale in SCALES
        for which in ("train", "test")
    }
    windows = {
        "seasonal": cfg.seasonal,
        "interannual": cfg.interannual,
        "end_to_end": cfg.end_to_end,
    }
    runs: dict[tuple[str, str, str], Any] = {}
    histories: dict[tuple[str, str, str], xr.Dataset] = {}
    pieces: dict[tuple[str, str], list[xr.Dataset]] = {}
    for label in cfg.models:
        for group, sites in data.groups.items():
            t1 = time.perf_counter()
            sub_split = split.sel(site=sites)
            for scale in (*SCALES, "end_to_end"):
                exp = _experiment(cfg, label, windows[scale], data.drivers)
                train_ds = (
                    data.cube.sel(site=sites)
                    if scale == "end_to_end"
                    else scale_cubes[(scale, "train")].sel(site=sites)
                )
                prepared = prepare_from_cube(exp, train_ds, split=sub_split)
                model, history = fit_model(prepared, progress=False)
                run = TrainedRun.from_prepared(prepared, model)
                runs[(group, label, scale)] = run
                histories[(group, label, scale)] = history
                if scale == "end_to_end":
                    pieces.setdefault((label, "end_to_end_all"), []).append(
                        _predict(run, train_ds, sub_split, None)
                    )
                    continue
                test_ds = scale_cubes[(scale, "test")].sel(site=sites)
                pieces.setdefault((label, scale), []).append(
                    _predict(run, test_ds, sub_split, "test")
                )
                if cfg.cross_scale:
                    other = "interannual" if scale == "seasonal" else "seasonal"
                    other_ds = scale_cubes[(other, "test")].sel(site=sites)
                    pieces.setdefault((label, f"{scale}_model_on_{other}"), []).append(
                        _predict(run, other_ds, sub_split, "test")
                    )
            took = seconds[f"{label}: {group}"] = time.perf_counter() - t1
            say(f"{label}: group {group} ({len(sites)} sites) trained in {took:.0f} s")
    predictions: dict[tuple[str, str], xr.Dataset] = {}
    all_sites = data.cube["site"].values
    for key, parts in pieces.items():
        merged = xr.concat(
            parts, dim="site", join="outer", data_vars="all", coords="different", compat="equals"
        )
        predictions[key] = merged.reindex(site=all_sites)
    t2 = time.perf_counter()
    for label in cfg.models:
        e2e = predictions.pop((label, "end_to_end_all"))
        raw = e2e.copy()
        raw["obs"] = data.cube[data.target].astype(np.float32)
        predictions[(label, "undecomposed")] = raw
        comps = decompose_predictions(e2e["pred"], data, cfg)
        for scale in SCALES:
            p = xr.Dataset(
                {
                    "obs": data.truth(scale).astype(np.float32),
                    "pred": comps[data.target]
                    .sel(component=scale, drop=True)
                    .reset_coords(drop=True)
                    .transpose("site", "time")
                    .astype(np.float32),
                    "part": split["part"].reset_coords(drop=True),
                },
                coords={k: v for k, v in e2e.coords.items() if k not in ("site", "time")},
                attrs={"target": f"{scale} {data.target}"},
            )
            p["obs"].attrs = {
                "units": raw["obs"].attrs.get("units", ""),
                "long_name": f"observed {scale} {data.target}",
            }
            p["pred"].attrs = {
                "units": raw["obs"].attrs.get("units", ""),
                "long_name": f"{scale} component of end-to-end predictions",
            }
            predictions[(label, f"{scale}_end_to_end")] = p
    seconds["decompose end-to-end predictions"] = time.perf_counter() - t2
    result = GuidedResult(cfg, data, predictions, runs, histories, seconds)
    if output is not None:
        result.save(output, overwrite=overwrite)
        say(f"wrote {output}")
    return result


def load_guided_config(path: str | os.PathLike) -> GuidedConfig:
    """Read a :class:`GuidedConfig` YAML, or the ``config`` section of a recipe file."""
    import yaml

    from .config import load_config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    if isinstance(raw, dict) and "recipe" in raw:
        return load_config(path, GuidedConfig, section="config")
    return load_config(path, GuidedConfig)


def _split_key(stem: str, labels: Sequence[str]) -> tuple[str, str]:
    """``(label, kind)`` of a saved prediction file name ``<label>_<kind>``."""
    for label in sorted(labels, key=len, reverse=True):  # "lstm" must not shadow "lstm_big"
        kind = stem[len(label) + 1 :]
        if stem.startswith(f"{label}_") and kind in KINDS:
            return label, kind
    raise DataNotFoundError(
        f"predictions/{stem}.nc: expected <model>_<kind> with a model of the config "
        f"({', '.join(labels)}) and a kind of {', '.join(KINDS)}"
    )


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
    from .train import load_run

    root = Path(path)
    for name in ("config.yaml", "groups.json", "predictions", "models"):
        if not (root / name).exists():
            raise DataNotFoundError(
                f"{root} is not a guided result folder (no {name}); write one with "
                "run_guided(..., output=...)"
            )
    cfg = load_guided_config(root / "config.yaml")
    groups = json.loads((root / "groups.json").read_text())
    labels = list(cfg.models)
    predictions: dict[tuple[str, str], xr.Dataset] = {}
    for file in sorted((root / "predictions").glob("*.nc")):
        with xr.open_dataset(file) as f:
            predictions[_split_key(file.stem, labels)] = f.load()
    runs: dict[tuple[str, str, str], Any] = {}
    histories: dict[tuple[str, str, str], xr.Dataset] = {}
    for group in groups:
        for label in labels:
            for scale in (*SCALES, "end_to_end"):
                folder = root / "models" / group / f"{label}_{scale}"
                if not (folder / "inputs.json").is_file():
                    raise DataNotFoundError(f"{folder}: run directory missing from the result")
                runs[(group, label, scale)] = load_run(folder, device=device)
                with xr.open_dataset(folder / "history.nc") as f:
                    histories[(group, label, scale)] = f.load()
    data = prepare_scales(cfg, cube=cube, progress=progress)
    if data.groups != groups:
        raise DataNotFoundError(
            f"{root}: the data now give the groups {data.groups}, the saved result has "
            f"{groups}; the source changed since the run"
        )
    for (group, label, scale), run in runs.items():
        saved = run.split()["part"]
        now = data.split["part"].sel(site=saved["site"].values)
        if saved.shape != now.shape or not np.array_equal(saved.values, now.values):
            raise DataNotFoundError(
                f"{root}/models/{group}/{label}_{scale}: its split differs from the one the "
                "data give now; the source changed since the run"
            )
    seconds = {}
    if (root / "timings.json").is_file():
        seconds = json.loads((root / "timings.json").read_text())
    return GuidedResult(cfg, data, predictions, runs, histories, seconds)
