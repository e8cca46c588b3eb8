"""The code of docs/writing-plugins.md runs: every ``python`` block is imported as a module of
its own, registered as a plugin, and each embedder and metric it defines passes
:func:`embench.check_embedder` / :func:`embench.check_metric`; commands answer ``--help``, test
functions pass, TOML blocks parse."""

import importlib.util
import inspect
import re
import sys
import tomllib

import pytest

import embench
from embench.checks import check_embedder, check_metric
from embench.cli import main
from embench.plugins import get_plugin_manager, temporary_plugin
from tests.helpers import REPO

PAGE = REPO / "docs" / "writing-plugins.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SMALLEST_LINES = 10  # the bound: "at most about 10 lines plus its entry point"


def blocks(language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(PAGE.read_text()) if lang == language]


def load(code: str, name: str, directory):
    """``code`` imported as module ``name`` from a file (so tracebacks name its lines)."""
    path = directory / f"{name}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


@pytest.fixture
def snippet(tmp_path):
    loaded = []

    def make(index: int):
        module = load(blocks("python")[index], f"writing_plugins_block_{index}", tmp_path)
        loaded.append(module.__name__)
        return module

    yield make
    for name in loaded:
        sys.modules.pop(name, None)


def defined(module, base: type) -> list[type]:
    return [
        c
        for c in vars(module).values()
        if inspect.isclass(c) and issubclass(c, base) and c.__module__ == module.__name__
    ]


def test_the_page_has_code():
    assert len(blocks("python")) >= 4 and blocks("toml")


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_block_runs(index, snippet, capsys):
    module = snippet(index)
    plugins = get_plugin_manager([("docs-block", module)], load_entry_points=False)
    embedders, metrics = defined(module, embench.Embedder), defined(module, embench.Metric)
    # the block's hooks register exactly the classes it defines
    assert sorted(e.name for e in plugins.embedders) == sorted(c.name for c in embedders)
    assert sorted(e.name for e in plugins.metrics) == sorted(c.name for c in metrics)
    for cls in embedders:
        report = check_embedder(cls.name, plugins=plugins)  # raises CheckFailed on a break
        assert {p.check for p in report.warnings} <= {"progress"}, report
        if cls.search_space:  # a real embedder reports progress too
            assert not report.warnings, report
    for cls in metrics:
        report = check_metric(cls.name, {"k": 10}, plugins=plugins)
        assert not report.warnings, report
    for entry in plugins.commands:
        with temporary_plugin("docs-block", module), pytest.raises(SystemExit) as done:
            main([entry.name, "--help"])
        assert done.value.code == 0 and entry.command.help in capsys.readouterr().out
    for name, function in vars(module).items():
        if name.startswith("test_") and callable(function):
            function()
    assert (
        embedders
        or metrics
        or len(plugins.commands)
        or any(n.startswith("test_") for n in vars(module))
    ), "a block that defines nothing to check"


def test_the_smallest_embedder_is_small(snippet):
    module = snippet(0)
    (cls,) = defined(module, embench.Embedder)
    assert cls.Options is embench.Options and not cls.search_space  # nothing but name and fit
    lines = [line for line in blocks("python")[0].splitlines() if line.strip()]
    assert len(lines) <= SMALLEST_LINES, "\n".join(lines)
    report = check_embedder(cls)
    assert "vectors of dimension 32" in report.notes[0]


def test_toml_blocks_parse_and_name_the_entry_point_group():
    (entry_points,) = [tomllib.loads(code) for code in blocks("toml")]
    assert entry_points["project"]["entry-points"]["embench"] == {"baselines": "embench_baselines"}
