"""Promises of the project itself: the README's commands are the ones CI runs."""

import re

from tests.helpers import REPO


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)


def test_readme_starts_with_run_and_test_commands():
    commands = readme_commands()
    assert "embench run benchmarks/stream.toml" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_exactly_the_readme_test_command():
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    # `|| exit 1` only makes a failing step fail CI under `set -e` (an && list would not)
    assert readme_commands()[1].strip() + " || exit 1" in ci_lines
