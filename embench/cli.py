"""The ``embench`` command line: the core's own commands plus every command a plugin registers
through the ``register_commands`` hook, each one an argparse sub-command.

Errors are one clear message: exit 2 for what the user can fix (:class:`EmbenchError`, or an
``OSError`` such as a full disk), 3 for a bug (set ``EMBENCH_DEBUG=1`` for the traceback), 130
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback

from rich.console import Console
from rich.markup import escape

from embench import __version__
from embench.commands.core import CORE_COMMANDS
from embench.errors import EmbenchError, PluginError
from embench.plugins import Plugins, get_plugin_manager
from embench.registry import Commands, Origin

DEBUG_ENV = "EMBENCH_DEBUG"
CORE = Origin("embench", "embench", __version__)


def collect_commands(plugins: Plugins | None = None) -> Commands:
    """The core's commands, then the plugins' (a name used twice is a :class:`PluginError`)."""
    plugins = plugins if plugins is not None else get_plugin_manager()
    commands = Commands()
    for command in CORE_COMMANDS:
        commands.add(command, CORE)
    for entry in plugins.commands:
        commands.add(entry.command, entry.origin)
    return commands


def build_parser(commands: Commands | None = None) -> argparse.ArgumentParser:
    """The argparse parser of ``commands`` (default: the core's and the installed plugins')."""
    commands = commands if commands is not None else collect_commands()
    parser = argparse.ArgumentParser(
        prog="embench", description="Evaluate and optimise behavioural song embeddings."
    )
    parser.add_argument("--version", action="version", version=f"embench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in commands:
        command = entry.command
        sub_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        try:
            command.add_arguments(sub_parser)
        except Exception as exc:
            raise PluginError(
                f"command '{command.name}' of plugin '{entry.origin.plugin}' "
                f"({entry.origin.package}) failed to declare its arguments: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        sub_parser.set_defaults(_entry=entry)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    err = Console(stderr=True, highlight=False)
    where = ""
    try:
        commands = collect_commands()
        if argv and not argv[0].startswith("-"):
            commands.get(argv[0])  # an unknown command gets "did you mean"
        args = build_parser(commands).parse_args(argv)
        entry = args._entry
        if entry.origin != CORE:
            where = f" in command '{entry.name}' of plugin '{entry.origin.plugin}' "
            where += f"({entry.origin.package} {entry.origin.version})"
        return entry.command.run(args)
    except EmbenchError as exc:
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted: finished trials are saved; run the same command to resume")
        return 130
    except OSError as exc:  # the machine, not embench: a full disk, a permission, a lost mount
        err.print(f"[bold red]error:[/bold red] {escape(str(exc))}", soft_wrap=True)
        return 2
    except Exception as exc:  # a bug in embench itself, or in a plugin's command
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        err.print(
            f"[bold red]internal error{escape(where)}:[/bold red] {type(exc).__name__}: "
            f"{escape(str(exc))}\n(set {DEBUG_ENV}=1 for the traceback, and please report it)",
            soft_wrap=True,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
