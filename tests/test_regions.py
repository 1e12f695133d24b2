"""Cell areas on the sphere and regional annual totals (TgC yr-1)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import GridError, OutputExistsError, UnitError
from fluxgrid.grids import class_fractions, make_grid
from fluxgrid.regions import (
    R_AUTHALIC,
    cell_area,
    region_weights,
    regional_totals,
    totals_to_csv,
)

SPHERE = 4 * np.pi * R_AUTHALIC**2


@pytest.mark.parametrize("resolution", [1.0, 0.25, (2.5, 3.75), (180.0, 360.0)])
def test_global_cell_areas_sum_to_the_ellipsoid_and_sphere(resolution):
    area = cell_area(make_grid(resolution))
    assert area.dims == ("lat", "lon") and area.attrs["units"] == "m2"
    assert area.attrs["ellipsoid"] == "WGS84"
    # surface of the WGS84 ellipsoid: 2 pi a^2 (1 + (1 - e^2) / (2 e) ln((1 + e) / (1 - e)))
    f = 1 / 298.257223563
    e = np.sqrt(f * (2 - f))
    ellipsoid = 2 * np.pi * 6378137.0**2 * (1 + (1 - e**2) / (2 * e) * np.log((1 + e) / (1 - e)))
    np.testing.assert_allclose(float(area.sum()), ellipsoid, rtol=1e-12)
    sphere = cell_area(make_grid(resolution), radius=R_AUTHALIC)
    np.testing.assert_allclose(float(sphere.sum()), SPHERE, rtol=1e-12)


def test_ellipsoid_cell_areas_match_geodesic_polygons():
    # independent reference: pyproj's geodesic polygon areas on WGS84 (cells are bounded by
    # meridians and parallels; a parallel is not a geodesic, so compare narrow cells)
    pyproj = pytest.importorskip("pyproj")
    geod = pyproj.Geod(ellps="WGS84")
    grid = make_grid(0.05, bbox=(0, -90, 0.05, 90))
    area = cell_area(grid).values[:, 0]
    for lat0 in (0.0, 45.0, 79.95, -60.0):
        i = round((lat0 + 90) / 0.05)
        lats = [lat0, lat0, lat0 + 0.05, lat0 + 0.05]
        ref, _ = geod.polygon_area_perimeter([0, 0.05, 0.05, 0], lats)
        assert area[i] == pytest.approx(abs(ref), rel=1e-5)
    # the sphere with the ellipsoid's area is +0.45 % off at the equator, -0.85 % at 80 N
    sphere = cell_area(grid, radius=R_AUTHALIC).values[:, 0]
    eq, n80 = round(90 / 0.05), round(170 / 0.05)
    assert sphere[eq] / area[eq] - 1 == pytest.approx(0.0045, abs=0.0003)
    assert sphere[n80] / area[n80] - 1 == pytest.approx(-0.0085, abs=0.0003)


def test_global_grid_without_bounds_and_by_hand():
    # centres only (edges from midpoints, clipped at the poles) give the same areas
    grid = make_grid(2.0)
    bare = xr.Dataset(coords={"lat": grid.lat.values, "lon": grid.lon.values})
    np.testing.assert_allclose(cell_area(bare).values, cell_area(grid).values, rtol=1e-12)
    # a 1-degree cell at the equator: R^2 * (pi / 180) * sin(1 degree)
    eq = cell_area(make_grid(1.0, bbox=(0, 0, 2, 2)), radius=R_AUTHALIC).values[0, 0]
    assert eq == pytest.approx(R_AUTHALIC**2 * np.pi / 180 * np.sin(np.pi / 180), rel=1e-12)
    # cells shrink towards the poles: row areas are proportional to dsin(lat)
    area = cell_area(grid, radius=R_AUTHALIC)
    ratio = area.values[0, 0] / area.values[45, 0]
    expected = (np.sin(np.radians(-88)) + 1) / (np.sin(np.radians(2)) - 0)
    assert ratio == pytest.approx(expected, rel=1e-12)


def test_constant_field_total_is_area_times_value(daily_flux_map):
    grid = make_grid(10.0, bbox=(-20, 30, 40, 70))
    nee = daily_flux_map(-2.0, grid)
    ids = xr.DataArray(
        np.where(grid.lon.values[None, :] < 10, 1, 2) * np.ones((grid.sizes["lat"], 1), int),
        coords={"lat": grid.lat, "lon": grid.lon},
        dims=("lat", "lon"),
    )
    table = regional_totals(nee, ids, names={1: "west", 2: "east"})
    area = cell_area(grid)
    west = float(area.where(ids == 1).sum())
    east = float(area.where(ids == 2).sum())
    assert table.total.dims == ("region", "year")
    assert table.region.values.tolist() == ["west", "east"]
    np.testing.assert_allclose(
        table.total.sel(year=2003).values,
        [-2 * 365 * west / 1e12, -2 * 365 * east / 1e12],
        rtol=1e-6,
    )
    np.testing.assert_allclose(table.sink.values, -table.total.values)
    np.testing.assert_allclose(table.area.values, [west, east], rtol=1e-12)
    assert (
        table.total.attrs["units"] == "TgC yr-1"
        and "negative" in table.total.attrs["sign_convention"]
    )
    assert table.sink.attrs["sign_convention"].startswith("positive")
    np.testing.assert_allclose(table.coverage.values, 1.0)
    assert int(table.n_days.item()) == 365


def test_whole_grid_boolean_and_mapping_regions(daily_flux_map):
    grid = make_grid(1.0, bbox=(0, 0, 4, 3))
    nee = daily_flux_map(1.0, grid, "2004-01-01")  # leap year: 366 days
    total_area = float(cell_area(grid).sum())
    whole = regional_totals(nee)
    assert whole.region.values.tolist() == ["total"]
    assert whole.total.item() == pytest.approx(366 * total_area / 1e12, rel=1e-6)
    north = (grid.lat > 1).broadcast_like(grid.lon).rename("north")
    table = regional_totals(nee, north)
    assert table.region.values.tolist() == ["north"]
    north_area = float(cell_area(grid).where(north).sum())
    assert table.total.item() == pytest.approx(366 * north_area / 1e12, rel=1e-6)
    both = regional_totals(nee, {"north": north, "all": xr.ones_like(north)})
    np.testing.assert_allclose(
        both.total.values[:, 0], [366 * north_area / 1e12, 366 * total_area / 1e12], rtol=1e-6
    )


def test_vegetation_type_fractions_as_weights(daily_flux_map):
    fine = make_grid(0.5, bbox=(0, 0, 2, 2))
    coarse = make_grid(1.0, bbox=(0, 0, 2, 2))
    lc = xr.DataArray(
        np.where(fine.lon.values[None, :] < 0.5, 4, 10) * np.ones((4, 1), int),
        coords={"lat": fine.lat, "lon": fine.lon},
        dims=("lat", "lon"),
    )  # first fine column DBF, the rest grassland
    frac = class_fractions(lc, target=coarse, classes=["DBF", "GRA"])
    gpp = daily_flux_map(3.0, coarse, name="gpp_nt")
    table = regional_totals(gpp, frac)
    assert table.region.values.tolist() == ["DBF", "GRA"]
    assert "sink" not in table  # only NEE has a sink
    area = cell_area(coarse)
    dbf_area = float((area * frac.sel({"class": 4})).sum())
    assert table.total.sel(region="DBF").item() == pytest.approx(
        3 * 365 * dbf_area / 1e12, rel=1e-6
    )
    assert float(table.total.sum()) == pytest.approx(3 * 365 * float(area.sum()) / 1e12, rel=1e-6)


def test_missing_values_partial_years_and_coverage(daily_flux_map):
    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    nee = daily_flux_map(-1.0, grid, "2003-07-01", "2004-12-31", dtype="float64")
    nee[:, 0, 0] = np.nan  # one cell without data (e.g. ocean)
    area = cell_area(grid)
    table = regional_totals(nee)
    assert table.n_days.values.tolist() == [184, 366]
    assert np.isnan(table.total.sel(year=2003).item())  # partial year
    valid_area = float(area.sum()) - float(area[0, 0])
    assert table.total.sel(year=2004).item() == pytest.approx(-366 * valid_area / 1e12, rel=1e-6)
    assert table.coverage.sel(year=2004).item() == pytest.approx(valid_area / float(area.sum()))
    partial = regional_totals(nee, full_years=False)
    assert partial.total.sel(year=2003).item() == pytest.approx(-184 * valid_area / 1e12, rel=1e-6)
    strict = regional_totals(nee, min_coverage=0.9)
    assert np.isnan(strict.total.sel(year=2004).item())


def test_monthly_means_and_unit_conversion():
    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    time = pd.date_range("2005-01-01", periods=12, freq="MS")
    nee = xr.DataArray(
        np.ones((12, 2, 2)),
        coords={"time": time, "lat": grid.lat, "lon": grid.lon},
        dims=("time", "lat", "lon"),
        name="nee",
        attrs={"units": "umolCO2 m-2 s-1"},
    )
    table = regional_totals(nee)
    per_day = 12.011e-6 * 86400  # gC m-2 d-1 from 1 umolCO2 m-2 s-1
    expected = per_day * 365 * float(cell_area(grid).sum()) / 1e12
    assert table.total.item() == pytest.approx(expected, rel=1e-9)


def test_real_site_nee_as_a_map(demo_cube):
    """The five bundled FLUXNET2015 sites as five cells: totals equal pandas sums by hand."""
    nee = demo_cube.nee.transpose("time", "site")  # gC m-2 d-1, real data with gaps
    n = nee.sizes["site"]
    grid = make_grid((10.0, 10.0), bbox=(0, 0, 10, 10 * n))
    flux = xr.DataArray(
        nee.values[:, :, None],
        coords={"time": nee.time.values, "lat": grid.lat, "lon": grid.lon},
        dims=("time", "lat", "lon"),
        name="nee",
        attrs={"units": "gC m-2 d-1"},
    )
    ids = xr.DataArray(
        np.arange(n)[:, None], coords={"lat": grid.lat, "lon": grid.lon}, dims=("lat", "lon")
    )
    sites = demo_cube.site.values.tolist()
    area_map = cell_area(grid)  # one cell wide: the areas come from the grid's bounds
    table = regional_totals(
        flux, ids, names=dict(enumerate(sites)), full_years=False, area=area_map
    )
    area = area_map.values[:, 0]
    frame = nee.to_pandas()  # time x site
    by_year = frame.groupby(frame.index.year).sum(min_count=0)  # NaN days add nothing
    for i, site in enumerate(sites):
        expected = by_year[site].to_numpy() * area[i] / 1e12
        np.testing.assert_allclose(table.total.sel(region=site).values, expected, rtol=1e-5)
        days = frame.groupby(frame.index.year)[site].count().to_numpy()
        in_year = np.where(
            pd.DatetimeIndex([f"{y}-01-01" for y in by_year.index]).is_leap_year, 366, 365
        )
        np.testing.assert_allclose(
            table.coverage.sel(region=site).values, days / in_year, rtol=1e-9
        )


def test_lazy_on_dask(no_compute, daily_flux_map):
    grid = make_grid(1.0, bbox=(0, 0, 4, 4))
    nee = daily_flux_map(-1.0, grid).chunk({"time": 100, "lat": 2, "lon": 2})
    ids = xr.DataArray(
        np.ones((4, 4), int), coords={"lat": grid.lat, "lon": grid.lon}, dims=("lat", "lon")
    )
    with no_compute():
        table = regional_totals(nee, ids, names={1: "box"})
    assert table.total.chunks is not None
    total = float(table.total.compute().item())
    assert total == pytest.approx(-365 * float(cell_area(grid).sum()) / 1e12, rel=1e-6)


def test_bad_input(daily_flux_map):
    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    nee = daily_flux_map(1.0, grid)
    other = make_grid(1.0, bbox=(10, 0, 12, 2))
    with pytest.raises(GridError, match="another grid"):
        regional_totals(
            nee, xr.DataArray(np.ones((2, 2), bool), coords=other.coords, dims=("lat", "lon"))
        )
    with pytest.raises(UnitError, match="carbon flux rate"):
        regional_totals(nee.assign_attrs(units="degC"))
    with pytest.raises(UnitError, match="no 'units'"):
        regional_totals(nee.drop_attrs())
    with pytest.raises(GridError, match="neither daily nor monthly"):
        regional_totals(nee.isel(time=slice(None, None, 7)))
    with pytest.raises(GridError, match="no variable 'nee'"):
        regional_totals(xr.Dataset({"gpp_nt": nee}))


def test_region_ids_from_flag_attributes():
    grid = make_grid(1.0, bbox=(0, 0, 2, 1))
    ids = xr.DataArray(
        [[4, -1]],
        coords={"lat": grid.lat, "lon": grid.lon},
        dims=("lat", "lon"),
        attrs={"flag_values": "4 10", "flag_meanings": "DBF GRA"},
    )
    w = region_weights(ids, grid)
    assert w.region.values.tolist() == ["DBF", "GRA"] and w.region_id.values.tolist() == [4, 10]
    assert w.sel(region="DBF").values.tolist() == [[1.0, 0.0]]


def test_csv_export(tmp_path, daily_flux_map):
    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    nee = daily_flux_map(-1.0, grid, "2003-01-01", "2004-12-31", dtype="float64")
    table = regional_totals(nee)
    path = totals_to_csv(table, tmp_path / "sinks.csv")
    df = pd.read_csv(path)
    assert df.columns.tolist() == [
        "region",
        "year",
        "total [TgC yr-1]",
        "sink [TgC yr-1]",
        "coverage [1]",
        "area [m2]",
        "n_days [d]",
    ]
    assert df["year"].tolist() == [2003, 2004]
    np.testing.assert_allclose(df["sink [TgC yr-1]"], table.sink.values[0], rtol=1e-5)
    with pytest.raises(OutputExistsError):
        totals_to_csv(table, path)
    totals_to_csv(table, path, overwrite=True)


def test_accessor_regional_sink(daily_flux_map):
    import fluxgrid  # noqa: F401  (registers ds.fluxgrid)

    grid = make_grid(1.0, bbox=(0, 0, 2, 2))
    maps = xr.Dataset({"nee": daily_flux_map(-1.0, grid)})
    table = maps.fluxgrid.regional_sink()
    assert table.sink.item() == pytest.approx(365 * float(cell_area(grid).sum()) / 1e12, rel=1e-6)
