"""The example notebooks in docs/notebooks run top to bottom, and are stored executed.

Each notebook is executed with nbclient in a temporary folder (the files it writes stay
there), on the bundled data only. ``python docs/notebooks/_build_notebooks.py`` writes and
executes them again after a change.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "docs" / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_there_are_the_four_notebooks():
    names = [p.name for p in NOTEBOOKS]
    assert len(names) >= 4, names
    for topic in ("site_cube", "train_and_compare", "carbon_sink_map", "remote_sensing"):
        assert any(topic in n for n in names), (topic, names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "store the notebook executed"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert figures, "the stored notebook shows no figure"
    text = "".join(str(o.get("text", "")) + str(o.get("data", {})) for o in outputs)
    assert "/work/" not in text and "/tmp/" not in text, "machine-specific path in the outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("FLUXGRID_PROGRESS", "0")  # the kernel inherits it
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    start = time.perf_counter()
    # raises CellExecutionError (with the cell and its traceback) on the first failing cell
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.1f} s")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert any("image/png" in o.get("data", {}) for c in code for o in c.outputs)
