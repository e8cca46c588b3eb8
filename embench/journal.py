"""The study journal: one JSON line per finished trial, flushed and fsynced before going on.

A crash mid-write leaves a truncated last line; reading sets it aside (``.corrupt`` file beside
the journal) instead of failing, so the study resumes from the last complete trial.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from embench.errors import DataError
from embench.report.files import _jsonable


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.set_aside: Path | None = None

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def read(self) -> list[dict[str, Any]]:
        """All complete records; a corrupt *last* line is moved aside, any other is an error."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        records: list[dict[str, Any]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                is_last = all(not rest.strip() for rest in lines[number:])
                if not is_last:
                    raise DataError(
                        f"{self.path}: line {number} is corrupt and is not the last line; "
                        "the journal was edited or damaged, fix or remove it"
                    ) from None
                self._set_aside(raw, line)
                break
        return records

    def _set_aside(self, raw: bytes, bad_line: bytes) -> None:
        keep = raw[: raw.rfind(bad_line)]
        corrupt = self.path.with_name(self.path.name + ".corrupt")
        with open(corrupt, "ab") as handle:
            handle.write(bad_line + b"\n")
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(keep)
        os.replace(tmp, self.path)
        self.set_aside = corrupt

    def append(self, record: dict[str, Any]) -> None:
        """Append one record durably (flush + fsync) before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(_jsonable(record), separators=(",", ":"), allow_nan=False)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
