"""The house rules that keep the package readable, checked on the source itself.

Functions stay under 60 lines with at most 8 parameters, no module imports a private name of another area,
and no two modules import each other (directly or around a loop). The layers between areas are import-linter's
job (``make lint``); these are the rules it does not express.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import millpond

PACKAGE = Path(millpond.__file__).resolve().parent
MAX_LINES, MAX_PARAMS = 60, 8


def _modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return found


MODULES = _modules()


def _functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    return [
        (module, node)
        for module, tree in MODULES.items()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def _params(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    return len([n for n in names if n not in ("self", "cls")])


def test_no_function_is_longer_than_60_lines() -> None:
    long = [
        f"{module}.{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for module, node in _functions()
        if node.end_lineno is not None and node.end_lineno - node.lineno + 1 > MAX_LINES
    ]
    assert long == [], "split these into named steps:\n" + "\n".join(long)


def test_no_function_takes_more_than_8_parameters() -> None:
    wide = [
        f"{module}.{node.name} ({_params(node)} parameters, line {node.lineno})"
        for module, node in _functions()
        if _params(node) > MAX_PARAMS
    ]
    assert wide == [], "group these parameters (an options dataclass, a manifest object):\n" + "\n".join(wide)


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else parts[-1]


def _imports(module: str, tree: ast.Module) -> list[tuple[str, str]]:
    """(imported module, imported name) for every ``from millpond… import`` in ``module``, lazy ones included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("millpond"):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name.startswith("millpond")]
    return found


def test_no_area_imports_a_private_name_of_another_area() -> None:
    leaks = [
        f"{module} imports {name} from {source}"
        for module, tree in MODULES.items()
        for source, name in _imports(module, tree)
        if name.startswith("_") and _area(source) != _area(module)
    ]
    assert leaks == [], "make these public (or move the code to the area that owns it):\n" + "\n".join(leaks)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, tree in MODULES.items():
        for source, name in _imports(module, tree):
            target = f"{source}.{name}" if f"{source}.{name}" in MODULES else source
            if target in MODULES and target != module and MODULES[target].body:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_between_modules() -> None:
    packages = {m for m in MODULES if (PACKAGE / m.split(".", 1)[-1].replace(".", "/")).is_dir()}
    graph = {m: {t for t in targets if t not in packages} for m, targets in _graph().items() if m not in packages}
    cycles = _cycles(graph)
    assert cycles == [], "cut these loops with a leaf module:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def f(a, b):\n" + "    x = 1\n" * 70, ["f"]),
        ("def f(a, b):\n    return a\n", []),
    ],
)
def test_the_length_rule_can_fail(source: str, expected: list[str]) -> None:
    tree = ast.parse(source)
    long = [
        n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno + 1 > MAX_LINES
    ]
    assert long == expected


def test_the_cycle_rule_can_fail() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
