"""Daily GPP at forest towers: RNN vs GRU vs LSTM, full year, growing season, extremes.

The protocol of the GPP study, as plain functions a notebook (or ``recipes/gpp_rnn.yaml``)
calls one after the other:

1. :func:`~fluxgrid.studies.gpp.data.load_gpp_data` -- forest sites (IGBP ENF, DBF, MF, EBF)
   from the cube's metadata; daily GPP_NT with days of QC fraction < 0.7 and negative GPP
   discarded; sites with < 60% valid days dropped (the site report says which and why);
   simulated clear-sky radiation (:mod:`fluxgrid.rs.radiation`) and optional remote-sensing
   predictors added; predictors linearly interpolated over gaps, the target never; a
   temporal split by whole years per site (:func:`~fluxgrid.studies.gpp.data.first_years_split`:
   the first 60% of the years train, the rest test) with validation carved from the
   training years;
2. :func:`~fluxgrid.studies.gpp.fitting.fit_gpp_models` -- each model type (``rnn``, ``gru``,
   ``lstm``) tuned with Hyperband (:func:`fluxgrid.training.search`; validation loss per
   epoch, the test part is never seen) on 90-day sequence-to-one windows, one site-agnostic
   model for all sites (``pooling: pooled``), per IGBP class or per site;
3. :func:`~fluxgrid.studies.gpp.fitting.gpp_predictions` and
   :func:`~fluxgrid.studies.gpp.scores.gpp_scores` -- NRMSE (and the other
   :data:`fluxgrid.evaluate.METRICS`) per site and model on the whole test period, the
   growing season (:func:`fluxgrid.evaluate.growing_season`, both hemispheres) and the
   climate-induced extremes (:func:`~fluxgrid.studies.gpp.scores.extreme_days`: anomalies
   from the mean seasonal cycle below the 10% quantile of the negative tail for >= 5 days);
   :func:`~fluxgrid.studies.gpp.scores.score_summary` and
   :func:`~fluxgrid.studies.gpp.scores.compare_models` (paired Wilcoxon tests across sites);
4. :func:`~fluxgrid.studies.gpp.importance.gpp_importance` and
   :func:`~fluxgrid.studies.gpp.importance.importance_ranking` -- permutation importance per
   site and model (:func:`fluxgrid.explain.permutation_importance`, 10 repeats, NRMSE
   increase) and the median rank of each predictor per model.

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
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...config.serialise import dump_config
from ...errors import DataNotFoundError
from ...evaluate import write_csv
from ...io.atomic import atomic_path, check_writable
from ...io.store import to_netcdf, write_cube
from ...training.ensemble import member_dir
from ..common import finish_study, load_study_config, save_study_run, start_study
from .config import GppStudyConfig
from .data import GppData, load_gpp_data
from .fitting import GppFit, check_models, fit_gpp_models, gpp_predictions
from .importance import gpp_importance, importance_ranking
from .scores import compare_models, extreme_days, gpp_scores, score_summary

__all__ = ["GppStudyResult", "load_gpp_config", "run_gpp_study"]


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
            if fit.members:
                row.update(members=len(fit.members), member_seconds=round(fit.member_seconds, 1))
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
            predictions/<model>.nc  obs, pred, part on (site, time) (ensembles:
                                    <model>_x<n>.nc, with pred_std, pred_member)
            scores.nc, scores.csv   metrics (model, setting, site)
            summary.csv             NRMSE median, quartiles, 5-95% per model and setting
            significance.csv        paired Wilcoxon tests per setting and model pair
            importance.nc           permutation importance (model, driver, site)
            ranking.csv             median importance rank per model and driver
            search.csv              chosen parameters, trials per model and group
            cube.zarr               the prepared site cube the models saw (QC'd target,
                                    gap-filled predictors, sw_clearsky, flags)
            models/<model>/<group>/ run directories (fluxgrid.load_run), search.csv;
                                    their inputs.json points to cube.zarr; a seed
                                    ensemble's members in members/seed<k>/ below
            timings.json            seconds per step
        """
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
                folder = tmp / "models" / label / group
                # the run's inputs (gap-filled predictors, computed clear-sky radiation) are
                # not in its data.source: inputs.json points to the prepared cube, relative,
                # for TrainedRun.load_cube
                cube = os.path.relpath(tmp / "cube.zarr", folder)
                save_study_run(
                    folder, fit.run, fit.history, inputs={"cube": cube}, search=fit.search
                )
                for seed, (run, history) in fit.members.items():
                    member = folder / member_dir(seed)
                    cube = os.path.relpath(tmp / "cube.zarr", member)
                    save_study_run(member, run, history, inputs={"cube": cube})
            (tmp / "timings.json").write_text(json.dumps(self.seconds, indent=2))
        return out


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
        :class:`~fluxgrid.studies.gpp.config.GppStudyConfig` or the path of its YAML (plain or
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
    cfg, say = start_study(cfg, GppStudyConfig, output, overwrite, note)
    check_models(cfg)  # model and search-space checks before any data is read
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
    finish_study(result, output, overwrite, say)
    return result


def load_gpp_config(path: str | os.PathLike) -> GppStudyConfig:
    """Read a :class:`GppStudyConfig` YAML, or the ``config`` section of a recipe file."""
    return load_study_config(path, GppStudyConfig)
