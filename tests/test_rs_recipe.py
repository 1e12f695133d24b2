"""The rs_cube recipe end to end on offline catalogs (threads; a 2-worker cluster is `slow`)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fluxgrid.io.store import open_cube
from fluxgrid.recipe import load_recipe, run_recipe
from fluxgrid.rs.testing import write_modis_catalog, write_s1_catalog, write_s2_catalog

pytest.importorskip("odc.stac")
pytestmark = pytest.mark.filterwarnings(
    "ignore::PendingDeprecationWarning", "ignore::DeprecationWarning"
)

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
SITES = {"DE-Hai": (51.0792, 10.453), "US-MMS": (39.3232, -86.4131)}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    root = tmp_path_factory.mktemp("rs_recipe")
    s2 = write_s2_catalog(
        root / "s2",
        SITES,
        pd.date_range("2010-05-02", periods=4, freq="5D"),
        conditions=["clear", "cloud_patch", "clear", "clear"],
    )
    s1 = write_s1_catalog(root / "s1", {"DE-Hai": SITES["DE-Hai"]}, ["2010-05-03", "2010-05-09"])
    lst = write_modis_catalog(root / "lst", SITES, pd.date_range("2010-05-02", periods=3))
    shutil.copy(RECIPES / "rs_cube.py", root / "rs_cube.py")
    config = yaml.safe_load((RECIPES / "rs_cube.yaml").read_text())
    config["config"].update(
        {
            "sites": list(SITES),
            "start": "2010-05-01",
            "end": "2010-05-20",
            "stac": {"source": str(s2), "retries": 0},
            "sources": {"s1": str(s1), "lst": str(lst)},
            "interpolate": True,
        }
    )
    config["config"]["clearsky"]["step_minutes"] = 60
    path = root / "rs_cube.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_shipped_recipe_parses():
    _, cfg, raw = load_recipe(RECIPES / "rs_cube.yaml")
    assert raw["recipe"] == "rs_cube"
    assert cfg.stac.sign == "planetary_computer.sign"
    assert cfg.s2.buffer_m == 1000.0 and cfg.s1.inner_m == 50.0 and cfg.lst.window == 3


def test_recipe_runs_offline_and_resumes(recipe, tmp_path, caplog):
    out = run_recipe(recipe, output=tmp_path / "run", scheduler="threads")
    cube = open_cube(out["rs_cube"]).load()
    assert list(cube.site.values) == ["DE-Hai", "US-MMS"]
    for name in ("sw_clearsky", "s2_pc1", "s2_ndvi", "s2_status", "s1_vv_db", "lst_terra_day"):
        assert name in cube, name
        assert cube[name].attrs["units"]
    assert (cube.sw_clearsky > 200).all()
    hai = cube.sel(site="DE-Hai")
    assert np.isfinite(hai.s2_pc1.sel(time="2010-05-02"))
    assert int(hai.s2_status.sel(time="2010-05-04")) == 5  # interpolated
    assert np.isfinite(hai.s1_vv_db.sel(time="2010-05-03"))
    # US-MMS has no Sentinel-1 items: recorded per site, values missing
    assert "no sentinel-1-rtc items" in str(cube.s1_reason.sel(site="US-MMS").values)
    assert cube.s1_vv_db.sel(site="US-MMS").isnull().all()
    assert np.isfinite(cube.lst_aqua_day.sel(site="US-MMS", time="2010-05-03"))
    # a second run skips the finished cube; without it, the per-site tables are reused
    again = run_recipe(recipe, output=tmp_path / "run", scheduler="threads")
    assert again == out
    shutil.rmtree(out["rs_cube"])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="fluxgrid"):
        run_recipe(recipe, output=tmp_path / "run", scheduler="threads")
    assert "s2 DE-Hai: table exists, skipped" in caplog.text
    assert Path(out["rs_cube"]).exists()


@pytest.mark.slow
def test_recipe_on_two_worker_cluster(recipe, tmp_path):
    out = run_recipe(recipe, output=tmp_path / "cluster", n_workers=2, threads_per_worker=1)
    cube = open_cube(out["rs_cube"])
    assert {"s2_pc1", "s1_vv_db", "lst_terra_day", "sw_clearsky"} <= set(cube.data_vars)
