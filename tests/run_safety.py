"""Helpers of the run-safety tests: `embench run` in a child process, folder snapshots, /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.helpers import REPO

RUN_SCRIPT = textwrap.dedent(
    """
    import sys
    from embench.cli import main
    from embench.plugins import temporary_plugin
    from tests.helpers import TestPlugin
    with temporary_plugin("embench-tests", TestPlugin()):
        sys.exit(main(["run", *sys.argv[1:], "--quiet"]))
    """
)


def start_run(bench: Path, out: Path, *args: str, **popen) -> subprocess.Popen:
    """``embench run BENCH --output OUT ARGS`` (with the test plugins) in a child process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", RUN_SCRIPT, str(bench), "--output", str(out), *args],
        cwd=REPO,
        env=env,
        **popen,
    )


def wait_for(condition, proc: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    """Poll ``condition()`` until it holds; fail when ``proc`` ends first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the child process ended early with code {proc.returncode}")
        time.sleep(0.02)
    raise AssertionError("timed out waiting")


def lines(path: Path) -> int:
    return sum(1 for _ in path.open()) if path.exists() else 0


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file below ``folder``: (size, mtime in ns); folders as (-1, 0)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        key = str(path.relative_to(folder))
        out[key] = (-1, 0) if path.is_dir() else (stat.st_size, stat.st_mtime_ns)
    return out


def children(pid: int) -> set[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"
