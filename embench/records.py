"""Typed records of a study journal: the header, the default's record and one per trial.

Each record is read (:meth:`Record.from_json`) and written (:meth:`Record.to_json`) here and
nowhere else. On disk a record is one JSON object; every field is required there except those
a class lists in ``optional`` (fields added after the first format; absent or ``null`` means
"not recorded", and they are left out when ``None``). Keys a record does not declare are kept
as they are, so a record read and written again loses nothing.

A damaged record (``null``, not an object, a key missing, a value of the wrong type) raises
:class:`RecordError`, a :class:`~embench.errors.DataError` naming where it was read.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from embench.errors import DataError
from embench.io import to_jsonable
from embench.space import Dimension

Number = int | float


class TrialStatus(StrEnum):
    """How a trial ended."""

    OK = "ok"  # trained and scored
    INFEASIBLE = "infeasible"  # over its budget: stopped or measured too slow
    FAILED = "failed"  # a plugin raised or broke its contract
    SKIPPED = "skipped"  # not trained (e.g. predicted to be over its budget)


class RecordError(DataError):
    """A record that is not what embench wrote: null, not an object, a key missing, a bad value."""


def describe(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def validation_message(exc: ValidationError) -> str:
    """A pydantic error as ``'key.sub': problem (found ...)`` items, one per error."""
    items = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "the record"
        found = error.get("input")
        shown = repr(found) if len(repr(found)) <= 60 else repr(found)[:57] + "..."
        text = error["msg"][0].lower() + error["msg"][1:]
        items.append(f"'{where}': {text} (found {shown})")
    return "; ".join(items)


class Record(BaseModel):
    """Base of the journal's records; see the module docstring."""

    model_config = ConfigDict(extra="allow")

    label: ClassVar[str] = "record"
    optional: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def required(cls, data: dict[str, Any]) -> list[str]:
        """The keys ``data`` must have on disk to be a record of this class."""
        return [name for name in cls.model_fields if name not in cls.optional]

    @classmethod
    def from_json(cls, data: Any, where: str) -> Self:
        """Validate a parsed JSON value; :class:`RecordError` names ``where`` and the problem."""
        if not isinstance(data, dict):
            raise RecordError(
                f"{where}: expected a {cls.label} (a JSON object), found {describe(data)}"
            )
        missing = [key for key in cls.required(data) if key not in data]
        if missing:
            keys = ", ".join(f"'{key}'" for key in missing)
            raise RecordError(f"{where}: the {cls.label} lacks {keys}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise RecordError(f"{where}: bad {cls.label}: {validation_message(exc)}") from None

    @model_serializer(mode="wrap")
    def _leave_out_unset_optional(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        for key in self.optional:
            if data.get(key) is None:
                data.pop(key, None)
        return data

    def to_json(self) -> dict[str, Any]:
        """The record as written: plain JSON values, NaN as ``null``, unset optional keys left out."""
        return to_jsonable(self.model_dump())


class StudyHeader(Record):
    """The first line of a journal: everything a resumed study must share with the first run."""

    label: ClassVar[str] = "study header"
    optional: ClassVar[frozenset[str]] = frozenset({"subsample", "time_mode"})

    kind: Literal["header"] = "header"
    study: str
    optimiser: str
    optimiser_options: dict[str, Any]
    embedder: str
    fixed: dict[str, Any]
    space: dict[str, Dimension]
    objectives: list[dict[str, str]]  # [{"key": ..., "direction": "max" | "min"}]
    scalarised: dict[str, Any] | None
    seed: int
    time_budget: float | None
    subsample: float | None = None  # the training subsample rate of a [scale] study
    time_mode: str | None = None  # work | wall | equal (absent: written before work budgets)

    def differences(self, other: StudyHeader) -> list[str]:
        """The keys whose recorded values differ between ``self`` and ``other``."""
        mine, theirs = self.to_json(), other.to_json()
        keys = [*mine, *(k for k in theirs if k not in mine)]
        return [k for k in keys if k != "kind" and mine.get(k) != theirs.get(k)]


class TrialRecord(Record):
    """One finished trial (``kind = "trial"``), or the default configuration's run
    (``kind = "default"``, number -1): its status, params, metric values and objectives.

    ``suggested``: what the optimiser asked (told back on resume); a trial always has it.
    ``objectives``: the study's objectives as the user reads them (not negated); ``None`` (or
    NaN in memory) where there is no value.

    Optional (absent in journals written before them, or when not known): ``fidelity`` (the
    trial's subsample rate / epochs; absent: a full training), ``work`` (the training work its
    params imply, in the embedder's units), ``predicted_seconds`` (the cost model's prediction
    before training), ``train_cpu_seconds`` and ``predicted_cpu_seconds`` (the same in CPU
    seconds of the training process, all threads: steadier than wall clock on a shared
    machine), ``limit`` (the budget it was judged against: work units, or seconds in
    wall-clock mode), ``standard_errors`` (per value key, from per-query values) and
    ``objective_se`` (each objective's standard error).
    """

    label: ClassVar[str] = "trial record"
    optional: ClassVar[frozenset[str]] = frozenset(
        {
            "suggested",
            "fidelity",
            "work",
            "predicted_seconds",
            "train_cpu_seconds",
            "predicted_cpu_seconds",
            "limit",
            "standard_errors",
            "objective_se",
        }
    )

    kind: Literal["trial", "default"] = "trial"
    number: int
    status: TrialStatus
    error: str | None
    params: dict[str, Any]
    metrics: dict[str, Number | None]
    train_seconds: float
    eval_seconds: dict[str, float]
    suggested: dict[str, Any] | None = None
    objectives: list[Number | None]
    fidelity: dict[str, Any] | None = None
    work: float | None = None
    predicted_seconds: float | None = None
    train_cpu_seconds: float | None = None
    predicted_cpu_seconds: float | None = None
    limit: float | None = None
    standard_errors: dict[str, Number | None] | None = None
    objective_se: list[Number | None] | None = None

    @classmethod
    def required(cls, data: dict[str, Any]) -> list[str]:
        keys = super().required(data)
        return [*keys, "suggested"] if data.get("kind", "trial") == "trial" else keys

    @model_validator(mode="after")
    def _trial_was_suggested(self) -> Self:
        if self.kind == "trial" and self.suggested is None:
            raise ValueError("a trial record needs 'suggested' (the params the optimiser asked)")
        return self

    @property
    def feasible(self) -> bool:
        """Trained within budget and every objective a finite number."""
        return self.status == TrialStatus.OK and all(
            v is not None and math.isfinite(v) for v in self.objectives
        )


JOURNAL_RECORDS: dict[str, type[Record]] = {
    "header": StudyHeader,
    "default": TrialRecord,
    "trial": TrialRecord,
}


def parse_record(data: Any, where: str) -> Record:
    """One journal line's parsed JSON as its typed record (by its ``kind``)."""
    if not isinstance(data, dict):
        raise RecordError(
            f"{where}: expected a journal record (a JSON object), found {describe(data)}"
        )
    kind = data.get("kind")
    cls = JOURNAL_RECORDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(JOURNAL_RECORDS)
        found = "no 'kind'" if "kind" not in data else f"kind {kind!r}"
        raise RecordError(f"{where}: a journal record has {found}; expected one of {known}")
    return cls.from_json(data, where)
