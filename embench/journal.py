"""The study journal: one JSON line per record, flushed and fsynced before the study goes on.

The first line is the :class:`~embench.records.StudyHeader`; then the default configuration's
record and one :class:`~embench.records.TrialRecord` per finished trial. :func:`read_journal` is
the only reader, with an explicit repair mode:

- a crash mid-write leaves a cut last line. With ``repair=True`` (the study, about to append)
  the line is moved to ``journal.jsonl.corrupt`` beside the journal, so the study resumes from
  the last complete trial; with ``repair=False`` (the report, read-only) it is left out and
  reported, and no file is modified;
- any other damage (a corrupt line that is not the last, a ``null`` line, a record lacking keys
  or holding a bad value, no header first) is a :class:`JournalError` naming the file and line,
  in both modes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from embench.errors import DataError
from embench.io import append_line, json_line, write_bytes
from embench.records import Record, RecordError, StudyHeader, TrialRecord, parse_record

FILENAME = "journal.jsonl"
HINT = "the journal was edited or damaged: fix or remove that line, or delete the journal to "
HINT += "start the study afresh"


class JournalError(DataError):
    """A study journal that cannot be read: unreadable, or damaged other than at its end."""


@dataclass
class JournalContents:
    """What a journal holds, typed; ``trials`` are every trial line in file order."""

    path: Path
    header: StudyHeader | None = None
    default: TrialRecord | None = None
    trials: list[TrialRecord] = field(default_factory=list)
    corrupt_tail: bool = False  # the last line was cut by an interrupted write; left out
    set_aside: Path | None = None  # repair mode: the file the cut line was moved to

    @property
    def empty(self) -> bool:
        return self.header is None

    def unique_trials(self) -> list[TrialRecord]:
        """Each trial once, by number (the first record of a number is kept)."""
        seen: dict[int, TrialRecord] = {}
        for record in self.trials:
            seen.setdefault(record.number, record)
        return [seen[n] for n in sorted(seen)]

    @property
    def duplicates(self) -> int:
        """Records of an already seen trial number."""
        return len(self.trials) - len({r.number for r in self.trials})


def read_journal(path: Path, *, repair: bool) -> JournalContents:
    """Read the journal at ``path`` (a missing or empty file reads as an empty journal).

    ``repair``: move a cut last line aside (to ``path.corrupt``) and rewrite the journal without
    it; otherwise leave every file untouched and set ``corrupt_tail``. Other damage raises
    :class:`JournalError` naming the file and the line.
    """
    path = Path(path)
    contents = JournalContents(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return contents
    except OSError as exc:
        raise JournalError(f"{path}: cannot read it ({exc})") from None
    lines = raw.split(b"\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:  # invalid JSON or invalid UTF-8
            if any(rest.strip() for rest in lines[number:]):
                raise JournalError(
                    f"{path}: line {number} is corrupt and is not the last line; {HINT}"
                ) from None
            contents.corrupt_tail = True
            if repair:
                contents.set_aside = _set_aside(path, raw, line)
            break
        where = f"{path}: line {number}"
        try:
            record = parse_record(data, where)
        except RecordError as exc:
            raise JournalError(f"{exc}; {HINT}") from None
        _add(contents, record, where)
    return contents


def _add(contents: JournalContents, record: Record, where: str) -> None:
    if contents.header is None:
        if not isinstance(record, StudyHeader):
            raise JournalError(f"{where}: the first record is not a study header; {HINT}")
        contents.header = record
    elif isinstance(record, TrialRecord):
        if record.kind == "default":
            if contents.default is None:  # the first one counts, as when it was told
                contents.default = record
        else:
            contents.trials.append(record)


def _set_aside(path: Path, raw: bytes, bad_line: bytes) -> Path:
    """Append the cut line to ``path.corrupt``, then rewrite the journal without it."""
    keep = raw[: raw.rfind(bad_line)]
    corrupt = path.with_name(path.name + ".corrupt")
    with open(corrupt, "ab") as handle:
        handle.write(bad_line + b"\n")
    write_bytes(path, keep)
    return corrupt


class Journal:
    """A study's journal file: :meth:`read` it (repairing a cut last line), :meth:`append` to it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.set_aside: Path | None = None

    def exists(self) -> bool:
        return self.path.exists() and self.path.stat().st_size > 0

    def read(self, *, repair: bool = True) -> JournalContents:
        contents = read_journal(self.path, repair=repair)
        self.set_aside = contents.set_aside
        return contents

    def append(self, record: Record) -> None:
        """Append one record durably (flush + fsync) before returning."""
        append_line(self.path, json_line(record.to_json()))
