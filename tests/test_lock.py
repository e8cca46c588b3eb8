"""One writer per output directory: a second `embench run` on a folder in use exits 2, naming
the running process; the kernel drops the lock when the holder dies, whatever kills it."""

import json
import signal
import socket
import subprocess

import pytest

from embench.cli import main
from embench.lock import LOCK_FILE, LockedError, OutputLock
from embench.output import RUNNING
from tests.helpers import STUDY_BENCHMARK, write_benchmark
from tests.run_safety import lines, snapshot, start_run, wait_for

SLOW = STUDY_BENCHMARK.replace("budget = 6", "budget = 10") + "[study.params]\ndelay = 0.6\n"


def trial_numbers(out):
    path = out / "studies" / "search" / "journal.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r["number"] for r in records if r["kind"] == "trial"]


def test_a_second_run_on_the_same_folder_exits_2_naming_the_first(tmp_path, test_plugin):
    bench = write_benchmark(tmp_path, SLOW)
    out = tmp_path / "out"
    first = start_run(bench, out)
    try:
        journal = out / "studies" / "search" / "journal.jsonl"
        wait_for(lambda: lines(journal) >= 3, first)  # header, default, a trial: mid-study
        before = snapshot(out)
        second = start_run(bench, out, stderr=subprocess.PIPE, text=True)
        _, err = second.communicate(timeout=120)
        err = " ".join(err.split())
        assert second.returncode == 2, err
        assert f"{out} is in use by another embench run" in err
        assert f"pid {first.pid}" in err and f"on {socket.gethostname()}" in err
        assert "since 20" in err and "--output" in err  # start time, what to do
        assert "Traceback" not in err
        changed = {k for k, v in snapshot(out).items() if before.get(k) != v}
        assert first.poll() is None, "the first run must still be training"
        assert changed <= {"studies/search/journal.jsonl"}, changed  # only the first run wrote
        assert first.wait(timeout=120) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert trial_numbers(out) == list(range(10))  # every trial journaled once
    assert not (out / LOCK_FILE).exists() and not (out / RUNNING).exists()
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0  # free again
    assert trial_numbers(out) == list(range(10))


def test_the_kernel_releases_the_lock_of_a_killed_run(tmp_path, test_plugin):
    bench = write_benchmark(tmp_path, STUDY_BENCHMARK + "[study.params]\ndelay = 0.4\n")
    out = tmp_path / "out"
    first = start_run(bench, out)
    journal = out / "studies" / "search" / "journal.jsonl"
    try:
        wait_for(lambda: lines(journal) >= 3, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    assert (out / LOCK_FILE).exists()  # left behind, but nobody holds it
    assert main(["run", str(bench), "--output", str(out), "--quiet"]) == 0
    assert sorted(trial_numbers(out)) == list(range(6))
    assert not (out / LOCK_FILE).exists()


def test_lock_in_one_process_refuses_a_second_holder_and_is_taken_again(tmp_path):
    with OutputLock(tmp_path / "a" / "b") as lock:
        info = json.loads(lock.path.read_text())
        assert info["pid"] > 0 and info["host"] == socket.gethostname()
        with pytest.raises(LockedError, match=f"pid {info['pid']}"):
            OutputLock(tmp_path / "a" / "b").acquire()  # another open file: flock refuses
    assert not (tmp_path / "a" / "b" / LOCK_FILE).exists()
    OutputLock(tmp_path / "a" / "b").acquire().release()


def test_a_refused_start_removes_the_folders_it_created(tmp_path):
    lock = OutputLock(tmp_path / "new" / "run").acquire()
    assert (tmp_path / "new" / "run").is_dir()
    lock.release(remove_created=True)
    assert list(tmp_path.iterdir()) == []
