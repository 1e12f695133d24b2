"""The SSA engine: trajectory matrices, truncated SVD and diagonal averaging, NumPy only.

Each series ``x`` (length ``N``) is embedded in its trajectory (Hankel) matrix
``X[k, j] = x[k + j]`` of ``K = N - L + 1`` rows and ``L`` columns (``L`` is the embedding
window). The SVD ``X = sum_i s_i u_i v_i^T`` gives elementary matrices that diagonal averaging
turns back into elementary series (reconstructed components, RC); each RC joins the band of
its dominant period (:func:`dominant_period`). :func:`ssa_decompose` runs it for every row of
an array; :func:`fluxgrid.prep.ssa.ssa` is the xarray API over it.

How it scales
-------------
Nothing of size ``K x L`` is ever built on the default path. Products of the trajectory
matrix with blocks of vectors are correlations, computed with real FFTs of length ``~N``;
a randomized truncated SVD (Halko, Martinsson & Tropp 2011; ``rank + oversample`` random
vectors, ``power_iterations`` subspace iterations with QR re-orthonormalisation) needs about
``2 * power_iterations + 2`` such products. Diagonal averaging of rank-one matrices is a
convolution ``(u_i * v_i)[t] / w_t`` (``w_t`` = number of cells on anti-diagonal ``t``),
also one FFT product for all components at once. All of it is batched over rows with
NumPy/SciPy (stacked FFTs, stacked QR and SVD). Rows of different lengths are handled with
masks (each row keeps its own ``N``, ``L`` and ``K``); rows are sorted by length and
processed in batches of similar length so that padding stays small.

Examples
--------
>>> t = np.arange(2000)
>>> x = np.stack([np.sin(2 * np.pi * t / 365.25), np.sin(2 * np.pi * t / 30)])
>>> res = ssa_decompose(x, 0.5, rank=4)
>>> res["components"].shape, res["group"][:, :2].tolist()
((2, 4, 2000), [[0, 0], [0, 0]])
>>> bool(np.allclose(res["components"].sum(axis=1), x))
True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
from threadpoolctl import threadpool_limits

from ..errors import ColumnError, ConfigError

__all__ = [
    "COMPONENTS",
    "GROUPS",
    "MONTH_DAYS",
    "check_settings",
    "dominant_period",
    "rank_size",
    "record_gaps",
    "record_spans",
    "site_examples",
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
def record_spans(valid: np.ndarray, on_gaps: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def record_gaps(valid: np.ndarray) -> np.ndarray:
    """Missing values between each row's first and last valid value, ``(rows,)`` int.

    Examples
    --------
    >>> record_gaps(np.array([[0, 1, 0, 1, 0], [1, 1, 1, 0, 0]], dtype=bool)).tolist()
    [1, 0]
    """
    _start, length, _left_out = record_spans(valid, "raise")
    return length - valid.sum(axis=1)


def site_examples(
    names: Sequence[Hashable], values: np.ndarray, bad: np.ndarray, unit: str, most: int = 3
) -> str:
    """``"<n> site(s): A (2 missing), B (5 missing), ..."``: the first ``most`` of ``bad``.

    Parameters
    ----------
    names, values
        Row labels and the number shown for each row.
    bad
        Indices of the rows refused.
    unit
        Words after each number (``"missing"``, ``"values"``).
    most
        Rows named; ``", ..."`` marks that there are more.

    Examples
    --------
    >>> site_examples(["A", "B"], np.array([2, 5]), np.array([0, 1]), "days", most=1)
    '2 site(s): A (2 days), ...'
    """
    shown = ", ".join(f"{names[i]} ({values[i]} {unit})" for i in bad[:most])
    return f"{len(bad)} site(s): {shown}{', ...' if len(bad) > most else ''}"


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
        raise ConfigError(
            f"ssa({var!r}): window={window} is longer than half the series at "
            f"{site_examples(names, length, bad, 'values')}. Use window <= "
            f"{int(length[bad].min()) // 2}, a fractional window such as window=0.5 (half of "
            "each site's record), or keep longer records (fluxgrid.select_sites(min_years=...))"
        )
    _refuse_first(
        has & (lw < 2),
        lambda i: (
            f"ssa({var!r}): site {names[i]} has only {length[i]} values, which gives an "
            f"embedding window of {lw[i]} with window={window}; SSA needs a window of at least 2 "
            "(drop the site or give a longer record)"
        ),
    )


def _refuse_first(bad: np.ndarray, message: Callable[[int], str]) -> None:
    """Raise :class:`ConfigError` with ``message(i)`` for the first row ``i`` that is ``bad``."""
    if bad.any():
        raise ConfigError(message(int(np.flatnonzero(bad)[0])))


def _check_gaps(valid: np.ndarray, names: Sequence[Hashable], var: str) -> None:
    gaps = record_gaps(valid)
    bad = np.flatnonzero(gaps > 0)
    if bad.size:
        raise ColumnError(
            var,
            expected=(
                "a series without gaps inside each site's record; gap-fill predictors first "
                "(fluxgrid.prep.gapfill.gapfill / ds.fluxgrid.gapfill()), or pass "
                "on_gaps='longest' to decompose each site's longest gap-free span"
            ),
            found=f"gaps at {site_examples(names, gaps, bad, 'missing')}",
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


def dominant_period(rc: np.ndarray, n_pad: int | None = None) -> np.ndarray:
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


# --------------------------------------------------------------------------- settings
def check_settings(
    window: Any,
    rank: int | None,
    on_gaps: str,
    solver: str,
    oversample: int,
    power_iterations: int,
    batch_size: int,
) -> None:
    """Refuse SSA settings that cannot work, naming the setting and what it may be.

    Raises
    ------
    ConfigError
        A window that is neither a whole number of steps (>= 2) nor a share in (0, 0.5],
        a rank that is not a positive integer or ``None``, an unknown ``on_gaps`` or
        ``solver``, negative ``oversample`` / ``power_iterations`` or ``batch_size`` < 1.

    Examples
    --------
    >>> check_settings(1, 8, "raise", "auto", 24, 8, 16)
    Traceback (most recent call last):
    ...
    fluxgrid.errors.ConfigError: ssa: window must be at least 2 time steps, got 1
    """
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


def rank_size(rank: int | None, window: int | float, n_time: int) -> int:
    """Size of the ``rank`` axis: ``rank``, or the largest possible window when all are kept.

    Examples
    --------
    >>> rank_size(16, 0.5, 3650), rank_size(None, 0.5, 3650), rank_size(None, 730, 3650)
    (16, 1825, 730)
    """
    if rank is not None:
        return rank
    return int(window) if isinstance(window, int) else math.floor(window * n_time)


# --------------------------------------------------------------------------- batches
@dataclasses.dataclass(frozen=True)
class _Layout:
    """Per-row span and trajectory-matrix sizes, ``(rows,)`` int64 (0 for rows without data)."""

    start: np.ndarray  # first value decomposed
    length: np.ndarray  # N: values decomposed
    left_out: np.ndarray  # valid values outside the span
    lw: np.ndarray  # L: embedding window
    k_len: np.ndarray  # K = N - L + 1: rows of the trajectory matrix


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What every batch is decomposed with."""

    rank: int | None
    oversample: int
    power_iterations: int
    step_days: float
    seasonal_max_days: float
    trend_min_days: float
    batch_size: int


@dataclasses.dataclass(frozen=True)
class _Outputs:
    """The arrays :func:`ssa_decompose` fills, batch by batch (NaN / -1 where not computed)."""

    components: np.ndarray  # (rows, 4, time)
    period: np.ndarray  # (rows, rank)
    group: np.ndarray  # (rows, rank) int8
    singular_value: np.ndarray  # (rows, rank)
    contribution: np.ndarray  # (rows, 4)

    @classmethod
    def empty(cls, n_row: int, n_rank: int, n_time: int) -> _Outputs:
        return cls(
            components=np.full((n_row, len(COMPONENTS), n_time), np.nan),
            period=np.full((n_row, n_rank), np.nan),
            group=np.full((n_row, n_rank), -1, dtype=np.int8),
            singular_value=np.full((n_row, n_rank), np.nan),
            contribution=np.full((n_row, len(COMPONENTS)), np.nan),
        )

    def write(
        self,
        b: np.ndarray,
        start: np.ndarray,
        n_len: np.ndarray,
        decomposed: np.ndarray,
        per: np.ndarray,
        code: np.ndarray,
        s: np.ndarray,
        share: np.ndarray,
    ) -> None:
        """Store one batch (rows ``b``) of :func:`_decompose_batch` results."""
        _scatter(self.components, b, start, n_len, decomposed)
        m = s.shape[1]
        self.period[b, :m] = np.where(code >= 0, per, np.nan)
        self.group[b, :m] = code
        self.singular_value[b, :m] = s
        self.contribution[b, :3] = share
        # the residual takes the energy that the groups leave
        self.contribution[b, 3] = np.clip(1.0 - share.sum(axis=1), 0.0, None)


def _layout(
    x: np.ndarray, window: int | float, on_gaps: str, names: Sequence[Hashable], variable: str
) -> _Layout:
    """Spans and windows of every row, checked (gaps, windows too long or too short)."""
    valid = ~np.isnan(x)
    start, length, left_out = record_spans(valid, on_gaps)
    if on_gaps == "raise":
        _check_gaps(valid, names, variable)
    lw = _windows(length, window)
    _check_windows(length, lw, window, names, variable)
    k_len = np.where(length > 0, length - lw + 1, 0)
    return _Layout(start, length, left_out, lw, k_len)


def _full_rows(
    solver: str,
    rank: int | None,
    oversample: int,
    layout: _Layout,
    names: Sequence[Hashable],
    variable: str,
) -> np.ndarray:
    """Which rows take the exact LAPACK SVD (the others the randomized one), ``(rows,)``."""
    n_row = layout.length.shape[0]
    if rank is None or solver == "full":
        return np.ones(n_row, dtype=bool)
    n_vec = rank + oversample
    smaller = np.minimum(layout.lw, layout.k_len)
    if solver == "auto":
        return smaller <= 2 * n_vec
    _refuse_first(
        (layout.length > 0) & (smaller < n_vec),
        lambda i: (
            f"ssa({variable!r}): rank + oversample = {n_vec} exceeds the trajectory matrix "
            f"size at site {names[i]} (window {layout.lw[i]}, {layout.k_len[i]} rows); lower "
            "rank or use solver='auto'"
        ),
    )
    return np.zeros(n_row, dtype=bool)


def _band_codes(
    per: np.ndarray, s: np.ndarray, n_len: np.ndarray, settings: _Settings
) -> np.ndarray:
    """Group code of each elementary component: 0 seasonal, 1 interannual, 2 trend, -1 none."""
    span_days = (n_len * settings.step_days)[:, None]
    code = np.where(
        (per > settings.trend_min_days) | (per > span_days),
        2,
        np.where(per < settings.seasonal_max_days, 0, 1),
    ).astype(np.int8)
    code[s <= 0] = -1
    return code


def _decompose_batch(
    xs: np.ndarray,
    n_len: np.ndarray,
    lw: np.ndarray,
    k_len: np.ndarray,
    full: bool,
    settings: _Settings,
    omega: np.ndarray | None,
    n_pad: int,
) -> tuple[np.ndarray, ...]:
    """SVD, reconstruction and grouping of one batch of similar-length series ``xs``.

    Returns the four components ``(b, 4, Nmax)``, the dominant periods (days), group codes
    and singular values ``(b, r)`` and the groups' energy shares ``(b, 3)``.
    """
    if full:
        u, s, vt = _full_svd(xs, lw, k_len, settings.rank)
    else:
        u, s, vt = _randomized_svd(
            xs,
            n_len,
            lw,
            k_len,
            settings.rank,
            settings.oversample,
            settings.power_iterations,
            omega,
        )
    rc = _reconstruct(u, s, vt, n_len, lw, k_len, xs.shape[1])
    per = dominant_period(rc, n_pad) * settings.step_days
    code = _band_codes(per, s, n_len, settings)
    groups = np.stack([(code == g) for g in range(len(GROUPS))], axis=1).astype(np.float64)
    parts = np.einsum("bgr,brt->bgt", groups, rc)
    resid = xs - parts.sum(axis=1)
    decomposed = np.concatenate([parts, resid[:, None, :]], axis=1)
    # energy shares: ||X||_F^2 = sum_t w_t x_t^2 ; the residual takes what is left
    energy = _frobenius2(xs, n_len, lw, k_len)
    share = np.einsum("bgr,br->bg", groups, s**2) / energy[:, None]
    return decomposed, per, code, s, share


def _run_batches(
    x: np.ndarray,
    layout: _Layout,
    use_full: np.ndarray,
    settings: _Settings,
    omega: np.ndarray | None,
    out: _Outputs,
) -> None:
    """Decompose the rows with data in homogeneous batches and write into ``out``."""
    import scipy.fft as sfft

    n_pad = sfft.next_fast_len(2 * x.shape[1], real=True)  # one periodogram grid for all rows
    rows = np.flatnonzero(layout.length > 0)
    for full in (True, False):
        # homogeneous batches: one solver, similar lengths (longest first) to keep padding small
        sel = rows[use_full[rows] == full]
        sel = sel[np.argsort(-layout.length[sel], kind="stable")]
        n_series = (
            int(np.minimum(layout.lw, layout.k_len)[sel].max(initial=1))
            if settings.rank is None
            else settings.rank + settings.oversample
        )
        for b in _length_batches(sel, layout.length, settings.batch_size, n_series):
            n_len = layout.length[b]
            xs = _gather(x, b, layout.start[b], n_len)
            result = _decompose_batch(
                xs, n_len, layout.lw[b], layout.k_len[b], full, settings, omega, n_pad
            )
            out.write(b, layout.start[b], n_len, *result)


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
    """SSA of every row of ``x``, NumPy in and out (the engine of :func:`fluxgrid.prep.ssa.ssa`).

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
    check_settings(window, rank, on_gaps, solver, oversample, power_iterations, batch_size)
    x = np.asarray(x, dtype=np.float64)
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    n_row, n_time = x.shape
    names = list(names) if names is not None else list(range(n_row))
    layout = _layout(x, window, on_gaps, names, variable)
    use_full = _full_rows(solver, rank, oversample, layout, names, variable)
    settings = _Settings(
        rank, oversample, power_iterations, step_days, seasonal_max_days, trend_min_days, batch_size
    )
    n_rank = rank_size(rank, window, n_time)
    out = _Outputs.empty(n_row, n_rank, n_time)
    omega = None
    if not use_full.all():
        # one random test matrix for every row: results do not depend on chunks or batches
        l_cap = int(layout.lw[~use_full].max(initial=0))
        omega = np.random.default_rng(seed).standard_normal((l_cap, (rank or 0) + oversample))
    # Small-matrix BLAS calls: one thread each is fastest (threads contend badly on shared
    # cores); parallelism comes from Dask blocks over sites.
    with threadpool_limits(limits=1, user_api="blas"):
        _run_batches(x, layout, use_full, settings, omega, out)
    return {
        "components": out.components.reshape(*lead, len(COMPONENTS), n_time),
        "period": out.period.reshape(*lead, n_rank),
        "group": out.group.reshape(*lead, n_rank),
        "singular_value": out.singular_value.reshape(*lead, n_rank),
        "contribution": out.contribution.reshape(*lead, len(COMPONENTS)),
        "window": layout.lw.reshape(lead),
        "length": layout.length.reshape(lead),
        "left_out": layout.left_out.reshape(lead),
    }
