"""Clear-sky radiation: vectorised result vs direct pvlib calls, physical bounds, local days."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fluxgrid  # noqa: F401  (registers ds.fluxgrid)
from fluxgrid.errors import RemoteSensingError
from fluxgrid.rs.config import ClearSkyConfig
from fluxgrid.rs.radiation import add_clearsky, clearsky_daily, linke_turbidity_monthly

pvlib = pytest.importorskip("pvlib")

# DE-Hai, CG-Tch, a polar site, US-MMS, Kathmandu (UTC+5:45)
LAT = [51.0792, -4.2892, 80.0, 39.3232, 27.7]
LON = [10.4522, 11.6564, 15.0, -86.4131, 85.3]
ELEV = [430.0, 82.0, 10.0, 275.0, 1300.0]
OFFSET = [1.0, 1.0, 1.0, -5.0, 5.75]


def _pvlib_daily(i, days, step=30, model="ineichen"):
    """Direct pvlib: Location.get_clearsky at the local-day step midpoints, one site."""
    loc = pvlib.location.Location(LAT[i], LON[i], tz="UTC", altitude=ELEV[i])
    n = 1440 // step
    local = pd.date_range(days[0], periods=len(days) * n, freq=f"{step}min") + pd.Timedelta(
        minutes=step / 2
    )
    times = (local - pd.Timedelta(hours=OFFSET[i])).tz_localize("UTC")
    ghi = loc.get_clearsky(times, model=model)["ghi"].to_numpy()
    return ghi.reshape(len(days), n).mean(axis=1)


@pytest.mark.parametrize("model", ["ineichen", "haurwitz"])
def test_matches_direct_pvlib_calls(model):
    days = pd.date_range("2011-12-28", "2012-01-03")  # across a year end and a leap year
    rad = clearsky_daily(LAT, LON, ELEV, OFFSET, days, model=model)
    assert rad.sw_clearsky.dims == ("site", "time") and rad.sw_clearsky.dtype == np.float32
    for i in range(len(LAT)):
        np.testing.assert_allclose(
            rad.sw_clearsky.values[i], _pvlib_daily(i, days, model=model), rtol=1e-5, atol=1e-4
        )


def test_local_standard_time_days():
    # a tower at 139.7 E (UTC+9): the UTC day starts mid-morning local time, so averaging
    # over UTC days instead of local standard-time days would give different values
    days = pd.date_range("2012-03-18", periods=3)
    lat, lon, elev = 35.7, 139.7, 40.0
    ours = clearsky_daily([lat], [lon], [elev], [9.0], days).sw_clearsky.values[0]
    loc = pvlib.location.Location(lat, lon, tz="UTC", altitude=elev)
    mid = pd.date_range(days[0], periods=3 * 48, freq="30min") + pd.Timedelta(minutes=15)

    def daily(offset_h):
        times = (mid - pd.Timedelta(hours=offset_h)).tz_localize("UTC")
        return loc.get_clearsky(times)["ghi"].to_numpy().reshape(3, 48).mean(axis=1)

    assert np.abs(ours - daily(9.0)).max() < 1e-3
    assert np.abs(ours - daily(0.0)).max() > 0.3  # the seasonal trend over 9 h


def test_physical_bounds():
    days = pd.date_range("2012-01-01", "2012-12-31", freq="7D")
    rad = clearsky_daily(LAT, LON, ELEV, OFFSET, days)
    cs, toa = rad.sw_clearsky.values, rad.sw_in_pot.values
    assert (cs >= 0).all() and (cs <= toa + 1e-3).all()
    # the largest daily-mean TOA irradiance anywhere: S0 sin(23.44 deg) at a pole in summer,
    # times the Earth-Sun distance factor (<= 1.035)
    assert toa.max() < 1361 * np.sin(np.radians(23.44)) * 1.035
    polar = rad.sel(site=2)
    winter = polar.time.dt.month.isin([12, 1])
    assert float(np.abs(polar.sw_clearsky.where(winter, drop=True)).max()) == 0.0
    assert float(polar.sw_in_pot.where(winter, drop=True).max()) == 0.0
    summer = polar.time.dt.month.isin([6])
    assert float(polar.sw_clearsky.where(summer, drop=True).min()) > 200.0


def test_linke_turbidity_matches_pvlib_lookup():
    lt = linke_turbidity_monthly(LAT, LON)
    mid = pd.date_range("2015-01-01", periods=12, freq="MS") + pd.Timedelta(days=14)
    for i in range(len(LAT)):
        ref = pvlib.clearsky.lookup_linke_turbidity(mid, LAT[i], LON[i], interp_turbidity=False)
        np.testing.assert_allclose(lt[i], ref.to_numpy())


def test_add_clearsky_on_demo_cube(demo_cube, no_compute):
    cube = demo_cube.isel(time=slice(160, 170))
    with no_compute():
        lazy = add_clearsky(cube, lazy=True)
    assert lazy.sw_clearsky.chunks is not None
    out = add_clearsky(cube, config=ClearSkyConfig(step_minutes=60))
    assert out.sw_clearsky.attrs["units"] == "W m-2"
    assert (out.sw_clearsky > 250).all()  # mid June, northern mid latitudes
    assert (out.sw_clearsky <= out.sw_in_pot).all()
    # the measured incoming shortwave of clear days approaches but rarely exceeds it
    ratio = (out.sw_in / out.sw_clearsky).max("time")
    assert ((ratio > 0.7) & (ratio < 1.15)).all()
    with pytest.raises(RemoteSensingError, match="utc_offset"):
        add_clearsky(cube.drop_vars("utc_offset"))
    # the accessor is a plain delegation
    via_accessor = cube.fluxgrid.add_clearsky(config=ClearSkyConfig(step_minutes=60))
    np.testing.assert_array_equal(via_accessor.sw_clearsky.values, out.sw_clearsky.values)
    with pytest.raises(RemoteSensingError, match="NaN"):
        clearsky_daily([50.0], [10.0], [0.0], [np.nan], cube.time.values)
