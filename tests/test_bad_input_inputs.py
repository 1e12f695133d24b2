"""Hostile and careless inputs on the input side: each ends as a clear error or a loud warning.

Torn FLUXNET files, duplicated columns, a column map that declares the wrong resolution,
inputs without any valid value, and the errors that used to be raw tracebacks. The fixtures
are real records (the bundled demo subset) written in the real file formats.
"""

from __future__ import annotations

import json
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fluxgrid.cli import main
from fluxgrid.config import from_dict
from fluxgrid.config.experiment import ExperimentConfig
from fluxgrid.config.serialise import dump_config
from fluxgrid.errors import (
    ColumnError,
    ConfigError,
    DataNotFoundError,
    FileFormatError,
    FluxgridError,
    FluxgridWarning,
    TimestampError,
)
from fluxgrid.io.fluxnet import read_fluxnet, read_fluxnet_file
from fluxgrid.io.store import open_cube, write_cube
from fluxgrid.io.tables import read_table
from fluxgrid.prep.pipeline import check_not_empty, parse_period, select_period, site_cube
from fluxgrid.prep.qc import qc_mask
from fluxgrid.prep.resample import to_daily, to_monthly
from fluxgrid.runs import load_run
from fluxgrid.testing import (
    demo_fluxnet_frame,
    fluxnet_columns,
    load_demo_cube,
    write_fluxnet_csv,
)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture
def hh_file(tmp_path) -> Path:
    """Two real days of DE-Hai as a FLUXNET2015 HH file (96 records, lines 2..97)."""
    frame, res = demo_fluxnet_frame("DE-Hai", "2010-06-01", 2)
    return write_fluxnet_csv(tmp_path / "hh", res, "DE-Hai", frame)


@pytest.fixture
def mm_frame() -> pd.DataFrame:
    """Real monthly values of DE-Hai (2007-2012) with FLUXNET column names."""
    return fluxnet_columns(to_monthly(load_demo_cube()), "DE-Hai")


@pytest.fixture
def mm_file(tmp_path, mm_frame) -> Path:
    """The monthly values as a FLUXNET2015 MM file (72 months, lines 2..73)."""
    return write_fluxnet_csv(tmp_path / "mm", "MM", "DE-Hai", mm_frame, product="SUBSET")


def _tear(path: Path, keep_of_last: float = 0.5) -> str:
    """Cut the file inside its last line (as a truncated download does); the cut text."""
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    last = lines[-1]
    cut = "".join(lines[:-1]) + last[: int(len(last.rstrip("\n")) * keep_of_last)]
    path.write_text(cut)
    return cut


# --------------------------------------------------------------------------- 2. torn files
def test_torn_half_hourly_file_is_refused_naming_file_and_line(hh_file):
    _tear(hh_file)
    with pytest.raises(FileFormatError) as err:
        read_fluxnet(hh_file)
    message = str(err.value)
    assert hh_file.name in message and "line 97" in message
    assert "fields but the header has" in message and "drop_torn_last_line=True" in message


def test_torn_monthly_file_is_refused_and_can_be_dropped(mm_file, tmp_path):
    whole = read_fluxnet(mm_file)
    _tear(mm_file, 0.3)
    with pytest.raises(FileFormatError, match=r"last line \(line 73\)"):
        read_fluxnet(mm_file)
    with pytest.warns(FluxgridWarning, match=r"line 73 dropped"):
        cube = read_fluxnet(mm_file, drop_torn_last_line=True)
    # 71 complete months kept, identical to the untorn file; the torn month is gone
    assert cube.sizes["time"] == 71
    np.testing.assert_array_equal(cube.nee.values, whole.nee.isel(time=slice(0, 71)).values)
    assert "line 73 dropped" in cube.attrs["dropped_lines"]
    assert mm_file.name in cube.attrs["dropped_lines"]
    assert whole.attrs["dropped_lines"] == ""


def test_missing_final_newline_is_a_torn_line(mm_file):
    # the last value may be cut in the middle of a number with the field count intact
    mm_file.write_text(mm_file.read_text().rstrip("\n"))
    with pytest.raises(FileFormatError, match=r"line 73\) does not end with a newline"):
        read_fluxnet(mm_file)
    with pytest.warns(FluxgridWarning):
        frame, _ = read_fluxnet_file(mm_file, drop_torn_last_line=True)
    assert len(frame) == 71 and "line 73" in frame.attrs["dropped_lines"]


def test_torn_member_of_a_zip_archive_is_named(mm_file, tmp_path):
    cut = _tear(mm_file)
    archive = tmp_path / "FLX_DE-Hai_FLUXNET2015_SUBSET_2007-2012_1-4.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(mm_file.name, cut)
    with pytest.raises(FileFormatError, match=rf"{archive.name}!{mm_file.name}.*line 73"):
        read_fluxnet(archive)
    with pytest.warns(FluxgridWarning, match="line 73 dropped"):
        assert read_fluxnet(archive, drop_torn_last_line=True).sizes["time"] == 71


def test_complete_file_is_not_torn(mm_file):
    # a file ending in blank lines or CRLF line ends is complete
    mm_file.write_text(mm_file.read_text().replace("\n", "\r\n") + "\r\n")
    assert read_fluxnet(mm_file).sizes["time"] == 72


def test_ingest_refuses_a_torn_file_or_drops_the_line_and_says_so(mm_file, tmp_path, capsys):
    _tear(mm_file)
    out = tmp_path / "cube.zarr"
    assert main(["ingest", str(mm_file), "--to", "native", "-o", str(out)]) == 2
    assert "line 73" in capsys.readouterr().err and not out.exists()
    code = main(["ingest", str(mm_file), "--to", "native", "--drop-torn-last-line", "-o", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    assert "dropped (--drop-torn-last-line):" in captured.out and "line 73" in captured.out
    assert "fluxgrid ingest: warning:" in captured.err
    assert "line 73 dropped" in open_cube(out).attrs["dropped_lines"]


# --------------------------------------------------------------------------- 3. duplicated column
def test_duplicated_column_in_a_fluxnet_file_is_refused(mm_frame, tmp_path):
    path = write_fluxnet_csv(tmp_path, "MM", "DE-Hai", mm_frame, product="SUBSET")
    lines = path.read_text().splitlines()
    lines[0] += ",TA_F"
    lines[1:] = [f"{line},{line.split(',')[1]}" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ColumnError, match=rf"{path.name}: column 'TA_F'.*twice"):
        read_fluxnet(path)


def _year_month_table(folder: Path) -> Path:
    """Real monthly DE-Hai temperatures as a year / month table (a ChinaFLUX-style export)."""
    monthly = to_monthly(load_demo_cube()).sel(site="DE-Hai")
    time = pd.DatetimeIndex(monthly.time.values)
    path = folder / "monthly.csv"
    pd.DataFrame({"Year": time.year, "Month": time.month, "Ta": monthly.ta.values}).to_csv(
        path, index=False
    )
    return path


_MAP = {
    "site": "DE-Hai",
    "time": {"year": "Year", "month": "Month"},
    "columns": {"Ta": {"name": "ta", "units": "degC"}},
}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_duplicated_column_in_a_table_is_refused(tmp_path, suffix):
    frame = pd.read_csv(_year_month_table(tmp_path))
    frame.insert(3, "Ta ", frame["Ta"] + 1.0)  # 'Ta ' and 'Ta' are one name once stripped
    path = tmp_path / f"dup{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pytest.importorskip("openpyxl")
        frame.to_excel(path, index=False)
    with pytest.raises(ColumnError, match=rf"dup{suffix}: column 'Ta'.*twice"):
        read_table(path, {**_MAP, "resolution": "MM"})


# --------------------------------------------------------------------------- 4. resolution
def test_daily_resolution_on_a_year_month_table_is_refused(tmp_path):
    table = _year_month_table(tmp_path)
    cmap = tmp_path / "map.yaml"
    cmap.write_text(yaml.safe_dump({**_MAP, "resolution": "DD"}))
    with pytest.raises(TimestampError) as err:
        read_table(table, cmap)
    message = str(err.value)
    assert str(cmap) in message and "resolution: DD is declared" in message
    assert "monthly (MM)" in message and "set resolution: MM" in message
    assert read_table(table, {**_MAP, "resolution": "MM"}).sizes["time"] == 72
    assert read_table(table, _MAP).attrs["resolution"] == "MM"


def test_monthly_resolution_on_a_daily_table_is_refused(tmp_path):
    daily = load_demo_cube().sel(site="DE-Hai", time=slice("2010-01-01", "2010-03-31"))
    path = tmp_path / "daily.csv"
    pd.DataFrame(
        {"Date": pd.DatetimeIndex(daily.time.values).strftime("%Y-%m-%d"), "Ta": daily.ta}
    ).to_csv(path, index=False)
    cmap = {"site": "DE-Hai", "time": "Date", "columns": {"Ta": {"name": "ta", "units": "degC"}}}
    with pytest.raises(TimestampError, match=r"column map: resolution: MM .* daily \(DD\)"):
        read_table(path, {**cmap, "resolution": "MM"})
    assert read_table(path, {**cmap, "resolution": "DD"}).sizes["time"] == 90


# --------------------------------------------------------------------------- 7. nothing valid
def test_all_missing_file_is_refused_by_ingest(mm_frame, tmp_path, capsys):
    empty = mm_frame * np.nan  # every value -9999 in the file
    path = write_fluxnet_csv(tmp_path / "in", "MM", "DE-Hai", empty, product="SUBSET")
    assert "-9999" in path.read_text().splitlines()[1]
    with pytest.raises(DataNotFoundError, match=r"no variable has a valid value .*2007-01-01"):
        site_cube(path, to="native")
    out = tmp_path / "cube.zarr"
    assert main(["ingest", str(path), "--to", "native", "-o", str(out)]) == 2
    assert "no variable has a valid value" in capsys.readouterr().err
    assert not out.exists()


def test_variable_without_values_is_named_with_the_period(mm_frame, tmp_path):
    frame = mm_frame.assign(TA_F=np.nan)
    path = write_fluxnet_csv(tmp_path, "MM", "DE-Hai", frame, product="SUBSET")
    with pytest.warns(FluxgridWarning, match=r"variables \['ta'\] have no valid value") as rec:
        cube, _ = site_cube(path, to="native", period=("2008-01-01", "2008-12-31"))
    assert "2008-01-01..2008-12-01" in str(rec[0].message)
    assert cube.ta.isnull().all()


def test_site_without_values_is_named():
    cube = load_demo_cube().load()
    for name in cube.data_vars:
        cube[name].loc[{"site": "FR-Pue"}] = np.nan
    with pytest.warns(FluxgridWarning, match=r"sites \[FR-Pue\] have no valid value"):
        check_not_empty(cube, source="demo")


def test_nan_only_drivers_warn_in_training_data():
    from fluxgrid.prep.pipeline import load_data

    cube = load_demo_cube().load()
    cube["vpd"][:] = np.nan
    cfg = from_dict(ExperimentConfig, {"data": {"source": "demo", "qc_threshold": None}})
    with pytest.warns(FluxgridWarning, match=r"\['vpd'\] have no valid value"):
        load_data(cfg.data, cube=cube)


def test_lazy_ingest_checks_what_it_wrote(tmp_path, capsys):
    cube = load_demo_cube().load()
    cube["nee"][:] = np.nan
    store = tmp_path / "in.zarr"
    write_cube(cube, store)
    out = tmp_path / "out.zarr"
    assert main(["ingest", str(store), "--to", "native", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "fluxgrid ingest: warning:" in err and "['nee'] have no valid value" in err


# --------------------------------------------------------------------------- unclear errors
@pytest.mark.parametrize(
    ("period", "match"),
    [
        (("2012-13-01", "2012-12-31"), r"period: cannot read '2012-13-01' as a date"),
        (("2012-06-01", "2012-01-01"), r"period: start 2012-06-01 is after end 2012-01-01"),
        (("2012-01-01",), r"period: .*expected \[start, end\]"),
        ("2012", r"period: .*expected \[start, end\]"),
    ],
)
def test_bad_period_is_a_config_error(period, match):
    with pytest.raises(ConfigError, match=match):
        select_period(load_demo_cube(), period)


def test_period_parsing():
    start, end = parse_period(("2010", "2010-06"))
    assert (start, end) == (pd.Timestamp("2010-01-01"), pd.Timestamp("2010-06-01"))
    assert parse_period(None) is None
    with pytest.raises(ConfigError, match="--period: cannot read 'x'"):
        parse_period(("x", "2010"), "--period")


@pytest.mark.parametrize(
    ("period", "match"),
    [
        (["2012-13-01", "2012-12-31"], r"argument --period: '2012-13-01' is not a date"),
        (["2012-12-01", "2012-01-31"], r"argument --period: start 2012-12-01 is after end"),
    ],
)
def test_upscale_period_option_is_checked(tmp_path, capsys, period, match):
    with pytest.raises(SystemExit) as exit_:
        main(["upscale", "run", "drivers.zarr", "-o", str(tmp_path / "m.nc"), "--period", *period])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err


@pytest.mark.parametrize("src", [12345, [12345], 3.5, None])
def test_source_that_is_not_a_path_is_a_config_error(src):
    with pytest.raises(ConfigError, match=r"source: expected (a path|paths)"):
        read_fluxnet(src)


def test_table_path_that_is_not_a_path_is_a_config_error():
    with pytest.raises(ConfigError, match="source: expected a path"):
        read_table(12345, _MAP)


def test_to_daily_on_a_monthly_cube_names_the_resolution():
    monthly = to_monthly(load_demo_cube())
    with pytest.raises(TimestampError, match=r"needs a half-hourly or hourly cube.*monthly"):
        to_daily(monthly)
    monthly.attrs = {}  # without the attribute: the steps, in days
    with pytest.raises(TimestampError, match=r"time steps are 28 days or longer") as err:
        to_daily(monthly)
    assert "nanosecond" not in str(err.value) and "000000000" not in str(err.value)
    with pytest.raises(ConfigError, match=r"min_coverage=1.5: .*--min-coverage"):
        to_daily(load_demo_cube(), min_coverage=1.5)


def _run_dir(folder: Path, model: str) -> Path:
    folder.mkdir()
    cfg = from_dict(ExperimentConfig, {"model": {"name": model}})
    dump_config(cfg, folder / "config.yaml")
    (folder / "inputs.json").write_text(json.dumps({"drivers": ["ta"]}))
    return folder


@pytest.mark.parametrize(
    ("model", "kind", "file"), [("lstm", "torch", "model.pt"), ("rf", "sklearn", "model.pkl")]
)
def test_run_directory_without_checkpoint_names_the_expected_file(tmp_path, model, kind, file):
    run = _run_dir(tmp_path / "run", model)
    with pytest.raises(DataNotFoundError) as err:
        load_run(run)
    message = str(err.value)
    assert f"no {file}" in message and f"{kind} model '{model}'" in message
    other = "model.pkl" if file == "model.pt" else "model.pt"
    assert other not in message
    (run / other).write_bytes(b"not a checkpoint")
    with pytest.raises(DataNotFoundError, match=rf"no {file} .*it has {other}"):
        load_run(run)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, "a binary file"),
        (b"PK\x03\x04" + b"\x14\x00" * 1000, "a zip archive"),
    ],
    ids=["elf", "zip"],
)
def test_binary_file_error_quotes_a_short_escaped_excerpt(tmp_path, head, kind):
    path = tmp_path / "FLX_DE-Hai_FLUXNET2015_SUBSET_MM_2007-2012_1-4.csv"
    path.write_bytes(head)
    with pytest.raises(FileFormatError) as err:
        read_fluxnet(path)
    message = str(err.value)
    assert f"is {kind}" in message and "not a CSV text file" in message
    assert "first bytes b'" in message
    assert len(message) < 400 and message.isascii()
    table = tmp_path / "table.csv"
    table.write_bytes(head)
    with pytest.raises(FileFormatError, match=rf"is {kind}.*, not a text table"):
        read_table(table, _MAP)


def test_long_garbage_cells_are_cut_in_messages(mm_file):
    lines = mm_file.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "\u00e9garbage" * 200
    lines[5] = ",".join(cells)
    mm_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(ColumnError) as err:
        read_fluxnet(mm_file)
    message = str(err.value)
    assert "line 6" in message and "(1600 characters)" in message
    assert len(message) < 400 and "\\xe9garbage" in message


def test_qc_option_names_itself_and_the_range(tmp_path, capsys):
    for option, value in (("--qc", "5"), ("--min-valid-fraction", "-3"), ("--min-coverage", "x")):
        with pytest.raises(SystemExit) as exit_:
            main(["ingest", "demo", "-o", str(tmp_path / "c.zarr"), option, value])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument {option}:" in err and f"{option} takes a fraction between 0 and 1" in err
        assert "column 'threshold'" not in err
    with pytest.raises(ConfigError, match=r"QC threshold 5: .*--qc"):
        qc_mask(load_demo_cube(), threshold=5)


def test_zero_target_names_the_target_period_and_sites_not_the_split():
    pytest.importorskip("torch")
    from fluxgrid.errors import SplitError
    from fluxgrid.training.prepared import prepare_from_cube

    cube = load_demo_cube().sel(site=["US-MMS", "DE-Hai"]).load()
    cube["nee"][:] = np.nan
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "drivers": ["ta", "sw_in", "vpd"], "qc_threshold": None},
            "windows": {"lookback": 7},
        },
    )
    with pytest.raises(SplitError) as err:
        prepare_from_cube(cfg, cube)
    message = str(err.value)
    assert "target 'nee' has no valid value" in message
    assert "2007-01-01..2012-12-31" in message and "US-MMS, DE-Hai" in message
    assert "test_fraction" not in message


def test_no_window_anywhere_is_not_blamed_on_the_split():
    pytest.importorskip("torch")
    from fluxgrid.errors import WindowError
    from fluxgrid.training.prepared import prepare_from_cube

    cube = load_demo_cube().sel(site=["US-MMS", "DE-Hai"]).load()
    cube["ta"][:, 1::3] = np.nan  # never 7 complete days of drivers in a row
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "drivers": ["ta", "sw_in", "vpd"], "qc_threshold": None},
            "windows": {"lookback": 7},
        },
    )
    with pytest.raises(
        WindowError, match=r"no complete 7-step window ends on a valid 'nee'"
    ) as err:
        prepare_from_cube(cfg, cube)
    assert "split" not in str(err.value)


def test_every_refusal_here_is_a_fluxgrid_error():
    # the classes used above all derive from FluxgridError (the CLI prints them, exit 2)
    for cls in (ColumnError, ConfigError, DataNotFoundError, FileFormatError, TimestampError):
        assert issubclass(cls, FluxgridError)
    assert issubclass(FluxgridWarning, UserWarning)


# --------------------------------------------------------------------------- bfloat16 on CPU
def test_bfloat16_falls_back_to_float32_where_the_cpu_cannot(monkeypatch):
    torch = pytest.importorskip("torch")
    from fluxgrid.config.experiment import TrainConfig
    from fluxgrid.training import fit

    cfg = TrainConfig(amp=True, amp_dtype="bfloat16", device="cpu")
    monkeypatch.setattr(fit, "cpu_bfloat16_lstm_ok", lambda: False)
    with pytest.warns(FluxgridWarning, match="cannot run bfloat16 LSTM kernels.*float32"):
        assert fit.amp_settings(cfg, torch.device("cpu")) == (torch.float32, False)
    monkeypatch.setattr(fit, "cpu_bfloat16_lstm_ok", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit.amp_settings(cfg, torch.device("cpu")) == (torch.bfloat16, True)
    # CUDA and float32 training never ask the CPU probe
    monkeypatch.setattr(fit, "cpu_bfloat16_lstm_ok", lambda: pytest.fail("probed"))
    off = TrainConfig(amp=False, device="cpu")
    assert fit.amp_settings(off, torch.device("cpu"))[1] is False
    assert fit.amp_settings(cfg, torch.device("cuda")) == (torch.bfloat16, True)


def test_bfloat16_probe_runs_once_per_process():
    pytest.importorskip("torch")
    from fluxgrid.training.fit import cpu_bfloat16_lstm_ok

    first = cpu_bfloat16_lstm_ok()
    hits = cpu_bfloat16_lstm_ok.cache_info().hits
    assert cpu_bfloat16_lstm_ok() is first and isinstance(first, bool)
    assert cpu_bfloat16_lstm_ok.cache_info().hits == hits + 1


def test_bfloat16_training_on_a_cpu_without_kernels_is_float32(monkeypatch):
    pytest.importorskip("torch")
    from fluxgrid.training import fit, fit_model, prepare

    monkeypatch.setattr(fit, "cpu_bfloat16_lstm_ok", lambda: False)
    cfg = from_dict(
        ExperimentConfig,
        {
            "data": {"source": "demo", "sites": ["US-MMS", "DE-Hai"]},
            "windows": {"lookback": 10},
            "model": {"name": "lstm", "params": {"hidden": 4}},
            "train": {
                "epochs": 1,
                "batch_size": 64,
                "max_batches_per_epoch": 2,
                "device": "cpu",
                "amp": True,
                "amp_dtype": "bfloat16",
            },
        },
    )
    with pytest.warns(FluxgridWarning, match="training in float32 instead"):
        _, history = fit_model(prepare(cfg))
    assert history.attrs["amp"] == 0 and history.attrs["amp_dtype"] == "float32"
    assert np.isfinite(history.train_loss).all()
