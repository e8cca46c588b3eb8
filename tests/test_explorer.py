"""The neighbour explorer's export (explorer/), its page data and `embench neighbours`.

Every figure is checked against a brute-force recomputation from the run's own files: the
neighbours from ``embeddings/NAME/vectors.npy`` (argsort of the cosine matrix), the flags from
the song table and the split, the hard negatives with HardNeg's own per-song function.
"""

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

import embench
from embench.cli import main
from embench.data.split import make_split
from embench.data.tiny import make_tiny_dataset
from embench.embedding import Embedding
from embench.errors import PluginError
from embench.plugins import temporary_plugin
from embench.report import explorer, explorer_data, explorer_flags, explorer_songs
from embench.report.html import REPORT
from embench.report.load import load_run
from embench_plugins.hardneg import HardNegOptions, hard_negatives_of
from tests.helpers import TestPlugin, write_benchmark

EXPLORER_BENCHMARK = """
[benchmark]
name = "explore"
seed = 4
threads = 1

[dataset]
plugin = "tiny"
[dataset.options]
songs = 240
sequences = 900

[split]
train = 0.8
validation = 0.1
test = 0.1

[[configuration]]
name = "default"
embedder = "random"

[[configuration]]
name = "wide"
embedder = "random"
[configuration.params]
dim = 3

[metrics.next_song]
[metrics.hardneg]  # a loose threshold, so that random neighbours are hard negatives at times
threshold = "p_value"
p_value = 1e-9
min_cooccurrence = 1

[report]
sample = 24
k = 6
map_songs = 90
"""
SEED, SONGS, SEQUENCES, FRACTIONS = 4, 240, 900, (0.8, 0.1, 0.1)
_CACHE: dict = {}


def explorer_run(tmp_path_factory):
    """A finished run with an explorer export, made once per session (read-only)."""
    if "run" not in _CACHE:
        directory = tmp_path_factory.mktemp("explorer-run")
        bench = write_benchmark(directory, EXPLORER_BENCHMARK)
        with temporary_plugin("embench-tests", TestPlugin()):
            code = main(["run", str(bench), "--output", str(directory / "out"), "--quiet"])
        assert code == 0
        _CACHE["run"] = directory / "out"
    return _CACHE["run"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return explorer_run(tmp_path_factory)


@pytest.fixture(scope="module")
def data():
    """The run's dataset and split, rebuilt from the same seed."""
    dataset = make_tiny_dataset(SONGS, SEQUENCES, seed=SEED)
    return dataset, make_split(dataset, FRACTIONS, seed=SEED)


def brute_force_top_k(run_dir, name, song_id, k):
    """(neighbour ids, cosines) by sorting the full cosine row of the exported vectors."""
    folder = run_dir / "embeddings" / name
    vectors = np.load(folder / "vectors.npy").astype(np.float64)
    ids = pd.read_parquet(folder / "songs.parquet").sort_values("row")["song_id"].to_numpy()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    row = int(np.flatnonzero(ids == song_id)[0])
    cosine = unit @ unit[row]
    cosine[row] = -np.inf
    order = np.lexsort((np.arange(len(ids)), -cosine))[:k]  # cosine desc, then row
    return list(ids[order]), cosine[order]


def test_the_run_exports_each_songs_exact_neighbours(run_dir):
    found = explorer_data.load_explorer(run_dir)
    meta = json.loads((run_dir / "explorer" / "explorer.json").read_text())
    assert meta["k"] == 6 and meta["configurations"] == ["default", "wide"]
    assert len(found.seeds) == 24
    table = found.neighbours
    for name in ("default", "wide"):
        for song in found.seeds:
            rows = table[(table.configuration == name) & (table.song_id == song)]
            expected, cosine = brute_force_top_k(run_dir, name, song, 6)
            assert rows["rank"].tolist() == [1, 2, 3, 4, 5, 6]
            assert rows["neighbour_id"].tolist() == expected, (name, song)
            np.testing.assert_allclose(rows["cosine"], cosine, atol=1e-5)


def test_flags_follow_the_data(run_dir, data):
    dataset, split = data
    songs = dataset.songs.set_index("song_id")
    table = explorer_data.load_explorer(run_dir).neighbours
    assert {"same_artist", "same_genre", "next_song", "hard_negative"} <= set(table)
    index = {s: i for i, s in enumerate(dataset.songs["song_id"])}
    q, t = split.test.consecutive_pairs()
    true_next = set(zip(q.tolist(), t.tolist(), strict=True))
    true_next |= set(zip(*(x.tolist() for x in split.in_set), strict=True))
    options = HardNegOptions(threshold="p_value", p_value=1e-9, min_cooccurrence=1)
    hard = {}
    for row in table.itertuples():
        a, b = songs.loc[row.song_id], songs.loc[row.neighbour_id]
        assert row.same_artist == (a.artist == b.artist)
        assert row.same_genre == (a.genre == b.genre)
        assert row.next_song == ((index[row.song_id], index[row.neighbour_id]) in true_next)
        if row.song_id not in hard:
            partners = hard_negatives_of(dataset, split.train, index[row.song_id], options)
            hard[row.song_id] = set(partners["song_id"])
        assert row.hard_negative == (row.neighbour_id in hard[row.song_id]), row
    # the data has each flag both ways, so the checks above are not vacuous
    for key in ("same_artist", "same_genre", "next_song", "hard_negative"):
        assert 0 < table[key].sum() < len(table), key


def test_the_default_sample_spans_genres_popular_and_long_tail(run_dir, data):
    dataset, split = data
    found = explorer_data.load_explorer(run_dir)
    plays = split.train.counts(dataset.n_songs)
    chosen = {s["song_id"]: s["chosen"] for s in found.meta["songs"]}
    index = {s: i for i, s in enumerate(dataset.songs["song_id"])}
    seeds = [index[s] for s in found.seeds]
    assert all(plays[i] > 0 for i in seeds)  # played in training
    genres = dataset.songs["genre"].to_numpy()[seeds]
    assert set(genres) == {"genre0", "genre1", "genre2"}
    assert {chosen[s] for s in found.seeds} == {"popular", "long tail"}
    for genre in ("genre0", "genre1", "genre2"):  # equal shares, half popular
        mine = [s for s, g in zip(found.seeds, genres, strict=True) if g == genre]
        assert len(mine) == 8
        assert sum(chosen[s] == "popular" for s in mine) == 4
        members = np.flatnonzero((dataset.songs["genre"] == genre).to_numpy() & (plays > 0))
        cut = np.sort(plays[members])[::-1][int(np.ceil(0.2 * len(members))) - 1]
        for s in mine:
            if chosen[s] == "popular":
                assert plays[index[s]] >= cut
    # seeded: the same call gives the same songs, another seed others
    again, _ = explorer_songs.stratified_sample(dataset.songs["genre"].to_numpy(), plays, 24, SEED)
    assert sorted(again.tolist()) == sorted(seeds)
    other, _ = explorer_songs.stratified_sample(
        dataset.songs["genre"].to_numpy(), plays, 24, SEED + 1
    )
    assert sorted(other.tolist()) != sorted(seeds)


def test_the_map_projects_each_configurations_vectors(run_dir):
    found = explorer_data.load_explorer(run_dir)
    points = found.map
    for name in ("default", "wide"):
        mine = points[points.configuration == name]
        assert len(mine) == 90 and set(found.seeds) <= set(mine.song_id)
        assert mine[["x", "y"]].abs().to_numpy().max() <= 1 + 1e-6
        folder = run_dir / "embeddings" / name
        ids = pd.read_parquet(folder / "songs.parquet").sort_values("row")["song_id"].tolist()
        vectors = np.load(folder / "vectors.npy")
        rows = [ids.index(s) for s in mine.song_id]
        unit = vectors[rows] / np.linalg.norm(vectors[rows], axis=1, keepdims=True)
        centred = unit - unit.mean(axis=0)
        # the first coordinate is the direction of largest variance (PCA), up to scale
        x = mine["x"].to_numpy()
        x = x - x.mean()
        variance = np.var(centred @ np.linalg.svd(centred)[2][0])
        w = np.linalg.lstsq(centred, x, rcond=None)[0]
        assert abs(np.var(centred @ (w / np.linalg.norm(w))) - variance) < 1e-4 * variance


def test_listed_songs_replace_the_sample(tmp_path, test_plugin):
    text = EXPLORER_BENCHMARK.replace("sample = 24", 'songs = ["s7", "s3", "s7"]')
    bench = write_benchmark(tmp_path, text)
    assert main(["run", str(bench), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    found = explorer_data.load_explorer(tmp_path / "out")
    assert found.seeds == ["s7", "s3"] and found.meta["listed"] is True
    assert [s["chosen"] for s in found.meta["songs"]] == ["listed", "listed"]


def test_an_unknown_listed_song_fails_before_training(tmp_path, test_plugin, capsys):
    text = EXPLORER_BENCHMARK.replace("sample = 24", 'songs = ["s7", "s2399"]')
    bench = write_benchmark(tmp_path, text)
    assert main(["run", str(bench), "--output", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "[report] songs: no song with id 's2399'" in err and "did you mean" in err
    assert "s239" in err
    assert not (tmp_path / "out" / "embeddings").exists()  # nothing was trained


def test_page_data_points_at_the_exported_rows(run_dir):
    found = explorer_data.load_explorer(run_dir)
    page = explorer_data.page_data(found, ["wide", "default"])
    assert page["configurations"] == ["wide", "default"]
    songs = page["songs"]
    assert [songs[p][0] for p in page["seeds"]] == found.seeds
    keys = [f["key"] for f in page["flags"]]
    table = found.neighbours
    for name in ("default", "wide"):
        for slot, song in enumerate(found.seeds):
            rows = table[(table.configuration == name) & (table.song_id == song)]
            shown = page["neighbours"][name][slot]
            assert [songs[r[0]][0] for r in shown] == rows["neighbour_id"].tolist()
            for r, flags in zip(shown, rows[keys].to_numpy(), strict=True):
                assert [bool(r[2] >> i & 1) for i in range(len(keys))] == flags.tolist()
    assert len(page["map"]["wide"]) == 90


def test_the_page_embeds_the_explorer_without_breaking_out_of_its_script(tmp_path):
    dataset = make_tiny_dataset(40, 120, seed=1)
    dataset.songs.loc[3, "title"] = "</script><script>alert(1)</script><!--"
    split = make_split(dataset, FRACTIONS, seed=1)
    songs = np.unique(split.train.songs)
    vectors = np.random.default_rng(0).normal(size=(len(songs), 4))
    explorer.export_explorer(
        tmp_path,
        {"a": Embedding(songs, vectors)},
        dataset,
        split,
        metrics=[],
        settings=explorer.Settings(songs=("s3",), k=3, map_songs=10),
        seed=1,
        part="test",
    )
    found = explorer_data.load_explorer(tmp_path)
    from embench.report.explorer_section import json_for_script

    text = json_for_script(explorer_data.page_data(found))
    assert "</" not in text and "<!--" not in text
    assert json.loads(text)["songs"][0][1] == "</script><script>alert(1)</script><!--"


def test_the_report_has_the_explorer_and_the_map(run_dir):
    page = (run_dir / REPORT).read_text()
    assert "id='explorer'" in page and "id='map-svg'" in page
    blob = re.search(r"<script type='application/json' id='explorer-data'>(.*?)</script>", page)
    data = json.loads(blob.group(1))
    assert data["k"] == 6 and len(data["seeds"]) == 24
    assert "https://" not in page.split("<script>", 1)[1]  # nothing fetched by the script


def test_a_run_without_an_export_gets_a_note(tmp_path, run_dir):
    from embench.report.html import write_report

    copy = shutil.copytree(run_dir, tmp_path / "run")
    shutil.rmtree(copy / "explorer")
    page = write_report(copy).read_text()
    assert "has no <code>explorer/</code> export" in page and "explorer-data" not in page


# -- embench neighbours --------------------------------------------------------------------------
def cli_json(capsys, *args):
    code = main(["neighbours", *map(str, args), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_neighbours_prints_the_explorers_rows(run_dir, capsys):
    found = explorer_data.load_explorer(run_dir)
    table = found.neighbours
    keys = [f["key"] for f in found.flags]
    for song in found.seeds[:5]:
        tables = cli_json(capsys, run_dir, song)
        assert [t["configuration"] for t in tables] == ["default", "wide"]
        for t in tables:
            rows = table[(table.configuration == t["configuration"]) & (table.song_id == song)]
            assert [r["song_id"] for r in t["neighbours"]] == rows["neighbour_id"].tolist()
            np.testing.assert_allclose([r["cosine"] for r in t["neighbours"]], rows["cosine"])
            assert [[r["flags"][k] for k in keys] for r in t["neighbours"]] == (
                rows[keys].to_numpy().tolist()
            )


def test_neighbours_of_any_song_from_the_vectors(run_dir, capsys):
    found = explorer_data.load_explorer(run_dir)
    other = next(f"s{i}" for i in range(SONGS) if f"s{i}" not in found.seeds)
    (table,) = cli_json(capsys, run_dir, other, "--configuration", "wide", "--k", 9)
    expected, cosine = brute_force_top_k(run_dir, "wide", other, 9)
    assert [r["song_id"] for r in table["neighbours"]] == expected
    np.testing.assert_allclose([r["cosine"] for r in table["neighbours"]], cosine, atol=1e-5)
    # flags that need the training data are not exported for this song: left out
    assert set(table["neighbours"][0]["flags"]) == {"same_artist", "same_genre"}
    assert table["song"]["title"] == f"Song {other[1:]}"


def test_neighbours_by_title_and_a_table_for_people(run_dir, capsys):
    assert main(["neighbours", str(run_dir), "song 17", "-c", "default", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "default: neighbours of Song 17 - " in out and "(s17)" in out
    assert len(re.findall(r"^│\s+\d\s+│", out, flags=re.M)) == 3


def test_neighbours_beyond_the_exported_k_mark_unknown_flags(run_dir, capsys):
    song = explorer_data.load_explorer(run_dir).seeds[0]
    (table,) = cli_json(capsys, run_dir, song, "-c", "default", "--k", 8)
    unknown = [r["flags"]["next_song"] is None for r in table["neighbours"]]
    assert unknown == [False] * 6 + [True] * 2  # the export holds the top 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s9999"], "no song 's9999' (by id, title or artist) in run 'explore'; did you mean"),
        (["Sonng 17"], "did you mean 's17 (Song 17 - "),
        (["artist1"], "songs of run 'explore': "),  # ambiguous: several songs, listed
        (["s17", "-c", "wid"], "no configuration 'wid' in this run; did you mean 'wide'?"),
        (["s17", "--k", "0"], "--k must be at least 1"),
    ],
)
def test_neighbours_bad_input(run_dir, capsys, args, message):
    assert main(["neighbours", str(run_dir), *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err, err


def test_neighbours_of_a_run_without_embeddings(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    shutil.rmtree(copy / "embeddings" / "wide")
    assert main(["neighbours", str(copy), "s17", "-c", "wide"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "configuration 'wide' has no exported embedding" in err and "exported: default" in err
    shutil.rmtree(copy / "embeddings")
    assert main(["neighbours", str(copy), "s17"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no exported embeddings (embeddings/NAME/vectors.npy" in err
    assert main(["neighbours", str(tmp_path / "nowhere"), "s17"]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_neighbours_of_a_run_without_an_explorer_export(run_dir, tmp_path, capsys):
    copy = shutil.copytree(run_dir, tmp_path / "run")
    shutil.rmtree(copy / "explorer")
    (table, _) = cli_json(capsys, copy, "s17")
    expected, _ = brute_force_top_k(run_dir, "default", "s17", 10)
    assert [r["song_id"] for r in table["neighbours"]] == expected
    assert table["song"]["title"] is None  # no song table: ids, artists and genres only
    assert set(table["neighbours"][0]["flags"]) == {"same_artist", "same_genre"}
    assert load_run(copy, journals=False).name == "explore"


# -- flags contributed by metrics ----------------------------------------------------------------
class OddPair:
    """A metric contributing one flag: both songs of the pair have an odd index."""

    flags = {"both_odd": "both songs have an odd index"}

    def __init__(self, result=None):
        self.result = result

    def flag_pairs(self, dataset, split, options, first, second):
        if self.result is not None:
            return self.result(first)
        return {"both_odd": (first % 2 == 1) & (second % 2 == 1)}


def small_export(tmp_path, metrics):
    dataset = make_tiny_dataset(40, 120, seed=1)
    split = make_split(dataset, FRACTIONS, seed=1)
    songs = np.unique(split.train.songs)
    vectors = np.random.default_rng(0).normal(size=(len(songs), 4))
    return explorer.export_explorer(
        tmp_path,
        {"a": Embedding(songs, vectors)},
        dataset,
        split,
        metrics=metrics,
        settings=explorer.Settings(sample=6, k=4, map_songs=0),
        seed=1,
        part="test",
    )


def test_a_metric_adds_its_flag_to_the_export(tmp_path):
    small_export(tmp_path, [("odd", OddPair(), None)])
    found = explorer_data.load_explorer(tmp_path)
    assert found.flags[-1] == {
        "key": "both_odd",
        "label": "both odd",
        "description": "both songs have an odd index",
        "source": "metric odd",
    }
    table = found.neighbours
    odd = lambda ids: ids.str[1:].astype(int) % 2 == 1  # noqa: E731 (song "sN" has index N)
    assert (table["both_odd"] == (odd(table.song_id) & odd(table.neighbour_id))).all()
    assert 0 < table["both_odd"].sum() < len(table)
    assert found.map.empty  # map_songs = 0: no map


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        (OddPair(lambda first: {"odd": first > 0}), "flag_pairs returned ['odd'], expected"),
        (OddPair(lambda first: {"both_odd": first}), "must be a boolean array of shape"),
        (OddPair(lambda first: {"both_odd": np.ones(1, bool)}), "must be a boolean array"),
        (OddPair(lambda first: 1 / 0), "raised in flag_pairs: ZeroDivisionError"),
    ],
)
def test_a_metric_breaking_the_flag_contract_is_named(tmp_path, metric, message):
    with pytest.raises(PluginError, match=re.escape(message)) as caught:
        small_export(tmp_path, [("odd", metric, None)])
    assert "metric 'odd'" in str(caught.value)


def test_a_metric_flag_may_not_take_a_core_flags_key(tmp_path):
    clash = OddPair()
    clash.flags = {"same_genre": "mine"}
    with pytest.raises(PluginError, match="declares flag 'same_genre', which another flag"):
        small_export(tmp_path, [("odd", clash, None)])


class BrokenFlags(embench.Metric):
    """Scores nothing; its flags raise (tests only)."""

    name = "broken_flags"
    values = {"zero": embench.Value("max")}
    flags = {"broken": "never computed"}

    def compute(self, ctx, options):
        return embench.MetricResult(values={"zero": 0.0})

    def flag_pairs(self, dataset, split, options, first, second):
        raise RuntimeError("no flags today")


class BrokenFlagsPlugin:
    @embench.hookimpl
    def register_metrics(self, register):
        register(BrokenFlags)


def test_an_export_that_fails_is_a_warning_not_a_lost_run(tmp_path, test_plugin, capsys):
    text = EXPLORER_BENCHMARK.replace("[report]", "[metrics.broken_flags]\n\n[report]")
    bench = write_benchmark(tmp_path, text)
    with temporary_plugin("broken-flags", BrokenFlagsPlugin()):
        assert main(["run", str(bench), "--output", str(tmp_path / "out")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "neighbour explorer not written (PluginError: metric 'broken_flags'" in err
    assert "raised in flag_pairs: RuntimeError: no flags today" in err
    assert (tmp_path / "out" / "summary.json").exists()
    assert not (tmp_path / "out" / "explorer" / "explorer.json").exists()
    assert "has no <code>explorer/</code> export" in (tmp_path / "out" / REPORT).read_text()


def test_top_neighbours_name_songs_not_embedding_rows():
    """Rows of an embedding need not be in song order, and a song may have no vector."""
    song_index = np.array([5, 2, 7, 0, 3])  # row i holds song song_index[i]; songs 1, 4, 6 none
    vectors = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    found, cosine = explorer_flags.top_neighbours(vectors, song_index, np.array([5, 4, 0]), 8, 3)
    assert found.tolist() == [[2, 0, 7], [-1, -1, -1], [2, 5, 7]]
    np.testing.assert_allclose(cosine[0], [0.9 / np.hypot(0.9, 0.1), np.sqrt(0.5), 0.0], atol=1e-6)
    assert np.isnan(cosine[1]).all()


def test_songs_without_artist_or_genre_are_never_the_same(tmp_path):
    """Real catalogues miss labels (yes_big: a quarter of its songs have no genre)."""
    dataset = make_tiny_dataset(40, 120, seed=1)
    dataset.songs.loc[dataset.songs.index % 3 == 0, "genre"] = None
    dataset.songs.loc[dataset.songs.index % 4 == 0, "artist"] = None
    songs = dataset.songs
    # song 0 and 36 are both by artist0 of genre0, but song 0 has neither label now
    first, second = np.array([0, 0, 3, 1, 8, 1, 0]), np.array([3, 6, 6, 4, 20, 37, 36])
    flags = explorer_flags.core_flags(songs, first, second, None)
    assert flags["same_genre"].tolist() == [False, False, False, True, True, True, False]
    assert flags["same_artist"].tolist() == [False] * 5 + [True, False]
    split = make_split(dataset, FRACTIONS, seed=1)
    played = np.unique(split.train.songs)
    vectors = np.random.default_rng(0).normal(size=(len(played), 4))
    settings = explorer.Settings(sample=12, k=4, map_songs=20)
    embeddings = {"a": Embedding(played, vectors)}
    explorer.export_explorer(
        tmp_path, embeddings, dataset, split, metrics=[], settings=settings, seed=1, part="test"
    )
    found = explorer_data.load_explorer(tmp_path)
    genre = songs.set_index("song_id")["genre"]
    table = found.neighbours
    expected = [
        pd.notna(genre[a]) and pd.notna(genre[b]) and genre[a] == genre[b]
        for a, b in zip(table.song_id, table.neighbour_id, strict=True)
    ]
    assert table["same_genre"].tolist() == expected and any(expected)
    page = explorer_data.page_data(found)
    assert None in [s[3] for s in page["songs"]]  # a song without a genre is shown as such
