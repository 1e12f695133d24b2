"""Shared pieces of the per-series preparation steps (gap filling, SSA, window inputs).

Each of these steps works along ``time`` one series at a time, vectorised over sites:
:func:`valid_neighbours` gives every step the positions of the nearest observed values on
either side (running maxima and minima, no loop over gaps) and :func:`interpolate_between`
the straight line between them; :func:`one_time_chunk` prepares a Dask-backed variable for
``xr.apply_ufunc(..., dask="parallelized")`` over site chunks; :func:`series_variables` and
:func:`require_variables` choose and check the variables a step works on.

Examples
--------
>>> x = np.array([[1.0, np.nan, np.nan, 4.0]])
>>> prev, nxt = valid_neighbours(~np.isnan(x))
>>> prev.tolist(), nxt.tolist()
([[0, 0, 0, 3]], [[0, 3, 3, 3]])
>>> interpolate_between(x, prev, nxt).tolist()
[[1.0, 2.0, 3.0, 4.0]]
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import xarray as xr

from ..errors import ColumnError

__all__ = [
    "COMPANIONS",
    "interpolate_between",
    "name_list",
    "one_time_chunk",
    "require_variables",
    "series_variables",
    "valid_neighbours",
]

#: suffixes of companion variables (QC flags, gap-fill flags), never worked on themselves
COMPANIONS = ("_qc", "_filled")


def valid_neighbours(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the previous and next valid step of every step, along the last axis.

    Parameters
    ----------
    valid
        Boolean array ``(..., time)``.

    Returns
    -------
    prev, nxt : numpy.ndarray
        int64 arrays of ``valid``'s shape: the last valid position at or before each step
        (-1 where there is none) and the first at or after it (``n_time`` where there is
        none). A valid step is its own neighbour on both sides.
    """
    n = valid.shape[-1]
    pos = np.arange(n)
    prev = np.maximum.accumulate(np.where(valid, pos, -1), axis=-1)
    nxt = np.where(valid, pos, n)
    nxt = np.flip(np.minimum.accumulate(np.flip(nxt, axis=-1), axis=-1), axis=-1)
    return prev, nxt


def interpolate_between(values: np.ndarray, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """The straight line between each step's neighbours (:func:`valid_neighbours`).

    Parameters
    ----------
    values
        Array ``(..., time)``.
    prev, nxt
        Neighbour positions from :func:`valid_neighbours`.

    Returns
    -------
    numpy.ndarray
        ``values[prev] + (values[nxt] - values[prev]) * (t - prev) / (nxt - prev)`` at every
        step (the value itself at valid steps); meaningful only where both neighbours exist.
    """
    n = values.shape[-1]
    pos = np.arange(n)
    left = np.take_along_axis(values, np.clip(prev, 0, n - 1), axis=-1)
    right = np.take_along_axis(values, np.clip(nxt, 0, n - 1), axis=-1)
    return left + (right - left) * ((pos - prev) / np.maximum(nxt - prev, 1))


def one_time_chunk(da: xr.DataArray) -> xr.DataArray:
    """Make ``time`` one chunk of a Dask-backed array, rechunking the data only.

    (``DataArray.chunk`` would also rechunk Dask-backed object coordinates such as ``igbp``,
    which makes xarray compute them to look for cftime objects.)

    Examples
    --------
    >>> da = xr.DataArray(np.zeros((2, 6)), dims=("site", "time")).chunk({"time": 2})
    >>> one_time_chunk(da).chunks
    ((2,), (6,))
    """
    if da.chunks is None:
        return da
    axis = da.get_axis_num("time")
    if len(da.chunks[axis]) == 1:
        return da
    return da.copy(data=da.data.rechunk({axis: -1}))


def series_variables(ds: xr.Dataset) -> list[Hashable]:
    """Float variables with a ``time`` dim that are not ``*_qc`` / ``*_filled`` companions.

    Examples
    --------
    >>> ds = xr.Dataset({"ta": ("time", [1.0]), "ta_qc": ("time", [0.0]), "n": ("time", [1])})
    >>> series_variables(ds)
    ['ta']
    """
    return [
        v
        for v in ds.data_vars
        if "time" in ds[v].dims
        and np.issubdtype(ds[v].dtype, np.floating)
        and not str(v).endswith(COMPANIONS)
    ]


def name_list(variables: str | Sequence[str]) -> list[str]:
    """One name or several, as a list."""
    return [variables] if isinstance(variables, str) else list(variables)


def require_variables(ds: xr.Dataset, names: Sequence[str], *, where: str = "dataset") -> None:
    """Raise :class:`~fluxgrid.errors.ColumnError` for the first name not in ``ds``.

    Parameters
    ----------
    ds
        The dataset.
    names
        Variables asked for.
    where
        How the message calls ``ds`` (``"dataset"``, ``"cube"``).
    """
    missing = [v for v in names if v not in ds.data_vars]
    if missing:
        raise ColumnError(
            missing[0], expected=f"a variable of the {where}", found=str(list(ds.data_vars))
        )
