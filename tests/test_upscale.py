"""Upscaling: blockwise inference vs per-window references, site reproduction, ensembles,
the ERA5-Land path, bad input, NetCDF maps, CLI, accessor and recipes on a LocalCluster.

Models are small LSTMs (and a LASSO baseline) trained here on the bundled real FLUXNET2015
demo cube (5 towers, 2007-2008); driver grids carry the towers' real daily drivers. The
ERA5-Land fixture is written by the test in CDS conventions (``valid_time``, descending
latitude, 0..360 longitude, K, J m-2 accumulated since 00 UTC) from the same tower drivers,
so that its daily drivers can be compared with the towers' by hand.
"""

from __future__ import annotations

import dataclasses
import logging
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from fluxgrid.cli import main
from fluxgrid.errors import GridError, ModelError, OutputExistsError
from fluxgrid.grids import (
    IGBP_CLASSES,
    open_grid,
    read_era5,
    sites_to_grid,
    write_grid,
)
from fluxgrid.io.maps import check_cf, open_map
from fluxgrid.recipe import run_recipe
from fluxgrid.runs import load_run
from fluxgrid.testing import load_demo_cube, tower_driver_grid
from fluxgrid.upscale import (
    map_totals,
    predict_pixels,
    upscale,
    upscale_ensemble,
    upscale_to_map,
)

DRIVERS = ["ta", "sw_in", "vpd"]
RECIPES = Path(__file__).resolve().parents[1] / "recipes"
CODES = {abbr: code for code, (abbr, _) in IGBP_CLASSES.items()}


@pytest.fixture(scope="module")
def run(demo_lstm_runs):
    return load_run(demo_lstm_runs[0], device="cpu")


@pytest.fixture(scope="module")
def lasso_run(train_demo, tmp_path_factory):
    path = train_demo(
        tmp_path_factory.mktemp("lasso") / "run", model="lasso", params={"alpha": 0.01}
    )
    return load_run(path, device="cpu")


def _tower_grid(cube, shape=(3, 4), start="2009-01-01", days=90):
    """A (time, lat, lon) grid whose cell k carries tower (k mod 5)'s real daily drivers."""
    return tower_driver_grid(cube, DRIVERS, shape=shape, start=start, days=days)


def _reference(run, ds, igbp, i, j):
    """Per-window reference: every window built by slicing, one model call per window."""
    f = run.batch_predictor("cpu")
    lookback, n = run.lookback, ds.sizes["time"]
    times = pd.DatetimeIndex(ds.time.values)
    angle = (
        2 * np.pi * (times.day_of_year.values - 0.5) / np.where(times.is_leap_year, 366.0, 365.0)
    )
    cls = IGBP_CLASSES.get(int(igbp.values[i, j]), ("", ""))[0]
    out = np.full(n, np.nan)
    for end in range(lookback - 1, n):
        win = slice(end - lookback + 1, end + 1)
        cols = []
        for name in run.features:
            if name in DRIVERS:
                cols.append(ds[name].values[win, i, j])
            elif name == "doy_sin":
                cols.append(np.sin(angle[win]))
            elif name == "doy_cos":
                cols.append(np.cos(angle[win]))
            elif name == "site_lat":
                cols.append(np.full(lookback, ds.lat.values[i]))
            elif name == "site_lon":
                cols.append(np.full(lookback, ds.lon.values[j]))
            else:
                cols.append(np.full(lookback, float(name == f"igbp_{cls}")))
        x = np.stack(cols, axis=-1)
        if not np.isnan(x).any():
            with torch.no_grad():
                out[end] = float(f(torch.tensor(x[None], dtype=torch.float32))[0])
    return out


# --------------------------------------------------------------------------- correctness
def test_blockwise_equals_per_window_reference(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube)
    ds["ta"][40:43, 1, 1] = np.nan  # a 3-day gap: 20 windows lose their value
    ds["vpd"][70, 2, 3] = np.nan
    igbp[0, 2] = -1  # no vegetation type: not mapped
    mask = xr.ones_like(igbp, dtype=bool)
    mask[2, 0] = False
    # 2 x 2 tiles and 37-window batches: batches cross cell boundaries and split cells
    maps = upscale(ds.chunk({"lat": 2, "lon": 2}), run, igbp=igbp, mask=mask, batch_size=37)
    assert maps.nee.chunks is not None  # lazy
    nee = maps.nee.compute()
    assert nee.dims == ("time", "lat", "lon") and nee.attrs["units"] == "gC m-2 d-1"
    assert maps.attrs["cells_mapped"] == 10 and maps.attrs["cells_masked"] == 2
    for i in range(3):
        for j in range(4):
            got = nee.values[:, i, j]
            if (i, j) in ((0, 2), (2, 0)):
                assert np.isnan(got).all()
                continue
            ref = _reference(run, ds, igbp, i, j)
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.isnan(nee.values[: run.lookback - 1]).all()
    assert np.isnan(nee.values[40:62, 1, 1]).all() and np.isfinite(nee.values[62, 1, 1])


def test_sklearn_baseline_through_the_same_path(lasso_run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, shape=(2, 2), days=40)
    nee = upscale(ds, lasso_run, igbp=igbp).nee  # in-memory drivers: computed result
    assert not hasattr(nee.data, "dask")
    ref = _reference(lasso_run, ds, igbp, 1, 0)
    np.testing.assert_allclose(nee.values[:, 1, 0], ref, rtol=1e-5, atol=1e-5)


def test_grid_of_site_drivers_reproduces_site_predictions(run):
    cube = load_demo_cube().sel(time=slice("2010-01-01", "2010-12-31"))
    expected = run.predict(cube, device="cpu").pred
    # each tower in its own cell at its own coordinates, other cells empty
    placed = cube[DRIVERS].assign(
        igbp_code=("site", [CODES[c] for c in cube.igbp.values.astype(str)])
    )
    placed = placed.assign_coords(grid_lat=cube.latitude, grid_lon=cube.longitude)
    like = xr.Dataset(
        coords={"lat": np.sort(cube.latitude.values), "lon": np.sort(cube.longitude.values)}
    )
    grid = sites_to_grid(placed, like)
    igbp = grid["igbp_code"].fillna(-1).astype("int16")
    maps = upscale(grid[DRIVERS].chunk({"lat": 2, "lon": 3}), run, igbp=igbp).nee.compute()
    assert int(np.isfinite(maps).any("time").sum()) == cube.sizes["site"]
    for site in cube.site.values:
        s = cube.sel(site=site)
        got = maps.sel(lat=float(s.latitude), lon=float(s.longitude), method="nearest").values
        want = expected.sel(site=site).values
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_predict_pixels_matches_blockwise(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, shape=(1, 3), days=30)
    series = np.stack([ds[v].values[:, 0, :].T for v in run.inputs["drivers"]], axis=-1)
    names = np.array([IGBP_CLASSES[int(c)][0] for c in igbp.values[0]])
    direct = predict_pixels(
        run,
        series,
        ds.time.values,
        np.full(3, ds.lat.values[0]),
        ds.lon.values,
        names,
        device="cpu",
        batch_size=5,
    )
    maps = upscale(ds, run, igbp=igbp).nee.values[:, 0, :].T
    np.testing.assert_allclose(direct, maps, rtol=1e-6, equal_nan=True)


def test_ensemble_mean_std_quantiles(demo_lstm_runs, demo_cube):
    ds, igbp = _tower_grid(demo_cube, shape=(2, 3), days=40)
    single = [upscale(ds, d, igbp=igbp).nee.values for d in demo_lstm_runs]
    ens = upscale_ensemble(
        ds.chunk({"lat": 1}),
        demo_lstm_runs,
        igbp=igbp,
        quantiles=(0.05, 0.5, 0.95),
        keep_members=True,
    ).compute()
    stack = np.stack(single)
    np.testing.assert_allclose(ens.nee_mean.values, stack.mean(0), rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(
        ens.nee_std.values, stack.std(0, ddof=1), rtol=1e-4, atol=1e-6, equal_nan=True
    )
    np.testing.assert_allclose(
        ens.nee_q95.values, np.quantile(stack, 0.95, axis=0), rtol=1e-5, equal_nan=True
    )
    np.testing.assert_allclose(ens.nee_q50.values, ens.nee_mean.values, rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(ens.nee_member.values, stack, rtol=1e-6, equal_nan=True)
    assert ens.attrs["model_member_labels"] == "lstm_seed0, lstm_seed1"
    assert float(ens.nee_std.max()) > 0  # different seeds, different maps
    assert ens.attrs["model_members"] == 2
    # upscale() with several runs is the ensemble
    assert set(upscale(ds, demo_lstm_runs, igbp=igbp).data_vars) == {"nee_mean", "nee_std"}


def test_era5_land_files_to_maps(run, demo_cube, tmp_path):
    """ERA5-Land hourly files (CDS conventions) -> read_era5 -> upscale -> CF NetCDF map."""
    ds, igbp = _tower_grid(demo_cube, shape=(2, 3), start="2009-03-01", days=35)
    ta, sw, vpd = (ds[v].values.astype("float64") for v in DRIVERS)
    # inverse Magnus (ECMWF, Buck 1981): dew point giving es(ta) - e = vpd
    e = 6.1121 * np.exp(17.502 * ta / (ta + 240.97)) - vpd
    td = 240.97 * np.log(e / 6.1121) / (17.502 - np.log(e / 6.1121))
    hours = pd.date_range(ds.time.values[0], periods=ds.sizes["time"] * 24 + 1, freq="h")
    day = ((hours - pd.Timedelta("1h")).normalize() - hours[0].normalize()).days.to_numpy()
    day = np.clip(day, 0, ds.sizes["time"] - 1)
    inst = np.clip((hours.normalize() - hours[0].normalize()).days.to_numpy(), 0, len(ds.time) - 1)
    hour_of_day = (hours - pd.Timedelta("1h")).hour.to_numpy()
    ssrd = sw[day] * 3600.0 * (hour_of_day + 1)[:, None, None]  # J m-2 since 00 UTC
    ssrd[0] = sw[0] * 3600.0  # the first stamp (00 UTC) holds one hour of the previous day
    fields = {
        "t2m": ((ta + 273.15)[inst], "K"),  # instantaneous: the day of the stamp
        "d2m": ((td + 273.15)[inst], "K"),
        "ssrd": (ssrd, "J m**-2"),
    }
    raw = xr.Dataset(
        {
            k: (("valid_time", "latitude", "longitude"), v[:, ::-1].astype("float32"), {"units": u})
            for k, (v, u) in fields.items()
        },
        coords={
            "valid_time": hours,
            "latitude": ds.lat.values[::-1],  # descending, as in ERA5
            "longitude": ds.lon.values % 360,  # 0..360
            "number": 0,
        },
    )
    path = tmp_path / "era5land_2009-03.nc"
    raw.to_netcdf(path)
    daily = read_era5(path, variables=DRIVERS, accumulation="since_midnight")
    # checked by hand: the daily drivers are the towers'
    assert daily.time.values.tolist() == ds.time.values.tolist()
    for v in DRIVERS:
        np.testing.assert_allclose(daily[v].values, ds[v].values, rtol=1e-4, atol=2e-3)
    out = upscale_to_map(run, daily, tmp_path / "nee_map.nc", igbp=igbp)
    assert check_cf(out) == []
    back = open_map(out)
    direct = upscale(ds, run, igbp=igbp).nee
    np.testing.assert_allclose(back.nee.values, direct.values, atol=2e-3, equal_nan=True)
    assert back.nee.attrs["units"] == "gC m-2 d-1"
    assert back.attrs["data_drivers_source_files"].endswith("era5land_2009-03.nc")
    assert back.attrs["data_drivers_accumulation"] == "since_midnight"


# --------------------------------------------------------------------------- laziness, files
def test_building_the_maps_computes_nothing(run, demo_cube, no_compute):
    ds, igbp = _tower_grid(demo_cube, shape=(2, 2), days=30)
    lazy = ds.chunk({"lat": 1})
    with no_compute():
        maps = upscale(lazy, run, igbp=igbp)
        ens = upscale_ensemble(lazy, [run, run], igbp=igbp, quantiles=(0.1,))
    assert maps.nee.chunks[1] == (1, 1)
    assert ens.nee_q10.chunks is not None


def test_netcdf_round_trip_and_provenance(run, demo_cube, tmp_path):
    ds, igbp = _tower_grid(demo_cube, shape=(2, 3), days=40)
    ds.attrs = {"title": "tower drivers", "description": "cells carry tower drivers"}
    maps = upscale(ds, run, igbp=igbp, period=("2009-01-20", "2009-02-09"))
    assert maps.sizes["time"] == 21 and np.isfinite(maps.nee).all()
    path = upscale_to_map(
        run, ds, tmp_path / "m.nc", igbp=igbp, period=("2009-01-20", "2009-02-09")
    )
    assert check_cf(path) == []
    back = open_map(path)
    np.testing.assert_allclose(back.nee.values, maps.nee.values, rtol=1e-6)
    a = back.attrs
    assert a["model_name"] == "lstm" and a["model_run_dir"] == str(run.path)
    assert set(a["model_training_sites"].split(", ")) == set(load_demo_cube().site.values)
    assert a["data_drivers_title"] == "tower drivers"
    assert a["data_drivers_description"] == "cells carry tower drivers"
    assert a["fluxgrid_version"] and "look-back" in a["missing_values"]
    assert "upscale_to_map" in a["history"]
    # refused before anything is computed; the file is left as it was
    before = path.read_bytes()
    with pytest.raises(OutputExistsError):
        upscale_to_map(run, ds.chunk(), path, igbp=igbp)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.nc"]  # no temporary leftovers
    table = map_totals(back, igbp, full_years=False)
    assert table.region.values.tolist()[0] == "all"
    np.testing.assert_allclose(
        table.total.sel(region="all"), table.total.drop_sel(region="all").sum("region")
    )


# --------------------------------------------------------------------------- bad input
def test_missing_driver_names_the_era5_sources(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, days=30)
    with pytest.raises(GridError, match=r"vpd.*'t2m'.*'d2m'"):
        upscale(ds.drop_vars("vpd"), run, igbp=igbp)


def test_model_trained_on_other_drivers(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, days=30)
    other = dataclasses.replace(run, inputs={**run.inputs, "drivers": [*DRIVERS, "p"]})
    with pytest.raises(GridError, match=r"\['p'\].*'tp'"):
        upscale(ds, other, igbp=igbp)


def test_time_axis_shorter_than_the_lookback(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, days=10)
    with pytest.raises(GridError, match="look-back of 20 days"):
        upscale(ds, run, igbp=igbp)
    ds, igbp = _tower_grid(demo_cube, days=40)
    with pytest.raises(GridError, match="first mappable day is 2009-01-20"):
        upscale(ds, run, igbp=igbp, period=("2009-01-05", "2009-02-01"))


@pytest.mark.parametrize(
    ("coord", "values", "match"),
    [
        ("lat", [45.5, 46.5, 95.0], "latitudes out of range"),
        ("lon", [5.5, 6.5, 7.5, 400.0], "longitudes out of range"),
    ],
)
def test_coordinates_out_of_range(run, demo_cube, coord, values, match):
    ds, igbp = _tower_grid(demo_cube, days=30)
    with pytest.raises(GridError, match=match):
        upscale(ds.assign_coords({coord: values}), run, igbp=igbp.assign_coords({coord: values}))


def test_units_are_converted_or_refused(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, days=30)
    ref = upscale(ds, run, igbp=igbp).nee
    in_kpa = ds.assign(vpd=(ds.vpd / 10).assign_attrs(units="kPa"))
    np.testing.assert_allclose(upscale(in_kpa, run, igbp=igbp).nee, ref, rtol=1e-4, atol=1e-5)
    scaler = dataclasses.replace(run.scaler, units={**run.scaler.units, "vpd": "W m-2"})
    with pytest.raises(ModelError, match="trained on 'vpd' in 'W m-2'"):
        upscale(ds, dataclasses.replace(run, scaler=scaler), igbp=igbp)
    monthly = dataclasses.replace(run, inputs={**run.inputs, "resolution": "MM"})
    with pytest.raises(ModelError, match="trained on MM data"):
        upscale(ds, monthly, igbp=igbp)


def test_igbp_model_needs_an_igbp_grid(run, demo_cube):
    ds, _ = _tower_grid(demo_cube, days=30)
    with pytest.raises(ModelError, match="IGBP one-hot"):
        upscale(ds, run)


def test_ensemble_of_different_targets_is_refused(run, demo_cube):
    ds, igbp = _tower_grid(demo_cube, days=30)
    gpp = dataclasses.replace(run, inputs={**run.inputs, "target": "gpp_nt"})
    with pytest.raises(ModelError, match="different targets"):
        upscale_ensemble(ds, [run, gpp], igbp=igbp)


# --------------------------------------------------------------------------- CLI, accessor
def test_accessor_and_cli(run, demo_lstm_runs, demo_cube, tmp_path, capsys, cf_checker_errors):
    ds, igbp = _tower_grid(demo_cube, shape=(2, 2), days=40)
    xr.testing.assert_identical(ds.fluxgrid.upscale(run, igbp=igbp), upscale(ds, run, igbp=igbp))
    store = write_grid(ds.assign(igbp=igbp), tmp_path / "drivers.zarr")
    out, csv = tmp_path / "map.nc", tmp_path / "totals.csv"
    args = ["upscale", *map(str, demo_lstm_runs), str(store), "-o", str(out), "--igbp", str(store)]
    assert main([*args, "--quantiles", "0.1", "0.9", "--totals", str(csv)]) == 0
    printed = capsys.readouterr().out
    assert "nee_mean" in printed and "regional sink" in printed
    assert check_cf(out) == [] and {"nee_q10", "nee_q90"} <= set(open_map(out).data_vars)
    assert cf_checker_errors(out) == []  # the IOOS compliance checker (CF-1.8)
    table = pd.read_csv(csv)
    assert table.region.tolist()[:1] == ["all"] and "sink [TgC yr-1]" in table
    assert main(args) == 2  # exists
    assert "exists" in capsys.readouterr().err


# --------------------------------------------------------------------------- recipes
@pytest.fixture(scope="module")
def local_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster


def test_upscale_recipe_on_a_local_cluster(demo_lstm_runs, demo_cube, tmp_path, local_cluster):
    ds, igbp = _tower_grid(demo_cube, shape=(4, 4), days=60)
    store = write_grid(ds.assign(igbp=igbp), tmp_path / "drivers.zarr")
    recipe = tmp_path / "upscale.yaml"
    recipe.write_text(
        textwrap.dedent(
            f"""\
            recipe: upscale
            config:
              runs: [{demo_lstm_runs[0]}, {demo_lstm_runs[1]}]
              drivers: {store}
              igbp: {store}
              quantiles: [0.1, 0.9]
              chunk_mb: 0.005
            """
        )
    )
    (tmp_path / "upscale.py").write_text((RECIPES / "upscale.py").read_text())
    out = run_recipe(recipe, output=tmp_path / "out", scheduler=local_cluster.scheduler_address)
    assert check_cf(out["nee_map"]) == []
    maps = open_map(out["nee_map"])
    direct = upscale(ds, demo_lstm_runs, igbp=igbp)
    np.testing.assert_allclose(
        maps.nee_mean.values, direct.nee_mean.values, rtol=1e-5, equal_nan=True
    )
    for key in ("regional_totals", "nee_mean_annual_png", "regional_sinks_png", "nee_std_png"):
        assert (tmp_path / "out" / out[key].split("/")[-1]).exists()
    again = run_recipe(recipe, output=tmp_path / "out", scheduler=local_cluster.scheduler_address)
    assert again == out  # everything skipped (resumed)


def test_quickstart_recipe_on_a_local_cluster(tmp_path, local_cluster, caplog):
    recipe = tmp_path / "quickstart.yaml"
    recipe.write_text(
        textwrap.dedent(
            """\
            recipe: quickstart
            config:
              start: "2011-01-01"
              end: "2012-12-31"
              lookback: 10
              hidden: 4
              epochs: 1
              grid_resolution: 2.0
              map_start: "2012-01-01"
              map_end: "2012-12-31"
              land_cover_mode: majority
              device: cpu
            """
        )
    )
    (tmp_path / "quickstart.py").write_text((RECIPES / "quickstart.py").read_text())
    out = run_recipe(recipe, output=tmp_path / "q", scheduler=local_cluster.scheduler_address)
    maps = open_map(out["nee_map"])
    land = open_grid(out["drivers"])["land"].astype(bool).values
    assert maps.sizes["time"] == 366 and np.isfinite(maps.nee.values[:, land]).all()
    assert np.isnan(maps.nee.values[:, ~land]).all()  # sea cells
    assert "NOT a meteorological product" in maps.attrs["data_drivers_title"]
    assert maps.attrs["land_cover_mode"] == "majority"
    totals = pd.read_csv(out["regional_totals"])
    assert "all" in set(totals.region) and {"CRO", "DBF"} <= set(totals.region)
    assert (totals["sink [TgC yr-1]"].notna()).all()  # 2012 is complete
    # recipe notes go to the fluxgrid logger; a re-run skips every output
    caplog.set_level(logging.INFO, logger="fluxgrid")
    caplog.clear()
    run_recipe(recipe, output=tmp_path / "q", scheduler=local_cluster.scheduler_address)
    assert caplog.text.count("skip ") >= 6
