"""Old import paths keep working for one release: every moved name warns and forwards."""

from __future__ import annotations

import importlib
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fluxgrid"


def _modules_with_moved_names() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "moved(" in path.read_text() and path.name != "_deprecation.py":
            parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
            found.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


OLD_MODULES = _modules_with_moved_names()


def test_the_old_modules_are_found():
    assert {"fluxgrid.train", "fluxgrid.registry", "fluxgrid.guided", "fluxgrid.io.grids"} <= set(
        OLD_MODULES
    )


@pytest.mark.parametrize("old", OLD_MODULES)
def test_every_moved_name_warns_and_forwards(old):
    pytest.importorskip("torch")
    module = importlib.import_module(old)
    table = module.__getattr__.moved
    assert table
    for name, new in table.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obj = getattr(module, name)
        assert obj is getattr(importlib.import_module(new), name)
        assert [w.category for w in caught] == [DeprecationWarning], name
        assert f"{new}.{name}" in str(caught[0].message)


def test_an_unknown_name_is_still_an_attribute_error():
    import fluxgrid.train

    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        fluxgrid.train.nope  # noqa: B018
