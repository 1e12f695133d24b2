"""Lazy (Dask) cubes stay lazy: steps build graphs and compute at most a small index."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from dask.callbacks import Callback

from fluxgrid.config import SplitConfig
from fluxgrid.evaluate import metrics
from fluxgrid.io.store import open_cube, write_cube
from fluxgrid.prep.qc import qc_mask
from fluxgrid.prep.splits import make_split
from fluxgrid.rs.radiation import add_clearsky
from fluxgrid.windows import build_windows


class _Computes(Callback):
    """Counts Dask computes (scheduler runs) inside the ``with`` block."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def _start(self, dsk):
        self.calls += 1


@pytest.fixture()
def lazy_cube(demo_cube):
    """The demo cube Dask-backed, two sites per chunk; site coordinates in memory."""
    lazy = demo_cube.chunk({"site": 2, "time": 1000})
    return lazy.assign_coords(
        {c: demo_cube[c] for c in demo_cube.coords if c not in ("site", "time")}
    )


def test_add_clearsky_is_lazy_on_a_lazy_cube(lazy_cube, demo_cube, no_compute):
    days = lazy_cube.isel(time=slice(0, 40))
    with no_compute():
        out = add_clearsky(days)
    assert out.sw_clearsky.chunks is not None
    eager = add_clearsky(demo_cube.isel(time=slice(0, 40)))
    assert eager.sw_clearsky.chunks is None  # in memory in, in memory out
    np.testing.assert_allclose(out.sw_clearsky.values, eager.sw_clearsky.values)


def test_add_clearsky_computes_lazy_site_coordinates_once(demo_cube):
    days = demo_cube.isel(time=slice(0, 10)).chunk({"site": 2})
    assert days.latitude.chunks is not None
    with _Computes() as counter:
        out = add_clearsky(days)
    assert counter.calls == 1 and out.sw_clearsky.chunks is not None


def test_windows_compute_only_the_index_masks_once(lazy_cube, demo_cube):
    split = make_split(demo_cube, {"method": "temporal", "validation": "tail"}, target="nee")
    with _Computes() as counter:
        got = build_windows(
            lazy_cube, ["ta", "vpd"], "nee", lookback=30, split=split.chunk(), fill_gaps=3
        )
    assert counter.calls == 1
    want = build_windows(demo_cube, ["ta", "vpd"], "nee", lookback=30, split=split, fill_gaps=3)
    np.testing.assert_array_equal(got.site_idx, want.site_idx)
    np.testing.assert_array_equal(got.end_idx, want.end_idx)
    np.testing.assert_array_equal(got.part, want.part)
    xr.testing.assert_identical(got.report, want.report)


def test_split_computes_the_target_validity_once(demo_cube):
    lazy = demo_cube.chunk({"site": 2})  # coordinates lazy too
    config = SplitConfig(method="random_years", validation="tail")
    with _Computes() as counter:
        got = make_split(lazy, config, target="nee")
    assert counter.calls == 1
    xr.testing.assert_identical(got, make_split(demo_cube, config, target="nee"))


def test_qc_mask_keeps_the_cube_lazy(lazy_cube, demo_cube, no_compute):
    # dropping sites needs their valid shares: one compute of the small per-site report
    with _Computes() as counter:
        masked, report = qc_mask(lazy_cube)
    assert counter.calls == 1
    assert masked.nee.chunks is not None and masked.ta.chunks is not None
    with no_compute():
        masked.nee.mean("time")  # still a graph
    want, want_report = qc_mask(demo_cube)
    xr.testing.assert_identical(report, want_report)
    xr.testing.assert_allclose(masked.nee.compute(), want.nee)


def test_write_cube_writes_lazy_data_in_one_pass(lazy_cube, tmp_path):
    with _Computes() as counter:
        write_cube(lazy_cube, tmp_path / "cube.zarr")
    assert counter.calls == 1
    again = open_cube(tmp_path / "cube.zarr")
    assert again.nee.chunks is not None
    xr.testing.assert_allclose(again.nee.compute(), lazy_cube.nee.compute())


def test_metrics_graph_is_built_without_computing(lazy_cube, no_compute):
    with no_compute():
        valid = lazy_cube.gpp_nt.notnull() & lazy_cube.gpp_dt.notnull()
    with _Computes() as counter:
        m = metrics(lazy_cube.gpp_nt, lazy_cube.gpp_dt, dim="time", mask=valid)
    assert counter.calls == 1 and m.r2.dims == ("site",)
