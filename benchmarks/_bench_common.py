"""Helpers shared by the ``bench_*.py`` scripts: peak resident memory, shared-data options."""

from __future__ import annotations

import argparse
import threading
import time

import psutil

from fluxgrid.testing import shared_data_path


def shared_data_option(
    parser: argparse.ArgumentParser, flag: str, relative: str, help: str | None = None
) -> None:
    """Add ``flag``, a path defaulting to ``relative`` in the shared real-data folder.

    Where that folder is not there (:func:`fluxgrid.testing.shared_data_path`), the option
    is required.
    """
    shared = shared_data_path()
    default = shared / relative if shared else None
    parser.add_argument(
        flag, default=str(default) if default else None, required=default is None, help=help
    )


class PeakRSS:
    """Sample this process's resident memory while in the block; keep the peak.

    Parameters
    ----------
    interval
        Seconds between samples.

    Attributes
    ----------
    start, peak
        Resident memory at entry and the highest sample, bytes.
    """

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.start = self.peak = 0
        self._proc = psutil.Process()
        self._stop = threading.Event()

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = self._proc.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        """Peak resident memory above the level at entry, MiB."""
        return (self.peak - self.start) / 2**20
