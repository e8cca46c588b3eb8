"""The plugin system: entry points, registries, clear errors for broken plugins."""

import json
import subprocess
import sys

import pytest

import embench
from embench.cli import main
from embench.errors import PluginError
from embench.plugins import get_plugin_manager
from tests.helpers import REPO, RandomEmbedder, write_benchmark

BUILTIN_EMBEDDERS = {"word2vec"}
BUILTIN_METRICS = {"next_song"}


def test_builtins_come_through_the_entry_point_group():
    plugins = get_plugin_manager()
    assert set(plugins.embedders.names()) >= BUILTIN_EMBEDDERS
    assert set(plugins.metrics.names()) >= BUILTIN_METRICS
    entry = plugins.embedders.get("word2vec")
    assert entry.origin.package == "embench" and entry.origin.version == embench.__version__


def test_load_plugins_env_restricts_loading(monkeypatch):
    monkeypatch.setenv("EMBENCH_LOAD_PLUGINS", "word2vec")
    plugins = get_plugin_manager()
    assert plugins.embedders.names() == ["word2vec"]
    assert plugins.metrics.names() == []
    monkeypatch.setenv("EMBENCH_LOAD_PLUGINS", "")
    assert get_plugin_manager().embedders.names() == []


def test_example_package_is_installed_and_found():
    plugins = get_plugin_manager()
    if "random-baseline" not in plugins.embedders:
        pytest.fail("install the example package: pip install ./examples/embench-baselines")
    assert plugins.embedders.get("random-baseline").origin.package == "embench-baselines"
    assert plugins.metrics.get("coverage").origin.plugin == "baselines"


def test_example_package_runs_through_embench_run(tmp_path):
    bench = write_benchmark(tmp_path, SMALL_SYNTHETIC + EXAMPLE_CONFIGS)
    out = tmp_path / "out"
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    rnd = {c["name"]: c for c in summary["configurations"]}["rnd"]
    assert rnd["status"] == "ok" and 0 < rnd["metrics"]["coverage"] <= 1


SMALL_SYNTHETIC = """
[benchmark]
name = "example"
seed = 1
threads = 1
[dataset]
plugin = "synthetic"
[dataset.options]
songs = 300
sequences = 200
[split]
train = 0.8
validation = 0.1
test = 0.1
"""

EXAMPLE_CONFIGS = """
[[configuration]]
name = "rnd"
embedder = "random-baseline"
[metrics.next_song]
[metrics.coverage]
k = 10
"""


class Duplicate:
    @embench.hookimpl
    def register_embedders(self, register):
        register(RandomEmbedder)
        register(RandomEmbedder)


class NotAnEmbedder:
    @embench.hookimpl
    def register_embedders(self, register):
        register(dict)


class Misspelled:
    @embench.hookimpl
    def register_embeders(self, register):  # typo: caught by check_pending
        pass


class Raising:
    @embench.hookimpl
    def register_metrics(self, register):
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        (Duplicate(), "registered twice"),
        (NotAnEmbedder(), "not a subclass of embench.Embedder"),
        (Misspelled(), "register_embeders"),
        (Raising(), "raised while registering metrics: RuntimeError: boom"),
    ],
)
def test_broken_plugins_get_a_clear_error_naming_them(plugin, expected):
    with pytest.raises(PluginError) as info:
        get_plugin_manager(extra=[("broken-plugin", plugin)])
    assert expected in str(info.value) and "broken-plugin" in str(info.value)


def test_broken_plugin_through_the_cli(tmp_path, register_plugin, capsys):
    register_plugin("broken-plugin", Misspelled())
    code = main(["run", str(write_benchmark(tmp_path)), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "broken-plugin" in err and "Traceback" not in err


def test_plugins_command_lists_every_kind_with_its_package(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for name in ("word2vec", "next_song", "embench-baselines"):
        assert name in out


def test_core_imports_without_heavy_libraries():
    code = (
        "import sys, embench, embench.cli, embench.plugins, embench.runner, embench.study;"
        "embench.plugins.get_plugin_manager();"
        "heavy = [m for m in ('gensim', 'nevergrad', 'pymoo') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
