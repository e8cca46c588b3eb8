"""Commands through pluggy: the core's own, the built-in plugins' and a third party's, with one
clear message for every way a command plugin can be wrong; the results table in a pipe."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

import embench
from embench.cli import CORE, build_parser, collect_commands, main
from embench.commands.core import CORE_COMMANDS
from embench.errors import ConfigError, PluginError
from embench.plugins import get_plugin_manager
from embench.report.console import format_value, results_table
from tests.helpers import write_benchmark


def greet_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("who")
    parser.add_argument("--times", type=int, default=1)


def greet(args: argparse.Namespace) -> int:
    print(" ".join([f"hello {args.who}"] * args.times))
    return 7 if args.who == "seven" else 0


class Greeter:
    """A third-party plugin adding ``embench greet WHO``."""

    @embench.hookimpl
    def register_commands(self, register):
        register(embench.Command("greet", "say hello", greet_arguments, greet))


def command_plugin(*commands):
    class Plugin:
        @embench.hookimpl
        def register_commands(self, register):
            for command in commands:
                register(command)

    return Plugin()


def test_a_plugin_command_is_parsed_and_run_with_its_exit_code(register_plugin, capsys):
    register_plugin("greeter", Greeter())
    assert main(["greet", "world", "--times", "2"]) == 0
    assert capsys.readouterr().out == "hello world hello world\n"
    assert main(["greet", "seven"]) == 7
    entry = collect_commands().get("greet")
    assert entry.origin.plugin == "greeter" and entry.command.help == "say hello"


def test_builtin_commands_come_through_the_hook_not_the_core(monkeypatch):
    core = {c.name for c in CORE_COMMANDS}
    assert core == {"run", "plugins", "data"}
    everything = collect_commands()
    for name in ("report", "compare", "check", "check-plugin", "hardneg"):
        assert name in everything and everything.get(name).origin != CORE
    assert everything.get("hardneg").origin.plugin == "hardneg"  # the HardNeg plugin's own
    monkeypatch.setenv("EMBENCH_LOAD_PLUGINS", "")
    assert collect_commands().names() == ["run", "plugins", "data"]


def test_plugins_lists_commands(register_plugin, capsys):
    register_plugin("greeter", Greeter())
    assert main(["plugins"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if " greet " in line]
    assert len(rows) == 1 and "command" in rows[0] and "say hello" in rows[0]


def noop(args):
    return 0


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        (
            command_plugin(embench.Command("run", "mine", greet_arguments, noop)),
            "command name 'run' is registered twice: by plugin 'embench' (embench) and by "
            "plugin 'broken-commands'",
        ),
        (
            command_plugin(
                embench.Command("twice", "a", greet_arguments, noop),
                embench.Command("twice", "b", greet_arguments, noop),
            ),
            "command name 'twice' is registered twice",
        ),
        (command_plugin(greet), "registered <function greet"),
        (
            command_plugin(embench.Command("Bad Name", "x", greet_arguments, noop)),
            "a command needs a name of lower-case letters",
        ),
        (
            command_plugin(embench.Command("norun", "x", greet_arguments, None)),
            "command 'norun' has no callable `run`",
        ),
        (
            command_plugin(embench.Command("clash", "x", lambda p: p.add_argument("-h"), noop)),
            "command 'clash' of plugin 'broken-commands' (tests.test_commands) failed to "
            "declare its arguments: ArgumentError",
        ),
    ],
)
def test_broken_command_plugins_get_one_clear_message(plugin, expected, register_plugin, capsys):
    register_plugin("broken-commands", plugin)
    assert main(["plugins"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in " ".join(err.split())
    assert "Traceback" not in err


def test_unknown_command_gets_did_you_mean(capsys):
    assert main(["reprot", "runs/x"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'reprot'; did you mean 'report'?" in err


def failing(error):
    def run(args):
        raise error

    return run


def test_errors_of_a_plugin_command_keep_the_exit_codes(register_plugin, capsys):
    register_plugin(
        "failing",
        command_plugin(
            embench.Command("user-error", "x", lambda p: None, failing(ConfigError("bad file"))),
            embench.Command("bug", "x", lambda p: None, failing(KeyError("oops"))),
        ),
    )
    assert main(["user-error"]) == 2
    assert capsys.readouterr().err == "error: bad file\n"
    assert main(["bug"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("internal error in command 'bug' of plugin 'failing'")
    assert "KeyError: 'oops'" in err and "EMBENCH_DEBUG=1" in err


def test_registering_commands_that_raise_names_the_plugin():
    class Raising:
        @embench.hookimpl
        def register_commands(self, register):
            raise RuntimeError("boom")

    with pytest.raises(PluginError, match="'raising' .* raised while registering commands"):
        get_plugin_manager(extra=[("raising", Raising())])


def test_build_parser_has_one_sub_command_per_command(register_plugin):
    register_plugin("greeter", Greeter())
    parser = build_parser()
    args = parser.parse_args(["greet", "you"])
    assert args.who == "you" and args._entry.name == "greet"


# -- the results table in a pipe -------------------------------------------------------------
METRICS = ("hitrate", "ndcg", "hardneg", "vrc_genre", "vrc_artist", "coherence_genre")


def wide_configurations() -> list[dict]:
    """Long names and every column: far wider than 80 characters."""
    rows = []
    for i in range(3):
        metrics = {key: 0.123456 + i / 7 + j / 1000 for j, key in enumerate(METRICS)}
        metrics["vrc_genre"] = 12345.678 + i
        rows.append(
            {
                "name": f"a-rather-long-configuration-name-{i}",
                "embedder": "word2vec",
                "status": "ok",
                "metrics": metrics,
                "marks": {"hitrate": "*\u2020"},
                "train_seconds": 12.5,
            }
        )
    return rows


def test_results_table_off_a_terminal_shows_every_number_in_full():
    from embench.report.console import print_full

    buffer = io.StringIO()
    console = Console(file=buffer, width=80)  # what a pipe or a CI log gets
    assert not console.is_terminal
    print_full(results_table(wide_configurations()), console)
    text = buffer.getvalue()
    assert "\u2026" not in text
    for row in wide_configurations():
        assert row["name"] in text
        for key in METRICS:
            assert format_value(row["metrics"][key]) in text
    assert "HitRate" in text and "VRC genre" in text and "LGC" in text
    assert console.width == 80  # the console is left as it was


PIPE_BENCHMARK = """
[benchmark]
name = "pipe"
seed = 4
threads = 1
[dataset]
plugin = "synthetic"
[dataset.options]
songs = 300
sequences = 300
[split]
train = 0.8
validation = 0.1
test = 0.1
[[configuration]]
name = "a-configuration-with-a-long-name-for-the-pipe"
[embedders.word2vec]
vector_size = 8
epochs = 1
[metrics.next_song]
k = 10
[metrics.hardneg]
k = 10
min_cooccurrence = 1
[metrics.vrc_genre]
[metrics.coherence_genre]
"""


@pytest.mark.slow
def test_embench_run_into_a_pipe_prints_full_numbers(tmp_path):
    bench = write_benchmark(tmp_path, PIPE_BENCHMARK)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "embench.cli", "run", str(bench), "-o", str(out), "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\u2026" not in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    (row,) = summary["configurations"]
    shown = [key for key in ("hitrate", "ndcg", "hardneg", "vrc_genre", "coherence_genre")]
    assert set(shown) <= set(row["metrics"])
    for key in shown:
        assert format_value(row["metrics"][key]) in proc.stdout, key
    assert row["name"] in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) > 80
