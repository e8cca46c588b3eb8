"""The import structure: no cycles anywhere (imports inside functions count), the core never
imports a plugin, and the import-linter contracts of pyproject.toml hold."""

from __future__ import annotations

import grimp
import pytest
from importlinter.cli import lint_imports

from tests.helpers import REPO

PACKAGES = ("embench", "embench_plugins")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)


def import_cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def describe(graph: grimp.ImportGraph, group: list[str]) -> str:
    edges = [
        f"{a} -> {b} (line {', '.join(str(d['line_number']) for d in details)})"
        for a in group
        for b in group
        if (details := graph.get_import_details(importer=a, imported=b))
    ]
    return "\n    ".join(edges)


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, "import cycles (imports inside functions included):\n  " + "\n  ".join(
        describe(graph, group) for group in cycles
    )


def test_the_cycle_finder_finds_a_cycle(graph):
    graph = graph.copy() if hasattr(graph, "copy") else grimp.build_graph(*PACKAGES)
    graph.add_import(importer="embench.errors", imported="embench.cli")
    (group,) = [g for g in import_cycles(graph) if "embench.errors" in g]
    assert {"embench.cli", "embench.errors", "embench.plugins"} <= set(group)


def test_the_core_never_imports_a_plugin(graph):
    chain = graph.find_shortest_chain(
        importer="embench", imported="embench_plugins", as_packages=True
    )
    assert chain is None, f"the core imports a plugin: {' -> '.join(chain or ())}"


def test_import_linter_contracts_hold(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    config = str(REPO / "pyproject.toml")
    status = lint_imports(config_filename=config, no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "3 kept, 0 broken" in out
