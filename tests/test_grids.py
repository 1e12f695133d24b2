"""Gridded drivers: ERA5 / ERA5-Land conventions -> canonical daily grids, regridding, masks.

The ERA5 fixtures are written by the tests as NetCDF files in the conventions of CDS
downloads (``valid_time``, descending ``latitude``, 0..360 ``longitude``, units ``K``,
``J m**-2``, ``m``, ``m s**-1``, scalar ``number`` and string ``expver`` coordinates) with
values chosen so the daily drivers can be computed by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import GridError, OutputExistsError, UnitError
from fluxgrid.grids import (
    class_fractions,
    detect_accumulation,
    drivers_from_config,
    era5_to_daily,
    grid_to_sites,
    land_mask,
    make_grid,
    open_grid,
    open_raster,
    prepare_drivers,
    read_era5,
    rechunk_for_inference,
    regrid,
    saturation_vapour_pressure,
    sites_to_grid,
    standardise_grid,
    vegetation_mask,
    vegetation_type,
    write_grid,
)
from fluxgrid.grids.regrid import conservative_weights

LAT = np.array([50.0, 49.0, 48.0])  # descending, as in ERA5
LON = np.array([358.0, 359.0, 0.0, 1.0])  # 0..360, as in ERA5
LON_STD = np.array([-2.0, -1.0, 0.0, 1.0])
TIME = pd.date_range("2010-06-01 00:00", "2010-06-03 00:00", freq="h")  # 49 steps


def _sw_watts(start_hour: np.ndarray) -> np.ndarray:
    """Mean flux (W m-2) over the hour starting at ``start_hour``: a 06-18 UTC half sine.

    The daily mean is 1000 / 24 * sum_{k=1}^{11} sin(k pi / 12) = 1000 cot(pi / 24) / 24.
    """
    return 1000.0 * np.clip(np.sin(np.pi * (start_hour - 6) / 12.0), 0.0, None)


SW_DAILY = 1000.0 / np.tan(np.pi / 24) / 24  # 316.49 W m-2


def _rain_m(start_hour: np.ndarray) -> np.ndarray:
    """Rain (m) in the hour starting at ``start_hour``: 1 mm per hour from 06 to 12 UTC."""
    return np.where((start_hour >= 6) & (start_hour < 12), 0.001, 0.0)


def _era5(time=TIME, *, land: bool) -> xr.Dataset:
    """ERA5 (``land=False``: per-hour accumulations) or ERA5-Land (since 00 UTC) fields."""
    n = len(time)
    start = (time - pd.Timedelta("1h")).hour.to_numpy()  # hour at which each interval starts
    shape = (n, LAT.size, LON.size)
    lat_factor = (LAT / 50.0)[None, :, None]
    sw = _sw_watts(start) * 3600.0  # J m-2 per hour
    rain = _rain_m(start)
    if land:
        # accumulate from 00 UTC: value at hh holds 00..hh, the value at 00 the whole last day
        day_of_interval = (time - pd.Timedelta("1h")).normalize()
        sw = pd.Series(sw).groupby(day_of_interval).cumsum().to_numpy()
        rain = pd.Series(rain).groupby(day_of_interval).cumsum().to_numpy()
        # the first stamp (00 UTC) holds the whole previous day in ERA5-Land
    lon_std = ((LON + 180) % 360) - 180
    t2m = 273.15 + 20.0 + 0.1 * np.broadcast_to(lon_std, shape)
    hours = time.hour.to_numpy()
    angle = 2 * np.pi * hours / 24.0
    data = {
        "t2m": (t2m, "K", "2 metre temperature"),
        "d2m": (np.full(shape, 283.15), "K", "2 metre dewpoint temperature"),
        "ssrd": (
            sw[:, None, None] * lat_factor * np.ones(shape),
            "J m**-2",
            "Surface short-wave (solar) radiation downwards",
        ),
        "tp": (rain[:, None, None] * np.ones(shape), "m", "Total precipitation"),
        "u10": (
            3.0 * np.cos(angle)[:, None, None] * np.ones(shape),
            "m s**-1",
            "10 metre U wind component",
        ),
        "v10": (
            3.0 * np.sin(angle)[:, None, None] * np.ones(shape),
            "m s**-1",
            "10 metre V wind component",
        ),
        "sp": (np.full(shape, 101325.0), "Pa", "Surface pressure"),
    }
    ds = xr.Dataset(
        {
            k: (
                ("valid_time", "latitude", "longitude"),
                v.astype("float32"),
                {"units": u, "long_name": ln},
            )
            for k, (v, u, ln) in data.items()
        },
        coords={
            "valid_time": time,
            "latitude": LAT,
            "longitude": LON,
            "number": 0,
            "expver": ("valid_time", np.full(n, "0001")),
        },
        attrs={"GRIB_centre": "ecmf", "Conventions": "CF-1.7"},
    )
    return ds


@pytest.fixture(scope="module")
def era5_files(tmp_path_factory):
    """ERA5 single-levels hourly data in two NetCDF files (split in time, like CDS requests)."""
    folder = tmp_path_factory.mktemp("era5")
    ds = _era5(land=False)
    paths = []
    for i, part in enumerate((slice(0, 24), slice(24, None))):
        path = folder / f"era5_2010-06_part{i}.nc"
        ds.isel(valid_time=part).to_netcdf(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def era5_land_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("era5land") / "era5land_2010-06.nc"
    _era5(land=True).to_netcdf(path)
    return path


# --------------------------------------------------------------------------- coordinates
def test_open_grid_standardises_coordinates(era5_files):
    ds = open_grid(era5_files)
    assert ds.t2m.dims == ("time", "lat", "lon")
    assert ds.lat.values.tolist() == [48.0, 49.0, 50.0]
    assert ds.lon.values.tolist() == LON_STD.tolist()
    assert ds.sizes["time"] == len(TIME)
    assert "expver" not in ds.coords and "number" not in ds.coords
    assert ds.lat.attrs["units"] == "degrees_north" and ds.lon.attrs["units"] == "degrees_east"
    assert ds.attrs["Conventions"] == "CF-1.8"
    # values moved with their coordinates: t2m = 293.15 + 0.1 lon
    np.testing.assert_allclose(ds.t2m.isel(time=0, lat=0).values, 293.15 + 0.1 * LON_STD, rtol=1e-6)
    assert ds.t2m.chunks is not None  # lazy


def test_open_grid_glob_and_missing(era5_files, tmp_path):
    pattern = str(era5_files[0].parent / "era5_2010-06_part*.nc")
    assert open_grid(pattern).sizes["time"] == len(TIME)
    with pytest.raises(Exception, match="no file matches"):
        open_grid(str(tmp_path / "nothing_*.nc"))


def test_old_cds_expver_dimension_is_merged():
    time = pd.date_range("2024-01-01", periods=4, freq="h")
    era5 = np.array([1.0, 2.0, np.nan, np.nan])
    era5t = np.array([np.nan, np.nan, 3.0, 4.0])
    ds = xr.Dataset(
        {
            "t2m": (
                ("time", "expver", "latitude", "longitude"),
                np.stack([era5, era5t], axis=1)[:, :, None, None] * np.ones((1, 1, 2, 2)),
            )
        },
        coords={"time": time, "expver": [1, 5], "latitude": [1.0, 0.0], "longitude": [0.0, 1.0]},
    )
    std = standardise_grid(ds)
    assert std.t2m.dims == ("time", "lat", "lon")
    assert std.t2m.isel(lat=0, lon=0).values.tolist() == [1.0, 2.0, 3.0, 4.0]


@pytest.mark.parametrize(
    ("lat", "lon", "match"),
    [
        ([91.0, 0.0], [0.0, 1.0], "latitudes out of range"),
        ([1.0, 0.0], [0.0, 361.0], "longitudes out of range"),
        ([1.0, 0.0], [-181.0, 0.0], "longitudes out of range"),
    ],
)
def test_out_of_range_coordinates(lat, lon, match):
    ds = xr.Dataset(
        {"t2m": (("latitude", "longitude"), np.zeros((2, 2)))},
        coords={"latitude": lat, "longitude": lon},
    )
    with pytest.raises(GridError, match=match):
        standardise_grid(ds)


def test_duplicate_longitude_after_wrap_is_reported():
    ds = xr.Dataset(
        {"x": (("lat", "lon"), np.arange(6.0).reshape(2, 3))},
        coords={"lat": [0.0, 1.0], "lon": [0.0, 180.0, 360.0]},
    )
    std = standardise_grid(ds)
    assert std.lon.values.tolist() == [-180.0, 0.0]
    assert std.attrs["dropped_longitudes"] == "360"


# --------------------------------------------------------------------------- ERA5 -> daily
def _check_daily(daily: xr.Dataset):
    assert daily.time.values.astype("datetime64[D]").astype(str).tolist() == [
        "2010-06-01",
        "2010-06-02",
    ]
    assert daily.ta.dims == ("time", "lat", "lon")
    assert daily.lat.values.tolist() == [48.0, 49.0, 50.0]
    assert daily.lon.values.tolist() == LON_STD.tolist()
    for name in ("ta", "vpd", "sw_in", "p", "ws"):
        assert daily[name].dtype == np.float32
    # ta: daily mean of 293.15 K + 0.1 lon -> 20 + 0.1 lon degC
    np.testing.assert_allclose(
        daily.ta.values, np.broadcast_to(20 + 0.1 * LON_STD, (2, 3, 4)), atol=1e-4
    )
    # vpd at lon 0: es(20 degC) - es(10 degC); WMO tables (Goff-Gratch): 23.39 - 12.28 hPa
    vpd0 = daily.vpd.sel(lon=0.0).values
    np.testing.assert_allclose(vpd0, 23.39 - 12.28, atol=0.03)
    np.testing.assert_allclose(
        vpd0, saturation_vapour_pressure(20.0) - saturation_vapour_pressure(10.0), rtol=1e-5
    )
    # sw_in: daily mean of the half sine (316.49 W m-2), scaled by lat / 50
    assert SW_DAILY == pytest.approx(316.49, abs=0.01)
    np.testing.assert_allclose(
        daily.sw_in.isel(lon=0).values,
        np.broadcast_to(SW_DAILY * daily.lat.values / 50.0, (2, 3)),
        rtol=1e-5,
    )
    # p: 1 mm per hour for six hours = 6 mm d-1
    np.testing.assert_allclose(daily.p.values, 6.0, rtol=1e-5)
    # ws: the mean speed of a rotating 3 m/s wind is 3 (the mean vector would be 0)
    np.testing.assert_allclose(daily.ws.values, 3.0, rtol=1e-5)
    assert daily.ta.attrs["units"] == "degC" and daily.vpd.attrs["units"] == "hPa"
    assert daily.sw_in.attrs["units"] == "W m-2" and daily.p.attrs["units"] == "mm d-1"
    assert daily.ws.attrs["units"] == "m s-1"
    assert daily.p.attrs["cell_methods"] == "time: sum"
    assert daily.attrs["trimmed_days"] == "2010-05-31, 2010-06-03"


def test_era5_hourly_accumulations(era5_files):
    daily = read_era5(era5_files, accumulation="per_step")
    assert daily.attrs["accumulation"] == "per_step"
    _check_daily(daily.compute())


def test_era5_land_accumulations_since_midnight(era5_land_file):
    daily = read_era5(era5_land_file, accumulation="since_midnight")
    _check_daily(daily.compute())


def test_accumulation_convention_is_detected(era5_files, era5_land_file):
    assert detect_accumulation(open_grid(era5_files).ssrd) == "per_step"
    assert detect_accumulation(open_grid(era5_land_file).ssrd) == "since_midnight"
    assert detect_accumulation(open_grid(era5_land_file).tp) == "since_midnight"
    daily = read_era5(era5_land_file, accumulation="auto")
    assert daily.attrs["accumulation"] == "since_midnight"
    _check_daily(daily.compute())


def test_conversion_is_lazy(era5_files, no_compute):
    raw = open_grid(era5_files)
    with no_compute():
        daily = era5_to_daily(
            raw, accumulation="per_step", variables=["ta", "vpd", "sw_in", "p", "ws", "pa"]
        )
    assert daily.ta.chunks is not None
    np.testing.assert_allclose(daily.pa.values, 101.325, rtol=1e-6)


def test_missing_driver_names_variable_and_sources(era5_files):
    raw = open_grid(era5_files).drop_vars("d2m")
    with pytest.raises(GridError, match=r"'vpd'.*'d2m'.*2d"):
        era5_to_daily(raw, accumulation="per_step")
    with pytest.raises(GridError, match=r"'ws'.*'si10'.*'u10'"):
        era5_to_daily(open_grid(era5_files).drop_vars("u10"), variables=["ws"])


def test_missing_units_and_wrong_units(era5_files):
    raw = open_grid(era5_files)
    del raw["t2m"].attrs["units"]
    with pytest.raises(UnitError, match="'t2m' has no 'units'"):
        era5_to_daily(raw, variables=["ta"])
    raw = open_grid(era5_files)
    raw["ssrd"].attrs["units"] = "K"
    with pytest.raises(UnitError, match="ssrd"):
        era5_to_daily(raw, variables=["sw_in"], accumulation="per_step")


def test_gap_makes_day_missing_unless_coverage_allows(era5_files):
    raw = open_grid(era5_files)
    gappy = raw.drop_isel(time=[30])  # one hour missing on 2010-06-02
    strict = era5_to_daily(gappy, variables=["ta"]).compute()
    assert strict.sizes["time"] == 2
    assert np.isfinite(strict.ta.sel(time="2010-06-01")).all()
    assert np.isnan(strict.ta.sel(time="2010-06-02")).all()
    loose = era5_to_daily(gappy, variables=["ta"], min_coverage=0.9).compute()
    np.testing.assert_allclose(
        loose.ta.sel(time="2010-06-02").isel(lat=0).values, 20 + 0.1 * LON_STD, atol=1e-4
    )


def test_local_solar_days_shift_by_longitude():
    time = pd.date_range("2010-01-01", periods=24 * 4, freq="h")
    hours = np.arange(time.size, dtype="float64")
    lon = np.array([0.0, 90.0, 180.0, 270.0])  # solar offsets 0, +6, -12, -6 hours
    t = 273.15 + hours[:, None, None] / 24.0 * np.ones((1, 2, 4))
    raw = xr.Dataset(
        {"t2m": (("time", "latitude", "longitude"), t, {"units": "K"})},
        coords={"time": time, "latitude": [1.0, 0.0], "longitude": lon},
    )
    utc = era5_to_daily(raw, variables=["ta"]).compute()
    # UTC day d covers hours 24d .. 24d+23: mean = d + 11.5 / 24
    np.testing.assert_allclose(
        utc.ta.isel(lat=0, lon=0).values, np.arange(4) + 11.5 / 24, atol=1e-5
    )
    solar = era5_to_daily(raw, variables=["ta"], day="solar").compute()
    assert solar.attrs["day_definition"].startswith("local solar days")
    # local day d at offset k h covers UTC hours 24d - k .. 24d - k + 23: mean = d + (11.5 - k) / 24
    days = solar.time.values.astype("datetime64[D]") - np.datetime64("2010-01-01")
    d = days.astype(int)
    for lon_value, k in ((-180.0, -12), (-90.0, -6), (0.0, 0), (90.0, 6)):
        expected = d + (11.5 - k) / 24
        got = solar.ta.sel(lon=lon_value).isel(lat=0).values
        ok = np.isfinite(got)
        assert ok.sum() == 2  # days complete in every column: 2010-01-02 and -03
        np.testing.assert_allclose(got[ok], expected[ok], atol=1e-5)


def test_canonical_inputs_are_converted():
    time = pd.date_range("2010-01-01", periods=48, freq="h")
    raw = xr.Dataset(
        {
            "ta": (("time", "lat", "lon"), np.full((48, 2, 2), 283.15), {"units": "K"}),
            "vpd": (("time", "lat", "lon"), np.full((48, 2, 2), 1.0), {"units": "kPa"}),
        },
        coords={"time": time, "lat": [0.0, 1.0], "lon": [0.0, 1.0]},
    )
    daily = era5_to_daily(raw, variables=["ta", "vpd"]).compute()
    np.testing.assert_allclose(daily.ta.values, 10.0, atol=1e-4)
    np.testing.assert_allclose(daily.vpd.values, 10.0, atol=1e-5)


# --------------------------------------------------------------------------- regridding
def _field(grid, values):
    return xr.DataArray(values, coords={"lat": grid.lat, "lon": grid.lon}, dims=("lat", "lon"))


def test_conservative_constant_and_hand_computed_average():
    fine = make_grid(1.0, bbox=(0, 0, 4, 60))
    coarse = make_grid(2.0, bbox=(0, 0, 4, 60))
    const = regrid(_field(fine, np.full((60, 4), 7.5)), coarse, method="conservative")
    np.testing.assert_allclose(const.values, 7.5)
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 4))
    out = regrid(_field(fine, values), coarse, method="conservative")
    # coarse cell (i, j) = sum over its 2x2 fine cells of value x area / total area, with
    # area proportional to sin(lat_hi) - sin(lat_lo) (equal longitude widths)
    edges = np.sin(np.radians(np.arange(61.0)))
    w = np.diff(edges)
    i, j = 10, 1
    block = values[2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
    expected = (block * w[2 * i : 2 * i + 2, None]).sum() / (2 * w[2 * i : 2 * i + 2].sum())
    np.testing.assert_allclose(out.values[i, j], expected, rtol=1e-12)


def test_conservative_preserves_the_global_integral():
    from fluxgrid.regions import R_AUTHALIC, cell_area

    fine = make_grid(2.0)
    coarse = make_grid((6.0, 10.0))
    rng = np.random.default_rng(1)
    values = _field(fine, rng.uniform(0, 10, size=(90, 180)))
    out = regrid(values, coarse, method="conservative")
    # the overlap weights are areas on a sphere: the integral on that sphere is exact
    total_fine = float((values * cell_area(fine, radius=R_AUTHALIC)).sum())
    total_coarse = float((out * cell_area(coarse, radius=R_AUTHALIC)).sum())
    np.testing.assert_allclose(total_coarse, total_fine, rtol=1e-10)


def test_conservative_lazy_with_gaps_matches_the_dense_contraction():
    fine = make_grid(0.5, bbox=(-180, -30, 180, 30))
    coarse = make_grid(2.0, bbox=(-180, -30, 180, 30))
    rng = np.random.default_rng(2)
    values = rng.normal(size=(3, 120, 720))
    values[:, :10, :50] = np.nan  # a block of missing cells: partial coverage
    values[1] = np.nan  # a step with no data at all
    da = xr.DataArray(
        values,
        coords={"time": pd.date_range("2010-01-01", periods=3), "lat": fine.lat, "lon": fine.lon},
        dims=("time", "lat", "lon"),
    )
    w_lat, w_lon, full = conservative_weights(fine, coarse)
    valid = da.notnull()
    num = xr.dot(xr.dot(da.fillna(0.0), w_lon, dim="lon"), w_lat, dim="lat")
    den = xr.dot(xr.dot(valid.astype(float), w_lon, dim="lon"), w_lat, dim="lat")
    want = (num / den).where(den >= 0.5 * full * (1 - 1e-9)).transpose("time", "lat_t", "lon_t")
    eager = regrid(da, coarse, method="conservative")
    lazy = regrid(da.chunk({"time": 1, "lat": 60, "lon": 360}), coarse, method="conservative")
    assert lazy.chunks is not None and lazy.chunks[0] == (1, 1, 1)
    np.testing.assert_allclose(eager.values, want.values, rtol=1e-12, atol=1e-14, equal_nan=True)
    np.testing.assert_allclose(lazy.values, eager.values, rtol=1e-12, atol=1e-14, equal_nan=True)
    assert np.isnan(eager.values[1]).all() and np.isnan(eager.values[0, 0, 0])
    assert np.isfinite(eager.values[0, 0, 20])


def test_conservative_missing_values_and_coverage():
    fine = make_grid(1.0, bbox=(0, 0, 2, 2))
    coarse = make_grid(2.0, bbox=(0, 0, 2, 2))
    values = np.array([[1.0, np.nan], [np.nan, np.nan]])
    assert np.isnan(regrid(_field(fine, values), coarse, method="conservative").item())
    kept = regrid(_field(fine, values), coarse, method="conservative", min_coverage=0.2)
    assert kept.item() == pytest.approx(1.0)


def test_bilinear_reproduces_a_linear_field_and_wraps_longitude():
    src = make_grid(1.0, bbox=(-180, -10, 180, 10))
    lat2, lon2 = np.meshgrid(src.lat.values, src.lon.values, indexing="ij")
    field = _field(src, 2.0 * lat2 + 0.5 * lon2)
    target = make_grid(0.25, bbox=(-20, -5, 20, 5))
    out = regrid(field, target)
    assert out.attrs["regrid_method"] == "bilinear"
    tl, tn = np.meshgrid(target.lat.values, target.lon.values, indexing="ij")
    np.testing.assert_allclose(out.values, 2.0 * tl + 0.5 * tn, atol=1e-9)
    # across the dateline: periodic neighbours are used
    const = regrid(_field(src, np.ones((20, 360))), make_grid(0.25, bbox=(179, -1, 180, 1)))
    assert np.isfinite(const.values).all()


def test_regrid_refuses_integer_categories():
    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    with pytest.raises(GridError, match="categories"):
        regrid(_field(grid, np.array([[1, 2], [3, 4]])), make_grid(2.0, bbox=(0, 0, 2, 2)))


def test_regrid_dataset_keeps_time_and_is_lazy(no_compute):
    fine = make_grid(0.5, bbox=(0, 40, 4, 44))
    time = pd.date_range("2010-01-01", periods=5)
    ds = xr.Dataset(
        {"ta": (("time", "lat", "lon"), np.ones((5, 8, 8), "float32"), {"units": "degC"})},
        coords={"time": time, "lat": fine.lat, "lon": fine.lon},
    ).chunk({"time": 2})
    with no_compute():
        out = regrid(ds, make_grid(1.0, bbox=(0, 40, 4, 44)))
    assert out.ta.dims == ("time", "lat", "lon") and out.ta.shape == (5, 4, 4)
    assert out.ta.dtype == np.float32 and out.ta.attrs["units"] == "degC"
    np.testing.assert_allclose(out.ta.values, 1.0)


# --------------------------------------------------------------------------- masks
def _land_cover():
    """IGBP classes on a 1-degree grid: each 2x2 block holds a known mix."""
    grid = make_grid(1.0, bbox=(0, 0, 4, 2))
    classes = np.array(
        [[4, 4, 17, 17], [4, 17, 17, 255]],
    )  # lat rows 0.5, 1.5
    return _field(grid, classes)


def test_class_fractions_and_land_mask():
    lc = _land_cover()
    coarse = make_grid(2.0, bbox=(0, 0, 4, 2))
    frac = class_fractions(lc, target=coarse, classes=["DBF", "WAT"])
    dbf = frac.sel({"class": 4}).values[0]
    wat = frac.sel({"class": 17}).values[0]
    # left block: 3 DBF + 1 water; right block: 3 water + 1 unclassified (left out)
    w_low, w_high = np.diff(np.sin(np.radians([0.0, 1.0, 2.0])))
    left_dbf = (2 * w_low + w_high) / (2 * (w_low + w_high))
    np.testing.assert_allclose(dbf, [left_dbf, 0.0], rtol=1e-6)
    np.testing.assert_allclose(wat, [1 - left_dbf, 1.0], rtol=1e-6)
    mask = land_mask(lc, target=coarse)
    assert mask.dtype == bool and mask.values.tolist() == [[True, False]]
    assert land_mask(lc).values.tolist() == [
        [True, True, False, False],
        [True, False, False, False],
    ]


def test_vegetation_type_and_mask():
    lc = _land_cover()
    coarse = make_grid(2.0, bbox=(0, 0, 4, 2))
    veg = vegetation_type(lc, target=coarse)
    assert veg.values.tolist() == [[4, -1]]  # water never dominates; the right block has no land
    assert "DBF" in veg.attrs["flag_meanings"].split()
    mask = vegetation_mask(lc, ["DBF"], target=coarse, threshold=0.5)
    assert mask.values.tolist() == [[True, False]]
    with pytest.raises(GridError, match="unknown IGBP class 'XYZ'"):
        vegetation_mask(lc, ["XYZ"])


def test_modis_sinusoidal_geotiff_is_warped_and_aggregated(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    from pyproj import Transformer
    from rasterio.transform import from_origin

    sinu = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
    to_sinu = Transformer.from_crs("EPSG:4326", sinu, always_xy=True)
    x0, y0 = to_sinu.transform(8.0, 52.0)
    size, n = 5000.0, 60  # 5 km pixels, a 300 km square over Germany
    transform = from_origin(x0, y0, size, size)
    xs = x0 + size * (np.arange(n) + 0.5)
    ys = y0 - size * (np.arange(n) + 0.5)
    xx, yy = np.meshgrid(xs, ys)
    _, lat = Transformer.from_crs(sinu, "EPSG:4326", always_xy=True).transform(xx, yy)
    ndvi = (0.01 * lat).astype("float32")  # a smooth field: NDVI = lat / 100
    path = tmp_path / "MOD13_sinusoidal.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="float32",
        crs=sinu,
        transform=transform,
        nodata=-3000.0,
    ) as dst:
        dst.write(ndvi, 1)
    da = open_raster(path)
    assert da.dims == ("lat", "lon")
    assert np.all(np.diff(da.lat.values) > 0) and da.lon.min() >= -180
    target = make_grid(0.5, bbox=(8.5, 49.5, 10.5, 51.5))
    out = open_raster(path, target=target, method="conservative")
    assert out.shape == (4, 4)
    # each 0.5 degree cell's mean NDVI is lat / 100 at its centre (the field is linear in lat)
    expected = np.broadcast_to((target.lat.values / 100.0)[:, None], (4, 4))
    np.testing.assert_allclose(out.values, expected, atol=2e-4)


# --------------------------------------------------------------------------- for inference
def test_prepare_drivers_and_chunks(era5_files):
    daily = read_era5(era5_files, accumulation="per_step")
    lsm = _field(daily, np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=float))
    drivers = prepare_drivers(daily, mask=land_mask(lsm))
    assert list(drivers.data_vars) == ["ta", "sw_in", "vpd", "p", "ws"]
    assert drivers.doy.values.tolist() == [152, 153]
    assert drivers.land.dtype == bool and int(drivers.land.sum()) == 7
    assert drivers.attrs["resolution"] == "DD"
    blocks = rechunk_for_inference(drivers, target_bytes=2 * 4 * 2 * 2)
    assert blocks.ta.chunks == ((2,), (2, 1), (2, 2))
    with pytest.raises(GridError, match=r"drivers \['ws'\] missing"):
        prepare_drivers(daily.drop_vars("ws"))
    other = make_grid(1.0, bbox=(0, 0, 2, 2))
    with pytest.raises(GridError, match="another grid"):
        prepare_drivers(daily, mask=land_mask(_field(other, np.ones((2, 2)))))


def test_grid_to_sites_round_trip(era5_files):
    daily = read_era5(era5_files, accumulation="per_step").compute()
    mask = daily.ta.isel(time=0) > 19.95  # lon >= 0 only
    cube = grid_to_sites(daily, mask=mask)
    assert cube.ta.dims == ("site", "time") and cube.sizes["site"] == 6
    assert set(cube.longitude.values.tolist()) == {0.0, 1.0}
    assert (cube.utc_offset == 0).all()
    back = sites_to_grid(cube, daily)
    np.testing.assert_array_equal(back.ta.where(mask).values, daily.ta.where(mask).values)
    assert np.isnan(back.ta.sel(lon=-2.0)).all()


def test_write_grid_round_trip_and_refuse_overwrite(era5_files, tmp_path):
    daily = read_era5(era5_files, accumulation="per_step")
    path = write_grid(daily, tmp_path / "drivers.zarr")
    again = open_grid(path)
    xr.testing.assert_allclose(again.compute(), daily.compute())
    assert again.ta.chunks[0] == (2,)  # full time axis per chunk
    with pytest.raises(OutputExistsError):
        write_grid(daily, path)
    write_grid(daily, path, overwrite=True, layout="maps")
    assert open_grid(path).ta.chunks[0] == (2,)


def test_cli_drivers(era5_land_file, tmp_path, capsys):
    from fluxgrid.cli import main

    out = tmp_path / "drivers.zarr"
    code = main(
        [
            "drivers",
            str(era5_land_file),
            "-o",
            str(out),
            "--resolution",
            "2",
            "--bbox",
            "-2",
            "48",
            "2",
            "50",
        ]
    )
    assert code == 0
    assert "accumulation since_midnight" in capsys.readouterr().out
    drivers = open_grid(out)
    assert drivers.sizes == {"time": 2, "lat": 1, "lon": 2}
    np.testing.assert_allclose(drivers.p.values, 6.0, rtol=1e-5)
    assert main(["drivers", str(era5_land_file), "-o", str(out)]) == 2  # exists: refused
    assert "exists" in capsys.readouterr().err


def test_drivers_from_config(era5_files):
    from fluxgrid.config import DriversConfig, from_dict

    cfg = from_dict(
        DriversConfig,
        {
            "sources": [str(p) for p in era5_files],
            "accumulation": "per_step",
            "resolution": 1.0,
            "bbox": [-2, 48, 2, 50],
            "variables": ["ta", "p"],
        },
    )
    drivers = drivers_from_config(cfg)
    assert list(drivers.data_vars) == ["ta", "p"]
    assert drivers.lat.values.tolist() == [48.5, 49.5]
    np.testing.assert_allclose(drivers.p.values, 6.0, rtol=1e-5)


def test_old_module_forwards_every_name_with_a_warning():
    import fluxgrid.grids
    import fluxgrid.io.grids as old

    names = list(old.__getattr__.moved)  # the names it had; newer ones live in fluxgrid.grids
    assert {"regrid", "class_fractions", "write_grid"} <= set(names)
    for name in names:
        with pytest.warns(DeprecationWarning, match=f"fluxgrid.grids.{name}"):
            assert getattr(old, name) is getattr(fluxgrid.grids, name)
    with pytest.raises(AttributeError):
        old.not_a_name  # noqa: B018
