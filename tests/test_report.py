"""The HTML report: written by every run, rebuilt by `embench report`, read from run files only."""

import base64
import html
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from embench.cli import main
from embench.plugins import temporary_plugin
from embench.report import plots
from embench.report.html import REPORT
from embench.report.load import load_run, read_journal
from embench.report.markup import PNG_PREFIX
from embench.summary import FORMAT_VERSION
from tests.helpers import STUDY_BENCHMARK, TestPlugin, write_benchmark

# Every section of the report: two configurations, a single-objective study with failed and
# infeasible trials (the random embedder sleeps `delay` seconds; the default sleeps 0.02 s, so
# the time budget of 3x is about 0.063 s; trials above fail_above raise), a Pareto study, a
# scaled study, popularity buckets, a play log (the synthetic dataset has one) and the health
# metric's k-occurrence histogram.
FULL_BENCHMARK = """
[benchmark]
name = "full"
description = "every section of the report"
seed = 5
threads = 1

[dataset]
plugin = "synthetic"
[dataset.options]
songs = 300
sequences = 300
genres = 4

[split]
train = 0.8
validation = 0.1
test = 0.1

[embedders.random]
delay = 0.02

[[configuration]]
name = "default"
embedder = "random"

[[configuration]]
name = "wide"
embedder = "random"
[configuration.params]
dim = 14

[metrics.next_song]
[metrics.hardneg]
[metrics.vrc_genre]
[metrics.popularity]
[metrics.play_prediction]
[metrics.health]
k = 5

[[study]]
name = "search"
optimiser = "uniform"
embedder = "random"
budget = 8
objective = "hitrate"
time_budget = 3.0
[study.params]
fail_above = 0.09
[study.space]
delay = { low = 0.0, high = 0.1 }

[[study]]
name = "pareto"
optimiser = "uniform"
embedder = "random"
budget = 6
objectives = ["hitrate", "vrc_genre"]
time_budget = 1000
[study.space]
delay = { low = 0.0, high = 0.01 }

[scale]
rates = [0.5]
studies = ["search"]
"""

_CACHE = {}


def full_run(tmp_path_factory):
    """A real run with every section, made once per test session (shared read-only)."""
    if "full" not in _CACHE:
        directory = tmp_path_factory.mktemp("full-run")
        bench = write_benchmark(directory, FULL_BENCHMARK)
        with temporary_plugin("embench-tests", TestPlugin()):
            code = main(["run", str(bench), "--output", str(directory / "out"), "--quiet"])
        assert code == 0
        _CACHE["full"] = directory / "out"
    return _CACHE["full"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return full_run(tmp_path_factory)


@pytest.fixture
def copy(run_dir, tmp_path):
    """A copy of the full run that a test may change."""
    return shutil.copytree(run_dir, tmp_path / "run")


def embedded(page):
    """{plot name: PNG bytes} of the images in the page."""
    found = re.findall(
        r'<img src="data:image/png;base64,([^"]+)" alt="[^"]*" data-plot="([^"]+)"', page
    )
    return {name: base64.b64decode(data) for data, name in found}


def test_run_writes_a_self_contained_report_with_png_files_beside_it(run_dir):
    page = (run_dir / REPORT).read_text()
    images = embedded(page)
    expected = {
        "popularity",
        "play-prediction",
        "k-occurrence",
        "history-search",
        "history-pareto",
        "pareto-pareto",
        "history-search@0.5",
    }
    assert set(images) == expected
    for name, png in images.items():
        assert (
            png.startswith(b"\x89PNG") and (run_dir / f"{PNG_PREFIX}{name}.png").read_bytes() == png
        )
    assert {p.name for p in run_dir.glob(f"{PNG_PREFIX}*.png")} == {
        f"{PNG_PREFIX}{n}.png" for n in expected
    }
    for section in ("results-table", "dataset-table", "studies-table", "scale-table"):
        assert f'id="{section}"' in page
    assert not re.search(r"(src|href)=[\"'](https?:)?//", page)  # nothing fetched from a network
    # the explorer's scripts are inline: its data block and plain JavaScript, no src
    assert re.findall(r"<script[^>]*>", page) == [
        "<script type='application/json' id='explorer-data'>",
        "<script>",
    ]
    assert not list(run_dir.rglob("*.tmp"))


def test_results_and_dataset_tables_show_the_summary(run_dir):
    page = (run_dir / REPORT).read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    results = page.split('id="results-table"')[1].split("</table>")[0]
    assert results.count("<tr") == 1 + len(summary["configurations"])
    for row in summary["configurations"]:
        assert f"<td>{row['name']}</td>" in results
        assert f"{row['metrics']['hitrate']:.4f}" in results
    assert "better than the default" in page  # the legend of the marks
    dataset = page.split('id="dataset-table"')[1].split("</table>")[0]
    for key in ("songs", "events", "sequences", "length_p50", "play_log_pairs"):
        assert f"<td>{key}</td>" in dataset
    scale = page.split('id="scale-table"')[1].split("</table>")[0]
    assert "50%" in scale and "100%" in scale and "search@0.5" in scale


def test_history_shows_every_trial_once_with_its_status(run_dir):
    run = load_run(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    study = run.studies["search"]
    data = plots.history_data(study)
    assert list(data["number"]) == list(range(8)) == [t["number"] for t in study.trials]
    assert summary["studies"]["search"]["trials"] == len(data)
    statuses = list(data["status"])
    assert "failed" in statuses and "ok" in statuses
    assert statuses.count("failed") == summary["studies"]["search"]["failed"]
    assert statuses.count("infeasible") == summary["studies"]["search"]["infeasible"]
    assert data.loc[data.status != "ok", "hitrate"].isna().all()
    best = data["hitrate_best"].dropna().to_numpy()
    assert (np.diff(best) >= 0).all()
    feasible = data[data.feasible]
    assert (
        best[-1]
        == feasible["hitrate"].max()
        == summary["studies"]["search"]["best"][0]["objectives"][0]
    )
    page = (run_dir / REPORT).read_text()
    trials = page.split('id="trials-search"')[1].split("</table>")[0]
    assert trials.count('class="trial') == 8
    assert trials.count('class="trial failed"') == statuses.count("failed")


def test_pareto_plot_marks_the_chosen_points_on_the_front(run_dir):
    run = load_run(run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    chosen = [b["number"] for b in summary["studies"]["pareto"]["best"]]
    data = plots.pareto_data(run.studies["pareto"], chosen)
    assert sorted(data.loc[data.chosen, "number"]) == sorted(chosen)
    assert data.loc[data.chosen, "front"].all()
    assert len(data) == summary["studies"]["pareto"]["ok"]


def brute_force_k_occurrence(vectors: np.ndarray, ids: list[str], queries: list[str], k: int):
    """{song id: in how many of the queries' top-k lists (by cosine, the query left out)}, by
    a plain loop over the queries."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    row = {song: i for i, song in enumerate(ids)}
    counts = dict.fromkeys(ids, 0)
    for query in queries:
        q = row[query]
        ranked = sorted((j for j in range(len(ids)) if j != q), key=lambda j: -unit[q] @ unit[j])
        for j in ranked[:k]:
            counts[ids[j]] += 1
    return counts


def test_k_occurrence_histogram_recounts_the_exported_vectors(run_dir):
    """The report's histogram of each configuration equals a recount of the top-k lists of
    the health metric's queries, by brute force on the run's exported vectors."""
    run = load_run(run_dir)
    rows = {c["name"]: c for c in run.ok_configurations}
    per_query = run.per_query("health")
    tables = {name: row["tables"]["health.k_occurrence_histogram"] for name, row in rows.items()}
    data = plots.k_occurrence_data(tables, bins=6)  # few bins: wider ones than single values
    assert (data["low"] == plots.k_occurrence_bins(int(data["high"].max()), 6)[:-1]).all()
    assert (data["high"].iloc[1:] > data["low"].iloc[1:]).any()
    assert len(rows) >= 4
    for name, row in rows.items():
        songs = pd.read_parquet(run_dir / "embeddings" / name / "songs.parquet").sort_values("row")
        vectors = np.load(run_dir / "embeddings" / name / "vectors.npy").astype(np.float64)
        queries = per_query.loc[per_query["configuration"] == name, "song_id"].tolist()
        k = int(row["tables"]["health.health"]["data"][0][0])
        counts = brute_force_k_occurrence(vectors, songs["song_id"].tolist(), queries, k)
        expected = [
            sum(low <= c <= high for c in counts.values())
            for low, high in zip(data["low"], data["high"], strict=True)
        ]
        assert data[name].tolist() == expected, name
        assert sum(expected) == len(songs)
    page = (run_dir / REPORT).read_text()
    section = page.split("<h2 id='health'>")[1].split("<h2")[0]
    assert 'data-plot="k-occurrence"' in section and "top-5 lists" in section


def test_k_occurrence_bins_are_single_values_then_geometric():
    assert plots.k_occurrence_bins(7).tolist() == list(range(9))
    edges = plots.k_occurrence_bins(5000, 40)
    assert edges[0] == 0 and edges[1] == 1 and edges[-1] == 5001  # 0 alone: the anti-hubs
    assert (np.diff(edges) > 0).all() and len(edges) <= 42
    table = {"columns": ["k_occurrence", "songs"], "data": [[0, 3], [1, 2], [9, 4], [5000, 1]]}
    data = plots.k_occurrence_data({"a": table}, bins=40)
    assert data["a"].sum() == 10 and data["a"].iloc[0] == 3 and data["a"].iloc[-1] == 1


def test_report_command_rebuilds_from_files_without_training(copy, monkeypatch, capsys):
    def no_training(*args, **kwargs):
        raise AssertionError("embench report must not train")

    monkeypatch.setattr("embench.trial.train", no_training)
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and "report" not in p.name}
    old = (copy / REPORT).read_text()
    (copy / REPORT).unlink()
    (copy / f"{PNG_PREFIX}history-search.png").unlink()
    (copy / f"{PNG_PREFIX}stale.png").write_bytes(b"old")
    assert main(["report", str(copy)]) == 0
    assert "report written to" in capsys.readouterr().err
    page = (copy / REPORT).read_text()
    assert set(embedded(page)) == set(embedded(old))
    assert (copy / f"{PNG_PREFIX}history-search.png").exists()
    assert not (copy / f"{PNG_PREFIX}stale.png").exists()
    after = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file() and "report" not in p.name}
    assert after == before  # nothing but the report changed


def test_best_option_picks_the_configuration_shown(copy, capsys):
    assert main(["report", str(copy), "--best", "wide"]) == 0
    assert "'default' and 'wide' (chosen)" in html.unescape((copy / REPORT).read_text())
    assert main(["report", str(copy), "--best", "wid"]) == 2
    assert "did you mean 'wide'?" in capsys.readouterr().err


def test_interrupted_and_resumed_study_shows_each_trial_once(tmp_path, test_plugin):
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK)
    out = tmp_path / "out"
    args = ["run", str(bench), "--output", str(out), "--quiet"]
    assert main([*args, "--budget", "3"]) == 0  # stopped after 3 trials ...
    journal = out / "studies" / "search" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:40])  # ... killed mid-write
    assert main(args) == 0  # resumed to the budget of 6
    page = (out / REPORT).read_text()
    trials = page.split('id="trials-search"')[1].split("</table>")[0]
    assert trials.count('class="trial') == 6
    study = load_run(out).studies["search"]
    assert list(plots.history_data(study)["number"]) == list(range(6))
    assert "all 6 trials of study search" in page


def test_journal_reading_is_read_only_and_counts_each_trial_once(copy):
    journal = copy / "studies" / "search" / "journal.jsonl"
    lines = journal.read_text().splitlines()
    damaged = "\n".join([*lines, lines[3], lines[-1][:30]])  # a repeated trial, a cut last line
    journal.write_text(damaged)
    study = read_journal(journal, "search")
    assert [t["number"] for t in study.trials] == list(range(8))
    assert study.duplicates == 1 and study.corrupt_tail
    assert journal.read_text() == damaged  # not repaired behind the user's back
    assert main(["report", str(copy)]) == 0
    page = (copy / REPORT).read_text()
    assert "cut by an interrupted write" in page and "1 repeated trial record" in page
    assert page.split('id="trials-search"')[1].split("</table>")[0].count('class="trial') == 8


def test_a_run_without_studies_or_plots_still_gets_a_report(tmp_path, test_plugin):
    text = STUDY_BENCHMARK.split("[[study]]")[0]
    bench = write_benchmark(tmp_path, text)
    assert main(["run", str(bench), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    page = (tmp_path / "out" / REPORT).read_text()
    assert 'id="results-table"' in page and "<img" not in page


def test_a_report_that_cannot_be_built_does_not_fail_the_run(
    tmp_path, test_plugin, monkeypatch, capsys
):
    def broken(*args, **kwargs):
        raise RuntimeError("no plots today")

    monkeypatch.setattr("embench.report.html.write_report", broken)
    monkeypatch.delenv("EMBENCH_DEBUG", raising=False)
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK.split("[[study]]")[0])
    assert main(["run", str(bench), "--output", str(tmp_path / "out")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "report not written (RuntimeError: no plots today)" in err
    assert f"embench report {tmp_path / 'out'}" in err
    assert (tmp_path / "out" / "summary.json").exists()


# -- bad input ------------------------------------------------------------------------------------
def damage(run, how):
    """Break a copy of a run directory; returns the path to give the command."""
    summary = run / "summary.json"
    if how == "no such dir":
        return run / "nowhere"
    if how == "empty dir":
        empty = run.parent / "empty"
        empty.mkdir()
        return empty
    if how == "interrupted":
        summary.unlink()
    elif how == "newer format":
        data = json.loads(summary.read_text())
        summary.write_text(json.dumps({**data, "format_version": FORMAT_VERSION + 1}))
    elif how == "no format":
        data = json.loads(summary.read_text())
        del data["format_version"]
        summary.write_text(json.dumps(data))
    elif how == "no configurations":
        data = json.loads(summary.read_text())
        del data["configurations"]
        summary.write_text(json.dumps(data))
    elif how == "corrupt summary":
        summary.write_text(summary.read_text()[:100])
    elif how == "no config":
        (run / "config.json").unlink()
    elif how == "no journal":
        (run / "studies" / "pareto" / "journal.jsonl").unlink()
    elif how == "corrupt journal":
        journal = run / "studies" / "pareto" / "journal.jsonl"
        lines = journal.read_text().splitlines()
        lines[2] = lines[2][:20]
        journal.write_text("\n".join(lines) + "\n")
    return run


BAD = [
    ("no such dir", "nowhere: no such run directory"),
    ("empty dir", "summary.json is missing: not an embench run directory"),
    ("interrupted", "summary.json is missing: the run was interrupted"),
    ("newer format", f"format_version {FORMAT_VERSION + 1} (written by embench 0.1.0)"),
    ("no format", "no format_version"),
    ("no configurations", "summary.json: lacks configurations"),
    ("corrupt summary", "summary.json: not valid JSON"),
    ("no config", "config.json is missing (the resolved benchmark configuration)"),
]


@pytest.mark.parametrize(
    "how, message",
    [
        *BAD,
        ("no journal", "studies/pareto/journal.jsonl is missing (the journal of study 'pareto')"),
        ("corrupt journal", "journal.jsonl: line 3 is corrupt and is not the last line"),
    ],
)
def test_report_of_a_bad_run_directory_names_what_is_wrong(copy, capsys, how, message):
    assert main(["report", str(damage(copy, how))]) == 2
    assert message in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("how, message", BAD)
def test_check_and_compare_of_a_bad_run_directory(copy, run_dir, capsys, how, message):
    path = damage(copy, how)
    assert main(["check", str(path)]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
    assert main(["compare", str(run_dir), str(path)]) == 2
    assert message in " ".join(capsys.readouterr().err.split())
