"""Sequence-to-one windows: a vectorised index of valid (site, end) pairs, no data copies.

A sample is the input window ``[end - lookback + 1, end]`` of one site and the target at
``end``. :func:`build_windows` finds every valid pair at once:

* input complete: a cumulative sum of the "any driver missing" mask along time tests each
  window in O(1) (``cs[end + 1] - cs[end + 1 - lookback] == 0``), after the optional
  linear filling of short driver gaps (:func:`fill_short_gaps`);
* target present (QC already applied by :func:`fluxgrid.qc_mask`) and, with a split,
  assigned to a part.

The result, :class:`WindowIndex`, holds only integer arrays (``site_idx``, ``end_idx``,
``part``) plus a per-site report of what was dropped and why; the data stay in the cube and
are gathered per batch by :class:`fluxgrid.tensors.WindowCube`.

Static inputs are built by :func:`input_features`: day-of-year sine/cosine (time-varying),
site latitude/longitude and an IGBP one-hot (constant per site).

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> cube = load_demo_cube()
>>> index = build_windows(cube, drivers=["ta", "sw_in", "vpd"], target="nee", lookback=75)
>>> len(index) > 0, index.lookback
(True, 75)
>>> int(index.end_idx.min()) >= 74
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import dask
import numpy as np
import pandas as pd
import xarray as xr

from .errors import DataNotFoundError, WindowError
from .prep.series import interpolate_between, valid_neighbours
from .prep.splits import PARTS, UNUSED

__all__ = [
    "STATIC_CHOICES",
    "WindowIndex",
    "build_windows",
    "complete_windows",
    "fill_short_gaps",
    "input_features",
    "static_inputs",
]

#: static input groups and the feature names they add
STATIC_CHOICES = ("doy", "latlon", "igbp")


# --------------------------------------------------------------------------- gap filling
def fill_short_gaps(values: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate interior runs of at most ``max_gap`` missing steps.

    Vectorised over all rows: for every step the previous and next valid positions come
    from running maxima/minima of index arrays; no loop over gaps.

    Parameters
    ----------
    values
        Float array ``(..., time)``; NaN marks missing values.
    max_gap
        Longest run of missing steps that is filled (0: nothing is filled). Runs at the
        start or end of a row (no valid value on one side) are never filled.

    Returns
    -------
    filled : numpy.ndarray
        Copy of ``values`` with the short gaps filled.
    was_filled : numpy.ndarray
        Boolean mask of the filled steps.

    Examples
    --------
    >>> x = np.array([[1.0, np.nan, 3.0, np.nan, np.nan, np.nan, 7.0]])
    >>> filled, mask = fill_short_gaps(x, 2)
    >>> filled.tolist()
    [[1.0, 2.0, 3.0, nan, nan, nan, 7.0]]
    """
    values = np.asarray(values)
    filled = values.astype(np.float32 if values.dtype == np.float32 else np.float64, copy=True)
    if max_gap <= 0:
        return filled, np.zeros(values.shape, dtype=bool)
    valid = ~np.isnan(values)
    n = values.shape[-1]
    prev, nxt = valid_neighbours(valid)
    gap_len = nxt - prev - 1
    fill = ~valid & (prev >= 0) & (nxt < n) & (gap_len <= max_gap)
    if fill.any():
        filled[fill] = interpolate_between(values, prev, nxt)[fill]
    return filled, fill


# --------------------------------------------------------------------------- static inputs
def static_inputs(
    time: np.ndarray,
    latitude: np.ndarray,
    longitude: np.ndarray,
    igbp: np.ndarray | None = None,
    *,
    static: Sequence[str] = ("doy",),
    igbp_classes: Sequence[str] | None = None,
    site_dim: str = "site",
) -> xr.Dataset:
    """Static and calendar inputs for any set of locations (sites or stacked grid cells).

    Parameters
    ----------
    time
        Time stamps (datetime64), ``(time,)``.
    latitude, longitude
        Degrees, ``(n,)`` for the ``n`` locations.
    igbp
        IGBP class codes ``(n,)`` (``''`` unknown: all one-hot entries 0).
    static
        Groups to build: ``doy`` -> ``doy_sin``, ``doy_cos`` (time); ``latlon`` ->
        ``site_lat``, ``site_lon`` (degrees, scaled later); ``igbp`` -> ``igbp_<CLASS>``.
    igbp_classes
        One-hot vocabulary (default: sorted classes present in ``igbp``).
    site_dim
        Name of the location dimension.

    Returns
    -------
    xarray.Dataset
        One variable per feature, dims ``(time,)`` or ``(site_dim,)``, float32;
        ``attrs["igbp_classes"]`` lists the one-hot vocabulary.

    Examples
    --------
    >>> t = np.array(["2010-01-01", "2010-07-02"], dtype="datetime64[ns]")
    >>> f = static_inputs(t, np.array([45.0]), np.array([-84.7]), np.array(["DBF"]),
    ...                   static=["doy", "igbp"], igbp_classes=["DBF", "ENF"])
    >>> sorted(f.data_vars)
    ['doy_cos', 'doy_sin', 'igbp_DBF', 'igbp_ENF']
    """
    unknown = sorted(set(static) - set(STATIC_CHOICES))
    if unknown:
        raise WindowError(f"static inputs {unknown} unknown; choose from {list(STATIC_CHOICES)}")
    out = xr.Dataset()
    if "doy" in static:
        idx = pd.DatetimeIndex(time)
        # fraction of the year at the middle of the day, leap years included
        days_in_year = np.where(idx.is_leap_year, 366.0, 365.0)
        angle = 2 * np.pi * (idx.day_of_year.to_numpy() - 0.5) / days_in_year
        out["doy_sin"] = ("time", np.sin(angle).astype(np.float32), {"units": "1"})
        out["doy_cos"] = ("time", np.cos(angle).astype(np.float32), {"units": "1"})
    if "latlon" in static:
        out["site_lat"] = (site_dim, np.asarray(latitude, np.float32), {"units": "degrees_north"})
        out["site_lon"] = (site_dim, np.asarray(longitude, np.float32), {"units": "degrees_east"})
    classes: list[str] = []
    if "igbp" in static:
        if igbp is None:
            raise WindowError("static input 'igbp' needs an 'igbp' coordinate (site)")
        codes = np.asarray(igbp).astype(str)
        classes = (
            list(igbp_classes) if igbp_classes is not None else sorted(set(codes.tolist()) - {""})
        )
        for cls in classes:
            out[f"igbp_{cls}"] = (site_dim, (codes == cls).astype(np.float32), {"units": "1"})
    out.attrs["igbp_classes"] = classes
    return out


def input_features(
    ds: xr.Dataset,
    drivers: Sequence[str],
    *,
    static: Sequence[str] = ("doy",),
    igbp_classes: Sequence[str] | None = None,
    fill_gaps: int = 0,
) -> xr.Dataset:
    """The model inputs of a site cube: drivers (short gaps filled) plus static inputs.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)``.
    drivers
        Driver variables, in input order.
    static, igbp_classes
        See :func:`static_inputs`.
    fill_gaps
        Driver gaps up to this many steps are filled (:func:`fill_short_gaps`).

    Returns
    -------
    xarray.Dataset
        Drivers ``(site, time)`` (float32, units kept, ``<driver>_filled`` masks not
        included), calendar features ``(time,)``, site features ``(site,)``;
        ``attrs["features"]`` is the ordered input list (dynamic first, then per-site),
        ``attrs["n_filled"]`` the number of driver values filled.

    Raises
    ------
    DataNotFoundError
        If a driver is not in the cube.
    """
    missing = [d for d in drivers if d not in ds]
    if missing:
        raise DataNotFoundError(
            f"drivers {missing} are not in the cube; it has {sorted(ds.data_vars)}"
        )
    out = xr.Dataset(coords={k: v for k, v in ds.coords.items() if k in ("site", "time")})
    n_filled = 0
    for name in drivers:
        da = ds[name].transpose("site", "time")
        values = np.asarray(da.values, dtype=np.float32)
        if fill_gaps > 0:
            values, filled = fill_short_gaps(values, fill_gaps)
            n_filled += int(filled.sum())
        out[name] = (("site", "time"), values.astype(np.float32), dict(da.attrs))
    extra = static_inputs(
        ds["time"].values,
        ds["latitude"].values if "latitude" in ds.coords else np.zeros(ds.sizes["site"]),
        ds["longitude"].values if "longitude" in ds.coords else np.zeros(ds.sizes["site"]),
        ds["igbp"].values if "igbp" in ds.coords else None,
        static=static,
        igbp_classes=igbp_classes,
    )
    if "latlon" in static and ("latitude" not in ds.coords or "longitude" not in ds.coords):
        raise WindowError("static input 'latlon' needs latitude and longitude coordinates")
    for name, var in extra.data_vars.items():
        out[name] = var
    dynamic = [n for n in out.data_vars if "time" in out[n].dims]
    per_site = [n for n in out.data_vars if "time" not in out[n].dims]
    out.attrs = {
        "features": dynamic + per_site,
        "drivers": list(drivers),
        "static": list(static),
        "igbp_classes": list(extra.attrs["igbp_classes"]),
        "fill_gaps": int(fill_gaps),
        "n_filled": n_filled,
    }
    return out


# --------------------------------------------------------------------------- index
@dataclasses.dataclass(frozen=True)
class WindowIndex:
    """Integer index of sequence-to-one samples; the data stay in the cube.

    Attributes
    ----------
    site_idx, end_idx
        Position of each sample's site and target step on the cube, ``(sample,)`` int64;
        the input window is ``end_idx - lookback + 1 .. end_idx``.
    part
        Split part of each sample (0 unused, 1 train, 2 val, 3 test), ``(sample,)`` int8.
    lookback
        Steps per window.
    sites, times
        The cube's site labels and time axis (to label samples).
    report
        Per-site counts (see :func:`build_windows`), or ``None``.
    """

    site_idx: np.ndarray
    end_idx: np.ndarray
    part: np.ndarray
    lookback: int
    sites: np.ndarray
    times: np.ndarray
    report: xr.Dataset | None = None

    def __len__(self) -> int:
        return int(self.site_idx.size)

    def take(self, positions: np.ndarray) -> WindowIndex:
        """Samples at ``positions`` (integer or boolean array)."""
        return dataclasses.replace(
            self,
            site_idx=self.site_idx[positions],
            end_idx=self.end_idx[positions],
            part=self.part[positions],
        )

    def select(self, part: str | int | Sequence[str | int]) -> WindowIndex:
        """Samples of one or several parts (``"train"``, ``"val"``, ``"test"`` or codes)."""
        wanted = [part] if isinstance(part, str | int) else list(part)
        codes = []
        for p in wanted:
            if isinstance(p, str):
                if p not in PARTS:
                    raise WindowError(f"part {p!r}; expected one of {list(PARTS)}")
                codes.append(PARTS[p])
            else:
                codes.append(int(p))
        return self.take(np.isin(self.part, codes))

    def for_sites(self, sites: Sequence[str]) -> WindowIndex:
        """Samples of the named sites only."""
        labels = self.sites.astype(str)
        unknown = sorted(set(sites) - set(labels))
        if unknown:
            raise DataNotFoundError(f"sites {unknown} are not in the window index")
        codes = np.flatnonzero(np.isin(labels, list(sites)))
        return self.take(np.isin(self.site_idx, codes))

    @property
    def sample_sites(self) -> np.ndarray:
        """Site label of each sample."""
        return self.sites[self.site_idx]

    @property
    def sample_times(self) -> np.ndarray:
        """Target time of each sample."""
        return self.times[self.end_idx]

    def to_xarray(self) -> xr.Dataset:
        """The index as a Dataset with dim ``sample`` (site and time labels as coords)."""
        return xr.Dataset(
            {
                "site_idx": ("sample", self.site_idx),
                "end_idx": ("sample", self.end_idx),
                "part": ("sample", self.part),
            },
            coords={"site": ("sample", self.sample_sites), "time": ("sample", self.sample_times)},
            attrs={"lookback": self.lookback},
        )

    @classmethod
    def from_xarray(cls, ds: xr.Dataset, sites: np.ndarray, times: np.ndarray) -> WindowIndex:
        """Rebuild from :meth:`to_xarray` output and the cube's site and time axes."""
        return cls(
            site_idx=ds["site_idx"].values.astype(np.int64),
            end_idx=ds["end_idx"].values.astype(np.int64),
            part=ds["part"].values.astype(np.int8),
            lookback=int(ds.attrs["lookback"]),
            sites=np.asarray(sites),
            times=np.asarray(times),
        )


def complete_windows(missing: np.ndarray, lookback: int) -> np.ndarray:
    """Which windows of ``lookback`` steps have no missing input, by their last step.

    One cumulative sum along time tests every window in O(1):
    ``cs[end + 1] - cs[end + 1 - lookback] == 0``.

    Parameters
    ----------
    missing
        ``(n, time)`` bool: an input is missing at this step (any driver, for sites or
        grid cells).
    lookback
        Steps per window (the last step included).

    Returns
    -------
    numpy.ndarray
        ``(n, time)`` bool: the window ending at each step is complete; False for the first
        ``lookback - 1`` steps (their window begins before the record).

    Examples
    --------
    >>> missing = np.array([[False, False, True, False, False, False]])
    >>> complete_windows(missing, 2).astype(int).tolist()
    [[0, 1, 0, 0, 1, 1]]
    """
    n_site, n_time = missing.shape
    cs = np.zeros((n_site, n_time + 1), dtype=np.int32)
    np.cumsum(missing, axis=1, out=cs[:, 1:])
    complete = np.zeros((n_site, n_time), dtype=bool)
    if lookback <= n_time:
        # window [e-L+1, e]: cs[e+1] - cs[e+1-L]
        complete[:, lookback - 1 :] = (cs[:, lookback:] - cs[:, : n_time + 1 - lookback]) == 0
    return complete


def _check_lookback(ds: xr.Dataset, lookback: int) -> int:
    """The record length; a look-back that is not positive or longer than it raises."""
    if lookback < 1:
        raise WindowError(f"lookback {lookback}: expected a positive number of steps")
    n_time = ds.sizes["time"]
    if lookback > n_time:
        raise WindowError(
            f"look-back of {lookback} steps is longer than the record ({n_time} steps from "
            f"{str(ds.time.values[0])[:10]} to {str(ds.time.values[-1])[:10]}); shorten "
            "windows.lookback or extend data.period"
        )
    return n_time


def _target_present(ds: xr.Dataset, target: str | None, require_target: bool):
    """``(site, time)`` bool, lazy where ``ds`` is: a valid target (``None``: no target)."""
    if target is not None:
        if target not in ds:
            raise DataNotFoundError(
                f"target {target!r} is not in the cube; it has {sorted(ds.data_vars)}"
            )
        return ds[target].transpose("site", "time").notnull().data
    if require_target:
        raise WindowError("require_target=True needs a target variable")
    return None


def _presence_masks(
    ds: xr.Dataset,
    drivers: Sequence[str],
    target: str | None,
    require_target: bool,
    split: xr.Dataset | None,
    features: xr.Dataset | None,
    fill_gaps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Driver presence ``(driver, site, time)``, valid target and split part, as numpy.

    Only these boolean/int8 index masks are computed, all in one Dask pass (lazy cubes
    stay lazy otherwise); driver gaps up to ``fill_gaps`` steps count as present, as
    :func:`input_features` fills them.
    """
    source = ds if features is None else features
    missing = [d for d in drivers if d not in source]
    if missing:
        where = "cube" if features is None else "features"
        raise DataNotFoundError(
            f"drivers {missing} are not in the {where}; it has {sorted(source.data_vars)}"
        )
    lazy = [source[d].transpose("site", "time").notnull().data for d in drivers]
    lazy.append(_target_present(ds, target, require_target))
    lazy.append(None if split is None else split["part"].transpose("site", "time").data)
    *present, target_ok, part = dask.compute(*lazy)
    present = np.stack([np.asarray(m, dtype=bool) for m in present])
    if features is None and fill_gaps > 0:
        marks = np.where(present, np.float32(1.0), np.float32(np.nan))
        present |= fill_short_gaps(marks, fill_gaps)[1]
    if target_ok is None:
        target_ok = np.ones((ds.sizes["site"], ds.sizes["time"]), dtype=bool)
    return present, np.asarray(target_ok, dtype=bool), part


def _check_targets(
    target_ok: np.ndarray,
    present: np.ndarray,
    drivers: Sequence[str],
    sites: np.ndarray,
    target: str | None,
) -> None:
    """Some target is valid, and every driver has data at every site with targets."""
    if not target_ok.any():
        raise WindowError(
            f"every {target!r} value is missing or masked; relax data.qc_threshold or "
            "choose other sites / period"
        )
    has_target = target_ok.any(axis=1)
    for d, name in enumerate(drivers):
        lacking = has_target & ~present[d].any(axis=1)
        if lacking.any():
            bad = sites[np.flatnonzero(lacking)].astype(str).tolist()
            raise WindowError(
                f"driver {name!r} is missing at site(s) {bad}, which have {target!r} "
                "values; drop these sites (data.exclude_sites) or choose drivers they have"
            )


def _split_parts(
    split: np.ndarray | None, n_site: int, n_time: int, usable: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Part code of every step (0 without a split) and whether it is in the split."""
    if split is None:
        return np.zeros((n_site, n_time), dtype=np.int8), np.ones_like(usable)
    part = np.asarray(split, dtype=np.int8)
    if part.shape != usable.shape:
        raise WindowError(
            f"split grid {part.shape} differs from the cube {usable.shape}; "
            "build the split from this cube"
        )
    return part, part != UNUSED


def build_windows(
    ds: xr.Dataset,
    drivers: Sequence[str],
    target: str | None,
    lookback: int,
    *,
    split: xr.Dataset | None = None,
    fill_gaps: int = 0,
    require_target: bool = True,
    features: xr.Dataset | None = None,
) -> WindowIndex:
    """Index every valid sequence-to-one sample of a site cube, vectorised.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)``, targets already QC-masked (masked = NaN).
    drivers
        Driver variables whose windows must be complete.
    target
        Target variable (``None`` with ``require_target=False`` indexes input windows only,
        e.g. for prediction on new drivers).
    lookback
        Steps per input window (the target step included).
    split
        Optional split; samples take the part of their target step and ``unused`` samples
        are dropped.
    fill_gaps
        Driver gaps up to this many steps count as complete (they are filled by
        :func:`input_features` with the same rule).
    require_target
        Keep only samples with a valid target.
    features
        Already-built :func:`input_features` output (avoids filling twice).

    Returns
    -------
    WindowIndex
        Samples sorted by site then time. ``report`` (site): ``n_target`` valid target
        values, ``n_windows`` samples kept, ``incomplete_input`` targets dropped because
        their window had missing drivers (or began before the record), ``unused_part``
        targets outside the split.

    Raises
    ------
    WindowError
        If ``lookback`` exceeds the record, a driver is missing entirely at a site that has
        targets, every target is masked, or no sample remains.
    DataNotFoundError
        If a driver or the target is not in the cube.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube()
    >>> idx = build_windows(cube, ["ta", "vpd"], "nee", lookback=30)
    >>> int(idx.report.n_windows.sum()) == len(idx)
    True
    """
    n_time = _check_lookback(ds, lookback)
    sites = ds["site"].values
    present, target_ok, split_part = _presence_masks(
        ds, drivers, target, require_target, split, features, fill_gaps
    )
    if require_target:
        _check_targets(target_ok, present, drivers, sites, target)
    complete = complete_windows(~present.all(axis=0), lookback)
    usable = complete & target_ok
    part, in_split = _split_parts(split_part, ds.sizes["site"], n_time, usable)
    keep = usable & in_split
    site_idx, end_idx = np.nonzero(keep)
    report = xr.Dataset(
        {
            "n_target": ("site", target_ok.sum(axis=1).astype(np.int64)),
            "n_windows": ("site", keep.sum(axis=1).astype(np.int64)),
            "incomplete_input": ("site", (target_ok & ~complete).sum(axis=1).astype(np.int64)),
            "unused_part": ("site", (usable & ~in_split).sum(axis=1).astype(np.int64)),
        },
        coords={"site": sites},
        attrs={
            "lookback": lookback,
            "drivers": list(drivers),
            "target": target or "",
            "fill_gaps": fill_gaps,
        },
    )
    if site_idx.size == 0:
        raise WindowError(
            f"no complete {lookback}-step window ends on a valid {target!r} value; shorten "
            "windows.lookback, allow windows.fill_gaps, or check drivers and QC"
        )
    return WindowIndex(
        site_idx=site_idx.astype(np.int64),
        end_idx=end_idx.astype(np.int64),
        part=part[site_idx, end_idx].astype(np.int8),
        lookback=int(lookback),
        sites=sites,
        times=ds["time"].values,
        report=report,
    )


def windows(ds: xr.Dataset, **kwargs: Any) -> WindowIndex:
    """Alias of :func:`build_windows` used by the ``ds.fluxgrid.windows`` accessor."""
    return build_windows(ds, **kwargs)
