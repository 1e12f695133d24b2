"""Relative contribution of each driver: its share of the mean absolute attribution, in percent.

Pure xarray (no model is needed), so figures can summarise saved SHAP results
(:func:`fluxgrid.plots.plot_shap_summary`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import xarray as xr

from ..errors import DataNotFoundError

__all__ = ["relative_contribution"]


def _labels(da: xr.DataArray, by: str) -> xr.DataArray:
    """Group label of every window (dim ``sample``): month, year or a ``sample`` coordinate."""
    if by in ("month", "year"):
        t = pd.DatetimeIndex(da["time"].values)
        labels = (t.month if by == "month" else t.year).to_numpy()
    elif by in da.coords:
        labels = da[by].values
    else:
        raise DataNotFoundError(f"the attributions carry no {by!r} label; use site or igbp")
    return xr.DataArray(labels, dims="sample", name=by)


def relative_contribution(
    values: xr.Dataset | xr.DataArray,
    *,
    by: str | None = "site",
    drivers: Sequence[str] | None = None,
) -> xr.DataArray:
    """Share of each driver in percent: mean |attribution| per driver over the sum of drivers.

    Parameters
    ----------
    values
        :func:`~fluxgrid.explain.shap_values` output (its ``shap`` variable, dims
        ``(sample, driver)``) or a DataArray of per-window attributions with those dims and
        ``site``/``igbp``/``time`` coords on ``sample``.
    by
        ``"site"``, ``"igbp"`` (vegetation type), ``"month"``, ``"year"`` or ``None``
        (all windows).
    drivers
        Drivers the shares are taken among (default: all on the ``driver`` dim).

    Returns
    -------
    xarray.DataArray
        Percent, dims ``(group, driver)`` (``(driver,)`` with ``by=None``); each group sums
        to 100.

    Examples
    --------
    >>> import numpy as np
    >>> phi = xr.DataArray([[1.0, -3.0], [-1.0, 1.0]], dims=("sample", "driver"),
    ...                    coords={"driver": ["ta", "vpd"], "site": ("sample", ["A", "A"])})
    >>> relative_contribution(phi, by="site").values.round(1).tolist()
    [[33.3, 66.7]]
    """
    da = values["shap"] if isinstance(values, xr.Dataset) else values
    if "sample" not in da.dims or "driver" not in da.dims:
        raise DataNotFoundError(
            f"attributions need dims (sample, driver), got {list(da.dims)}; pass shap_values(...)"
        )
    if "lag" in da.dims:
        da = da.sum("lag")
    if drivers is not None:
        missing = [d for d in drivers if d not in da["driver"].values]
        if missing:
            raise DataNotFoundError(f"drivers {missing} are not among {da.driver.values.tolist()}")
        da = da.sel(driver=list(drivers))
    mag = abs(da)
    if by is None:
        mean = mag.mean("sample")
    else:
        mean = mag.groupby(_labels(da, by)).mean("sample")
    total = mean.sum("driver")
    share = 100.0 * mean / total.where(total > 0)
    share = share.drop_vars([c for c in share.coords if c not in share.dims])
    share.name = "relative_contribution"
    share.attrs = {"long_name": "share of mean |SHAP| among the drivers", "units": "%"}
    return share
