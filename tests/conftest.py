"""Shared fixtures: the real data folder, the bundled demo cube, laziness guards."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.config import ExperimentConfig, from_dict
from fluxgrid.testing import load_demo_cube, shared_data_path

SHARED = shared_data_path()
#: the drivers of the small demo runs the upscaling tests map
UPSCALE_DRIVERS = ["ta", "sw_in", "vpd"]


def pytest_configure(config):
    # tests must not depend on a terminal; progress bars go nowhere
    np.seterr(all="ignore")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real FLUXNET2015 data); tests needing it skip where it is absent."""
    if SHARED is None:
        pytest.skip("real data folder ../shared/data not available (set FLUXGRID_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def hh_zarr(shared_data) -> Path:
    return shared_data / "fluxnet2015" / "hh.zarr"


@pytest.fixture(scope="session")
def mm_dir(shared_data) -> Path:
    return shared_data / "fluxnet2015" / "mm"


@pytest.fixture()
def demo_cube():
    """Daily cube of the bundled FLUXNET2015 subset (5 sites, 2007-2012), a fresh copy."""
    return load_demo_cube()


def _train_demo(path, *, model="lstm", params=None, seed=0, static=("doy", "latlon", "igbp")):
    """A small run on the demo cube (2007-2008, 20-day look-back, 2 epochs): its directory."""
    from fluxgrid.training import train_experiment

    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {
                "source": "demo",
                "drivers": UPSCALE_DRIVERS,
                "period": ["2007-01-01", "2008-12-31"],
            },
            "split": {"method": "random_years", "test_fraction": 0.5, "seed": 0},
            "windows": {"lookback": 20, "static": list(static)},
            "model": {"name": model, "params": params or {"hidden": 8}},
            "train": {"epochs": 2, "device": "cpu", "seed": seed, "batch_size": 512},
        },
    )
    return train_experiment(cfg, output=path, cube=load_demo_cube(), progress=False)


@pytest.fixture(scope="session")
def train_demo():
    """``train_demo(path, model=, params=, seed=, static=)``: a small demo run's directory."""
    pytest.importorskip("torch")
    return _train_demo


@pytest.fixture(scope="session")
def demo_lstm_runs(train_demo, tmp_path_factory):
    """Two small demo LSTMs (seeds 0 and 1, IGBP input): run directories, trained once."""
    base = tmp_path_factory.mktemp("demo_runs")
    return [train_demo(base / f"lstm_seed{s}", seed=s) for s in (0, 1)]


class _CountingScheduler:
    """A Dask scheduler that counts how often it is asked to compute."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture()
def no_compute():
    """Fail if anything inside the ``with`` block makes Dask compute.

    Usage: ``with no_compute(): build_lazy_thing()``.
    """
    import contextlib

    @contextlib.contextmanager
    def guard():
        counter = _CountingScheduler()
        with dask.config.set(scheduler=counter):
            yield counter
        assert counter.calls == 0, f"Dask computed {counter.calls} time(s) during a lazy step"

    return guard


@pytest.fixture()
def daily_flux_map():
    """Factory of constant daily flux maps ``(time, lat, lon)`` on a grid's cells.

    Usage: ``daily_flux_map(-1.0, grid, "2003-01-01", "2004-12-31")`` (default: 2003), with
    ``units``, ``name`` (``"nee"``) and ``dtype`` (``"float32"``) keywords.
    """

    def make(
        value,
        grid,
        start="2003-01-01",
        end=None,
        *,
        units="gC m-2 d-1",
        name="nee",
        dtype="float32",
    ):
        end = end or f"{pd.Timestamp(start).year}-12-31"
        time = pd.date_range(start, end, freq="D")
        data = np.full((time.size, grid.sizes["lat"], grid.sizes["lon"]), value, dtype=dtype)
        return xr.DataArray(
            data,
            coords={"time": time, "lat": grid.lat, "lon": grid.lon},
            dims=("time", "lat", "lon"),
            name=name,
            attrs={"units": units},
        )

    return make


@pytest.fixture()
def cf_checker_errors():
    """``errors(path)``: the IOOS compliance checker's CF-1.8 errors (high priority) for a file."""
    pytest.importorskip("compliance_checker")
    from compliance_checker.runner import CheckSuite, ComplianceChecker

    CheckSuite.load_all_available_checkers()

    def errors(path) -> list[str]:
        import json
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            report = f"{tmp}/report.json"
            ComplianceChecker.run_checker(
                str(path), ["cf:1.8"], 0, "normal", output_filename=report, output_format="json"
            )
            with open(report) as f:
                result = json.load(f)["cf:1.8"]
        return [
            f"{item['name']}: {msg}"
            for item in result.get("high_priorities", [])
            for msg in item.get("msgs", [])
        ]

    return errors
