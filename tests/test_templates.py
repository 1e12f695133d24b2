"""The contributor templates in docs/templates run: each is imported and used as documented.

Each template runs in its own interpreter, so the names it registers do not leak into the
registries the other tests see.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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
