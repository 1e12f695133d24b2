from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from fluxgrid.errors import FluxgridError, OutputExistsError
from fluxgrid.io.atomic import atomic_path
from fluxgrid.io.store import chunk_plan, open_cube, to_netcdf, write_cube


def test_chunk_plan_keeps_all_time_per_chunk(demo_cube):
    plan = chunk_plan(demo_cube)
    assert plan["time"] == demo_cube.sizes["time"]
    assert 1 <= plan["site"] <= demo_cube.sizes["site"]


def test_write_open_round_trip_is_lazy_and_exact(demo_cube, tmp_path, no_compute):
    path = write_cube(demo_cube, tmp_path / "cube.zarr")
    with no_compute():
        cube = open_cube(path)
    assert cube.nee.chunks is not None
    assert cube.nee.chunks[1] == (demo_cube.sizes["time"],)
    xr.testing.assert_allclose(cube.load(), demo_cube)
    assert (path / ".zmetadata").exists()  # consolidated


def test_append_sites_same_axis(demo_cube, tmp_path):
    path = tmp_path / "cube.zarr"
    write_cube(demo_cube.isel(site=[0, 1]), path)
    write_cube(demo_cube.isel(site=[2, 3, 4]), path, mode="a")
    xr.testing.assert_allclose(open_cube(path).load(), demo_cube)


def test_append_sites_other_time_axis_joins_outer(demo_cube, tmp_path):
    path = tmp_path / "cube.zarr"
    write_cube(demo_cube.isel(site=[0], time=slice(0, 100)), path)
    write_cube(demo_cube.isel(site=[1], time=slice(50, 200)), path, mode="a")
    cube = open_cube(path).load()
    assert cube.sizes == {"site": 2, "time": 200}
    assert np.isnan(cube.nee.isel(site=0, time=150))
    assert cube.igbp.values.tolist() == demo_cube.igbp.values[:2].tolist()


def test_append_refuses_duplicate_sites(demo_cube, tmp_path):
    path = write_cube(demo_cube.isel(site=[0]), tmp_path / "cube.zarr")
    with pytest.raises(FluxgridError, match="already in the store"):
        write_cube(demo_cube.isel(site=[0]), path, mode="a")


def test_existing_output_refused_unless_overwrite(demo_cube, tmp_path):
    path = write_cube(demo_cube.isel(site=[0]), tmp_path / "cube.zarr")
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_cube(demo_cube, path)
    write_cube(demo_cube, path, overwrite=True)
    assert open_cube(path).sizes["site"] == 5


def test_failed_write_leaves_previous_store_intact(demo_cube, tmp_path):
    path = write_cube(demo_cube.isel(site=[0]), tmp_path / "cube.zarr")
    before = open_cube(path).load()
    broken = demo_cube.isel(site=[1]).copy()
    # a lazy variable that fails while being written, as an interrupted job would
    import dask.array as da

    def explode(block):
        raise RuntimeError("simulated failure mid-write")

    broken["nee"] = (
        ("site", "time"),
        da.map_blocks(explode, da.zeros(broken.nee.shape, chunks=(1, 500)), dtype="float32"),
    )
    with pytest.raises(RuntimeError, match="mid-write"):
        write_cube(broken, path, mode="a")
    with pytest.raises(RuntimeError, match="mid-write"):
        write_cube(broken, path, overwrite=True)
    xr.testing.assert_identical(open_cube(path).load(), before)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "cube.zarr"]
    assert leftovers == []


def test_atomic_path_swap_recovers_after_interruption(tmp_path):
    target = tmp_path / "store"
    target.mkdir()
    (target / "a").write_text("old")
    # simulate a crash between the two renames of a directory swap
    backup = tmp_path / "store.fluxgrid-old"
    target.rename(backup)
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("new")
    assert (target / "a").read_text() == "new"
    assert not backup.exists()


def test_netcdf_export_round_trip(demo_cube, tmp_path):
    path = to_netcdf(demo_cube, tmp_path / "cube.nc")
    back = xr.open_dataset(path).load()
    xr.testing.assert_allclose(back, demo_cube)
    assert back.nee.attrs["units"] == "gC m-2 d-1"
    with pytest.raises(OutputExistsError):
        to_netcdf(demo_cube, path)
