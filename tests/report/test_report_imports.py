"""No import cycle among the report's and the results' modules (function-level imports included)."""
from __future__ import annotations

import ast
from pathlib import Path

import chaosrunner

PACKAGE = Path(chaosrunner.__file__).parent
SCOPE = ("chaosrunner.report", "chaosrunner.results")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    out = {}
    for scope in SCOPE:
        folder = PACKAGE.parent.joinpath(*scope.split("."))
        out.update({module_name(p): p for p in folder.rglob("*.py")})
    return out


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    """Modules of ``known`` that ``path`` imports anywhere in its body: ``import a.b``, ``from a import b``."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                out.add(sub if sub in known else node.module)
    return {m for m in out if m in known}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_report_and_results_modules_import_without_a_cycle():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    assert "chaosrunner.report.entry" in graph["chaosrunner.report.render"]        # the scan sees real edges
    assert cycles(graph) == []
    assert "chaosrunner.report.render" not in graph["chaosrunner.report.index"]
    assert "chaosrunner.report.index" not in graph["chaosrunner.report.render"]


def test_the_scan_finds_a_cycle_when_there_is_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]
