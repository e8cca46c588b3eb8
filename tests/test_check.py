"""`embench check`: a run's metrics against thresholds; fabricated run directories and real runs."""

import json

import pytest

from embench.cli import main
from embench.summary import FORMAT_VERSION
from tests.helpers import write_benchmark

CONFIGURATIONS = {
    "default": {"hitrate": 0.20, "ndcg": 0.05, "hardneg": 0.10},
    "music": {"hitrate": 0.30, "ndcg": 0.08, "hardneg": 0.05},
}


def fake_run(
    path,
    configurations=CONFIGURATIONS,
    *,
    thresholds=None,
    failed=(),
    seed=0,
    format_version=FORMAT_VERSION,
):
    """A minimal finished run directory: summary.json and config.json."""
    path.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, metrics in configurations.items():
        bad = name in failed
        rows.append(
            {
                "name": name,
                "embedder": "word2vec",
                "params": {},
                "status": "failed" if bad else "ok",
                "error": "boom" if bad else None,
                "study": None,
                "train_seconds": 1.0,
                "eval_seconds": {},
                **({} if bad else {"metrics": metrics, "tables": {}}),
                "marks": {},
            }
        )
    summary = {
        "format_version": format_version,
        "benchmark": "fake",
        "seed": seed,
        "evaluated_on": "test",
        "versions": {"embench": "0.1.0"},
        "compared_with": "default",
        "configurations": rows,
        "studies": {},
        "scale": [],
    }
    config = {
        "benchmark": {"name": "fake", "seed": seed},
        "dataset": {"plugin": "tiny", "options": {}},
        "split": {"train": 0.8, "validation": 0.1, "test": 0.1, "subsample": 1.0},
        "metrics": {"next_song": {"k": 100}},
        "thresholds": thresholds or {},
    }
    (path / "summary.json").write_text(json.dumps(summary))
    (path / "config.json").write_text(json.dumps(config))
    return path


def check(*args):
    return main(["check", *map(str, args)])


def output(capsys):
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


def test_passes_with_a_one_line_summary(tmp_path, capsys):
    run = fake_run(tmp_path / "run", thresholds={"hitrate": {"min": 0.1}, "hardneg": {"max": 0.2}})
    assert check(run) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    assert "check passed: 4 bound(s) on 2 metric(s) of 2 configuration(s)" in " ".join(out.split())


def test_fails_below_a_minimum_with_a_table_of_violations(tmp_path, capsys):
    run = fake_run(tmp_path / "run", thresholds={"hitrate": {"min": 0.25}, "ndcg": {"min": 0.1}})
    assert check(run) == 1
    text = output(capsys)
    assert "threshold violations (3)" in text
    assert "default" in text and "0.2 " in text and ">= 0.25" in text
    assert "check failed: 3 of 4 bound(s) violated" in text


def test_bounds_are_inclusive_and_max_and_configuration_apply(tmp_path, capsys):
    thresholds = {
        "hitrate": {"min": 0.3, "configuration": "music"},
        "hardneg": {"max": 0.05, "configuration": ["music"]},
    }
    assert check(fake_run(tmp_path / "ok", thresholds=thresholds)) == 0
    thresholds["hardneg"]["configuration"] = ["music", "default"]
    assert check(fake_run(tmp_path / "bad", thresholds=thresholds)) == 1
    text = output(capsys)
    assert "hardneg" in text and "<= 0.05" in text and "0.1" in text


def test_thresholds_file_applies_besides_the_benchmark_table(tmp_path, capsys):
    run = fake_run(tmp_path / "run", thresholds={"hitrate": {"min": 0.1}})
    plain = tmp_path / "plain.toml"
    plain.write_text("ndcg = { min = 0.06 }\n")
    table = tmp_path / "table.toml"
    table.write_text("[thresholds]\nndcg = { min = 0.01 }\n")
    assert check(run, "--thresholds", table) == 0
    assert check(run, "--thresholds", plain) == 1
    text = output(capsys)
    assert str(plain) in text and "ndcg" in text


def test_relative_bounds_against_a_baseline(tmp_path, capsys):
    baseline = fake_run(tmp_path / "base")
    worse = {name: dict(values) for name, values in CONFIGURATIONS.items()}
    worse["music"]["hitrate"] = 0.30 * 0.97  # 3% below
    worse["music"]["hardneg"] = 0.05 * 1.2  # 20% above
    run = fake_run(tmp_path / "run", worse)
    rules = tmp_path / "rel.toml"
    rules.write_text("hitrate = { min_relative = -0.05 }\nhardneg = { max_relative = 0.1 }\n")
    assert check(run, "--thresholds", rules, "--baseline", baseline) == 1
    text = output(capsys)
    assert "check failed: 1 of 4" in text and "baseline 0.05 +10.0%" in text
    rules.write_text("hitrate = { min_relative = -0.02 }\n")
    assert check(run, "--thresholds", rules, "--baseline", baseline) == 1
    rules.write_text("hitrate = { min_relative = -0.05 }\n")
    assert check(run, "--thresholds", rules, "--baseline", baseline) == 0


def test_configuration_missing_from_the_baseline_is_skipped(tmp_path, capsys):
    baseline = fake_run(tmp_path / "base", {"default": CONFIGURATIONS["default"]})
    run = fake_run(tmp_path / "run", thresholds={"hitrate": {"min_relative": -0.01}})
    assert check(run, "--baseline", baseline) == 0
    text = output(capsys)
    assert "skipped" in text and "'music'" in text and "1 skipped" in text


def test_missing_value_and_failed_configuration_violate(tmp_path, capsys):
    values = {"default": {"hitrate": None, "ndcg": 0.1}, "music": CONFIGURATIONS["music"]}
    run = fake_run(tmp_path / "nan", values, thresholds={"hitrate": {"min": 0.0}})
    assert check(run) == 1
    assert "not measured (NaN)" in output(capsys)
    thresholds = {"hitrate": {"min": 0.0, "configuration": "music"}}
    run = fake_run(tmp_path / "failed", thresholds=thresholds, failed=["music"])
    assert check(run) == 1
    assert "configuration failed: boom" in output(capsys)
    # Without a configuration named, only ok ones are checked; none ok is a violation.
    run = fake_run(tmp_path / "some", thresholds={"hitrate": {"min": 0}}, failed=["music"])
    assert check(run) == 0
    failed = list(CONFIGURATIONS)
    run = fake_run(tmp_path / "none", thresholds={"hitrate": {"min": 0}}, failed=failed)
    assert check(run) == 1
    assert "no ok configuration to check" in output(capsys)


@pytest.mark.parametrize(
    "thresholds, extra, message",
    [
        ({"hitrat": {"min": 0.1}}, [], "reports 'hitrat'; did you mean 'hitrate'?"),
        ({"hitrate": {"minimum": 0.1}}, [], "unknown key 'minimum'; did you mean 'min'?"),
        ({"hitrate": {}}, [], "give at least one of min, max"),
        ({"hitrate": {"min": 0.5, "max": 0.1}}, [], "min 0.5 is above max 0.1"),
        ({"hitrate": {"min": "high"}}, [], "thresholds.hitrate: min"),
        ({"hitrate": 0.1}, [], "must be a table such as"),
        ({"hitrate": {"min": 0.1, "configuration": "defualt"}}, [], "did you mean 'default'?"),
        ({"hitrate": {"min_relative": -0.05}}, [], "give --baseline RUN_DIR"),
        ({}, [], "no thresholds to check"),
        ({}, ["--thresholds", "missing.toml"], "missing.toml: thresholds file not found"),
    ],
)
def test_bad_thresholds_exit_2_with_a_clear_message(tmp_path, capsys, thresholds, extra, message):
    run = fake_run(tmp_path / "run", thresholds=thresholds)
    extra = [str(tmp_path / e) if e.endswith(".toml") else e for e in extra]
    assert check(run, *extra) == 2
    assert message in output(capsys)


def test_malformed_thresholds_file(tmp_path, capsys):
    run = fake_run(tmp_path / "run")
    bad = tmp_path / "bad.toml"
    bad.write_text("hitrate = { min = \n")
    assert check(run, "--thresholds", bad) == 2
    assert "malformed TOML" in output(capsys)


def test_json_output(tmp_path, capsys):
    run = fake_run(tmp_path / "run", thresholds={"hitrate": {"min": 0.25}})
    assert check(run, "--json") == 1
    data = json.loads(capsys.readouterr().out)
    assert data["passed"] is False
    assert [(c["configuration"], c["ok"]) for c in data["checks"]] == [
        ("default", False),
        ("music", True),
    ]


REAL = """
[benchmark]
name = "tiny-check"
seed = 2
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

[[configuration]]
name = "wide"
embedder = "random"
[configuration.params]
dim = 12

[thresholds]
hitrate = { min = MIN }
"""


def test_real_run_check_and_run_with_check(tmp_path, test_plugin, capsys):
    bench = write_benchmark(tmp_path, REAL.replace("MIN", "0.0"))
    out = tmp_path / "out"
    assert main(["run", str(bench), "-o", str(out), "--quiet", "--check"]) == 0
    assert "check passed: 2 bound(s)" in output(capsys)
    summary = json.loads((out / "summary.json").read_text())
    hitrate = summary["configurations"][0]["metrics"]["hitrate"]
    strict = tmp_path / "strict.toml"
    strict.write_text(f'hitrate = {{ min = {hitrate + 1e-9!r}, configuration = "default" }}\n')
    assert check(out, "--thresholds", strict) == 1
    assert "threshold violations (1)" in output(capsys)
    assert check(out, "--baseline", out, "--thresholds", strict) == 1
    relative = tmp_path / "relative.toml"
    relative.write_text("hitrate = { min_relative = 0.0 }\nndcg = { max_relative = 0.0 }\n")
    assert check(out, "--thresholds", relative, "--baseline", out) == 0  # equal to itself
    capsys.readouterr()
    # The benchmark's own threshold fails: `embench run --check` exits 1 (the run is kept).
    bench = write_benchmark(tmp_path, REAL.replace("MIN", "1.01"), name="high.toml")
    assert main(["run", str(bench), "-o", str(tmp_path / "high"), "--quiet", "--check"]) == 1
    assert "check failed: 2 of 2" in output(capsys)
    assert (tmp_path / "high" / "summary.json").exists()
