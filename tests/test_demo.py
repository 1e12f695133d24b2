"""``fluxgrid demo``: the README's main command, end to end on the bundled real data.

Runs the command as a user would (bundled FLUXNET2015 subset -> site cube -> LSTM -> demo
driver grid with the bundled MODIS MCD12C1 2019 land cover -> NEE map by cover fraction,
regional totals, PNGs) and checks every output: the map is CF-1.8 (0 errors of the IOOS
compliance checker), says in its attributes how its driver grid and land cover were made,
is NaN on the sea, and agrees with the totals table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fluxgrid.cli import main
from fluxgrid.demo import demo_land_cover, tower_grid
from fluxgrid.grids import class_fractions, land_mask, open_grid
from fluxgrid.io.maps import check_cf, open_map
from fluxgrid.io.store import open_cube
from fluxgrid.regions import cell_area


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path, capsys, cf_checker_errors):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    printed = captured.out  # the outputs; progress messages go to stderr (the fluxgrid logger)
    assert "outputs:" in printed and "regional sink" in captured.err
    for name in ("nee_map.nc", "regional_totals.csv", "nee_mean_annual.png", "regional_sinks.png"):
        assert f"{out / name}" in printed and (out / name).stat().st_size > 0

    cube = open_cube(out / "site_cube.zarr")
    assert cube.sizes["site"] == 5 and np.isfinite(cube.nee).any()
    assert (out / "run" / "model.pt").exists()

    assert check_cf(out / "nee_map.nc") == []
    assert cf_checker_errors(out / "nee_map.nc") == []
    maps = open_map(out / "nee_map.nc")
    assert maps.nee.dims == ("time", "lat", "lon") and maps.nee.attrs["units"] == "gC m-2 d-1"
    assert str(maps.time.values[0])[:10] == "2011-01-01" and maps.sizes["time"] == 731
    drivers = open_grid(out / "drivers.zarr")
    land = drivers["land"].astype(bool)
    xr_land = land_mask(demo_land_cover(), target=drivers)
    np.testing.assert_array_equal(land.values, xr_land.values)
    assert 0 < int((~land).sum()) < land.size  # the box has sea (Mediterranean, North Sea)
    # drivers cover the look-back: every land cell has a value every day, the sea none
    assert np.isfinite(maps.nee.values[:, land.values]).all()
    assert np.isnan(maps.nee.values[:, ~land.values]).all()
    assert maps.attrs["land_cover_mode"] == "fractions"
    assert "not renormalised" in maps.attrs["land_cover_method"]
    assert "doi:10.5067/MODIS/MCD12C1.006" in maps.attrs["data_drivers_land_cover"]
    assert "doi:10.5067/MODIS/MCD12C1.006" in maps.attrs["land_cover_source"]
    assert maps.attrs["model_name"] == "lstm"
    assert set(maps.attrs["model_training_sites"].split(", ")) == set(cube.site.values)
    # the map says how its (stand-in) driver grid was made
    assert "NOT a meteorological product" in maps.attrs["data_drivers_title"]
    assert "inverse-distance-weighted" in maps.attrs["data_drivers_description"]
    assert "stand-in interpolated from towers" in maps.attrs["data_drivers_description"]
    assert "nearest" not in maps.attrs["data_drivers_description"]
    assert "DE-Hai" in maps.attrs["data_drivers_sites"]
    assert drivers.attrs["description"] == maps.attrs["data_drivers_description"]

    totals = pd.read_csv(out / "regional_totals.csv").set_index(["region", "year"])
    # regions: all land cells and the vegetated classes present in the box
    fractions = class_fractions(demo_land_cover(), target=drivers)
    on_land = fractions.where(land).fillna(0).max(["lat", "lon"])
    present = {
        str(n)
        for n, f in zip(fractions.class_name.values, on_land.values, strict=True)
        if f > 0 and n not in ("WAT", "URB", "SNO", "BSV")
    }
    assert set(totals.index.get_level_values("region")) == {"all"} | present
    assert {"ENF", "DBF", "MF", "CRO", "GRA"} <= present
    # the "all" total is the area integral of the map, by hand, and the classes add up to it
    grams = float((maps.nee.sel(time="2012").sum("time") * cell_area(maps)).sum())
    year = totals.xs(2012, level="year")["total [TgC yr-1]"]
    np.testing.assert_allclose(year["all"], grams / 1e12, rtol=1e-4)
    np.testing.assert_allclose(year.drop("all").sum(), year["all"], rtol=1e-4)
    assert year["all"] < 0  # a net sink


def test_tower_grid_is_inverse_distance_weighting(demo_cube):
    cube = demo_cube.sel(time=slice("2010-07-01", "2010-07-10"))
    cube["ta"].loc[{"site": "DE-Tha", "time": "2010-07-01"}] = np.nan  # a day without DE-Tha
    grid = tower_grid(cube, sites=["DE-Hai", "DE-Tha"], bbox=(10, 50, 14, 52), resolution=1.0)
    lat, lon = 50.5, 12.5
    hai, tha = cube.sel(site="DE-Hai"), cube.sel(site="DE-Tha")

    def km(s):  # haversine
        p1, p2 = np.radians(lat), np.radians(float(s.latitude))
        dl = np.radians(float(s.longitude) - lon)
        a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
        return 2 * 6371.0 * np.arcsin(np.sqrt(a))

    w1, w2 = km(hai) ** -2, km(tha) ** -2
    expected = (w1 * hai.vpd.values + w2 * tha.vpd.values) / (w1 + w2)
    np.testing.assert_allclose(grid.vpd.sel(lat=lat, lon=lon).values, expected, rtol=1e-5)
    # on a day without DE-Tha's value, every cell takes DE-Hai's
    np.testing.assert_allclose(grid.ta.isel(time=0).values, float(hai.ta.values[0]), rtol=1e-6)
    assert np.isfinite(grid.ta.isel(time=1).values).all()
    assert grid.igbp.sel(lat=lat, lon=lon).item() == 1  # nearest: DE-Tha (ENF)
    assert grid.attrs["title"].endswith("(NOT a meteorological product)")
    assert "no land mask" in grid.attrs["description"].lower()


def test_tower_grid_with_real_land_cover(demo_cube):
    cube = demo_cube.sel(time=slice("2010-07-01", "2010-07-03"))
    lc = demo_land_cover()
    grid = tower_grid(
        cube, sites=["DE-Hai", "DE-Tha"], bbox=(2, 43, 16, 53), resolution=1.0, land_cover=lc
    )
    fractions = class_fractions(lc, target=grid)
    # igbp is the dominant non-water class of MCD12C1 (-1: water only), land the cells at
    # most half water
    veg = fractions.drop_sel({"class": 17})
    best = veg["class"].values[veg.fillna(-1).argmax("class").values]
    expected = np.where((veg.fillna(0) > 0).any("class").values, best, -1)
    np.testing.assert_array_equal(grid.igbp.values, expected)
    water = fractions.sel({"class": 17}).values
    np.testing.assert_array_equal(grid.land.values.astype(bool), water <= 0.5)
    assert grid.land.sel(lat=43.5, lon=8.5).item() == 0  # the Ligurian Sea
    assert grid.land.sel(lat=50.5, lon=10.5).item() == 1  # Thuringia
    assert "MCD12C1" in grid.attrs["land_cover"] and "nearest" not in grid.attrs["description"]
