"""``summary.json``: the results of a run, as one typed model with a format version.

The runner builds a :class:`RunSummary` and writes it last (:meth:`RunSummary.to_disk`); the
report, ``compare`` and ``check`` read it back with :meth:`RunSummary.from_disk`, which refuses a
file of another :data:`FORMAT_VERSION` (or none) with a message naming the embench that wrote it,
and names any key that is missing or holds a bad value. Keys a model does not declare are kept,
so reading and writing a summary loses nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from embench.errors import DataError
from embench.io import read_json, to_jsonable, write_json
from embench.records import Number, TrialStatus, validation_message

SUMMARY = "summary.json"
FORMAT_VERSION = 1
"""The version of ``summary.json`` this embench writes and reads; raise it on any change that an
older reader would misread (a key renamed, removed or given another meaning)."""


class SummaryError(DataError):
    """A ``summary.json`` that is missing, damaged or of another format version."""


class SummaryModel(BaseModel):
    """Base of the summary's parts: extra keys are kept; ``None`` optional keys left out."""

    model_config = ConfigDict(extra="allow")
    optional: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _leave_out_unset_optional(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in self.optional:
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values, NaN as ``null``; unset optional keys left out at every level."""
        return to_jsonable(self.model_dump())


class ConfigurationResult(SummaryModel):
    """One configuration of the results table: a listed one, or a study's retrained best.

    ``intervals``: value key -> ``{n, population, low, high}`` (the queries scored, the queries
    the exact value scores, the 95% confidence interval of the exact value; ``n <
    population``: a sampled figure). ``index``: how neighbours were searched when the benchmark
    names an ``[index]``: ``{plugin, options, approximate, build_seconds, search_seconds}``
    and, for an approximate index, ``k``, ``recall`` (recall@k against the exact search),
    ``recall_interval`` and ``values`` (the value keys computed through it: approximate).
    """

    optional: ClassVar[frozenset[str]] = frozenset({"metrics", "tables", "intervals", "index"})

    name: str
    embedder: str = ""
    params: dict[str, Any] = {}
    status: TrialStatus
    error: str | None = None
    study: str | None = None
    train_seconds: float = 0.0
    eval_seconds: dict[str, float] = {}
    metrics: dict[str, Number | None] | None = None  # absent when it was not scored
    tables: dict[str, Any] | None = None  # "metric.table": a DataFrame as orient="split"
    marks: dict[str, str] = {}  # value key -> significance marks
    intervals: dict[str, dict[str, Number | None]] | None = None
    index: dict[str, Any] | None = None


class DefaultSummary(SummaryModel):
    optional: ClassVar[frozenset[str]] = frozenset({"objectives", "objective_se", "work"})

    params: dict[str, Any]
    metrics: dict[str, Number | None]
    train_seconds: float
    objectives: list[Number | None] | None = None
    objective_se: list[Number | None] | None = None
    work: float | None = None


class BestTrial(SummaryModel):
    """A chosen configuration of a study: a trial, or the default (``number`` -1)."""

    optional: ClassVar[frozenset[str]] = frozenset({"objective_se"})

    number: int
    params: dict[str, Any]
    objectives: list[Number | None]
    metrics: dict[str, Number | None]
    objective_se: list[Number | None] | None = None


class StudySummary(SummaryModel):
    """A study: trial counts by status, times, the default's record and the chosen trials.

    ``outcome``: ``"improved"`` (a trial beat the default on validation), ``"default"`` (none
    did: the study's result is the default configuration) or ``"no_feasible_trial"``; ``notes``
    say so in words. ``cost``: the work of the default and of all trained trials, and every
    trained trial's predicted vs measured training seconds (``median_error``: of the trials
    trained within budget).
    """

    optional: ClassVar[frozenset[str]] = frozenset({"outcome", "time_mode", "cost"})

    trials: int
    ok: int
    infeasible: int
    failed: int
    skipped: int = 0
    train_seconds: float
    wall_seconds_this_run: float
    optimisation_seconds: float
    journal: str
    default: DefaultSummary
    best: list[BestTrial]
    outcome: str | None = None
    notes: list[str] = []
    time_mode: str | None = None
    cost: dict[str, Any] | None = None


class ScaleResult(SummaryModel):
    """A ``[scale]`` study's chosen configuration retrained on the full training set."""

    rate: float
    study: str
    configuration: str
    optimisation_seconds: float
    status: TrialStatus
    params: dict[str, Any]
    metrics: dict[str, Number | None]


class RunSummary(SummaryModel):
    """What ``summary.json`` holds (written last: its presence means the run finished)."""

    FORMAT_VERSION: ClassVar[int] = FORMAT_VERSION
    FILENAME: ClassVar[str] = SUMMARY
    optional: ClassVar[frozenset[str]] = frozenset(
        {"source", "seed", "threads", "evaluated_on", "started", "finished"}
    )

    format_version: int = FORMAT_VERSION
    benchmark: str
    source: str | None = None
    seed: int | None = None
    threads: int | None = None
    evaluated_on: str | None = None
    started: str | None = None
    finished: str | None = None
    versions: dict[str, Any] = {}
    machine: dict[str, Any] = {}
    dataset: dict[str, Any] = {}
    compared_with: str | None = None
    configurations: list[ConfigurationResult]
    studies: dict[str, StudySummary] = {}
    scale: list[ScaleResult] = []

    def configuration(self, name: str) -> ConfigurationResult | None:
        return next((c for c in self.configurations if c.name == name), None)

    def to_disk(self, path: Path) -> Path:
        """Write ``summary.json`` atomically at ``path`` (a file, or a run directory)."""
        path = Path(path)
        if path.is_dir():
            path = path / SUMMARY
        return write_json(path, self.to_json())

    @classmethod
    def from_disk(cls, path: Path) -> Self:
        """Read ``path`` (a file, or a run directory): :class:`SummaryError` on any problem."""
        path = Path(path)
        if path.is_dir():
            path = path / SUMMARY
        data = read_json(path, "the results of the run", SummaryError)
        return cls.from_json(data, path)

    @classmethod
    def from_json(cls, data: Any, path: Path | str = SUMMARY) -> Self:
        if not isinstance(data, dict):
            raise SummaryError(f"{path}: expected a JSON object, found {type(data).__name__}")
        check_format(data, path)
        missing = [k for k in ("benchmark", "configurations") if k not in data]
        if missing:
            raise SummaryError(f"{path}: lacks {', '.join(missing)}; the file is incomplete")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SummaryError(f"{path}: {validation_message(exc)}") from None


def check_format(data: dict[str, Any], path: Path | str) -> None:
    """Refuse a summary without :data:`FORMAT_VERSION` or with another one."""
    version = data.get("format_version")
    writer = (data.get("versions") or {}).get("embench", "unknown")
    if version is None:
        raise SummaryError(
            f"{path}: no format_version: not written by embench, or by a version older than "
            f"results format {FORMAT_VERSION}"
        )
    if version != FORMAT_VERSION:
        raise SummaryError(
            f"{path}: results format_version {version} (written by embench {writer}), but this "
            f"embench reads format_version {FORMAT_VERSION}; rerun the benchmark with this "
            "version, or use the embench version that wrote the run"
        )
