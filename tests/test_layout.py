"""The package's layout rules (issue 14 "Design"), checked on the source's imports.

Imports inside functions count too: the circle recorder → config → draft → recorder was made
of one lazy import.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "pipeline"


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    """module → the pipeline modules it imports anywhere in its source."""
    mods = _modules()
    graph = {}
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                for alias in node.names:
                    deps.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle():
    graph = import_graph()
    assert "pipeline.recorder.core" in graph and "pipeline.web.review" in graph  # the walk sees the subpackages
    assert cycles(graph) == []


def test_the_circle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_stage_modules_know_nothing_of_the_web_parts():
    graph = import_graph()
    stages = [m for m in graph if m.count(".") == 1 and m not in ("pipeline.cli", "pipeline.cli_service", "pipeline.__main__")]
    assert "pipeline.draft" in stages
    for m in stages:
        assert not {d for d in graph[m] if d.startswith("pipeline.web")}, m


def test_the_capture_core_needs_neither_config_nor_draft():
    graph = import_graph()
    for m in ("pipeline.recorder", "pipeline.recorder.core", "pipeline.recorder.journal",
              "pipeline.recorder.devices", "pipeline.recorder.options"):
        assert not graph[m] & {"pipeline.config", "pipeline.draft", "pipeline.recorder.terminal"}, m
