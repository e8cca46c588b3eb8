"""What a plugin check finds (:class:`Problem`, :class:`CheckReport`, :class:`CheckFailed`) and
what the embedder and metric checks share: the check data and where a plugin raised."""

from __future__ import annotations

import dataclasses
import inspect
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from embench import contract
from embench.data.dataset import Dataset
from embench.data.split import Split, make_split
from embench.data.tiny import make_tiny_dataset
from embench.errors import PluginError
from embench.registry import Origin

CHECK_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class Problem:
    """One finding: ``check`` names what was checked, ``message`` what is wrong."""

    severity: str  # "error" | "warning"
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity} [{self.check}] {self.message}"


@dataclass
class CheckReport:
    """What a check found about one plugin: problems and notes (what was run, how long)."""

    kind: str
    name: str
    plugin: str
    package: str
    version: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def who(self) -> str:
        return contract.describe(
            self.kind, self.name, Origin(self.plugin, self.package, self.version)
        )

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings do not count)."""
        return not self.errors

    def error(self, check: str, message: str) -> None:
        self.problems.append(Problem("error", check, message))

    def warning(self, check: str, message: str) -> None:
        self.problems.append(Problem("warning", check, message))

    def __str__(self) -> str:
        count = len(self.errors)
        verdict = f"{count} contract violation{'s' if count != 1 else ''}" if count else "ok"
        return "\n".join([f"{self.who}: {verdict}", *map(str, self.problems), *self.notes])


class CheckFailed(PluginError):
    """Raised by :func:`check_embedder` / :func:`check_metric` when a plugin breaks the contract;
    ``report`` is the full :class:`CheckReport`."""

    def __init__(self, report: CheckReport) -> None:
        super().__init__(str(report))
        self.report = report


def where_raised(exc: BaseException, cls: type) -> str:
    """`` at FILE:LINE`` of the innermost traceback frame in the plugin's source file."""
    try:
        source = Path(inspect.getsourcefile(cls) or "").resolve()
    except TypeError:
        return ""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == source
    ]
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def cause_of(exc: BaseException) -> BaseException:
    return exc.__cause__ if isinstance(exc, PluginError) and exc.__cause__ else exc


# -- the check data ----------------------------------------------------------------------------
def check_data(seed: int) -> tuple[Dataset, Split]:
    """The tiny dataset (with a play log) and its 80/10/10 split; the training corpus carries
    the dataset's song ids, as the harness passes it to ``fit``."""
    dataset = make_tiny_dataset(seed=seed, play_log=True)
    split = make_split(dataset, CHECK_FRACTIONS, seed=seed)
    if split.train.song_ids is None:
        corpus = dataclasses.replace(split.train, song_ids=dataset.songs["song_id"].to_numpy())
        split = dataclasses.replace(split, train=corpus)
    return dataset, split
