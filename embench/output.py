"""The run directory: what a run writes there, checked before it writes, and the in-progress marker.

A folder with ``summary.json`` is always one consistent run: :func:`mark_in_progress` puts the
marker in and takes the old ``summary.json`` out before anything else is rewritten.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

from embench import fingerprint
from embench.errors import ConfigError, DataError
from embench.io import read_json, write_json
from embench.journal import FILENAME as JOURNAL
from embench.lock import holder_info
from embench.summary import SUMMARY

RUNNING = "running.json"
"""The in-progress marker: present from before a run rewrites anything until its
``summary.json`` is written; it records the run's fingerprint and who runs it."""
CONFIG = "config.json"
EMBEDDING_FILES = ("vectors.npy", "songs.parquet")


def check_previous_run(output: Path, current: dict[str, Any]) -> None:
    """The folder's earlier run, finished (``summary.json``) or interrupted (the
    in-progress marker), has this run's fingerprint; else a FingerprintError."""
    for name, what in ((SUMMARY, "the results"), (RUNNING, "an interrupted run's marker")):
        path = output / name
        if not path.exists():
            continue
        try:
            recorded = read_json(path, what)
        except DataError as exc:
            raise DataError(
                f"{exc}. It is needed to tell whether this benchmark is the one that wrote "
                f"the folder: delete it to rerun into the folder (the studies' journals "
                "still refuse other settings), or give another --output"
            ) from None
        found = recorded.get("fingerprint") if isinstance(recorded, dict) else None
        fresh = f"use another --output directory, or delete {output}"
        if not isinstance(found, dict):
            raise fingerprint.FingerprintError(
                f"{path}: records no run fingerprint (written by an older embench, or not "
                "by embench): cannot tell whether this benchmark and data are the ones "
                f"that wrote it, so they are not mixed; to start afresh, {fresh}"
            )
        changed = fingerprint.changes(found, current)
        if changed:
            keys = fingerprint.differing(found, current)
            raise fingerprint.refusal(
                "the run in this folder was started with a different " + fingerprint.topics(keys),
                str(path),
                changed,
                fresh,
            )
        return  # summary.json checked: a marker beside it is from the same run


def mark_in_progress(output: Path, current: dict[str, Any] | None) -> None:
    """Before anything is rewritten: the marker in, the old ``summary.json`` out."""
    write_json(
        output / RUNNING,
        {
            "running": "this run has not finished; run the same command to resume it",
            **holder_info(),
            "fingerprint": current,
        },
    )
    with contextlib.suppress(FileNotFoundError):
        os.unlink(output / SUMMARY)
    fsync_directory(output)


def mark_finished(output: Path) -> None:
    """After ``summary.json`` is written: the in-progress marker out, durably."""
    os.unlink(output / RUNNING)
    fsync_directory(output)


def remove_stale_embeddings(folder: Path, names: set[str]) -> None:
    """Remove ``embeddings/NAME`` folders of configurations this run no longer has (a study's
    Pareto front that shrank): the folder holds this run's embeddings only."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.name not in names and path.is_dir() and (path / "vectors.npy").exists():
            shutil.rmtree(path)


def fsync_directory(path: Path) -> None:
    """Make renames and removals in ``path`` durable (where the platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_output(output: Path, layout: tuple[list[str], list[str]]) -> None:
    """The output directory can be written as ``layout`` (folders, files) says, checked
    before anything is written: a file where a folder must go (the output itself, a folder
    above it or inside it), a folder where a file must go, or a folder this process cannot
    write is a ConfigError naming the path."""
    output = Path(output)
    folders, files = layout
    existing = output
    while not existing.exists():  # the nearest existing folder above it must be writable
        if existing == existing.parent:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        kind = "the output directory" if existing == output else f"a folder of {output}"
        raise ConfigError(
            f"{existing} is a file, not a folder, but it is {kind}; give another --output"
        )
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{existing}: no permission to write in this folder (read-only?); give a writable --output"
        )
    if existing != output:
        return
    for name in folders:
        path = output / name
        if path.exists() and not path.is_dir():
            raise ConfigError(
                f"{path} is a file where embench must write a folder; move it away or give "
                "another --output"
            )
        if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            raise ConfigError(f"{path}: no permission to write in this folder")
    for name in files:
        path = output / name
        if path.is_dir():
            raise ConfigError(
                f"{path} is a folder where embench must write a file; move it away or give "
                "another --output"
            )
        if name.endswith(JOURNAL) and path.exists() and not os.access(path, os.W_OK):
            raise ConfigError(f"{path}: no permission to append to this journal")
