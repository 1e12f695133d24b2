"""Train / validation / test splits as data: one ``part`` code per (site, time).

A split is an :class:`xarray.Dataset` with an ``int8`` variable ``part`` on the cube's
``(site, time)`` grid: 0 unused, 1 train, 2 validation, 3 test (CF ``flag_values`` /
``flag_meanings``). A window belongs to the part of its *target* step. Splits are saved with
every run (``split.nc``), so the exact test days of a result can always be recovered.

Methods: random whole years per site (train:test about 2:1 in the iLSTM study), the last part
of each site's record (temporal hold-out), fixed year ranges, leave-sites-out, leave an IGBP
class out, and site k-fold stratified by IGBP. Validation is carved from the training part
(:func:`carve_validation`), never from the test part, unless a ``year_ranges`` split names
its validation years (``val_years``).

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> cube = load_demo_cube()
>>> split = random_year_split(cube, test_fraction=1 / 3, seed=0)
>>> split = carve_validation(split, cube, method="years", fraction=0.2, seed=0)
>>> summary = split_summary(split, cube)
>>> sorted(summary.part.values.tolist())
['test', 'train', 'unused', 'val']
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from ..config.experiment import SplitConfig
from ..config.serialise import from_dict
from ..errors import DataNotFoundError, SplitError

__all__ = [
    "PARTS",
    "TEST",
    "TRAIN",
    "UNUSED",
    "VAL",
    "as_split",
    "carve_validation",
    "check_split",
    "igbp_split",
    "make_split",
    "no_target_message",
    "random_year_split",
    "site_kfold_split",
    "site_split",
    "split_summary",
    "temporal_split",
    "year_range_split",
]

UNUSED, TRAIN, VAL, TEST = 0, 1, 2, 3
#: part codes by name
PARTS = {"unused": UNUSED, "train": TRAIN, "val": VAL, "test": TEST}


# --------------------------------------------------------------------------- helpers
def _target_valid(ds: xr.Dataset, target: str) -> np.ndarray:
    if target not in ds:
        raise DataNotFoundError(
            f"split target {target!r} is not in the cube; it has {list(ds.data_vars)}"
        )
    return np.asarray(ds[target].transpose("site", "time").notnull().values)


def _years(ds: xr.Dataset) -> np.ndarray:
    return pd.DatetimeIndex(ds["time"].values).year.to_numpy()


def as_split(ds: xr.Dataset, part: np.ndarray, method: str, **attrs: Any) -> xr.Dataset:
    """A split dataset from part codes: ``part`` on the cube's grid, CF flags, settings.

    Parameters
    ----------
    ds
        The site cube the split belongs to (its ``site`` and ``time`` labels, and the
        ``igbp``, ``latitude``, ``longitude`` coordinates where it has them, are copied).
    part
        ``(site, time)`` part codes (:data:`UNUSED`, :data:`TRAIN`, :data:`VAL`, :data:`TEST`).
    method
        Name of the splitting method (``attrs["method"]``).
    **attrs
        Settings recorded as attributes (lists and tuples joined with commas; ``None``
        dropped).

    Returns
    -------
    xarray.Dataset
        ``part`` (site, time) int8 with ``flag_values`` / ``flag_meanings``.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube()
    >>> part = np.full((cube.sizes["site"], cube.sizes["time"]), TRAIN)
    >>> split = as_split(cube, part, "all_train", target="nee", years=(2010, 2011))
    >>> split.attrs
    {'method': 'all_train', 'target': 'nee', 'years': '2010,2011'}
    """
    da = xr.DataArray(
        part.astype(np.int8),
        dims=("site", "time"),
        coords={"site": ds["site"].values, "time": ds["time"].values},
        attrs={
            "long_name": "part of the data a target step belongs to",
            "flag_values": np.array(list(PARTS.values()), dtype=np.int8),
            "flag_meanings": " ".join(PARTS),
        },
    )
    for name in ("igbp", "latitude", "longitude"):
        if name in ds.coords and ds[name].dims == ("site",):
            da = da.assign_coords({name: ("site", ds[name].values)})
    clean = {
        k: (",".join(map(str, v)) if isinstance(v, list | tuple) else v) for k, v in attrs.items()
    }
    clean = {k: v for k, v in clean.items() if v is not None}
    return xr.Dataset({"part": da}, attrs={"method": method, **clean})


def _site_rng(seed: int, site: str) -> np.random.Generator:
    """Random stream of one site, keyed by its label.

    A site draws the same years whether it is split alone or with others, so per-site and
    pooled experiments agree.
    """
    return np.random.default_rng([seed, zlib.crc32(str(site).encode())])


# --------------------------------------------------------------------------- methods
def random_year_split(
    ds: xr.Dataset,
    *,
    target: str = "nee",
    test_fraction: float = 1 / 3,
    seed: int = 0,
) -> xr.Dataset:
    """Whole calendar years per site drawn at random for testing.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)``.
    target
        Variable whose valid values define which years a site has.
    test_fraction
        Share of each site's years used for testing (1/3: the ~2:1 train:test ratio of the
        iLSTM study); at least one year is tested and one trained when a site has two.
    seed
        Seed; each site draws from its own stream keyed by its label (adding or removing
        sites does not change the years of the others).

    Returns
    -------
    xarray.Dataset
        ``part`` (site, time) int8: all days of a test year are test, of a training year
        train, days of years without any valid target unused.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = random_year_split(load_demo_cube(), test_fraction=1 / 3, seed=1)
    >>> int((split.part == TEST).any("time").sum())
    5
    """
    valid = _target_valid(ds, target)
    years = _years(ds)
    uniq = np.unique(years)
    part = np.zeros(valid.shape, dtype=np.int8)
    # years present per site: (site, year)
    has_year = np.stack([valid[:, years == y].any(axis=1) for y in uniq], axis=1)
    labels = ds["site"].values
    for s in range(valid.shape[0]):
        site_years = uniq[has_year[s]]
        if site_years.size == 0:
            continue
        n_test = round(site_years.size * test_fraction)
        n_test = min(max(n_test, 1), max(site_years.size - 1, 1)) if site_years.size > 1 else 0
        test_years = _site_rng(seed, labels[s]).permutation(site_years)[:n_test]
        in_site = np.isin(years, site_years)
        part[s, in_site] = TRAIN
        part[s, np.isin(years, test_years)] = TEST
    return as_split(ds, part, "random_years", target=target, test_fraction=test_fraction, seed=seed)


def temporal_split(
    ds: xr.Dataset, *, target: str = "nee", test_fraction: float = 0.2
) -> xr.Dataset:
    """The last part of each site's record is the test part.

    Parameters
    ----------
    ds
        Site cube.
    target
        Variable whose valid values define the record.
    test_fraction
        Share of each site's valid target values in the test part (0.2: last 20%).

    Returns
    -------
    xarray.Dataset
        ``part``: days from the first valid target to the boundary train, the rest of the
        record test; outside the record unused.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = temporal_split(load_demo_cube(), test_fraction=0.2)
    >>> str(split.part.isel(site=0, time=-1).values)
    '3'
    """
    valid = _target_valid(ds, target)
    n_time = valid.shape[1]
    count = np.cumsum(valid, axis=1)
    total = count[:, -1]
    t = np.arange(n_time)
    first = np.where(total > 0, valid.argmax(axis=1), n_time)
    last = np.where(total > 0, n_time - 1 - valid[:, ::-1].argmax(axis=1), -1)
    n_train = np.floor(total * (1 - test_fraction)).astype(int)
    # first step whose cumulative count exceeds n_train starts the test part
    boundary = (count <= n_train[:, None]).sum(axis=1)
    in_record = (t[None, :] >= first[:, None]) & (t[None, :] <= last[:, None])
    part = np.where(in_record, np.where(t[None, :] < boundary[:, None], TRAIN, TEST), UNUSED)
    return as_split(ds, part, "temporal", target=target, test_fraction=test_fraction)


def year_range_split(
    ds: xr.Dataset,
    *,
    train_years: tuple[int, int],
    test_years: tuple[int, int],
    val_years: tuple[int, int] | None = None,
    target: str = "nee",
) -> xr.Dataset:
    """Fixed calendar-year ranges (inclusive), e.g. train 2016-2018, test 2019-2020.

    Parameters
    ----------
    ds
        Site cube, dims ``(site, time)``.
    train_years, test_years
        ``(first, last)`` years of the training and test parts; disjoint.
    val_years
        ``(first, last)`` years of the validation part (``None``: no validation; carve
        it from the training years with :func:`carve_validation`). They must lie outside
        ``test_years``; validation years inside ``train_years`` leave training.
    target
        Variable whose valid values define which sites have data.

    Returns
    -------
    xarray.Dataset
        ``part`` (site, time); sites without any valid target are unused. With
        ``val_years`` the attributes record ``validation="val_years"`` and the years, and
        :func:`carve_validation` refuses to carve more.

    Raises
    ------
    SplitError
        A range is not ``(first, last)``, train and test overlap, or validation and test
        overlap.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube()
    >>> split = year_range_split(cube, train_years=(2007, 2010), test_years=(2011, 2012))
    >>> int(split.part.sel(time="2011-06-01").isel(site=0))
    3
    >>> split = year_range_split(
    ...     cube, train_years=(2007, 2010), test_years=(2011, 2012), val_years=(2010, 2010)
    ... )
    >>> int(split.part.sel(time="2010-06-01").isel(site=0)), split.attrs["validation"]
    (2, 'val_years')
    """
    ranges = {"train_years": train_years, "test_years": test_years, "val_years": val_years}
    for name, years in ranges.items():
        if years is not None and years[0] > years[1]:
            raise SplitError(f"{name} {list(years)}: give [first, last] years")
    if max(train_years[0], test_years[0]) <= min(train_years[1], test_years[1]):
        raise SplitError(
            f"train_years {list(train_years)} and test_years {list(test_years)} overlap; "
            "make them disjoint"
        )
    if val_years is not None and max(val_years[0], test_years[0]) <= min(
        val_years[1], test_years[1]
    ):
        raise SplitError(
            f"val_years {list(val_years)} overlap test_years {list(test_years)}; validation "
            "years must lie outside the test years"
        )
    valid = _target_valid(ds, target)
    years = _years(ds)
    has_any = valid.any(axis=1, keepdims=True)
    part = np.zeros(valid.shape, dtype=np.int8)
    part[:, (years >= train_years[0]) & (years <= train_years[1])] = TRAIN
    part[:, (years >= test_years[0]) & (years <= test_years[1])] = TEST
    extra: dict[str, Any] = {}
    if val_years is not None:
        part[:, (years >= val_years[0]) & (years <= val_years[1])] = VAL
        extra = {"validation": "val_years", "val_years": val_years}
    part = np.where(has_any, part, UNUSED)
    return as_split(
        ds,
        part,
        "year_ranges",
        target=target,
        train_years=train_years,
        test_years=test_years,
        **extra,
    )


def _by_site(
    ds: xr.Dataset, test_site: np.ndarray, method: str, target: str, **attrs: Any
) -> xr.Dataset:
    """Whole sites to test (``test_site``, ``(site,)`` bool), the others to train."""
    valid = _target_valid(ds, target)
    years = _years(ds)
    # whole years with data (not just valid days) so that validation years can be carved
    uniq = np.unique(years)
    has_year = np.stack([valid[:, years == y].any(axis=1) for y in uniq], axis=1)
    in_years = has_year[:, np.searchsorted(uniq, years)]
    part = np.where(in_years, np.where(test_site[:, None], TEST, TRAIN), UNUSED)
    return as_split(ds, part, method, target=target, **attrs)


def _leave_out(
    ds: xr.Dataset,
    labels: np.ndarray,
    chosen: Sequence[str],
    method: str,
    target: str,
    key: str,
    known: str,
) -> xr.Dataset:
    """Sites whose label (site ID, IGBP class) is in ``chosen`` are test, the others train."""
    unknown = sorted(set(chosen) - set(labels))
    if unknown:
        raise SplitError(f"{key} {unknown} are not in the cube; {known}: {sorted(set(labels))}")
    return _by_site(ds, np.isin(labels, list(chosen)), method, target, **{key: chosen})


def site_split(ds: xr.Dataset, *, test_sites: Sequence[str], target: str = "nee") -> xr.Dataset:
    """Leave sites out: every year of ``test_sites`` is test, other sites train.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = site_split(load_demo_cube(), test_sites=["DE-Hai"])
    >>> int(split.part.sel(site="DE-Hai").max())
    3
    """
    sites = ds["site"].values.astype(str)
    return _leave_out(ds, sites, test_sites, "leave_sites_out", target, "test_sites", "sites")


def igbp_split(ds: xr.Dataset, *, test_igbp: Sequence[str], target: str = "nee") -> xr.Dataset:
    """Leave vegetation classes out: sites of ``test_igbp`` are test, the others train.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = igbp_split(load_demo_cube(), test_igbp=["ENF"])
    >>> int(split.part.sel(site="DE-Tha").max())
    3
    """
    if "igbp" not in ds.coords:
        raise SplitError("leave_igbp_out needs an 'igbp' coordinate (site) on the cube")
    igbp = ds["igbp"].values.astype(str)
    return _leave_out(ds, igbp, test_igbp, "leave_igbp_out", target, "test_igbp", "classes")


def site_kfold_split(
    ds: xr.Dataset, *, n_folds: int = 5, fold: int = 0, seed: int = 0, target: str = "nee"
) -> xr.Dataset:
    """Sites in ``n_folds`` folds stratified by IGBP class; fold ``fold`` is the test part.

    Sites are shuffled within each IGBP class and dealt to folds in turn, so every class is
    spread over the folds.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = site_kfold_split(load_demo_cube(), n_folds=5, fold=0)
    >>> int((split.part == TEST).any("time").sum())
    1
    """
    if not 0 <= fold < n_folds:
        raise SplitError(f"fold {fold} outside 0..{n_folds - 1}")
    n_site = ds.sizes["site"]
    if n_folds > n_site:
        raise SplitError(f"{n_folds} folds for {n_site} sites; use at most {n_site} folds")
    igbp = ds["igbp"].values.astype(str) if "igbp" in ds.coords else np.full(n_site, "")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_site)
    order = order[np.argsort(igbp[order], kind="stable")]  # grouped by class, shuffled within
    folds = np.empty(n_site, dtype=int)
    folds[order] = np.arange(n_site) % n_folds
    return _by_site(ds, folds == fold, "site_kfold", target, n_folds=n_folds, fold=fold, seed=seed)


# --------------------------------------------------------------------------- validation
def _val_years(
    part: np.ndarray, train: np.ndarray, split: xr.Dataset, fraction: float, seed: int
) -> None:
    """Whole training years per site to validation (at least one of two or more), in place."""
    years = _years(split)
    labels = split["site"].values
    for s in range(part.shape[0]):
        site_years = np.unique(years[train[s]])
        if site_years.size < 2:
            continue
        n_val = min(max(round(site_years.size * fraction), 1), site_years.size - 1)
        val_years = _site_rng(seed + 7919, labels[s]).permutation(site_years)[:n_val]
        part[s, train[s] & np.isin(years, val_years)] = VAL


def _val_tail(part: np.ndarray, train: np.ndarray, valid: np.ndarray, fraction: float) -> None:
    """The last ``fraction`` of each site's valid training days to validation, in place."""
    count = np.cumsum(valid & train, axis=1)
    n_keep = np.floor(count[:, -1] * (1 - fraction)).astype(int)
    # boundary: first train step after which the remaining valid days are validation
    part[train & (count > n_keep[:, None])] = VAL


def _val_sites(part: np.ndarray, train: np.ndarray, fraction: float, seed: int) -> None:
    """Whole training sites to validation (at least one, never all), in place."""
    train_sites = np.flatnonzero(train.any(axis=1))
    if train_sites.size < 2:
        raise SplitError(
            "validation 'sites' needs at least two training sites; use 'years' or 'tail'"
        )
    n_val = min(max(round(train_sites.size * fraction), 1), train_sites.size - 1)
    val_sites = np.random.default_rng(seed).permutation(train_sites)[:n_val]
    rows = np.zeros(part.shape[0], dtype=bool)
    rows[val_sites] = True
    part[rows[:, None] & train] = VAL


def carve_validation(
    split: xr.Dataset,
    ds: xr.Dataset | None = None,
    *,
    method: Literal["years", "tail", "sites", "none"] = "years",
    fraction: float = 0.2,
    seed: int = 0,
    target: str | None = None,
) -> xr.Dataset:
    """Move a share of the *training* part to validation; test days are never touched.

    Parameters
    ----------
    split
        A split from one of the split functions.
    ds
        The cube (needed for ``tail`` to count valid target days; otherwise optional).
    method
        ``years``: whole training years per site drawn at random (at least one when a site
        has two or more training years); ``tail``: the last ``fraction`` of each site's
        training days with a valid target; ``sites``: whole training sites (at least one);
        ``none``: no validation.
    fraction
        Share of the training part moved.
    seed
        Seed of the random draws.
    target
        Target variable for ``tail`` (default: the split's ``target`` attribute).

    Returns
    -------
    xarray.Dataset
        A new split (the input is not modified) with ``part == VAL`` days.

    Raises
    ------
    SplitError
        The split already has validation days (``year_ranges`` with ``val_years``):
        carving more would move training days without being asked to.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube()
    >>> split = temporal_split(cube)
    >>> with_val = carve_validation(split, cube, method="tail", fraction=0.25)
    >>> bool(((split.part == TEST) == (with_val.part == TEST)).all())
    True
    """
    if (split["part"].values == VAL).any():
        raise SplitError(
            f"the {split.attrs.get('method', '')} split already has validation days "
            f"(validation {split.attrs.get('validation', '?')!r}, val_years "
            f"{split.attrs.get('val_years', '-')}); carve validation from a split without "
            "them, or drop val_years"
        )
    out = split.copy(deep=True)
    if method == "none" or fraction <= 0:
        out.attrs.update(validation="none", val_fraction=0.0)
        return out
    part = out["part"].values
    train = part == TRAIN
    if method == "years":
        _val_years(part, train, out, fraction, seed)
    elif method == "tail":
        name = target or out.attrs.get("target")
        if ds is None or name is None:
            raise SplitError("validation 'tail' needs the cube and the target variable")
        _val_tail(part, train, _target_valid(ds, name), fraction)
    elif method == "sites":
        _val_sites(part, train, fraction, seed)
    else:
        raise SplitError(f"validation method {method!r}; expected years, tail, sites or none")
    out["part"].values = part
    out.attrs.update(validation=method, val_fraction=fraction, val_seed=seed)
    return out


# --------------------------------------------------------------------------- dispatch
_METHODS: dict[str, Callable[..., xr.Dataset]] = {
    "random_years": lambda ds, c, t: random_year_split(
        ds,
        target=t,
        test_fraction=c.test_fraction if c.test_fraction is not None else 1 / 3,
        seed=c.seed,
    ),
    "temporal": lambda ds, c, t: temporal_split(
        ds, target=t, test_fraction=c.test_fraction if c.test_fraction is not None else 0.2
    ),
    "year_ranges": lambda ds, c, t: year_range_split(
        ds, train_years=c.train_years, test_years=c.test_years, val_years=c.val_years, target=t
    ),
    "leave_sites_out": lambda ds, c, t: site_split(ds, test_sites=c.test_sites, target=t),
    "leave_igbp_out": lambda ds, c, t: igbp_split(ds, test_igbp=c.test_igbp, target=t),
    "site_kfold": lambda ds, c, t: site_kfold_split(
        ds, n_folds=c.n_folds, fold=c.fold, seed=c.seed, target=t
    ),
}


def make_split(
    ds: xr.Dataset, config: SplitConfig | Mapping[str, Any], *, target: str = "nee"
) -> xr.Dataset:
    """Build the split described by a :class:`~fluxgrid.config.experiment.SplitConfig`.

    Parameters
    ----------
    ds
        Site cube (after QC: masked targets do not count as data).
    config
        A ``SplitConfig`` (or a mapping with its keys).
    target
        Target variable.

    Returns
    -------
    xarray.Dataset
        ``part`` (site, time) with train, validation and test days; attributes record the
        method and its settings. :func:`check_split` has passed.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> split = make_split(load_demo_cube(), {"method": "temporal", "validation": "tail"})
    >>> split.attrs["method"], split.attrs["validation"]
    ('temporal', 'tail')
    """
    cfg = config if isinstance(config, SplitConfig) else from_dict(SplitConfig, dict(config))
    if target in ds:  # lazy cube: compute only the target's validity and the coords, once
        valid = ds[target].notnull()
        ds = ds[[target]].assign({target: valid.where(valid)}).compute()
    split = _METHODS[cfg.method](ds, cfg, target)
    if cfg.val_years is None:  # named validation years are the validation part: no carving
        split = carve_validation(
            split,
            ds,
            method=cfg.validation,
            fraction=cfg.val_fraction,
            seed=cfg.seed,
            target=target,
        )
    check_split(split, ds, target=target)
    return split


def no_target_message(ds: xr.Dataset, target: str) -> str:
    """Why nothing can be trained: ``target`` has no valid value in the cube at all.

    Names the period and the sites, so that the data (not the split) is looked at.

    Examples
    --------
    >>> from fluxgrid.testing import load_demo_cube
    >>> cube = load_demo_cube().sel(site=["DE-Hai"], time=slice("2007-01-01", "2007-01-31"))
    >>> print(no_target_message(cube.assign(nee=cube.nee * float("nan")), "nee"))
    ... # doctest: +NORMALIZE_WHITESPACE
    target 'nee' has no valid value in the cube (2007-01-01..2007-01-31, 1 site: DE-Hai): every
    value is missing (-9999 or NaN in the source) or masked by QC; no split can train on it.
    Check data.target, data.period and data.sites, or relax data.qc_threshold
    """
    time = pd.DatetimeIndex(ds["time"].values)
    period = f"{time[0].date()}..{time[-1].date()}" if len(time) else "no time step"
    sites = [str(v) for v in ds["site"].values] if "site" in ds.coords else []
    listing = ", ".join(sites[:5]) + (f" and {len(sites) - 5} more" if len(sites) > 5 else "")
    return (
        f"target {target!r} has no valid value in the cube ({period}, {len(sites)} "
        f"site{'s' if len(sites) != 1 else ''}: {listing}): every value is missing (-9999 or "
        "NaN in the source) or masked by QC; no split can train on it. Check data.target, "
        "data.period and data.sites, or relax data.qc_threshold"
    )


def check_split(split: xr.Dataset, ds: xr.Dataset, *, target: str = "nee") -> None:
    """Refuse a split that leaves no training data or mixes parts on the same step.

    Raises
    ------
    SplitError
        If no valid target value falls in the training part, or the split's grid differs
        from the cube's.
    """
    if split.sizes.get("site") != ds.sizes.get("site") or split.sizes.get("time") != ds.sizes.get(
        "time"
    ):
        raise SplitError(
            f"split grid {dict(split.sizes)} differs from the cube {dict(ds.sizes)}; "
            "build the split from this cube"
        )
    valid = _target_valid(ds, target)
    if not valid.any():
        raise SplitError(no_target_message(ds, target))
    part = split["part"].values
    n_train = int((valid & (part == TRAIN)).sum())
    if n_train == 0:
        raise SplitError(
            f"the split ({split.attrs.get('method')}) leaves no valid {target!r} value for "
            "training; lower test_fraction / val_fraction, choose other years or sites, or "
            "relax the QC threshold"
        )


def split_summary(split: xr.Dataset, ds: xr.Dataset, *, target: str | None = None) -> xr.Dataset:
    """Valid target values per site and part.

    Returns
    -------
    xarray.Dataset
        ``n_values`` (site, part) int64 and ``years`` (site, part): the calendar years of
        each part as a comma-separated string.
    """
    name = target or split.attrs.get("target", "nee")
    valid = _target_valid(ds, name)
    part = split["part"].values
    years = _years(split)
    counts = np.stack([(valid & (part == code)).sum(axis=1) for code in PARTS.values()], axis=1)
    year_lists = np.array(
        [
            [",".join(map(str, np.unique(years[part[s] == code]))) for code in PARTS.values()]
            for s in range(part.shape[0])
        ],
        dtype=object,
    )
    coords = {"site": split["site"].values, "part": list(PARTS)}
    return xr.Dataset(
        {
            "n_values": (("site", "part"), counts.astype(np.int64), {"units": "1"}),
            "years": (("site", "part"), year_lists),
        },
        coords=coords,
        attrs={"target": name, "method": split.attrs.get("method", "")},
    )
