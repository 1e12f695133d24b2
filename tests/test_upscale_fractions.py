"""Upscaling by cover fraction (the FLUXCOM approach) against majority-class upscaling.

A small LSTM is trained here on the bundled real FLUXNET2015 demo cube (5 towers,
2007-2008, 20-day look-back); the driver grids carry the towers' real daily drivers, and the
cover fractions are set by hand so that each expectation follows from majority-class maps
of the same drivers: a cell that is 100 % one class equals majority mode, a 50/50 cell is the
mean of its two single-class predictions, water contributes nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.cli import main
from fluxgrid.errors import ConfigError, GridError
from fluxgrid.grids import IGBP_CLASSES, write_grid
from fluxgrid.io.maps import check_cf
from fluxgrid.regions import cell_area
from fluxgrid.runs import load_run
from fluxgrid.testing import load_demo_cube, tower_driver_grid
from fluxgrid.upscale import map_totals, open_maps, upscale, upscale_ensemble, upscale_to_map

DRIVERS = ["ta", "sw_in", "vpd"]
CODES = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}
#: the classes of the test fractions: the towers' ENF, EBF, DBF, a crop class and water
CLASSES = [1, 2, 4, 12, 17]


@pytest.fixture(scope="module")
def run(demo_lstm_runs):
    return load_run(demo_lstm_runs[0], device="cpu")


def _grid(shape=(2, 3), start="2009-01-01", days=60):
    """Drivers ``(time, lat, lon)``: cell k carries tower (k mod 5)'s real daily drivers."""
    return tower_driver_grid(load_demo_cube(), DRIVERS, shape=shape, start=start, days=days)[0]


def _codes(ds, values):
    return xr.DataArray(
        np.asarray(values, dtype="int16"),
        dims=("lat", "lon"),
        coords={"lat": ds.lat, "lon": ds.lon},
    )


def _fractions(ds, table):
    """``(class, lat, lon)`` fractions: ``table[(i, j)] = {code: share}``, others pure DBF."""
    values = np.zeros((len(CLASSES), ds.sizes["lat"], ds.sizes["lon"]), dtype="float32")
    values[CLASSES.index(4)] = 1.0
    for (i, j), shares in table.items():
        values[:, i, j] = 0.0
        for code, share in shares.items():
            values[CLASSES.index(code), i, j] = share
    return xr.DataArray(
        values,
        dims=("class", "lat", "lon"),
        coords={
            "class": CLASSES,
            "class_name": ("class", [IGBP_CLASSES[c][0] for c in CLASSES]),
            "lat": ds.lat.values,
            "lon": ds.lon.values,
        },
        name="class_fraction",
        attrs={"units": "1"},
    )


def _one_hot(ds, codes):
    return _fractions(
        ds,
        {
            (i, j): {int(codes[i, j]): 1.0}
            for i in range(codes.shape[0])
            for j in range(codes.shape[1])
        },
    )


# --------------------------------------------------------------------------- correctness
def test_pure_cells_equal_majority_mode(run):
    ds = _grid()
    codes = np.array([[1, 4, 2], [12, 1, 4]])
    majority = upscale(ds, run, igbp=_codes(ds, codes))
    fractions = upscale(ds.chunk({"lat": 1, "lon": 2}), run, fractions=_one_hot(ds, codes))
    # equal up to float32 rounding: other chunks put other cells in a batch (matmul order)
    np.testing.assert_allclose(fractions.nee.values, majority.nee.values, rtol=1e-6, atol=1e-6)
    assert fractions.attrs["land_cover_mode"] == "fractions"
    assert majority.attrs["land_cover_mode"] == "majority"
    assert fractions.attrs["land_cover_classes_modelled"] == "ENF EBF DBF CRO"
    assert "not renormalised" in fractions.attrs["land_cover_method"]
    # each class's prediction is kept where the class is present, NaN elsewhere
    y_enf = fractions.nee_class_ENF.compute()
    np.testing.assert_allclose(
        y_enf.values[:, 0, 0], majority.nee.values[:, 0, 0], rtol=1e-6, atol=1e-6
    )
    assert np.isnan(y_enf.values[:, 0, 1]).all()


def test_mixed_cell_is_the_fraction_weighted_mean(run):
    ds = _grid()
    cells = {(0, 0): {4: 0.5, 1: 0.5}, (1, 2): {12: 0.25, 2: 0.75}}
    maps = upscale(ds, run, fractions=_fractions(ds, cells), batch_size=50)
    base = np.full((2, 3), 4)
    single = {}
    for code in (1, 2, 4, 12):
        single[code] = upscale(ds, run, igbp=_codes(ds, np.full((2, 3), code))).nee.values
    got, want = maps.nee.values, single[4]
    np.testing.assert_allclose(
        got[:, 0, 0], 0.5 * (single[4][:, 0, 0] + single[1][:, 0, 0]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        got[:, 1, 2], 0.25 * single[12][:, 1, 2] + 0.75 * single[2][:, 1, 2], rtol=1e-5, atol=1e-6
    )
    pure = base == 4
    pure[0, 0] = pure[1, 2] = False
    np.testing.assert_allclose(got[:, pure], want[:, pure], rtol=1e-6, equal_nan=True)
    assert np.isnan(got[: run.lookback - 1]).all() and np.isfinite(got[run.lookback - 1 :]).all()


def test_water_is_zero_or_nan_where_masked_and_nothing_is_renormalised(run):
    ds = _grid()
    cells = {
        (0, 0): {17: 1.0},
        (0, 1): {17: 0.5, 4: 0.5},
        (1, 0): {17: 1.0},
        (1, 1): {12: 0.1, 4: 0.9},
    }
    fr = _fractions(ds, cells)
    mask = _codes(ds, np.ones((2, 3))).astype(bool)
    mask[1, 0] = False  # a land mask that excludes this water cell
    maps = upscale(ds, run, fractions=fr, mask=mask, min_fraction=0.2)
    dbf = upscale(ds, run, igbp=_codes(ds, np.full((2, 3), 4))).nee.values
    nee = maps.nee.values
    lb = run.lookback - 1
    assert (nee[lb:, 0, 0] == 0).all() and np.isnan(nee[:lb, 0, 0]).all()  # water: zero flux
    assert np.isnan(nee[:, 1, 0]).all()  # water outside the land mask: NaN
    np.testing.assert_allclose(nee[:, 0, 1], 0.5 * dbf[:, 0, 1], rtol=1e-5, equal_nan=True)
    # CRO 0.1 < min_fraction: skipped, DBF's 0.9 not renormalised
    np.testing.assert_allclose(nee[:, 1, 1], 0.9 * dbf[:, 1, 1], rtol=1e-5, equal_nan=True)
    assert "nee_class_CRO" not in maps and maps.attrs["land_cover_min_fraction"] == "0.2"
    # non_vegetated takes IGBP codes or abbreviations only
    with pytest.raises(ConfigError, match="unknown IGBP class"):
        upscale(ds, run, fractions=fr, non_vegetated=("WATER",))


def test_class_totals_add_up_to_the_map_total(run, tmp_path, cf_checker_errors):
    ds = _grid(days=80)
    fr = _fractions(ds, {(0, 0): {4: 0.5, 1: 0.5}, (0, 1): {17: 0.4, 12: 0.6}, (1, 2): {2: 1.0}})
    path = upscale_to_map(run, ds, tmp_path / "nee_map.nc", fractions=fr)
    assert check_cf(path) == [] and cf_checker_errors(path) == []
    maps = open_maps(path)
    assert maps.attrs["land_cover_mode"] == "fractions"
    table = map_totals(maps, fractions=fr, full_years=False)
    assert table.region.values.tolist() == ["all", "ENF", "EBF", "DBF", "CRO"]
    classes = table.total.drop_sel(region="all")
    np.testing.assert_allclose(classes.sum("region"), table.total.sel(region="all"), rtol=1e-5)
    # by hand: CRO's share is its own prediction x its fraction x the cell area
    area = cell_area(maps)
    y = maps.nee_class_CRO.fillna(0).sum("time")
    want = float((y * fr.sel({"class": 12}, drop=True) * area).sum()) / 1e12
    np.testing.assert_allclose(float(classes.sel(region="CRO").item()), want, rtol=1e-5)
    with pytest.raises(GridError, match="per-class predictions"):
        map_totals(maps[["nee"]], fractions=fr)
    with pytest.raises(GridError, match="not both"):
        map_totals(maps, _codes(ds, np.full((2, 3), 4)), fractions=fr)


def test_ensemble_by_fractions_is_the_member_mean(demo_lstm_runs):
    ds = _grid(days=40)
    fr = _fractions(ds, {(0, 0): {4: 0.5, 1: 0.5}})
    single = np.stack([upscale(ds, d, fractions=fr).nee.values for d in demo_lstm_runs])
    ens = upscale_ensemble(ds, demo_lstm_runs, fractions=fr)
    np.testing.assert_allclose(ens.nee_mean.values, single.mean(0), rtol=1e-5, equal_nan=True)
    assert "nee_class_DBF_mean" in ens and ens.attrs["land_cover_mode"] == "fractions"


def test_building_fraction_maps_computes_nothing(run, no_compute):
    ds = _grid(days=30).chunk({"lat": 1})
    fr = _fractions(ds, {(0, 0): {4: 0.5, 1: 0.5}})
    with no_compute():
        maps = upscale(ds, run, fractions=fr)
    assert maps.nee.chunks is not None and maps.nee_class_DBF.chunks is not None


# --------------------------------------------------------------------------- bad input
def test_bad_fractions_are_refused(run):
    ds = _grid(days=30)
    fr = _fractions(ds, {(0, 0): {4: 0.5, 1: 0.3}})
    with pytest.raises(GridError, match="do not sum to 1"):
        upscale(ds, run, fractions=fr)
    good = _fractions(ds, {})
    with pytest.raises(GridError, match="another grid than the drivers"):
        upscale(ds, run, fractions=good.assign_coords(lon=good.lon + 0.25))
    with pytest.raises(GridError, match=r"expected \(class, lat, lon\)"):
        upscale(ds, run, fractions=good.isel({"class": 0}))
    with pytest.raises(GridError, match="IGBP codes"):
        upscale(ds, run, fractions=good.assign_coords({"class": [101, 102, 104, 112, 117]}))
    with pytest.raises(GridError, match="outside"):
        upscale(ds, run, fractions=good * 2 - 0.5)
    with pytest.raises(ConfigError, match="not both"):
        upscale(ds, run, fractions=good, igbp=_codes(ds, np.full((2, 3), 4)))
    with pytest.raises(ConfigError, match="min_fraction"):
        upscale(ds, run, fractions=good, min_fraction=1.5)


def test_cli_fractions_and_totals(run, tmp_path, capsys, cf_checker_errors):
    ds = _grid(start="2008-12-13", days=384)  # the look-back, then all of 2009
    fr = _fractions(ds, {(0, 0): {4: 0.5, 1: 0.5}, (1, 1): {17: 1.0}})
    store = write_grid(ds, tmp_path / "drivers.zarr")
    fr.to_dataset().to_netcdf(tmp_path / "fractions.nc")
    out, csv = tmp_path / "map.nc", tmp_path / "totals.csv"
    args = ["upscale", str(run.path), str(store), "-o", str(out), "--totals", str(csv)]
    assert main([*args, "--fractions", str(tmp_path / "fractions.nc")]) == 0
    assert "regional sink" in capsys.readouterr().out
    assert cf_checker_errors(out) == []
    table = pd.read_csv(csv).query("year == 2009").set_index("region")
    assert table.index.tolist() == ["all", "ENF", "DBF"]
    np.testing.assert_allclose(
        table.loc[["ENF", "DBF"], "total [TgC yr-1]"].sum(),
        table.loc["all", "total [TgC yr-1]"],
        rtol=1e-5,
    )
    assert open_maps(out).attrs["land_cover_mode"] == "fractions"
    assert main([*args, "--overwrite", "--fractions", str(tmp_path / "x.nc")]) == 2
