"""The package's shape: no import cycle between its packages, and a light ``import chaosrunner``.

The stages (read → planning → execute → analyse → results → report) and the parts they use
(model, drivers, probes, traffic, writer, timeline) import each other in one direction only;
a cycle between two packages is how a layout starts to rot, so this test names it.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from support import ROOT

PACKAGE = ROOT / "chaosrunner"


def package_imports(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Top-level unit (package or module of chaosrunner) → the units it imports, lazy imports included."""
    edges: dict[str, set[str]] = defaultdict(set)
    for f in root.rglob("*.py"):
        parts = f.relative_to(root).with_suffix("").parts
        unit = parts[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "chaosrunner" \
                    else [node.module]
            for name in names:
                bits = name.split(".")
                if bits[0] == "chaosrunner" and len(bits) > 1 and bits[1] != unit:
                    edges[unit].add(bits[1])
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle's smallest representative, found by depth-first search."""
    found: set[tuple[str, ...]] = set()

    def walk(start: str, node: str, path: list[str]) -> None:
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                i = path.index(min(path))
                found.add(tuple(path[i:] + path[:i]))
            elif nxt not in path and nxt > start:
                walk(start, nxt, path + [nxt])

    for start in sorted(edges):
        walk(start, start, [start])
    return [list(c) for c in sorted(found)]


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_packages():
    edges = package_imports()
    assert {"read", "planning", "execute", "analyse", "report"} <= set(edges)     # the stages are there
    assert not cycles(edges), "\n".join(" → ".join(c + c[:1]) for c in cycles(edges))


def test_stages_import_downstream_only():
    """A stage never imports a later one. ``analyse`` is pure functions over a timeline, which any
    stage may call (execute ends its recovery wait by the analysis' own definition of recovery)."""
    edges = package_imports()
    order = ["read", "planning", "execute", "results", "report"]
    for i, stage in enumerate(order):
        later = set(order[i + 1:])
        assert not edges.get(stage, set()) & later, f"{stage} imports a later stage: {edges[stage] & later}"


def test_import_chaosrunner_stays_light():
    code = ("import json, sys, chaosrunner; print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('locust', 'gevent', 'matplotlib', 'jinja2') or m.startswith("
            "('chaosrunner.report', 'chaosrunner.demo', 'chaosrunner.traffic', 'chaosrunner.proxy')))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert json.loads(out.stdout) == []
