"""Principal components of standardised spectral indices, with loadings kept.

Indices are standardised (zero mean, unit variance over all valid samples), decomposed by
SVD, and the leading components kept until their cumulative explained variance exceeds
the threshold (0.99 by default). The result keeps everything needed to read or re-apply
the transform: loadings ``(pc, index)``, means, scales, explained variance ratios and the
indices left out (constant or too often non-finite) with the reason.

Examples
--------
>>> import numpy as np, xarray as xr
>>> rng = np.random.default_rng(0)
>>> base = rng.normal(size=(200, 2))
>>> x = xr.DataArray(base @ rng.normal(size=(2, 6)), dims=("sample", "index"),
...                  coords={"index": list("abcdef")})
>>> pca = fit_pca(x, variance=0.99)
>>> pca.sizes["pc"], bool(pca.explained_variance_ratio.sum() >= 0.99)
(2, True)
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import RemoteSensingError

__all__ = ["apply_pca", "fit_pca", "reconstruct"]


def fit_pca(
    data: xr.DataArray,
    *,
    variance: float = 0.99,
    feature_dim: str = "index",
    max_missing: float = 0.5,
) -> xr.Dataset:
    """Fit a PCA on standardised features.

    Parameters
    ----------
    data
        Features along ``feature_dim``; every other dimension is a sample dimension
        (e.g. ``(site, time, index)``). NaN marks missing samples.
    variance
        Keep the fewest components whose cumulative explained variance is >= this.
    feature_dim
        Name of the feature dimension.
    max_missing
        Features missing (non-finite) in more than this share of the otherwise valid
        samples are left out (named in ``dropped``), so one fragile index cannot empty
        the sample.

    Returns
    -------
    xarray.Dataset
        ``loadings (pc, index)``, ``mean (index)``, ``scale (index)``,
        ``explained_variance_ratio (pc)``, ``cumulative_variance (pc)``, attrs
        ``n_samples``, ``variance_threshold``, ``dropped`` (``"name: reason; ..."``).

    Raises
    ------
    RemoteSensingError
        Fewer than two complete samples or no usable feature.
    """
    sample_dims = [d for d in data.dims if d != feature_dim]
    stacked = data.stack(_sample_=sample_dims).transpose("_sample_", feature_dim)
    x = np.asarray(stacked.values, dtype="float64")
    names = [str(n) for n in data[feature_dim].values]
    sub, kept_names, dropped = _complete_samples(x, names, max_missing)
    mean = sub.mean(axis=0)
    scale = sub.std(axis=0, ddof=1)
    const = scale <= 1e-12 * np.maximum(np.abs(mean), 1.0)
    for j in np.flatnonzero(const):
        dropped[kept_names[j]] = "constant over all samples"
    use = ~const
    if not use.any():
        raise RemoteSensingError("PCA: every index is constant over the samples")
    z = (sub[:, use] - mean[use]) / scale[use]
    vt, ratio, cum, k = _components(z, variance)
    features = [n for n, u in zip(kept_names, use, strict=True) if u]
    return xr.Dataset(
        {
            "loadings": (("pc", feature_dim), vt[:k].astype("float64")),
            "mean": ((feature_dim,), mean[use]),
            "scale": ((feature_dim,), scale[use]),
            "explained_variance_ratio": (("pc",), ratio[:k]),
            "cumulative_variance": (("pc",), cum[:k]),
        },
        coords={"pc": np.arange(1, k + 1), feature_dim: features},
        attrs={
            "n_samples": int(z.shape[0]),
            "variance_threshold": float(variance),
            "dropped": "; ".join(f"{n}: {r}" for n, r in dropped.items()),
            "method": "PCA (SVD) of standardised features",
        },
    )


def _complete_samples(
    x: np.ndarray, names: list[str], max_missing: float
) -> tuple[np.ndarray, list[str], dict[str, str]]:
    """Samples with every kept feature finite; features missing too often are dropped.

    Returns the ``(sample, feature)`` block, the kept feature names and
    ``{dropped feature: reason}``.
    """
    finite = np.isfinite(x)
    any_valid = finite.any(axis=1)
    n_rows = int(any_valid.sum())
    if n_rows < 2:
        raise RemoteSensingError(
            f"PCA needs at least 2 samples with values, got {n_rows}; all dates masked or "
            "missing (see the per-date status)"
        )
    dropped: dict[str, str] = {}
    miss = 1.0 - finite[any_valid].mean(axis=0)
    for j in np.flatnonzero(miss > max_missing):
        dropped[names[j]] = f"non-finite in {miss[j]:.0%} of samples"
    keep = np.array([n not in dropped for n in names])
    rows = any_valid & finite[:, keep].all(axis=1)
    sub = x[np.ix_(rows, keep)]
    if sub.shape[0] < 2:
        raise RemoteSensingError(
            "PCA: fewer than 2 samples have every retained index finite; lower max_missing or "
            "select indices with `indices=`"
        )
    return sub, [n for n, k in zip(names, keep, strict=True) if k], dropped


def _components(z: np.ndarray, variance: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """SVD of standardised samples: loadings (signed), ratios, cumulative, components kept."""
    _, s, vt = np.linalg.svd(z, full_matrices=False)
    var = s**2
    ratio = var / var.sum()
    cum = np.cumsum(ratio)
    k = int(np.searchsorted(cum, variance - 1e-12) + 1)
    k = min(k, len(ratio))
    # deterministic signs: the largest loading of each component is positive
    signs = np.sign(vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)])
    return vt * signs[:, None], ratio, cum, k


def apply_pca(data: xr.DataArray, pca: xr.Dataset, *, feature_dim: str = "index") -> xr.DataArray:
    """Scores of ``data`` on the components of ``pca`` (NaN where a used feature is NaN).

    Returns
    -------
    xarray.DataArray
        Sample dims of ``data`` plus ``pc``.
    """
    x = data.sel({feature_dim: pca[feature_dim].values})
    z = (x - pca["mean"]) / pca["scale"]
    scores = xr.dot(z, pca["loadings"], dim=feature_dim)
    valid = np.isfinite(x).all(feature_dim)
    return scores.where(valid)


def reconstruct(scores: xr.DataArray, pca: xr.Dataset) -> xr.DataArray:
    """Features rebuilt from component scores (inverse of :func:`apply_pca`)."""
    z = xr.dot(scores, pca["loadings"], dim="pc")
    return z * pca["scale"] + pca["mean"]
