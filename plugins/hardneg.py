"""HardNeg: how many of a song's nearest neighbours are false neighbours (DESIGN.md s.4).

A *bigram* is one pair of adjacent songs ``(s_i, s_i+1)`` of a training sequence (the training
corpus ``ctx.split.train``, last songs masked). Pairs are unordered: every bigram is read in both
directions, so the ``N`` bigrams give ``2N`` directed bigrams, and the co-occurrences ``n_ab`` of
two distinct songs count the bigrams ``(a, b)`` and ``(b, a)``. With ``n_a`` the directed bigrams
starting with ``a`` (the occurrences of ``a`` next to any song; a repeat ``(a, a)`` counts
twice), the 2x2 contingency table of the pair against all bigrams is::

                         ends with b          ends with another song
    starts with a        n_ab                 n_a - n_ab
    another song         n_b - n_ab           2N - n_a - n_b + n_ab

and Pearson's chi-squared statistic (no continuity correction) is
``T (T n_ab - n_a n_b)^2 / (n_a n_b (T - n_a) (T - n_b))`` with ``T = 2N``.

Why both directions: songs that are adjacent only by chance then co-occur as often as the table
expects (``n_a n_b / 2N``), and the statistic follows chi-squared with one degree of freedom. A
table of undirected bigrams (``N`` rows, "contains a" x "contains b") would expect twice the
chance co-occurrences, so a pair adjacent by pure chance would look significantly *rare*.

A pair is a *hard negative* when it co-occurs at least ``min_cooccurrence`` times and its
statistic is below the threshold: the songs were played next to each other, but no more often
than chance would have it. Two readings of the threshold (option ``threshold``):

- ``"paper"`` (the default): the paper's footnote, ``chi2 < 1e-7 x`` the total song
  occurrences of the training corpus (``chi2_rate`` sets the factor). As ``chi2 / 2N`` is the
  squared phi coefficient of the table, this bounds the *strength* of the association, so it
  scales with the data: a large corpus flags pairs that a small one cannot tell from chance.
- ``"p_value"``: the pair is not significant at ``p_value`` (one degree of freedom; p = 0.05
  gives 3.841), whatever the size of the corpus.

A pair whose statistic is undefined (a song in every bigram) is never flagged.

HardNeg is the mean, over songs, of the share of the song's top-``k`` neighbours that are its hard
negatives (lower is better). The songs scored are those played in the training corpus (all of
them, or a seeded sample of ``max_songs`` when there are more), so that every configuration is
scored on the same songs; a scored song without a vector has no neighbours and is left out of
the mean (its share is NaN in the per-query table). The share's denominator is the number of
neighbours the song has (``k``, or fewer in a catalogue smaller than ``k + 1``). The value
carries its sample size and 95% confidence interval (:mod:`embench.sampling`); the default
``max_songs`` keeps its standard error at most ``0.5 / sqrt(20,000) = 0.0035`` (a share lies in
[0, 1]; as shares are small, far less in practice). The sample is the played songs' shared one
(``EvalContext.sample_played_songs``): the health metric's queries are drawn from it too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from rich.console import Console
from rich.table import Table

import embench
from embench.benchmark import load_benchmark
from embench.data.songs import find_song
from embench.data.split import make_split
from embench.errors import DataError
from embench.report.console import print_full
from embench.sampling import mean

CHUNK = 20_000  # query songs looked up at once; bounds memory at CHUNK x k keys


class HardNegOptions(embench.Options):
    k: int = Field(100, ge=1, description="neighbours of each song inspected")
    threshold: Literal["paper", "p_value"] = Field(
        "paper",
        description='how a pair\'s chi-squared statistic counts as chance: "paper" (below '
        'chi2_rate x the total song occurrences, the paper\'s footnote) or "p_value" (not '
        "significant at p_value)",
    )
    chi2_rate: float = Field(
        1e-7,
        gt=0,
        description='threshold = "paper": chance pairs have a statistic below this share of '
        "the total song occurrences of the training corpus",
    )
    p_value: float = Field(
        0.05,
        gt=0,
        lt=1,
        description='threshold = "p_value": the significance level; pairs whose chi-squared '
        "statistic stays below its critical value (1 degree of freedom, 3.841 for 0.05) are "
        "chance pairs",
    )
    min_cooccurrence_rate: float = Field(
        1e-7,
        ge=0,
        description="a hard negative co-occurs at least this share of the total song "
        "occurrences of the training corpus (and at least once)",
    )
    min_cooccurrence: float | None = Field(
        None,
        ge=1,
        description="absolute minimum co-occurrences; overrides min_cooccurrence_rate when set",
    )
    max_songs: int = Field(
        20_000,
        ge=1,
        description="score at most this many songs (a seeded sample when the training "
        "corpus plays more): the standard error stays <= 0.5 / sqrt(20,000) = 0.0035",
    )

    @model_validator(mode="after")
    def _no_option_of_the_other_reading(self) -> HardNegOptions:
        # Defaults pass, so a dumped (resolved) configuration validates again.
        other, reading = (
            ("p_value", "p_value") if self.threshold == "paper" else ("chi2_rate", "paper")
        )
        value = getattr(self, other)
        if value != type(self).model_fields[other].default:
            raise ValueError(
                f'{other} = {value} applies to threshold = "{reading}", but threshold is '
                f'"{self.threshold}"'
            )
        return self


@dataclass(frozen=True, eq=False)
class BigramStatistics:
    """Co-occurrence counts and chi-squared statistics of every unordered pair of distinct songs.

    A pair ``first < second`` is the int64 key ``first * n_songs + second``; ``keys`` is sorted
    (no Python object per pair).
    """

    n_songs: int
    keys: np.ndarray  # int64, sorted
    count: np.ndarray  # co-occurrences (int32, or int64 for corpora of 2**31 bigrams or more)
    chi2: np.ndarray  # float64, NaN when undefined
    marginal: np.ndarray  # int64: directed bigrams starting with each song
    n_bigrams: int  # undirected bigrams N (the table total is 2N)
    n_events: int  # song occurrences of the corpus

    @property
    def first(self) -> np.ndarray:
        return self.keys // self.n_songs

    @property
    def second(self) -> np.ndarray:
        return self.keys % self.n_songs


def chi2_2x2(co: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, total: int) -> np.ndarray:
    """Pearson's chi-squared of the tables ``[[co, n_a-co], [n_b-co, total-n_a-n_b+co]]``.

    Vectorised closed form, no continuity correction; NaN where a margin is zero.
    """
    co = np.asarray(co, dtype=np.float64)
    n_a = np.asarray(n_a, dtype=np.float64)
    n_b = np.asarray(n_b, dtype=np.float64)
    total = float(total)
    denominator = n_a * n_b * (total - n_a) * (total - n_b)
    numerator = total * (total * co - n_a * n_b) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def _unordered_bigrams(corpus) -> tuple[np.ndarray, np.ndarray]:
    x, y = corpus.consecutive_pairs()
    return np.minimum(x, y), np.maximum(x, y)


def _marginals(a: np.ndarray, b: np.ndarray, n_songs: int) -> np.ndarray:
    """Directed bigrams starting with each song: its occurrences next to any song."""
    return np.bincount(a, minlength=n_songs) + np.bincount(b, minlength=n_songs)


def corpus_bigram_statistics(corpus, n_songs: int) -> BigramStatistics:
    """:func:`bigram_statistics` of a training corpus, computed once per corpus object and
    reused by every trial that scores on it (a memo on the :class:`~embench.Sequences`)."""
    memo = getattr(corpus, "memo", None)
    if memo is None:
        return bigram_statistics(corpus, n_songs)
    return memo(("hardneg.bigram_statistics", n_songs), lambda: bigram_statistics(corpus, n_songs))


def bigram_statistics(corpus, n_songs: int) -> BigramStatistics:
    """Count the unordered adjacent pairs of ``corpus`` and their chi-squared statistics.

    Vectorised over int64 pair keys (one in-place sort of the corpus's distinct-song bigrams):
    about 20 bytes per bigram at the peak; the result holds 20 bytes per distinct pair.
    """
    songs = np.asarray(corpus.songs)
    indptr = np.asarray(corpus.indptr)
    if len(songs) < 2:
        low = high = np.zeros(0, dtype=np.int64)
    else:
        within = np.ones(len(songs) - 1, dtype=bool)  # pair (i, i + 1) inside a sequence
        boundary = indptr[1:-1] - 1
        within[boundary[(boundary >= 0) & (boundary < len(within))]] = False
        low, high = songs[:-1][within], songs[1:][within]
        del within
    marginal = _marginals(low, high, n_songs)
    n_bigrams = len(low)
    distinct = low != high
    smaller = np.minimum(low, high)
    np.maximum(low, high, out=high)  # high: the larger song of each bigram
    del low
    keys = smaller[distinct].astype(np.int64)
    del smaller
    keys *= n_songs
    keys += high[distinct]
    del high, distinct
    keys, count = _count_keys(keys, n_bigrams)
    chi2 = np.empty(len(keys), dtype=np.float64)
    for start in range(0, len(keys), PAIR_CHUNK):  # bounded temporaries
        part = keys[start : start + PAIR_CHUNK]
        chi2[start : start + PAIR_CHUNK] = chi2_2x2(
            count[start : start + PAIR_CHUNK],
            marginal[part // n_songs],
            marginal[part % n_songs],
            2 * n_bigrams,
        )
    return BigramStatistics(
        n_songs=n_songs,
        keys=keys,
        count=count,
        chi2=chi2,
        marginal=marginal.astype(np.int64),
        n_bigrams=int(n_bigrams),
        n_events=int(corpus.n_events),
    )


PAIR_CHUNK = 1 << 22  # pairs whose statistic is computed at once


def _count_keys(keys: np.ndarray, most: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``keys`` (sorted, int64) and how often each occurs (int32 when
    no count can exceed it, i.e. ``most`` < 2**31, else int64); sorts ``keys`` in place and
    frees it as soon as it can."""
    dtype = np.int32 if (most if most is not None else len(keys)) < 2**31 else np.int64
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=dtype)
    keys.sort()
    first = np.empty(len(keys), dtype=bool)  # first of its run of equal keys
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    distinct = keys[first]
    total = len(keys)
    del keys
    starts = np.flatnonzero(first)
    del first
    count = np.empty(len(starts), dtype=dtype)
    np.subtract(starts[1:], starts[:-1], out=count[:-1], casting="unsafe")
    count[-1] = total - starts[-1]
    return distinct, count


def min_cooccurrence_of(options: HardNegOptions, n_events: int) -> float:
    """The co-occurrence threshold: the absolute option, else rate x occurrences, at least 1."""
    if options.min_cooccurrence is not None:
        return float(options.min_cooccurrence)
    return max(1.0, options.min_cooccurrence_rate * n_events)


def critical_value(p_value: float) -> float:
    """Chi-squared critical value with one degree of freedom (3.841 for p = 0.05)."""
    from scipy.stats import chi2

    return float(chi2.isf(p_value, df=1))


def chi2_threshold(options: HardNegOptions, n_events: int) -> float:
    """The statistic below which a pair is a chance pair, for a corpus of ``n_events`` songs.

    ``"paper"``: ``chi2_rate x n_events``; ``"p_value"``: the critical value at ``p_value``.
    """
    if options.threshold == "paper":
        return options.chi2_rate * n_events
    return critical_value(options.p_value)


def is_hard_negative(
    count: np.ndarray, chi2: np.ndarray, options: HardNegOptions, n_events: int
) -> np.ndarray:
    """Pairs co-occurring at least the floor with a statistic below the threshold (not NaN)."""
    with np.errstate(invalid="ignore"):
        below = np.asarray(chi2) < chi2_threshold(options, n_events)
    return (np.asarray(count) >= min_cooccurrence_of(options, n_events)) & below


def hard_negative_mask(stats: BigramStatistics, options: HardNegOptions) -> np.ndarray:
    """Which pairs of ``stats`` are hard negatives (NaN statistics never are)."""
    return is_hard_negative(stats.count, stats.chi2, options, stats.n_events)


def hard_negatives_of(dataset, corpus, song_index, options: HardNegOptions | None = None):
    """The hard negatives of one song, most co-occurring first (the paper's Table 1).

    ``song_index`` is the song's index in ``dataset`` (or its ``song_id`` as a string);
    ``corpus`` the training sequences (e.g. ``split.train``). Returns a DataFrame with the
    partner's ``song_id``, ``title``, ``artist``, the pair's ``cooccurrences`` and ``chi2``.
    """
    options = options or HardNegOptions()
    n = dataset.n_songs
    if isinstance(song_index, str):
        matches = np.flatnonzero(dataset.songs["song_id"].to_numpy() == song_index)
        if len(matches) == 0:
            raise DataError(f"no song with id '{song_index}' in dataset '{dataset.name}'")
        song_index = int(matches[0])
    song_index = int(song_index)
    if not 0 <= song_index < n:
        raise DataError(f"song index {song_index} is outside the catalogue (0..{n - 1})")
    a, b = _unordered_bigrams(corpus)
    marginal = _marginals(a, b, n)
    involved = (a != b) & ((a == song_index) | (b == song_index))
    partners = np.where(a[involved] == song_index, b[involved], a[involved])
    count = np.bincount(partners, minlength=n)
    partner = np.flatnonzero(count)
    co = count[partner]
    chi2 = chi2_2x2(co, np.full(len(partner), marginal[song_index]), marginal[partner], 2 * len(a))
    hard = is_hard_negative(co, chi2, options, corpus.n_events)
    songs = dataset.songs
    table = pd.DataFrame(
        {
            "song_id": songs["song_id"].to_numpy()[partner[hard]],
            "title": songs["title"].to_numpy()[partner[hard]],
            "artist": songs["artist"].to_numpy()[partner[hard]],
            "cooccurrences": co[hard].astype(np.int64),
            "chi2": chi2[hard],
        }
    )
    return table.sort_values(
        ["cooccurrences", "chi2"], ascending=[False, True], kind="stable"
    ).reset_index(drop=True)


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(keys.shape, dtype=bool)
    position = np.searchsorted(sorted_keys, keys)
    position = np.minimum(position, len(sorted_keys) - 1)
    return sorted_keys[position] == keys


class HardNeg(embench.Metric[HardNegOptions]):
    """Mean share of hard negatives (chance co-occurrences) among each song's top-k neighbours."""

    name = "hardneg"
    Options = HardNegOptions
    values = {
        "hardneg": embench.Value(
            "min", per_query="hardneg", description="share of neighbours that are hard negatives"
        )
    }
    query_keys = ("song_id",)
    flags = {
        "hard_negative": "the two songs were played next to each other in training, but no "
        "more often than chance: a false neighbour (HardNeg's statistic and threshold)"
    }

    def flag_pairs(
        self, dataset, split, options: HardNegOptions, first: np.ndarray, second: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Which pairs ``(first[i], second[i])`` are hard negatives: the test ``compute``
        applies to a song and its neighbours (for the report's neighbour explorer)."""
        n = dataset.n_songs
        stats = corpus_bigram_statistics(split.train, n)
        hard_keys = stats.keys[hard_negative_mask(stats, options)]
        first = np.asarray(first, dtype=np.int64)
        second = np.asarray(second, dtype=np.int64)
        low, high = np.minimum(first, second), np.maximum(first, second)
        return {"hard_negative": _contains(hard_keys, low * n + high) & (first != second)}

    def songs(self, ctx: embench.EvalContext, options: HardNegOptions) -> np.ndarray:
        """The songs scored: those played in training, a seeded sample of ``max_songs``."""
        return ctx.sample_played_songs(options.max_songs)

    def neighbours(
        self, ctx: embench.EvalContext, options: HardNegOptions
    ) -> embench.NeighbourRequest:
        return embench.NeighbourRequest(options.k, self.songs(ctx, options))

    def compute(self, ctx: embench.EvalContext, options: HardNegOptions) -> embench.MetricResult:
        n = ctx.dataset.n_songs
        stats = corpus_bigram_statistics(ctx.split.train, n)
        hard = hard_negative_mask(stats, options)
        hard_keys = stats.keys[hard]  # sorted: the pairs are in key order
        per_song = np.bincount(hard_keys // n, minlength=n) + np.bincount(
            hard_keys % n, minlength=n
        )

        played = self.songs(ctx, options)
        shares = np.full(len(played), np.nan)
        n_neighbours = np.zeros(len(played), dtype=np.int64)
        for start in range(0, len(played), CHUNK):
            queries = played[start : start + CHUNK]
            neighbours = ctx.song_neighbours(queries, options.k)
            valid = neighbours >= 0
            low = np.minimum(queries[:, None], neighbours)
            high = np.maximum(queries[:, None], neighbours)
            found = _contains(hard_keys, low * n + high) & valid
            counted = valid.sum(axis=1)
            n_neighbours[start : start + CHUNK] = counted
            with np.errstate(invalid="ignore", divide="ignore"):
                shares[start : start + CHUNK] = np.where(
                    counted > 0, found.sum(axis=1) / np.maximum(counted, 1), np.nan
                )

        scored = ~np.isnan(shares)
        # The sample's songs with a vector are a simple random sample of those of all the
        # played songs (the population of the exact value).
        population = int(((ctx.popularity > 0) & (ctx.rows >= 0)).sum())
        estimate = mean(shares[scored], max(population, int(scored.sum())))
        value = estimate.value
        per_query = pd.DataFrame(
            {
                "song_id": ctx.dataset.songs["song_id"].to_numpy()[played],
                "hardneg": shares,
                "neighbours": n_neighbours,
                "hard_negatives": per_song[played].astype(np.int64),
            }
        )
        summary = pd.DataFrame(
            {
                "pairs": [len(stats.count)],
                "hard_negative_pairs": [int(hard.sum())],
                "bigrams": [stats.n_bigrams],
                "min_cooccurrence": [min_cooccurrence_of(options, stats.n_events)],
                "threshold": [options.threshold],
                "chi2_threshold": [chi2_threshold(options, stats.n_events)],
                "songs_scored": [int(scored.sum())],
            }
        )
        return embench.MetricResult(
            values={"hardneg": value},
            per_query=per_query,
            tables={"hardneg_pairs": summary},
            intervals={"hardneg": estimate.interval()},
        )


@embench.hookimpl
def register_metrics(register):
    register(HardNeg)


# -- embench hardneg SONG: the hard negatives of one song (the paper's Table 1) ---------------
def add_command_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "benchmark", help="benchmark .toml file (dataset, split, [metrics.hardneg])"
    )
    parser.add_argument("song", help="song id, or a unique part of its title")
    parser.add_argument("--limit", type=int, default=20, help="rows shown (default 20)")


def run_command(args: argparse.Namespace) -> int:
    benchmark = load_benchmark(args.benchmark)
    dataset = benchmark.load_dataset()
    split = make_split(dataset, benchmark.config.split.fractions, seed=benchmark.seed)
    options = HardNegOptions.model_validate(benchmark.config.metrics.get("hardneg", {}))
    song = find_song(dataset, args.song)
    table = hard_negatives_of(dataset, split.train, song, options).head(args.limit)
    row = dataset.songs.iloc[song]
    out = Table(title=f"hard negatives of {row.title} - {row.artist} ({row.song_id})")
    for column in ("song_id", "title", "artist", "cooccurrences", "chi2"):
        out.add_column(column, justify="right" if column in ("cooccurrences", "chi2") else "left")
    for r in table.itertuples():
        out.add_row(
            str(r.song_id), str(r.title), str(r.artist), f"{r.cooccurrences}", f"{r.chi2:.3f}"
        )
    print_full(out)
    if table.empty:
        Console(stderr=True).print("no hard negatives: every co-occurring partner is associated")
    return 0


@embench.hookimpl
def register_commands(register):
    register(
        embench.Command(
            "hardneg",
            "list a song's hard negatives: frequent but unassociated partners",
            add_command_arguments,
            run_command,
        )
    )
