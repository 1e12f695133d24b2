"""The documentation site builds with ``mkdocs build --strict`` (no broken link or reference)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_docs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for page in ("index.html", "guide/errors/index.html", "api/upscale/index.html"):
        assert (tmp_path / "site" / page).exists(), page
    notebook = tmp_path / "site" / "notebooks" / "03_carbon_sink_map" / "index.html"
    assert "<img" in notebook.read_text()  # stored figures are shown
