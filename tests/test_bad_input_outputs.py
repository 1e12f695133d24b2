"""Nothing lost, nothing silent on the output side (issue 10).

Concurrent writers (a real second process holds the lock, or writes meanwhile), stale locks
of dead processes, leftovers of killed writes, recipe re-runs with a changed config, an
upscaling period the drivers do not cover, maps that cannot hold any value, and output paths
that cannot be written. Fixtures are real formats made here: Zarr cubes of the bundled
FLUXNET2015 demo towers, driver grids carrying those towers' real daily drivers, a small
LSTM run trained on the demo cube.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fluxgrid.cli import main
from fluxgrid.config import ExperimentConfig, from_dict
from fluxgrid.errors import (
    ConfigError,
    FluxgridWarning,
    GridError,
    OutputExistsError,
    OutputLockedError,
    OutputPathError,
)
from fluxgrid.grids import open_grid, write_grid
from fluxgrid.io.atomic import atomic_path, check_writable, lock_holder, lock_path
from fluxgrid.io.maps import open_map
from fluxgrid.io.store import open_cube, write_cube
from fluxgrid.recipe import CONFIG_FILE, PROVENANCE_FILE, run_recipe
from fluxgrid.runs import load_run
from fluxgrid.testing import demo_hh_path, load_demo_cube, tower_driver_grid
from fluxgrid.training import train_experiment
from fluxgrid.upscale import upscale, upscale_to_map

DRIVERS = ["ta", "sw_in", "vpd"]
LOOKBACK = 5


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def demo():
    return load_demo_cube()


@pytest.fixture()
def small_cube(demo):
    """Two real towers, 60 days: a small real site cube to write."""
    return demo[["nee", "ta"]].isel(site=[0, 1], time=slice(0, 60)).compute()


@pytest.fixture(scope="module")
def run(tmp_path_factory, demo):
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "drivers": DRIVERS, "period": ["2007-01-01", "2008-12-31"]},
            "split": {"method": "random_years", "test_fraction": 0.5, "seed": 0},
            "windows": {"lookback": LOOKBACK, "static": ["doy"]},
            "model": {"name": "lstm", "params": {"hidden": 4}},
            "train": {"epochs": 1, "device": "cpu", "seed": 0, "batch_size": 512},
        },
    )
    path = train_experiment(
        cfg, output=tmp_path_factory.mktemp("run") / "lstm", cube=demo, progress=False
    )
    return load_run(path, device="cpu")


def _tower_grid(cube, start="2009-01-01", days=30, shape=(2, 2)):
    """``(time, lat, lon)`` drivers whose cell k carries tower (k mod 5)'s real daily drivers."""
    return tower_driver_grid(cube, DRIVERS, shape=shape, start=start, days=days)[0]


def _holder(target: Path, *, what: str = "write_lock") -> subprocess.Popen:
    """A second process holding the lock of ``target`` until its stdin is closed."""
    code = textwrap.dedent(
        f"""
        import sys
        from fluxgrid.io.atomic import {what}
        with {what}({str(target)!r}):
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock_file(target: Path, **fields) -> Path:
    lock = lock_path(target)
    record = {
        "pid": _dead_pid(),
        "host": socket.gethostname(),
        "started": "2020-01-01T00:00:00+0000",
        "time": time.time() - 3600,
        "token": "x",
        **fields,
    }
    lock.write_text(json.dumps(record) + "\n")
    return lock


# --------------------------------------------------------------------------- item 1: locks
def test_second_writer_of_a_cube_is_refused_while_another_process_writes(small_cube, tmp_path):
    target = tmp_path / "same.zarr"
    proc = _holder(target)
    try:
        with pytest.raises(OutputLockedError) as err:
            write_cube(small_cube, target)
        text = str(err.value)
        assert str(target) in text and f"process {proc.pid}" in text
        assert str(lock_path(target)) in text and "Wait for that run" in text
        assert not target.exists()
        with pytest.raises(OutputLockedError, match=f"process {proc.pid}"):
            check_writable(target, overwrite=True)  # refused before any work
    finally:
        _release(proc)
    assert not lock_path(target).exists()  # released by its holder
    write_cube(small_cube, target)
    assert open_cube(target).sizes["site"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.zarr"]


def test_two_ingest_commands_onto_one_store(tmp_path, capsys):
    target = tmp_path / "same.zarr"
    proc = _holder(target)
    try:
        code = main(["ingest", str(demo_hh_path()), "--sites", "DE-Hai", "-o", str(target)])
        assert code == 2
        err = capsys.readouterr().err
        assert "being written by process" in err and str(proc.pid) in err
        assert not target.exists()
    finally:
        _release(proc)


def test_a_write_by_another_process_meanwhile_is_not_replaced(small_cube, tmp_path):
    """check_writable saw no output; another process wrote it before this one moved in."""
    target = tmp_path / "cube.zarr"
    check_writable(target, overwrite=False)
    other = textwrap.dedent(
        f"""
        from fluxgrid.io.store import write_cube
        from fluxgrid.testing import load_demo_cube
        write_cube(load_demo_cube()[["ta"]].isel(site=[4], time=slice(0, 10)), {str(target)!r})
        """
    )
    subprocess.run([sys.executable, "-c", other], check=True)
    with pytest.raises(OutputLockedError, match="appeared while this process"):
        with atomic_path(target) as tmp:
            small_cube.to_zarr(tmp)
    assert open_cube(target).sizes["site"] == 1  # the other result is kept


def test_a_lock_of_a_dead_process_is_taken_over_with_a_warning(small_cube, tmp_path):
    target = tmp_path / "cube.zarr"
    lock = _write_lock_file(target)
    dead = json.loads(lock.read_text())["pid"]
    with pytest.warns(FluxgridWarning, match=rf"stale lock .*process {dead} is not running"):
        write_cube(small_cube, target)
    assert open_cube(target).sizes["site"] == 2 and not lock.exists()


def test_an_old_empty_lock_file_is_stale(small_cube, tmp_path):
    target = tmp_path / "cube.zarr"
    lock = lock_path(target)
    lock.write_text("")
    os.utime(lock, (time.time() - 60, time.time() - 60))
    with pytest.warns(FluxgridWarning, match="empty or unreadable"):
        write_cube(small_cube, target)
    assert not lock.exists()


def test_a_lock_from_another_host_is_never_taken_over(small_cube, tmp_path):
    target = tmp_path / "cube.zarr"
    lock = _write_lock_file(target, host="compute-node-7", pid=4242)
    with pytest.raises(OutputLockedError) as err:
        write_cube(small_cube, target)
    text = str(err.value)
    assert "process 4242 on host compute-node-7" in text and f"delete {lock}" in text
    assert lock.exists() and not target.exists()


def test_lock_is_released_after_a_failed_write(tmp_path):
    target = tmp_path / "x.nc"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            assert lock_holder(target)["pid"] == os.getpid()
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- stale temporaries
def test_leftovers_of_a_killed_write_are_removed_on_the_next_write(small_cube, tmp_path):
    target = tmp_path / "cube.zarr"
    code = textwrap.dedent(
        f"""
        import time
        from fluxgrid.io.atomic import atomic_path
        from fluxgrid.testing import load_demo_cube
        with atomic_path({str(target)!r}) as tmp:
            load_demo_cube()[["ta"]].isel(site=[0], time=slice(0, 10)).to_zarr(tmp)
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = [p.name for p in tmp_path.iterdir()]
    assert (
        any(n.startswith(".cube.zarr.tmp-") for n in leftovers) and ".cube.zarr.lock" in leftovers
    )
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        write_cube(small_cube, target)
    messages = [str(w.message) for w in seen if issubclass(w.category, FluxgridWarning)]
    assert any(f"process {proc.pid} is not running" in m for m in messages)
    assert any("removed 1 temporary path(s) left by an interrupted write" in m for m in messages)
    assert [p.name for p in tmp_path.iterdir()] == ["cube.zarr"]


def test_temporaries_of_a_live_writer_are_left_alone(tmp_path):
    target = tmp_path / "map.nc"
    proc = _holder(target)
    tmp = tmp_path / ".map.nc.tmp-0123abcd"
    tmp.write_text("being written")
    try:
        with pytest.raises(OutputLockedError):
            with atomic_path(target):
                pass
        assert tmp.exists()
    finally:
        _release(proc)


# --------------------------------------------------------------------------- recipes
TOY_RECIPE = '''
"""Test recipe: a daily site cube of some demo towers, then their mean NEE as a table."""
import time
from dataclasses import dataclass
from pathlib import Path

from fluxgrid.io.atomic import atomic_path
from fluxgrid.io.store import open_cube, write_cube
from fluxgrid.testing import load_demo_cube


@dataclass(frozen=True)
class Config:
    sites: tuple[str, ...] = ("DE-Hai",)
    days: int = 30
    wait_for: str | None = None
    fail_after_cube: bool = False


def run(cfg, ctx):
    cube_path, table_path = ctx.path("cube.zarr"), ctx.path("tables", "nee.csv")
    if cfg.wait_for:
        print("running", flush=True)
        while not Path(cfg.wait_for).exists():
            time.sleep(0.05)
    if not ctx.done(cube_path):
        cube = load_demo_cube()[["nee"]].sel(site=list(cfg.sites)).isel(time=slice(0, cfg.days))
        write_cube(cube, cube_path, overwrite=True)
    if cfg.fail_after_cube:
        raise RuntimeError("stopped after the cube")
    if not ctx.done(table_path):
        with atomic_path(table_path) as tmp:
            open_cube(cube_path).nee.mean("time").to_pandas().to_csv(tmp)
    return {"cube": str(cube_path), "table": str(table_path)}
'''


def _recipe(folder: Path, **config) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "toy.py").write_text(TOY_RECIPE)
    path = folder / "toy.yaml"
    path.write_text(yaml.safe_dump({"recipe": "toy", "config": config}))
    return path


def test_recipe_rerun_with_a_changed_config_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path / "r", sites=["DE-Hai"])
    first = run_recipe(recipe, output=out, scheduler="threads")
    record = json.loads((out / PROVENANCE_FILE).read_text())
    digest = record["outputs"]["cube.zarr"]["config"]
    assert record["outputs"]["tables/nee.csv"]["config"] == digest
    assert record["configs"][digest]["config"]["sites"] == ["DE-Hai"]
    stamp = (out / "cube.zarr").stat().st_mtime_ns
    assert run_recipe(recipe, output=out, scheduler="threads") == first  # resumes: same config
    assert (out / "cube.zarr").stat().st_mtime_ns == stamp

    config_text = (out / CONFIG_FILE).read_text()
    _recipe(tmp_path / "r", sites=["DE-Hai", "FR-Pue"], days=40)
    with pytest.raises(OutputExistsError) as err:
        run_recipe(recipe, output=out, scheduler="threads")
    text = str(err.value)
    assert "config.days: 30 -> 40" in text
    assert "config.sites: ['DE-Hai'] -> ['DE-Hai', 'FR-Pue']" in text and "--overwrite" in text
    assert (out / CONFIG_FILE).read_text() == config_text  # provenance still matches the data
    assert (out / "cube.zarr").stat().st_mtime_ns == stamp
    # the command line says the same (exit 2), and --overwrite recomputes with the new config
    assert main(["run", str(recipe), "-o", str(out), "--scheduler", "threads"]) == 2
    assert "config.days: 30 -> 40" in capsys.readouterr().err
    args = ["run", str(recipe), "-o", str(out), "--scheduler", "threads", "--overwrite"]
    assert main(args) == 0
    assert open_cube(out / "cube.zarr").sizes["site"] == 2
    assert yaml.safe_load((out / CONFIG_FILE).read_text())["days"] == 40
    record = json.loads((out / PROVENANCE_FILE).read_text())
    new = {entry["config"] for entry in record["outputs"].values()}
    assert len(new) == 1 and new != {digest}


def test_an_output_left_from_an_earlier_config_is_not_skipped(tmp_path):
    """An --overwrite run stopped midway: the table is still of the old config; resuming
    the new config without --overwrite must not skip it."""
    out = tmp_path / "out"
    recipe = _recipe(tmp_path / "r", sites=["DE-Hai"])
    run_recipe(recipe, output=out, scheduler="threads")
    _recipe(tmp_path / "r", sites=["FR-Pue"], fail_after_cube=True)
    with pytest.raises(RuntimeError, match="stopped after the cube"):
        run_recipe(recipe, output=out, scheduler="threads", overwrite=True)
    with pytest.raises(OutputExistsError) as err:
        run_recipe(recipe, output=out, scheduler="threads")
    text = str(err.value)
    assert "tables/nee.csv was made by another config" in text
    assert "config.sites: ['DE-Hai'] -> ['FR-Pue']" in text
    assert "config.fail_after_cube: False -> True" in text


def test_a_damaged_output_record_is_named(tmp_path):
    out = tmp_path / "out"
    recipe = _recipe(tmp_path / "r")
    run_recipe(recipe, output=out, scheduler="threads")
    (out / PROVENANCE_FILE).write_text("[1, 2")
    with pytest.raises(ConfigError, match=rf"{PROVENANCE_FILE}: not a record of recipe outputs"):
        run_recipe(recipe, output=out, scheduler="threads")


def test_two_recipe_runs_into_one_folder(tmp_path):
    out, flag = tmp_path / "out", tmp_path / "go"
    first = _recipe(tmp_path / "a", wait_for=str(flag))
    code = textwrap.dedent(
        f"""
        from fluxgrid.recipe import run_recipe
        run_recipe({str(first)!r}, output={str(out)!r}, scheduler="threads")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "running"
        second = _recipe(tmp_path / "b", wait_for=str(flag))
        with pytest.raises(OutputLockedError) as err:
            run_recipe(second, output=out, scheduler="threads")
        assert f"process {proc.pid}" in str(err.value) and str(out) in str(err.value)
    finally:
        flag.touch()
        assert proc.wait(timeout=60) == 0
    assert open_cube(out / "cube.zarr").sizes["site"] == 1
    assert not lock_path(out).exists()


# --------------------------------------------------------------------------- item 5: period
def test_period_past_the_drivers_end_is_refused_or_clipped(run, demo, tmp_path):
    ds = _tower_grid(demo, days=30)  # 2009-01-01..2009-01-30
    with pytest.raises(GridError) as err:
        upscale(ds, run, period=("2009-01-20", "2009-02-04"))
    text = str(err.value)
    assert "they cover 2009-01-01..2009-01-30" in text and "period 2009-01-20..2009-02-04" in text
    assert "2009-01-31..2009-02-04 (5 days) after the drivers end" in text
    assert "clip_period=True" in text and "--clip-period" in text
    with pytest.warns(FluxgridWarning, match=r"not mapped: 2009-01-31\.\.2009-02-04 \(5 days\)"):
        maps = upscale(ds, run, period=("2009-01-20", "2009-02-04"), clip_period=True)
    assert maps.time.values[[0, -1]].astype("datetime64[D]").astype(str).tolist() == [
        "2009-01-20",
        "2009-01-30",
    ]
    with pytest.warns(FluxgridWarning, match="before the first mappable day 2009-01-05"):
        early = upscale(ds, run, period=("2008-12-25", "2009-01-10"), clip_period=True)
    assert str(early.time.values[0])[:10] == "2009-01-05"
    with pytest.raises(GridError, match="selects no mappable day"):
        upscale(ds, run, period=("2010-01-01", "2010-02-01"), clip_period=True)
    with pytest.raises(ConfigError, match="not a date"):
        upscale(ds, run, period=("2009-13-01", "2009-01-20"))


def test_upscale_command_period_past_the_end(run, demo, tmp_path, capsys):
    store = write_grid(_tower_grid(demo, days=30), tmp_path / "drivers.zarr")
    out = tmp_path / "map.nc"
    args = ["upscale", str(run.path), str(store), "-o", str(out)]
    assert main([*args, "--period", "2009-01-10", "2009-02-15"]) == 2
    err = capsys.readouterr().err
    assert "2009-01-31..2009-02-15 (16 days) after the drivers end" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [store]
    assert main([*args, "--period", "2009-01-10", "2009-02-15", "--clip-period"]) == 0
    err = capsys.readouterr().err
    assert "fluxgrid upscale: warning: period 2009-01-10..2009-02-15 clipped to " in err
    assert "2009-01-10..2009-01-30; not mapped: 2009-01-31..2009-02-15 (16 days)" in err
    assert open_map(out).sizes["time"] == 21


def test_two_upscale_commands_onto_one_map(run, demo, tmp_path, capsys):
    store = write_grid(_tower_grid(demo, days=20), tmp_path / "drivers.zarr")
    out = tmp_path / "map.nc"
    proc = _holder(out)
    try:
        assert main(["upscale", str(run.path), str(store), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert "being written by process" in err and str(proc.pid) in err
    finally:
        _release(proc)
    assert main(["upscale", str(run.path), str(store), "-o", str(out)]) == 0


# --------------------------------------------------------------------------- item 7: maps
def test_nan_only_driver_refused_in_memory_and_lazily(run, demo, tmp_path):
    ds = _tower_grid(demo, days=30)
    ds["vpd"] = ds.vpd.where(False)  # a driver file holding only missing values
    with pytest.raises(GridError) as err:
        upscale(ds, run)
    assert "every value of nee is NaN" in str(err.value)
    assert "NaN-only in every cell: vpd on 2009-01-01..2009-01-30 (30 days)" in str(err.value)
    store = write_grid(ds, tmp_path / "drivers.zarr")
    target = tmp_path / "map.nc"
    with pytest.raises(GridError, match=f"vpd.*nothing was written to {target}"):
        upscale_to_map(run, open_grid(store), target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drivers.zarr"]


def test_days_without_any_value_are_warned_about(run, demo, tmp_path):
    ds = _tower_grid(demo, days=30)
    gap = slice(pd.Timestamp("2009-01-15"), pd.Timestamp("2009-01-16"))
    for v in DRIVERS:
        ds[v].loc[{"time": gap}] = np.nan
    # windows touching the gap days are incomplete: 2009-01-15 .. 2009-01-20 have no value
    with pytest.warns(FluxgridWarning) as seen:
        maps = upscale(ds, run)
    text = " ".join(str(w.message) for w in seen)
    assert (
        "no value in any cell on 6 of 26 mappable day(s): 2009-01-15..2009-01-20 (6 days)" in text
    )
    assert "NaN-only in every cell: ta, sw_in, vpd on 2009-01-15..2009-01-16 (2 days)" in text
    assert np.isfinite(maps.nee.sel(time="2009-01-21")).all()


# --------------------------------------------------------------------------- unclear errors
def test_output_parent_is_a_file(small_cube, tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OutputPathError, match=rf"{blocker} is a file, not a folder"):
        write_cube(small_cube, blocker / "cube.zarr")
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        run_recipe(_recipe(tmp_path / "r"), output=blocker / "out", scheduler="threads")
    out = blocker / "sub" / "x.zarr"
    assert main(["ingest", str(demo_hh_path()), "--sites", "DE-Hai", "-o", str(out)]) == 2
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(small_cube, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match=rf"the folder {folder} is read-only"):
            write_cube(small_cube, folder / "cube.zarr")
    finally:
        folder.chmod(0o755)


def test_refused_lock_file_or_temporary_write_is_a_clear_error(small_cube, tmp_path, monkeypatch):
    """Where permissions cannot be checked in advance (root, ACLs, a read-only file system)."""
    real_open = os.open

    def refusing(path, *args, **kwargs):
        if str(path).endswith(".lock"):
            raise PermissionError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    with pytest.raises(OutputPathError, match=r"\.cube\.zarr\.lock cannot be created"):
        write_cube(small_cube, tmp_path / "cube.zarr")
    monkeypatch.undo()

    target = tmp_path / "t.csv"
    with pytest.raises(OutputPathError, match=r"cannot write .*t\.csv: .*\.t\.csv\.tmp-"):
        with atomic_path(target) as tmp:
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp))
    assert list(tmp_path.iterdir()) == []
