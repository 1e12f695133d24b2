"""The ``site_cube`` recipe on a 2-worker LocalCluster with the bundled FLUXNET2015 subset.

The recipe files are copied beside each other into a temporary folder (a recipe module is
found next to its YAML) with ``source`` pointed at ``fluxgrid/data/fluxnet2015_hh_demo.zarr``.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from fluxgrid.io.store import open_cube
from fluxgrid.recipe import run_recipe
from fluxgrid.testing import DEMO_SITES, demo_hh_path, load_demo_cube

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


@pytest.fixture()
def site_cube_recipe(tmp_path) -> Path:
    raw = yaml.safe_load((RECIPES / "site_cube.yaml").read_text())
    raw["config"]["source"] = str(demo_hh_path())
    folder = tmp_path / "recipes"
    folder.mkdir()
    shutil.copy(RECIPES / "site_cube.py", folder / "site_cube.py")
    path = folder / "site_cube.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.slow
def test_site_cube_recipe_on_local_cluster_resumes(site_cube_recipe, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="fluxgrid")
    out = tmp_path / "run"
    result = run_recipe(site_cube_recipe, output=out, n_workers=2, threads_per_worker=1)
    log = caplog.text
    caplog.clear()
    assert "on Dask cluster tcp://" in log
    assert result == {
        "site_cube": str(out / "site_cube.zarr"),
        "qc_report": str(out / "qc_report.nc"),
    }
    assert (out / "recipe_config.yaml").exists()
    cube = open_cube(out / "site_cube.zarr").compute()
    assert sorted(cube.site.values.tolist()) == sorted(DEMO_SITES)
    assert cube.attrs["resolution"] == "DD"
    assert cube.nee.attrs["units"] == "gC m-2 d-1"
    # the cluster computed the same daily values as the in-process path (same QC rule)
    reference = load_demo_cube().sel(site=cube.site.values)
    common = np.intersect1d(cube.time.values, reference.time.values)
    assert common.size >= 365 * 6
    ta = cube.ta.sel(time=common).values
    np.testing.assert_allclose(ta, reference.ta.sel(time=common).values, rtol=1e-6, equal_nan=True)
    report = open_cube(out / "qc_report.nc")
    assert "dropped" in report

    # a re-run finds the outputs and skips them (the recipe resumes)
    stamp = (out / "site_cube.zarr").stat().st_mtime_ns
    again = run_recipe(site_cube_recipe, output=out, n_workers=2, threads_per_worker=1)
    log = caplog.text
    assert again == result
    assert "skip" in log and "site_cube.zarr" in log
    assert (out / "site_cube.zarr").stat().st_mtime_ns == stamp
