"""iLSTM attention: temporal (alpha) and variable (beta) attention averaged over windows.

:func:`attention_summary` averages the attention of an iLSTM (from
:meth:`fluxgrid.runs.TrainedRun.attention`) per site, vegetation type, month, year or over
all windows; :func:`label_igbp` attaches each window's IGBP class first.
:class:`AttentionExplainer` is ``fluxgrid explain --method attention``.

Examples
--------
>>> att = xr.Dataset({"beta": (("sample", "variable"), [[0.25, 0.75], [0.75, 0.25]]),
...                   "alpha": (("sample", "variable", "lag"), np.full((2, 2, 2), 0.5))},
...                  coords={"variable": ["ta", "vpd"], "time": ("sample", [0, 1])})
>>> attention_summary(att, by=None).beta.values.tolist()
[0.5, 0.5]
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import DataNotFoundError, ModelError
from ..plots.explain import plot_attention
from ..runs import TrainedRun, load_run
from .base import Explainer, ExplainOptions, register_explainer

__all__ = ["AttentionExplainer", "attention_summary", "label_igbp"]


def label_igbp(attention: xr.Dataset, cube: xr.Dataset) -> xr.Dataset:
    """Attach each window's IGBP class (coord ``igbp`` on ``sample``) from the site cube.

    Parameters
    ----------
    attention
        Output of :meth:`fluxgrid.runs.TrainedRun.attention` (coord ``site`` on ``sample``).
    cube
        Site cube with an ``igbp`` coordinate (returned unchanged without one).

    Returns
    -------
    xarray.Dataset
    """
    if "igbp" not in cube.coords:
        return attention
    lookup = dict(zip(cube.site.values.astype(str), cube.igbp.values.astype(str), strict=True))
    return attention.assign_coords(
        igbp=("sample", [lookup[s] for s in attention.site.values.astype(str)])
    )


def _in_period(att: xr.Dataset, period: tuple[Any, Any] | None) -> xr.Dataset:
    """The windows whose target day falls within ``period`` (all without one)."""
    if period is None:
        return att
    t = pd.DatetimeIndex(att["time"].values)
    keep = (t >= pd.Timestamp(str(period[0]))) & (t <= pd.Timestamp(str(period[1])))
    att = att.isel(sample=np.flatnonzero(keep))
    if att.sizes["sample"] == 0:
        raise DataNotFoundError(f"no window ends within period {list(period)}")
    return att


def _labels(att: xr.Dataset, by: str | None) -> np.ndarray | None:
    """Each window's group for ``by`` (``None``: one group)."""
    if by is None:
        return None
    if by in ("site", "igbp"):
        if by not in att.coords:
            raise DataNotFoundError(f"the attention windows carry no {by!r} label")
        return att[by].values.astype(str)
    if by in ("month", "year"):
        t = pd.DatetimeIndex(att["time"].values)
        return (t.month if by == "month" else t.year).to_numpy()
    raise DataNotFoundError(f"by={by!r}; use site, igbp, month, year or None")


def _averaged(att: xr.Dataset, labels: np.ndarray | None, by: str | None) -> xr.Dataset:
    """Mean alpha and beta (and the spread of beta) per group of windows."""
    alpha, beta = att["alpha"], att["beta"]
    if labels is None:
        return xr.Dataset(
            {
                "alpha": alpha.mean("sample"),
                "beta": beta.mean("sample"),
                "beta_std": beta.std("sample"),
                "n_windows": ((), att.sizes["sample"]),
            }
        )
    key = xr.DataArray(labels, dims="sample", name=by)
    return xr.Dataset(
        {
            "alpha": alpha.groupby(key).mean("sample"),
            "beta": beta.groupby(key).mean("sample"),
            "beta_std": beta.groupby(key).std("sample"),
            "n_windows": key.groupby(key).count(),
        }
    )


def attention_summary(
    attention: xr.Dataset | TrainedRun | str | os.PathLike,
    data: xr.Dataset | None = None,
    *,
    part: str | None = "test",
    by: str | None = "site",
    period: tuple[Any, Any] | None = None,
) -> xr.Dataset:
    """Attention of an iLSTM averaged per site (or vegetation type, month, year, or overall).

    Parameters
    ----------
    attention
        Output of :meth:`fluxgrid.runs.TrainedRun.attention` (``alpha`` (sample, variable,
        lag), ``beta`` (sample, variable)), or a run (object or directory) with ``data``.
    data
        Site cube, when ``attention`` is a run.
    part
        Split part whose windows are read (when computing from a run).
    by
        ``"site"``, ``"igbp"``, ``"month"``, ``"year"`` or ``None`` (all windows together).
    period
        ``(start, end)`` dates: only windows whose target day falls in it.

    Returns
    -------
    xarray.Dataset
        ``alpha`` (group, driver, lag): mean temporal attention (sums to 1 over lags);
        ``beta`` (group, driver): mean variable attention (sums to 1 over drivers);
        ``beta_std`` (group, driver); ``n_windows`` (group). The group dim is named after
        ``by`` (absent when ``by=None``).

    Raises
    ------
    ModelError
        If the model is not an iLSTM.
    DataNotFoundError
        No window in ``period``, or a grouping the windows cannot be labelled by.

    Examples
    --------
    >>> att = run.attention(cube, part="test")                           # doctest: +SKIP
    >>> summary = attention_summary(att, by="site")                      # doctest: +SKIP
    >>> summary.beta.sel(site="US-MMS").to_series()                      # doctest: +SKIP
    """
    if isinstance(attention, str | os.PathLike):
        attention = load_run(attention)
    if isinstance(attention, TrainedRun):
        if data is None:
            raise DataNotFoundError("attention_summary of a run needs the site cube (data=)")
        attention = label_igbp(attention.attention(data, part=part), data)
    for name in ("alpha", "beta"):
        if name not in attention:
            raise ModelError(
                f"no {name!r} in the attention dataset; attention exists for 'ilstm' models "
                "(TrainedRun.attention)"
            )
    att = attention.rename(variable="driver") if "variable" in attention.dims else attention
    att = _in_period(att, period)
    out = _averaged(att, _labels(att, by), by)
    out = out.drop_vars([c for c in ("site", "time", "igbp") if c in out.coords and c != by])
    out["alpha"].attrs = {
        "long_name": "mean temporal attention (lag 0 = target step)",
        "units": "1",
    }
    out["beta"].attrs = {"long_name": "mean variable attention", "units": "1"}
    out["beta_std"].attrs = {"long_name": "standard deviation of variable attention", "units": "1"}
    out.attrs = {"method": "iLSTM attention", "grouping": by or "all", "part": part or "all"}
    return out


@register_explainer("attention")
class AttentionExplainer(Explainer):
    """``fluxgrid explain --method attention``: iLSTM attention per group, per-window figure."""

    name = "attention"

    def compute(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """Per-window attention of ``options.part``, labelled with the IGBP class."""
        return label_igbp(run.attention(cube, part=options.part), cube)

    def summarise(self, computed: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """:func:`attention_summary` grouped by ``options.by`` (what is written)."""
        return attention_summary(computed, by=options.by)

    def figure(self, computed: xr.Dataset, options: ExplainOptions) -> Any:
        """:func:`~fluxgrid.plots.plot_attention` of the per-window attention."""
        return plot_attention(computed)

    def table(self, result: xr.Dataset, options: ExplainOptions) -> tuple[str, pd.DataFrame]:
        """Mean variable attention beta per group."""
        heading = f"mean variable attention beta ({options.part} windows):"
        return heading, pd.DataFrame(result.beta.to_pandas())
