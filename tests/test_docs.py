"""The documentation follows the code: hook specs, CLI commands, benchmark-file keys, options.

``python -m tests.test_docs`` prints the key tables generated from the models (type and default
columns as this test expects them), to paste into docs/benchmark-file.md when a model changes.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from embench import config, hookspecs
from embench.cli import build_parser, collect_commands
from embench.plugins import get_plugin_manager
from embench.registry import Commands
from embench.report.check import Threshold

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
REFERENCE = DOCS / "benchmark-file.md"

# docs/benchmark-file.md heading -> the model whose keys its table lists
SECTIONS: dict[str, type[BaseModel]] = {
    "Top level": config.BenchmarkConfig,
    "`[benchmark]`": config.BenchmarkSection,
    "`[dataset]`": config.DatasetSection,
    "`[split]`": config.SplitSection,
    "`[[configuration]]`": config.ConfigurationSection,
    "`[evaluation]`": config.EvaluationSection,
    "`[index]`": config.IndexSection,
    "`[[study]]`": config.StudySection,
    "`[study.scalarised]`": config.ScalarisedObjective,
    "`[study.space.NAME]`": config.SpaceOverride,
    "`[scale]`": config.ScaleSection,
    "`[report]`": config.ReportSection,
    "`[thresholds.KEY]`": Threshold,  # BenchmarkConfig.thresholds holds these, by value key
}
# sections whose keys are a plugin's options, documented with the plugin
FREE_SECTIONS = {"`[embedders.NAME]`", "`[metrics.NAME]`"}


def doc_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


# -- rendering the type and default columns from a model -----------------------------------------
def type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = " or ".join(type_name(a) for a in args if a is not type(None))
        return parts + (" (optional)" if type(None) in args else "")
    if origin is list:
        return f"array of {type_name(args[0])}s"
    if origin is dict or (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
        return "table"
    names = {str: "string", int: "integer", float: "float", bool: "boolean", Any: "any"}
    return names.get(annotation, str(annotation))


def default_text(info) -> str | None:
    """The default column; None where the docs describe it in words (a computed default)."""
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        value = info.default_factory()
        return {"{}": "`{}`", "[]": "`[]`"}.get(repr(value))
    value = info.default
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value!r}`"


def render_table(model: type[BaseModel]) -> str:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for name, info in model.model_fields.items():
        default = default_text(info) or "(describe)"
        rows.append(
            f"| `{name}` | {type_name(info.annotation)} | {default} | {info.description or ''} |"
        )
    return "\n".join(rows)


# -- reading the docs ----------------------------------------------------------------------------
def split_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip() for c in cells]


def key_tables(path: Path) -> dict[str, dict[str, list[str]]]:
    """heading -> {key: [type, default, meaning]} of the first ``| key |`` table under it."""
    tables: dict[str, dict[str, list[str]]] = {}
    heading = None
    in_table = False
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^#{2,4} (.+?)\s*$", line)
        if match:
            heading, in_table = match.group(1), False
            continue
        if heading is None:
            continue
        if line.startswith("| key |"):
            if heading in tables:
                raise AssertionError(f"{path.name}: two key tables under '{heading}'")
            tables[heading], in_table = {}, True
            continue
        if in_table and line.startswith("|"):
            cells = split_row(line)
            if set(cells[0]) <= {"-", " "}:
                continue
            key = cells[0].strip("`")
            assert key not in tables[heading], f"{path.name} '{heading}': '{key}' twice"
            tables[heading][key] = cells[1:]
        else:
            in_table = False
    return tables


def check_table(documented: dict[str, list[str]], model: type[BaseModel], where: str) -> list[str]:
    problems = []
    fields = model.model_fields
    for key in documented.keys() - fields.keys():
        problems.append(f"{where}: documents '{key}', which {model.__name__} does not have")
    for key in fields.keys() - documented.keys():
        problems.append(f"{where}: '{key}' of {model.__name__} is not documented")
    for key in documented.keys() & fields.keys():
        info = fields[key]
        kind, default, meaning = (documented[key] + ["", "", ""])[:3]
        if kind != type_name(info.annotation):
            problems.append(
                f"{where}: '{key}' type {kind!r}, expected {type_name(info.annotation)!r}"
            )
        expected = default_text(info)
        if (expected is not None and default != expected) or not default:
            problems.append(f"{where}: '{key}' default {default!r}, expected {expected!r}")
        if not meaning:
            problems.append(f"{where}: '{key}' has no meaning")
    return problems


def nested_models(model: type[BaseModel]) -> set[type[BaseModel]]:
    """``model`` and every model reachable through its fields' annotations."""
    found = {model}

    def walk(annotation):
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation not in found:
            found.add(annotation)
            for info in annotation.model_fields.values():
                walk(info.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    for info in model.model_fields.values():
        walk(info.annotation)
    return found


# -- the tests -----------------------------------------------------------------------------------
def hook_specs() -> list[str]:
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if callable(value) and hasattr(value, f"{hookspecs.PROJECT}_spec")
    )


def test_hook_specs_are_found():
    assert {"register_embedders", "register_metrics"} <= set(hook_specs())


@pytest.mark.parametrize("hook", hook_specs())
def test_every_hook_spec_is_documented_and_exercised(hook):
    assert (getattr(hookspecs, hook).__doc__ or "").strip(), f"hook spec {hook} has no docstring"
    assert re.search(rf"\b{hook}\b", doc_text()), f"hook spec {hook} is not documented in docs/"
    test_files = [
        p
        for p in [*REPO.glob("tests/**/*.py"), *REPO.glob("examples/*/tests/**/*.py")]
        if p.name != Path(__file__).name
    ]
    implemented = [p for p in test_files if f"def {hook}(" in p.read_text(encoding="utf-8")]
    assert implemented, f"no test implements the hook {hook} (def {hook}(...))"


def cli_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every command path, nested ones included: ``["run", "data prepare", ...]``."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = (*prefix, name)
                found.append(" ".join(path))
                found += cli_commands(sub, path)
    return found


def embench_parser() -> argparse.ArgumentParser:
    """The parser of embench's own commands: the core's and the built-in plugins' (a third-party
    package installed beside embench documents its commands itself)."""
    commands = Commands()
    for entry in collect_commands():
        if entry.origin.package == "embench":
            commands.add(entry.command, entry.origin)
    return build_parser(commands)


def leaf_commands() -> list[str]:
    commands = cli_commands(embench_parser())
    return [c for c in commands if not any(o.startswith(c + " ") for o in commands)]


def test_cli_has_nested_commands_and_the_plugins_commands():
    commands = set(cli_commands(embench_parser()))
    assert {"run", "plugins", "data prepare", "data stats"} <= commands
    assert {"check-plugin", "report", "compare", "check", "hardneg"} <= commands


@pytest.mark.parametrize("command", leaf_commands())
def test_every_cli_command_is_documented(command):
    pattern = rf"embench {re.escape(command)}(?![\w-])"
    assert re.search(pattern, doc_text()), f"`embench {command}` is not documented in docs/"


def test_documented_commands_exist():
    commands = set(cli_commands(build_parser()))
    text = doc_text()
    mentioned = re.findall(r"`embench ([a-z][\w-]*)", text)
    for block in re.findall(r"^```.*?$(.*?)^```", text, flags=re.MULTILINE | re.DOTALL):
        mentioned += re.findall(r"(?:^|&& )embench ([a-z][\w-]*)", block, flags=re.MULTILINE)
    unknown = sorted(set(mentioned) - commands)
    assert not unknown, f"docs/ mention commands that do not exist: {unknown}"


def test_benchmark_file_reference_matches_the_models():
    tables = key_tables(REFERENCE)
    problems = []
    for heading in tables.keys() - SECTIONS.keys():
        problems.append(f"documents keys under '{heading}', which is no known section")
    for heading, model in SECTIONS.items():
        if heading not in tables:
            problems.append(f"no key table under the heading '{heading}' ({model.__name__})")
            continue
        problems += check_table(tables[heading], model, heading)
    headings = re.findall(r"^#{2,3} (.+?)\s*$", REFERENCE.read_text(), flags=re.MULTILINE)
    for heading in FREE_SECTIONS:
        if heading not in headings:
            problems.append(f"the section '{heading}' is not described")
    assert not problems, "docs/benchmark-file.md:\n  " + "\n  ".join(problems)


def test_every_model_of_the_benchmark_file_has_a_section():
    missing = nested_models(config.BenchmarkConfig) - set(SECTIONS.values())
    assert not missing, f"models without a section in docs/benchmark-file.md: {missing}"


def builtin(kind: str):
    plugins = get_plugin_manager()
    registry = plugins.embedders if kind == "embedder" else plugins.optimisers
    return [e for e in registry if e.origin.package == "embench"]


@pytest.mark.parametrize(
    ("kind", "page"), [("embedder", "concepts.md"), ("optimiser", "search.md")]
)
def test_builtin_plugin_options_are_documented(kind, page):
    tables = key_tables(DOCS / page)
    problems = []
    entries = builtin(kind)
    assert entries
    for entry in entries:
        heading = f"`{entry.name}`"
        if heading not in tables:
            problems.append(f"{page}: no key table under '### {heading}' ({kind} {entry.name})")
            continue
        problems += check_table(tables[heading], entry.cls.Options, f"{page} {heading}")
    assert not problems, "\n  ".join(problems)


def test_index_links_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    pages = {p.name for p in DOCS.glob("*.md")} - {"index.md"}
    unlinked = sorted(p for p in pages if f"]({p}" not in index)
    assert not unlinked, f"docs/index.md does not link {unlinked}"
    for target in re.findall(r"\]\(([\w.-]+\.md)", doc_text()):
        assert (DOCS / target).exists(), f"a link to docs/{target}, which does not exist"


def test_anchors_of_links_exist():
    slugs = {}
    for page in DOCS.glob("*.md"):
        headings = re.findall(r"^#+ (.+?)\s*$", page.read_text(encoding="utf-8"), re.MULTILINE)
        slugs[page.name] = {
            re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings
        }
    broken = []
    for page in DOCS.glob("*.md"):
        for target, anchor in re.findall(r"\]\(([\w.-]+\.md)#([\w-]+)\)", page.read_text()):
            if target in slugs and anchor not in slugs[target]:
                broken.append(f"{page.name} -> {target}#{anchor}")
    assert not broken, f"links to missing headings: {broken}"


if __name__ == "__main__":  # print the generated tables
    for heading, model in SECTIONS.items():
        print(f"## {heading}\n\n{render_table(model)}\n")
