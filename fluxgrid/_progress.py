"""Progress reporting for long steps: Dask computations and Python loops alike."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["compute_with_progress", "progress_bar", "track"]


def _enabled(show: bool | None) -> bool:
    return sys.stderr.isatty() if show is None else show


@contextlib.contextmanager
def progress_bar(show: bool | None = None, label: str = "") -> Iterator[None]:
    """Show a Dask progress bar for computations inside the block.

    Works with the local schedulers and, when a ``distributed.Client`` is active, reports
    through its ``progress`` instead. ``show=None`` shows it only on a terminal.
    """
    if not _enabled(show):
        yield
        return
    if label:
        print(label, file=sys.stderr, flush=True)
    try:
        from distributed import get_client

        get_client()
        yield  # distributed: the dashboard and ``fluxgrid run`` report progress
        return
    except (ImportError, ValueError):
        pass
    from dask.diagnostics import ProgressBar

    with ProgressBar(out=sys.stderr, minimum=1.0):
        yield


def compute_with_progress(obj, *, show: bool | None = None, label: str = ""):
    """``obj.compute()`` under :func:`progress_bar`."""
    with progress_bar(show, label):
        return obj.compute()


def track(
    items: Iterable[T], *, desc: str = "", total: int | None = None, show: bool | None = None
) -> Iterable[T]:
    """Wrap an iterable in a tqdm bar (only on a terminal unless ``show=True``)."""
    if not _enabled(show):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=total, file=sys.stderr)
