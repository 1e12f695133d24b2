"""The contributor templates in docs/templates run: each is imported and used as documented.

Each template runs in its own interpreter, so the names it registers do not leak into the
registries the other tests see.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

TEMPLATES = Path(__file__).resolve().parents[1] / "docs" / "templates"


def run_with_template(name: str, code: str) -> str:
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("template", {str(TEMPLATES / name)!r})
        template = importlib.util.module_from_spec(spec)
        sys.modules["template"] = template
        spec.loader.exec_module(template)
        """
    ) + textwrap.dedent(code)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_model_template_trains_on_a_real_site(tmp_path):
    pytest.importorskip("torch")
    out = run_with_template(
        "model_template.py",
        f"""
        import numpy as np
        from fluxgrid.config import ExperimentConfig, from_dict
        from fluxgrid.models import get_model
        from fluxgrid.runs import load_run
        from fluxgrid.training import train_experiment

        assert get_model("linear_window") is template.LinearWindow
        cfg = from_dict(ExperimentConfig, {{
            "data": {{"source": "demo", "sites": ["US-MMS"], "drivers": ["ta", "sw_in", "vpd"]}},
            "windows": {{"lookback": 14}},
            "model": {{"name": "linear_window", "params": {{"steps": 3}}}},
            "train": {{"epochs": 4, "lr": 0.01, "device": "cpu"}}}})
        run_dir = train_experiment(cfg, output={str(tmp_path / "run")!r})
        run = load_run(run_dir)
        history = run_dir / "history.nc"
        import xarray as xr
        loss = xr.open_dataset(history).train_loss.values
        print(run.model.name, loss[0] > loss[-1], np.isfinite(loss).all())
        """,
    )
    assert out.split() == ["linear_window", "True", "True"]


def test_reader_template_reads_real_data_in_its_format(tmp_path):
    from fluxgrid.data import load_demo_cube

    cube = load_demo_cube().sel(site=["US-MMS", "DE-Hai"], time=slice("2010", "2011"))
    paths = []
    for site in cube.site.values:
        one = cube.sel(site=site)
        f = xr.Dataset(
            {
                "TA": ("time", one.ta.values + 273.15, {"units": "K"}),
                "NEE": ("time", one.nee.values, {"units": "gC m-2 d-1"}),
            },
            coords={"time": one.time.values},
            attrs={"site_id": str(site)},
        )
        paths.append(tmp_path / f"{site}.nc")
        f.to_netcdf(paths[-1])
    out = run_with_template(
        "reader_template.py",
        f"""
        import numpy as np, xarray as xr
        cube = template.read_site_netcdf({[str(p) for p in paths]!r}, {{"TA": "ta", "NEE": "nee"}})
        cube.to_netcdf({str(tmp_path / "cube.nc")!r})
        try:
            template.read_site_netcdf({[str(paths[0])]!r}, {{"TA": "ta", "GPP": "gpp_nt"}})
        except Exception as err:
            print(type(err).__name__, err)
        """,
    )
    read = xr.open_dataset(tmp_path / "cube.nc")
    np.testing.assert_allclose(read.ta.values, cube.ta.values, atol=1e-4)
    np.testing.assert_allclose(read.nee.values, cube.nee.values)
    assert read.ta.attrs["units"] == "degC" and read.attrs["resolution"] == "DD"
    assert float(read.latitude.sel(site="US-MMS")) == float(cube.latitude.sel(site="US-MMS"))
    assert out.startswith("ColumnError") and "'GPP'" in out and "US-MMS.nc" in out


@pytest.mark.slow
def test_explainer_template_runs_through_the_command_line(tmp_path):
    pytest.importorskip("torch")
    out = run_with_template(
        "explainer_template.py",
        f"""
        from fluxgrid.cli import main
        from fluxgrid.config import ExperimentConfig, from_dict
        from fluxgrid.training import train_experiment

        cfg = from_dict(ExperimentConfig, {{
            "data": {{"source": "demo", "sites": ["US-MMS"], "drivers": ["ta", "sw_in", "vpd"]}},
            "windows": {{"lookback": 14}},
            "model": {{"name": "lstm", "params": {{"hidden": 8}}}},
            "train": {{"epochs": 1, "device": "cpu"}}}})
        run_dir = train_experiment(cfg, output={str(tmp_path / "run")!r})
        assert main(["explain", str(run_dir), "--method", "saliency"]) == 0
        """,
    )
    assert "gradient x input saliency (test windows)" in out and "sw_in" in out
    result = xr.open_dataset(tmp_path / "run" / "explain" / "saliency.nc")
    assert result.saliency.dims == ("feature",) and (result.saliency > 0).all()
    assert (tmp_path / "run" / "explain" / "saliency.png").stat().st_size > 1000


def test_command_line_lists_every_registered_explanation_method(capsys):
    pytest.importorskip("torch")
    from fluxgrid.cli import main
    from fluxgrid.explain import EXPLAINERS

    assert main(["explain", "no_run", "--method", "nope"]) == 2
    err = capsys.readouterr().err
    assert all(name in err for name in EXPLAINERS.names())
