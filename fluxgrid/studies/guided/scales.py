"""The data of the guided workflow: site cube, gap-filled drivers, split and SSA components.

:func:`prepare_scales` builds a :class:`ScaleData` from a :class:`GuidedConfig`: the site
cube comes from the one chain of :mod:`fluxgrid.prep.pipeline` (read, select, resample,
period, load, QC, ``min_years``); the steps of the study follow: driver gap filling, the
split, and the SSA of drivers and target over the whole record and over each site's
training period (see :mod:`fluxgrid.studies.guided.workflow` for why).
:func:`decompose_predictions` applies the same SSA to end-to-end predictions.

Examples
--------
>>> from fluxgrid.config import from_dict
>>> cfg = from_dict(GuidedConfig, {"data": {"source": "demo", "sites": ["US-MMS"]}})
>>> data = prepare_scales(cfg)                                       # doctest: +SKIP
>>> data.scale_cube("interannual", "test").nee.attrs["long_name"]    # doctest: +SKIP
'interannual SSA component of nee'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import xarray as xr

from ...errors import ColumnError, ConfigError
from ...prep.gapfill import gapfill, gapfill_report
from ...prep.pipeline import load_data, quality_control
from ...prep.splits import TEST, make_split
from ...prep.ssa import ssa
from ...prep.ssa_core import record_spans
from ..common import igbp_groups
from .config import GuidedConfig

__all__ = [
    "SCALES",
    "ScaleData",
    "check_driver_gaps",
    "decompose_predictions",
    "prepare_scales",
]

#: the scales models are trained on
SCALES = ("seasonal", "interannual")


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


def check_driver_gaps(filled: xr.Dataset, drivers: Sequence[str]) -> None:
    """Refuse gaps that gap filling left inside a driver's record (SSA cannot take them).

    Parameters
    ----------
    filled
        Site cube ``(site, time)`` after gap filling.
    drivers
        Variables to check.

    Raises
    ------
    ColumnError
        Naming the driver and up to three sites with their days still missing.
    """
    sites = filled["site"].values.astype(str)
    for name in drivers:
        valid = np.isfinite(filled[name].transpose("site", "time").values)
        _start, span, _left_out = record_spans(valid, "raise")  # first to last valid day
        gaps = span - valid.sum(axis=1)
        bad = np.flatnonzero(gaps > 0)
        if bad.size:
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
    is_test = (split["part"] == TEST).transpose("site", "time")
    return (is_test.cumsum("time") == 0).reset_coords(drop=True)


def _load(
    cfg: GuidedConfig, cube: xr.Dataset | None, progress: bool | None
) -> tuple[xr.Dataset, xr.Dataset, xr.Dataset | None]:
    """The site cube before QC (SSA needs the unmasked target), after QC, and the QC report."""
    d = cfg.data
    raw, _ = load_data(
        dataclasses.replace(d, qc_threshold=None, min_years=None), cube=cube, progress=progress
    )
    masked, report = quality_control(
        raw,
        qc_threshold=d.qc_threshold,
        targets=[d.target],
        min_valid_fraction=d.min_valid_fraction,
        min_years=d.min_years,
        variable=d.target,
    )
    return raw.sel(site=masked["site"].values), masked, report


def _decompose(
    drivers: xr.Dataset, names: Sequence[str], target: xr.DataArray, cfg: GuidedConfig
) -> xr.Dataset:
    """SSA of the gap-free drivers (whole record) and the target (longest gap-free span)."""
    kwargs = cfg.scales.ssa_kwargs()
    name = cfg.data.target
    return xr.merge(
        [
            ssa(drivers, list(names), on_gaps="raise", **kwargs),
            ssa(target.to_dataset(name=name), name, on_gaps="longest", **kwargs),
        ],
        compat="override",
        combine_attrs="drop_conflicts",
    )


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
    d, s = cfg.data, cfg.scales
    drivers = list(d.drivers)
    raw, masked, qc_report = _load(cfg, cube, progress)
    filled = gapfill(
        masked, drivers, max_gap=s.max_gap, long_gaps=s.long_gaps, min_count=s.min_count
    )
    check_driver_gaps(filled, drivers)
    split = make_split(filled, cfg.split, target=d.target)
    target_raw = raw[d.target].transpose("site", "time")
    whole = _decompose(filled[drivers], drivers, target_raw, cfg)
    if s.decompose == "train_separately":
        before = _before_test(split)
        train = _decompose(filled[drivers].where(before), drivers, target_raw.where(before), cfg)
    else:
        train = whole
    return ScaleData(
        cube=filled,
        target_raw=target_raw,
        valid=filled[d.target].notnull().transpose("site", "time").reset_coords(drop=True),
        split=split,
        whole=whole.load(),
        train=train.load(),
        groups=igbp_groups(filled, min_sites=cfg.min_group_sites, mode=cfg.groups),
        drivers=drivers,
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
    span = data.whole[data.target].sum("component", min_count=1).notnull()
    name = data.target
    values = pred.transpose("site", "time").where(span.transpose("site", "time"))
    return ssa(
        values.to_dataset(name=name), name, on_gaps="longest", **cfg.scales.ssa_kwargs()
    ).load()
