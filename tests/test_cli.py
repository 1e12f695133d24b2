from __future__ import annotations

import subprocess
import sys

import pytest
import xarray as xr

import fluxgrid
from fluxgrid.cli import main
from fluxgrid.io.store import open_cube
from fluxgrid.testing import demo_hh_path


def test_ingest_zarr_to_daily(tmp_path, capsys):
    out = tmp_path / "cube.zarr"
    code = main(["ingest", str(demo_hh_path()), "--sites", "DE-Hai", "FR-Pue", "-o", str(out)])
    assert code == 0
    cube = open_cube(out)
    assert cube.site.values.tolist() == ["DE-Hai", "FR-Pue"]
    assert cube.nee.attrs["units"] == "gC m-2 d-1"
    assert cube.attrs["resolution"] == "DD"
    assert "wrote" in capsys.readouterr().out


def test_ingest_monthly_with_qc_and_existing_output(tmp_path, capsys):
    out = tmp_path / "mm.zarr"
    assert (
        main(["ingest", str(demo_hh_path()), "--to", "monthly", "--qc", "0.7", "-o", str(out)]) == 0
    )
    cube = open_cube(out)
    assert cube.attrs["resolution"] == "MM" and cube.sizes["time"] == 72
    assert "QC: dropped sites" in capsys.readouterr().out
    # refusing an existing output is an error message and exit status 2, not a traceback
    assert main(["ingest", str(demo_hh_path()), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_ingest_bad_site_is_a_clear_error(tmp_path, capsys):
    assert (
        main(["ingest", str(demo_hh_path()), "--sites", "XX-Bad", "-o", str(tmp_path / "x.zarr")])
        == 2
    )
    assert "XX-Bad" in capsys.readouterr().err
    assert not (tmp_path / "x.zarr").exists()


def test_import_is_light():
    heavy = "('torch', 'shap', 'distributed', 'sklearn')"
    code = f"import sys, fluxgrid; print(any(m in sys.modules for m in {heavy}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_accessor_delegates_to_public_functions(demo_cube, tmp_path):
    monthly = demo_cube.fluxgrid.to_monthly()
    xr.testing.assert_identical(monthly, fluxgrid.to_monthly(demo_cube))
    dbf = demo_cube.fluxgrid.select(igbp="DBF")
    assert sorted(dbf.site.values) == ["DE-Hai", "US-MMS", "US-UMB"]
    _, report = demo_cube.fluxgrid.qc_mask(threshold=0.7)
    assert "removed" in report
    demo_cube.fluxgrid.to_zarr(tmp_path / "c.zarr")
    assert (tmp_path / "c.zarr").exists()


def test_select_sites_criteria(demo_cube):
    from fluxgrid.errors import DataNotFoundError

    europe = fluxgrid.select_sites(demo_cube, bbox=(-10, 35, 30, 60))
    assert sorted(europe.site.values) == ["DE-Hai", "DE-Tha", "FR-Pue"]
    assert fluxgrid.select_sites(demo_cube, min_years=5).sizes["site"] == 5
    with pytest.raises(DataNotFoundError, match="classes in the cube"):
        fluxgrid.select_sites(demo_cube, igbp="CRO")
    with pytest.raises(DataNotFoundError, match="XX-Nope"):
        fluxgrid.select_sites(demo_cube, sites=["XX-Nope"])


# `fluxgrid demo` end to end (site cube ... NEE map, totals, PNGs): tests/test_demo.py
