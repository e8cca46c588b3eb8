"""Files written safely, and values made JSON-ready: the I/O every embench writer shares.

Every results file is written to a temporary name in its own folder, fsynced and renamed into
place (:func:`atomic_path`), so a reader sees the old file or the new one, never half of one.
Journal lines are appended durably (:func:`append_line`: flushed and fsynced before returning).
:func:`to_jsonable` turns numpy scalars, paths, enums and pydantic models into plain JSON values,
and non-finite floats into ``null`` (JSON has no NaN: ``null`` means "not measured").
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from embench.errors import DataError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync and rename it into place.

    The parent folder is created. On an exception the temporary file is removed and ``path``
    is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; results are meant to be shared
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_with(path: Path, writer: Callable[[Path], Any]) -> Path:
    """Write ``path`` atomically: ``writer(tmp)`` fills a temporary file renamed into place."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types; NaN and infinities become ``None``.

    Dict keys become strings; tuples become lists; numpy scalars and arrays, enums, paths and
    pydantic models are converted.
    """
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def json_line(data: Any) -> str:
    """``data`` as one compact JSON line (no newline), NaN written as ``null``."""
    return json.dumps(to_jsonable(data), separators=(",", ":"), allow_nan=False)


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON (NaN as ``null``), written atomically."""
    text = json.dumps(to_jsonable(data), indent=2, sort_keys=False, allow_nan=False)
    return write_with(path, lambda tmp: tmp.write_text(text + "\n", encoding="utf-8"))


def write_text(path: Path, text: str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes(path: Path, data: bytes) -> Path:
    return write_with(path, lambda tmp: tmp.write_bytes(data))


def write_parquet(path: Path, frame) -> Path:
    """A pandas DataFrame as Parquet (without its index), written atomically."""
    return write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def write_npy(path: Path, array: np.ndarray) -> Path:
    """A numpy array as ``.npy``, written atomically."""

    def save(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.save(handle, array)

    return write_with(path, save)


def append_line(path: Path, line: str) -> None:
    """Append ``line`` and a newline to ``path`` durably (flush + fsync) before returning."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_json(path: Path, what: str, error: type[DataError] = DataError) -> Any:
    """The JSON document in ``path``; ``error`` (a DataError) names the file and the problem.

    ``what`` says what the file holds, for the message when it is missing.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path.parent}: {path.name} is missing ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read it ({exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{path}: not valid JSON ({exc}); the file is damaged") from None
