"""Daily GPP at forest towers: RNN vs GRU vs LSTM, full year, growing season, extremes.

The protocol of the GPP study, as plain functions a notebook (or ``recipes/gpp_rnn.yaml``)
calls one after the other:

1. :func:`load_gpp_data` -- forest sites (IGBP ENF, DBF, MF, EBF) from the cube's metadata;
   daily GPP_NT with days of QC fraction < 0.7 and negative GPP discarded; sites with < 60%
   valid days dropped (the site report says which and why); simulated clear-sky radiation
   (:mod:`fluxgrid.rs.radiation`) and optional remote-sensing predictors added; predictors
   linearly interpolated over gaps, the target never; a temporal split by whole years per
   site (:func:`first_years_split`: the first 60% of the years train, the rest test) with
   validation carved from the training years;
2. :func:`fit_gpp_models` -- each model type (``rnn``, ``gru``, ``lstm``) tuned with
   Hyperband (:func:`fluxgrid.train.search`; validation loss per epoch, the test part is
   never seen) on 90-day sequence-to-one windows, one site-agnostic model for all sites
   (``pooling: pooled``), per IGBP class or per site;
3. :func:`gpp_predictions` and :func:`gpp_scores` -- NRMSE (and the other
   :data:`fluxgrid.evaluate.METRICS`) per site and model on the whole test period, the
   growing season (:func:`fluxgrid.evaluate.growing_season`, both hemispheres) and the
   climate-induced extremes (:func:`extreme_days`: anomalies from the mean seasonal cycle
   below the 10% quantile of the negative tail for >= 5 days); :func:`score_summary` and
   :func:`compare_models` (paired Wilcoxon tests across sites);
4. :func:`gpp_importance` and :func:`importance_ranking` -- permutation importance per site
   and model (:func:`fluxgrid.explain.permutation_importance`, 10 repeats, NRMSE increase)
   and the median rank of each predictor per model.

:func:`run_gpp_study` does all of it and returns a :class:`GppStudyResult` that saves itself
(:meth:`GppStudyResult.save`). Figures: :func:`fluxgrid.plots.plot_score_boxes`,
:func:`fluxgrid.plots.plot_extreme_series`, :func:`fluxgrid.plots.plot_importance_ranking`.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GppStudyConfig, {
...     "data": {"source": "demo", "sites": ["DE-Hai", "DE-Tha"]},
...     "train": {"epochs": 1, "device": "cpu"}, "search": {"method": "none"}})
>>> result = run_gpp_study(cfg, output="runs/gpp_demo", overwrite=True)   # doctest: +SKIP
>>> result.summary().q50.sel(setting="full").to_series()                # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .errors import ConfigError, DataNotFoundError
from .gpp_study_config import GppStudyConfig

if TYPE_CHECKING:  # pragma: no cover
    from .experiment_config import ExperimentConfig
    from .train import TrainedRun
    from .windows import WindowIndex

__all__ = [
    "SETTINGS",
    "GppData",
    "GppFit",
    "GppStudyResult",
    "compare_models",
    "extreme_days",
    "first_years_split",
    "fit_gpp_models",
    "gpp_experiment",
    "gpp_importance",
    "gpp_predictions",
    "gpp_scores",
    "importance_ranking",
    "load_gpp_config",
    "load_gpp_data",
    "run_gpp_study",
    "score_summary",
]

#: scoring settings: the whole test period, its growing season, its extreme-event days
SETTINGS = ("full", "growing_season", "extremes")


# --------------------------------------------------------------------------- split
def first_years_split(
    ds: xr.Dataset, *, target: str = "gpp_nt", test_fraction: float = 0.4
) -> xr.Dataset:
    """Temporal split by whole years per site: the first years train, the last ones test.

    Each site's years with at least one valid target value are ordered; the first
    ``round(n * (1 - test_fraction))`` of them (at least one, and at least one left for
    testing when the site has two or more) are training years, the rest test years. A site
    with a single year is training only.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)``, targets already QC-masked.
    target
        Variable whose valid values define a site's years.
    test_fraction
        Share of each site's years tested (0.4: train on the first 60%).

    Returns
    -------
    xarray.Dataset
        ``part`` (site, time) int8 with the codes of :mod:`fluxgrid.prep.splits` (0 unused,
        1 train, 3 test): every day of a training year is train, of a test year test, of a
        year without valid target unused. ``attrs``: ``method="first_years"``, ``target``,
        ``test_fraction``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = first_years_split(load_demo_cube(), target="gpp_nt", test_fraction=0.4)
    >>> split.part.sel(site="DE-Hai").groupby("time.year").max().values.tolist()
    [1, 1, 1, 1, 3, 3]
    """
    from .prep.splits import TEST, TRAIN, UNUSED, _as_split

    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction={test_fraction}; expected a share between 0 and 1")
    if target not in ds:
        raise DataNotFoundError(f"target {target!r} is not in the cube; it has {list(ds)}")
    valid = np.asarray(ds[target].transpose("site", "time").notnull().values)
    years = pd.DatetimeIndex(ds["time"].values).year.to_numpy()
    uniq, year_pos = np.unique(years, return_inverse=True)
    # (site, year): any valid value, one reduction per calendar year (a few dozen at most)
    has_year = np.stack([valid[:, year_pos == k].any(axis=1) for k in range(uniq.size)], axis=1)
    n_years = has_year.sum(axis=1)
    n_train = np.floor(n_years * (1.0 - test_fraction) + 0.5).astype(int)
    n_train = np.where(n_years >= 2, np.clip(n_train, 1, n_years - 1), n_years)
    order = np.cumsum(has_year, axis=1)  # 1..n for the years a site has
    train_year = has_year & (order <= n_train[:, None])
    test_year = has_year & ~train_year
    part = np.where(test_year[:, year_pos], TEST, np.where(train_year[:, year_pos], TRAIN, UNUSED))
    return _as_split(ds, part, "first_years", target=target, test_fraction=test_fraction)


# --------------------------------------------------------------------------- data
@dataclasses.dataclass
class GppData:
    """The prepared data of the study (built by :func:`load_gpp_data`).

    Attributes
    ----------
    cube
        Daily site cube of the kept sites: QC-masked target, gap-filled predictors
        (``<var>_filled`` flags), ``sw_clearsky``; loaded.
    predictors
        Dynamic model inputs in order (drivers, ``sw_clearsky``, extra predictors).
    target
        Target variable.
    split
        ``part`` (site, time) with validation carved from the training years.
    site_report
        Per candidate site: ``igbp``, ``valid_fraction``, ``kept`` and ``reason`` (why a
        site was dropped: too few valid days, a predictor missing, no test year).
    qc_report
        :func:`fluxgrid.prep.qc.qc_mask` report (values removed per site and reason).
    gapfill_report
        :func:`fluxgrid.prep.gapfill.gapfill_report` of the predictors.
    groups
        Sites per model (``{"all": [...]}`` when pooled).
    day_of_year
        Day of year (sine, cosine) is an input.
    """

    cube: xr.Dataset
    predictors: list[str]
    target: str
    split: xr.Dataset
    site_report: xr.Dataset
    qc_report: xr.Dataset
    gapfill_report: xr.Dataset
    groups: dict[str, list[str]]
    day_of_year: bool = True

    @property
    def sites(self) -> list[str]:
        """Labels of the kept sites."""
        return self.cube["site"].values.astype(str).tolist()

    def split_summary(self) -> pd.DataFrame:
        """Valid target days and calendar years per site and part (train, val, test)."""
        from .prep.splits import split_summary

        s = split_summary(self.split, self.cube, target=self.target)
        frame = pd.DataFrame(index=pd.Index(s.site.values.astype(str), name="site"))
        for part in ("train", "val", "test"):
            frame[f"{part} days"] = s.n_values.sel(part=part).values
            frame[f"{part} years"] = s.years.sel(part=part).values
        if "igbp" in self.cube.coords:
            frame.insert(0, "igbp", self.cube["igbp"].values.astype(str))
        return frame


def _open_source(cfg: GppStudyConfig, cube: xr.Dataset | None) -> xr.Dataset:
    from .prep.select import open_selected

    d = cfg.data
    return open_selected(
        d.source,
        cube=cube,
        sites=d.sites,
        exclude_sites=d.exclude_sites,
        igbp=d.igbp,
        bbox=d.bbox,
    )


def _join_rs(ds: xr.Dataset, path: str, names: Sequence[str]) -> xr.Dataset:
    """Join the variables ``names`` of a remote-sensing site cube on (site, time)."""
    from .io.store import open_cube

    if not Path(path).exists():
        raise DataNotFoundError(f"predictors.rs_cube {path}: not found; give a site-cube store")
    rs = open_cube(path)
    present = [n for n in names if n in rs.data_vars]
    if not present:
        return ds
    rs = rs[present].reindex(site=ds["site"].values, time=ds["time"].values)
    out = ds.copy()
    for name in present:
        out[name] = rs[name].reset_coords(drop=True).astype(np.float32).load()
    return out


def load_gpp_data(
    cfg: GppStudyConfig,
    *,
    cube: xr.Dataset | None = None,
    progress: bool | None = None,
) -> GppData:
    """Select, QC, enrich, gap-fill and split the data of the study.

    Parameters
    ----------
    cfg
        The study configuration (``data``, ``predictors``, ``split``, ``pooling``).
    cube
        Site cube to use instead of ``cfg.data.source`` (selection, resampling and QC still
        apply).
    progress
        Progress bar while the cube is read and aggregated.

    Returns
    -------
    GppData

    Raises
    ------
    DataNotFoundError
        A driver, the target or an extra predictor is in neither the source nor
        ``rs_cube``; no site is left (the message summarises the site report).
    """
    from ._progress import progress_bar
    from .catalog import qc_name
    from .prep.gapfill import gapfill, gapfill_report
    from .prep.qc import qc_mask
    from .prep.splits import carve_validation, check_split

    d, p = cfg.data, cfg.predictors
    ds = _open_source(cfg, cube)
    qc_var = qc_name(d.target)
    extra_here = [n for n in p.extra if n in ds.data_vars]
    clearsky_here = ["sw_clearsky"] if p.clearsky and "sw_clearsky" in ds.data_vars else []
    needed = [*p.drivers, d.target, qc_var]
    missing = [v for v in needed if v not in ds.data_vars]
    if missing:
        raise DataNotFoundError(
            f"variables {missing} are not in {d.source}; it has {sorted(ds.data_vars)}"
        )
    ds = ds[[*needed, *extra_here, *clearsky_here]]
    if ds.attrs.get("resolution") in ("HH", "HR"):
        from .prep.resample import to_daily

        ds = to_daily(ds)
    elif ds.attrs.get("resolution") not in (None, "DD"):
        raise DataNotFoundError(
            f"{d.source} holds {ds.attrs.get('resolution')} data; the study needs daily or "
            "sub-daily data"
        )
    if d.period is not None:
        ds = ds.sel(time=slice(str(d.period[0]), str(d.period[1])))
        if ds.sizes["time"] == 0:
            raise DataNotFoundError(f"data.period {list(d.period)} selects no day")
    with progress_bar(progress, label="loading the site cube"):
        ds = ds.load()
    ds.attrs["resolution"] = "DD"
    if p.rs_cube is not None:
        wanted = [*p.extra, "sw_clearsky"] if p.clearsky else list(p.extra)
        ds = _join_rs(ds, p.rs_cube, [n for n in wanted if n not in ds])
    absent = [n for n in p.extra if n not in ds.data_vars]
    if absent:
        where = f"{d.source}" + (f" or {p.rs_cube}" if p.rs_cube else "")
        raise DataNotFoundError(
            f"extra predictors {absent} are in neither {where}; the Sentinel-1/-2 and MODIS "
            "inputs come from a remote-sensing cube (recipes/rs_cube.yaml): set "
            "predictors.rs_cube to it, or remove them from predictors.extra"
        )
    candidates = ds["site"].values.astype(str)
    period = slice(str(d.period[0]), str(d.period[1])) if d.period is not None else None
    masked, qc_report = qc_mask(
        ds,
        threshold=d.qc_threshold,
        targets=[d.target],
        drop_negative_gpp=d.drop_negative_gpp,
        min_valid_fraction=d.min_valid_fraction,
        period=period,
    )
    reasons = {
        str(s): f"valid {d.target} days {float(f):.2f} of the "
        f"{'period' if period is not None else 'record'} < {d.min_valid_fraction}"
        for s, f, dropped in zip(
            qc_report.site.values,
            qc_report.valid_fraction.sel(target=d.target).values,
            qc_report.dropped.values,
            strict=True,
        )
        if dropped
    }
    if masked.sizes["site"] > 0 and p.clearsky and "sw_clearsky" not in masked:
        from .rs.config import ClearSkyConfig
        from .rs.radiation import add_clearsky

        masked = add_clearsky(masked, config=ClearSkyConfig(model=p.clearsky_model))
        masked = masked.drop_vars("sw_in_pot", errors="ignore")
    predictors = cfg.predictor_names()
    fill = [n for n in predictors if n != "sw_clearsky"]
    if masked.sizes["site"] > 0 and fill:
        masked = gapfill(masked, fill, max_gap=p.max_gap, long_gaps="none")
        gaps = gapfill_report(masked).compute()
    else:
        gaps = xr.Dataset()
    # a predictor with no value at a site makes every window incomplete: drop and report
    if masked.sizes["site"] > 0:
        for name in predictors:
            empty = ~masked[name].notnull().any("time").values
            for s in masked["site"].values[empty].astype(str):
                reasons.setdefault(s, f"no {name} value")
    split = None
    keep = [s for s in masked["site"].values.astype(str) if s not in reasons]
    if keep:
        masked = masked.sel(site=keep)
        split = first_years_split(masked, target=d.target, test_fraction=cfg.split.test_fraction)
        no_test = ~(split["part"] == 3).any("time").values
        for s in masked["site"].values[no_test].astype(str):
            reasons[s] = f"a single year of valid {d.target}: nothing to test by years"
        keep = [s for s in keep if s not in reasons]
    if not keep:
        raise DataNotFoundError(
            f"no site is left of {len(candidates)} candidates: "
            + "; ".join(f"{s}: {r}" for s, r in reasons.items())
        )
    masked = masked.sel(site=keep)
    assert split is not None
    split = carve_validation(
        split.sel(site=keep),
        masked,
        method=cfg.split.validation,
        fraction=cfg.split.val_fraction,
        seed=cfg.split.seed,
        target=d.target,
    )
    check_split(split, masked, target=d.target)
    vf = qc_report.valid_fraction.sel(target=d.target)
    site_report = xr.Dataset(
        {
            "valid_fraction": ("site", vf.sel(site=candidates).values.astype(np.float64)),
            "kept": ("site", np.isin(candidates, keep)),
            "reason": ("site", np.array([reasons.get(s, "") for s in candidates], dtype=object)),
        },
        coords={"site": candidates},
        attrs={
            "qc_threshold": d.qc_threshold,
            "min_valid_fraction": d.min_valid_fraction,
            "drop_negative_gpp": int(d.drop_negative_gpp),
        },
    )
    if "igbp" in ds.coords:
        site_report = site_report.assign_coords(
            igbp=("site", ds["igbp"].sel(site=candidates).values.astype(str))
        )
    site_report["valid_fraction"].attrs = {
        "long_name": f"share of days with a valid {d.target} after QC",
        "units": "1",
    }
    groups = _groups(masked, cfg.pooling)
    return GppData(
        cube=masked,
        predictors=predictors,
        target=d.target,
        split=split,
        site_report=site_report,
        qc_report=qc_report,
        gapfill_report=gaps.sel(site=keep) if "site" in gaps.dims else gaps,
        groups=groups,
        day_of_year=p.day_of_year,
    )


def _groups(ds: xr.Dataset, pooling: str) -> dict[str, list[str]]:
    sites = ds["site"].values.astype(str).tolist()
    if pooling == "per_site":
        return {s: [s] for s in sites}
    from .guided import igbp_groups

    return igbp_groups(ds, mode="igbp" if pooling == "igbp" else "pooled")


# --------------------------------------------------------------------------- models
def gpp_experiment(cfg: GppStudyConfig, label: str, predictors: Sequence[str]) -> ExperimentConfig:
    """The :class:`~fluxgrid.experiment_config.ExperimentConfig` of one model of the study.

    The split is given as data (:func:`first_years_split`, saved as ``split.nc`` with every
    run), so the experiment's ``split`` section only records the validation carving.
    """
    from .config import from_dict, to_dict
    from .experiment_config import ExperimentConfig

    spec = cfg.models[label]
    return from_dict(
        ExperimentConfig,
        {
            "data": {
                "source": cfg.data.source,
                "drivers": list(predictors),
                "target": cfg.data.target,
                "qc_threshold": None,
            },
            "split": {
                "method": "temporal",
                "test_fraction": cfg.split.test_fraction,
                "validation": cfg.split.validation,
                "val_fraction": cfg.split.val_fraction,
                "seed": 0,
            },
            "windows": {
                "lookback": cfg.lookback,
                "static": ["doy"] if cfg.predictors.day_of_year else [],
            },
            "model": {"name": cfg.model_name(label), "params": dict(spec.params)},
            "train": {**to_dict(cfg.train), **spec.train},
            "search": to_dict(cfg.search),
            "description": (
                f"GPP study: {label}; split by years per site (first "
                f"{1 - cfg.split.test_fraction:.0%} train, see split.nc)"
            ),
        },
    )


@dataclasses.dataclass
class GppFit:
    """One fitted model of the study (a model type on one group of sites).

    Attributes
    ----------
    run
        The trained model with its scaler and input recipe (predicts on site cubes).
    history
        Per-epoch losses of the chosen model (``best_epoch`` in its attributes).
    search
        One row per Hyperband trial (``None`` without a search).
    sites
        Sites the model was trained on.
    windows
        Window counts per part (``train``, ``val``, ``test``).
    seconds
        Wall time of the search / training.
    """

    run: TrainedRun
    history: xr.Dataset
    search: xr.Dataset | None
    sites: list[str]
    windows: dict[str, int]
    seconds: float

    def params(self) -> dict[str, Any]:
        """The chosen model parameters and learning rate."""
        return {**self.run.config.model.params, "lr": self.run.config.train.lr}


def fit_gpp_models(
    data: GppData,
    cfg: GppStudyConfig,
    *,
    note: Callable[[str], None] | None = None,
) -> dict[tuple[str, str], GppFit]:
    """Tune (Hyperband) or train every model type on every group of sites.

    Parameters
    ----------
    data
        From :func:`load_gpp_data`.
    cfg
        The study configuration (``models``, ``train``, ``search``, ``lookback``).
    note
        Called with one line per fitted model.

    Returns
    -------
    dict
        ``{(model label, group): GppFit}``.
    """
    from .train import (
        TrainedRun,
        _apply_params,
        check_experiment,
        fit_model,
        prepare_from_cube,
        search,
    )

    say = note or (lambda _msg: None)
    fits: dict[tuple[str, str], GppFit] = {}
    for label in cfg.models:
        check_experiment(gpp_experiment(cfg, label, data.predictors))
    for label in cfg.models:
        exp = gpp_experiment(cfg, label, data.predictors)
        for group, sites in data.groups.items():
            start = time.perf_counter()
            sub = data.cube.sel(site=sites)
            prepared = prepare_from_cube(exp, sub, split=data.split.sel(site=sites))
            table = None
            if exp.search.method != "none":
                table, best, model, history = search(prepared, progress=False)
                prepared.config = _apply_params(exp, best)
            else:
                model, history = fit_model(prepared, progress=False)
            run = TrainedRun.from_prepared(prepared, model)
            counts = {p: len(prepared.part(p)) for p in ("train", "val", "test")}
            fit = GppFit(run, history, table, list(sites), counts, time.perf_counter() - start)
            fits[(label, group)] = fit
            trials = "" if table is None else f", {table.sizes['trial']} trials"
            say(
                f"{label} [{group}: {len(sites)} sites, {counts['train']} training windows"
                f"{trials}]: {fit.params()} in {fit.seconds:.0f} s"
            )
    return fits


def gpp_predictions(data: GppData, fits: Mapping[tuple[str, str], GppFit]) -> dict[str, xr.Dataset]:
    """Predictions of every model on every complete input window of its sites.

    Returns
    -------
    dict
        ``{model label: Dataset}`` with ``obs``, ``pred``, ``part`` on the cube's
        ``(site, time)`` (NaN where no window ends), gC m-2 d-1.
    """
    pieces: dict[str, list[xr.Dataset]] = {}
    for (label, _group), fit in fits.items():
        sub = data.cube.sel(site=fit.sites)
        pieces.setdefault(label, []).append(
            fit.run.predict(sub, split=data.split.sel(site=fit.sites))
        )
    out = {}
    for label, parts in pieces.items():
        merged = parts[0] if len(parts) == 1 else xr.concat(parts, dim="site", join="outer")
        merged = merged.reindex(site=data.cube["site"].values)
        merged.attrs.update(model=label)
        out[label] = merged
    return out


# --------------------------------------------------------------------------- scores
def extreme_days(data: GppData | xr.DataArray, cfg: GppStudyConfig | None = None) -> xr.DataArray:
    """Climate-induced extreme days of the observed target (whole record of each site).

    A day is extreme when its anomaly from the site's mean seasonal cycle of observed GPP
    is below the ``extremes.quantile`` (0.1) of the negative anomalies for at least
    ``extremes.min_duration`` (5) consecutive days (:func:`fluxgrid.evaluate.climate_extremes`).
    The seasonal cycle and the threshold use every valid day of the record (the
    observations only define which days are scored; no model sees them).

    Returns
    -------
    xarray.DataArray
        Boolean ``(site, time)``.
    """
    from .evaluate import climate_extremes

    e = (cfg or GppStudyConfig()).extremes
    obs = data.cube[data.target] if isinstance(data, GppData) else data
    return climate_extremes(
        obs,
        quantile=e.quantile,
        min_duration=e.min_duration,
        tail=e.tail,
        smooth_days=e.smooth_days,
    )


def gpp_scores(
    predictions: Mapping[str, xr.Dataset],
    extremes: xr.DataArray,
    *,
    part: str = "test",
    min_extreme_days: int = 10,
) -> xr.Dataset:
    """Metrics per model, setting and site: whole test period, growing season, extremes.

    Parameters
    ----------
    predictions
        ``{model: Dataset}`` from :func:`gpp_predictions` (``obs``, ``pred``, ``part`` and a
        ``latitude`` coordinate on ``(site, time)``).
    extremes
        Boolean ``(site, time)`` mask (:func:`extreme_days`).
    part
        Split part scored.
    min_extreme_days
        Sites with fewer scored extreme days get NaN metrics in the ``extremes`` setting
        (``n`` is kept).

    Returns
    -------
    xarray.Dataset
        :data:`fluxgrid.evaluate.METRICS` with dims ``(model, setting, site)``; ``setting``
        is ``full``, ``growing_season`` (May-Sep north, Nov-Mar south) and ``extremes``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> from fluxgrid.prep.splits import random_year_split
    >>> cube = load_demo_cube()
    >>> p = xr.Dataset({"obs": cube.gpp_nt, "pred": cube.gpp_dt,
    ...                 "part": random_year_split(cube, target="gpp_nt").part})
    >>> s = gpp_scores({"dt": p}, extreme_days(cube.gpp_nt))
    >>> s.nrmse.dims
    ('model', 'setting', 'site')
    """
    from .evaluate import METRICS, growing_season, scores

    if not predictions:
        raise DataNotFoundError("no predictions to score")
    tables = []
    for pred in predictions.values():
        ext = extremes.reindex(site=pred["site"], time=pred["time"], fill_value=False).astype(bool)
        masks = {"full": None, "growing_season": growing_season(pred), "extremes": ext}
        per = [scores(pred, by="site", part=part, subset=m) for m in masks.values()]
        tables.append(xr.concat(per, dim=pd.Index(list(masks), name="setting")))
    out = xr.concat(tables, dim=pd.Index(list(predictions), name="model"))
    few = (out["n"] < min_extreme_days) & (out["setting"] == "extremes")
    for key in METRICS:
        if key != "n":
            out[key] = out[key].where(~few)
    out.attrs = {
        "part": part,
        "settings": "full: every scored day; growing_season: May-Sep north, Nov-Mar south; "
        "extremes: climate-induced extreme days",
        "min_extreme_days": min_extreme_days,
        **{f"extremes_{k}": v for k, v in extremes.attrs.items() if k != "long_name"},
    }
    return out.transpose("model", "setting", "site")


def score_summary(scores: xr.Dataset, metric: str = "nrmse") -> xr.Dataset:
    """Distribution of a metric across sites per model and setting (the box plot's numbers).

    Returns
    -------
    xarray.Dataset
        ``q50`` (the median), ``q25``, ``q75``, ``q05``, ``q95``, ``mean`` and ``n_sites``
        (sites with a score) on ``(model, setting)``.
    """
    da = scores[metric]
    with warnings.catch_warnings():  # a setting no site has a score in gives NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q = da.quantile([0.05, 0.25, 0.5, 0.75, 0.95], dim="site", skipna=True)
        mean = da.mean("site")
    out = xr.Dataset(
        {
            "q50": q.sel(quantile=0.5, drop=True),
            "q25": q.sel(quantile=0.25, drop=True),
            "q75": q.sel(quantile=0.75, drop=True),
            "q05": q.sel(quantile=0.05, drop=True),
            "q95": q.sel(quantile=0.95, drop=True),
            "mean": mean,
            "n_sites": da.notnull().sum("site"),
        },
        attrs={"metric": metric},
    )
    out["q50"].attrs = {"long_name": f"median {metric} across sites"}
    return out


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN kept)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok])]
    m = order.size
    adjusted = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adjusted, 1.0)
    return out


def compare_models(scores: xr.Dataset, metric: str = "nrmse") -> xr.Dataset:
    """Paired Wilcoxon signed-rank tests of every model pair across sites, per setting.

    For each setting and pair ``(a, b)`` the sites scored by both are paired and
    :func:`scipy.stats.wilcoxon` (two-sided) tests whether the per-site differences
    ``metric[a] - metric[b]`` are centred on zero. The p-values are also Holm-adjusted over
    the pairs of a setting.

    Returns
    -------
    xarray.Dataset
        Dims ``(setting, pair)`` (``pair`` like ``"gru-lstm"``, coords ``model_a``,
        ``model_b``): ``statistic``, ``p_value``, ``p_holm``, ``n_sites``,
        ``median_difference`` (a - b), ``a_better`` (sites where a has the lower error).

    Examples
    --------
    >>> s = xr.Dataset({"nrmse": (("model", "setting", "site"),
    ...     [[[0.10, 0.12, 0.11, 0.09, 0.13, 0.10]], [[0.12, 0.15, 0.13, 0.12, 0.16, 0.12]]])},
    ...     coords={"model": ["gru", "rnn"], "setting": ["full"], "site": list("abcdef")})
    >>> t = compare_models(s).sel(setting="full", pair="gru-rnn")
    >>> round(float(t.p_value), 4), int(t.a_better), int(t.n_sites)
    (0.0312, 6, 6)
    """
    from scipy.stats import wilcoxon

    models = [str(m) for m in scores["model"].values]
    settings = [str(s) for s in scores["setting"].values]
    pairs = list(itertools.combinations(models, 2))
    shape = (len(settings), len(pairs))
    stat = np.full(shape, np.nan)
    pval = np.full(shape, np.nan)
    n = np.zeros(shape, dtype=np.int64)
    med = np.full(shape, np.nan)
    better = np.zeros(shape, dtype=np.int64)
    for i, setting in enumerate(settings):
        for j, (a, b) in enumerate(pairs):
            x = scores[metric].sel(model=a, setting=setting).values.astype(np.float64)
            y = scores[metric].sel(model=b, setting=setting).values.astype(np.float64)
            ok = np.isfinite(x) & np.isfinite(y)
            n[i, j] = int(ok.sum())
            if n[i, j] == 0:
                continue
            diff = x[ok] - y[ok]
            med[i, j] = float(np.median(diff))
            better[i, j] = int((diff < 0).sum())
            if np.any(diff != 0):
                res = wilcoxon(x[ok], y[ok])
                stat[i, j], pval[i, j] = float(res.statistic), float(res.pvalue)
    holm = np.stack([_holm(row) for row in pval]) if pairs else pval
    labels = [f"{a}-{b}" for a, b in pairs]
    coords = {
        "setting": settings,
        "pair": labels,
        "model_a": ("pair", [a for a, _ in pairs]),
        "model_b": ("pair", [b for _, b in pairs]),
    }
    dims = ("setting", "pair")
    return xr.Dataset(
        {
            "statistic": (dims, stat, {"long_name": "Wilcoxon signed-rank statistic"}),
            "p_value": (dims, pval, {"long_name": "two-sided p-value", "units": "1"}),
            "p_holm": (dims, holm, {"long_name": "Holm-adjusted p-value (pairs)", "units": "1"}),
            "n_sites": (dims, n, {"long_name": "sites scored by both models"}),
            "median_difference": (
                dims,
                med,
                {"long_name": f"median of {metric}(a) - {metric}(b) across sites"},
            ),
            "a_better": (dims, better, {"long_name": f"sites where a has the lower {metric}"}),
        },
        coords=coords,
        attrs={"metric": metric, "test": "scipy.stats.wilcoxon, paired by site, two-sided"},
    )


# --------------------------------------------------------------------------- importance
def _per_site_sample(index: WindowIndex, n_max: int | None, seed: int) -> WindowIndex:
    """At most ``n_max`` randomly drawn windows per site (seeded; order by site, time)."""
    if n_max is None or len(index) == 0:
        return index
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(index)), index.site_idx))
    sites = index.site_idx[order]
    first = np.searchsorted(sites, sites, side="left")
    keep = order[(np.arange(len(order)) - first) < n_max]
    return index.take(np.sort(keep))


def gpp_importance(
    data: GppData,
    fits: Mapping[tuple[str, str], GppFit],
    cfg: GppStudyConfig,
) -> xr.Dataset:
    """Permutation importance per site and model (NRMSE increase, 10 repeats by default).

    Each predictor's input sequences are shuffled between windows of a site
    (:func:`fluxgrid.explain.permutation_importance`); day of year (sine and cosine) is
    shuffled as one input ``doy``.

    Returns
    -------
    xarray.Dataset
        ``importance``, ``importance_std``, ``baseline`` (model, driver, site) and
        ``n_windows`` (model, site); attributes as the explain function's.
    """
    from .explain import default_groups, permutation_importance

    imp_cfg = cfg.importance
    by_model: dict[str, list[xr.Dataset]] = {}
    for (label, _group), fit in fits.items():
        run = fit.run
        sub = data.cube.sel(site=fit.sites)
        split = data.split.sel(site=fit.sites)
        index = run.windows(sub, split=split, require_target=True).select(imp_cfg.part)
        index = _per_site_sample(index, imp_cfg.max_windows_per_site, imp_cfg.seed)
        groups = default_groups(run.features, run.inputs["drivers"])
        imp = permutation_importance(
            run,
            sub,
            index,
            drivers=groups,
            metric=imp_cfg.metric,
            n_repeats=imp_cfg.n_repeats,
            seed=imp_cfg.seed,
            within=imp_cfg.within,
        )
        keep = ["importance", "importance_std", "baseline", "n_windows"]
        by_model.setdefault(label, []).append(imp[keep])
    merged = []
    for _label, parts in by_model.items():
        one = parts[0] if len(parts) == 1 else xr.concat(parts, dim="site")
        attrs = dict(parts[0].attrs)
        attrs.pop("model", None)
        merged.append(one.assign_attrs(attrs))
    out = xr.concat(merged, dim=pd.Index(list(by_model), name="model"), join="outer")
    out.attrs["max_windows_per_site"] = (
        "all" if imp_cfg.max_windows_per_site is None else imp_cfg.max_windows_per_site
    )
    return out


def importance_ranking(importance: xr.Dataset) -> xr.Dataset:
    """Rank predictors by permutation importance per site; summarise ranks across sites.

    Parameters
    ----------
    importance
        ``importance`` on ``(driver, site)`` or ``(model, driver, site)``
        (:func:`gpp_importance` or :func:`fluxgrid.explain.permutation_importance`).

    Returns
    -------
    xarray.Dataset
        ``rank`` (..., driver, site): 1 = largest loss of skill at that site (ties share
        the mean rank; sites without a score NaN); ``median_rank``, ``rank_q25``,
        ``rank_q75``, ``share_first`` (share of sites where the driver ranks first) and
        ``median_importance`` on (..., driver); ``order`` (..., position): drivers sorted by
        median rank.

    Examples
    --------
    >>> imp = xr.Dataset({"importance": (("driver", "site"), [[0.3, 0.1], [0.2, 0.4], [0.0, 0.0]])},
    ...                  coords={"driver": ["sw_in", "ta", "vpd"], "site": ["a", "b"]})
    >>> r = importance_ranking(imp)
    >>> r["rank"].sel(site="a").values.tolist(), r.median_rank.values.tolist()
    ([1.0, 2.0, 3.0], [1.5, 1.5, 3.0])
    """
    from scipy.stats import rankdata

    da = importance["importance"]
    da = da.transpose(..., "driver", "site")
    values = da.values.astype(np.float64)
    ranks = rankdata(-np.nan_to_num(values, nan=-np.inf), axis=values.ndim - 2, method="average")
    ranks = np.where(np.isnan(values), np.nan, ranks)
    rank = da.copy(data=ranks)
    rank.attrs = {"long_name": "importance rank at the site (1 = most important)", "units": "1"}
    with warnings.catch_warnings():  # drivers unscored everywhere give NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        q = rank.quantile([0.25, 0.5, 0.75], dim="site", skipna=True)
    median = q.sel(quantile=0.5, drop=True)
    scored = rank.notnull().sum("site")
    out = xr.Dataset(
        {
            "rank": rank,
            "median_rank": median.assign_attrs(long_name="median rank across sites"),
            "rank_q25": q.sel(quantile=0.25, drop=True),
            "rank_q75": q.sel(quantile=0.75, drop=True),
            "share_first": ((rank == 1).sum("site") / scored.where(scored > 0)).assign_attrs(
                long_name="share of sites where the driver ranks first", units="1"
            ),
            "median_importance": da.median("site").assign_attrs(da.attrs),
        },
        attrs={"metric": importance.attrs.get("metric", "")},
    )
    drivers = da["driver"].values
    lead = [d for d in median.dims if d != "driver"]
    order_idx = np.argsort(median.transpose(*lead, "driver").values, axis=-1, kind="stable")
    out["order"] = (
        (*lead, "position"),
        drivers[order_idx].astype(str),
        {"long_name": "drivers sorted by median rank"},
    )
    return out


# --------------------------------------------------------------------------- result
@dataclasses.dataclass
class GppStudyResult:
    """Everything :func:`run_gpp_study` produced.

    Attributes
    ----------
    config
        The study configuration.
    data
        Prepared data, split and site report.
    fits
        ``{(model, group): GppFit}``.
    predictions
        ``{model: Dataset}`` (``obs``, ``pred``, ``part`` on (site, time)).
    extremes
        Extreme-event days (site, time).
    scores
        Metrics (model, setting, site).
    importance
        Permutation importance (model, driver, site) or ``None``.
    seconds
        Wall time per step.
    """

    config: GppStudyConfig
    data: GppData
    fits: dict[tuple[str, str], GppFit]
    predictions: dict[str, xr.Dataset]
    extremes: xr.DataArray
    scores: xr.Dataset
    importance: xr.Dataset | None
    seconds: dict[str, float]

    def summary(self, metric: str = "nrmse") -> xr.Dataset:
        """:func:`score_summary` of the scores."""
        return score_summary(self.scores, metric)

    def significance(self, metric: str = "nrmse") -> xr.Dataset:
        """:func:`compare_models` on the scores."""
        return compare_models(self.scores, metric)

    def ranking(self) -> xr.Dataset:
        """:func:`importance_ranking` of the importance (raises without one)."""
        if self.importance is None:
            raise DataNotFoundError("no permutation importance: set importance.enabled: true")
        return importance_ranking(self.importance)

    def search_table(self) -> pd.DataFrame:
        """Chosen parameters, trials and validation loss per model and group."""
        rows = []
        for (label, group), fit in self.fits.items():
            row: dict[str, Any] = {"model": label, "group": group, **fit.params()}
            if fit.search is not None:
                state = fit.search["state"].values.astype(str)
                row.update(
                    trials=int(state.size),
                    pruned=int((state == "PRUNED").sum()),
                    best_val_loss=float(np.nanmin(fit.search["value"].values)),
                )
            row.update(
                best_epoch=int(fit.history.attrs.get("best_epoch", 0)),
                seconds=round(fit.seconds, 1),
                **{f"{p} windows": n for p, n in fit.windows.items()},
            )
            rows.append(row)
        return pd.DataFrame(rows).set_index(["model", "group"])

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the result into a folder, atomically.

        Layout::

            config.yaml             the GppStudyConfig
            site_report.csv         candidate sites: valid fraction, kept, reason
            qc_report.nc            values removed per site and reason
            gapfill_report.nc       predictor days by origin (observed, interpolated, ...)
            split.nc, split.csv     part (site, time); days and years per site and part
            extremes.nc             extreme-event days (site, time)
            predictions/<model>.nc  obs, pred, part on (site, time)
            scores.nc, scores.csv   metrics (model, setting, site)
            summary.csv             NRMSE median, quartiles, 5-95% per model and setting
            significance.csv        paired Wilcoxon tests per setting and model pair
            importance.nc           permutation importance (model, driver, site)
            ranking.csv             median importance rank per model and driver
            search.csv              chosen parameters, trials per model and group
            cube.zarr               the prepared site cube the models saw (QC'd target,
                                    gap-filled predictors, sw_clearsky, flags)
            models/<model>/<group>/ run directories (fluxgrid.load_run), search.csv;
                                    their inputs.json points to cube.zarr
            timings.json            seconds per step
        """
        from .config import dump_config
        from .evaluate import write_csv
        from .io.atomic import atomic_path, check_writable
        from .io.store import to_netcdf, write_cube

        out = check_writable(path, overwrite)
        with atomic_path(out) as tmp:
            tmp.mkdir(parents=True)
            dump_config(self.config, tmp / "config.yaml")
            write_csv(self.data.site_report.to_dataframe(), tmp / "site_report.csv")
            to_netcdf(self.data.qc_report, tmp / "qc_report.nc")
            if self.data.gapfill_report.data_vars:
                to_netcdf(self.data.gapfill_report, tmp / "gapfill_report.nc")
            to_netcdf(self.data.split, tmp / "split.nc")
            write_csv(self.data.split_summary(), tmp / "split.csv")
            to_netcdf(self.extremes.to_dataset(name="extreme"), tmp / "extremes.nc")
            (tmp / "predictions").mkdir()
            for label, p in self.predictions.items():
                to_netcdf(p, tmp / "predictions" / f"{label}.nc")
            to_netcdf(self.scores, tmp / "scores.nc")
            write_csv(self.scores.to_dataframe(), tmp / "scores.csv")
            write_csv(self.summary().to_dataframe(), tmp / "summary.csv")
            write_csv(self.significance().to_dataframe(), tmp / "significance.csv")
            if self.importance is not None:
                to_netcdf(self.importance, tmp / "importance.nc")
                rank = self.ranking()
                write_csv(
                    rank[["median_rank", "rank_q25", "rank_q75", "share_first"]].to_dataframe(),
                    tmp / "ranking.csv",
                )
            write_csv(self.search_table(), tmp / "search.csv")
            write_cube(self.data.cube, tmp / "cube.zarr")
            for (label, group), fit in self.fits.items():
                _save_run(fit, tmp / "models" / label / group, tmp / "cube.zarr")
            (tmp / "timings.json").write_text(json.dumps(self.seconds, indent=2))
        return out


def _save_run(fit: GppFit, folder: Path, cube: Path) -> None:
    """A run directory that :func:`fluxgrid.load_run` reads (plus the search trials).

    ``inputs.json`` points (``"cube"``, relative) to the study's prepared cube ``cube``:
    the run's inputs (gap-filled predictors, computed clear-sky radiation) are not in its
    ``data.source``, and :meth:`fluxgrid.train.TrainedRun.load_cube` reads them from there.
    """
    from .config import dump_config
    from .evaluate import write_csv
    from .io.store import to_netcdf

    run = fit.run
    folder.mkdir(parents=True)
    dump_config(run.config, folder / "config.yaml")
    inputs = {**run.inputs, "cube": os.path.relpath(cube, folder)}
    (folder / "inputs.json").write_text(json.dumps(inputs, indent=2))
    run.scaler.to_json(folder / "scaler.json")
    to_netcdf(run.split(), folder / "split.nc")
    run.model.save(folder / ("model.pt" if run.model.kind == "torch" else "model.pkl"))
    to_netcdf(fit.history, folder / "history.nc")
    if fit.search is not None:
        write_csv(fit.search.to_dataframe(), folder / "search.csv")


def run_gpp_study(
    cfg: GppStudyConfig | str | os.PathLike,
    *,
    cube: xr.Dataset | None = None,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool | None = None,
    note: Callable[[str], None] | None = None,
) -> GppStudyResult:
    """Run the whole study: data, Hyperband-tuned models, predictions, scores, importance.

    Parameters
    ----------
    cfg
        :class:`~fluxgrid.gpp_study_config.GppStudyConfig` or the path of its YAML (plain or
        a ``gpp_rnn`` recipe file).
    cube
        Site cube to use instead of ``cfg.data.source``.
    output
        Save the result there (:meth:`GppStudyResult.save`); ``None``: keep it in memory.
    overwrite
        Replace an existing output folder.
    progress
        Progress bar while reading the source.
    note
        Called with a line per step (e.g. a recipe's ``ctx.note``).

    Returns
    -------
    GppStudyResult
    """
    from .train import check_experiment

    if not isinstance(cfg, GppStudyConfig):
        cfg = load_gpp_config(cfg)
    if output is not None:
        from .io.atomic import check_writable

        check_writable(output, overwrite)
    for label in cfg.models:  # model and search-space checks before any data is read
        check_experiment(gpp_experiment(cfg, label, cfg.predictor_names()))
    say = note or (lambda _msg: None)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    data = load_gpp_data(cfg, cube=cube, progress=progress)
    seconds["data (read, QC, clear-sky, gap fill, split)"] = time.perf_counter() - t
    dropped = data.site_report.site.values[~data.site_report.kept.values].astype(str)
    say(
        f"{len(data.sites)} sites kept, {dropped.size} dropped"
        + (f" ({', '.join(dropped)})" if dropped.size else "")
        + f"; predictors {', '.join(data.predictors)}"
        + (" + day of year" if data.day_of_year else "")
    )
    t = time.perf_counter()
    fits = fit_gpp_models(data, cfg, note=say)
    seconds["models (search and training)"] = time.perf_counter() - t
    t = time.perf_counter()
    predictions = gpp_predictions(data, fits)
    extremes = extreme_days(data, cfg)
    table = gpp_scores(predictions, extremes, min_extreme_days=cfg.extremes.min_days)
    seconds["predictions and scores"] = time.perf_counter() - t
    importance = None
    if cfg.importance.enabled:
        t = time.perf_counter()
        importance = gpp_importance(data, fits, cfg)
        seconds["permutation importance"] = time.perf_counter() - t
        say(f"permutation importance done in {seconds['permutation importance']:.0f} s")
    result = GppStudyResult(cfg, data, fits, predictions, extremes, table, importance, seconds)
    if output is not None:
        result.save(output, overwrite=overwrite)
        say(f"wrote {output}")
    return result


def load_gpp_config(path: str | os.PathLike) -> GppStudyConfig:
    """Read a :class:`GppStudyConfig` YAML, or the ``config`` section of a recipe file."""
    import yaml

    from .config import load_config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    raw = yaml.safe_load(path.read_text()) or {}
    if isinstance(raw, dict) and "recipe" in raw:
        return load_config(path, GppStudyConfig, section="config")
    return load_config(path, GppStudyConfig)
