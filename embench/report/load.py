"""Reading a finished run directory back, read-only, with clear errors.

A run directory (what ``embench run`` writes) holds ``summary.json`` (written last: its presence
means the run finished), ``config.json``, ``per_query/METRIC.parquet``, ``embeddings/NAME/`` and
``studies/NAME/journal.jsonl``. :func:`load_run` checks what the reports need and names whatever
is missing; nothing in the directory is modified (a journal whose last line was cut by an
interrupted write is read without that line, and the report says so).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from embench.errors import DataError, did_you_mean
from embench.report.files import FORMAT_VERSION, SUMMARY

CONFIG = "config.json"
SUMMARY_KEYS = ("benchmark", "configurations")


class RunDirError(DataError):
    """A run directory is missing, incomplete, damaged or from an incompatible version."""


@dataclass
class StudyRecords:
    """One study's journal: its header, the default record and each trial once, by number."""

    name: str
    path: Path
    header: dict[str, Any]
    default: dict[str, Any] | None
    trials: list[dict[str, Any]]
    duplicates: int = 0  # records of an already seen trial number (the first one is kept)
    corrupt_tail: bool = False  # the last line was cut by an interrupted write; left out

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
    summary: dict[str, Any]
    config: dict[str, Any]
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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunDirError(f"{path.parent}: {path.name} is missing ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: cannot read it ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); the file is damaged") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def check_format(summary: dict[str, Any], path: Path) -> None:
    version = summary.get("format_version")
    writer = (summary.get("versions") or {}).get("embench", "unknown")
    if version is None:
        raise RunDirError(
            f"{path}: no format_version: not written by embench, or by a version older than "
            f"results format {FORMAT_VERSION}"
        )
    if version != FORMAT_VERSION:
        raise RunDirError(
            f"{path}: results format_version {version} (written by embench {writer}), but this "
            f"embench reads format_version {FORMAT_VERSION}; rerun the benchmark with this "
            "version, or use the embench version that wrote the run"
        )


def read_journal(path: Path, name: str) -> StudyRecords:
    """A study journal, read-only: a cut last line is left out, any other damage is an error."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing (the journal of study '{name}')") from None
    except OSError as exc:
        raise RunDirError(f"{path}: cannot read it ({exc})") from None
    lines = raw.split(b"\n")
    records: list[dict[str, Any]] = []
    corrupt_tail = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if all(not rest.strip() for rest in lines[number:]):
                corrupt_tail = True
                break
            raise RunDirError(
                f"{path}: line {number} is corrupt and is not the last line; "
                "the journal was edited or damaged"
            ) from None
        if not isinstance(record, dict):
            raise RunDirError(f"{path}: line {number} is not a JSON object")
        records.append(record)
    if not records or records[0].get("kind") != "header":
        raise RunDirError(f"{path}: the first line is not a study header")
    default = next((r for r in records if r.get("kind") == "default"), None)
    trials: dict[int, dict[str, Any]] = {}
    duplicates = 0
    for record in records:
        if record.get("kind") != "trial":
            continue
        number = record.get("number")
        if not isinstance(number, int):
            raise RunDirError(f"{path}: a trial record has no integer 'number'")
        if number in trials:
            duplicates += 1
            continue
        trials[number] = record
    return StudyRecords(
        name=name,
        path=path,
        header=records[0],
        default=default,
        trials=[trials[n] for n in sorted(trials)],
        duplicates=duplicates,
        corrupt_tail=corrupt_tail,
    )


def load_run(path: str | Path, *, journals: bool = True) -> Run:
    """Load a finished run directory; :class:`RunDirError` names whatever is missing.

    ``journals``: also read every study's journal (needed by the HTML report, not by checks).
    """
    path = Path(path)
    if not path.exists():
        raise RunDirError(f"{path}: no such run directory")
    if not path.is_dir():
        raise RunDirError(f"{path}: not a directory; expected the output directory of embench run")
    summary_path = path / SUMMARY
    if not summary_path.exists():
        started = [p.name for p in (path / "studies", path / CONFIG) if p.exists()]
        hint = (
            "the run was interrupted before it finished (summary.json is written last); "
            "run the same benchmark again to resume and finish it"
            if started
            else "not an embench run directory"
        )
        raise RunDirError(f"{path}: {SUMMARY} is missing: {hint}")
    summary = read_json(summary_path, "the results of the run")
    check_format(summary, summary_path)
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise RunDirError(f"{summary_path}: lacks {', '.join(missing)}; the file is incomplete")
    if not isinstance(summary["configurations"], list) or not all(
        isinstance(c, dict) and "name" in c for c in summary["configurations"]
    ):
        raise RunDirError(f"{summary_path}: 'configurations' must be a list of named objects")
    config = read_json(path / CONFIG, "the resolved benchmark configuration")
    run = Run(path=path, summary=summary, config=config)
    if journals:
        for name in summary.get("studies") or {}:
            run.studies[name] = read_journal(path / "studies" / name / "journal.jsonl", name)
        seen: set[str] = set()
        for row in summary.get("scale") or []:
            folder = f"{row.get('study')}@{float(row.get('rate', 0)):g}"
            if folder in seen:
                continue
            seen.add(folder)
            journal = path / "studies" / folder / "journal.jsonl"
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
