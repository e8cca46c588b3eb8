"""Every column a user reads, recomputed independently from what `embench run` exported.

One run of a tiny benchmark with every built-in metric; each table in ``summary.json`` and each
per-query file is then recomputed here by slow, obvious code (Python loops, brute-force
neighbours, scipy and scikit-learn) from the exported vectors and the dataset. The headline
values are checked too, but the point is the secondary columns: VRC's between and within
dispersion, HardNeg's pair counts and per-song counts, popularity's pair counts, the per-query
columns, the play-prediction counts.
"""

from __future__ import annotations

import json
from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import calinski_harabasz_score

import embench
from embench.cli import main
from embench.data.dataset import Dataset
from embench.data.split import make_split
from embench.data.tiny import make_tiny_dataset
from embench.plugins import temporary_plugin
from tests.helpers import TestPlugin

SEED = 11
FRACTIONS = (0.7, 0.15, 0.15)
K = 10
EXTRA_SONGS = 4  # in the catalogue, never played


def columns_dataset(seed: int) -> Dataset:
    """The tiny dataset with gaps: unlabelled songs, one-song artists, unplayed songs, a play log."""
    base = make_tiny_dataset(80, 400, seed=seed)
    songs = base.songs[["song_id", "title", "artist", "genre"]].copy()
    extra = pd.DataFrame(
        {
            "song_id": [f"extra{i}" for i in range(EXTRA_SONGS)],
            "title": "extra",
            "artist": "artist0",
            "genre": "genre0",
        }
    )
    songs = pd.concat([songs, extra], ignore_index=True)
    index = np.arange(len(songs))
    songs["genre"] = songs["genre"].astype(object).where(index % 17 != 5, None)
    songs["artist"] = songs["artist"].astype(object).where(index % 13 != 4, "solo" + songs.song_id)
    songs["artist"] = songs["artist"].where(index % 19 != 7, None)
    rng = np.random.default_rng(seed)
    n_rows = 300
    organic = rng.integers(0, 60, size=n_rows)
    play_log = pd.DataFrame(
        {
            "seed_song": rng.integers(0, len(songs), size=n_rows),
            "recommended_song": rng.integers(0, len(songs), size=n_rows),
            "organic_plays": organic,
            "successful_plays": rng.binomial(organic, 0.3),
        }
    )
    return Dataset("columns", base.sequences, songs, play_log=play_log)


class ColumnsLoader(embench.DatasetLoader):
    """The tiny dataset with label gaps, unplayed songs and a play log (tests only)."""

    name = "columns_tiny"
    Options = embench.Options

    def load(self, options, *, seed, base_dir):
        return columns_dataset(seed)


class ColumnsPlugin:
    @embench.hookimpl
    def register_datasets(self, register):
        register(ColumnsLoader)


BENCHMARK = f"""
[benchmark]
name = "columns"
seed = {SEED}
threads = 1

[dataset]
plugin = "columns_tiny"

[split]
train = {FRACTIONS[0]}
validation = {FRACTIONS[1]}
test = {FRACTIONS[2]}

[[configuration]]
name = "default"
embedder = "random"

[metrics.next_song]
k = {K}
[metrics.hardneg]
k = {K}
threshold = "p_value"
min_cooccurrence = 2
[metrics.vrc_genre]
[metrics.vrc_artist]
[metrics.coherence_genre]
k = {K}
genres = 2
pool = 15
songs_per_genre = 8
[metrics.coherence_artist]
k = {K}
strata = 3
artists_per_stratum = 4
songs_per_artist = 2
[metrics.popularity]
k = {K}
buckets = 4
[metrics.play_prediction]
min_organic = 20
"""


class Run:
    """What a user reads from the run directory, plus the inputs to recompute it."""

    def __init__(self, out):
        summary = json.loads((out / "summary.json").read_text())
        (self.row,) = summary["configurations"]
        assert self.row["status"] == "ok", self.row.get("error")
        self.values = self.row["metrics"]
        self.out = out
        self.dataset = columns_dataset(SEED)
        self.split = make_split(self.dataset, FRACTIONS, seed=SEED)
        ids = self.dataset.songs["song_id"].to_numpy()
        self.index_of = {song: i for i, song in enumerate(ids)}
        vectors = np.load(out / "embeddings" / "default" / "vectors.npy").astype(np.float64)
        exported = pd.read_parquet(out / "embeddings" / "default" / "songs.parquet")
        # vectors[song index] (NaN rows for songs without a vector)
        self.vector = np.full((len(ids), vectors.shape[1]), np.nan)
        for song_id, row in zip(exported.song_id, exported.row, strict=True):
            self.vector[self.index_of[song_id]] = vectors[row]
        self.has_vector = ~np.isnan(self.vector[:, 0])

    def labels(self, column: str) -> np.ndarray:
        """The song table's column as objects, None where missing."""
        values = self.dataset.songs[column]
        return values.astype(object).where(values.notna(), None).to_numpy()

    def table(self, name: str) -> pd.DataFrame:
        split = self.row["tables"][name]
        return pd.DataFrame(split["data"], index=split["index"], columns=split["columns"])

    def per_query(self, metric: str) -> pd.DataFrame:
        frame = pd.read_parquet(self.out / "per_query" / f"{metric}.parquet")
        return frame[frame.configuration == "default"].reset_index(drop=True)

    def cosine(self, a: int, b: int) -> float:
        x, y = self.vector[a], self.vector[b]
        return float(x @ y / np.sqrt((x @ x) * (y @ y)))

    def top_k(self, song: int, k: int = K) -> list[int]:
        """Brute force: the k songs with a vector most cosine-similar to ``song``, not itself."""
        if not self.has_vector[song]:
            return []
        others = [s for s in np.flatnonzero(self.has_vector) if s != song]
        scored = sorted(others, key=lambda s: (-self.cosine(song, s), s))
        if len(scored) > k:  # no near tie at the cut, or the comparison would be fragile
            assert self.cosine(song, scored[k - 1]) - self.cosine(song, scored[k]) > 1e-6
        return scored[:k]

    def training_lists(self) -> list[list[int]]:
        return [s.tolist() for s in self.split.train]

    def held_out_pairs(self) -> list[tuple[int, int]]:
        return [(s[i], s[i + 1]) for s in self.split.test for i in range(len(s) - 1)]

    def plays(self) -> np.ndarray:
        counts = Counter(song for s in self.training_lists() for song in s)
        return np.array([counts[i] for i in range(self.dataset.n_songs)])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("columns")
    (directory / "bench.toml").write_text(BENCHMARK)
    out = directory / "out"
    with (
        temporary_plugin("embench-tests", TestPlugin()),
        temporary_plugin("columns", ColumnsPlugin()),
    ):
        code = main(["run", str(directory / "bench.toml"), "--output", str(out), "--quiet"])
    assert code == 0
    return Run(out)


def test_the_dataset_has_the_gaps_the_checks_need(run):
    plays = run.plays()
    assert (plays == 0).sum() >= EXTRA_SONGS
    assert not run.has_vector[plays == 0].any()  # the random embedder embeds played songs only
    assert run.dataset.songs.genre.isna().any() and run.dataset.songs.artist.isna().any()


# -- VRC -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("metric", "label", "min_songs"), [("genre", "genres", 1), ("artist", "artists", 2)]
)
def test_vrc_table_between_within_and_counts(run, metric, label, min_songs):
    name = f"vrc_{metric}"
    labels = run.labels(metric)
    songs = [i for i in range(run.dataset.n_songs) if run.has_vector[i] and pd.notna(labels[i])]
    size = Counter(labels[i] for i in songs)
    songs = [i for i in songs if size[labels[i]] >= min_songs]
    groups = sorted({labels[i] for i in songs})
    x = np.array([run.vector[i] / np.linalg.norm(run.vector[i]) for i in songs])
    y = np.array([labels[i] for i in songs])
    centre = x.mean(axis=0)
    between = within = 0.0
    for group in groups:
        members = x[y == group]
        c = members.mean(axis=0)
        between += len(members) * float(((c - centre) ** 2).sum())
        within += float(((members - c) ** 2).sum())

    table = run.table(f"{name}.{name}")
    assert table["songs"].tolist() == [len(songs)]
    assert table[label].tolist() == [len(groups)]
    assert table["between"].iloc[0] == pytest.approx(between, rel=1e-9)
    assert table["within"].iloc[0] == pytest.approx(within, rel=1e-9)
    assert run.values[name] == pytest.approx(calinski_harabasz_score(x, y), rel=1e-9)
    # The fixture's one-song artists really are left out.
    assert metric == "genre" or len(songs) < sum(size.values())


# -- HardNeg -------------------------------------------------------------------------------------
def hard_negative_pairs(run) -> tuple[dict, int, set]:
    """Brute force: unordered pair -> (count, chi2) over the training bigrams; N; hard pairs."""
    bigrams = [(s[i], s[i + 1]) for s in run.training_lists() for i in range(len(s) - 1)]
    n = len(bigrams)
    marginal = Counter()
    pairs = Counter()
    for a, b in bigrams:
        marginal[a] += 1
        marginal[b] += 1
        if a != b:
            pairs[(min(a, b), max(a, b))] += 1
    result = {}
    for (a, b), count in pairs.items():
        table = np.array(
            [
                [count, marginal[a] - count],
                [marginal[b] - count, 2 * n - marginal[a] - marginal[b] + count],
            ]
        )
        try:
            chi2 = stats.chi2_contingency(table, correction=False).statistic
        except ValueError:  # a zero expected frequency
            chi2 = float("nan")
        result[(a, b)] = (count, chi2)
    critical = stats.chi2.ppf(0.95, df=1)
    hard = {p for p, (count, chi2) in result.items() if count >= 2 and chi2 < critical}
    return result, n, hard


def test_hardneg_pair_counts_and_per_song_columns(run):
    pairs, n_bigrams, hard = hard_negative_pairs(run)
    assert 0 < len(hard) < len(pairs)
    table = run.table("hardneg.hardneg_pairs")
    assert table["pairs"].tolist() == [len(pairs)]
    assert table["hard_negative_pairs"].tolist() == [len(hard)]
    assert table["bigrams"].tolist() == [n_bigrams]
    assert table["min_cooccurrence"].tolist() == [2]
    assert table["chi2_threshold"].iloc[0] == pytest.approx(3.841458820694124)

    played = np.flatnonzero(run.plays() > 0)
    per_query = run.per_query("hardneg")
    assert per_query["song_id"].tolist() == run.dataset.songs.song_id.to_numpy()[played].tolist()
    hard_of = Counter()
    for a, b in hard:
        hard_of[a] += 1
        hard_of[b] += 1
    shares = []
    for song, row in zip(played, per_query.itertuples(), strict=True):
        neighbours = run.top_k(song)
        assert row.neighbours == len(neighbours)
        assert row.hard_negatives == hard_of[song]
        found = sum((min(song, s), max(song, s)) in hard for s in neighbours)
        share = found / len(neighbours) if neighbours else np.nan
        assert row.hardneg == pytest.approx(share, nan_ok=True)
        shares.append(share)
    assert table["songs_scored"].tolist() == [int(np.sum(~np.isnan(shares)))]
    assert run.values["hardneg"] == pytest.approx(np.nanmean(shares))


# -- next-song -----------------------------------------------------------------------------------
def test_next_song_rows_are_the_protocol_s_pairs_with_their_ranks(run):
    per_query = run.per_query("next_song")
    ids = run.dataset.songs.song_id.to_numpy()
    in_set = [
        (s[-2], s[-1])
        for s in (run.dataset.sequences[i].tolist() for i in run.split.train_ids)
        if len(s) >= 2
    ]
    expected = [("in", q, t) for q, t in in_set] + [("out", q, t) for q, t in run.held_out_pairs()]
    got = list(zip(per_query.set, per_query.query_song, per_query.target_song, strict=True))
    assert got == [(s, ids[q], ids[t]) for s, q, t in expected]
    for (_, q, t), row in zip(expected, per_query.itertuples(), strict=True):
        neighbours = run.top_k(q)
        rank = neighbours.index(t) + 1 if t in neighbours else 0
        assert row.rank == rank
        assert row.hit == (rank > 0)
        assert row.ndcg == pytest.approx(1 / np.log2(1 + rank) if rank else 0.0)
    for part in ("in", "out"):
        rows = per_query[per_query.set == part]
        assert run.values[f"hitrate_{part}"] == pytest.approx(rows.hit.mean())
    assert run.values["hitrate"] == pytest.approx(
        (run.values["hitrate_in"] + run.values["hitrate_out"]) / 2
    )


# -- popularity ----------------------------------------------------------------------------------
def buckets_by_hand(plays: np.ndarray, n_buckets: int) -> list[int]:
    order = sorted(range(len(plays)), key=lambda s: (-plays[s], s))
    total = int(plays.sum())
    bucket = [0] * len(plays)
    before = 0
    for song in order:
        share = Fraction(before, total)
        bucket[song] = (
            n_buckets - 1 if plays[song] == 0 else min(int(share * n_buckets), n_buckets - 1)
        )
        before += int(plays[song])
    return bucket


def test_popularity_pair_counts_hit_rates_and_per_query_rows(run):
    n_buckets = 4
    bucket = buckets_by_hand(run.plays(), n_buckets)
    pairs = run.held_out_pairs()  # every pair is drawn: no cell holds 1,000
    counts = np.zeros((n_buckets, n_buckets), dtype=int)
    hits = np.zeros((n_buckets, n_buckets))
    expected_rows = Counter()
    for q, t in pairs:
        hit = t in run.top_k(q)
        counts[bucket[q], bucket[t]] += 1
        hits[bucket[q], bucket[t]] += hit
        expected_rows[(q, t, bucket[q], bucket[t], hit)] += 1
    assert (counts > 0).sum() >= 4

    assert run.table("popularity.pairs_by_popularity").to_numpy().tolist() == counts.tolist()
    with np.errstate(invalid="ignore"):
        rates = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
    got = run.table("popularity.hitrate_by_popularity").to_numpy(dtype=float)
    np.testing.assert_allclose(got, rates, equal_nan=True)
    for b in range(n_buckets):
        assert run.values[f"hitrate_pop_diag_b{b}"] == pytest.approx(rates[b, b], nan_ok=True)
    assert run.values["hitrate_pop_diag"] == pytest.approx(np.nanmean(np.diag(rates)))

    per_query = run.per_query("popularity")
    index = run.index_of
    got_rows = Counter(
        (index[r.query_song], index[r.target_song], r.query_bucket, r.target_bucket, bool(r.hit))
        for r in per_query.itertuples()
    )
    assert got_rows == expected_rows
    diagonal = per_query.query_bucket == per_query.target_bucket
    assert per_query.diagonal_hit[~diagonal].isna().all()
    assert (per_query.diagonal_hit[diagonal] == per_query.hit[diagonal]).all()


# -- coherence -----------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["genre", "artist"])
def test_coherence_per_query_shares_and_tables(run, metric):
    labels = run.labels(metric)
    per_query = run.per_query(f"coherence_{metric}")
    assert len(per_query) > 0
    k_eff = min(K, int(run.has_vector.sum()) - 1)
    for row in per_query.itertuples():
        song = run.index_of[row.song_id]
        assert getattr(row, metric) == labels[song]
        same = sum(labels[s] is not None and labels[s] == labels[song] for s in run.top_k(song))
        assert row.coherence == pytest.approx(same / k_eff)
    assert run.values[f"coherence_{metric}"] == pytest.approx(per_query.coherence.mean())
    plays = run.plays()
    if metric == "genre":
        table = run.table("coherence_genre.coherence_by_genre").set_index("genre")
        # Queries come from the 2 most played genres, at most 8 each, from their 15 most played.
        genre_plays = Counter()
        for i in np.flatnonzero(plays > 0):
            if labels[i] is not None:
                genre_plays[labels[i]] += plays[i]
        top = [g for g, _ in genre_plays.most_common(2)]
        assert set(per_query.genre) == set(top)
        for genre in top:
            rows = per_query[per_query.genre == genre]
            assert table.loc[genre, "queries"] == len(rows) == 8
            assert table.loc[genre, "coherence"] == pytest.approx(rows.coherence.mean())
            members = [i for i in np.flatnonzero(plays > 0) if labels[i] == genre]
            pool = sorted(members, key=lambda s: (-plays[s], s))[:15]
            assert {run.index_of[s] for s in rows.song_id} <= set(pool)
    else:
        table = run.table("coherence_artist.coherence_by_stratum").set_index("stratum")
        for stratum, rows in per_query.groupby("stratum"):
            assert table.loc[stratum, "queries"] == len(rows)
            assert table.loc[stratum, "artists"] == rows.artist.nunique() <= 4
            assert table.loc[stratum, "coherence"] == pytest.approx(rows.coherence.mean())
            assert rows.groupby("artist").size().max() <= 2
        assert sorted(table.index) == [0, 1, 2]


# -- play prediction -----------------------------------------------------------------------------
def test_play_prediction_counts_and_correlations(run):
    log = run.dataset.play_log
    rows = []
    for seed, rec, organic, successful in log.itertuples(index=False):
        rate = successful / organic if organic > 0 else None
        both = run.has_vector[seed] and run.has_vector[rec]
        cosine = run.cosine(seed, rec) if both else None
        rows.append((organic, rate, cosine))
    scored = [(r, c) for o, r, c in rows if r is not None and c is not None]
    frequent = [(r, c) for o, r, c in rows if o >= 20 and r is not None and c is not None]
    table = run.table("play_prediction.play_prediction").set_index("pairs")
    assert table.loc["all", "rows"] == len(log)
    assert table.loc["all", "scored"] == len(scored)
    assert table.loc["all", "no_organic_play"] == sum(r is None for _, r, _ in rows)
    assert table.loc["all", "no_vector"] == sum(r is not None and c is None for _, r, c in rows)
    assert table.loc["frequent", "rows"] == sum(o >= 20 for o, _, _ in rows)
    assert table.loc["frequent", "scored"] == len(frequent)
    assert table.loc["frequent", "no_vector"] == sum(o >= 20 and c is None for o, _, c in rows)
    assert 0 < len(frequent) < len(scored) < len(log)
    r_all = stats.pearsonr(*zip(*scored, strict=True)).statistic
    r_frequent = stats.pearsonr(*zip(*frequent, strict=True)).statistic
    assert table.loc["all", "correlation"] == pytest.approx(r_all)
    assert run.values["play_corr_all"] == pytest.approx(r_all)
    assert run.values["play_corr_frequent"] == pytest.approx(r_frequent)
    per_query = run.per_query("play_prediction")
    assert len(per_query) == len(log)
    for (organic, rate, cosine), row in zip(rows, per_query.itertuples(), strict=True):
        assert row.play_rate == pytest.approx(rate if rate is not None else np.nan, nan_ok=True)
        assert row.cosine == pytest.approx(cosine if cosine is not None else np.nan, nan_ok=True)
        assert row.frequent == (organic >= 20)
