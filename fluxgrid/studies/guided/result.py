"""The result of the guided workflow: scores, cross-scale tests, Taylor statistics, SHAP, files.

:class:`GuidedResult` holds the models and predictions of
:func:`~fluxgrid.studies.guided.workflow.run_guided` and scores them;
:meth:`GuidedResult.save` writes it as a folder, and :func:`read_predictions`,
:func:`read_runs` and :func:`check_saved_splits` are the pieces
:func:`~fluxgrid.studies.guided.workflow.load_guided` reads it back with.
:func:`taylor_statistics` gives the numbers of a Taylor diagram
(:func:`fluxgrid.plots.plot_taylor`).

Examples
--------
>>> from fluxgrid.data import load_demo_cube
>>> c = load_demo_cube()
>>> t = taylor_statistics({"dt": xr.Dataset({"obs": c.gpp_nt, "pred": c.gpp_dt})}, part=None)
>>> int(t.n.sel(case="dt")) > 1000
True
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ...config.serialise import dump_config
from ...errors import DataNotFoundError
from ...evaluate import scores, write_csv
from ...explain import default_groups, shap_values
from ...io.atomic import atomic_path, check_writable
from ...io.store import to_netcdf
from ...prep.splits import PARTS
from ...runs import TrainedRun, load_run
from ...training.ensemble import member_dir
from ..common import save_study_run
from .config import GuidedConfig
from .fitting import MODEL_SCALES
from .scales import SCALES, ScaleData

__all__ = [
    "KINDS",
    "GuidedResult",
    "check_saved_splits",
    "read_members",
    "read_predictions",
    "read_runs",
    "taylor_statistics",
]

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

#: (model trained on, scored on) -> prediction kind, for the cross-scale table
_CROSS = {
    ("seasonal", "seasonal"): "seasonal",
    ("interannual", "interannual"): "interannual",
    ("seasonal", "interannual"): "seasonal_model_on_interannual",
    ("interannual", "seasonal"): "interannual_model_on_seasonal",
}


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
    >>> from fluxgrid.data import load_demo_cube
    >>> c = load_demo_cube()
    >>> t = taylor_statistics({"dt": xr.Dataset({"obs": c.gpp_nt, "pred": c.gpp_dt})}, part=None)
    >>> round(float(t.r.sel(case="dt")), 2) > 0.9
    True
    """
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


def _other_inputs(features: Sequence[str], drivers: Sequence[str]) -> dict[str, list[str]]:
    """SHAP groups of the inputs that are not drivers (day of year, site coordinates)."""
    groups = default_groups(features, drivers)
    return {k: v for k, v in groups.items() if k not in drivers}


@dataclasses.dataclass
class GuidedResult:
    """Models, predictions and scores of :func:`~fluxgrid.studies.guided.workflow.run_guided`.

    Attributes
    ----------
    config
        The workflow configuration.
    data
        The decomposed data (:class:`~fluxgrid.studies.guided.scales.ScaleData`).
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
    members
        Seed ensembles (``config.ensemble``): ``{(group, label, scale): {seed: (run,
        history)}}``; the member of the model's own ``train.seed`` is ``runs[key]``. Their
        mean's predictions are in ``predictions`` under the ensemble label
        (:meth:`~fluxgrid.studies.guided.config.GuidedConfig.ensemble_labels`).
    """

    config: GuidedConfig
    data: ScaleData
    predictions: dict[tuple[str, str], xr.Dataset]
    runs: dict[tuple[str, str, str], Any]
    histories: dict[tuple[str, str, str], xr.Dataset]
    seconds: dict[str, float]
    members: dict[tuple[str, str, str], dict[int, tuple[TrainedRun, xr.Dataset]]] = (
        dataclasses.field(default_factory=dict)
    )

    def __repr__(self) -> str:
        groups = ", ".join(f"{g} {len(sites)}" for g, sites in self.data.groups.items())
        n_sites = sum(len(sites) for sites in self.data.groups.values())
        scales = sorted({key[2] for key in self.runs})
        n_members = sum(len(seeds) for seeds in self.members.values())
        ensembles = f", {n_members} ensemble members" if n_members else ""
        return (
            f"GuidedResult({self.data.target} of {n_sites} sites in {len(self.data.groups)} "
            f"group(s): {groups}\n"
            f"  models: {', '.join(self.labels)}; scales: {', '.join(scales)} "
            f"({len(self.runs)} trained runs{ensembles}, {self.data.decompose})\n"
            f"  kinds: {', '.join(self._kinds())}; {sum(self.seconds.values()):.0f} s\n"
            f"  see .scores(), .cross_scale(), .taylor(label), .contributions())"
        )

    @property
    def labels(self) -> list[str]:
        """Model labels in configuration order, then the seed ensembles' labels."""
        return self.config.scored_labels()

    def scores(
        self, *, by: str | None = None, part: str = "test", kinds: Sequence[str] | None = None
    ) -> xr.Dataset:
        """Metrics of every model label and prediction kind (pooled or per IGBP / site).

        Returns
        -------
        xarray.Dataset
            :data:`fluxgrid.evaluate.METRICS` with dims ``(model, kind)`` (and ``by``).
        """
        kinds = list(kinds) if kinds is not None else self._kinds()
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

    def _kinds(self) -> list[str]:
        return [k for k in KINDS if self._has(k)]

    def cross_scale(self, *, part: str = "test") -> xr.Dataset:
        """Metrics of each scale's model on each scale's inputs and targets.

        Returns
        -------
        xarray.Dataset
            Metrics with dims ``(model, trained_on, scored_on)``.
        """
        if not self._has("seasonal_model_on_interannual"):
            raise DataNotFoundError("the cross-scale experiment was not run (cross_scale: false)")
        blocks = []
        for label in self.labels:
            rows = []
            for trained in SCALES:
                cols = [
                    scores(self.predictions[(label, _CROSS[(trained, s)])], part=part)
                    for s in SCALES
                ]
                rows.append(xr.concat(cols, dim=pd.Index(list(SCALES), name="scored_on")))
            blocks.append(xr.concat(rows, dim=pd.Index(list(SCALES), name="trained_on")))
        return xr.concat(blocks, dim=pd.Index(self.labels, name="model"))

    def taylor(self, label: str, kinds: Sequence[str] | None = None) -> xr.Dataset:
        """:func:`taylor_statistics` of one model label's prediction kinds (test part)."""
        kinds = list(kinds) if kinds is not None else self._kinds()
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
        if label not in self.config.models:
            raise DataNotFoundError(
                f"contributions: {label!r} is not a trained model label "
                f"({', '.join(self.config.models)}); for an ensemble explain its model's label "
                "(the member of train.seed)"
            )
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
                members/seed<k>/           the seed ensemble's other members (if any)
            decomposition.nc               SSA errors, windows and energy shares per site
            timings.json                   seconds per step

        :func:`~fluxgrid.studies.guided.workflow.load_guided` reads the folder back into a
        :class:`GuidedResult`.
        """
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
            # inputs.json records the scale: the model expects that scale's SSA components
            # (ScaleData.scale_cube), not the raw cube
            for (group, label, scale), run in self.runs.items():
                save_study_run(
                    tmp / "models" / group / f"{label}_{scale}",
                    run,
                    self.histories[(group, label, scale)],
                    inputs={"scale": scale},
                )
            for (group, label, scale), seeds in self.members.items():
                folder = tmp / "models" / group / f"{label}_{scale}"
                for seed, (run, history) in seeds.items():
                    if run is not self.runs[(group, label, scale)]:
                        save_study_run(
                            folder / member_dir(seed), run, history, inputs={"scale": scale}
                        )
            to_netcdf(_decomposition_report(self.data), tmp / "decomposition.nc")
            (tmp / "timings.json").write_text(json.dumps(self.seconds, indent=2))
        return out


def _decomposition_report(data: ScaleData) -> xr.Dataset:
    """SSA errors, windows, lengths and energy shares of each decomposition, per site."""
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


def read_predictions(root: Path, labels: Sequence[str]) -> dict[tuple[str, str], xr.Dataset]:
    """The ``predictions/<label>_<kind>.nc`` files of a saved result, loaded."""
    predictions: dict[tuple[str, str], xr.Dataset] = {}
    for file in sorted((root / "predictions").glob("*.nc")):
        with xr.open_dataset(file) as f:
            predictions[_split_key(file.stem, labels)] = f.load()
    return predictions


def read_runs(
    root: Path, groups: Sequence[str], labels: Sequence[str], *, device: str = "auto"
) -> tuple[dict[tuple[str, str, str], TrainedRun], dict[tuple[str, str, str], xr.Dataset]]:
    """The run directories and histories of a saved result, keyed ``(group, label, scale)``.

    Raises
    ------
    DataNotFoundError
        A run directory of a group, label and scale is missing.
    """
    runs: dict[tuple[str, str, str], TrainedRun] = {}
    histories: dict[tuple[str, str, str], xr.Dataset] = {}
    for group in groups:
        for label in labels:
            for scale in MODEL_SCALES:
                folder = root / "models" / group / f"{label}_{scale}"
                if not (folder / "inputs.json").is_file():
                    raise DataNotFoundError(f"{folder}: run directory missing from the result")
                runs[(group, label, scale)] = load_run(folder, device=device)
                with xr.open_dataset(folder / "history.nc") as f:
                    histories[(group, label, scale)] = f.load()
    return runs, histories


def read_members(
    root: Path,
    cfg: GuidedConfig,
    runs: Mapping[tuple[str, str, str], TrainedRun],
    histories: Mapping[tuple[str, str, str], xr.Dataset],
    *,
    device: str = "auto",
) -> dict[tuple[str, str, str], dict[int, tuple[TrainedRun, xr.Dataset]]]:
    """The seed ensembles of a saved result (see :attr:`GuidedResult.members`).

    Raises
    ------
    DataNotFoundError
        A member directory of an ensemble of the config is missing.
    """
    members: dict[tuple[str, str, str], dict[int, tuple[TrainedRun, xr.Dataset]]] = {}
    for (group, label, scale), run in runs.items():
        if label not in cfg.ensemble_labels():
            continue
        seeds = members[(group, label, scale)] = {}
        for seed in cfg.ensemble.seeds:
            if seed == run.config.train.seed:
                seeds[seed] = (run, histories[(group, label, scale)])
                continue
            folder = root / "models" / group / f"{label}_{scale}" / member_dir(seed)
            if not (folder / "inputs.json").is_file():
                raise DataNotFoundError(f"{folder}: ensemble member missing from the result")
            with xr.open_dataset(folder / "history.nc") as f:
                seeds[seed] = (load_run(folder, device=device), f.load())
    return members


def check_saved_splits(
    root: Path,
    data: ScaleData,
    groups: Mapping[str, list[str]],
    runs: Mapping[tuple[str, str, str], TrainedRun],
) -> None:
    """Refuse rebuilt data whose groups or splits differ from those saved with the result.

    Raises
    ------
    DataNotFoundError
        The source changed since the run (other groups, or another split of a run's sites).
    """
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
