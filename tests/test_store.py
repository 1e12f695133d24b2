from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr

from fluxgrid.errors import ConfigError, FileFormatError, FluxgridError, OutputExistsError
from fluxgrid.io.atomic import atomic_path
from fluxgrid.io.store import (
    check_encoding,
    chunk_plan,
    open_cube,
    store_format,
    to_netcdf,
    write_cube,
)

zarr = pytest.importorskip("zarr")


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
    xr.testing.assert_identical(cube.load(), demo_cube)
    meta = json.loads((path / "zarr.json").read_text())
    assert meta["zarr_format"] == 3 and "consolidated_metadata" in meta  # consolidated
    assert store_format(path) == 3


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


# --------------------------------------------------------------------------- Zarr formats
def test_format_2_on_request_reads_the_same(demo_cube, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v2 = write_cube(demo_cube, tmp_path / "v2.zarr", zarr_format=2)
        v3 = write_cube(demo_cube, tmp_path / "v3.zarr")
    # no fixed-width strings in format 3 (no v3 specification) and no consolidation warning
    texts = [str(w.message) for w in caught]
    assert not [t for t in texts if "FixedLengthUTF32" in t or "Consolidated metadata" in t]
    assert (v2 / ".zmetadata").exists() and store_format(v2) == 2
    assert not (v3 / ".zmetadata").exists() and store_format(v3) == 3
    a, b = open_cube(v2).load(), open_cube(v3).load()
    xr.testing.assert_identical(a, b)
    assert a.site.dtype == b.site.dtype  # index: fixed-width unicode from both
    assert b.igbp.dtype.kind in "OU" and b.igbp.values.tolist() == a.igbp.values.tolist()
    # string coordinates: variable-length strings in format 3 (a specified v3 data type)
    assert json.loads((v3 / "igbp" / "zarr.json").read_text())["data_type"] == "string"
    with pytest.raises(ConfigError, match="zarr_format=4; expected 3"):
        write_cube(demo_cube, tmp_path / "v4.zarr", zarr_format=4)
    with pytest.raises(FileFormatError, match="not a Zarr store"):
        store_format(tmp_path)


@pytest.mark.parametrize("fmt", [2, 3])
def test_append_keeps_the_store_format(demo_cube, tmp_path, fmt):
    path = write_cube(demo_cube.isel(site=[0, 1]), tmp_path / "cube.zarr", zarr_format=fmt)
    write_cube(demo_cube.isel(site=[2, 3]), path, mode="a")
    write_cube(demo_cube.isel(site=[4], time=slice(0, 400)), path, mode="a")  # union axis
    assert store_format(path) == fmt
    back = open_cube(path).load()
    xr.testing.assert_identical(back.isel(site=slice(0, 4)), demo_cube.isel(site=slice(0, 4)))
    xr.testing.assert_identical(
        back.isel(site=[4], time=slice(0, 400)), demo_cube.isel(site=[4], time=slice(0, 400))
    )
    assert back.nee.isel(site=4, time=slice(400, None)).isnull().all()
    other = 2 if fmt == 3 else 3
    with pytest.raises(FluxgridError, match=f"Zarr format {fmt} store; append with"):
        write_cube(demo_cube.isel(site=[0]), tmp_path / "cube.zarr", mode="a", zarr_format=other)


# --------------------------------------------------------------------------- encodings
@pytest.mark.parametrize("fmt", [2, 3])
def test_encoding_sets_compressor_chunks_and_dtype(demo_cube, tmp_path, fmt):
    encoding = {
        "nee": {"compressors": "gzip", "level": 7, "chunks": {"site": 1, "time": 366}},
        "ta": {"dtype": "int16", "scale_factor": 0.01, "_FillValue": -32768},
        "vpd": {"compressors": None},
    }
    path = write_cube(demo_cube, tmp_path / "cube.zarr", zarr_format=fmt, encoding=encoding)
    group = zarr.open_group(path, mode="r")
    assert group["nee"].chunks == (1, 366)
    assert group["ta"].dtype == np.int16
    assert group["vpd"].compressors == ()
    nee_codec = group["nee"].compressors[0]
    assert "gzip" in type(nee_codec).__name__.lower() and nee_codec.level == 7
    assert group["sw_in"].chunks == (5, demo_cube.sizes["time"])  # the chunk plan elsewhere
    back = open_cube(path).load()
    assert back.nee.chunks is None and open_cube(path).nee.chunks[0] == (1,) * 5
    xr.testing.assert_identical(back.nee, demo_cube.nee)
    np.testing.assert_allclose(back.ta, demo_cube.ta, atol=0.005 + 1e-6)  # 0.01 steps
    assert np.isnan(back.ta).sum() == np.isnan(demo_cube.ta).sum()


def test_shards_in_format_3(demo_cube, tmp_path):
    encoding = {"nee": {"chunks": {"site": 1, "time": 548}, "shards": {"site": 5}}}
    path = write_cube(demo_cube, tmp_path / "cube.zarr", encoding=encoding)
    array = zarr.open_group(path, mode="r")["nee"]
    assert array.shards == (5, demo_cube.sizes["time"]) and array.chunks == (1, 548)
    xr.testing.assert_identical(open_cube(path).nee.load(), demo_cube.nee)


@pytest.mark.parametrize(
    ("encoding", "message"),
    [
        ({"gpp": {"dtype": "float32"}}, r"encoding names \['gpp'\], not variables"),
        ({"nee": {"compression": "zstd"}}, r"unknown keys \['compression'\]; known"),
        ({"nee": "zstd"}, r"encoding\['nee'\]='zstd'; expected a mapping"),
        ({"nee": {"compressors": "lzma"}}, r"'lzma'; expected one of \['zstd', 'blosc'"),
        ({"nee": {"compressors": "zstd", "level": "high"}}, "expected an integer"),
        ({"nee": {"chunks": (1,)}}, r"expected 2 sizes \(dims \['site', 'time'\]\)"),
        ({"nee": {"chunks": {"lat": 4}}}, r"names dims \['lat'\]; 'nee' has dims"),
        ({"nee": {"chunks": (0, 10)}}, "sizes must be integers >= 1"),
        ({"nee": {"dtype": "int16"}}, "would truncate the float values of 'nee'"),
        ({"nee": {"dtype": "float33"}}, "is not a NumPy dtype"),
        ({"nee": {"shards": (5, 100), "chunks": (2, 100)}}, r"multiples of chunks \(2, 100\)"),
    ],
)
def test_bad_encodings_are_named_before_writing(demo_cube, tmp_path, encoding, message):
    with pytest.raises(ConfigError, match=message):
        write_cube(demo_cube, tmp_path / "cube.zarr", encoding=encoding)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_encoding_rules_that_depend_on_the_format(demo_cube, tmp_path):
    with pytest.raises(ConfigError, match="sharding needs zarr_format=3"):
        write_cube(
            demo_cube, tmp_path / "a.zarr", zarr_format=2, encoding={"nee": {"shards": (5, 10)}}
        )
    assert check_encoding(demo_cube, None) == {}
    codec = zarr.codecs.ZstdCodec(level=1)
    assert check_encoding(demo_cube, {"nee": {"compressors": codec}}) == {
        "nee": {"compressors": (codec,)}
    }
    with pytest.raises(ConfigError, match="'level' goes with a compressor name"):
        check_encoding(demo_cube, {"nee": {"compressors": codec, "level": 3}})
    path = write_cube(demo_cube.isel(site=[0]), tmp_path / "b.zarr")
    with pytest.raises(FluxgridError, match="encoding applies to new stores"):
        write_cube(demo_cube.isel(site=[1]), path, mode="a", encoding={"nee": {"chunks": (1, 10)}})


# --------------------------------------------------------------------------- append checks
@pytest.mark.parametrize("time", [slice(None), slice(0, 300)])
def test_append_with_other_coordinates_names_them(demo_cube, tmp_path, time):
    path = write_cube(demo_cube.isel(site=[0, 1]), tmp_path / "cube.zarr")
    before = open_cube(path).load()
    missing = demo_cube.isel(site=[2], time=time).drop_vars("record_minutes")
    with pytest.raises(FluxgridError, match=r"\['record_minutes'\] of the store are missing"):
        write_cube(missing, path, mode="a")
    extra = demo_cube.isel(site=[2], time=time).assign_coords(country=("site", ["DE"]))
    with pytest.raises(FluxgridError, match=r"\['country'\] of the new cube are not in the"):
        write_cube(extra, path, mode="a")
    xr.testing.assert_identical(open_cube(path).load(), before)  # the store is untouched
