"""``embench check``: a run's metric values against thresholds (for CI).

Thresholds come from the benchmark's own ``[thresholds]`` table (recorded in the run's
``config.json``) and from ``--thresholds FILE.toml`` (a ``[thresholds]`` table, or a file whose
top-level tables are the thresholds). One entry per metric value key::

    [thresholds]
    hitrate = { min = 0.10 }                         # every ok configuration
    hardneg = { max = 0.30, configuration = "default" }
    vrc_genre = { min_relative = -0.05 }             # at most 5% below the --baseline run
    ndcg = { min = 0.02, configuration = ["default", "music"] }

``min``/``max`` are absolute bounds (inclusive). ``min_relative = r`` asks for at least
``baseline + r x |baseline|`` and ``max_relative = r`` for at most that, where ``baseline`` is
the same configuration's value in the run given by ``--baseline RUN_DIR``; a configuration the
baseline lacks (or has no value for) is skipped and reported. A missing (NaN) value, or a named
configuration that failed, violates its thresholds.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator
from rich.table import Table

from embench.errors import ConfigError, did_you_mean
from embench.report.load import Run, value

BOUNDS = ("min", "max", "min_relative", "max_relative")
BENCHMARK_SOURCE = "benchmark [thresholds]"


class Threshold(BaseModel):
    """The bounds of one metric value key."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # nan/inf bound no value

    min: float | None = None
    max: float | None = None
    min_relative: float | None = None
    max_relative: float | None = None
    configuration: str | list[str] | None = None

    @field_validator(*BOUNDS, mode="before")
    @classmethod
    def _not_a_boolean(cls, value: Any) -> Any:
        if isinstance(value, bool):  # pydantic would read true as 1.0
            raise ValueError("expected a number, not a boolean")
        return value

    @model_validator(mode="after")
    def _some_bound(self) -> Threshold:
        if all(getattr(self, b) is None for b in BOUNDS):
            raise ValueError(f"give at least one of {', '.join(BOUNDS)}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        return self

    @property
    def relative(self) -> bool:
        return self.min_relative is not None or self.max_relative is not None

    @property
    def configurations(self) -> list[str] | None:
        if self.configuration is None:
            return None
        return [self.configuration] if isinstance(self.configuration, str) else self.configuration


@dataclass
class Rule:
    metric: str
    threshold: Threshold
    source: str


@dataclass
class Check:
    """One bound applied to one configuration's value."""

    configuration: str
    metric: str
    bound: str  # min, max, min_relative, max_relative
    value: float
    limit: float
    source: str
    baseline: float | None = None
    share: float | None = None  # of a relative bound
    problem: str | None = None  # why it fails when not a plain out-of-bound value

    @property
    def ok(self) -> bool:
        if self.problem is not None or math.isnan(self.value):
            return False
        return (
            self.value >= self.limit if self.bound.startswith("min") else self.value <= self.limit
        )

    def describe_bound(self) -> str:
        if math.isnan(self.limit):
            return "-"
        sign = ">=" if self.bound.startswith("min") else "<="
        text = f"{sign} {self.limit:.6g}"
        if self.baseline is not None and self.share is not None:
            text += f" (baseline {self.baseline:.6g} {self.share:+.1%})"
        return text

    def describe_value(self) -> str:
        if self.problem is not None:
            return self.problem
        return "not measured (NaN)" if math.isnan(self.value) else f"{self.value:.6g}"


@dataclass
class CheckResult:
    run: Path
    checks: list[Check] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    @property
    def passed(self) -> bool:
        return not self.violations

    def summary_line(self) -> str:
        configurations = len({c.configuration for c in self.checks})
        metrics = len({c.metric for c in self.checks})
        if self.passed:
            text = (
                f"check passed: {len(self.checks)} bound(s) on {metrics} metric(s) of "
                f"{configurations} configuration(s) hold ({self.run})"
            )
        else:
            text = (
                f"check failed: {len(self.violations)} of {len(self.checks)} bound(s) violated "
                f"({self.run})"
            )
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "run": str(self.run),
            "passed": self.passed,
            "checks": [
                {
                    "configuration": c.configuration,
                    "metric": c.metric,
                    "bound": c.bound,
                    "value": None if math.isnan(c.value) else c.value,
                    "limit": c.limit,
                    "baseline": c.baseline,
                    "source": c.source,
                    "ok": c.ok,
                    "problem": c.problem,
                }
                for c in self.checks
            ],
            "skipped": self.skipped,
        }


def parse_thresholds(table: Any, source: str) -> list[Rule]:
    """Validate a thresholds table; :class:`ConfigError` names the entry and the problem."""
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: thresholds must be a table of metric value keys")
    rules = []
    for metric, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{source}: thresholds.{metric} must be a table such as "
                f"{{ min = 0.1 }}, found {entry!r}"
            )
        try:
            threshold = Threshold.model_validate(entry)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(x) for x in error["loc"])
                if error["type"] == "extra_forbidden":
                    key = str(error["loc"][-1])
                    fields = [*BOUNDS, "configuration"]
                    problems.append(f"unknown key '{key}'{did_you_mean(key, fields)}")
                else:
                    message = error["msg"].removeprefix("Value error, ")
                    problems.append(f"{where}: {message}" if where else message)
            raise ConfigError(f"{source}: thresholds.{metric}: {'; '.join(problems)}") from None
        rules.append(Rule(metric, threshold, source))
    return rules


def read_thresholds_file(path: str | Path) -> list[Rule]:
    """A TOML file holding a ``[thresholds]`` table (a benchmark file works too), or whose
    top-level tables are the thresholds."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: thresholds file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the thresholds file ({exc})") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    table = document.get("thresholds", document)
    if not table:
        raise ConfigError(f"{path}: no thresholds in the file")
    return parse_thresholds(table, str(path))


def check_run(run: Run, rules: list[Rule], baseline: Run | None = None) -> CheckResult:
    """Apply ``rules`` to ``run`` (relative bounds against ``baseline``)."""
    result = CheckResult(run.path)
    known = run.value_keys()
    names = [c["name"] for c in run.configurations]
    for rule in rules:
        if rule.metric not in known and run.ok_configurations:
            raise ConfigError(
                f"{rule.source}: thresholds.{rule.metric}: no configuration of the run "
                f"{run.path} reports '{rule.metric}'{did_you_mean(rule.metric, known)}"
            )
        if rule.threshold.relative and baseline is None:
            bound = "min_relative" if rule.threshold.min_relative is not None else "max_relative"
            raise ConfigError(
                f"{rule.source}: thresholds.{rule.metric}.{bound} is relative to a baseline "
                "run: give --baseline RUN_DIR"
            )
        wanted = rule.threshold.configurations
        for name in wanted or []:
            if name not in names:
                raise ConfigError(
                    f"{rule.source}: thresholds.{rule.metric}: the run {run.path} has no "
                    f"configuration '{name}'{did_you_mean(name, names)}"
                )
        rows = (
            [run.configuration(n) for n in wanted] if wanted is not None else run.ok_configurations
        )
        if not rows:
            problem = "no ok configuration to check"
            result.checks.append(
                Check("(none)", rule.metric, "-", math.nan, math.nan, rule.source, problem=problem)
            )
            continue
        for row in rows:
            result.checks += checks_of(rule, row, baseline, result.skipped)
    return result


def checks_of(rule: Rule, row: dict[str, Any], baseline: Run | None, skipped: list[str]):
    threshold, name = rule.threshold, row["name"]
    problem = None
    if row.get("status") != "ok":
        problem = f"configuration {row.get('status', 'not ok')}: {row.get('error') or ''}".strip()
    x = value(row, rule.metric)
    out = []
    for bound in ("min", "max"):
        limit = getattr(threshold, bound)
        if limit is not None:
            out.append(Check(name, rule.metric, bound, x, limit, rule.source, problem=problem))
    for bound in ("min_relative", "max_relative"):
        share = getattr(threshold, bound)
        if share is None:
            continue
        base = math.nan
        if baseline is not None and name in {c["name"] for c in baseline.configurations}:
            base = value(baseline.configuration(name), rule.metric)
        if math.isnan(base):
            skipped.append(
                f"{name}.{rule.metric} {bound}: the baseline {baseline.path if baseline else ''} "
                f"has no value for configuration '{name}'"
            )
            continue
        limit = base + share * abs(base)
        out.append(
            Check(name, rule.metric, bound, x, limit, rule.source, base, share, problem=problem)
        )
    return out


def gather_rules(run: Run, thresholds_file: str | Path | None) -> list[Rule]:
    """The benchmark's own thresholds, then those of ``thresholds_file``."""
    rules = parse_thresholds(run.thresholds, BENCHMARK_SOURCE)
    if thresholds_file is not None:
        rules += read_thresholds_file(thresholds_file)
    if not rules:
        raise ConfigError(
            f"no thresholds to check for {run.path}: add a [thresholds] table to the benchmark "
            "file (e.g. hitrate = { min = 0.1 }) or give --thresholds FILE.toml"
        )
    return rules


def violations_table(result: CheckResult):
    table = Table(title=f"threshold violations ({len(result.violations)})")
    for column in ("configuration", "metric", "value", "required", "source"):
        table.add_column(column, justify="right" if column in ("value", "required") else "left")
    for c in result.violations:
        table.add_row(c.configuration, c.metric, c.describe_value(), c.describe_bound(), c.source)
    return table
