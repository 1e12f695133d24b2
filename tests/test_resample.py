"""Resampling against independent computations on the real FLUXNET2015 data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import MetadataError, TimestampError
from fluxgrid.io.fluxnet_zarr import open_fluxnet_zarr
from fluxgrid.prep.resample import daily_layout, to_daily, to_monthly

SITES = ["US-MMS", "DE-Hai", "AU-Tum", "US-Ha1"]  # HR at -5, HH at +1, HR at +11, HR at -5


@pytest.fixture(scope="module")
def hh(hh_zarr):
    return open_fluxnet_zarr(hh_zarr, sites=SITES)


@pytest.fixture(scope="module")
def daily(hh):
    return to_daily(hh).compute()


def _reference_day(hh, site, day):
    """Independent: the 48 half-hour stamps of a local day, chosen by UTC offset arithmetic."""
    offset = float(hh.utc_offset.sel(site=site))
    minutes = int(hh.record_minutes.sel(site=site))
    # a stamp (UTC, end of record) belongs to the local day of its record's start
    first = pd.Timestamp(day) - pd.Timedelta(hours=offset) + pd.Timedelta(minutes=minutes)
    stamps = pd.date_range(first, periods=48, freq="30min")
    return hh.sel(site=site, time=stamps).compute()


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("day", ["2005-06-01", "2009-12-31", "2012-02-29"])
def test_daily_mean_equals_mean_of_48_local_half_hours(hh, daily, site, day):
    ref = _reference_day(hh, site, day)
    got = daily.sel(site=site, time=day)
    for var in ("ta", "sw_in", "vpd"):
        expected = np.nanmean(ref[var].values.astype("float64"))
        np.testing.assert_allclose(float(got[var]), expected, rtol=1e-5, atol=1e-5)
    for var in ("nee", "gpp_nt", "gpp_dt"):
        expected = np.nanmean(ref[var].values.astype("float64")) * 12.011e-6 * 86400
        np.testing.assert_allclose(float(got[var]), expected, rtol=1e-5, atol=1e-5)
    # QC fraction: share of the 48 stamps that are measured or good gap-fill
    expected_qc = np.mean(ref["nee_qc"].values <= 1)
    np.testing.assert_allclose(float(got["nee_qc"]), expected_qc, atol=1e-6)


def test_daily_units_and_attrs(daily):
    assert daily.nee.attrs["units"] == "gC m-2 d-1"
    assert daily.ta.attrs["units"] == "degC"
    assert daily.nee_qc.attrs["units"] == "1"
    assert daily.attrs["resolution"] == "DD"
    assert "time: mean" in daily.nee.attrs["cell_methods"]
    assert daily.nee.dtype == np.float32
    assert set(daily.coords) >= {"latitude", "longitude", "igbp", "utc_offset"}


def test_hourly_sites_detected_and_offsets(hh):
    offsets = dict(zip(hh.site.values, hh.utc_offset.values, strict=True))
    minutes = dict(zip(hh.site.values, hh.record_minutes.values, strict=True))
    assert offsets["US-MMS"] == -5 and minutes["US-MMS"] == 60
    assert offsets["DE-Hai"] == 1 and minutes["DE-Hai"] == 30
    assert minutes["US-Ha1"] == 60


def _read_mm_csv(mm_dir, site):
    path = next(mm_dir.glob(f"FLX_{site}_FLUXNET2015_SUBSET_MM_*.csv"))
    frame = pd.read_csv(path, na_values=[-9999])
    frame.index = pd.to_datetime(frame.TIMESTAMP.astype(str), format="%Y%m")
    return frame


@pytest.mark.parametrize("site", ["US-MMS", "DE-Hai", "AU-Tum"])
def test_monthly_from_daily_matches_fluxnet_monthly_csv(daily, mm_dir, site):
    """Same FLUXNET2015 release: monthly means of our daily values against the MM file.

    Drivers: the Zarr packs values as uint16 (steps of ~0.0015 degC), so monthly means agree
    to 0.01 degC / hPa and 0.5 W m-2. Carbon fluxes: ONEFlux picks the reference u*-threshold
    version (``*_VUT_REF``) separately at each resolution, so MM ``NEE_VUT_REF`` is not always
    the mean of HH ``NEE_VUT_REF``; they agree closely (r > 0.99, median |diff| < 0.1
    gC m-2 d-1) and exactly where the same version was chosen.
    """
    monthly = to_monthly(daily.sel(site=[site])).sel(site=site).to_dataframe()
    csv = _read_mm_csv(mm_dir, site)
    both = monthly.join(csv, how="inner")
    assert len(both) > 100
    for ours, theirs, tol in [
        ("ta", "TA_F", 0.01),
        ("sw_in", "SW_IN_F", 0.5),
        ("vpd", "VPD_F", 0.01),
    ]:
        diff = (both[ours] - both[theirs]).abs().dropna()
        assert len(diff) > 100
        assert diff.max() < tol, (ours, diff.idxmax(), diff.max())
    for ours, theirs in [
        ("nee", "NEE_VUT_REF"),
        ("gpp_nt", "GPP_NT_VUT_REF"),
        ("gpp_dt", "GPP_DT_VUT_REF"),
    ]:
        pair = both[[ours, theirs]].dropna()
        assert len(pair) > 100
        assert np.corrcoef(pair[ours], pair[theirs])[0, 1] > 0.99, ours
        assert (pair[ours] - pair[theirs]).abs().median() < 0.1, ours


def test_spot_value_us_mms_1999_01(daily):
    # raw MM file: TA_F = -2.073 degC, NEE_VUT_REF = 0.937418 gC m-2 d-1
    month = to_monthly(daily.sel(site=["US-MMS"])).sel(site="US-MMS", time="1999-01-01")
    assert float(month.ta) == pytest.approx(-2.073, abs=5e-4)
    assert float(month.nee) == pytest.approx(0.937418, abs=5e-4)


def test_monthly_totals(daily):
    monthly = to_monthly(daily.sel(site=["DE-Hai"]), totals=True)
    rate = to_monthly(daily.sel(site=["DE-Hai"]))
    jan = monthly.nee.sel(time="2005-01-01")
    np.testing.assert_allclose(jan, rate.nee.sel(time="2005-01-01") * 31, rtol=1e-6)
    assert monthly.nee.attrs["units"] == "gC m-2 mon-1"
    assert monthly.ta.attrs["units"] == "degC"  # states stay means


def test_to_daily_is_lazy(hh, no_compute):
    with no_compute():
        out = to_daily(hh)
        out = to_monthly(out)
    assert out.nee.chunks is not None


def test_min_coverage_masks_partial_days():
    time = pd.date_range("2001-01-01 00:00", periods=96, freq="30min")
    values = np.arange(96, dtype="float32")[None, :].copy()
    values[0, 60:] = np.nan  # second day only 12 of 48 present
    ds = xr.Dataset(
        {"ta": (("site", "time"), values, {"units": "degC"})},
        coords={"site": ["XX-Xxx"], "time": time},
        attrs={"time_zone": "local standard time", "time_label": "start"},
    )
    out = to_daily(ds, min_coverage=0.5)
    assert float(out.ta[0, 0]) == pytest.approx(np.mean(np.arange(48)))
    assert np.isnan(out.ta[0, 1])
    out = to_daily(ds, min_coverage=0.2)
    assert float(out.ta[0, 1]) == pytest.approx(np.mean(np.arange(48, 60)))


def test_precipitation_is_summed_and_hourly_repeats_not_double_counted():
    time = pd.date_range("2001-01-01 00:00", periods=48, freq="30min")
    hourly = np.repeat(np.arange(24, dtype="float32"), 2)[None, :]  # hourly values repeated
    ds = xr.Dataset(
        {"p": (("site", "time"), hourly, {"units": "mm"})},
        coords={"site": ["XX-Xxx"], "time": time, "record_minutes": ("site", [60])},
        attrs={"time_zone": "local standard time", "time_label": "start"},
    )
    out = to_daily(ds)
    assert float(out.p[0, 0]) == pytest.approx(np.arange(24).sum())
    assert out.p.attrs["units"] == "mm d-1"


def test_irregular_time_axis_is_refused():
    time = pd.DatetimeIndex(["2001-01-01 00:00", "2001-01-01 00:30", "2001-01-01 01:30"])
    ds = xr.Dataset(
        {"ta": (("site", "time"), np.zeros((1, 3), "float32"))},
        coords={"site": ["XX-Xxx"], "time": time},
    )
    with pytest.raises(TimestampError, match="not regular"):
        to_daily(ds)


def test_utc_cube_without_offset_is_refused():
    time = pd.date_range("2001-01-01", periods=96, freq="30min")
    ds = xr.Dataset(
        {"ta": (("site", "time"), np.zeros((1, 96), "float32"))},
        coords={"site": ["XX-Xxx"], "time": time},
        attrs={"time_zone": "UTC", "time_label": "end"},
    )
    with pytest.raises(MetadataError, match="utc_offset"):
        daily_layout(ds)
