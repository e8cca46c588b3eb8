"""The benchmark TOML: pydantic models (unknown keys forbidden) and loading with clear errors."""

from __future__ import annotations

import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from embench.errors import ConfigError, did_you_mean

NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$"
"""Names of the run, configurations and studies: they name folders, so letters, digits, ``_``,
``.`` and ``-``, not starting with ``.`` or ``-`` (no ``.``/``..``, hidden or option-like
names), at most :data:`NAME_MAX` characters."""
NAME_MAX = 100
SEED_MAX = 2**32 - 1  # numpy, gensim and nevergrad seeds are 32-bit
THREADS_MAX = 4096


def admits_bool(annotation: Any) -> bool:
    """Whether a field of this type takes a boolean as such (``bool``, ``Any``, a union or a
    container holding one), rather than as the number 0 or 1."""
    if annotation is bool or annotation is Any or annotation is object:
        return True
    return any(admits_bool(arg) for arg in typing.get_args(annotation))


def takes_numbers(annotation: Any) -> bool:
    """Whether a field of this type holds an ``int`` or a ``float`` somewhere."""
    if annotation in (int, float):
        return True
    return any(takes_numbers(arg) for arg in typing.get_args(annotation))


def bool_for_number(annotation: Any, value: Any) -> bool:
    """``value`` holds a boolean where ``annotation`` wants a number (pydantic would read
    ``true`` as 1: a TOML mistake, never meant)."""
    if admits_bool(annotation) or not takes_numbers(annotation):
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, list | tuple):
        return any(isinstance(item, bool) for item in value)
    if isinstance(value, dict):
        return any(isinstance(item, bool) for item in value.values())
    return False


class Section(BaseModel):
    """A table of the benchmark file: unknown keys, non-finite numbers (``inf``, ``nan``: JSON
    cannot record them) and booleans given for numbers are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_for_number(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        if field is not None and bool_for_number(field.annotation, value):
            raise PydanticCustomError("bool_not_number", "expected a number, not a boolean")
        return value


class BenchmarkSection(Section):
    """``[benchmark]``: what the run is called and what fixes it."""

    name: str = Field(
        pattern=NAME_PATTERN, max_length=NAME_MAX, description="run name; default output runs/NAME"
    )
    description: str = Field("", description="free text shown in reports")
    seed: int = Field(
        0, ge=0, le=SEED_MAX, description="fixes the split, sampling, training and search"
    )
    threads: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=THREADS_MAX,
        description="threads for training/eval",
    )


class DatasetSection(Section):
    """``[dataset]``: which dataset plugin loads the data, and its options."""

    plugin: str = Field(description="dataset plugin name (see `embench plugins`)")
    options: dict[str, Any] = Field(default_factory=dict, description="the plugin's options")


class SplitSection(Section):
    """``[split]``: fractions of whole sequences, and a subsample rate of training sequences."""

    train: float = Field(0.98, ge=0, le=1)
    validation: float = Field(0.01, ge=0, le=1)
    test: float = Field(0.01, ge=0, le=1)
    subsample: float = Field(1.0, gt=0, le=1, description="share of training sequences kept")

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSection:
        total = self.train + self.validation + self.test
        if abs(total - 1) > 1e-9:
            raise ValueError(f"train + validation + test must be 1, found {total:g}")
        if self.train == 0:
            raise ValueError("train must be > 0")
        return self

    @property
    def fractions(self) -> tuple[float, float, float]:
        return (self.train, self.validation, self.test)


class ConfigurationSection(Section):
    """``[[configuration]]``: one embedder configuration to train and evaluate."""

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    embedder: str = Field("word2vec", description="embedder plugin name")
    params: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the embedder's defaults"
    )


class EvaluationSection(Section):
    """``[evaluation]``: which held-out part scores the listed configurations."""

    part: Literal["validation", "test"] = "test"


class IndexSection(Section):
    """``[index]``: the neighbour search behind every metric (``exact``, ``annoy``, ...)."""

    plugin: str = Field("exact", description="neighbour-index plugin name (see `embench plugins`)")
    options: dict[str, Any] = Field(default_factory=dict, description="the plugin's options")
    recall_queries: int = Field(
        1000,
        ge=1,
        description="an approximate index's recall@k is measured against the exact search on "
        "a seeded sample of this many of the requested songs",
    )


class ScalarisedObjective(Section):
    """lambda(a) = a * HitRate + (1 - a) * rVRC, rVRC relative to the default configuration."""

    alpha: float = Field(ge=0, le=1, description="weight of HitRate")
    hitrate: str = Field("hitrate", description="the HitRate value key")
    vrc: str = Field("vrc_genre", description="the VRC value key (vrc_genre or vrc_artist)")


class SpaceOverride(Section):
    """Narrows or extends one dimension of the embedder's declared search space."""

    low: float | None = None
    high: float | None = None
    log: bool | None = None
    integer: bool | None = None


class StudySection(Section):
    """``[[study]]``: a hyper-parameter search with one objective, a scalarisation, or several."""

    name: str = Field(pattern=NAME_PATTERN, max_length=NAME_MAX)
    optimiser: str = Field("nevergrad", description="optimiser plugin name")
    embedder: str = Field("word2vec", description="embedder plugin name")
    budget: int = Field(ge=1, description="number of trials")
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="default: the benchmark seed")
    objective: str | None = Field(
        None, min_length=1, description="one metric value key, e.g. hitrate"
    )
    direction: Literal["max", "min"] | None = Field(
        None, description="for `objective`; default: the metric's own direction"
    )
    scalarised: ScalarisedObjective | None = None
    objectives: list[str] | None = Field(None, min_length=2, description="Pareto search keys")
    space: dict[str, SpaceOverride] = Field(default_factory=dict)
    params: dict[str, Any] = Field(
        default_factory=dict, description="fixed embedder params for every trial"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="the optimiser's options")
    time_budget: float | None = Field(
        1.25, gt=0, description="max training cost relative to the default; none to disable"
    )
    time_mode: Literal["work", "wall", "equal"] = Field(
        "work",
        description="the budget's unit: 'work' (the training work the params imply, the same "
        "on every machine), 'wall' (seconds measured here), 'equal' (each trial's epochs set "
        "so its work matches the default's)",
    )
    fail_fast: bool = Field(False, description="stop the study at the first failed trial")
    executor: Literal["local", "process", "dask"] = "local"
    workers: int = Field(
        1, ge=1, le=THREADS_MAX, description="parallel trials (process and dask executors)"
    )
    scheduler: str | None = Field(None, description="Dask scheduler address; none: LocalCluster")
    final: Literal["all", "best", "none"] = Field(
        "all", description="Pareto points retrained and tested: all, the first, or none"
    )

    @model_validator(mode="after")
    def _one_kind_of_objective(self) -> StudySection:
        given = [x is not None for x in (self.objective, self.scalarised, self.objectives)]
        if sum(given) != 1:
            raise ValueError("give exactly one of objective, scalarised or objectives")
        if self.direction is not None and self.objective is None:
            raise ValueError("direction applies to a single `objective` only")
        if self.objectives is not None and len(set(self.objectives)) != len(self.objectives):
            raise ValueError(f"objectives lists a key twice: {self.objectives}")
        return self


class ScaleSection(Section):
    """``[scale]``: run studies on subsamples of the training sequences (the paper's Table 6)."""

    rates: list[float] = Field(min_length=1, description="subsample rates in (0, 1]")
    studies: list[str] | None = Field(None, description="studies to scale; default all")

    @model_validator(mode="after")
    def _rates_in_range(self) -> ScaleSection:
        bad = [r for r in self.rates if not 0 < r <= 1]
        if bad:
            raise ValueError(f"rates must be in (0, 1], found {bad}")
        folders: dict[str, float] = {}  # a rate's studies live in studies/NAME@RATE (RATE: :g)
        for rate in self.rates:
            shown = scale_label(rate)
            if shown in folders:
                twice = (
                    "twice"
                    if folders[shown] == rate
                    else f"twice ({folders[shown]!r} and {rate!r})"
                )
                raise ValueError(
                    f"rates must differ: {shown} is given {twice}; each rate's studies are "
                    f"kept under studies/NAME@{shown}"
                )
            folders[shown] = rate
        if self.studies is not None and len(set(self.studies)) != len(self.studies):
            raise ValueError(f"studies lists a study twice: {self.studies}")
        return self


def scale_label(rate: float) -> str:
    """How a ``[scale]`` rate names its studies' folders and configurations (``NAME@RATE``)."""
    return f"{rate:g}"


class ReportSection(Section):
    """``[report]``: which songs the report's neighbour explorer and song map show."""

    songs: list[str] = Field(
        default_factory=list,
        max_length=2000,
        description="song ids the explorer offers; default: a seeded sample (`sample`)",
    )
    sample: int = Field(
        200, ge=1, le=2000, description="songs of the default sample (popular and long-tail)"
    )
    k: int = Field(10, ge=1, le=100, description="neighbours shown per song and configuration")
    map_songs: int = Field(
        1500, ge=0, le=10_000, description="songs drawn on the map of each configuration (0: none)"
    )
    map: Literal["pca", "tsne"] = Field(
        "pca", description="the map's 2-D projection: PCA, or t-SNE (slower)"
    )


class BenchmarkConfig(Section):
    """A whole benchmark file."""

    benchmark: BenchmarkSection
    dataset: DatasetSection
    split: SplitSection = Field(default_factory=SplitSection)
    embedders: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="settings shared by every configuration of an embedder, by embedder name",
    )
    configuration: list[ConfigurationSection] = Field(min_length=1)
    metrics: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"next_song": dict[str, Any]()},
        description="metric plugins to compute, by name, with their options",
    )
    evaluation: EvaluationSection = Field(default_factory=EvaluationSection)
    index: IndexSection = Field(default_factory=IndexSection)
    study: list[StudySection] = Field(default_factory=list)
    scale: ScaleSection | None = None
    report: ReportSection = Field(default_factory=ReportSection)
    thresholds: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="per value key: min/max (and relative) bounds applied by `embench check`",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> BenchmarkConfig:
        for kind, items in (("configuration", self.configuration), ("study", self.study)):
            seen: dict[str, str] = {}  # folded name -> name (folders on case-insensitive disks)
            for item in items:
                if item.name in seen.values():
                    raise ValueError(f"{kind} name '{item.name}' is used twice")
                if item.name.casefold() in seen:
                    raise ValueError(
                        f"{kind} names '{seen[item.name.casefold()]}' and '{item.name}' differ "
                        "only in case (their folders would be one on macOS and Windows disks)"
                    )
                seen[item.name.casefold()] = item.name
        for study in self.study:  # a study's results are rows named after it
            pattern = study_result_pattern(study.name)
            others: list[ConfigurationSection | StudySection] = [*self.configuration]
            for other in others + [s for s in self.study if s is not study]:
                if pattern.fullmatch(other.name.casefold()):
                    kind = "configuration" if other in self.configuration else "study"
                    raise ValueError(
                        f"{kind} name '{other.name}' is taken by study '{study.name}', whose "
                        f"retrained best configurations are named {study.name}, "
                        f"{study.name}-p1, {study.name}-p2, ... (and {study.name}@RATE... under "
                        "[scale]); rename one of them"
                    )
        if self.scale and self.scale.studies:
            unknown = set(self.scale.studies) - {s.name for s in self.study}
            if unknown:
                raise ValueError(f"[scale] names unknown studies: {sorted(unknown)}")
        if self.scale and not self.study:
            raise ValueError("[scale] runs the studies on subsamples, but there is no [[study]]")
        if (self.study or self.scale) and self.split.validation == 0:
            raise ValueError(
                "[split] validation = 0 leaves no validation sequences, but studies score "
                "their trials on them; give validation > 0"
            )
        part = self.evaluation.part
        if getattr(self.split, part) == 0:
            raise ValueError(
                f"[split] {part} = 0 leaves no {part} sequences, but [evaluation] part = "
                f'"{part}" scores the configurations on them; give {part} > 0'
                + (' or part = "validation"' if part == "test" else "")
            )
        return self


def study_result_pattern(study: str) -> re.Pattern[str]:
    """The (case-folded) names a study's results take: ``NAME``, ``NAME-pN``, ``NAME@RATE``,
    ``NAME@RATE-pN``."""
    return re.compile(re.escape(study.casefold()) + r"(@[^@]*)?(-p[0-9]+)?")


def load_config(path: str | Path) -> tuple[BenchmarkConfig, str]:
    """Read and validate a benchmark file; returns the model and the raw text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: benchmark file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a benchmark .toml file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the benchmark file ({exc})") from None
    return parse_config(text, source=str(path)), text


def parse_config(text: str, source: str = "<benchmark>") -> BenchmarkConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: malformed TOML: {exc}") from None
    try:
        return BenchmarkConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, BenchmarkConfig)) from None


def format_location(loc: tuple) -> str:
    """``('configuration', 1, 'params')`` -> ``[configuration #2].params``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1] if parts else ''} #{item + 1}"]
        else:
            parts.append(str(item))
    return ".".join(parts) if parts else "(top level)"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str] | None:
    """Field names allowed at ``loc`` inside ``model`` (None when not a model there)."""
    current: Any = model
    for item in loc:
        if isinstance(item, int) or current is None:
            continue
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(item)
            current = field.annotation if field else None
            # list[X] / X | None: step into the model type it contains
            for arg in typing.get_args(current) or ():
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    current = arg
        else:
            return None
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return None


def format_validation_error(
    exc: ValidationError, source: str, model: type[BaseModel], prefix: tuple = ()
) -> str:
    """One line per problem: where (file and key), what was expected, what was found.

    ``prefix`` is the location of ``model``'s section inside the file (for plugin options).
    """
    lines = []
    for error in exc.errors():
        loc = prefix + tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _fields_at(model, loc[len(prefix) : -1]) or []
            where = format_location(loc[:-1])
            lines.append(f"unknown key '{key}' in [{where}]{did_you_mean(key, allowed)}")
            continue
        message = error["msg"]
        if error["type"] == "missing":
            lines.append(f"[{format_location(loc)}] is required but missing")
            continue
        message = message.removeprefix("Value error, ")  # a validator's own sentence
        found = error.get("input")
        shown = f" (found {found!r})" if not isinstance(found, dict | list) else ""
        if not loc:  # a rule across sections: its message names them
            lines.append(message)
            continue
        lines.append(f"[{format_location(loc)}]: {message}{shown}")
    count = f"{len(lines)} problems" if len(lines) > 1 else "1 problem"
    return f"{source}: invalid benchmark ({count}):\n  " + "\n  ".join(lines)
