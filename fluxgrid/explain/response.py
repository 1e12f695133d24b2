"""Response surfaces: the mean prediction when two drivers are shifted, with a data mask.

:func:`response_surface` shifts every window's look-back of two drivers over a grid of
offsets (the other inputs as observed), predicts all shifted windows in stacked forward
passes and marks the grid points where the shifted drivers leave the observed joint
distribution. :class:`ResponseExplainer` is ``fluxgrid explain --method response``.

Examples
--------
>>> offsets(None, np.array([0.0, 2.0])).tolist()
[-2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import xarray as xr

from .._docstring import fill_doc
from .._lazy import lazy_import
from .._progress import track
from ..errors import ConfigError, DataNotFoundError, ModelError
from ..plots.explain import plot_response_surface
from .base import Explainer, ExplainOptions, register_explainer
from .target import (
    EXPLAIN_DOCS,
    ExplainTarget,
    reference_windows,
    resolve_target,
    subsample,
    units_of,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..models.base import FluxModel
    from ..runs import TrainedRun
    from ..tensors import WindowCube
    from ..windows import WindowIndex

__all__ = ["ResponseExplainer", "offsets", "response_surface"]

#: windows per one-step gather of target-day values
_GATHER = 65536


def offsets(given: Sequence[float] | None, values: np.ndarray) -> np.ndarray:
    """Offsets of a driver: ``given``, or 9 from -2 to +2 standard deviations of ``values``.

    Parameters
    ----------
    given
        Offsets in the driver's units, or ``None``.
    values
        The driver on the windows' target days (physical units).

    Returns
    -------
    numpy.ndarray
        float64 offsets.
    """
    if given is not None:
        return np.asarray(given, dtype=np.float64)
    return np.asarray(np.linspace(-2, 2, 9) * np.std(values), dtype=np.float64)


def _target_day_values(
    target: ExplainTarget, idx: WindowIndex, cols: tuple[int, int], names: tuple[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The two drivers on the target days of ``idx``, physical units (one-step gathers)."""
    last = np.empty((len(idx), 2))
    for start in range(0, len(idx), _GATHER):
        sl = slice(start, min(start + _GATHER, len(idx)))
        xb, _ = target.cube.gather(idx.site_idx[sl], idx.end_idx[sl], 1)
        last[sl] = xb[:, 0, list(cols)].float().cpu().numpy()
    (x, y), scale, center = names, target.input_scale, target.input_center
    return (
        last[:, 0] * scale.get(x, 1.0) + center.get(x, 0.0),
        last[:, 1] * scale.get(y, 1.0) + center.get(y, 0.0),
    )


def _shifted_predictions(
    target: ExplainTarget,
    index: WindowIndex,
    cols: tuple[int, int],
    shifts: tuple[np.ndarray, np.ndarray],
    batch_size: int,
    progress: bool | None = None,
) -> np.ndarray:
    """Predictions (target units) at every grid point ``(grid + 1, window)``; last: unshifted.

    ``shifts`` are the two drivers' offsets per grid point in scaled units.
    """
    torch = lazy_import("torch")
    cube, fmodel, lookback = target.cube, target.model, target.lookback
    grid, n = shifts[0].size, len(index)
    shift = torch.zeros((grid + 1, 1, 1, len(target.features)), dtype=torch.float32)
    for col, values in zip(cols, shifts, strict=True):
        shift[:grid, 0, 0, col] = torch.as_tensor(values, dtype=torch.float32)
    shift = shift.to(cube.device)  # the last grid point is the unshifted baseline
    preds = np.empty((grid + 1, n), dtype=np.float32)
    chunk = max(1, batch_size // (grid + 1))
    desc = f"response surface, {n} windows x {grid} points"
    for start in track(range(0, n, chunk), desc=desc, show=progress):
        sl = slice(start, min(start + chunk, n))
        xb, _ = cube.gather(index.site_idx[sl], index.end_idx[sl], lookback)
        stacked = xb.unsqueeze(0) + shift
        out = fmodel.predict_batch(stacked.reshape(-1, lookback, xb.shape[-1]))
        preds[:, sl] = out.float().cpu().numpy().reshape(grid + 1, -1)
    return target.to_target_units(preds)


def _supported(
    shown: tuple[np.ndarray, np.ndarray],
    observed: tuple[np.ndarray, np.ndarray],
    grid: tuple[np.ndarray, np.ndarray],
    bins: int,
    min_count: int,
) -> np.ndarray:
    """Whether each shifted window's ``(x, y)`` lies in the observed joint distribution.

    The observed pairs are binned on ``bins x bins`` cells covering every observed and
    shifted value; a shifted window is supported when its cell holds ``min_count`` pairs.
    Returns ``(grid point, window)`` booleans.
    """
    edges, cells = [], []
    for v, r, g in zip(shown, observed, grid, strict=True):
        lo = min(v.min() + g.min(), r.min())
        hi = max(v.max() + g.max(), r.max())
        e = np.linspace(lo, hi, bins + 1)
        edges.append(e)
        shifted = v[None, :] + g[:, None]
        cells.append(np.clip(np.searchsorted(e, shifted, side="right") - 1, 0, bins - 1))
    counts, _, _ = np.histogram2d(observed[0], observed[1], bins=edges)
    return counts[cells[0], cells[1]] >= min_count


def _labels(
    target: ExplainTarget, index: WindowIndex, by: str | None
) -> tuple[np.ndarray | None, np.ndarray]:
    """Group names (``None`` without ``by``) and each window's group code."""
    if by is None:
        return None, np.zeros(len(index), dtype=np.int64)
    if by == "site":
        lab = index.sample_sites.astype(str)
    elif by == "igbp" and target.igbp is not None:
        lab = np.asarray(target.igbp).astype(str)[index.site_idx]
    else:
        raise DataNotFoundError(f"by={by!r}: use 'site', or 'igbp' with a cube that has igbp")
    names, labels = np.unique(lab, return_inverse=True)
    return names, labels


def _surface_dataset(
    target: ExplainTarget,
    preds: np.ndarray,
    supported: np.ndarray,
    labels: np.ndarray,
    axes: dict[str, tuple[np.ndarray, str]],
    by: str | None,
) -> xr.Dataset:
    """Means per group of the predictions and support; ``axes``: offsets and units of x, y."""
    n_lab = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=n_lab).astype(np.float64)

    def mean_by(values: np.ndarray) -> np.ndarray:  # (rows, n) -> (label, rows)
        sums = [np.bincount(labels, weights=v, minlength=n_lab) for v in values]
        return np.stack(sums, 1) / counts[:, None]

    grid = supported.shape[0]
    resp = mean_by(preds[:grid])
    base = mean_by(preds[grid:])[:, 0]
    dens = mean_by(supported.astype(np.float64))
    (xo, (dx, ux)), (yo, (dy, uy)) = axes.items()
    dims = (xo, yo) if by is None else (by, xo, yo)
    shape = (dx.size, dy.size) if by is None else (n_lab, dx.size, dy.size)
    units = target.units
    return xr.Dataset(
        {
            "response": (
                dims,
                resp.reshape(shape),
                {"long_name": "mean prediction", "units": units},
            ),
            "change": (
                dims,
                (resp - base[:, None]).reshape(shape),
                {"long_name": "mean prediction minus the unshifted mean", "units": units},
            ),
            "density": (
                dims,
                dens.reshape(shape),
                {
                    "long_name": "share of windows inside the observed joint distribution",
                    "units": "1",
                },
            ),
            "baseline": (dims[:-2], base.reshape(shape[:-2]), {"units": units}),
            "n_windows": (dims[:-2], counts.reshape(shape[:-2]).astype(np.int64)),
        },
        coords={xo: (xo, dx, {"units": ux}), yo: (yo, dy, {"units": uy})},
    )


def _check_settings(x: str, y: str, bins: int, min_count: int, min_fraction: float) -> None:
    if x == y:
        raise ModelError(f"x and y are both {x!r}; give two different drivers")
    if bins < 2 or min_count < 1 or not 0 <= min_fraction <= 1:
        raise ModelError(
            f"bins={bins}, min_count={min_count}, min_fraction={min_fraction}; expected "
            "bins >= 2, min_count >= 1, 0 <= min_fraction <= 1"
        )


@fill_doc(EXPLAIN_DOCS)
def response_surface(
    model: TrainedRun | FluxModel | str | os.PathLike,
    data: xr.Dataset | WindowCube,
    windows: WindowIndex | str | Sequence[str] | None = "test",
    *,
    x: str = "ta",
    y: str = "sw_in",
    x_offsets: Sequence[float] | None = None,
    y_offsets: Sequence[float] | None = None,
    by: Literal["site", "igbp"] | None = None,
    bins: int = 10,
    min_count: int = 5,
    min_fraction: float = 0.5,
    max_windows: int | None = None,
    seed: int = 0,
    split: xr.Dataset | None = None,
    batch_size: int = 4096,
    device: str | None = None,
    progress: bool | None = None,
) -> xr.Dataset:
    """Mean response of the model to shifts of two drivers (others as observed), with a data mask.

    Every window's whole look-back of driver ``x`` is shifted by each of ``x_offsets`` and of
    ``y`` by each of ``y_offsets`` (in the drivers' physical units, e.g. degC and W m-2: "the
    same weather, 2 degrees warmer and 50 W m-2 brighter"); the model predicts all shifted
    windows and the predictions are averaged. All grid points of a batch of windows go
    through the model in one stacked forward pass.

    Where the shifted drivers leave the observed climate the model extrapolates. The joint
    distribution of ``(x, y)`` on the target days of the training windows (of the explained
    windows when no split is known) is binned (``bins`` x ``bins`` over the range of the
    observed and shifted values); a shifted window is supported when its bin holds at least
    ``min_count`` observed days. ``density`` is the share of supported
    windows per grid point and ``low_density`` marks grid points where it is below
    ``min_fraction``.

    Parameters
    ----------
    model, data, windows, split, device
        As for :func:`~fluxgrid.explain.permutation_importance`.
    x, y
        The two drivers shifted.
    x_offsets, y_offsets
        Offsets in the drivers' units (bare models: scaled units). Default: 9 offsets from -2
        to +2 standard deviations of the driver on the windows' target days.
    by
        Also return responses per ``site`` or ``igbp`` (added as a leading dim).
    bins, min_count, min_fraction
        Density mask settings (see above).
    max_windows
        Use a seeded random subset of at most this many windows.
    batch_size
        Sequences per forward pass (windows x grid points).
    %(progress)s

    Returns
    -------
    xarray.Dataset
        Dims ``<x>_offset``, ``<y>_offset`` (and ``by``):

        - ``response``: mean prediction (target units);
        - ``change``: ``response`` minus the mean prediction without shifts;
        - ``density``: share of windows whose shifted ``(x, y)`` lies in the observed joint
          distribution; ``low_density``: ``density < min_fraction``;
        - ``baseline``: mean prediction without shifts; ``n_windows``.

    Raises
    ------
    ModelError
        A driver that is not a model input, ``x == y``, or bad mask settings.

    Examples
    --------
    >>> rs = response_surface(run, cube, "test", x="ta", y="sw_in",
    ...                       x_offsets=[-4, -2, 0, 2, 4], y_offsets=[-50, 0, 50])  # doctest: +SKIP
    >>> rs.change.where(~rs.low_density)                                 # doctest: +SKIP
    """
    _check_settings(x, y, bins, min_count, min_fraction)
    target = resolve_target(model, data, windows, split=split, device=device)
    cols = tuple(target.columns([x, y]))
    index = subsample(target.index, max_windows, np.random.default_rng(seed))
    shown = _target_day_values(target, index, cols, (x, y))
    # the observed climate: the training windows when the run's split is known
    ref_index = reference_windows(model, data, split)
    observed = shown if ref_index is None else _target_day_values(target, ref_index, cols, (x, y))
    dx, dy = offsets(x_offsets, shown[0]), offsets(y_offsets, shown[1])
    if dx.ndim != 1 or dy.ndim != 1 or dx.size == 0 or dy.size == 0:
        raise ModelError("x_offsets and y_offsets must be non-empty 1-d sequences of numbers")
    gx, gy = (g.ravel() for g in np.meshgrid(dx, dy, indexing="ij"))
    scale = (target.input_scale.get(x, 1.0), target.input_scale.get(y, 1.0))
    shifts = (gx / scale[0], gy / scale[1])
    preds = _shifted_predictions(target, index, cols, shifts, batch_size, progress)
    supported = _supported(shown, observed, (gx, gy), bins, min_count)  # (grid, window)
    names, labels = _labels(target, index, by)
    axes = {f"{x}_offset": (dx, units_of(data, x)), f"{y}_offset": (dy, units_of(data, y))}
    out = _surface_dataset(target, preds, supported, labels, axes, by)
    if names is not None:
        out = out.assign_coords({by: names})
    out["low_density"] = out["density"] < min_fraction
    out["low_density"].attrs = {"long_name": f"density below {min_fraction}"}
    out.attrs = {
        "method": "response surface",
        "model": target.model.name,
        "x": x,
        "y": y,
        "bins": bins,
        "min_count": min_count,
        "min_fraction": min_fraction,
        "units": target.units,
    }
    return out


@register_explainer("response")
class ResponseExplainer(Explainer):
    """``fluxgrid explain --method response``: the change of the prediction over two shifts."""

    name = "response"

    def compute(self, run: TrainedRun, cube: xr.Dataset, options: ExplainOptions) -> xr.Dataset:
        """:func:`response_surface` of the two ``options.drivers`` (default ``ta``, ``sw_in``)."""
        if options.drivers is not None and len(options.drivers) != 2:
            raise ConfigError("--method response needs exactly two --drivers (x and y)")
        x, y = options.drivers or ("ta", "sw_in")
        return response_surface(
            run, cube, options.part, x=x, y=y, by=options.by, device=options.device
        )

    def _group(self, result: xr.Dataset, options: ExplainOptions) -> Any:
        """The group drawn and tabulated: the first label of ``options.by`` (or none)."""
        return None if options.by is None else result[options.by].values[0]

    def figure(self, computed: xr.Dataset, options: ExplainOptions) -> Any:
        """:func:`~fluxgrid.plots.plot_response_surface` of the first group."""
        return plot_response_surface(computed, group=self._group(computed, options))

    def table(self, result: xr.Dataset, options: ExplainOptions) -> tuple[str, pd.DataFrame]:
        """The change of the mean prediction on the offset grid (first group)."""
        group = self._group(result, options)
        change = result.change if group is None else result.change.sel({options.by: group})
        where = "" if group is None else f" at {group}"
        heading = f"mean change of the prediction ({result.attrs['units']}){where}:"
        return heading, pd.DataFrame(change.to_pandas())
