"""Singular spectrum analysis (SSA) of site time series, vectorised over sites.

Each site's series ``x`` (length ``N``) is embedded in its trajectory (Hankel) matrix
``X[k, j] = x[k + j]`` of ``K = N - L + 1`` rows and ``L`` columns (``L`` is the embedding
window). The SVD ``X = sum_i s_i u_i v_i^T`` gives elementary matrices that diagonal averaging
turns back into elementary series (reconstructed components, RC). Each RC is assigned to a
band by its dominant period (the peak of its periodogram):

* ``seasonal``: period shorter than ``seasonal_max`` (16 months by default),
* ``interannual``: between ``seasonal_max`` and ``trend_min`` (16-128 months),
* ``trend``: longer than ``trend_min`` (128 months) *or* longer than the decomposed record
  (a period that the record cannot resolve is indistinguishable from a trend); the series
  mean (zero frequency) lands here,
* ``residual``: the series minus the three groups, i.e. every elementary component that was
  not computed (beyond ``rank``). It holds the day-to-day noise of daily fluxes.

The four components add back to the series exactly (up to the rounding of the output dtype;
the maximum absolute difference is returned as ``<var>_error``). With ``rank=None`` every
elementary component is computed and grouped, and the residual is zero up to rounding.

How it scales
-------------
Nothing of size ``K x L`` is ever built on the default path. Products of the trajectory
matrix with blocks of vectors are correlations, computed with real FFTs of length ``~N``;
a randomized truncated SVD (Halko, Martinsson & Tropp 2011; ``rank + oversample`` random
vectors, ``power_iterations`` subspace iterations with QR re-orthonormalisation) needs about
``2 * power_iterations + 2`` such products. Diagonal averaging of rank-one matrices is a
convolution ``(u_i * v_i)[t] / w_t`` (``w_t`` = number of cells on anti-diagonal ``t``),
also one FFT product for all components at once. All of it is batched over sites with
NumPy/SciPy (stacked FFTs, stacked QR and SVD). Sites of different lengths are handled with
masks (each site keeps its own ``N``, ``L`` and ``K``); inside a block, sites are sorted by
length and processed in batches of similar length so that padding stays small. On Dask the
work runs blockwise over site chunks (``xr.apply_ufunc(..., dask="parallelized")``).

Because the window costs nothing extra in this formulation, the default window is half of
each site's record (``window=0.5``), the choice that maximises separability and resolves
oscillations with periods up to ``N / 2`` (128 months needs 21+ years of daily data).

Examples
--------
>>> import numpy as np, xarray as xr
>>> t = np.arange(3650)
>>> x = 3 * np.sin(2 * np.pi * t / 365.25) + 0.001 * t
>>> time = np.datetime64("2000-01-01", "ns") + t * np.timedelta64(1, "D")
>>> da = xr.DataArray(x[None], dims=("site", "time"), coords={"time": time}, name="x")
>>> out = ssa(da, window=730, rank=8)
>>> out.x.sizes["component"]
4
>>> float(abs(out.x.sum("component") - da).max()) < 1e-9
True
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from ..errors import ColumnError, ConfigError, TimestampError

__all__ = [
    "COMPONENTS",
    "GROUPS",
    "MONTH_DAYS",
    "ssa",
    "ssa_decompose",
]

#: names of the ``component`` dimension, in order
COMPONENTS = ("seasonal", "interannual", "trend", "residual")
#: groups that elementary components are assigned to (codes 0, 1, 2 in ``<var>_group``)
GROUPS = ("seasonal", "interannual", "trend")
#: length of a mean month in days (365.25 / 12), used to convert month thresholds
MONTH_DAYS = 30.44

_SPAN_OPTIONS = ("raise", "longest")
_SOLVERS = ("auto", "randomized", "full")


# --------------------------------------------------------------------------- spans and windows
def _spans(valid: np.ndarray, on_gaps: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, length and count of valid values left out of the decomposed span, per row.

    ``on_gaps="raise"``: the span runs from the first to the last valid value; gaps inside it
    are reported by the caller. ``"longest"``: the longest run of valid values.
    """
    n_row, n_time = valid.shape
    idx = np.arange(n_time)
    if on_gaps == "longest":
        last_bad = np.maximum.accumulate(np.where(valid, -1, idx), axis=1)
        run = np.where(valid, idx - last_bad, 0)
        end = run.argmax(axis=1)
        length = run[np.arange(n_row), end]
        start = np.where(length > 0, end - length + 1, 0)
    else:
        present = valid.any(axis=1)
        start = np.where(present, valid.argmax(axis=1), 0)
        stop = np.where(present, n_time - valid[:, ::-1].argmax(axis=1), 0)
        length = stop - start
    left_out = valid.sum(axis=1) - length
    return start.astype(np.int64), length.astype(np.int64), left_out.astype(np.int64)


def _windows(length: np.ndarray, window: int | float) -> np.ndarray:
    """Embedding window per row (0 where the row has no data)."""
    if isinstance(window, float):
        lw = np.floor(window * length).astype(np.int64)
    else:
        lw = np.full(length.shape, int(window), dtype=np.int64)
    return np.where(length > 0, lw, 0)


def _check_windows(
    length: np.ndarray, lw: np.ndarray, window: int | float, names: Sequence[Hashable], var: str
) -> None:
    has = length > 0
    too_long = has & (2 * lw > length)
    if too_long.any():
        bad = np.flatnonzero(too_long)
        example = ", ".join(f"{names[i]} ({length[i]} values)" for i in bad[:3])
        raise ConfigError(
            f"ssa({var!r}): window={window} is longer than half the series at {bad.size} "
            f"site(s): {example}{', ...' if bad.size > 3 else ''}. Use window <= "
            f"{int(length[bad].min()) // 2}, a fractional window such as window=0.5 (half of "
            "each site's record), or keep longer records (fluxgrid.select_sites(min_years=...))"
        )
    too_short = has & (lw < 2)
    if too_short.any():
        i = int(np.flatnonzero(too_short)[0])
        raise ConfigError(
            f"ssa({var!r}): site {names[i]} has only {length[i]} values, which gives an "
            f"embedding window of {lw[i]} with window={window}; SSA needs a window of at least 2 "
            "(drop the site or give a longer record)"
        )


def _check_gaps(
    valid: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    names: Sequence[Hashable],
    var: str,
) -> None:
    inside = valid.sum(axis=1)
    gaps = length - inside
    if (gaps > 0).any():
        bad = np.flatnonzero(gaps > 0)
        example = ", ".join(f"{names[i]} ({gaps[i]} missing)" for i in bad[:3])
        raise ColumnError(
            var,
            expected=(
                "a series without gaps inside each site's record; gap-fill predictors first "
                "(fluxgrid.prep.gapfill.gapfill / ds.fluxgrid.gapfill()), or pass "
                "on_gaps='longest' to decompose each site's longest gap-free span"
            ),
            found=f"gaps at {bad.size} site(s): {example}{', ...' if bad.size > 3 else ''}",
        )


# --------------------------------------------------------------------------- SVD solvers
def _orth_rows(a: np.ndarray, passes: int = 2) -> np.ndarray:
    """Orthonormalise the rows of each stacked matrix ``a`` (batch, m, n).

    Gram-matrix eigendecomposition, twice (like CholeskyQR2): matrix products only, ~100x
    faster than NumPy's stacked QR for tall blocks. Directions with a squared norm below
    1e-13 (float32: 1e-6) of the largest become zero rows (rank-deficient blocks are fine).
    """
    for _ in range(passes):
        gram = a @ np.swapaxes(a, 1, 2)
        w, v = np.linalg.eigh(gram)
        keep = w > (1e-13 if a.dtype == np.float64 else 1e-6) * w[:, -1:]
        scale = np.where(keep, 1.0 / np.sqrt(np.where(keep, w, 1.0)), 0.0)
        a = np.swapaxes(v * scale[:, None, :], 1, 2) @ a
    return a


def _randomized_svd(
    xs: np.ndarray,
    n_len: np.ndarray,
    lw: np.ndarray,
    k_len: np.ndarray,
    rank: int,
    oversample: int,
    power_iterations: int,
    omega: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leading ``rank`` singular triplets of each site's trajectory matrix, via FFT products.

    Returns left vectors ``(batch, rank, Kmax)``, singular values ``(batch, rank)`` and right
    vectors ``(batch, rank, Lmax)``, zero beyond each site's ``K`` and ``L``.
    """
    import scipy.fft as sfft

    n_fft = sfft.next_fast_len(int(n_len.max()), real=True)
    l_max, k_max = int(lw.max()), int(k_len.max())
    fx = sfft.rfft(xs, n_fft, axis=-1)[:, None, :]
    fx32 = fx.astype(np.complex64)
    jmask = (np.arange(l_max)[None, :] < lw[:, None])[:, None, :]
    kmask = (np.arange(k_max)[None, :] < k_len[:, None])[:, None, :]

    # X v and X^T u are both correlations of x with the vector: c[i] = sum_m x[i + m] w[m];
    # no circular wrap-around because i + m < N <= n_fft inside the masks.
    def corr(w: np.ndarray, size: int, mask: np.ndarray, f: np.ndarray = fx) -> np.ndarray:
        spec = sfft.rfft(w, n_fft, axis=-1)
        np.conjugate(spec, out=spec)
        spec *= f
        out = sfft.irfft(spec, n_fft, axis=-1, overwrite_x=True)[..., :size]
        return np.multiply(out, mask, dtype=out.dtype)

    # Subspace iteration in single precision (it only has to find the subspace; ~2x faster
    # FFTs and products), then one re-orthonormalisation and the projection in double.
    n_vec = rank + oversample
    omega32 = omega[:l_max, :n_vec].T[None].astype(np.float32)
    q = _orth_rows(corr(omega32 * jmask, k_max, kmask, fx32), passes=1)
    for _ in range(power_iterations):
        q = _orth_rows(corr(q, l_max, jmask, fx32), passes=1)
        q = _orth_rows(corr(q, k_max, kmask, fx32), passes=1)
    q = _orth_rows(q.astype(np.float64))
    b = corr(q, l_max, jmask)  # rows of Q^T X, (batch, n_vec, Lmax)
    w, s, vt = np.linalg.svd(b, full_matrices=False)
    u = np.swapaxes(w, 1, 2) @ q  # (batch, n_vec, Kmax)
    return u[:, :rank] * kmask, s[:, :rank], vt[:, :rank] * jmask


def _full_svd(
    xs: np.ndarray, lw: np.ndarray, k_len: np.ndarray, rank: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact SVD of each site's (zero-padded) trajectory matrix, LAPACK, batched."""
    l_max, k_max = int(lw.max()), int(k_len.max())
    padded = np.zeros((xs.shape[0], k_max + l_max - 1))
    width = min(xs.shape[1], padded.shape[1])
    padded[:, :width] = xs[:, :width]
    traj = np.lib.stride_tricks.sliding_window_view(padded, l_max, axis=-1)[:, :k_max, :]
    mask = (np.arange(k_max)[None, :, None] < k_len[:, None, None]) & (
        np.arange(l_max)[None, None, :] < lw[:, None, None]
    )
    u, s, vt = np.linalg.svd(np.where(mask, traj, 0.0), full_matrices=False)
    u = np.swapaxes(u, 1, 2)
    if rank is not None:
        u, s, vt = u[:, :rank], s[:, :rank], vt[:, :rank]
    return u, s, vt


# --------------------------------------------------------------------------- reconstruction
def _reconstruct(
    u: np.ndarray,
    s: np.ndarray,
    vt: np.ndarray,
    n_len: np.ndarray,
    lw: np.ndarray,
    k_len: np.ndarray,
    n_max: int,
) -> np.ndarray:
    """Diagonal averaging of every ``s_i u_i v_i^T`` as one FFT convolution, (batch, r, Nmax)."""
    import scipy.fft as sfft

    n_fft = sfft.next_fast_len(n_max, real=True)
    conv = sfft.irfft(sfft.rfft(u, n_fft, axis=-1) * sfft.rfft(vt, n_fft, axis=-1), n_fft, axis=-1)[
        ..., :n_max
    ]
    t = np.arange(n_max)[None, :]
    weight = np.minimum(
        np.minimum(t + 1, n_len[:, None] - t), np.minimum(lw, k_len)[:, None]
    ).astype(np.float64)
    inside = weight > 0
    scale = np.where(inside, 1.0 / np.where(inside, weight, 1.0), 0.0)
    return conv * s[..., None] * scale[:, None, :]


def _dominant_period(rc: np.ndarray, n_pad: int | None = None) -> np.ndarray:
    """Period (in time steps) of the periodogram peak of each series in ``rc`` (..., Nmax).

    Zero-padded to ``n_pad`` points (default: twice the length; the caller passes one
    length for the whole time axis, so that a site's estimate does not depend on which
    sites it is batched with), peak refined by a parabola through the log power of the
    three bins around it; ``inf`` for a peak at zero frequency.
    """
    import scipy.fft as sfft

    n_pad = n_pad or sfft.next_fast_len(2 * rc.shape[-1], real=True)
    power = np.abs(sfft.rfft(rc.astype(np.float32), n_pad, axis=-1)) ** 2
    peak = power.argmax(axis=-1)
    inner = (peak > 0) & (peak < power.shape[-1] - 1)
    i = np.clip(peak, 1, power.shape[-1] - 2)
    tiny = np.finfo(np.float32).tiny
    a, b, c = (
        np.log(np.take_along_axis(power, (i + d)[..., None], axis=-1)[..., 0] + tiny)
        for d in (-1, 0, 1)
    )
    denom = a - 2 * b + c
    shift = np.where(inner & (denom < 0), 0.5 * (a - c) / np.where(denom < 0, denom, -1.0), 0.0)
    freq = (peak + np.clip(shift, -0.5, 0.5)) / n_pad
    with np.errstate(divide="ignore"):
        return np.where(freq > 0, 1.0 / np.maximum(freq, 1e-300), np.inf)


# --------------------------------------------------------------------------- numpy core
def ssa_decompose(
    x: np.ndarray,
    window: int | float = 0.5,
    *,
    rank: int | None = 64,
    step_days: float = 1.0,
    seasonal_max_days: float = 16 * MONTH_DAYS,
    trend_min_days: float = 128 * MONTH_DAYS,
    on_gaps: Literal["raise", "longest"] = "raise",
    solver: Literal["auto", "randomized", "full"] = "auto",
    oversample: int = 24,
    power_iterations: int = 8,
    seed: int = 0,
    batch_size: int = 16,
    names: Sequence[Hashable] | None = None,
    variable: str = "x",
) -> dict[str, np.ndarray]:
    """SSA of every row of ``x`` (NumPy in, NumPy out); the engine behind :func:`ssa`.

    Parameters
    ----------
    x
        Array ``(..., time)``; NaN outside each row's record. Leading dims are flattened.
    window
        Embedding window: an ``int`` number of time steps for every row, or a ``float`` in
        ``(0, 0.5]``: that share of each row's record length.
    rank
        Number of leading elementary components computed and grouped; the rest form the
        residual. ``None`` computes all of them (exact full SVD; the residual is then zero).
    step_days
        Length of one time step in days (1 for daily data, :data:`MONTH_DAYS` for monthly).
    seasonal_max_days, trend_min_days
        Band limits in days: periods below ``seasonal_max_days`` are seasonal, above
        ``trend_min_days`` (or above the record length) trend, in between interannual.
    on_gaps
        ``"raise"``: any missing value between a row's first and last value is an error.
        ``"longest"``: decompose each row's longest gap-free run (values outside it are
        counted in ``left_out`` and come back as NaN).
    solver
        ``"randomized"`` (FFT products, truncated), ``"full"`` (LAPACK SVD of the explicit
        trajectory matrix), or ``"auto"``: full where ``rank`` is None or the window is small
        (``min(L, K) <= 2 (rank + oversample)``), randomized otherwise.
    oversample, power_iterations, seed
        Randomized SVD settings: extra random vectors, subspace iterations, RNG seed. The
        same random test matrix is used for every row, so results do not depend on how rows
        are chunked or batched.
    batch_size
        Rows decomposed together (memory ~ ``batch_size * (rank + oversample) * N * 24`` bytes).
    names, variable
        Row labels and variable name used in error messages.

    Returns
    -------
    dict of numpy.ndarray
        ``components`` ``(rows, 4, time)`` (float64, order of :data:`COMPONENTS`, NaN outside
        the decomposed span), ``period`` ``(rows, rank)`` dominant period of each elementary
        component in days, ``group`` ``(rows, rank)`` int8 code (0 seasonal, 1 interannual,
        2 trend, -1 not computed), ``singular_value`` ``(rows, rank)``, ``contribution``
        ``(rows, 4)`` share of the trajectory matrix energy (sum of squared singular values
        over the squared Frobenius norm) per component, summing to 1, ``window``, ``length``
        (values decomposed) and ``left_out`` ``(rows,)``.

    Raises
    ------
    ColumnError
        For gaps inside a record with ``on_gaps="raise"``.
    ConfigError
        For a window longer than half a record, or invalid settings.
    """
    _validate(window, rank, on_gaps, solver, oversample, power_iterations, batch_size)
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    n_row, n_time = x.shape
    names = list(names) if names is not None else list(range(n_row))
    valid = ~np.isnan(x)
    start, length, left_out = _spans(valid, on_gaps)
    if on_gaps == "raise":
        _check_gaps(valid, start, length, names, variable)
    lw = _windows(length, window)
    _check_windows(length, lw, window, names, variable)
    k_len = np.where(length > 0, length - lw + 1, 0)

    n_rank = _rank_size(rank, window, n_time)
    n_vec = (rank or 0) + oversample
    if rank is None or solver == "full":
        use_full = np.ones(n_row, dtype=bool)
    elif solver == "randomized":
        use_full = np.zeros(n_row, dtype=bool)
        small = (length > 0) & (np.minimum(lw, k_len) < n_vec)
        if small.any():
            i = int(np.flatnonzero(small)[0])
            raise ConfigError(
                f"ssa({variable!r}): rank + oversample = {n_vec} exceeds the trajectory matrix "
                f"size at site {names[i]} (window {lw[i]}, {k_len[i]} rows); lower rank or use "
                "solver='auto'"
            )
    else:
        use_full = np.minimum(lw, k_len) <= 2 * n_vec

    components = np.full((n_row, len(COMPONENTS), n_time), np.nan)
    period = np.full((n_row, n_rank), np.nan)
    group = np.full((n_row, n_rank), -1, dtype=np.int8)
    sing = np.full((n_row, n_rank), np.nan)
    contribution = np.full((n_row, len(COMPONENTS)), np.nan)
    omega = None
    if not use_full.all():
        l_cap = int(lw[~use_full].max(initial=0))
        omega = np.random.default_rng(seed).standard_normal((l_cap, n_vec))

    rows = np.flatnonzero(length > 0)
    # Small-matrix BLAS calls: one thread each is fastest (threads contend badly on shared
    # cores); parallelism comes from Dask blocks over sites.
    with threadpool_limits(limits=1, user_api="blas"):
        _run_batches(
            x,
            rows,
            use_full,
            start,
            length,
            lw,
            k_len,
            rank,
            oversample,
            power_iterations,
            omega,
            step_days,
            seasonal_max_days,
            trend_min_days,
            batch_size,
            components,
            period,
            group,
            sing,
            contribution,
        )
    lead = shape[:-1]
    return {
        "components": components.reshape(*lead, len(COMPONENTS), n_time),
        "period": period.reshape(*lead, n_rank),
        "group": group.reshape(*lead, n_rank),
        "singular_value": sing.reshape(*lead, n_rank),
        "contribution": contribution.reshape(*lead, len(COMPONENTS)),
        "window": lw.reshape(lead),
        "length": length.reshape(lead),
        "left_out": left_out.reshape(lead),
    }


def _run_batches(
    x: np.ndarray,
    rows: np.ndarray,
    use_full: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    lw: np.ndarray,
    k_len: np.ndarray,
    rank: int | None,
    oversample: int,
    power_iterations: int,
    omega: np.ndarray | None,
    step_days: float,
    seasonal_max_days: float,
    trend_min_days: float,
    batch_size: int,
    components: np.ndarray,
    period: np.ndarray,
    group: np.ndarray,
    sing: np.ndarray,
    contribution: np.ndarray,
) -> None:
    """Decompose ``rows`` in homogeneous batches and write into the output arrays."""
    import scipy.fft as sfft

    n_pad = sfft.next_fast_len(2 * x.shape[1], real=True)  # one periodogram grid for all rows
    for full in (True, False):
        # homogeneous batches: one solver, similar lengths (longest first) to keep padding small
        sel = rows[use_full[rows] == full]
        sel = sel[np.argsort(-length[sel], kind="stable")]
        n_series = (
            int(np.minimum(lw, k_len)[sel].max(initial=1)) if rank is None else rank + oversample
        )
        for b in _length_batches(sel, length, batch_size, n_series):
            n_len = length[b]
            xs = _gather(x, b, start[b], n_len)
            if full:
                u, s, vt = _full_svd(xs, lw[b], k_len[b], rank)
            else:
                u, s, vt = _randomized_svd(
                    xs, n_len, lw[b], k_len[b], rank, oversample, power_iterations, omega
                )
            rc = _reconstruct(u, s, vt, n_len, lw[b], k_len[b], xs.shape[1])
            per = _dominant_period(rc, n_pad) * step_days
            span_days = (n_len * step_days)[:, None]
            code = np.where(
                (per > trend_min_days) | (per > span_days),
                2,
                np.where(per < seasonal_max_days, 0, 1),
            ).astype(np.int8)
            code[s <= 0] = -1
            groups = np.stack([(code == g) for g in range(len(GROUPS))], axis=1)  # (b, 3, r)
            parts = np.einsum("bgr,brt->bgt", groups.astype(np.float64), rc)
            resid = xs - parts.sum(axis=1)
            decomposed = np.concatenate([parts, resid[:, None, :]], axis=1)
            _scatter(components, b, start[b], n_len, decomposed)
            m = s.shape[1]
            period[b, :m] = np.where(code >= 0, per, np.nan)
            group[b, :m] = code
            sing[b, :m] = s
            # energy shares: ||X||_F^2 = sum_t w_t x_t^2 ; residual takes what is left
            energy = _frobenius2(xs, n_len, lw[b], k_len[b])
            share = np.einsum("bgr,br->bg", groups.astype(np.float64), s**2) / energy[:, None]
            contribution[b, :3] = share
            contribution[b, 3] = np.clip(1.0 - share.sum(axis=1), 0.0, None)


def _length_batches(
    rows: np.ndarray,
    length: np.ndarray,
    batch_size: int,
    n_series: int,
    ratio: float = 0.8,
    budget: int = 2**25,
) -> Iterator[np.ndarray]:
    """Split ``rows`` (sorted by decreasing length) into batches of similar length.

    A batch holds at most ``batch_size`` rows, the shortest at least ``ratio`` of the
    longest (so that zero padding stays small), and at most ``budget`` values in its
    ``(rows, n_series, length)`` arrays of elementary series (256 MiB in float64).
    """
    first = 0
    while first < rows.size:
        longest = int(length[rows[first]])
        cap = max(1, min(batch_size, budget // max(1, n_series * longest)))
        fits = np.flatnonzero(length[rows[first : first + cap]] >= ratio * longest)
        stop = first + int(fits[-1]) + 1
        yield rows[first:stop]
        first = stop


def _validate(
    window: Any,
    rank: int | None,
    on_gaps: str,
    solver: str,
    oversample: int,
    power_iterations: int,
    batch_size: int,
) -> None:
    if isinstance(window, bool) or not isinstance(window, int | float):
        raise ConfigError(
            f"ssa: window must be an int (time steps) or a float share, got {window!r}"
        )
    if isinstance(window, float) and not 0 < window <= 0.5:
        raise ConfigError(
            f"ssa: a fractional window must be in (0, 0.5] (share of each record), got {window}"
        )
    if isinstance(window, int) and window < 2:
        raise ConfigError(f"ssa: window must be at least 2 time steps, got {window}")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ConfigError(f"ssa: rank must be a positive integer or None (all), got {rank!r}")
    if on_gaps not in _SPAN_OPTIONS:
        raise ConfigError(f"ssa: on_gaps must be one of {list(_SPAN_OPTIONS)}, got {on_gaps!r}")
    if solver not in _SOLVERS:
        raise ConfigError(f"ssa: solver must be one of {list(_SOLVERS)}, got {solver!r}")
    if oversample < 0 or power_iterations < 0 or batch_size < 1:
        raise ConfigError(
            "ssa: oversample and power_iterations must be >= 0 and batch_size >= 1, got "
            f"{oversample}, {power_iterations}, {batch_size}"
        )


def _gather(x: np.ndarray, rows: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Spans of ``x[rows]`` moved to position 0 and zero-padded to the longest: (batch, Nmax)."""
    n_max = int(length.max())
    t = np.arange(n_max)[None, :]
    idx = np.clip(start[:, None] + t, 0, x.shape[1] - 1)
    return np.where(t < length[:, None], np.take_along_axis(x[rows], idx, axis=1), 0.0)


def _scatter(
    out: np.ndarray, rows: np.ndarray, start: np.ndarray, length: np.ndarray, values: np.ndarray
) -> None:
    """Write ``values`` (batch, c, Nmax) back to ``out[rows, :, start:start + length]``."""
    t = np.arange(values.shape[-1])
    inside = t[None, :] < length[:, None]
    b_idx, t_idx = np.nonzero(inside)
    out[rows[b_idx], :, start[b_idx] + t_idx] = values[b_idx, :, t_idx]


def _frobenius2(xs: np.ndarray, n_len: np.ndarray, lw: np.ndarray, k_len: np.ndarray) -> np.ndarray:
    """Squared Frobenius norm of each trajectory matrix: sum_t w_t x_t^2."""
    t = np.arange(xs.shape[1])[None, :]
    weight = np.clip(
        np.minimum(np.minimum(t + 1, n_len[:, None] - t), np.minimum(lw, k_len)[:, None]), 0, None
    )
    return np.maximum((weight * xs**2).sum(axis=1), np.finfo(np.float64).tiny)


def _rank_size(rank: int | None, window: int | float, n_time: int) -> int:
    """Size of the ``rank`` axis: ``rank``, or the largest possible window when all are kept."""
    if rank is not None:
        return rank
    return int(window) if isinstance(window, int) else math.floor(window * n_time)


def _one_time_chunk(da: xr.DataArray) -> xr.DataArray:
    """Make ``time`` one chunk of a Dask-backed array, rechunking the data only.

    (``DataArray.chunk`` would also rechunk Dask-backed object coordinates such as ``igbp``,
    which makes xarray compute them to look for cftime objects.)
    """
    if da.chunks is None:
        return da
    axis = da.get_axis_num("time")
    if len(da.chunks[axis]) == 1:
        return da
    return da.copy(data=da.data.rechunk({axis: -1}))


# --------------------------------------------------------------------------- xarray API
def _infer_step_days(time: xr.DataArray) -> float:
    values = time.values
    if not np.issubdtype(values.dtype, np.datetime64):
        raise TimestampError(
            "ssa: the time coordinate is not datetime64; pass step_days= (1 for daily data)"
        )
    if values.size < 2:
        raise TimestampError("ssa: the time axis needs at least two steps")
    days = np.diff(values.astype("datetime64[s]").astype(np.int64)) / 86400.0
    if np.all(days == days[0]) and days[0] > 0:
        return float(days[0])
    if days.min() >= 28 and days.max() <= 31:
        return MONTH_DAYS  # calendar months
    raise TimestampError(
        "ssa: the time axis is not regular (daily or monthly); resample it first "
        "(fluxgrid.to_daily / fluxgrid.to_monthly) or pass step_days="
    )


def _ssa_block(
    x: np.ndarray, labels: np.ndarray, *, out_dtype: np.dtype, variable: str, **kwargs: Any
) -> tuple[np.ndarray, ...]:
    res = ssa_decompose(x, names=list(np.asarray(labels).reshape(-1)), variable=variable, **kwargs)
    comps = res["components"].astype(out_dtype)
    total = comps.astype(np.float64).sum(axis=-2)
    with np.errstate(invalid="ignore"):
        diff = np.abs(np.asarray(x, dtype=np.float64) - total)
    has = res["length"] > 0
    err = np.where(has, np.nanmax(np.where(np.isnan(diff), -np.inf, diff), axis=-1), np.nan)
    return (
        comps,
        res["period"],
        res["group"],
        res["singular_value"],
        res["contribution"],
        err,
        res["window"],
        res["length"],
        res["left_out"],
    )


def ssa(
    data: xr.Dataset | xr.DataArray,
    variables: str | Sequence[str] | None = None,
    *,
    window: int | float = 0.5,
    rank: int | None = 64,
    seasonal_max: float = 16.0,
    trend_min: float = 128.0,
    period_unit: Literal["months", "days"] = "months",
    on_gaps: Literal["raise", "longest"] = "raise",
    solver: Literal["auto", "randomized", "full"] = "auto",
    oversample: int = 24,
    power_iterations: int = 8,
    seed: int = 0,
    batch_size: int = 16,
    step_days: float | None = None,
) -> xr.Dataset:
    """Decompose (site, time) variables into seasonal, interannual, trend and residual parts.

    Parameters
    ----------
    data
        Site cube (dims ``(site, time)``, or just ``time``) or one DataArray. Dask-backed
        data stays lazy: the work runs blockwise over site chunks (time is made one chunk).
    variables
        Variables to decompose (default: every float variable with a ``time`` dim that is not
        a ``*_qc`` or ``*_filled`` companion).
    window
        Embedding window ``L``: an ``int`` number of time steps for all sites, or a ``float``
        in ``(0, 0.5]``: that share of each site's record (default: half of each record).
    rank
        Leading elementary components computed and grouped (default 64); the others form the
        ``residual`` component. ``None``: all (exact full SVD, residual ~0). That is
        costly for long windows: a 10-year daily window means a 3,650 x 3,650 SVD per site
        (about a minute and 1 GB each); use it for monthly data or short windows.
    seasonal_max, trend_min
        Band limits for the dominant period of each elementary component: below
        ``seasonal_max`` it is seasonal, above ``trend_min`` (or above the site's record
        length) trend, in between interannual. Defaults 16 and 128 months.
    period_unit
        Unit of the two limits: ``"months"`` (of :data:`MONTH_DAYS` days) or ``"days"``.
    on_gaps
        ``"raise"`` (default): a missing value between a site's first and last value is an
        error (gap-fill first). ``"longest"``: decompose each site's longest gap-free span;
        the valid values left outside it are counted in ``<var>_left_out``.
    solver
        ``"auto"`` (randomized FFT-based truncated SVD unless the window is small or
        ``rank=None``), ``"randomized"`` or ``"full"`` (LAPACK on the explicit matrix).
    oversample, power_iterations, seed
        Randomized SVD settings (see :func:`ssa_decompose`).
    batch_size
        Sites decomposed together inside a block (memory knob).
    step_days
        Length of a time step in days; inferred from ``time`` (daily: 1, months: 30.44).

    Returns
    -------
    xarray.Dataset
        For each variable ``v``:

        - ``v`` ``(component, site, time)``: components ``seasonal``, ``interannual``,
          ``trend``, ``residual``, in the variable's units and dtype; they sum to the series
          (NaN outside the decomposed span);
        - ``v_error`` ``(site)``: max. absolute difference between the sum of the stored
          components and the series (rounding only);
        - ``v_contribution`` ``(site, component)``: share of the trajectory-matrix energy
          (sum of squared singular values), summing to 1;
        - ``v_period`` ``(site, rank)``: dominant period of each elementary component (days),
          ``v_group`` ``(site, rank)`` its group (0 seasonal, 1 interannual, 2 trend, -1 not
          computed), ``v_singular_value`` ``(site, rank)``;
        - ``v_window``, ``v_length``, ``v_left_out`` ``(site)``: embedding window and number
          of values decomposed (time steps), valid values not decomposed.

        Attributes record the settings (band limits in days).

    Raises
    ------
    ColumnError
        For an unknown variable, or gaps inside a record with ``on_gaps="raise"`` (raised
        when the data is computed, for Dask-backed input).
    ConfigError
        For a window longer than half a record or invalid settings.

    Examples
    --------
    >>> import fluxgrid
    >>> daily = fluxgrid.load_demo_cube()
    >>> parts = ssa(daily, "nee", window=730, rank=16)
    >>> parts.component.values.tolist()
    ['seasonal', 'interannual', 'trend', 'residual']
    >>> bool((parts.nee_error < 1e-4).all())
    True
    """
    _validate(window, rank, on_gaps, solver, oversample, power_iterations, batch_size)
    if period_unit not in ("months", "days"):
        raise ConfigError(f"ssa: period_unit must be 'months' or 'days', got {period_unit!r}")
    factor = MONTH_DAYS if period_unit == "months" else 1.0
    seasonal_days, trend_days = seasonal_max * factor, trend_min * factor
    if not 0 < seasonal_days < trend_days:
        raise ConfigError(
            f"ssa: need 0 < seasonal_max < trend_min, got {seasonal_max} and {trend_min} "
            f"{period_unit}"
        )
    ds = data.to_dataset(name=data.name or "x") if isinstance(data, xr.DataArray) else data
    if "time" not in ds.dims:
        raise ColumnError("time", expected="a 'time' dimension to decompose along")
    if variables is None:
        names = [
            v
            for v in ds.data_vars
            if "time" in ds[v].dims
            and np.issubdtype(ds[v].dtype, np.floating)
            and not str(v).endswith(("_qc", "_filled"))
        ]
    else:
        names = [variables] if isinstance(variables, str) else list(variables)
        missing = [v for v in names if v not in ds.data_vars]
        if missing:
            raise ColumnError(
                missing[0], expected="a variable of the dataset", found=str(list(ds.data_vars))
            )
    step = float(step_days) if step_days is not None else _infer_step_days(ds["time"])
    n_time = ds.sizes["time"]
    n_rank = _rank_size(rank, window, n_time)
    kwargs = {
        "window": window,
        "rank": rank,
        "step_days": step,
        "seasonal_max_days": seasonal_days,
        "trend_min_days": trend_days,
        "on_gaps": on_gaps,
        "solver": solver,
        "oversample": oversample,
        "power_iterations": power_iterations,
        "seed": seed,
        "batch_size": batch_size,
    }
    out = xr.Dataset()
    for name in names:
        da = ds[name]
        da = _one_time_chunk(da)
        other = [d for d in da.dims if d != "time"]
        label_dim = "site" if "site" in other else (other[0] if other else None)
        if label_dim is not None and label_dim in da.coords:
            labels = da[label_dim].astype(str).broadcast_like(da.isel(time=0, drop=True))
        else:
            labels = xr.full_like(da.isel(time=0, drop=True), 0, dtype=np.int64)
            labels = labels.copy(data=np.arange(labels.size).reshape(labels.shape))
        dtype = da.dtype
        outs = xr.apply_ufunc(
            _ssa_block,
            da,
            labels,
            input_core_dims=[["time"], []],
            output_core_dims=[
                ["component", "time"],
                ["rank"],
                ["rank"],
                ["rank"],
                ["component"],
                [],
                [],
                [],
                [],
            ],
            dask="parallelized",
            output_dtypes=[dtype, np.float64, np.int8, np.float64, np.float64, np.float64]
            + [np.int64] * 3,
            dask_gufunc_kwargs={"output_sizes": {"component": len(COMPONENTS), "rank": n_rank}},
            kwargs={**kwargs, "out_dtype": dtype, "variable": str(name)},
            keep_attrs=False,
        )
        comps, per, grp, sv, contrib, err, win, length, left = outs
        units = da.attrs.get("units", "")
        comps.attrs = {
            **{k: v for k, v in da.attrs.items() if k not in ("cell_methods", "standard_name")},
            "long_name": f"SSA components of {da.attrs.get('long_name', name)}",
            "units": units,
            "comment": "the four components sum to the series; residual = elementary "
            f"components beyond rank {rank} (day-to-day noise)",
        }
        out[name] = comps.transpose("component", *other, "time")
        out[f"{name}_error"] = err.assign_attrs(
            long_name=f"max |sum of components - {name}|", units=units
        )
        out[f"{name}_contribution"] = contrib.transpose(*other, "component").assign_attrs(
            long_name="share of trajectory-matrix energy (squared singular values)", units="1"
        )
        out[f"{name}_period"] = per.assign_attrs(
            long_name="dominant period of the elementary component", units="d"
        )
        out[f"{name}_group"] = grp.assign_attrs(
            long_name="group of the elementary component",
            flag_values=np.array([-1, 0, 1, 2], dtype=np.int8),
            flag_meanings="not_computed seasonal interannual trend",
        )
        out[f"{name}_singular_value"] = sv.assign_attrs(
            long_name="singular value of the trajectory matrix", units=units
        )
        out[f"{name}_window"] = win.assign_attrs(long_name="embedding window", units="time steps")
        out[f"{name}_length"] = length.assign_attrs(
            long_name="values decomposed (span length)", units="time steps"
        )
        out[f"{name}_left_out"] = left.assign_attrs(
            long_name="valid values outside the decomposed span (NaN in the components)",
            units="1",
        )
    out = out.assign_coords(component=list(COMPONENTS), rank=np.arange(n_rank))
    out.attrs = {
        **{k: v for k, v in ds.attrs.items() if k != "history"},
        "ssa_window": str(window),
        "ssa_rank": "all" if rank is None else rank,
        "ssa_seasonal_max_days": seasonal_days,
        "ssa_trend_min_days": trend_days,
        "ssa_step_days": step,
        "ssa_solver": solver,
        "ssa_on_gaps": on_gaps,
        "history": (
            ds.attrs.get("history", "")
            + f"\nfluxgrid.ssa(window={window}, rank={rank}, seasonal_max={seasonal_max}, "
            f"trend_min={trend_min} {period_unit}, on_gaps={on_gaps!r})"
        ).strip(),
    }
    return out
