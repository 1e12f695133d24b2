"""The quickstart's Python code blocks run as written, on the bundled data.

The blocks of ``docs/quickstart.md`` are run one after the other in one fresh Python
process, in a temporary folder holding the repository's ``recipes/`` (the snippet reads
``recipes/train.yaml`` from the repository root, as the page says).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "docs" / "quickstart.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def python_blocks(path: Path) -> list[str]:
    return FENCE.findall(path.read_text())


def test_quickstart_has_python_blocks():
    blocks = python_blocks(QUICKSTART)
    assert blocks, "docs/quickstart.md has no ```python block"
    for block in blocks:
        compile(block, str(QUICKSTART), "exec")  # syntax


@pytest.mark.slow
def test_quickstart_python_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    script = tmp_path / "quickstart_snippets.py"
    script.write_text("\n\n".join(python_blocks(QUICKSTART)))
    env = {**os.environ, "FLUXGRID_PROGRESS": "0", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert (tmp_path / "site_cube.zarr").is_dir()
    assert (tmp_path / "runs" / "lstm" / "metrics.csv").is_file()
    assert (tmp_path / "nee_map.nc").stat().st_size > 0
