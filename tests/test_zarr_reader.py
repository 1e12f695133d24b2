from __future__ import annotations

import numpy as np
import pytest

from fluxgrid.errors import DataNotFoundError, FileFormatError, MetadataError
from fluxgrid.io.fluxnet_zarr import detect_utc_offsets, open_fluxnet_zarr
from fluxgrid.io.metadata import read_site_metadata
from fluxgrid.testing import demo_hh_path


def test_open_all_sites_is_lazy_and_decoded(hh_zarr, no_compute):
    with no_compute():
        ds = open_fluxnet_zarr(hh_zarr)
    assert ds.sizes["site"] == 204
    assert ds.nee.dtype == np.float32 and ds.nee.chunks is not None
    assert ds.attrs["time_zone"] == "UTC" and ds.attrs["time_label"] == "end"
    assert ds.nee.attrs["units"] == "umolCO2 m-2 s-1"
    assert (ds.igbp != "").sum() == 199  # 5 sites lack a class in the FLUXNET2015 list
    assert np.isfinite(ds.latitude).all() and (np.abs(ds.latitude) <= 90).all()


def test_values_match_packed_store(hh_zarr):
    import xarray as xr

    ds = open_fluxnet_zarr(hh_zarr, sites=["DE-Hai"], variables=["ta"])
    ref = xr.open_zarr(hh_zarr).ta.sel(site="DE-Hai").isel(time=slice(200000, 200500)).values
    got = ds.ta.sel(site="DE-Hai").isel(time=slice(200000, 200500)).values
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-5)
    assert "ta_qc" in ds and "nee" not in ds


def test_detect_offsets_from_first_record():
    time = np.arange("2000-01-01T00:00", "2000-01-04T00:00", 30, dtype="datetime64[m]")
    valid = np.zeros((2, time.size), bool)
    valid[0, 47:] = True  # first record ends 23:30 UTC = 00:30 local at +1
    valid[1, 12:] = True  # hourly site: first record ends 06:00 UTC = 01:00 local at -5
    probe = np.where(valid, 1.0, np.nan)
    probe[0] = np.where(valid[0], np.arange(time.size), np.nan)
    probe[1, 12:] = np.repeat(np.arange((time.size - 12) // 2), 2)
    offset, minutes = detect_utc_offsets(valid, time.astype("datetime64[ns]"), probe)
    assert offset.tolist() == [1.0, -5.0]
    assert minutes.tolist() == [30, 60]


def test_bundled_subset_carries_offsets():
    ds = open_fluxnet_zarr(demo_hh_path())
    assert dict(zip(ds.site.values, ds.utc_offset.values, strict=True)) == {
        "US-MMS": -5.0,
        "US-UMB": -5.0,
        "DE-Hai": 1.0,
        "DE-Tha": 1.0,
        "FR-Pue": 1.0,
    }


def test_bad_requests(hh_zarr, tmp_path):
    with pytest.raises(DataNotFoundError, match="XX-Nope"):
        open_fluxnet_zarr(hh_zarr, sites=["XX-Nope"])
    with pytest.raises(DataNotFoundError, match="co2"):
        open_fluxnet_zarr(hh_zarr, variables=["co2"])
    with pytest.raises(FileFormatError, match="not found"):
        open_fluxnet_zarr(tmp_path / "none.zarr")


def test_coordinates_from_store_fill_metadata_gaps(hh_zarr, tmp_path):
    meta = read_site_metadata().copy()
    meta.loc["DE-Hai", ["latitude", "longitude"]] = np.nan
    # coordinates stored in the Zarr fill in where the table has none
    ds = open_fluxnet_zarr(hh_zarr, sites=["DE-Hai"], metadata=meta)
    assert float(ds.latitude[0]) == pytest.approx(51.08, abs=0.01)


def test_metadata_bif_and_flat_tables(tmp_path):
    bif = tmp_path / "bif.csv"
    bif.write_text(
        "SITE_ID,GROUP_ID,VARIABLE_GROUP,VARIABLE,DATAVALUE\n"
        "XX-Abc,1,GRP_LOCATION,LOCATION_LAT,45.5\n"
        "XX-Abc,1,GRP_LOCATION,LOCATION_LONG,-90.25\n"
        "XX-Abc,2,GRP_IGBP,IGBP,ENF\n"
        "XX-Abc,3,GRP_UTC_OFFSET,UTC_OFFSET,-6\n"
    )
    meta = read_site_metadata(bif)
    assert meta.loc["XX-Abc", "igbp"] == "ENF"
    assert meta.loc["XX-Abc", "utc_offset"] == -6
    flat = tmp_path / "flat.csv"
    flat.write_text("site,lat,lon,igbp\nYY-Def,10,200,GRA\n")
    with pytest.raises(MetadataError, match="out of range"):
        read_site_metadata(flat)
    empty = tmp_path / "empty.csv"
    empty.write_text("site_id,latitude\n")
    with pytest.raises(FileFormatError, match="empty"):
        read_site_metadata(empty)


def test_site_coords_missing_raises():
    from fluxgrid.io.metadata import site_coords

    with pytest.raises(MetadataError, match="'ZZ-Zzz' in test has no coordinates"):
        site_coords(["ZZ-Zzz"], source="test")
