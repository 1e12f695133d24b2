"""Quality control of flux targets, with a report of what was removed and why.

Daily (or monthly) targets are masked where their QC fraction is below a threshold (0.7 in
the GPP study), negative GPP is masked, and sites left with too few valid target values are
dropped. The report is an :class:`xarray.Dataset` of counts per site and reason, so it can be
saved, plotted or summed like any other result.

Examples
--------
>>> from fluxgrid.testing import load_demo_cube
>>> daily = load_demo_cube()                     # doctest: +SKIP
>>> clean, report = qc_mask(daily)               # doctest: +SKIP
>>> int(report.removed.sel(reason="low_qc").sum())  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from .. import catalog
from ..errors import ColumnError, ConfigError, DataNotFoundError

__all__ = ["REASONS", "qc_mask"]

#: reasons a target value or site is removed, in the order they are applied
REASONS = ("missing", "low_qc", "negative_gpp", "site_dropped")


def qc_mask(
    ds: xr.Dataset,
    *,
    threshold: float = 0.7,
    targets: Sequence[str] | None = None,
    drop_negative_gpp: bool = True,
    min_valid_fraction: float = 0.6,
    period: slice | None = None,
) -> tuple[xr.Dataset, xr.Dataset]:
    """Mask targets by QC fraction and sign; drop sites with too little valid data.

    Parameters
    ----------
    ds
        Daily or monthly site cube, dims ``(site, time)``, with ``<var>_qc`` fractions
        (GPP and RECO use ``nee_qc``).
    threshold
        Target values whose QC fraction is below this become missing.
    targets
        Target variables (default: those of ``nee, gpp_nt, gpp_dt, reco_nt, reco_dt`` present).
    drop_negative_gpp
        Mask negative ``gpp_*`` values.
    min_valid_fraction
        A site is dropped when, for any target, the share of its record (days from its first
        to its last present driver or target value, or ``period``) holding a valid target
        value is below this.
    period
        Time slice over which the valid share is computed (default: each site's own record).

    Returns
    -------
    masked : xarray.Dataset
        The cube with masked targets, without the dropped sites.
    report : xarray.Dataset
        ``removed`` (site, target, reason): values removed per reason (``site_dropped``
        counts the valid values lost with the site); ``valid_fraction`` (site, target);
        ``dropped`` (site) boolean. Attributes give the thresholds.

    Raises
    ------
    ColumnError
        If a target has no QC companion.
    ConfigError
        If ``threshold`` or ``min_valid_fraction`` is outside [0, 1].
    DataNotFoundError
        If none of ``targets`` is in the cube.
    """
    if not 0 <= threshold <= 1:
        raise ConfigError(
            f"QC threshold {threshold}: expected a QC fraction between 0 and 1, e.g. 0.7 "
            "(qc_mask threshold=; command line: --qc; experiment config: data.qc_threshold)"
        )
    if not 0 <= min_valid_fraction <= 1:
        raise ConfigError(
            f"min_valid_fraction {min_valid_fraction}: expected a share between 0 and 1, e.g. "
            "0.6 (command line: --min-valid-fraction; experiment config: "
            "data.min_valid_fraction)"
        )
    names = _target_names(ds, targets)
    record = _site_record(ds)
    masked = ds.copy()
    removed, valid = [], []
    for name in names:
        kept, counts = _mask_target(ds, name, record, threshold, drop_negative_gpp)
        masked[name] = ds[name].where(kept)
        removed.append(counts)
        valid.append(kept)

    keep_stack = xr.concat(valid, dim="target").assign_coords(target=names)
    if period is None:
        n_record = record.sum("time")
    else:
        keep_stack = keep_stack.sel(time=period)
        n_record = xr.full_like(record.isel(time=0), keep_stack.sizes["time"], dtype="int64")
    valid_fraction = (keep_stack.sum("time") / n_record.where(n_record > 0)).fillna(0.0)
    dropped = (valid_fraction < min_valid_fraction).any("target")

    removed_da = xr.concat(removed, dim="target").assign_coords(target=names)
    site_loss = keep_stack.sum("time").where(dropped, 0).expand_dims(reason=1)
    removed_da = xr.concat([removed_da, site_loss], dim="reason").assign_coords(
        reason=list(REASONS)
    )
    report = _report(
        removed_da, valid_fraction, dropped, threshold, min_valid_fraction, drop_negative_gpp
    ).compute()
    kept_sites = report.site.values[~report.dropped.values]
    masked = masked.sel(site=kept_sites)
    masked.attrs = {
        **ds.attrs,
        "history": (
            ds.attrs.get("history", "") + f"\nfluxgrid.qc_mask(threshold={threshold}, "
            f"min_valid_fraction={min_valid_fraction})"
        ).strip(),
    }
    return masked, report


def _target_names(ds: xr.Dataset, targets: Sequence[str] | None) -> list[str]:
    """The targets to mask: those asked for (all must exist) or the default ones present."""
    default = ("nee", "gpp_nt", "gpp_dt", "reco_nt", "reco_dt")
    names = [t for t in (targets or default) if t in ds.data_vars]
    if targets is not None and len(names) < len(targets):
        missing = sorted(set(targets) - set(names))
        raise DataNotFoundError(
            f"targets {missing} are not in the cube; it has {list(ds.data_vars)}"
        )
    if not names:
        raise DataNotFoundError(f"none of the targets {list(default)} is in the cube")
    return names


def _site_record(ds: xr.Dataset) -> xr.DataArray:
    """``(site, time)`` bool: any non-QC variable of the cube has data (a site's record)."""
    return xr.concat(
        [
            ds[v].notnull()
            for v in ds.data_vars
            if ds[v].dims == ("site", "time") and not v.endswith("_qc")
        ],
        "v",
    ).any("v")


def _mask_target(
    ds: xr.Dataset, name: str, record: xr.DataArray, threshold: float, drop_negative_gpp: bool
) -> tuple[xr.DataArray, xr.DataArray]:
    """Which values of target ``name`` stay, and the counts removed per reason (site, reason).

    The reasons are the first three of :data:`REASONS`: missing inside the record, QC
    fraction below ``threshold``, negative GPP.
    """
    qc_var = catalog.qc_name(name)
    if qc_var not in ds:
        raise ColumnError(
            qc_var, expected=f"the QC fraction of {name!r} (needed for threshold {threshold})"
        )
    value = ds[name]
    missing = value.isnull()
    missing_in_record = missing & record
    low_qc = ~missing & (ds[qc_var].fillna(0) < threshold)
    keep = ~missing & ~low_qc
    negative = xr.zeros_like(keep)
    if drop_negative_gpp and name.startswith("gpp"):
        negative = keep & (value < 0)
        keep = keep & ~negative
    counts = xr.concat(
        [missing_in_record.sum("time"), low_qc.sum("time"), negative.sum("time")], dim="reason"
    )
    return keep, counts


def _report(
    removed: xr.DataArray,
    valid_fraction: xr.DataArray,
    dropped: xr.DataArray,
    threshold: float,
    min_valid_fraction: float,
    drop_negative_gpp: bool,
) -> xr.Dataset:
    """The QC report dataset with its attributes (lazy for Dask input)."""
    report = xr.Dataset(
        {
            "removed": removed.transpose("site", "target", "reason").astype("int64"),
            "valid_fraction": valid_fraction.transpose("site", "target").astype("float64"),
            "dropped": dropped,
        },
        attrs={
            "qc_threshold": threshold,
            "min_valid_fraction": min_valid_fraction,
            "drop_negative_gpp": int(drop_negative_gpp),
            "description": "values removed per site, target and reason by fluxgrid.qc_mask",
        },
    )
    report["removed"].attrs = {"long_name": "number of target values removed", "units": "1"}
    report["valid_fraction"].attrs = {
        "long_name": "share of the site record with a valid target",
        "units": "1",
    }
    return report
