"""Plain-table reader: ChinaFLUX-style CSV/Excel tables with a column map, units, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fluxgrid.errors import (
    ColumnError,
    ConfigError,
    DataNotFoundError,
    FileFormatError,
    MetadataError,
    TimestampError,
    UnitError,
)
from fluxgrid.io.tables import ColumnMap, load_column_map, read_table
from fluxgrid.prep.resample import to_monthly
from fluxgrid.testing import load_demo_cube

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "guide" / "examples"
DAILY_MAP = EXAMPLES / "chinaflux_daily.yaml"
MONTHLY_MAP = EXAMPLES / "chinaflux_monthly.yaml"
UNITS_ROW = ["", "", "°C", "MJ m-2 d-1", "kPa", "mm", "m/s"] + ["g C m-2 d-1"] * 3 + ["%"]


@pytest.fixture(scope="module")
def demo():
    """Daily cube of the bundled real FLUXNET2015 subset."""
    return load_demo_cube().sel(time=slice("2010-01-01", "2010-03-31"))


def _chinaflux_daily(demo, sites) -> pd.DataFrame:
    """The demo values of ``sites`` as a ChinaFLUX-style export (its units, its layout)."""
    parts = []
    for site in sites:
        one = demo.sel(site=site)
        time = pd.DatetimeIndex(one.time.values)
        parts.append(
            pd.DataFrame(
                {
                    "Site": site,
                    "Date": [f"{t.year}/{t.month}/{t.day}" for t in time],
                    "Ta": one.ta.values,
                    "Rg": one.sw_in.values * 0.0864,  # W m-2 -> MJ m-2 d-1
                    "VPD": one.vpd.values / 10.0,  # hPa -> kPa
                    "Prec": -9999.0,  # the demo subset has no precipitation
                    "WS": -9999.0,
                    "NEE": one.nee.values,
                    "GPP": one.gpp_nt.values,
                    "RE": -9999.0,
                    "NEE_QC": one.nee_qc.values * 100.0,  # fraction -> percent
                }
            )
        )
    return pd.concat(parts, ignore_index=True).fillna(-9999.0)


def _write_with_units_row(frame: pd.DataFrame, path: Path) -> Path:
    units = pd.DataFrame([UNITS_ROW], columns=frame.columns)
    pd.concat([units, frame.astype(object)], ignore_index=True).to_csv(path, index=False)
    return path


def _check_against_demo(cube, demo, sites):
    for site in sites:
        got, want = cube.sel(site=site), demo.sel(site=site)
        np.testing.assert_allclose(got.ta.values, want.ta.values, rtol=1e-5)
        np.testing.assert_allclose(got.sw_in.values, want.sw_in.values, rtol=1e-5)
        np.testing.assert_allclose(got.vpd.values, want.vpd.values, rtol=1e-5)
        np.testing.assert_allclose(got.nee.values, want.nee.values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.gpp_nt.values, want.gpp_nt.values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got.nee_qc.values, want.nee_qc.values, rtol=1e-5)
        assert np.isnan(got.p.values).all()


def test_docs_example_maps_are_valid():
    daily = load_column_map(DAILY_MAP)
    assert daily.site_column == "Site" and daily.resolution == "DD" and daily.skip_rows == (1,)
    assert daily.columns["Rg"].name == "sw_in"
    monthly = load_column_map(MONTHLY_MAP)
    assert monthly.time.year == "Year" and monthly.resolution == "MM"


def test_chinaflux_daily_csv(tmp_path, demo):
    path = _write_with_units_row(_chinaflux_daily(demo, ["DE-Hai", "US-MMS"]), tmp_path / "d.csv")
    cube = read_table(path, DAILY_MAP)
    assert cube.site.values.tolist() == ["DE-Hai", "US-MMS"]
    assert cube.attrs["resolution"] == "DD" and cube.sizes["time"] == 90
    assert cube.attrs["time_zone"] == "local standard time"
    assert cube.attrs["time_label"] == "start"
    _check_against_demo(cube, demo, ["DE-Hai", "US-MMS"])
    assert cube.sw_in.attrs["units"] == "W m-2" and cube.sw_in.attrs["source_units"] == "MJ m-2 d-1"
    assert cube.vpd.attrs["units"] == "hPa" and cube.p.attrs["units"] == "mm d-1"
    assert cube.nee.attrs["units"] == "gC m-2 d-1" and cube.nee.attrs["source_column"] == "NEE"
    assert cube.nee_qc.attrs["units"] == "1"
    assert all(cube[v].dtype == np.float32 for v in cube.data_vars)
    assert float(cube.latitude.sel(site="DE-Hai")) == pytest.approx(51.0792)
    assert cube.igbp.sel(site="US-MMS").item() == "DBF"
    assert "ChinaFLUX" in cube.attrs["citation"]
    assert cube.attrs["unused_columns"] == ""


def test_chinaflux_daily_excel(tmp_path, demo):
    frame = _chinaflux_daily(demo, ["FR-Pue"])
    path = tmp_path / "export.xlsx"
    units = pd.DataFrame([UNITS_ROW], columns=frame.columns)
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["other sheet"]}).to_excel(writer, sheet_name="readme", index=False)
        pd.concat([units, frame.astype(object)], ignore_index=True).to_excel(
            writer, sheet_name="daily", index=False
        )
    cube = read_table(path, DAILY_MAP, sheet="daily")
    _check_against_demo(cube, demo, ["FR-Pue"])
    with pytest.raises(FileFormatError, match="no sheet 'dayly'") as err:
        read_table(path, DAILY_MAP, sheet="dayly")
    assert "readme" in str(err.value)


def test_monthly_totals_become_daily_rates(tmp_path):
    daily = load_demo_cube().sel(site="DE-Hai")
    totals = to_monthly(daily.expand_dims(site=["DE-Hai"]), totals=True).sel(site="DE-Hai")
    rates = to_monthly(daily.expand_dims(site=["DE-Hai"])).sel(site="DE-Hai")
    time = pd.DatetimeIndex(totals.time.values)
    table = pd.DataFrame(
        {
            "Year": time.year,
            "Month": time.month,
            "Ta": totals.ta.values,
            "Prec": 2.0 * time.days_in_month,  # 2 mm every day, as a monthly total
            "NEE": totals.nee.values,
            "GPP": totals.gpp_nt.values,
            "Remark": "ok",
        }
    )
    assert totals.nee.attrs["units"] == "gC m-2 mon-1"
    table.to_csv(tmp_path / "m.csv", index=False)
    cmap = yaml.safe_load(MONTHLY_MAP.read_text())
    cmap["site"] = "DE-Hai"
    cube = read_table(tmp_path / "m.csv", cmap)
    assert cube.attrs["resolution"] == "MM" and cube.sizes["time"] == 72
    np.testing.assert_allclose(cube.nee.values[0], rates.nee.values, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cube.gpp_nt.values[0], rates.gpp_nt.values, rtol=1e-5)
    np.testing.assert_allclose(cube.p.values[0], 2.0, rtol=1e-6)
    assert cube.p.attrs["units"] == "mm d-1" and cube.nee.attrs["units"] == "gC m-2 d-1"
    assert cube.attrs["unused_columns"] == "Remark"


def test_period_totals_depend_on_the_resolution(tmp_path):
    table = pd.DataFrame(
        {"Date": ["2010-01-15", "2010-02-15"], "Prec": [31.0, 56.0], "NEE": [3.1, -2.8]}
    )
    table.to_csv(tmp_path / "t.csv", index=False)
    cmap = {
        "site": "DE-Hai",
        "time": {"column": "Date"},
        "columns": {
            "Prec": {"name": "p", "units": "mm"},
            "NEE": {"name": "nee", "units": "gC m-2"},
        },
    }
    monthly = read_table(tmp_path / "t.csv", {**cmap, "resolution": "MM"})
    assert pd.Timestamp(monthly.time.values[0]) == pd.Timestamp("2010-01-01")
    np.testing.assert_allclose(monthly.p.values[0], [1.0, 2.0])  # mm mon-1 -> mm d-1
    np.testing.assert_allclose(monthly.nee.values[0], [0.1, -0.1], rtol=1e-6)
    daily = read_table(tmp_path / "t.csv", {**cmap, "resolution": "DD"})
    assert daily.sizes["time"] == 32  # 15 Jan .. 15 Feb, daily axis
    np.testing.assert_allclose(daily.p.sel(time="2010-01-15").values, [31.0])  # mm d-1


def test_resolution_is_detected(tmp_path):
    base = {"site": "DE-Hai", "columns": {"T": {"name": "ta", "units": "K"}}}
    pd.DataFrame(
        {"Date": ["2010-01-01", "2010-01-02", "2010-01-04"], "T": [273.15, 274.15, 275.15]}
    ).to_csv(tmp_path / "d.csv", index=False)
    cube = read_table(tmp_path / "d.csv", {**base, "time": "Date"})
    assert cube.attrs["resolution"] == "DD" and cube.sizes["time"] == 4
    np.testing.assert_allclose(cube.ta.values[0], [0.0, 1.0, np.nan, 2.0], atol=1e-5)
    pd.DataFrame({"Y": [2010, 2010, 2010], "M": [1, 2, 4], "T": [270.0, 271.0, 272.0]}).to_csv(
        tmp_path / "m.csv", index=False
    )
    cube = read_table(tmp_path / "m.csv", {**base, "time": {"year": "Y", "month": "M"}})
    assert cube.attrs["resolution"] == "MM" and cube.sizes["time"] == 4
    pd.DataFrame({"Date": ["2010-01-01", "2010-01-08"], "T": [270.0, 271.0]}).to_csv(
        tmp_path / "w.csv", index=False
    )
    with pytest.raises(TimestampError, match=r"7-day steps.*resolution: DD or MM"):
        read_table(tmp_path / "w.csv", {**base, "time": "Date"})
    pd.DataFrame({"Date": ["2010-01-01"], "T": [270.0]}).to_csv(tmp_path / "one.csv", index=False)
    with pytest.raises(TimestampError, match="single row"):
        read_table(tmp_path / "one.csv", {**base, "time": "Date"})


def test_year_and_day_of_year_columns(tmp_path):
    pd.DataFrame({"Y": [2012, 2012], "DOY": [59, 60], "T": [1.0, 2.0]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    cube = read_table(
        tmp_path / "t.csv",
        {
            "site": "DE-Hai",
            "time": {"year": "Y", "doy": "DOY"},
            "columns": {"T": {"name": "ta", "units": "degC"}},
        },
    )
    assert cube.time.values.astype("datetime64[D]").astype(str).tolist() == [
        "2012-02-28",
        "2012-02-29",
    ]


def test_site_coordinates_from_the_map(tmp_path):
    pd.DataFrame({"Date": ["2010-01-01", "2010-01-02"], "T": [1.0, 2.0]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    cmap = {"site": "CN-Yuc", "time": "Date", "columns": {"T": {"name": "ta", "units": "degC"}}}
    with pytest.raises(MetadataError, match=r"CN-Yuc.*sites:"):
        read_table(tmp_path / "t.csv", cmap)
    cmap["sites"] = {"CN-Yuc": {"latitude": 36.83, "longitude": 116.57, "igbp": "CRO"}}
    cube = read_table(tmp_path / "t.csv", cmap)
    assert float(cube.latitude[0]) == pytest.approx(36.83) and cube.igbp.values[0] == "CRO"
    # an explicit metadata table wins over the map
    meta = pd.DataFrame({"site_id": ["CN-Yuc"], "latitude": [36.9], "longitude": [116.6]})
    meta.to_csv(tmp_path / "meta.csv", index=False)
    cube = read_table(tmp_path / "t.csv", cmap, metadata=tmp_path / "meta.csv")
    assert float(cube.latitude[0]) == pytest.approx(36.9) and cube.igbp.values[0] == "CRO"


# --------------------------------------------------------------------------- bad input
@pytest.fixture()
def small(tmp_path) -> Path:
    frame = pd.DataFrame(
        {
            "Site": ["DE-Hai", "DE-Hai", "DE-Tha"],
            "Date": ["2010-01-01", "2010-01-02", "2010-01-01"],
            "Ta": [1.0, 2.0, 3.0],
            "NEE": [0.5, -9999, 1.5],
        }
    )
    frame.to_csv(tmp_path / "small.csv", index=False)
    return tmp_path / "small.csv"


def _map(**changes):
    cmap = {
        "site_column": "Site",
        "time": {"column": "Date", "format": "%Y-%m-%d"},
        "resolution": "DD",
        "columns": {
            "Ta": {"name": "ta", "units": "degC"},
            "NEE": {"name": "nee", "units": "gC m-2 d-1"},
        },
    }
    cmap.update(changes)
    return cmap


def test_small_table_reads(small):
    cube = read_table(small, _map())
    assert cube.site.values.tolist() == ["DE-Hai", "DE-Tha"]
    np.testing.assert_allclose(cube.nee.values, [[0.5, np.nan], [1.5, np.nan]])


@pytest.mark.parametrize(
    ("changes", "error", "pattern"),
    [
        ({"columns": {"Ta": {"name": "ta", "units": "furlongs"}}}, UnitError, "'Ta'.*furlongs"),
        ({"columns": {"Ta": {"name": "ta", "units": "W m-2"}}}, UnitError, "'Ta'.*different"),
        ({"columns": {"Ta": {"name": "ta"}}}, UnitError, "'Ta'.*no units"),
        ({"columns": {"NEE": {"name": "nee_qc", "units": "kg"}}}, UnitError, "'NEE'.*QC units"),
        ({"columns": {"Ta": {"name": "ta", "units": "mm"}}}, UnitError, "total per period"),
        (
            {"columns": {"Ta": {"name": "air_temp", "units": "degC"}}},
            ColumnError,
            "'Ta'.*canonical",
        ),
        ({"columns": {"Tair": {"name": "ta", "units": "degC"}}}, ColumnError, "'Tair'.*Site, Date"),
        (
            {
                "columns": {
                    "Ta": {"name": "ta", "units": "degC"},
                    "NEE": {"name": "ta", "units": "degC"},
                }
            },
            ColumnError,
            "one source column per canonical name",
        ),
        ({"site_column": "Station"}, ColumnError, "'Station'"),
        ({"time": {"column": "Date", "format": "%d.%m.%Y"}}, TimestampError, "'2010-01-01'"),
        ({"resolution": "HH"}, ConfigError, "resolution"),
        ({"timezone": "UTC"}, ConfigError, "unknown key 'timezone'"),
        ({"site": "DE-Hai"}, ConfigError, "exactly one of 'site'"),
        ({"time": {"year": "Date", "column": "Date"}}, ConfigError, "either 'column'"),
        ({"columns": {}}, ConfigError, "empty"),
    ],
)
def test_bad_maps_raise_clear_errors(small, changes, error, pattern):
    with pytest.raises(error, match=pattern):
        read_table(small, _map(**changes))


def test_bad_tables_raise_clear_errors(tmp_path):
    def write(text):
        path = tmp_path / "bad.csv"
        path.write_text(text)
        return path

    with pytest.raises(FileFormatError, match="empty"):
        read_table(write(""), _map())
    with pytest.raises(FileFormatError, match="no rows"):
        read_table(write("Site,Date,Ta,NEE\n"), _map())
    with pytest.raises(ColumnError, match=r"'Ta'.*'warm'.*data row 2"):
        read_table(
            write("Site,Date,Ta,NEE\nDE-Hai,2010-01-01,1,1\nDE-Hai,2010-01-02,warm,1\n"), _map()
        )
    with pytest.raises(TimestampError, match=r"'DE-Hai' has 2010-01-01 twice.*rows 1 and 2"):
        read_table(
            write("Site,Date,Ta,NEE\nDE-Hai,2010-01-01,1,1\nDE-Hai,2010-01-01,2,1\n"), _map()
        )
    with pytest.raises(ColumnError, match=r"'Site'.*empty cell"):
        read_table(write("Site,Date,Ta,NEE\n,2010-01-01,1,1\n"), _map())
    with pytest.raises(DataNotFoundError, match="no such table"):
        read_table(tmp_path / "absent.csv", _map())
    with pytest.raises(DataNotFoundError, match="column map not found"):
        read_table(tmp_path / "bad.csv", tmp_path / "absent.yaml")


def test_column_map_yaml_errors_name_the_file(tmp_path, small):
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump({**_map(), "colums": {}}))
    with pytest.raises(ConfigError, match=r"map\.yaml.*unknown key 'colums'"):
        read_table(small, path)
    path.write_text("columns: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_column_map(path)


def test_column_map_object_is_accepted(small):
    cmap = load_column_map(_map())
    assert isinstance(cmap, ColumnMap)
    assert read_table(small, cmap).sizes["site"] == 2


def test_ingest_table_with_column_map(tmp_path, demo, capsys):
    from fluxgrid.cli import main
    from fluxgrid.io.store import open_cube

    path = _write_with_units_row(_chinaflux_daily(demo, ["DE-Hai", "US-MMS"]), tmp_path / "d.csv")
    out = tmp_path / "cn.zarr"
    args = ["ingest", str(path), "--column-map", str(DAILY_MAP), "--sites", "US-MMS"]
    assert main([*args, "-o", str(out)]) == 0
    cube = open_cube(out)
    assert cube.site.values.tolist() == ["US-MMS"] and cube.attrs["resolution"] == "DD"
    np.testing.assert_allclose(cube.ta.values[0], demo.ta.sel(site="US-MMS").values, rtol=1e-5)
    assert main(["ingest", str(path), str(path), "--column-map", str(DAILY_MAP), "-o", "x"]) == 2
    assert "one table" in capsys.readouterr().err
