"""A resume never mixes runs: a rerun into a folder whose results came from another benchmark
or other data exits 2, lists what changed key by key, says how to start afresh, and writes
nothing; what does not change results (threads, budget, executor, report) may change."""

import json
import re

import pytest

from embench.cli import main
from embench.fingerprint import changes, dataset_digest
from embench.output import RUNNING
from tests.helpers import STUDY_BENCHMARK, write_benchmark
from tests.run_safety import snapshot


def run(tmp_path, text, capsys=None):
    bench = write_benchmark(tmp_path, text)
    code = main(["run", str(bench), "--output", str(tmp_path / "out"), "--quiet"])
    err = " ".join(capsys.readouterr().err.split()) if capsys is not None else ""
    return code, err


YES_BENCHMARK = STUDY_BENCHMARK.replace(
    'plugin = "tiny"', 'plugin = "yes"\n[dataset.options]\npath = "yes"'
)


def write_yes(folder, playlists):
    """A small Yes.com-format dataset: 30 songs, one line per playlist."""
    folder.mkdir(exist_ok=True)
    songs = 30
    header = " ".join(str(i) for i in range(songs)) + "\n" + " ".join("1" * songs) + "\n"
    body = "".join(" ".join(map(str, p)) + " \n" for p in playlists)
    (folder / "train.txt").write_text(header + body)
    (folder / "song_hash.txt").write_text(
        "".join(f"{i}\tSong {i}\tArtist {i % 7}\n" for i in range(songs))
    )
    (folder / "tags.txt").write_text("#\n" * songs)
    (folder / "tag_hash.txt").write_text("0, rock\n")


def playlists(shift=0):
    return [[(7 * i + j + shift) % 30 for j in range(6)] for i in range(60)]


CHANGES = {
    # issue example -> (first benchmark, changed benchmark, expected "key: recorded X, now Y")
    "dataset option": (
        STUDY_BENCHMARK + "[dataset.options]\nsongs = 60\n",
        STUDY_BENCHMARK + "[dataset.options]\nsongs = 70\n",
        "dataset.options.songs: recorded 60, now 70",
    ),
    "split": (
        STUDY_BENCHMARK,
        STUDY_BENCHMARK.replace("train = 0.8\nvalidation = 0.1", "train = 0.7\nvalidation = 0.2"),
        "split.validation: recorded 0.1, now 0.2",
    ),
    "metric option k": (
        STUDY_BENCHMARK + "[metrics.next_song]\nk = 20\n",
        STUDY_BENCHMARK + "[metrics.next_song]\nk = 10\n",
        "metrics.next_song.k: recorded 20, now 10",
    ),
    "benchmark seed under a study seed": (
        STUDY_BENCHMARK.replace("time_budget = 1000", "time_budget = 1000\nseed = 11"),
        STUDY_BENCHMARK.replace("time_budget = 1000", "time_budget = 1000\nseed = 11").replace(
            "seed = 5", "seed = 6"
        ),
        "seed: recorded 5, now 6",
    ),
}


WHERE = [(example, "summary") for example in sorted(CHANGES)] + [
    ("metric option k", "marker"),  # an interrupted run: its marker tells
    ("benchmark seed under a study seed", "journal"),  # only the journals tell
]


@pytest.mark.parametrize(("example", "where"), WHERE)
def test_a_changed_benchmark_is_refused_key_by_key(tmp_path, test_plugin, capsys, example, where):
    first, changed, expected = CHANGES[example]
    assert run(tmp_path, first)[0] == 0
    out = tmp_path / "out"
    if where == "marker":  # an interrupted run: its marker, no summary
        (out / "summary.json").rename(out / RUNNING)
    elif where == "journal":  # only the journals tell (an interrupted run of an older embench)
        (out / "summary.json").unlink()
    capsys.readouterr()
    before = snapshot(out)
    code, err = run(tmp_path, changed, capsys)
    assert code == 2, err
    assert expected in err
    assert "refusing to resume" in err and "To start afresh" in err and "--output" in err
    expected_file = {"summary": "summary.json", "marker": RUNNING, "journal": "journal.jsonl"}
    assert re.search(re.escape(expected_file[where]) + r": ", err), err
    assert "Traceback" not in err and "internal error" not in err
    assert snapshot(out) == before  # nothing written, nothing removed
    assert run(tmp_path, first)[0] == 0  # the former benchmark still resumes


def test_a_changed_data_file_is_refused(tmp_path, test_plugin, capsys):
    write_yes(tmp_path / "yes", playlists())
    assert run(tmp_path, YES_BENCHMARK)[0] == 0
    out = tmp_path / "out"
    write_yes(tmp_path / "yes", playlists(shift=1))  # same options, other data
    capsys.readouterr()
    before = snapshot(out)
    code, err = run(tmp_path, YES_BENCHMARK, capsys)
    assert code == 2, err
    assert "dataset.digest: recorded" in err and "its files were modified" in err
    assert "dataset.options" not in err  # the options did not change
    assert snapshot(out) == before


def test_what_does_not_change_results_may_change(tmp_path, test_plugin, capsys):
    assert run(tmp_path, STUDY_BENCHMARK)[0] == 0
    relaxed = (
        STUDY_BENCHMARK.replace("threads = 1", "threads = 2\ndescription = 'again'")
        .replace("budget = 6", "budget = 7")
        .replace("time_budget = 1000", 'time_budget = 1000\nfinal = "none"\nfail_fast = true')
        + "[report]\nsample = 20\n[thresholds]\nhitrate = { min = 0.0 }\n"
    )
    code, err = run(tmp_path, relaxed, capsys)
    assert code == 0, err
    journal = (tmp_path / "out" / "studies" / "search" / "journal.jsonl").read_text()
    numbers = [json.loads(line)["number"] for line in journal.splitlines()[2:]]
    assert sorted(numbers) == list(range(7))  # resumed: one more trial


def test_the_fingerprint_is_in_the_summary_and_the_journal_header(tmp_path, test_plugin):
    text = STUDY_BENCHMARK + "[scale]\nrates = [0.5]\n"
    assert run(tmp_path, text)[0] == 0
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())["fingerprint"]
    assert summary["dataset"]["plugin"] == "tiny" and len(summary["dataset"]["digest"]) == 32
    assert summary["seed"] == 5 and summary["split"]["validation"] == 0.1
    assert list(summary["metrics"]) == ["next_song"] and summary["metrics"]["next_song"]["k"] == 100
    assert summary["studies"]["search"]["space"] and "budget" not in summary["studies"]["search"]
    for folder, rate in (("search", 1.0), ("search@0.5", 0.5)):
        line = (out / "studies" / folder / "journal.jsonl").read_text().splitlines()[0]
        header = json.loads(line)["fingerprint"]
        assert header["dataset"] == summary["dataset"] and header["split"]["subsample"] == rate
    assert not (out / RUNNING).exists()


def test_dataset_digest_sees_any_change(tiny_dataset):
    from embench.data.dataset import Dataset, Sequences

    digest = dataset_digest(tiny_dataset)
    assert digest == dataset_digest(tiny_dataset)
    songs = tiny_dataset.sequences.songs.copy()
    songs[0], songs[1] = songs[1], songs[0]
    swapped = Dataset("x", Sequences(tiny_dataset.sequences.indptr, songs), tiny_dataset.songs)
    assert dataset_digest(swapped) != digest
    renamed = tiny_dataset.songs.copy()
    renamed.loc[0, "genre"] = "polka"
    relabelled = Dataset("x", tiny_dataset.sequences, renamed)
    assert dataset_digest(relabelled) != digest


def test_changes_lists_each_key():
    old = {"a": {"b": 1, "c": [1, 2]}, "d": "x"}
    new = {"a": {"b": 2, "c": [1, 2]}, "e": "y"}
    assert changes(old, new) == [
        "a.b: recorded 1, now 2",
        'd: recorded "x", now (absent)',
        'e: recorded (absent), now "y"',
    ]
