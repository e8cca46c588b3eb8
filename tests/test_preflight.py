"""Validated before any training: every bad input below exits 2 with one message naming the
file, the key, what was expected and what was found, and writes nothing."""

import os

import pytest

import embench
from embench.cli import main
from tests.helpers import STUDY_BENCHMARK, TINY_BENCHMARK, RandomEmbedder, write_benchmark
from tests.run_safety import snapshot

S = STUDY_BENCHMARK  # tiny dataset, random embedder, a study named "search"
W = TINY_BENCHMARK  # word2vec configurations


def run_cli(tmp_path, capsys, text, *args, out=None):
    bench = write_benchmark(tmp_path, text)
    out = out if out is not None else tmp_path / "out"
    try:
        code = main(["run", str(bench), "--output", str(out), "--quiet", *args])
    except SystemExit as exc:  # argparse: usage + one message, exit 2
        code = exc.code
    err = " ".join(capsys.readouterr().err.split())
    assert "Traceback" not in err and "internal error" not in err, err
    return code, err


def long_name(n):
    return "x" * n


CASES = {
    # id: (benchmark text, command-line arguments, expected parts of the message)
    "threads -1": (S, ["--threads", "-1"], ["argument --threads", "integer >= 1", "found -1"]),
    "threads 0": (S, ["--threads", "0"], ["argument --threads", "found 0"]),
    "threads not a number": (S, ["--threads", "two"], ["argument --threads", "found 'two'"]),
    "threads too many": (S, ["--threads", "100000"], ["--threads", "at most 4096", "100000"]),
    "budget 0": (S, ["--budget", "0"], ["argument --budget", "integer >= 1", "found 0"]),
    "budget -3": (S, ["--budget", "-3"], ["argument --budget", "found -3"]),
    "file threads too many": (
        S.replace("threads = 1", "threads = 100000"),
        [],
        ["bench.toml", "[benchmark.threads]", "less than or equal to 4096", "found 100000"],
    ),
    "seed 2^32": (
        S.replace("seed = 5", "seed = 4294967296"),
        [],
        ["bench.toml", "[benchmark.seed]", "less than or equal to 4294967295", "4294967296"],
    ),
    "study seed 2^40": (
        S.replace("time_budget = 1000", "time_budget = 1000\nseed = 1099511627776"),
        [],
        ["[study #1.seed]", "less than or equal to 4294967295", "1099511627776"],
    ),
    "time_budget inf": (
        S.replace("time_budget = 1000", "time_budget = inf"),
        [],
        ["bench.toml", "[study #1.time_budget]", "finite number", "found inf"],
    ),
    "time_budget nan": (
        S.replace("time_budget = 1000", "time_budget = nan"),
        [],
        ["[study #1.time_budget]", "finite number", "found nan"],
    ),
    "vector_size = true": (
        W.replace("vector_size = 16", "vector_size = true"),
        [],
        ["bench.toml", "[embedders.word2vec.vector_size]", "expected a number", "found true"],
    ),
    "param = true in a configuration": (
        W.replace("window = 10", "window = true"),
        [],
        ["[configuration #2.params.window]", "expected a number", "found true"],
    ),
    "budget = true": (
        S.replace("budget = 6", "budget = true"),
        [],
        ["[study #1.budget]", "expected a number, not a boolean", "found True"],
    ),
    "plugin option inf": (
        W.replace("epochs = 3", "epochs = 3\nalpha = inf"),
        [],
        ["[embedders.word2vec.alpha]", "expected a finite number", "found inf"],
    ),
    "space bound inf": (
        S + "[study.space]\ndim = { low = 2, high = inf }\n",
        [],
        ["bench.toml", "[study #1.space.dim.high]", "finite number", "found inf"],
    ),
    "space range too wide to sample": (
        S + "[study.space]\ndim = { low = -1e308, high = 1e308 }\n",
        [],
        ["bench.toml", "[study #1.space].dim", "too wide to sample", "-1e+308, 1e+308"],
    ),
    "workers too many": (
        S.replace(
            "time_budget = 1000", 'time_budget = 1000\nexecutor = "process"\nworkers = 100000'
        ),
        [],
        ["[study #1.workers]", "less than or equal to 4096", "found 100000"],
    ),
    "empty objective": (
        S.replace('objective = "hitrate"', 'objective = ""'),
        [],
        ["[study #1.objective]", "at least 1 character", "found ''"],
    ),
    "objectives listing a key twice": (
        S.replace('objective = "hitrate"', 'objectives = ["hitrate", "hitrate"]'),
        [],
        ["[study #1]", "objectives lists a key twice", "['hitrate', 'hitrate']"],
    ),
    "space bound nan": (
        S + "[study.space]\ndelay = { low = nan, high = 0.1 }\n",
        [],
        ["[study #1.space.delay.low]", "finite number", "found nan"],
    ),
    "benchmark name .": (
        S.replace('name = "tiny-study"', 'name = "."'),
        [],
        ["bench.toml", "[benchmark.name]", "should match pattern", "found '.'"],
    ),
    "benchmark name ..": (
        S.replace('name = "tiny-study"', 'name = ".."'),
        [],
        ["[benchmark.name]", "should match pattern", "found '..'"],
    ),
    "configuration name ..": (
        S.replace('name = "default"', 'name = ".."'),
        [],
        ["[configuration #1.name]", "should match pattern", "found '..'"],
    ),
    "hidden configuration name": (
        S.replace('name = "default"', 'name = ".hidden"'),
        [],
        ["[configuration #1.name]", "found '.hidden'"],
    ),
    "option-like name": (
        S.replace('name = "default"', 'name = "-x"'),
        [],
        ["[configuration #1.name]", "found '-x'"],
    ),
    "name with a slash": (
        S.replace('name = "search"', 'name = "a/b"'),
        [],
        ["[study #1.name]", "should match pattern", "found 'a/b'"],
    ),
    "name with a backslash": (
        S.replace('name = "default"', 'name = "a\\\\b"'),
        [],
        ["[configuration #1.name]", "should match pattern", "found 'a\\\\b'"],
    ),
    "300-character name": (
        S.replace('name = "default"', f'name = "{long_name(300)}"'),
        [],
        ["[configuration #1.name]", "at most 100 characters", long_name(300)[:50]],
    ),
    "configuration named like a study": (
        S.replace('name = "default"', 'name = "search"'),
        [],
        ["bench.toml", "configuration name 'search' is taken by study 'search'", "rename"],
    ),
    "configuration named like a study's Pareto point": (
        S.replace('name = "default"', 'name = "search-p2"'),
        [],
        ["configuration name 'search-p2' is taken by study 'search'"],
    ),
    "configuration names differing in case": (
        S + '[[configuration]]\nname = "DEFAULT"\nembedder = "random"\n',
        [],
        ["configuration names 'default' and 'DEFAULT' differ only in case"],
    ),
    "validation = 0 with a study": (
        S.replace("train = 0.8\nvalidation = 0.1", "train = 0.9\nvalidation = 0"),
        [],
        ["bench.toml", "[split] validation = 0", "studies score their trials", "validation > 0"],
    ),
    "test = 0 scored on test": (
        S.replace("train = 0.8", "train = 0.9").replace("test = 0.1", "test = 0"),
        [],
        ["[split] test = 0", '[evaluation] part = "test"', 'part = "validation"'],
    ),
    "validation rounding to no sequence": (
        S.replace("train = 0.8\nvalidation = 0.1", "train = 0.899\nvalidation = 0.001"),
        [],
        ["bench.toml", "[split] validation = 0.001 of 200 sequences rounds to none", "studies"],
    ),
    "[scale] without a study": (
        W + "[scale]\nrates = [0.5]\n",
        [],
        ["[scale] runs the studies on subsamples, but there is no [[study]]"],
    ),
    "[scale] rates duplicated": (
        S + "[scale]\nrates = [0.5, 0.25, 0.5]\n",
        [],
        ["bench.toml", "[scale]", "rates must differ: 0.5 is given twice"],
    ),
    "[scale] rates near-duplicates": (
        S + "[scale]\nrates = [0.1, 0.1000001]\n",
        [],
        ["rates must differ: 0.1 is given twice (0.1 and 0.1000001)", "studies/NAME@0.1"],
    ),
    "[scale] study listed twice": (
        S + '[scale]\nrates = [0.5]\nstudies = ["search", "search"]\n',
        [],
        ["[scale]", "studies lists a study twice"],
    ),
    "[thresholds] unknown metric": (
        S + "[thresholds]\nhitrat = { min = 0.1 }\n",
        [],
        [
            "bench.toml",
            "[thresholds.hitrat]",
            "no metric under [metrics] reports 'hitrat'",
            "did you mean 'hitrate'",
        ],
    ),
    "[thresholds] unknown configuration": (
        S + '[thresholds]\nhitrate = { min = 0.1, configuration = "defualt" }\n',
        [],
        [
            "[thresholds.hitrate].configuration",
            "no configuration 'defualt'",
            "did you mean 'default'",
        ],
    ),
    "[thresholds] NaN": (
        S + "[thresholds]\nhitrate = { min = nan }\n",
        [],
        ["bench.toml", "thresholds.hitrate", "min", "finite number"],
    ),
    "[thresholds] boolean": (
        S + "[thresholds]\nhitrate = { max = true }\n",
        [],
        ["thresholds.hitrate", "max", "expected a number, not a boolean"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_with_one_message_and_writes_nothing(tmp_path, capsys, test_plugin, case):
    text, args, expected = CASES[case]
    code, err = run_cli(tmp_path, capsys, text, *args)
    assert code == 2, err
    for part in expected:
        assert part in err, f"{part!r} not in {err!r}"
    assert not (tmp_path / "out").exists(), "nothing may be written for bad input"


def test_a_metric_needing_genres_on_a_dataset_without_them(
    tmp_path, capsys, test_plugin, monkeypatch
):
    folder = tmp_path / "yes"  # Yes.com files without tags: no genre labels
    folder.mkdir()
    playlists = [[(7 * i + j) % 30 for j in range(6)] for i in range(60)]
    (folder / "train.txt").write_text(
        " ".join(map(str, range(30)))
        + "\n"
        + " ".join("1" * 30)
        + "\n"
        + "".join(" ".join(map(str, p)) + " \n" for p in playlists)
    )
    (folder / "song_hash.txt").write_text("".join(f"{i}\tS{i}\tA{i % 5}\n" for i in range(30)))
    text = S.replace('plugin = "tiny"', 'plugin = "yes"\n[dataset.options]\npath = "yes"')
    text += "[metrics.next_song]\n[metrics.vrc_genre]\n"
    trained = []
    original = RandomEmbedder.fit

    def fit(self, *args, **kwargs):  # the check comes before any training
        trained.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(RandomEmbedder, "fit", fit)
    code, err = run_cli(tmp_path, capsys, text)
    assert code == 2, err
    assert "bench.toml" in err and "[metrics.vrc_genre] needs a 'genre' label on songs" in err
    assert "has none" in err and trained == []
    assert not (tmp_path / "out").exists()


class BrokenLoader(embench.DatasetLoader):
    """Raises like a third-party reader meeting a file it does not expect (tests only)."""

    name = "broken"

    def load(self, options, *, seed, base_dir):
        raise ValueError("could not convert string to float: 'abc'")


class NotADatasetLoader(embench.DatasetLoader):
    name = "not_a_dataset"

    def load(self, options, *, seed, base_dir):
        return {"sequences": []}


class LoaderPlugin:
    @embench.hookimpl
    def register_datasets(self, register):
        register(BrokenLoader)
        register(NotADatasetLoader)


@pytest.mark.parametrize(
    ("plugin", "expected"),
    [
        ("broken", "failed to load the data (ValueError: could not convert string"),
        ("not_a_dataset", "returned dict, not an embench Dataset"),
    ],
)
def test_a_dataset_plugin_that_raises_is_one_message(
    tmp_path, capsys, test_plugin, register_plugin, plugin, expected
):
    register_plugin("embench-loaders", LoaderPlugin())
    code, err = run_cli(tmp_path, capsys, S.replace('plugin = "tiny"', f'plugin = "{plugin}"'))
    assert code == 2 and f"dataset '{plugin}'" in err and expected in err, err
    assert not (tmp_path / "out").exists()


# -- the output path -------------------------------------------------------------------------
def test_output_path_is_a_file(tmp_path, capsys, test_plugin):
    out = tmp_path / "out"
    out.write_text("not a folder")
    code, err = run_cli(tmp_path, capsys, S, out=out)
    assert code == 2 and f"{out} is a file, not a folder, but it is the output directory" in err
    assert out.read_text() == "not a folder"


def test_output_path_below_a_file(tmp_path, capsys, test_plugin):
    blocker = tmp_path / "runs"
    blocker.write_text("a file")
    code, err = run_cli(tmp_path, capsys, S, out=blocker / "x" / "out")
    assert code == 2 and f"{blocker} is a file, not a folder" in err and "--output" in err
    assert blocker.read_text() == "a file"


@pytest.mark.parametrize(
    ("path", "kind", "expected"),
    [
        ("embeddings", "file", "is a file where embench must write a folder"),
        ("embeddings/default", "file", "is a file where embench must write a folder"),
        ("studies/search", "file", "is a file where embench must write a folder"),
        ("per_query", "file", "is a file where embench must write a folder"),
        ("summary.json", "folder", "is a folder where embench must write a file"),
        ("per_query/next_song.parquet", "folder", "is a folder where embench must write a file"),
        ("embeddings/default/vectors.npy", "folder", "is a folder where embench must write a file"),
        ("studies/search/journal.jsonl", "folder", "is a folder where embench must write a file"),
    ],
)
def test_output_blocked_inside(tmp_path, capsys, test_plugin, path, kind, expected):
    out = tmp_path / "out"
    target = out / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == "file":
        target.write_text("in the way")
    else:
        target.mkdir()
    before = snapshot(out)
    code, err = run_cli(tmp_path, capsys, S, out=out)
    assert code == 2 and f"{target} {expected}" in err, err
    assert snapshot(out) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_output_folder_read_only(tmp_path, capsys, test_plugin):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        code, err = run_cli(tmp_path, capsys, S, out=parent / "out")
    finally:
        parent.chmod(0o755)
    assert code == 2 and f"{parent}: no permission to write" in err
    assert list(parent.iterdir()) == []


def test_output_folder_not_writable_is_refused_up_front(tmp_path, capsys, test_plugin, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: str(p) != str(parent) and real_access(p, mode, **kw)
    )
    code, err = run_cli(tmp_path, capsys, S, out=parent / "out")
    assert code == 2 and f"{parent}: no permission to write in this folder" in err
    assert list(parent.iterdir()) == []


# -- a damaged journal ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last_line", "expected"),
    [
        ("null", "expected a journal record (a JSON object), found null"),
        ('{"kind": "trial", "number": 6}', "the trial record lacks 'status'"),
        ("[1, 2]", "found a list"),
        ('{"kind": "trial"', None),  # a cut line: set aside, the run resumes (not an error)
    ],
)
def test_a_journal_whose_last_line_is_damaged(tmp_path, capsys, test_plugin, last_line, expected):
    assert run_cli(tmp_path, capsys, S)[0] == 0
    out = tmp_path / "out"
    journal = out / "studies" / "search" / "journal.jsonl"
    with journal.open("a") as handle:
        handle.write(last_line + "\n")
    count = len(journal.read_text().splitlines())
    before = snapshot(out)
    code, err = run_cli(tmp_path, capsys, S)
    if expected is None:
        assert code == 0 and (journal.parent / "journal.jsonl.corrupt").exists()
        return
    assert code == 2, err
    assert f"{journal}: line {count}" in err and expected in err and "delete the journal" in err
    assert snapshot(out) == before  # summary.json and the rest untouched


def test_a_damaged_summary_says_what_to_do(tmp_path, capsys, test_plugin):
    assert run_cli(tmp_path, capsys, S)[0] == 0
    out = tmp_path / "out"
    (out / "summary.json").write_text("{ not json")
    before = snapshot(out)
    code, err = run_cli(tmp_path, capsys, S)
    assert code == 2 and f"{out / 'summary.json'}: not valid JSON" in err
    assert "delete it to rerun" in err and "--output" in err
    assert snapshot(out) == before
