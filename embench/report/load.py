"""Reading a finished run directory back, read-only, with clear errors.

A run directory (what ``embench run`` writes) holds ``summary.json`` (written last: its presence
means the run finished), ``config.json``, ``per_query/METRIC.parquet``, ``embeddings/NAME/`` and
``studies/NAME/journal.jsonl``. :func:`load_run` checks what the reports need and names whatever
is missing; nothing in the directory is modified (a journal whose last line was cut by an
interrupted write is read without that line, and the report says so).

The summary is read by :meth:`embench.summary.RunSummary.from_disk` and the journals by
:func:`embench.journal.read_journal` (``repair=False``), the same code the runner writes with;
the report's templates get their JSON forms (plain dicts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from embench.errors import DataError, did_you_mean
from embench.io import read_json as _read_json
from embench.journal import FILENAME, JournalContents
from embench.journal import read_journal as _read_journal
from embench.summary import SUMMARY, RunSummary

CONFIG = "config.json"


class RunDirError(DataError):
    """A run directory is missing, incomplete, damaged or from an incompatible version."""


@dataclass
class StudyRecords:
    """One study's journal: its header, the default record and each trial once, by number.

    ``header``, ``default`` and ``trials`` are the records' JSON forms (plain dicts) for the
    report's templates; ``journal`` holds the typed records.
    """

    name: str
    path: Path
    header: dict[str, Any]
    default: dict[str, Any] | None
    trials: list[dict[str, Any]]
    duplicates: int = 0  # records of an already seen trial number (the first one is kept)
    corrupt_tail: bool = False  # the last line was cut by an interrupted write; left out
    journal: JournalContents | None = field(default=None, repr=False)

    @property
    def objectives(self) -> list[dict[str, str]]:
        """``[{"key": ..., "direction": "max"|"min"}]`` ("lambda" for a scalarised study)."""
        return list(self.header.get("objectives") or [])

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


@dataclass
class Run:
    """A finished run directory, loaded."""

    path: Path
    summary: dict[str, Any]  # the JSON form of ``result``
    config: dict[str, Any]
    result: RunSummary | None = field(default=None, repr=False)
    studies: dict[str, StudyRecords] = field(default_factory=dict)
    scale_studies: dict[str, StudyRecords] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _per_query: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return str(self.summary.get("benchmark", self.path.name))

    @property
    def configurations(self) -> list[dict[str, Any]]:
        return list(self.summary["configurations"])

    @property
    def ok_configurations(self) -> list[dict[str, Any]]:
        return [c for c in self.configurations if c.get("status") == "ok"]

    def configuration(self, name: str) -> dict[str, Any]:
        for row in self.configurations:
            if row["name"] == name:
                return row
        names = [c["name"] for c in self.configurations]
        raise RunDirError(
            f"{self.path}: no configuration '{name}' in this run{did_you_mean(name, names)}"
        )

    @property
    def default_name(self) -> str | None:
        """The configuration the others were compared with (summary's ``compared_with``)."""
        return self.summary.get("compared_with")

    @property
    def thresholds(self) -> dict[str, dict[str, Any]]:
        """The benchmark's own ``[thresholds]`` table (empty for runs made before it existed)."""
        return dict(self.config.get("thresholds") or {})

    def value_keys(self) -> list[str]:
        """Every metric value key some configuration reports, in first-seen order."""
        keys: list[str] = []
        for row in self.configurations:
            for key in row.get("metrics") or {}:
                if key not in keys:
                    keys.append(key)
        return keys

    def per_query(self, metric: str) -> pd.DataFrame | None:
        """``per_query/METRIC.parquet`` (None when the metric wrote no per-query values)."""
        if metric not in self._per_query:
            path = self.path / "per_query" / f"{metric}.parquet"
            frame = None
            if path.exists():
                try:
                    frame = pd.read_parquet(path)
                except Exception as exc:
                    raise RunDirError(f"{path}: cannot read the per-query table ({exc})") from None
                if "configuration" not in frame:
                    raise RunDirError(
                        f"{path}: the per-query table lacks the column 'configuration'"
                    )
            self._per_query[metric] = frame
        return self._per_query[metric]


def value(row: dict[str, Any], key: str) -> float:
    """A configuration's value of ``key`` as a float (NaN when missing or null)."""
    raw = (row.get("metrics") or {}).get(key)
    try:
        return float(raw) if raw is not None else math.nan
    except (TypeError, ValueError):
        return math.nan


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object file of the run directory; :class:`RunDirError` when missing or damaged."""
    data = _read_json(path, what, RunDirError)
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def read_journal(path: Path, name: str) -> StudyRecords:
    """A study journal, read-only: a cut last line is left out, any other damage is an error."""
    if not path.exists():
        raise RunDirError(f"{path} is missing (the journal of study '{name}')")
    contents = _read_journal(path, repair=False)
    if contents.header is None:
        raise RunDirError(f"{path}: the journal is empty; it has no study header")
    return StudyRecords(
        name=name,
        path=path,
        header=contents.header.to_json(),
        default=contents.default.to_json() if contents.default is not None else None,
        trials=[t.to_json() for t in contents.unique_trials()],
        duplicates=contents.duplicates,
        corrupt_tail=contents.corrupt_tail,
        journal=contents,
    )


def load_run(path: str | Path, *, journals: bool = True, summary: RunSummary | None = None) -> Run:
    """Load a finished run directory; :class:`RunDirError` names whatever is missing.

    ``journals``: also read every study's journal (needed by the HTML report, not by checks).
    ``summary``: the run's summary when it is not on disk yet (``embench run`` builds the
    report before it writes ``summary.json``, which comes last).
    """
    path = Path(path)
    if not path.exists():
        raise RunDirError(f"{path}: no such run directory")
    if not path.is_dir():
        raise RunDirError(f"{path}: not a directory; expected the output directory of embench run")
    summary_path = path / SUMMARY
    if summary is None and not summary_path.exists():
        started = [p.name for p in (path / "studies", path / CONFIG) if p.exists()]
        hint = (
            "the run was interrupted before it finished (summary.json is written last); "
            "run the same benchmark again to resume and finish it"
            if started
            else "not an embench run directory"
        )
        raise RunDirError(f"{path}: {SUMMARY} is missing: {hint}")
    result = summary if summary is not None else RunSummary.from_disk(summary_path)
    config = read_json(path / CONFIG, "the resolved benchmark configuration")
    run = Run(path=path, summary=result.to_json(), config=config, result=result)
    if journals:
        for name in result.studies:
            run.studies[name] = read_journal(path / "studies" / name / FILENAME, name)
        seen: set[str] = set()
        for row in result.scale:
            folder = f"{row.study}@{row.rate:g}"
            if folder in seen:
                continue
            seen.add(folder)
            journal = path / "studies" / folder / FILENAME
            if journal.exists():
                run.scale_studies[folder] = read_journal(journal, folder)
            else:
                run.notes.append(f"{journal} is missing: no history for study {folder}")
        for study in (*run.studies.values(), *run.scale_studies.values()):
            if study.corrupt_tail:
                run.notes.append(
                    f"{study.path}: the last line was cut by an interrupted write and is left out"
                )
            if study.duplicates:
                run.notes.append(
                    f"{study.path}: {study.duplicates} repeated trial record(s) left out"
                )
    return run
