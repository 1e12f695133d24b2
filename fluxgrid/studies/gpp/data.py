"""The data of the GPP study: forest sites, QC, clear-sky radiation, gap filling, split by years.

:func:`load_gpp_data` reads the site cube through the one chain of
:mod:`fluxgrid.prep.pipeline` (read, select, keep variables, resample to days, period,
load), then runs the study's own steps: remote-sensing predictors joined, QC with a reason
per dropped site, simulated clear-sky radiation, predictor gap filling, the split by whole
years per site (:func:`first_years_split`) and validation carved from the training years.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GppStudyConfig, {"data": {"source": "demo", "sites": ["DE-Hai", "DE-Tha"]}})
>>> data = load_gpp_data(cfg)
>>> data.predictors, data.split_summary()["test years"].tolist()
(['ta', 'sw_in', 'vpd', 'sw_clearsky'], ['2011,2012', '2011,2012'])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ...catalog import qc_name
from ...errors import ConfigError, DataNotFoundError
from ...io.store import open_cube
from ...prep.gapfill import gapfill, gapfill_report
from ...prep.pipeline import site_cube
from ...prep.qc import qc_mask
from ...prep.splits import (
    TEST,
    TRAIN,
    UNUSED,
    as_split,
    carve_validation,
    check_split,
    split_summary,
)
from ...rs.config import ClearSkyConfig
from ...rs.radiation import add_clearsky
from ..common import igbp_groups
from .config import GppStudyConfig

__all__ = ["GppData", "first_years_split", "load_gpp_data"]


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
    >>> from fluxgrid.data import load_demo_cube
    >>> split = first_years_split(load_demo_cube(), target="gpp_nt", test_fraction=0.4)
    >>> split.part.sel(site="DE-Hai").groupby("time.year").max().values.tolist()
    [1, 1, 1, 1, 3, 3]
    """
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
    return as_split(ds, part, "first_years", target=target, test_fraction=test_fraction)


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
        s = split_summary(self.split, self.cube, target=self.target)
        frame = pd.DataFrame(index=pd.Index(s.site.values.astype(str), name="site"))
        for part in ("train", "val", "test"):
            frame[f"{part} days"] = s.n_values.sel(part=part).values
            frame[f"{part} years"] = s.years.sel(part=part).values
        if "igbp" in self.cube.coords:
            frame.insert(0, "igbp", self.cube["igbp"].values.astype(str))
        return frame


def _join_rs(ds: xr.Dataset, path: str, names: Sequence[str]) -> xr.Dataset:
    """Join the variables ``names`` of a remote-sensing site cube on (site, time)."""
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


def _read(cfg: GppStudyConfig, cube: xr.Dataset | None, progress: bool | None) -> xr.Dataset:
    """The daily, loaded cube of the candidate sites with every predictor the study needs.

    The site-cube chain reads, selects and resamples; the extra predictors it lacks come
    from ``predictors.rs_cube``.
    """
    d, p = cfg.data, cfg.predictors
    ds, _ = site_cube(
        d.source,
        cube=cube,
        sites=d.sites,
        exclude_sites=d.exclude_sites,
        igbp=d.igbp,
        bbox=d.bbox,
        variables=[*p.drivers, d.target, qc_name(d.target)],
        optional=[*p.extra, *(["sw_clearsky"] if p.clearsky else [])],
        keep_qc=False,  # the drivers' QC companions are not model inputs
        to="daily",
        period=d.period,
        load=True,
        progress=progress,
    )
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
    return ds


def _quality(cfg: GppStudyConfig, ds: xr.Dataset) -> tuple[xr.Dataset, xr.Dataset, dict]:
    """QC of the target; the sites it drops with their reason (the site report's).

    :func:`~fluxgrid.prep.qc.qc_mask` runs directly (not
    :func:`~fluxgrid.prep.pipeline.quality_control`): the study reports why each site went,
    even when none is left.
    """
    d = cfg.data
    period = slice(str(d.period[0]), str(d.period[1])) if d.period is not None else None
    masked, report = qc_mask(
        ds,
        threshold=d.qc_threshold,
        targets=[d.target],
        drop_negative_gpp=d.drop_negative_gpp,
        min_valid_fraction=d.min_valid_fraction,
        period=period,
    )
    span = "period" if period is not None else "record"
    reasons = {
        str(s): f"valid {d.target} days {float(f):.2f} of the {span} < {d.min_valid_fraction}"
        for s, f, dropped in zip(
            report.site.values,
            report.valid_fraction.sel(target=d.target).values,
            report.dropped.values,
            strict=True,
        )
        if dropped
    }
    return masked, report, reasons


def _fill_predictors(
    cfg: GppStudyConfig, ds: xr.Dataset, reasons: dict[str, str]
) -> tuple[xr.Dataset, xr.Dataset]:
    """Clear-sky radiation added, predictors gap-filled; sites lacking a predictor reported.

    Returns the cube and its gap-fill report (empty without sites); ``reasons`` gets the
    sites with a predictor that has no value at all (every window of theirs is incomplete).
    """
    p = cfg.predictors
    if ds.sizes["site"] == 0:
        return ds, xr.Dataset()
    if p.clearsky and "sw_clearsky" not in ds:
        ds = add_clearsky(ds, config=ClearSkyConfig(model=p.clearsky_model))
        ds = ds.drop_vars("sw_in_pot", errors="ignore")
    predictors = cfg.predictor_names()
    fill = [n for n in predictors if n != "sw_clearsky"]
    gaps = xr.Dataset()
    if fill:
        ds = gapfill(ds, fill, max_gap=p.max_gap, long_gaps="none")
        gaps = gapfill_report(ds).compute()
    for name in predictors:
        empty = ~ds[name].notnull().any("time").values
        for s in ds["site"].values[empty].astype(str):
            reasons.setdefault(s, f"no {name} value")
    return ds, gaps


def _split(
    cfg: GppStudyConfig, ds: xr.Dataset, reasons: dict[str, str], candidates: Sequence[str]
) -> tuple[xr.Dataset, xr.Dataset]:
    """The kept sites' cube and split (years, then validation); sites without a test year go.

    Raises
    ------
    DataNotFoundError
        No site is left; the message gives every candidate's reason.
    """
    target = cfg.data.target
    keep = [s for s in ds["site"].values.astype(str) if s not in reasons]
    split = None
    if keep:
        ds = ds.sel(site=keep)
        split = first_years_split(ds, target=target, test_fraction=cfg.split.test_fraction)
        no_test = ~(split["part"] == TEST).any("time").values
        for s in ds["site"].values[no_test].astype(str):
            reasons[s] = f"a single year of valid {target}: nothing to test by years"
        keep = [s for s in keep if s not in reasons]
    if not keep or split is None:
        raise DataNotFoundError(
            f"no site is left of {len(candidates)} candidates: "
            + "; ".join(f"{s}: {r}" for s, r in reasons.items())
        )
    ds = ds.sel(site=keep)
    split = carve_validation(
        split.sel(site=keep),
        ds,
        method=cfg.split.validation,
        fraction=cfg.split.val_fraction,
        seed=cfg.split.seed,
        target=target,
    )
    check_split(split, ds, target=target)
    return ds, split


def _site_report(
    cfg: GppStudyConfig,
    source: xr.Dataset,
    qc_report: xr.Dataset,
    keep: Sequence[str],
    reasons: dict[str, str],
) -> xr.Dataset:
    """Per candidate site: valid fraction after QC, kept, reason (and IGBP class)."""
    d = cfg.data
    candidates = source["site"].values.astype(str)
    vf = qc_report.valid_fraction.sel(target=d.target)
    report = xr.Dataset(
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
    if "igbp" in source.coords:
        report = report.assign_coords(
            igbp=("site", source["igbp"].sel(site=candidates).values.astype(str))
        )
    report["valid_fraction"].attrs = {
        "long_name": f"share of days with a valid {d.target} after QC",
        "units": "1",
    }
    return report


def _groups(ds: xr.Dataset, pooling: str) -> dict[str, list[str]]:
    """Sites per model: one per site, one per IGBP class, or all pooled."""
    if pooling == "per_site":
        return {s: [s] for s in ds["site"].values.astype(str).tolist()}
    return igbp_groups(ds, mode="igbp" if pooling == "igbp" else "pooled")


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
    ds = _read(cfg, cube, progress)
    candidates = ds["site"].values.astype(str).tolist()
    masked, qc_report, reasons = _quality(cfg, ds)
    filled, gaps = _fill_predictors(cfg, masked, reasons)
    kept, split = _split(cfg, filled, reasons, candidates)
    keep = kept["site"].values.astype(str).tolist()
    return GppData(
        cube=kept,
        predictors=cfg.predictor_names(),
        target=cfg.data.target,
        split=split,
        site_report=_site_report(cfg, ds, qc_report, keep, reasons),
        qc_report=qc_report,
        gapfill_report=gaps.sel(site=keep) if "site" in gaps.dims else gaps,
        groups=_groups(kept, cfg.pooling),
        day_of_year=cfg.predictors.day_of_year,
    )
