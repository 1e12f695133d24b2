"""MODIS LST (MOD11A1/MYD11A1 layout, offline) and the FluxnetEO reader on the real file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.errors import FileFormatError
from fluxgrid.rs.config import LSTConfig
from fluxgrid.rs.modis import add_lst, decode_qc, modis_observation_times, read_fluxneteo
from fluxgrid.rs.names import STATUS
from fluxgrid.rs.testing import lst_truth, write_modis_catalog

pytest.importorskip("odc.stac")
pytestmark = pytest.mark.filterwarnings(
    "ignore::PendingDeprecationWarning", "ignore::DeprecationWarning"
)

SITES = {"US-MMS": (39.3232, -86.4131), "DE-Hai": (51.0792, 10.453)}
DATES = pd.date_range("2010-05-02", periods=5)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    return write_modis_catalog(tmp_path_factory.mktemp("modis"), SITES, DATES)


def test_qc_bits():
    # mandatory QA 00 good; 01 other quality with LST error class 00/01/10/11; 10 cloud; 11 other
    qc = np.array([0b00000000, 0b00000001, 0b01000001, 0b10000001, 0b11000001, 0b10, 0b11])
    assert decode_qc(qc, max_lst_error_k=1.0).tolist() == [1, 1, 0, 0, 0, 0, 0]
    assert decode_qc(qc, max_lst_error_k=2.0).tolist() == [1, 1, 1, 0, 0, 0, 0]
    assert decode_qc(qc, max_lst_error_k=3.0).tolist() == [1, 1, 1, 1, 0, 0, 0]


def test_observation_times_are_local():
    # Aqua at night passes about 01:30 local solar time; at 86.4 W that is 07:15 UTC
    t = modis_observation_times(["2010-05-02"], -86.4131, "aqua", "night")[0]
    assert abs(pd.Timestamp(t) - pd.Timestamp("2010-05-02 07:15:39.144")) < pd.Timedelta("1ms")
    # Terra by day at 170 E: 10:30 local solar = 23:10 UTC of the product day
    t = modis_observation_times(["2010-05-02"], 170.0, "terra", "day")[0]
    assert pd.Timestamp(t).hour == 23


def test_add_lst_window_mean_and_statuses(catalog, demo_cube):
    cube = demo_cube.sel(
        site=["US-MMS", "DE-Hai", "FR-Pue"], time=slice("2010-05-01", "2010-05-10")
    )
    out = add_lst(cube, catalog)
    hours = {("terra", "day"): 10.5, ("terra", "night"): 22.5, ("aqua", "day"): 13.5}
    hours[("aqua", "night")] = 1.5
    for site in ("US-MMS", "DE-Hai"):
        lon = float(cube.longitude.sel(site=site))
        offset = float(cube.utc_offset.sel(site=site))
        for (platform, part), solar_hour in hours.items():
            # the product's UTC day D holds the overpass at solar_hour local solar time; it
            # belongs to the local standard-time date of that instant (US-MMS Terra night:
            # 22:30 solar = 04:15 UTC of D = 23:15 local of D - 1)
            utc = DATES + pd.to_timedelta((solar_hour - lon / 15) % 24, unit="h")
            local = (utc + pd.Timedelta(hours=offset)).normalize()
            name = f"lst_{platform}_{part}"
            got = out[name].sel(site=site).reindex(time=local)
            want = [lst_truth(d, platform, part) - 273.15 for d in DATES]
            np.testing.assert_allclose(got.values, want, atol=0.1)
            # the cloudy pixel and the one with LST error > 3 K are left out
            assert (out[f"{name}_n"].sel(site=site).reindex(time=local) == 7).all()
    assert out.lst_terra_day.attrs["units"] == "degC"
    hai = out.sel(site="DE-Hai")
    assert int(hai.lst_terra_day_status.sel(time="2010-05-01")) == STATUS["no_acquisition"]
    assert "no modis-11A1-061 items" in str(out.lst_terra_day_reason.sel(site="FR-Pue").values)
    strict = add_lst(cube.sel(site=["DE-Hai"]), catalog, config=LSTConfig(min_good_pixels=8))
    st = strict.lst_aqua_day_status.sel(site="DE-Hai", time="2010-05-03")
    assert int(st) == STATUS["below_min_share"]
    assert np.isnan(float(strict.lst_aqua_day.sel(site="DE-Hai", time="2010-05-03")))


def test_fluxneteo_reader_on_real_file(shared_data):
    path = shared_data / "fluxneteo" / "CG-Tch.modis.average_cutout.nc"
    ds = read_fluxneteo(path)
    raw = xr.open_dataset(path)
    assert ds.sizes["site"] == 1 and str(ds.site.values[0]) == "CG-Tch"
    assert ds.latitude.values[0] == pytest.approx(-4.289166667)
    assert ds.longitude.values[0] == pytest.approx(11.65641667)
    np.testing.assert_allclose(
        ds.lst_terra_day.values[0], raw.LST_TERRA_Day.values - 273.15, rtol=1e-6, atol=1e-4
    )
    np.testing.assert_allclose(
        ds.lst_aqua_night_vza40.values[0], raw.LST_AQUA_Night_VZA40.values - 273.15, atol=1e-4
    )
    np.testing.assert_array_equal(ds.lst_terra_day_n.values[0], raw.LST_N_TERRA_Day.values)
    np.testing.assert_array_equal(
        ds.lst_terra_day_qc.values[0], (raw.LST_gapfilltype_TERRA_Day.values == 0).astype(float)
    )
    assert ds.lst_terra_day.attrs["units"] == "degC"
    assert {"modis_ndvi", "modis_nirv", "modis_kndvi", "modis_nir"} <= set(ds.data_vars)
    # the reflectance products of this site are empty in the file: NaN, with qc NaN
    assert ds.modis_ndvi.isnull().all() and ds.modis_ndvi_qc.isnull().all()
    # tropical site: LST plausible
    assert 15 < float(ds.lst_terra_day.mean()) < 45
    raw.close()
    with pytest.raises(FileFormatError, match="no such file"):
        read_fluxneteo(path.with_name("XX-Xxx.modis.nc"))
