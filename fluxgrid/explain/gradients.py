"""Gradient SHAP of the torch networks: expected gradients by quadrature, and shap's explainer.

:func:`expected_gradients` integrates each window's gradient along straight paths from
reference windows with a Gauss-Legendre rule, every path point of a batch of windows in one
forward and one backward pass, and refines the windows whose additivity error is too large;
:func:`shap_gradient` calls the shap package's ``GradientExplainer`` (Monte-Carlo) for
cross-checks. Both are used by :func:`fluxgrid.explain.shap_values`.

Examples
--------
>>> nodes, weights = gauss_legendre(3)
>>> round(float(weights.sum()), 12), bool(((nodes > 0) & (nodes < 1)).all())
(1.0, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._lazy import lazy_import
from .._progress import track

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..windows import WindowIndex
    from .target import ExplainTarget

__all__ = ["expected_gradients", "gauss_legendre", "gradient_paths", "shap_gradient"]


def gauss_legendre(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of a ``steps``-point Gauss-Legendre rule on [0, 1].

    Parameters
    ----------
    steps
        Points of the rule.

    Returns
    -------
    tuple
        ``(nodes, weights)``, each ``(steps,)``; the weights sum to 1.
    """
    nodes, weights = np.polynomial.legendre.leggauss(int(steps))
    return (nodes + 1.0) / 2.0, weights / 2.0


def expected_gradients(
    target: ExplainTarget,
    index: WindowIndex,
    ref: torch.Tensor,
    *,
    steps: int,
    batch_size: int,
    tolerance: float | None = None,
    max_steps: int = 512,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, int]:
    """Expected gradients: attributions (sample, step, input), predictions, base value (scaled).

    For each window ``x`` and reference ``b`` the path integral of the gradient from ``b``
    to ``x`` is computed with a Gauss-Legendre rule and multiplied by ``x - b``; averaging
    over the references gives attributions that add up to ``f(x) - mean_b f(b)`` up to the
    quadrature error. With ``tolerance``, windows whose error exceeds ``tolerance`` times
    the standard deviation of the predictions are computed again with twice the points,
    until they pass or reach ``max_steps``.

    Parameters
    ----------
    target
        What is explained (model and device-resident cube).
    index
        Windows attributed.
    ref
        Reference windows ``(reference, step, input)``, scaled, on the cube's device.
    steps
        Gauss-Legendre points per path.
    batch_size
        Sequences per forward/backward pass (windows x references x points).
    tolerance, max_steps
        Refinement of the windows above the additivity tolerance (``None``: none).
    progress
        Show a progress bar per pass (see :mod:`fluxgrid._progress`).

    Returns
    -------
    tuple
        ``(phi, pred, base, used, n_above)``: attributions ``(sample, step, input)`` (oldest
        step first), predictions ``(sample,)``, the mean prediction of the references, the
        points used per window and the number of windows still above the tolerance (0
        without one); all in scaled units.
    """
    torch = lazy_import("torch")
    with target.model.explain_mode() as net:
        with torch.no_grad():
            net_base = float(net(ref).float().mean())
    site_idx, end_idx = np.asarray(index.site_idx), np.asarray(index.end_idx)
    phi, pred = gradient_paths(target, site_idx, end_idx, ref, steps, batch_size, progress=progress)
    used = np.full(len(index), steps, dtype=np.int32)
    if tolerance is None:
        return phi, pred, net_base, used, 0
    spread = float(np.std(pred)) if pred.size > 1 else 0.0
    if not spread > 0:
        spread = float(np.abs(pred - net_base).max()) or 1.0
    limit = tolerance * spread
    n_steps = steps
    while True:
        error = np.abs(pred - net_base - phi.sum(axis=(1, 2), dtype=np.float64))
        redo = np.flatnonzero(error > limit)
        if redo.size == 0 or n_steps >= max_steps:
            break
        n_steps = min(2 * n_steps, max_steps)
        phi[redo], pred[redo] = gradient_paths(
            target, site_idx[redo], end_idx[redo], ref, n_steps, batch_size, progress=progress
        )
        used[redo] = n_steps
    return phi, pred, net_base, used, int(redo.size)


def gradient_paths(
    target: ExplainTarget,
    site_idx: np.ndarray,
    end_idx: np.ndarray,
    ref: torch.Tensor,
    steps: int,
    batch_size: int,
    *,
    progress: bool | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Path-integrated gradients times ``x - b``, mean over references; and predictions.

    Parameters
    ----------
    target
        What is explained.
    site_idx, end_idx
        The windows (positions in the cube).
    ref
        Reference windows ``(reference, step, input)``.
    steps
        Gauss-Legendre points per path.
    batch_size
        Sequences per pass (at least one window's ``reference x steps``).
    progress
        Show a progress bar over the batches of windows.

    Returns
    -------
    tuple
        ``(phi (sample, step, input), pred (sample,))``, float32, scaled units.
    """
    torch = lazy_import("torch")
    cube = target.cube
    n, lookback, n_in = len(site_idx), target.lookback, len(target.features)
    nodes, weights = gauss_legendre(steps)
    alpha = torch.as_tensor(nodes, dtype=torch.float32, device=cube.device)
    w = torch.as_tensor(weights, dtype=torch.float32, device=cube.device)
    k = ref.shape[0]
    phi = np.empty((n, lookback, n_in), dtype=np.float32)
    pred = np.empty(n, dtype=np.float32)
    chunk = max(1, batch_size // (k * steps))
    with target.model.explain_mode() as net:
        starts = range(0, n, chunk)
        for start in track(starts, desc=f"SHAP, {n} windows x {steps} points", show=progress):
            sl = slice(start, min(start + chunk, n))
            x, _ = cube.gather(site_idx[sl], end_idx[sl], lookback)
            x = x.float()
            b = x.shape[0]
            diff = x[:, None] - ref[None]  # (batch, ref, step, input)
            path = ref[None, :, None] + alpha[None, None, :, None, None] * diff[:, :, None]
            path = path.reshape(-1, lookback, n_in).detach().requires_grad_(True)
            out = net(path)
            (grad,) = torch.autograd.grad(out.sum(), path)
            grad = grad.reshape(b, k, steps, lookback, n_in)
            mean_grad = (grad * w[None, None, :, None, None]).sum(dim=2)
            phi[sl] = (mean_grad * diff).mean(dim=1).detach().float().cpu().numpy()
            with torch.no_grad():
                pred[sl] = net(x).float().cpu().numpy()
    return phi, pred


def shap_gradient(
    target: ExplainTarget, index: WindowIndex, ref: torch.Tensor, *, nsamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The shap package's GradientExplainer (Monte-Carlo expected gradients).

    Parameters
    ----------
    target
        What is explained.
    index
        Windows attributed.
    ref
        Reference windows ``(reference, step, input)``.
    nsamples
        Random reference/path points per window.
    seed
        Seed of shap's draws.

    Returns
    -------
    tuple
        ``(phi (sample, step, input), pred (sample,), base)``, scaled units.
    """
    shap = lazy_import("shap")
    torch = lazy_import("torch")
    fmodel, cube = target.model, target.cube
    x, _ = cube.gather(index.site_idx, index.end_idx, target.lookback)

    class _Column(torch.nn.Module):  # shap wants (batch, outputs)
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, inputs):
            return self.net(inputs).unsqueeze(-1)

    with fmodel.explain_mode() as net:
        wrapped = _Column(net)
        explainer = shap.GradientExplainer(wrapped, ref)
        values = explainer.shap_values(x.float(), nsamples=nsamples, rseed=seed)
        with torch.no_grad():
            pred = net(x.float()).float().cpu().numpy()
            base = float(net(ref).float().mean())
    phi = np.asarray(values, dtype=np.float32).reshape(len(index), target.lookback, -1)
    return phi, pred, base
