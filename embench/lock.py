"""One writer per output directory: an exclusive lock file that the kernel releases when the
process holding it ends, however it ends (exit, exception, Ctrl-C, SIGKILL).

``embench run`` takes :class:`OutputLock` on its output directory before it reads or writes
anything there. The lock is ``flock(LOCK_EX | LOCK_NB)`` on ``DIR/.embench.lock``; the file holds
who holds it (pid, host, start time, command line) so that a second run is refused with a
message naming the first one (:class:`LockedError`, exit code 2). A lock file left behind by a
killed run holds no lock (the kernel dropped it with the process) and is simply taken over.

The file is removed when the lock is released normally, while still held, and a run that takes
the lock checks that the file it locked is still the one at the path (else it locks again), so
removing it never lets two runs in.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embench.errors import EmbenchError

LOCK_FILE = ".embench.lock"


class LockedError(EmbenchError):
    """Another process writes into the output directory."""


def holder_info() -> dict[str, Any]:
    """What the lock file records about this process."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["embench", *sys.argv[1:]]) if sys.argv else "embench",
    }


def describe_holder(text: str) -> str:
    """The lock file's content, in words (whatever it holds)."""
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return "another process (it recorded nothing readable)"
    parts = [f"pid {info.get('pid', '?')}"]
    if info.get("host"):
        parts.append(f"on {info['host']}")
    if info.get("started"):
        parts.append(f"since {info['started']}")
    text = "process " + " ".join(parts)
    if info.get("command"):
        text += f" ({info['command']})"
    return text


class OutputLock:
    """The exclusive lock of one output directory (a context manager).

    ``acquire`` creates the directory (and the missing folders above it) and remembers which
    folders it created; ``release(remove_created=True)`` removes those again when they are
    still empty, so a run refused before it wrote anything leaves nothing behind.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.path = self.directory / LOCK_FILE
        self.fd: int | None = None
        self.created: list[Path] = []

    @property
    def held(self) -> bool:
        return self.fd is not None

    def acquire(self) -> OutputLock:
        if self.fd is not None:
            return self
        self._make_directory()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = describe_holder(_read_all(fd))
                os.close(fd)
                raise LockedError(
                    f"{self.directory} is in use by another embench run: {holder}. Wait for it "
                    "to finish (or stop it), or give another --output directory"
                ) from None
            except OSError as exc:
                os.close(fd)
                raise EmbenchError(
                    f"{self.path}: cannot lock the output directory ({exc})"
                ) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder removed the file after we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(holder_info()) + "\n").encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def release(self, *, remove_created: bool = False) -> None:
        """Remove the lock file and drop the lock; ``remove_created``: also remove the
        folders :meth:`acquire` created, where they are empty."""
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)  # while still held: see the module docstring
        os.close(self.fd)
        self.fd = None
        if remove_created:
            for folder in reversed(self.created):
                try:
                    folder.rmdir()
                except OSError:
                    break
            self.created = []

    def _make_directory(self) -> None:
        missing = []
        folder = self.directory
        while not folder.exists() and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for folder in reversed(missing):
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise EmbenchError(
                    f"{folder}: cannot create the output directory ({exc})"
                ) from None
            self.created.append(folder)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


def _read_all(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", "replace")
    except OSError:
        return ""


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
