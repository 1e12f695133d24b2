"""The package's structure, checked: import graph, sizes, private names, deprecation shims.

These rules keep the folders showing the architecture (docs/architecture.md): no import
circle, imports of fluxgrid's own modules at module level (only where an optional heavy
dependency is the reason may one sit inside a function), small modules and functions, no
private name used across modules, and no package module importing an old path that only
forwards to a new one.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fluxgrid"

MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 150
MAX_FUNCTION_LEVEL_IMPORTS = 40


@dataclass(frozen=True)
class Import:
    """One import of a fluxgrid module by another."""

    source: str
    target: str
    names: tuple[str, ...]
    in_function: bool
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == (
        "TYPE_CHECKING"
    )


def _target(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str, path: Path, known: set[str]) -> list[Import]:
    """Runtime imports of fluxgrid modules (``if TYPE_CHECKING:`` blocks are left out)."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                continue
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name in known:
                        found.append(Import(module, alias.name, (), inner, child.lineno))
            elif isinstance(child, ast.ImportFrom):
                target = _target(module, path.name == "__init__.py", child)
                if target.split(".")[0] != "fluxgrid":
                    continue
                names = tuple(a.name for a in child.names)
                subs = [n for n in names if f"{target}.{n}" in known]
                for name in subs:
                    found.append(Import(module, f"{target}.{name}", (), inner, child.lineno))
                rest = tuple(n for n in names if n not in subs)
                if rest and target in known:
                    found.append(Import(module, target, rest, inner, child.lineno))
            visit(child, inner)

    visit(ast.parse(path.read_text()), False)
    return found


@pytest.fixture(scope="module")
def graph() -> tuple[dict[str, Path], list[Import]]:
    mods = modules()
    known = set(mods)
    return mods, [imp for m, p in mods.items() for imp in imports_of(m, p, known)]


def cycles(nodes: set[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import)."""
    succ: dict[str, set[str]] = {n: set() for n in nodes}
    for a, b in edges:
        succ[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan; the package graph is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in succ[v]:
                found.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            strong(v)
    return found


def is_shim(path: Path) -> bool:
    """A module whose body only forwards moved names (``fluxgrid._deprecation.moved``)."""
    body = ast.parse(path.read_text()).body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    if not body or not all(isinstance(n, ast.ImportFrom | ast.Assign) for n in body):
        return False
    calls = [n for n in body if isinstance(n, ast.Assign)]
    return bool(calls) and all(
        isinstance(n.value, ast.Call) and getattr(n.value.func, "id", "") == "moved" for n in calls
    )


def test_cycle_finder_finds_a_cycle():
    nodes = {"a", "b", "c", "d"}
    assert cycles(nodes, [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]) == [["a", "b", "c"]]
    assert cycles(nodes, [("a", "b"), ("b", "c")]) == []


def test_no_import_cycle(graph):
    mods, imps = graph
    found = cycles(set(mods), [(i.source, i.target) for i in imps])
    assert found == [], f"import cycles among fluxgrid modules: {found}"


def test_internal_imports_sit_at_module_level(graph):
    _mods, imps = graph
    inside = sorted(f"{i.source}:{i.line} -> {i.target}" for i in imps if i.in_function)
    assert len(inside) <= MAX_FUNCTION_LEVEL_IMPORTS, (
        f"{len(inside)} imports of fluxgrid modules inside functions (at most "
        f"{MAX_FUNCTION_LEVEL_IMPORTS}, each for an optional heavy dependency):\n"
        + "\n".join(inside)
    )


def test_no_private_name_imported_across_modules(graph):
    _mods, imps = graph
    private = sorted(
        f"{i.source}:{i.line} imports {name} from {i.target}"
        for i in imps
        for name in i.names
        if name.startswith("_") and not name.startswith("__")
    )
    assert private == [], "\n".join(private)


def test_package_modules_do_not_import_deprecated_paths(graph):
    mods, imps = graph
    shims = {m for m, p in mods.items() if is_shim(p)}
    users = sorted(f"{i.source}:{i.line} -> {i.target}" for i in imps if i.target in shims)
    assert users == [], "import the new module instead of the shim:\n" + "\n".join(users)


def test_module_sizes():
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > 800}
    assert long == {}, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_function_sizes():
    long = []
    for m, p in modules().items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{m}.{node.name} ({n} lines)")
    assert long == [], f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_shim_detection():
    assert is_shim(PACKAGE / "train.py")
    assert not is_shim(PACKAGE / "prep" / "select.py")  # a module that also forwards one name
