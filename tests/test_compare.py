"""`embench compare RUN_A RUN_B`: both runs' values, paired tests where the queries pair up."""

import json

import numpy as np
import pandas as pd
import pytest

from embench.cli import main
from embench.report.compare import compare_runs
from embench.report.load import load_run
from tests.helpers import write_benchmark
from tests.test_check import fake_run

BENCH = """
[benchmark]
name = "tiny-compare"
seed = SEED
threads = 1

[dataset]
plugin = "tiny"

[split]
train = 0.8
validation = 0.1
test = 0.1

[[configuration]]
name = "default"
embedder = "random"
[configuration.params]
dim = DIM

[metrics.next_song]
[metrics.hardneg]
[metrics.vrc_genre]
"""


def real_run(tmp_path, name, seed=1, dim=8):
    bench = write_benchmark(
        tmp_path, BENCH.replace("SEED", str(seed)).replace("DIM", str(dim)), f"{name}.toml"
    )
    out = tmp_path / name
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0
    return out


def rows_of(comparison):
    return {(r.configuration, r.metric): r for r in comparison.table.itertuples()}


def test_two_real_runs_get_paired_tests(tmp_path, test_plugin, capsys):
    a, b = real_run(tmp_path, "a"), real_run(tmp_path, "b", dim=3)
    run_a, run_b = load_run(a), load_run(b)
    rows = rows_of(compare_runs(run_a, run_b))
    per_query = pd.read_parquet(a / "per_query" / "next_song.parquet")
    hitrate = rows["default", "hitrate"]
    summary_a = json.loads((a / "summary.json").read_text())["configurations"][0]["metrics"]
    summary_b = json.loads((b / "summary.json").read_text())["configurations"][0]["metrics"]
    assert hitrate.a == summary_a["hitrate"] and hitrate.b == summary_b["hitrate"]
    assert hitrate.difference == pytest.approx(summary_b["hitrate"] - summary_a["hitrate"])
    assert hitrate.n == len(per_query) and 0 <= hitrate.p <= 1
    assert rows["default", "hardneg"].n > 0 and rows["default", "hardneg"].direction == "min"
    vrc = rows["default", "vrc_genre"]
    assert vrc.n == 0 and np.isnan(vrc.p) and vrc.note == "no per-query values"
    assert main(["compare", str(a), str(b)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "hitrate" in out and "vrc_genre" in out and "no per-query values" in out


def test_a_run_against_itself_shows_no_difference(tmp_path, test_plugin):
    a = real_run(tmp_path, "a")
    comparison = compare_runs(load_run(a), load_run(a), all_keys=True)
    table = comparison.table
    assert {"hitrate_in", "ndcg_out"} <= set(table.metric)
    assert (table.difference == 0).all() and (table.better == "").all()
    tested = table[table.n > 0]
    assert len(tested) == 3 and (tested.p == 1).all()  # hitrate, ndcg, hardneg
    assert any("3 paired t-test(s)" in note for note in comparison.notes)


def test_runs_on_different_splits_are_not_paired(tmp_path, test_plugin, capsys):
    a, b = real_run(tmp_path, "a", seed=1), real_run(tmp_path, "b", seed=2)
    comparison = compare_runs(load_run(a), load_run(b))
    assert comparison.table.p.isna().all() and (comparison.table.n == 0).all()
    assert rows_of(comparison)["default", "hitrate"].note == "not paired"
    assert any("differ in seed" in note for note in comparison.notes)
    assert main(["compare", str(a), str(b)]) == 0
    assert "differ in seed" in " ".join(capsys.readouterr().err.split())


def with_per_query(path, hits, hardneg):
    """Per-query next_song and hardneg tables for the fake run's configurations."""
    frames, shares = [], []
    for name, values in hits.items():
        n = len(values)
        frames.append(
            pd.DataFrame(
                {
                    "configuration": name,
                    "set": "out",
                    "query_song": [f"q{i}" for i in range(n)],
                    "target_song": [f"t{i}" for i in range(n)],
                    "hit": values,
                    "ndcg": np.asarray(values, dtype=float) / 2,
                }
            )
        )
        shares.append(
            pd.DataFrame(
                {
                    "configuration": name,
                    "song_id": [f"s{i}" for i in range(len(hardneg[name]))],
                    "hardneg": hardneg[name],
                }
            )
        )
    (path / "per_query").mkdir(exist_ok=True)
    pd.concat(frames).to_parquet(path / "per_query" / "next_song.parquet")
    pd.concat(shares).to_parquet(path / "per_query" / "hardneg.parquet")
    config = json.loads((path / "config.json").read_text())
    config["metrics"]["hardneg"] = {}
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_significant_differences_are_marked_in_the_metric_direction(tmp_path, capsys):
    rng = np.random.default_rng(0)
    low, high = rng.random(400) < 0.2, rng.random(400) < 0.6
    a = with_per_query(
        fake_run(tmp_path / "a"),
        {"default": low, "music": high},
        {"default": rng.random(200) * 0.2, "music": rng.random(200) * 0.2},
    )
    b = with_per_query(
        fake_run(tmp_path / "b"),
        {"default": high, "music": high},
        {"default": rng.random(200) * 0.05, "music": rng.random(200) * 0.2 + 0.1},
    )
    rows = rows_of(compare_runs(load_run(a), load_run(b)))
    assert rows["default", "hitrate"].better == "B" and rows["default", "hitrate"].p < 1e-6
    assert rows["default", "ndcg"].better == "B"
    assert rows["music", "hitrate"].better == "" and rows["music", "hitrate"].p == 1
    assert rows["default", "hardneg"].better == "B"  # lower is better
    assert rows["music", "hardneg"].better == "A"
    assert main(["compare", str(a), str(b), "--json", "-c", "music"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {r["configuration"] for r in data["rows"]} == {"music"}
    assert any("Bonferroni" in note for note in data["notes"])


def test_missing_per_query_file_and_unknown_metric_are_notes(tmp_path):
    a = fake_run(tmp_path / "a")
    b = fake_run(tmp_path / "b")
    config = json.loads((b / "config.json").read_text())
    config["metrics"]["mystery"] = {}
    (b / "config.json").write_text(json.dumps(config))
    comparison = compare_runs(load_run(a), load_run(b))
    rows = rows_of(comparison)
    assert "next_song.parquet is missing" in rows["default", "hitrate"].note
    assert any("metric 'mystery' is not installed" in n for n in comparison.notes)


def test_bad_configuration_choices_exit_2(tmp_path, capsys):
    a = fake_run(tmp_path / "a")
    b = fake_run(tmp_path / "b", {"other": {"hitrate": 0.1}})
    assert main(["compare", str(a), str(b)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no configuration in common" in err and "default, music" in err and "other" in err
    assert main(["compare", str(a), str(a), "-c", "musik"]) == 2
    assert "did you mean 'music'?" in " ".join(capsys.readouterr().err.split())
