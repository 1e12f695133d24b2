"""Packaging: every module fluxgrid imports is declared; extras, version and py.typed."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

import fluxgrid
from fluxgrid._lazy import EXTRAS, install_hint, lazy_import
from fluxgrid.errors import OptionalDependencyError

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
FEATURE_EXTRAS = ("explain", "search", "excel", "raster", "rs", "cloud", "notebook")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, list[str]]:
    """Distribution name and extras of a requirement string such as ``dask[array]>=2024``."""
    match = re.match(r"\s*([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?", spec)
    assert match, spec
    extras = [e.strip() for e in (match.group(2) or "").split(",") if e.strip()]
    return _canonical(match.group(1)), extras


def _extra_requirements(dist: str, extra: str) -> set[str]:
    """Distributions that ``dist[extra]`` brings (from the installed metadata)."""
    out = set()
    for spec in metadata.requires(dist) or []:
        if re.search(rf"extra\s*==\s*['\"]{re.escape(extra)}['\"]", spec):
            out.add(_requirement(spec)[0])
    return out


def _declared(specs: list[str]) -> set[str]:
    names = set()
    for spec in specs:
        name, extras = _requirement(spec)
        if name == "fluxgrid":
            for extra in extras:
                names |= _declared(PROJECT["optional-dependencies"][extra])
            continue
        names.add(name)
        for extra in extras:
            names |= _extra_requirements(name, extra)
    return names


def _imported_modules() -> dict[str, set[str]]:
    """Top-level modules imported anywhere in fluxgrid (incl. ``lazy_import("x")``) -> files."""
    found: dict[str, set[str]] = {}
    for path in (ROOT / "fluxgrid").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "lazy_import"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names = [node.args[0].value]
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return {
        m: files
        for m, files in found.items()
        if m not in sys.stdlib_module_names and m not in ("fluxgrid", "__future__")
    }


def test_every_imported_module_is_declared():
    core = _declared(PROJECT["dependencies"])
    everything = core | _declared(["fluxgrid[all]"])
    owners = metadata.packages_distributions()
    undeclared = {}
    for module, files in sorted(_imported_modules().items()):
        dists = {_canonical(d) for d in owners.get(module, [])}
        assert dists, f"module {module!r} (imported by {sorted(files)}) is not installed"
        if not dists & everything:
            undeclared[module] = sorted(files)
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_lazy_hints_name_the_extra_that_declares_the_module():
    owners = metadata.packages_distributions()
    extras = PROJECT["optional-dependencies"]
    core = _declared(PROJECT["dependencies"])
    for module, extra in EXTRAS.items():
        dists = {_canonical(d) for d in owners.get(module.split(".")[0], [])}
        if extra:
            assert dists & _declared(extras[extra]), (module, extra)
            assert not dists & core, f"{module} is in the core, yet hinted as fluxgrid[{extra}]"
        else:
            assert dists & core, module
    assert install_hint("pvlib") == "pip install 'fluxgrid[rs]'"
    with pytest.raises(OptionalDependencyError, match=r"fluxgrid\[explain\]"):
        EXTRAS["fluxgrid_missing_demo"] = "explain"
        try:
            lazy_import("fluxgrid_missing_demo")
        finally:
            del EXTRAS["fluxgrid_missing_demo"]


def test_heavy_single_feature_packages_are_extras():
    core = _declared(PROJECT["dependencies"])
    for name in ("shap", "optuna", "pystac-client", "rioxarray", "odc-stac", "spyndex", "pvlib"):
        assert name not in core, name
    assert "openpyxl" not in core
    extras = PROJECT["optional-dependencies"]
    assert set(FEATURE_EXTRAS) <= set(extras)
    assert _declared(extras["all"]) == set().union(*(_declared(extras[e]) for e in FEATURE_EXTRAS))
    # the README's install command (extra dev) brings every feature the tests use
    assert _declared(extras["all"]) <= _declared(extras["dev"])


def test_version_in_one_place_and_typed():
    assert "version" not in PROJECT and "version" in PROJECT["dynamic"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "fluxgrid._version.__version__"
    assert metadata.version("fluxgrid") == fluxgrid.__version__
    assert (ROOT / "fluxgrid" / "py.typed").exists()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["fluxgrid"]
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## [{fluxgrid.__version__}]" in changelog and "## [Unreleased]" in changelog


def test_min_versions_match_the_lower_bounds():
    """``.ci/min-versions.txt`` pins every lower bound of pyproject.toml, no more, no less."""
    bounds = {}
    for spec in PROJECT["dependencies"] + [
        s for e in FEATURE_EXTRAS for s in PROJECT["optional-dependencies"][e]
    ]:
        name, _ = _requirement(spec)
        found = re.search(r">=\s*([0-9][^,;\s]*)", spec)
        if name != "fluxgrid" and found:
            bounds[name] = found.group(1)
    pins = {}
    for line in (ROOT / ".ci" / "min-versions.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_canonical(name)] = version.strip()
    assert pins == bounds


def test_import_stays_light():
    code = (
        "import sys, fluxgrid; heavy = ['torch', 'shap', 'optuna', 'pystac_client', "
        "'rioxarray', 'odc', 'spyndex', 'pvlib', 'openpyxl', 'matplotlib', 'distributed']; "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
