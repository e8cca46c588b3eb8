"""What a trial costs: corpus statistics, work units and a cost model fitted as a study runs.

A study's budget is deterministic by default (``time_mode = "work"``): an embedder declares the
training *work* its params imply (:meth:`embench.Embedder.work`, from the :class:`CorpusStats`
of the training corpus, computed once per corpus), and a trial may cost at most ``time_budget``
times the default configuration's work. The same benchmark then gives the same feasible set on
any machine.

:class:`CostModel` predicts a trial's training seconds from its work before it is trained: a
least-squares line through ``(log work, log seconds)`` of the trials trained so far, refitted
after every trial, with a weak prior that seconds grow in proportion to work (so one trial is
enough to predict). In wall-clock mode the prediction decides whether a candidate is worth
training; in every mode it is recorded beside the measured seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from embench.data.dataset import Sequences

TIME_MODES = ("work", "wall", "equal")
"""``work``: the budget is in work units (deterministic; the default); ``wall``: in seconds of
training measured on this machine; ``equal``: every trial's epochs are set so that its work
matches the default configuration's (the paper's "training times approximately equal")."""

SKIP_FACTOR = 20
"""A study stops after ``SKIP_FACTOR x budget`` candidates predicted over budget (skipped)."""


@dataclass(frozen=True, eq=False)
class CorpusStats:
    """Statistics of one training corpus, computed once (:func:`corpus_stats`) and handed to
    :meth:`embench.Embedder.work`.

    ``pairs_at_distance[k]``: the number of ordered position pairs ``(i, i + k)`` inside one
    sequence (``k = 0`` holds 0), i.e. ``sum over sequences of max(length - k, 0)``.
    """

    sequences: int
    tokens: int
    songs: int  # distinct songs in the corpus
    pairs_at_distance: np.ndarray = field(repr=False)

    @property
    def mean_length(self) -> float:
        return self.tokens / self.sequences if self.sequences else 0.0

    def context_pairs(self, window: int) -> float:
        """Expected (centre, context) pairs of one pass of a skip-gram over the corpus when the
        effective window of each centre is drawn uniformly from ``1..window`` (word2vec's
        "reduced window"), and contexts stop at the sequence's ends."""
        window = int(window)
        if window < 1:
            return 0.0
        # pairs within distance w, both directions: 2 * cumulative[w]
        cumulative = np.cumsum(self.pairs_at_distance, dtype=np.float64)
        top = len(cumulative) - 1
        within = 2.0 * cumulative[np.minimum(np.arange(1, window + 1), top)]
        return float(within.mean())

    def mean_effective_window(self, window: int) -> float:
        """Context songs per side per token, on average (``context_pairs / (2 tokens)``)."""
        return self.context_pairs(window) / (2 * self.tokens) if self.tokens else 0.0

    def as_dict(self) -> dict[str, float]:
        """The scalar statistics (for journals and summaries)."""
        return {
            "sequences": self.sequences,
            "tokens": self.tokens,
            "songs": self.songs,
            "mean_length": round(self.mean_length, 4),
        }


def compute_corpus_stats(corpus: Sequences) -> CorpusStats:
    """The :class:`CorpusStats` of ``corpus`` (use :func:`corpus_stats`, which remembers them)."""
    lengths = corpus.lengths
    tokens = int(lengths.sum())
    longest = int(lengths.max()) if len(lengths) else 0
    histogram = np.bincount(lengths, minlength=longest + 1).astype(np.float64)
    # pairs at distance k = sum_n h[n] * max(n - k, 0) = sum_{n > k} h[n] * n - k * sum_{n > k} h[n]
    n = np.arange(longest + 1, dtype=np.float64)
    above_count = np.cumsum(histogram[::-1])[::-1]  # sum_{n >= k} h[n]
    above_tokens = np.cumsum((histogram * n)[::-1])[::-1]  # sum_{n >= k} h[n] * n
    k = np.arange(longest + 1, dtype=np.float64)
    # sum over n > k == sum over n >= k + 1
    count_gt = np.append(above_count[1:], 0.0)
    tokens_gt = np.append(above_tokens[1:], 0.0)
    pairs = tokens_gt - k * count_gt
    pairs[0] = 0.0
    return CorpusStats(
        sequences=len(corpus),
        tokens=tokens,
        songs=int(len(np.unique(corpus.songs))) if tokens else 0,
        pairs_at_distance=pairs,
    )


def corpus_stats(corpus: Sequences) -> CorpusStats:
    """The statistics of ``corpus``, computed once per corpus object and then remembered."""
    return corpus.memo(("embench.cost", "corpus_stats"), lambda: compute_corpus_stats(corpus))


@dataclass
class CostModel:
    """Predicts training seconds from work: ``log(seconds) = a + b log(work)``.

    Least squares over every observed ``(work, seconds)``, with a ridge prior pulling the slope
    ``b`` towards 1 (seconds proportional to work) of weight :attr:`prior` (in squared log units):
    one observation gives the proportional model, more of them bend it. Refit after each
    observation (:meth:`observe`); :meth:`predict` is None before the first one.
    """

    prior: float = 1.0
    works: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    intercept: float = math.nan
    slope: float = 1.0

    def observe(self, work: float | None, seconds: float) -> None:
        """Add one trained trial (ignored when its work or seconds is not a positive number)."""
        if work is None or not (work > 0 and math.isfinite(work)):
            return
        if not (seconds > 0 and math.isfinite(seconds)):
            return
        self.works.append(float(work))
        self.seconds.append(float(seconds))
        self._fit()

    def _fit(self) -> None:
        x = np.log(np.asarray(self.works))
        y = np.log(np.asarray(self.seconds))
        dx, dy = x - x.mean(), y - y.mean()
        self.slope = float((dx @ dy + self.prior) / (dx @ dx + self.prior))
        self.intercept = float(y.mean() - self.slope * x.mean())

    @property
    def fitted(self) -> bool:
        return bool(self.works)

    def predict(self, work: float | None) -> float | None:
        """Predicted training seconds of ``work`` units (None before any observation)."""
        if not self.fitted or work is None or not (work > 0 and math.isfinite(work)):
            return None
        return float(math.exp(self.intercept + self.slope * math.log(work)))

    def as_dict(self) -> dict[str, float | int]:
        return {
            "observations": len(self.works),
            "intercept": round(self.intercept, 6) if self.fitted else math.nan,
            "slope": round(self.slope, 6),
        }


def relative_errors(predicted: Sequence[float | None], measured: Sequence[float]) -> np.ndarray:
    """``|predicted - measured| / measured`` of every pair with both numbers positive."""
    out = [
        abs(p - m) / m
        for p, m in zip(predicted, measured, strict=True)
        if p is not None and m and m > 0 and math.isfinite(p)
    ]
    return np.asarray(out, dtype=float)
