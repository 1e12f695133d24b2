"""Sampling gridded products at towers: nearest, bilinear, buffer mean, projected grids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import fluxgrid  # noqa: F401  (registers ds.fluxgrid)
from fluxgrid.errors import GridError
from fluxgrid.rs.sample import add_gridded, sample_grid


def _grid(lat=None, lon=None, times=3):
    lat = np.arange(40.0, 55.0, 0.5) if lat is None else lat
    lon = np.arange(-10.0, 20.0, 0.5) if lon is None else lon
    t = pd.date_range("2010-01-01", periods=times, freq="8D")
    # a plane in lat/lon (bilinear interpolation reproduces it exactly) plus the date index
    values = (
        2.0 * lat[None, :, None]
        + 0.5 * lon[None, None, :]
        + 100.0 * np.arange(times)[:, None, None]
    )
    return xr.DataArray(
        values, dims=("time", "lat", "lon"), coords={"time": t, "lat": lat, "lon": lon}, name="lai"
    )


def test_nearest_and_bilinear():
    grid = _grid()
    lat, lon = np.array([51.0792, 43.7413]), np.array([10.453, 3.5957])
    near = sample_grid(grid, lat, lon, site=["DE-Hai", "FR-Pue"])
    assert near.dims == ("time", "site")
    want = 2.0 * (np.round(lat * 2) / 2) + 0.5 * (np.round(lon * 2) / 2)
    np.testing.assert_allclose(near.isel(time=0).values, want)
    bil = sample_grid(grid, lat, lon, method="bilinear")
    np.testing.assert_allclose(bil.isel(time=1).values, 2.0 * lat + 0.5 * lon + 100.0)


def test_descending_lat_and_0_360_longitudes():
    grid = _grid(lon=np.arange(0.0, 360.0, 0.5))
    flipped = grid.isel(lat=slice(None, None, -1))
    a = sample_grid(flipped, [45.2], [-86.4], method="bilinear")  # 273.6 E on the grid
    np.testing.assert_allclose(a.isel(time=0).values, [2 * 45.2 + 0.5 * 273.6])
    # across the dateline on a global grid the neighbours wrap around
    b = sample_grid(grid, [45.0], [-0.2], method="nearest")
    assert b.isel(time=0).values[0] == pytest.approx(2 * 45.0 + 0.5 * 0.0)


def test_buffer_mean():
    lat = np.arange(50.0, 52.0, 0.01)  # about 1.1 km cells
    lon = np.arange(10.0, 11.0, 0.01)
    grid = _grid(lat=lat, lon=lon, times=1)
    one = sample_grid(grid, [51.0], [10.5], method="buffer", buffer_m=100.0)
    assert one.isel(time=0).values[0] == pytest.approx(2 * 51.0 + 0.5 * 10.5)  # the tower cell
    wide = sample_grid(grid, [51.0], [10.5], method="buffer", buffer_m=5000.0)
    # symmetric window on a plane: the mean is the centre value
    assert wide.isel(time=0).values[0] == pytest.approx(2 * 51.0 + 0.5 * 10.5, abs=0.02)
    step = sample_grid(
        (grid > 2 * 51.0 + 0.5 * 10.5).astype(float),
        [51.0],
        [10.5],
        method="buffer",
        buffer_m=5000.0,
    )
    assert 0.4 < step.isel(time=0).values[0] < 0.6
    assert wide.attrs["buffer_m"] == 5000.0


def test_projected_grid_needs_crs():
    pytest.importorskip("rioxarray")
    x = np.arange(600_000.0, 610_000.0, 500.0)
    y = np.arange(5_655_000.0, 5_665_000.0, 500.0)
    grid = xr.DataArray(
        np.add.outer(y, x) / 1000.0, dims=("y", "x"), coords={"y": y, "x": x}, name="age"
    )
    with pytest.raises(GridError, match="CRS"):
        sample_grid(grid, [51.0792], [10.453])
    grid = grid.rio.write_crs("EPSG:32632")
    out = sample_grid(grid, [51.0792], [10.453], method="bilinear")
    from fluxgrid.rs.stac import tower_xy

    tx, ty = tower_xy(51.0792, 10.453, "EPSG:32632")
    assert float(out[0]) == pytest.approx((tx + ty) / 1000.0, rel=1e-9)


def test_outside_sites_are_nan_and_named():
    grid = _grid()
    out = sample_grid(grid, [51.0, -33.0], [10.0, 151.0], site=["in", "out"])
    assert np.isnan(out.sel(site="out")).all() and out.attrs["outside_sites"] == "out"
    with pytest.raises(GridError, match="outside the grid"):
        sample_grid(grid, [-33.0], [151.0])
    with pytest.raises(GridError, match="dims"):
        sample_grid(grid.rename(lat="a"), [51.0], [10.0])


def test_add_gridded_aligns_to_days(demo_cube):
    cube = demo_cube.sel(time=slice("2010-01-01", "2010-01-31"))
    grid = _grid().to_dataset()
    grid["age"] = grid.lai.isel(time=0, drop=True) * 0 + 80.0
    out = add_gridded(cube, grid, names={"lai": "lai"}, method="bilinear", interpolate=True)
    hai = out.lai.sel(site="DE-Hai")
    base = 2 * 51.0792 + 0.5 * 10.453
    assert float(hai.sel(time="2010-01-01")) == pytest.approx(base, rel=1e-6)
    assert float(hai.sel(time="2010-01-05")) == pytest.approx(base + 50.0, rel=1e-5)
    assert np.isnan(float(hai.sel(time="2010-01-20")))  # after the last composite
    assert out.age.dims == ("site",) and float(out.age.sel(site="DE-Hai")) == pytest.approx(80.0)
    assert out.lai.attrs["sampling"] == "bilinear"
    plain = cube.fluxgrid.add_gridded(grid[["lai"]])
    assert np.isnan(float(plain.lai.sel(site="DE-Hai", time="2010-01-05")))
    # US sites lie outside this European grid: recorded, not zero
    assert "US-MMS" in plain.lai.attrs["outside_sites"]
    assert plain.lai.sel(site="US-MMS").isnull().all()
