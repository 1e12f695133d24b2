"""Spatial validation of a map: each tower predicted by models that never saw it.

A map's honest accuracy is the accuracy at places the model was not trained on.
:func:`validate_upscaling` runs leave-sites-out cross-validation over the towers: the sites
are put in ``n_folds`` folds stratified by IGBP class
(:func:`fluxgrid.prep.splits.site_kfold_split`); for each fold the experiment is trained on
the other folds' towers (validation carved from their training part as the experiment
says), and every tower of the fold is then predicted from its own drivers **through the
upscaling kernel** (:func:`fluxgrid.upscale.inference.predict_pixels`: the tower is a grid
cell with its coordinates and IGBP class, exactly as in :func:`fluxgrid.upscale.upscale`).
Every tower is predicted once, by the model of its fold.

The result (written atomically as a folder) holds the fold runs, ``predictions.nc``
(``obs``, ``pred`` and ``fold`` on ``(site, time)``) and the scores pooled, per fold, per
site and per IGBP class (``scores_*.csv``, :func:`fluxgrid.evaluate.scores`).

An experiment with an ``ensemble`` section trains a seed ensemble per fold; ``pred`` is
then the member mean, and ``pred_member`` ``(member, site, time)`` / ``pred_std`` keep every
member and their spread, so :meth:`SpatialValidation.member` scores a single member (the
single model) beside the ensemble from the same fits.

Examples
--------
>>> result = validate_upscaling("experiments/lstm.yaml", output="validation/lstm")  # doctest: +SKIP
>>> result.scores("igbp")[["r2", "rmse"]]                                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .._progress import track
from ..config.experiment import ExperimentConfig, SplitConfig
from ..errors import ConfigError
from ..evaluate import scores
from ..grids.landcover import igbp_codes
from ..io.atomic import atomic_path, check_writable
from ..prep.pipeline import load_data
from ..prep.splits import TEST, site_kfold_split
from ..runs import TrainedRun, ensemble_members, is_ensemble, load_run
from ..training.build import load_experiment
from ..training.ensemble import ensemble_predictions, member_predictions
from ..training.experiment import train_experiment
from .inference import igbp_names, predict_pixels

__all__ = ["SpatialValidation", "open_validation", "validate_upscaling"]

_GROUPS = {"pooled": (), "fold": ("fold",), "site": ("site",), "igbp": ("igbp",)}


@dataclasses.dataclass
class SpatialValidation:
    """Predictions of every tower by the model of its fold, and their scores.

    Attributes
    ----------
    predictions
        ``obs``, ``pred`` (target units) and ``fold`` on ``(site, time)``; ``part`` is
        ``test`` wherever a tower was held out (everywhere).
    folder
        Where the result was written (``None`` if not written).
    """

    predictions: xr.Dataset
    folder: Path | None = None

    @property
    def members(self) -> list[int]:
        """Seeds of the ensemble members (empty for single-model folds)."""
        if "pred_member" not in self.predictions:
            return []
        return [int(m) for m in self.predictions["member"].values]

    def member(self, seed: int) -> SpatialValidation:
        """The validation of one ensemble member alone (its predictions as ``pred``).

        Raises
        ------
        ConfigError
            If the folds were no ensembles, or ``seed`` is none of their members.
        """
        if seed not in self.members:
            raise ConfigError(
                f"seed={seed!r}: the folds' members are {self.members or 'none (no ensemble)'}"
            )
        return SpatialValidation(member_predictions(self.predictions, seed), self.folder)

    def member_scores(self) -> pd.DataFrame:
        """Pooled scores of each ensemble member alone, one row per seed (index ``seed``).

        Raises
        ------
        ConfigError
            If the folds were no ensembles.
        """
        if not self.members:
            raise ConfigError("member_scores(): the folds were single models, not ensembles")
        rows = {s: self.member(s).scores().iloc[0] for s in self.members}
        return pd.DataFrame(rows).T.rename_axis("seed")

    def scores(self, by: str = "pooled") -> pd.DataFrame:
        """Scores ``"pooled"``, per ``"fold"``, ``"site"`` or ``"igbp"`` (R2, RMSE, MAE, ...)."""
        if by not in _GROUPS:
            raise ConfigError(f"by={by!r}; expected one of {sorted(_GROUPS)}")
        preds = self.predictions
        if by == "pooled":
            return _pooled_row(preds).to_frame("pooled").T
        if by == "fold":
            fold = preds["fold"].values
            rows = {int(k): _pooled_row(preds.isel(site=fold == k)) for k in np.unique(fold)}
            return pd.DataFrame(rows).T.rename_axis("fold")
        return scores(preds, by=_GROUPS[by], part="test").to_dataframe()

    def __repr__(self) -> str:
        pooled = self.scores().iloc[0]
        n_sites = self.predictions.sizes["site"]
        n_folds = int(np.nanmax(self.predictions["fold"].values)) + 1
        return (
            f"SpatialValidation({n_sites} towers in {n_folds} folds, pooled R2 "
            f"{pooled['r2']:.3f}, RMSE {pooled['rmse']:.3f}; folder={self.folder})"
        )


def _pooled_row(preds: xr.Dataset) -> pd.Series:
    table = scores(preds, part="test")
    return pd.Series({k: float(v) for k, v in table.data_vars.items()})


def _fold_of_sites(cube: xr.Dataset, cfg: ExperimentConfig, n_folds: int, seed: int) -> np.ndarray:
    """Fold number of every site (the test fold of :func:`site_kfold_split`)."""
    fold = np.full(cube.sizes["site"], -1, dtype=np.int64)
    target = cfg.data.target
    for k in range(n_folds):
        split = site_kfold_split(cube, n_folds=n_folds, fold=k, seed=seed, target=target)
        held = (split["part"] == TEST).any("time").values
        fold[held] = k
    return fold


def _predict_towers(run_dir: Path, cube: xr.Dataset, sites: np.ndarray) -> np.ndarray:
    """``(member, site, time)`` predictions of the towers ``sites`` by the upscaling kernel.

    One member for a single run, one per seed for an ensemble directory.
    """
    members = ensemble_members(run_dir) if is_ensemble(run_dir) else [run_dir]
    return np.stack([_predict_with(load_run(m), cube, sites) for m in members])


def _predict_with(run: TrainedRun, cube: xr.Dataset, sites: np.ndarray) -> np.ndarray:
    sub = cube.isel(site=sites)
    drivers = list(run.inputs["drivers"])
    series = np.stack([sub[d].transpose("site", "time").values for d in drivers], axis=-1)
    codes = igbp_codes(sub["igbp"].values, dtype="int64") if "igbp" in sub.coords else None
    igbp = None if codes is None else igbp_names(codes)
    return predict_pixels(
        run,
        series.astype(np.float32),
        sub["time"].values,
        sub["latitude"].values.astype(float),
        sub["longitude"].values.astype(float),
        igbp,
    )


def validate_upscaling(
    cfg: ExperimentConfig | str | os.PathLike,
    *,
    output: str | os.PathLike,
    n_folds: int = 5,
    seed: int = 0,
    overwrite: bool = False,
    cube: xr.Dataset | None = None,
    progress: bool | None = None,
) -> SpatialValidation:
    """Leave-sites-out cross-validation of an experiment, predicted as the map would be.

    Parameters
    ----------
    cfg
        The experiment (or its YAML); its split is replaced by ``site_kfold`` folds (its
        ``validation``/``val_fraction`` are kept). With an ``ensemble`` section every fold
        trains the seed ensemble and the towers are predicted by the member mean.
    output
        Result folder (written atomically): ``folds/fold<k>/`` run directories (their
        own ``predictions.nc`` and scores cover the held-out towers only),
        ``predictions.nc``, ``scores_pooled.csv``, ``scores_fold.csv``, ``scores_site.csv``,
        ``scores_igbp.csv``.
    n_folds
        Folds (at least 2; at most the number of towers).
    seed
        Seed of the fold assignment (within each IGBP class).
    overwrite
        Replace an existing result folder.
    cube
        Use this site cube instead of reading ``cfg.data.source``.
    progress
        Progress bar over the folds.

    Returns
    -------
    SpatialValidation
        Predictions and scores; ``folder`` is ``output``.

    Raises
    ------
    ConfigError
        If there are fewer towers with target data than folds.

    Examples
    --------
    >>> v = validate_upscaling("lstm.yaml", output="validation/lstm", n_folds=5)  # doctest: +SKIP
    >>> v.scores("site").sort_values("r2").head()                                # doctest: +SKIP
    """
    if not isinstance(cfg, ExperimentConfig):
        cfg = load_experiment(cfg)
    folder = check_writable(output, overwrite)
    data, _ = load_data(cfg.data, cube=cube, progress=progress)
    target = cfg.data.target
    has_target = np.isfinite(data[target]).any("time").values
    if int(has_target.sum()) < n_folds:
        raise ConfigError(
            f"n_folds={n_folds}: only {int(has_target.sum())} towers have {target!r} data; "
            "use at most that many folds"
        )
    fold = _fold_of_sites(data, cfg, n_folds, seed)
    seeds = list(cfg.ensemble.seeds) or [cfg.train.seed]
    shape = (len(seeds), data.sizes["site"], data.sizes["time"])
    pred = np.full(shape, np.nan, dtype=np.float32)
    with atomic_path(folder) as tmp:
        for k in track(range(n_folds), desc="site folds", show=progress):
            split = dataclasses.replace(
                cfg.split, method="site_kfold", n_folds=n_folds, fold=k, seed=seed
            )
            fold_cfg = dataclasses.replace(cfg, split=SplitConfig(**_split_keys(split)))
            # the fold's own predictions: the held-out towers only (they are predicted
            # again below through the map's kernel); all windows would cost 5x as much
            run_dir = train_experiment(
                fold_cfg,
                output=tmp / "folds" / f"fold{k}",
                cube=cube,
                progress=False,
                predict_parts=["test"],
            )
            held = np.flatnonzero(fold == k)
            pred[:, held] = _predict_towers(run_dir, data, held)
        preds = _predictions(data, target, pred, fold, seeds if cfg.ensemble.seeds else None)
        result = SpatialValidation(preds, folder)
        result.predictions.to_netcdf(tmp / "predictions.nc")
        for by in _GROUPS:
            result.scores(by).to_csv(tmp / f"scores_{by}.csv")
    return result


def _split_keys(split: SplitConfig) -> dict:
    """The keys ``site_kfold`` reads (others would be refused as unread)."""
    keep = ("method", "n_folds", "fold", "seed", "validation", "val_fraction")
    return {k: getattr(split, k) for k in keep}


def _predictions(
    data: xr.Dataset,
    target: str,
    pred: np.ndarray,
    fold: np.ndarray,
    seeds: list[int] | None,
) -> xr.Dataset:
    """The result's dataset from ``(member, site, time)`` predictions (members: ``seeds``).

    An ensemble is combined as every ensemble directory is
    (:func:`~fluxgrid.training.ensemble.ensemble_predictions`).
    """
    obs = data[target].transpose("site", "time")
    units = {"units": obs.attrs.get("units", "")}
    part = np.full(pred.shape[1:], TEST, dtype=np.int8)
    members = [
        xr.Dataset(
            {"obs": obs, "pred": (("site", "time"), p, units), "part": (("site", "time"), part)},
            attrs={"target": target},
        )
        for p in pred
    ]
    out = members[0] if seeds is None else ensemble_predictions(members, seeds)
    out["fold"] = ("site", fold, {"long_name": "fold in which the tower was held out"})
    out.attrs["method"] = "site_kfold through the upscaling kernel"
    return out


def open_validation(folder: str | os.PathLike) -> SpatialValidation:
    """Read a result written by :func:`validate_upscaling` back."""
    folder = Path(folder)
    return SpatialValidation(xr.load_dataset(folder / "predictions.nc"), folder)
