"""A folder with summary.json is always one consistent run: a rerun marks the folder in progress
and removes the old summary.json before it rewrites anything, and writes the new one last of
all (after report.html and its plots); a run killed in between leaves no summary.json."""

import json
import signal

import embench.runner
from embench.cli import main
from embench.lock import LOCK_FILE
from embench.output import RUNNING
from embench.summary import RunSummary
from tests.helpers import STUDY_BENCHMARK, write_benchmark
from tests.run_safety import lines, start_run, wait_for


def run(bench, out, *args):
    return main(["run", str(bench), "--output", str(out), "--quiet", *args])


def files(out):
    return {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}


def test_a_failure_mid_rewrite_leaves_no_summary_beside_new_files(
    tmp_path, test_plugin, monkeypatch, capsys
):
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK)
    out = tmp_path / "out"
    assert run(bench, out) == 0
    old_vectors = (out / "embeddings" / "default" / "vectors.npy").stat().st_mtime_ns
    real_export = embench.runner.export_embedding
    exported = []

    def export_then_fail(directory, embedding, dataset):
        real_export(directory, embedding, dataset)
        exported.append(directory.name)
        raise OSError(28, "No space left on device")  # the disk fills up mid-rewrite

    monkeypatch.setattr(embench.runner, "export_embedding", export_then_fail)
    capsys.readouterr()
    assert run(bench, out) == 2  # the machine's error, one message (not an internal error)
    err = capsys.readouterr().err
    assert "No space left on device" in err and "internal error" not in err
    assert exported == ["default"]
    assert (out / "embeddings" / "default" / "vectors.npy").stat().st_mtime_ns > old_vectors
    assert not (out / "summary.json").exists(), "the old summary beside a new embedding"
    marker = json.loads((out / RUNNING).read_text())
    assert marker["fingerprint"]["dataset"]["plugin"] == "tiny" and marker["pid"] > 0
    assert not (out / LOCK_FILE).exists()
    assert main(["report", str(out)]) == 2  # nothing reads the half-written folder as a run

    monkeypatch.setattr(embench.runner, "export_embedding", real_export)
    assert run(bench, out) == 0  # the same command finishes it
    assert (out / "summary.json").exists() and not (out / RUNNING).exists()


def test_summary_is_written_truly_last(tmp_path, test_plugin, monkeypatch):
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK)
    out = tmp_path / "out"
    assert run(bench, out) == 0
    seen = {}
    real_to_disk = RunSummary.to_disk

    def to_disk(self, path):
        seen["files"] = files(out)
        return real_to_disk(self, path)

    monkeypatch.setattr(RunSummary, "to_disk", to_disk)
    assert run(bench, out) == 0  # a rerun into the finished folder
    before = seen["files"]
    assert "summary.json" not in before and RUNNING in before  # the old one went first
    assert {"report.html", "config.json", "embeddings/default/vectors.npy"} <= before
    assert any(name.startswith("explorer/") for name in before)
    assert any(name.startswith("report-") and name.endswith(".png") for name in before)
    assert files(out) - before == {"summary.json"} and RUNNING not in files(out)
    last = (out / "summary.json").stat().st_mtime_ns
    assert all((out / name).stat().st_mtime_ns <= last for name in files(out))


def test_a_killed_rerun_leaves_no_summary(tmp_path, test_plugin, capsys):
    text = STUDY_BENCHMARK + "[study.params]\ndelay = 0.3\n"
    bench = write_benchmark(tmp_path, text)
    out = tmp_path / "out"
    assert run(bench, out) == 0
    journal = out / "studies" / "search" / "journal.jsonl"
    done = lines(journal)
    proc = start_run(bench, out, "--budget", "12")  # the finished folder, rerun to go further
    try:
        wait_for(lambda: lines(journal) >= done + 1, proc)  # training again: a trial journaled
        assert not (out / "summary.json").exists() and (out / RUNNING).exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert not (out / "summary.json").exists()
    capsys.readouterr()
    assert main(["report", str(out)]) == 2
    assert "interrupted" in capsys.readouterr().err
    assert run(bench, out, "--budget", "12") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["studies"]["search"]["trials"] == 12 and not (out / RUNNING).exists()
