"""ERA5 from analysis-ready cloud Zarr stores: lazy, only what is needed, same daily drivers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import FileFormatError, GridError
from fluxgrid.grids import era5_to_daily, open_era5_zarr, standardise_grid


@pytest.fixture(scope="module")
def arco_store(tmp_path_factory) -> str:
    """A small store in the ARCO-ERA5 layout: hourly, latitude descending, longitude 0..360,
    CDS long names, accumulations per hourly step, plus a pressure-level field."""
    time = pd.date_range("2018-06-01", "2018-06-05 23:00", freq="h")
    lat = np.arange(60.0, 29.9, -2.5)
    lon = np.arange(0.0, 360.0, 2.5)
    hour = time.hour.values[:, None, None]
    shape = (time.size, lat.size, lon.size)
    rng = np.random.default_rng(1)
    t2m = 288.0 + 6 * np.sin((hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.5, shape)
    ds = xr.Dataset(
        {
            "2m_temperature": (("time", "latitude", "longitude"), t2m, {"units": "K"}),
            "2m_dewpoint_temperature": (("time", "latitude", "longitude"), t2m - 5, {"units": "K"}),
            "surface_solar_radiation_downwards": (
                ("time", "latitude", "longitude"),
                np.clip(np.sin((hour - 6) / 12 * np.pi), 0, None) * 2.5e6 * np.ones(shape),
                {"units": "J m**-2"},
            ),
            "total_precipitation": (
                ("time", "latitude", "longitude"),
                rng.exponential(2e-4, shape),
                {"units": "m"},
            ),
            "10m_u_component_of_wind": (
                ("time", "latitude", "longitude"),
                np.full(shape, 3.0),
                {"units": "m s**-1"},
            ),
            "10m_v_component_of_wind": (
                ("time", "latitude", "longitude"),
                np.full(shape, 4.0),
                {"units": "m s**-1"},
            ),
            "geopotential": (
                ("time", "level", "latitude", "longitude"),
                np.zeros((time.size, 2, lat.size, lon.size), "float32"),
                {"units": "m**2 s**-2"},
            ),
        },
        coords={"time": time, "level": [500, 850], "latitude": lat, "longitude": lon},
    )
    path = tmp_path_factory.mktemp("arco") / "era5.zarr"
    ds.chunk({"time": 24}).to_zarr(path, zarr_format=3, consolidated=False)
    return str(path)


def test_open_era5_zarr_matches_era5_to_daily_and_crosses_the_meridian(arco_store):
    daily = open_era5_zarr(arco_store, period=("2018-06-02", "2018-06-04"), bbox=(-10, 40, 10, 50))
    assert set(daily.data_vars) == {"ta", "sw_in", "vpd", "p", "ws"}
    assert daily.time.dt.strftime("%Y-%m-%d").values.tolist() == [
        "2018-06-02",
        "2018-06-03",
        "2018-06-04",
    ]
    lon = daily.lon.values
    assert lon.min() == -10 and lon.max() == 10 and np.all(np.diff(lon) > 0)  # 350..360 + 0..10
    # the same drivers as era5_to_daily of the whole store, cut afterwards
    surface = xr.open_zarr(arco_store).drop_vars(["geopotential", "level"])
    full = era5_to_daily(standardise_grid(surface), accumulation="per_step")
    ref = full.sel(time=slice("2018-06-02", "2018-06-04"), lat=daily.lat, lon=daily.lon)
    xr.testing.assert_allclose(daily.compute(), ref.compute().transpose(*daily.ta.dims), rtol=1e-6)
    assert float(daily.ws.mean()) == pytest.approx(5.0)  # sqrt(3**2 + 4**2)


def test_open_era5_zarr_is_lazy_and_reads_only_what_it_needs(arco_store, no_compute):
    with no_compute():
        daily = open_era5_zarr(
            arco_store, period=("2018-06-02", "2018-06-03"), bbox=(2, 43, 16, 53), variables=["ta"]
        )
    assert daily.ta.chunks is not None and list(daily.data_vars) == ["ta"]
    graph = dict(daily.ta.data.__dask_graph__())
    assert not any("geopotential" in str(k) or "dewpoint" in str(k) for k in graph)


def test_open_era5_zarr_refuses_what_selects_nothing(arco_store, tmp_path):
    with pytest.raises(GridError, match="select no hour or cell"):
        open_era5_zarr(arco_store, period=("2019-01-01", "2019-01-02"))
    with pytest.raises(GridError, match="select no hour or cell"):
        open_era5_zarr(arco_store, period=("2018-06-02", "2018-06-03"), bbox=(2, -80, 16, -70))
    with pytest.raises(GridError, match="last day is before the first"):
        open_era5_zarr(arco_store, period=("2018-06-03", "2018-06-02"))
    with pytest.raises(FileFormatError, match="cannot be opened as a Zarr store"):
        open_era5_zarr(str(tmp_path / "nothing.zarr"), period=("2018-06-02", "2018-06-03"))


@pytest.mark.network
def test_arco_era5_live():
    pytest.importorskip("gcsfs")
    daily = open_era5_zarr(
        "arco-era5", period=("2018-06-01", "2018-06-02"), bbox=(10, 50, 11, 51), variables=["ta"]
    )
    values = daily.ta.compute()
    assert values.sizes["time"] == 2 and 0 < float(values.mean()) < 35
