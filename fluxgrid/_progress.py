"""Progress reporting for long steps: Dask computations and Python loops alike.

The one place that decides whether a progress bar shows. With ``show=None`` (every
function's default) a bar shows

1. as :func:`set_progress` said, if it was called;
2. else as the environment variable ``FLUXGRID_PROGRESS`` says (``1``/``true``/``on`` or
   ``0``/``false``/``off``);
3. else never under continuous integration (``CI`` set, as GitHub Actions, GitLab CI and
   most others do);
4. else always in a Jupyter notebook (an IPython kernel: its stderr is no terminal, yet it
   shows bars, through ``tqdm.auto`` as widgets);
5. else only when stderr is a terminal (so pipes and log files stay clean).

An explicit ``show=True`` / ``show=False`` of a call overrides all of this.

Examples
--------
>>> set_progress(False)
>>> progress_enabled()
False
>>> progress_enabled(True)
True
>>> set_progress(None)  # back to the environment and terminal rules
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from .errors import ConfigError

T = TypeVar("T")

__all__ = [
    "ENV_VAR",
    "compute_with_progress",
    "counter",
    "in_notebook",
    "progress_bar",
    "progress_enabled",
    "progress_setting",
    "set_progress",
    "track",
]

#: environment variable that switches progress bars on (1) or off (0)
ENV_VAR = "FLUXGRID_PROGRESS"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_setting: dict[str, bool | None] = {"show": None}


def set_progress(show: bool | None) -> None:
    """Switch progress bars on or off for this process (``None``: decide automatically).

    Parameters
    ----------
    show
        ``True`` always, ``False`` never, ``None`` by the rules of this module (environment,
        CI, notebook, terminal).
    """
    if show is not None and not isinstance(show, bool):
        raise ConfigError(f"set_progress(show={show!r}); expected True, False or None")
    _setting["show"] = show


def progress_setting() -> bool | None:
    """What :func:`set_progress` was last given (``None``: decide automatically)."""
    return _setting["show"]


def _env_flag(name: str) -> bool | None:
    """``True``/``False`` from an environment variable; ``None`` when it is unset."""
    raw = os.environ.get(name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if name == ENV_VAR:
        raise ConfigError(
            f"environment variable {ENV_VAR}={raw!r}; expected 1/true/on or 0/false/off"
        )
    return True  # CI=<anything else>, e.g. CI=github


def in_notebook() -> bool:
    """Whether this process is an IPython kernel (Jupyter, VS Code notebooks, Colab)."""
    if "ipykernel" not in sys.modules:
        return False
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    shell = get_ipython() if get_ipython is not None else None
    return shell is not None and hasattr(shell, "kernel")


def progress_enabled(show: bool | None = None) -> bool:
    """Whether a progress bar shows (``show`` given, else the rules of this module)."""
    if show is not None:
        return bool(show)
    if _setting["show"] is not None:
        return bool(_setting["show"])
    env = _env_flag(ENV_VAR)
    if env is not None:
        return env
    if _env_flag("CI"):
        return False
    if in_notebook():
        return True
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


@contextlib.contextmanager
def progress_bar(show: bool | None = None, label: str = "") -> Iterator[None]:
    """Show a progress bar for the Dask computations inside the block.

    Uses a ``tqdm`` bar (a widget in notebooks) with the local schedulers. When a
    ``distributed.Client`` is active, its dashboard reports progress instead and no bar is
    drawn here.

    Parameters
    ----------
    show
        ``True``/``False``, or ``None`` for the rules of this module.
    label
        The bar's description.
    """
    if not progress_enabled(show):
        yield
        return
    try:
        from distributed import get_client

        get_client()
        yield  # distributed: the dashboard reports progress
        return
    except (ImportError, ValueError):
        pass
    from tqdm.dask import TqdmCallback

    with TqdmCallback(desc=label or "compute", delay=1.0, file=sys.stderr):
        yield


def compute_with_progress(obj: Any, *, show: bool | None = None, label: str = "") -> Any:
    """``obj.compute()`` under :func:`progress_bar`."""
    with progress_bar(show, label):
        return obj.compute()


def track(
    items: Iterable[T], *, desc: str = "", total: int | None = None, show: bool | None = None
) -> Iterable[T]:
    """Wrap an iterable in a ``tqdm.auto`` bar (when :func:`progress_enabled`).

    Examples
    --------
    >>> list(track(range(3), desc="steps", show=False))
    [0, 1, 2]
    """
    if not progress_enabled(show):
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, total=total, file=sys.stderr, dynamic_ncols=True)


class _NoBar:
    """Stands in for a tqdm bar when progress is off."""

    def update(self, n: int = 1) -> None:
        """Do nothing."""

    def set_postfix_str(self, text: str) -> None:
        """Do nothing."""


@contextlib.contextmanager
def counter(total: int | None = None, *, desc: str = "", show: bool | None = None) -> Iterator[Any]:
    """A bar advanced by hand (``bar.update(n)``), for steps that are not one loop.

    Examples
    --------
    >>> with counter(3, desc="trials", show=False) as bar:
    ...     bar.update(1)
    """
    if not progress_enabled(show):
        yield _NoBar()
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, file=sys.stderr, dynamic_ncols=True)
    try:
        yield bar
    finally:
        bar.close()
