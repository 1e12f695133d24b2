"""FLUXNET-family CSV reader: the 206 real monthly files, format fixtures, bad input."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from fluxgrid.catalog.units import UMOL_CO2_TO_GC_PER_DAY
from fluxgrid.cli import main
from fluxgrid.errors import (
    ColumnError,
    DataNotFoundError,
    FileFormatError,
    MetadataError,
    TimestampError,
)
from fluxgrid.io.fluxnet import parse_fluxnet_filename, read_fluxnet, read_fluxnet_file
from fluxgrid.io.metadata import read_site_metadata
from fluxgrid.io.store import open_cube
from fluxgrid.prep.resample import to_daily
from fluxgrid.testing import (
    demo_fluxnet_frame,
    fluxnet_columns,
    load_demo_cube,
    load_demo_hh,
    write_fluxnet_csv,
)

# FLUXNET2015 sites with monthly files but no coordinates in the bundled site list
# sites of the MM files that the shared sites.csv lacks (the bundled list adds them)
NOT_IN_SITE_LIST = ["GL-NuF", "GL-ZaF", "GL-ZaH", "SJ-Adv", "SJ-Blv"]


# --------------------------------------------------------------------------- real MM files
@pytest.fixture(scope="module")
def mm_metadata() -> pd.DataFrame:
    """The bundled site list (it has coordinates for every site of the MM files)."""
    return read_site_metadata()


@pytest.fixture(scope="module")
def mm_cube(mm_dir, mm_metadata) -> xr.Dataset:
    return read_fluxnet(mm_dir, metadata=mm_metadata)


def _raw_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """The file as text cells, read with the csv module (independent of the reader)."""
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_all_206_monthly_files_load(mm_cube, mm_dir):
    files = sorted(mm_dir.glob("FLX_*_FLUXNET2015_SUBSET_MM_*.csv"))
    assert len(files) == 206
    assert mm_cube.sizes["site"] == 206
    assert sorted(mm_cube.site.values) == sorted(f.name.split("_")[1] for f in files)
    assert mm_cube.attrs["resolution"] == "MM"
    assert mm_cube.attrs["time_zone"] == "local standard time"
    assert mm_cube.attrs["time_label"] == "start"
    assert len(mm_cube.attrs["source_files"].splitlines()) == 206
    assert mm_cube.attrs["skipped_files"] == ""
    # a regular monthly axis (first day of each month)
    time = pd.DatetimeIndex(mm_cube.time.values)
    assert (time.day == 1).all()
    assert (time == pd.date_range(time[0], time[-1], freq="MS")).all()
    assert all(mm_cube[v].dtype == np.float32 for v in mm_cube.data_vars)
    assert not np.isnan(mm_cube.latitude.values).any()
    # units are the FLUXNET MM units = catalog units: mean daily rates
    assert mm_cube.nee.attrs["units"] == "gC m-2 d-1"
    assert mm_cube.gpp_nt.attrs["units"] == "gC m-2 d-1"
    assert mm_cube.p.attrs["units"] == "mm d-1"
    assert mm_cube.nee_qc.attrs["units"] == "1"
    assert mm_cube.ta.attrs["source_column"] == "TA_F"
    assert "gpp_nt_qc" not in mm_cube  # GPP/RECO share nee_qc
    unused = mm_cube.attrs["unused_columns"].split(", ")
    assert {"NEE_VUT_25", "RECO_SR", "LE_CORR", "TS_F_MDS_2"} <= set(unused)
    assert "TA_F" not in unused and "NEE_VUT_REF_QC" not in unused


def test_us_mms_values_against_raw_text(mm_cube, mm_dir):
    path = next(mm_dir.glob("FLX_US-MMS_*.csv"))
    header, rows = _raw_table(path)
    first = dict(zip(header, rows[0], strict=True))
    assert first["TIMESTAMP"] == "199901"
    one = mm_cube.sel(site="US-MMS", time="1999-01-01")
    assert float(one.ta) == pytest.approx(-2.073, abs=1e-6)  # issue's reference value
    assert float(one.ta) == pytest.approx(float(first["TA_F"]), abs=1e-6)
    assert float(one.nee_qc) == pytest.approx(float(first["NEE_VUT_REF_QC"]), abs=1e-6)
    assert float(one.nee) == pytest.approx(float(first["NEE_VUT_REF"]), abs=1e-6)
    assert float(one.p) == pytest.approx(float(first["P_F"]), abs=1e-6)
    assert first["USTAR"] == "-9999" and np.isnan(float(one.ustar))
    assert first["USTAR_QC"] == "-9999" and np.isnan(float(one.ustar_qc))
    # before the site's first month there is nothing
    assert np.isnan(mm_cube.ta.sel(site="US-MMS", time="1998-12-01"))


def test_random_cells_against_raw_text(mm_cube, mm_dir):
    rng = np.random.default_rng(7)
    files = sorted(mm_dir.glob("FLX_*.csv"))
    mapping = {
        "TA_F": "ta",
        "TA_F_QC": "ta_qc",
        "SW_IN_F": "sw_in",
        "VPD_F": "vpd",
        "P_F": "p",
        "NEE_VUT_REF": "nee",
        "NEE_VUT_REF_QC": "nee_qc",
        "GPP_NT_VUT_REF": "gpp_nt",
        "GPP_DT_VUT_REF": "gpp_dt",
        "RECO_NT_VUT_REF": "reco_nt",
        "LE_F_MDS": "le",
        "USTAR": "ustar",
    }
    checked = missing = 0
    for path in rng.choice(files, size=25, replace=False):
        header, rows = _raw_table(path)
        site = path.name.split("_")[1]
        for _ in range(4):
            row = rows[rng.integers(len(rows))]
            column = rng.choice(list(mapping))
            text = row[header.index(column)]
            stamp = pd.Timestamp(f"{row[0][:4]}-{row[0][4:]}-01")
            got = float(mm_cube[mapping[column]].sel(site=site, time=stamp))
            if float(text) == -9999:
                assert np.isnan(got), (path.name, column, row[0])
                missing += 1
            else:
                assert got == pytest.approx(float(text), rel=1e-6, abs=1e-6), (path.name, column)
            checked += 1
    assert checked == 100 and missing < checked


def test_mm_sites_without_coordinates_are_named(mm_dir, mm_metadata):
    lacking = mm_metadata.drop(index=NOT_IN_SITE_LIST)
    with pytest.raises(MetadataError, match="GL-NuF") as err:
        read_fluxnet(mm_dir, metadata=lacking)
    assert "metadata" in str(err.value)


def test_read_one_file_as_table(mm_dir):
    frame, res = read_fluxnet_file(next(mm_dir.glob("FLX_US-MMS_*.csv")), variables=["ta"])
    assert res == "MM" and list(frame.columns) == ["ta", "ta_qc"]
    assert frame.loc["1999-01-01", "ta"] == pytest.approx(-2.073, abs=1e-6)


def test_ingest_mm_folder_native(mm_dir, mm_metadata, tmp_path, capsys):
    meta_path = tmp_path / "sites.csv"
    mm_metadata.to_csv(meta_path)
    out = tmp_path / "mm.zarr"
    assert (
        main(
            ["ingest", str(mm_dir), "--to", "native", "--metadata", str(meta_path), "-o", str(out)]
        )
        == 0
    )
    cube = open_cube(out)
    assert cube.sizes["site"] == 206 and cube.attrs["resolution"] == "MM"
    assert float(cube.ta.sel(site="US-MMS", time="1999-01-01")) == pytest.approx(-2.073, abs=1e-6)


# --------------------------------------------------------------------------- file names
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "FLX_US-MMS_FLUXNET2015_SUBSET_MM_1999-2014_1-4.csv",
            ("FLUXNET2015", "US-MMS", "SUBSET", "MM", (1999, 2014), "1-4"),
        ),
        (
            "FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2000-2012_1-4.csv",
            ("FLUXNET2015", "DE-Hai", "FULLSET", "HH", (2000, 2012), "1-4"),
        ),
        (  # Warm Winter 2020 release
            "FLX_BE-Bra_FLUXNET2015_FULLSET_HR_1996-2020_beta-3.csv",
            ("FLUXNET2015", "BE-Bra", "FULLSET", "HR", (1996, 2020), "beta-3"),
        ),
        (
            "AMF_US-Ha1_FLUXNET_FULLSET_WW_1991-2020_3-5.csv",
            ("AmeriFlux", "US-Ha1", "FULLSET", "WW", (1991, 2020), "3-5"),
        ),
        ("ICOSETC_BE-Bra_FLUXNET_DD_L2.csv", ("ICOS", "BE-Bra", "", "DD", None, "L2")),
        (
            "ICOSETC_FI-Ken_FLUXNET_HH_INTERIM_L2.csv",
            ("ICOS", "FI-Ken", "", "HH", None, "INTERIM_L2"),
        ),
        (
            "FLX_US-Ha1_FLUXNET2015_SUBSET_1991-2012_1-4.zip",
            ("FLUXNET2015", "US-Ha1", "SUBSET", None, (1991, 2012), "1-4"),
        ),
        (
            "FLX_US-Ha1_FLUXNET2015_AUXMETEO_1991-2012_1-4.csv",
            ("FLUXNET2015", "US-Ha1", "AUXMETEO", None, (1991, 2012), "1-4"),
        ),
        (
            "FLX_US-Ha1_FLUXNET2015_ERAI_YY_1989-2014_1-4.csv",
            ("FLUXNET2015", "US-Ha1", "ERAI", "YY", (1989, 2014), "1-4"),
        ),
    ],
)
def test_parse_fluxnet_filename(name, expected):
    info = parse_fluxnet_filename(Path("some/folder") / name)
    assert (info.network, info.site, info.product, info.resolution, info.years, info.version) == (
        expected
    )
    assert info.name == name


@pytest.mark.parametrize("name", ["US-MMS_monthly.csv", "FLX_USMMS_FLUXNET2015_SUBSET_MM.csv"])
def test_unrecognised_name_is_refused(name):
    with pytest.raises(FileFormatError, match="FLX_") as err:
        parse_fluxnet_filename(name)
    assert name in str(err.value)


# --------------------------------------------------------------------------- format fixtures
@pytest.fixture(scope="module")
def hai_hh():
    """Three local days of real DE-Hai half-hours (bundled FLUXNET2015 subset)."""
    frame, res = demo_fluxnet_frame("DE-Hai", "2010-06-01", 3)
    assert res == "HH" and len(frame) == 3 * 48
    return frame


@pytest.fixture(scope="module")
def demo_daily():
    return load_demo_cube()


def test_hh_file_round_trip(tmp_path, hai_hh):
    path = write_fluxnet_csv(tmp_path, "HH", "DE-Hai", hai_hh)
    cube = read_fluxnet(path)
    assert cube.attrs["resolution"] == "HH"
    assert cube.sizes == {"site": 1, "time": 144}
    # time is TIMESTAMP_START, local standard time
    assert pd.Timestamp(cube.time.values[0]) == pd.Timestamp("2010-06-01 00:00")
    assert pd.Timestamp(cube.time.values[-1]) == pd.Timestamp("2010-06-03 23:30")
    assert int(cube.record_minutes[0]) == 30
    np.testing.assert_allclose(cube.ta.values[0], hai_hh["TA_F"].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(cube.nee_qc.values[0], hai_hh["NEE_VUT_REF_QC"].to_numpy())
    assert cube.nee.attrs["units"] == "umolCO2 m-2 s-1"
    assert cube.nee_qc.attrs["flag_values"] == "0 1 2 3"
    assert float(cube.latitude[0]) == pytest.approx(51.0792)
    assert cube.igbp.values[0] == "DBF"
    assert "Pastorello" in cube.attrs["citation"]


def test_hh_file_to_daily_equals_hand_computed_means(tmp_path, hai_hh):
    cube = read_fluxnet(write_fluxnet_csv(tmp_path, "HH", "DE-Hai", hai_hh))
    daily = to_daily(cube)
    assert daily.time.values.astype("datetime64[D]").astype(str).tolist() == [
        "2010-06-01",
        "2010-06-02",
        "2010-06-03",
    ]
    # by hand: the 48 rows whose TIMESTAMP_START falls on each calendar date
    by_day = lambda col: hai_hh[col].to_numpy(dtype="float64").reshape(3, 48)  # noqa: E731
    np.testing.assert_allclose(daily.ta.values[0], by_day("TA_F").mean(axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        daily.nee.values[0],
        by_day("NEE_VUT_REF").mean(axis=1) * UMOL_CO2_TO_GC_PER_DAY,
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        daily.nee_qc.values[0], (by_day("NEE_VUT_REF_QC") <= 1).sum(axis=1) / 48, rtol=1e-6
    )
    assert daily.nee.attrs["units"] == "gC m-2 d-1"


def test_hh_csv_and_zarr_paths_give_the_same_days(tmp_path, hai_hh):
    csv_daily = to_daily(read_fluxnet(write_fluxnet_csv(tmp_path, "HH", "DE-Hai", hai_hh)))
    zarr_daily = to_daily(load_demo_hh().sel(site=["DE-Hai"])).sel(time=csv_daily.time)
    for var in ("ta", "sw_in", "vpd", "nee", "gpp_nt", "nee_qc"):
        np.testing.assert_allclose(csv_daily[var].values, zarr_daily[var].values, rtol=1e-5)


def test_hr_file_gives_24_records_a_day(tmp_path):
    frame, res = demo_fluxnet_frame("US-MMS", "2010-07-01", 2)
    assert res == "HR" and len(frame) == 48
    path = write_fluxnet_csv(tmp_path, "HR", "US-MMS", frame)
    cube = read_fluxnet(path)
    assert cube.attrs["resolution"] == "HR" and int(cube.record_minutes[0]) == 60
    step = np.diff(cube.time.values)
    assert (step == np.timedelta64(1, "h")).all()
    daily = to_daily(cube)
    np.testing.assert_allclose(
        daily.ta.values[0],
        frame["TA_F"].to_numpy(dtype="float64").reshape(2, 24).mean(1),
        rtol=1e-5,
    )
    zarr_daily = to_daily(load_demo_hh().sel(site=["US-MMS"])).sel(time=daily.time)
    np.testing.assert_allclose(daily.nee.values, zarr_daily.nee.values, rtol=1e-5)


def test_dd_file_round_trip(tmp_path, demo_daily):
    frame = fluxnet_columns(demo_daily, "DE-Tha").loc["2009-01-01":"2009-03-31"]
    cube = read_fluxnet(write_fluxnet_csv(tmp_path, "DD", "DE-Tha", frame))
    assert cube.attrs["resolution"] == "DD" and cube.sizes["time"] == 90
    np.testing.assert_allclose(cube.nee.values[0], frame["NEE_VUT_REF"].to_numpy(), rtol=1e-6)
    assert cube.nee.attrs["units"] == "gC m-2 d-1"
    assert cube.nee_qc.attrs["valid_range"] == "0 1"


def _oneflux_weeks(frame: pd.DataFrame) -> pd.DataFrame:
    """Weekly means of daily rows: 7-day weeks from 1 January, the 52nd to 31 December."""
    t = pd.DatetimeIndex(frame.index)
    week = np.minimum((t.day_of_year - 1) // 7, 51)
    starts = pd.to_datetime(t.year.astype(str) + "-01-01") + pd.to_timedelta(week * 7, unit="D")
    return frame.groupby(starts).mean()


def test_ww_file_with_oneflux_weeks(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "FR-Pue").loc["2008-01-01":"2009-12-31"]
    weekly = _oneflux_weeks(daily)
    assert len(weekly) == 104
    path = write_fluxnet_csv(tmp_path, "WW", "FR-Pue", weekly)
    text = path.read_text().splitlines()
    assert text[0].startswith("TIMESTAMP_START,TIMESTAMP_END,")
    assert text[52].startswith("20081223,20081231,")  # leap year: 9-day last week
    assert text[104].startswith("20091224,20091231,")
    cube = read_fluxnet(path)
    assert cube.attrs["resolution"] == "WW" and cube.sizes["time"] == 104
    np.testing.assert_allclose(cube.ta.values[0], weekly["TA_F"].to_numpy(), rtol=1e-6)
    assert cube.nee.attrs["units"] == "gC m-2 d-1"


def test_mm_and_yy_files(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "US-UMB")
    monthly = daily.groupby(daily.index.to_period("M").to_timestamp()).mean()
    yearly = daily.groupby(daily.index.to_period("Y").to_timestamp()).mean()
    yearly["NEE_VUT_REF"] = daily["NEE_VUT_REF"].groupby(daily.index.year).sum().to_numpy()
    mm = read_fluxnet(write_fluxnet_csv(tmp_path / "mm", "MM", "US-UMB", monthly))
    yy = read_fluxnet(write_fluxnet_csv(tmp_path / "yy", "YY", "US-UMB", yearly))
    assert mm.sizes["time"] == 72 and yy.sizes["time"] == 6
    assert yy.nee.attrs["units"] == "gC m-2 y-1"
    assert pd.Timestamp(yy.time.values[0]) == pd.Timestamp("2007-01-01")
    np.testing.assert_allclose(yy.nee.values[0], yearly["NEE_VUT_REF"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(mm.gpp_nt.values[0], monthly["GPP_NT_VUT_REF"].to_numpy(), rtol=1e-6)


def test_sites_are_outer_joined_on_a_regular_axis(tmp_path, demo_daily):
    hai = fluxnet_columns(demo_daily, "DE-Hai").loc["2010-01-01":"2010-01-31"]
    tha = fluxnet_columns(demo_daily, "DE-Tha").loc["2010-02-10":"2010-03-31"]
    write_fluxnet_csv(tmp_path, "DD", "DE-Hai", hai)
    write_fluxnet_csv(tmp_path / "sub", "DD", "DE-Tha", tha)
    cube = read_fluxnet(tmp_path)
    assert cube.site.values.tolist() == ["DE-Hai", "DE-Tha"]
    assert cube.sizes["time"] == 90  # 1 Jan .. 31 Mar, daily
    assert np.isnan(cube.ta.sel(site="DE-Hai", time="2010-02-15"))
    assert np.isnan(cube.ta.sel(site="DE-Tha", time="2010-01-15"))
    assert float(cube.ta.sel(site="DE-Tha", time="2010-02-10")) == pytest.approx(
        float(tha["TA_F"].iloc[0])
    )
    one = read_fluxnet(tmp_path, sites=["DE-Tha"])
    assert one.site.values.tolist() == ["DE-Tha"] and one.sizes["time"] == 50


def test_two_files_of_one_site_are_joined(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "DE-Hai")
    write_fluxnet_csv(tmp_path, "DD", "DE-Hai", daily.loc["2008-01-01":"2008-12-31"], version="1-3")
    write_fluxnet_csv(tmp_path, "DD", "DE-Hai", daily.loc["2010-01-01":"2010-12-31"], version="1-4")
    cube = read_fluxnet(tmp_path)
    assert cube.sizes == {"site": 1, "time": 366 + 365 + 365}
    assert np.isnan(cube.ta.sel(site="DE-Hai", time="2009-06-01"))


def test_zip_as_distributed(tmp_path, hai_hh, demo_daily):
    staging = tmp_path / "staging"
    hh = write_fluxnet_csv(staging, "HH", "DE-Hai", hai_hh)
    daily = fluxnet_columns(demo_daily, "DE-Hai").loc["2010-01-01":"2010-12-31"]
    dd = write_fluxnet_csv(staging, "DD", "DE-Hai", daily)
    era = write_fluxnet_csv(staging, "DD", "DE-Hai", daily[["TA_F"]], product="ERAI")
    archive = tmp_path / "dl" / "FLX_DE-Hai_FLUXNET2015_FULLSET_2010-2010_1-4.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in (hh, dd, era):
            zf.write(f, f.name)
        zf.writestr("FLX_DE-Hai_FLUXNET2015_AUXMETEO_2010-2010_1-4.csv", "VARIABLE,ERA_SLOPE\n")
        zf.writestr("README.txt", "FLUXNET2015 data policy")
    # several resolutions in one archive: the error says how to pick one
    with pytest.raises(TimestampError, match=r"mixed resolutions.*resolution="):
        read_fluxnet(archive)
    before = sorted(p.name for p in archive.parent.iterdir())
    cube = read_fluxnet(archive, resolution="DD")
    assert sorted(p.name for p in archive.parent.iterdir()) == before  # nothing extracted
    assert cube.attrs["resolution"] == "DD" and cube.sizes["time"] == 365
    np.testing.assert_allclose(cube.ta.values[0], daily["TA_F"].to_numpy(), rtol=1e-6)
    skipped = cube.attrs["skipped_files"]
    for part in ("_HH_", "ERAI", "AUXMETEO", "README.txt"):
        assert part in skipped
    hh_cube = read_fluxnet([archive], resolution="HH")
    assert hh_cube.sizes["time"] == 144
    # the same file both loose and inside the archive is read once
    both = read_fluxnet([staging / dd.name, archive], resolution="DD")
    assert "read once" in both.attrs["skipped_files"]


def test_ameriflux_files_with_bif_metadata(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "US-UMB").loc["2011-01-01":"2011-01-31"]
    path = write_fluxnet_csv(tmp_path, "DD", "US-xBR", daily, network="AmeriFlux", product="SUBSET")
    assert path.name == "AMF_US-xBR_FLUXNET_SUBSET_DD_2011-2011_3-5.csv"
    with pytest.raises(MetadataError, match="US-xBR"):
        read_fluxnet(path)
    bif = tmp_path / "AMF_BIF.csv"
    bif.write_text(
        "SITE_ID,GROUP_ID,VARIABLE_GROUP,VARIABLE,DATAVALUE\n"
        "US-xBR,1,GRP_LOCATION,LOCATION_LAT,44.0639\n"
        "US-xBR,1,GRP_LOCATION,LOCATION_LONG,-71.2873\n"
        "US-xBR,1,GRP_LOCATION,LOCATION_ELEV,283\n"
        "US-xBR,2,GRP_IGBP,IGBP,DBF\n"
        "US-xBR,3,GRP_UTC_OFFSET,UTC_OFFSET,-5\n"
    )
    cube = read_fluxnet(path, metadata=bif)
    assert float(cube.latitude[0]) == pytest.approx(44.0639)
    assert float(cube.utc_offset[0]) == -5.0 and cube.igbp.values[0] == "DBF"
    assert "AmeriFlux" in cube.attrs["source"] and "AmeriFlux" in cube.attrs["citation"]


def test_icos_and_warm_winter_files(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "DE-Tha").loc["2012-01-01":"2012-01-10"]
    icos = write_fluxnet_csv(tmp_path / "icos", "DD", "BE-Bra", daily, network="ICOS")
    assert icos.name == "ICOSETC_BE-Bra_FLUXNET_DD_L2.csv"
    cube = read_fluxnet(icos)
    assert cube.site.values.tolist() == ["BE-Bra"] and "ICOS" in cube.attrs["citation"]
    frame, _ = demo_fluxnet_frame("DE-Tha", "2012-03-01", 1)
    ww = write_fluxnet_csv(tmp_path / "ww", "HH", "BE-Bra", frame, version="beta-3")
    assert ww.name == "FLX_BE-Bra_FLUXNET2015_FULLSET_HH_2012-2012_beta-3.csv"
    assert read_fluxnet(ww).sizes["time"] == 48


def test_missing_markers_alias_ranking_and_qc_pairing(tmp_path):
    index = pd.to_datetime(["2010-01-01", "2010-01-02", "2010-01-03"])
    frame = pd.DataFrame(
        {
            "TA_F_MDS": [1.0, 2.0, 3.0],
            "TA_F_MDS_QC": [0.5, 0.5, 0.5],
            "TA_ERA": [9.0, 9.0, 9.0],
            "TA_F": [1.1, -9999.0, 3.1],
            "TA_F_QC": [1.0, 0.25, -9999],
            "NEE_CUT_REF": [0.1, 0.2, 0.3],
            "NEE_VUT_REF": [-1.0, -9999.99, -2.0],
            "NEE_VUT_REF_QC": [0.9, 0.8, 0.7],
            "GPP_NT_VUT_REF": [2.0, 3.0, 4.0],
            "SITE_SPECIFIC_X": [5.0, 5.0, 5.0],
        },
        index=index,
    )
    cube = read_fluxnet(write_fluxnet_csv(tmp_path, "DD", "DE-Hai", frame))
    np.testing.assert_allclose(cube.ta.values[0], [1.1, np.nan, 3.1], rtol=1e-6)  # TA_F wins
    np.testing.assert_allclose(cube.ta_qc.values[0], [1.0, 0.25, np.nan])  # its own QC
    np.testing.assert_allclose(cube.nee.values[0], [-1.0, np.nan, -2.0])  # -9999.99 missing
    assert cube.ta.attrs["source_column"] == "TA_F"
    assert cube.nee.attrs["source_column"] == "NEE_VUT_REF"
    unused = cube.attrs["unused_columns"].split(", ")
    assert sorted(unused) == ["NEE_CUT_REF", "SITE_SPECIFIC_X", "TA_ERA", "TA_F_MDS", "TA_F_MDS_QC"]
    # only the MDS column: it is used, with its own QC
    only_mds = frame[["TA_F_MDS", "TA_F_MDS_QC"]]
    cube = read_fluxnet(write_fluxnet_csv(tmp_path / "mds", "DD", "DE-Hai", only_mds))
    np.testing.assert_allclose(cube.ta_qc.values[0], [0.5, 0.5, 0.5])
    # variables=: gpp brings nee's QC, nothing else
    cube = read_fluxnet(tmp_path / "mds", variables=["ta"])
    assert list(cube.data_vars) == ["ta", "ta_qc"]
    cube = read_fluxnet(tmp_path, variables=["gpp_nt"], sites=["DE-Hai"], resolution="DD")
    assert sorted(cube.data_vars) == ["gpp_nt", "nee_qc"]


def test_ingest_hh_folder_to_daily(tmp_path, hai_hh, capsys):
    folder = tmp_path / "hh"
    write_fluxnet_csv(folder, "HH", "DE-Hai", hai_hh)
    frame, _ = demo_fluxnet_frame("FR-Pue", "2010-06-01", 3)
    write_fluxnet_csv(folder, "HH", "FR-Pue", frame)
    out = tmp_path / "x.zarr"
    assert main(["ingest", str(folder), "--to", "daily", "-o", str(out)]) == 0
    cube = open_cube(out)
    assert cube.attrs["resolution"] == "DD" and cube.sizes == {"site": 2, "time": 3}
    assert cube.nee.attrs["units"] == "gC m-2 d-1"
    expected = to_daily(load_demo_hh().sel(site=["DE-Hai", "FR-Pue"])).sel(time=cube.time)
    np.testing.assert_allclose(cube.ta.values, expected.ta.values, rtol=1e-5)


# --------------------------------------------------------------------------- bad input
def _write_text(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


DD_NAME = "FLX_DE-Hai_FLUXNET2015_FULLSET_DD_2010-2010_1-4.csv"
HH_NAME = "FLX_DE-Hai_FLUXNET2015_FULLSET_HH_2010-2010_1-4.csv"


@pytest.mark.parametrize(
    ("name", "text", "error", "pattern"),
    [
        (DD_NAME, "", FileFormatError, "empty"),
        (DD_NAME, "TIMESTAMP,TA_F\n", FileFormatError, "no data rows"),
        (DD_NAME, "DATE,TA_F\n20100101,1.0\n", ColumnError, "TIMESTAMP"),
        (HH_NAME, "TIMESTAMP_START,TA_F\n201001010000,1.0\n", ColumnError, "TIMESTAMP"),
        (DD_NAME, "TIMESTAMP,TA_F\n2010010100,1.0\n", TimestampError, "2010010100"),
        (DD_NAME, "TIMESTAMP,TA_F\n20100101,1.0\n20100231,2.0\n", TimestampError, "20100231"),
        (DD_NAME, "TIMESTAMP,TA_F\n20100101,1.0\n2010-01-2,2.0\n", TimestampError, "line 3"),
        (DD_NAME, "TIMESTAMP,TA_F\n20100101,1.0\n20100101,2.0\n", TimestampError, "duplicated"),
        (
            DD_NAME,
            "TIMESTAMP,TA_F\n20100102,1.0\n20100101,2.0\n",
            TimestampError,
            "not increasing",
        ),
        (DD_NAME, "TIMESTAMP,TA_F\n20100101,1.0\n20100102,abc\n", ColumnError, "TA_F"),
        (DD_NAME, "TIMESTAMP,TA_F\n201001,1.0\n", FileFormatError, "says resolution DD"),
        (
            HH_NAME,
            "TIMESTAMP_START,TIMESTAMP_END,TA_F\n201001010000,201001010045,1.0\n",
            TimestampError,
            "30 \\(HH\\) or 60",
        ),
        (
            HH_NAME,
            "TIMESTAMP_START,TIMESTAMP_END,TA_F\n201001010015,201001010045,1.0\n",
            TimestampError,
            "grid",
        ),
        (
            "FLX_DE-Hai_FLUXNET2015_FULLSET_WW_2010-2010_1-4.csv",
            "TIMESTAMP_START,TIMESTAMP_END,TA_F\n20100102,20100108,1.0\n",
            TimestampError,
            "week start",
        ),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, name, text, error, pattern):
    path = _write_text(tmp_path, name, text)
    with pytest.raises(error, match=pattern) as err:
        read_fluxnet(path)
    assert name in str(err.value)


def test_mixed_resolutions_are_refused(tmp_path, hai_hh, demo_daily):
    hh = write_fluxnet_csv(tmp_path, "HH", "DE-Hai", hai_hh)
    dd = write_fluxnet_csv(tmp_path, "DD", "DE-Tha", fluxnet_columns(demo_daily, "DE-Tha"))
    with pytest.raises(TimestampError, match="mixed resolutions") as err:
        read_fluxnet([hh, dd])
    assert hh.name in str(err.value) and dd.name in str(err.value)


def test_half_hourly_and_hourly_sites_share_one_axis(tmp_path, hai_hh):
    """A FLUXNET2015 folder mixes HH and HR sites: they are read into one half-hourly cube."""
    hr, _ = demo_fluxnet_frame("US-MMS", "2010-06-01", 3)
    hh_path = write_fluxnet_csv(tmp_path, "HH", "DE-Hai", hai_hh)
    hr_path = write_fluxnet_csv(tmp_path, "HR", "US-MMS", hr)
    cube = read_fluxnet([hh_path, hr_path])
    assert cube.attrs["resolution"] == "HH"
    assert dict(zip(cube.site.values, cube.record_minutes.values, strict=True)) == {
        "DE-Hai": 30,
        "US-MMS": 60,
    }
    mms = cube.ta.sel(site="US-MMS").dropna("time").values
    np.testing.assert_array_equal(mms[0::2], mms[1::2])  # each hour on its two half-hours
    daily = to_daily(cube)
    alone = to_daily(read_fluxnet(hr_path))
    for var in ("ta", "nee", "nee_qc"):
        np.testing.assert_allclose(
            daily[var].sel(site="US-MMS", time=alone.time).values,
            alone[var].sel(site="US-MMS").values,
            rtol=1e-6,
        )


def test_overlapping_files_of_a_site_are_refused(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "DE-Hai")
    a = write_fluxnet_csv(tmp_path, "DD", "DE-Hai", daily.loc["2008"], product="FULLSET")
    b = write_fluxnet_csv(tmp_path, "DD", "DE-Hai", daily.loc["2008-06"], product="SUBSET")
    with pytest.raises(TimestampError, match="overlap") as err:
        read_fluxnet(tmp_path)
    assert a.name in str(err.value) and b.name in str(err.value)


def test_corrupt_zip_is_named(tmp_path):
    bad = tmp_path / "FLX_DE-Hai_FLUXNET2015_FULLSET_2010-2010_1-4.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    with pytest.raises(FileFormatError, match="zip") as err:
        read_fluxnet(bad)
    assert bad.name in str(err.value)


def test_zip_with_corrupt_member_is_named(tmp_path, demo_daily):
    daily = fluxnet_columns(demo_daily, "DE-Hai")
    dd = write_fluxnet_csv(tmp_path / "s", "DD", "DE-Hai", daily)
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(dd, dd.name)
    raw = bytearray(archive.read_bytes())
    start = raw.index(dd.name.encode()) + len(dd.name) + 200  # inside the compressed data
    raw[start : start + 50] = b"\x00" * 50
    archive.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match="archive member is corrupt"):
        read_fluxnet(archive)


def test_empty_or_foreign_sources(tmp_path):
    with pytest.raises(DataNotFoundError, match="no such"):
        read_fluxnet(tmp_path / "nothing_here")
    (tmp_path / "empty").mkdir()
    _write_text(tmp_path / "empty", "notes.csv", "a,b\n1,2\n")
    with pytest.raises(DataNotFoundError, match="no FLUXNET-family"):
        read_fluxnet(tmp_path / "empty")
    foreign = _write_text(tmp_path, "my_site_daily.csv", "TIMESTAMP,TA_F\n20100101,1\n")
    with pytest.raises(FileFormatError, match=r"my_site_daily.csv"):
        read_fluxnet(foreign)
    aux = _write_text(tmp_path, "FLX_DE-Hai_FLUXNET2015_AUXNEE_2010-2010_1-4.csv", "X\n1\n")
    with pytest.raises(FileFormatError, match="no time series"):
        read_fluxnet(aux)
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(FileFormatError, match="no FLUXNET-family CSV"):
        read_fluxnet(tmp_path / "other.zip")


def test_unknown_site_variable_and_resolution(tmp_path, demo_daily):
    write_fluxnet_csv(tmp_path, "DD", "DE-Hai", fluxnet_columns(demo_daily, "DE-Hai"))
    with pytest.raises(DataNotFoundError, match=r"XX-Bad.*DE-Hai"):
        read_fluxnet(tmp_path, sites=["XX-Bad"])
    with pytest.raises(DataNotFoundError, match="not a canonical"):
        read_fluxnet(tmp_path, variables=["temperature"])
    with pytest.raises(DataNotFoundError, match="swc"):
        read_fluxnet(tmp_path, variables=["swc"])
    with pytest.raises(ColumnError, match="resolution"):
        read_fluxnet(tmp_path, resolution="daily")
    with pytest.raises(DataNotFoundError, match="HH"):
        read_fluxnet(tmp_path, resolution="HH")


def test_errors_leave_nothing_behind_in_cli(tmp_path, capsys):
    _write_text(tmp_path / "src", DD_NAME, "TIMESTAMP,TA_F\n20100101,1.0\n20100101,2.0\n")
    out = tmp_path / "x.zarr"
    assert main(["ingest", str(tmp_path / "src"), "-o", str(out)]) == 2
    assert "duplicated" in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_ingest_zip_with_resolution(tmp_path, hai_hh, demo_daily, capsys):
    staging = tmp_path / "staging"
    hh = write_fluxnet_csv(staging, "HH", "DE-Hai", hai_hh)
    dd = write_fluxnet_csv(staging, "DD", "DE-Hai", fluxnet_columns(demo_daily, "DE-Hai"))
    archive = tmp_path / "FLX_DE-Hai_FLUXNET2015_FULLSET_2007-2012_1-4.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(hh, hh.name)
        zf.write(dd, dd.name)
    out = tmp_path / "hai.zarr"
    assert main(["ingest", str(archive), "-o", str(out)]) == 2
    assert "--resolution" in capsys.readouterr().err and not out.exists()
    assert main(["ingest", str(archive), "--resolution", "HH", "-o", str(out)]) == 0
    cube = open_cube(out)
    assert cube.attrs["resolution"] == "DD" and cube.sizes["time"] == 3


def test_quoted_header_crlf_and_byte_order_mark(tmp_path):
    path = _write_text(tmp_path, DD_NAME, "")
    path.write_bytes(
        '\ufeff"TIMESTAMP","TA_F","NEE_VUT_REF"\r\n20100101,1.5,-9999\r\n20100102,2.5,0.3\r\n'.encode()
    )
    cube = read_fluxnet(path)
    np.testing.assert_allclose(cube.ta.values[0], [1.5, 2.5])
    np.testing.assert_allclose(cube.nee.values[0], [np.nan, 0.3], rtol=1e-6)
