"""No orphans: process-pool workers die with a SIGKILLed parent, so a pipe reading the output
sees EOF."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from embench.executors import die_with_parent
from tests.helpers import REPO, STUDY_BENCHMARK, write_benchmark
from tests.run_safety import alive, children, start_run, wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

POOLED = STUDY_BENCHMARK.replace("budget = 6", "budget = 30").replace(
    "time_budget = 1000", 'time_budget = 1000\nexecutor = "process"\nworkers = 2'
)


def test_sigkill_of_the_parent_leaves_no_worker_and_the_pipe_sees_eof(tmp_path, test_plugin):
    bench = write_benchmark(tmp_path, POOLED + "[study.params]\ndelay = 0.5\n")
    proc = start_run(bench, tmp_path / "out", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    workers: set[int] = set()
    try:
        wait_for(lambda: len(children(proc.pid)) >= 2, proc)  # the pool is up
        workers = children(proc.pid)
        assert all(alive(pid) for pid in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(alive(pid) for pid in workers):
            time.sleep(0.05)
        assert not [pid for pid in workers if alive(pid)], "pool workers outlived their parent"
        out, err = proc.communicate(timeout=10)  # EOF: no worker holds the pipes open
    finally:
        for pid in workers:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


ORPHAN_SCRIPT = textwrap.dedent(
    """
    import multiprocessing, os, sys, time
    from embench.executors import die_with_parent

    def worker(parent):
        die_with_parent(parent, use_prctl=sys.argv[1] == "prctl", interval=0.1)
        time.sleep(120)

    if __name__ == "__main__":
        child = multiprocessing.get_context("fork").Process(target=worker, args=(os.getpid(),))
        child.start()
        print(child.pid, flush=True)
        time.sleep(120)
    """
)


@pytest.mark.parametrize("way", ["prctl", "watch"])
def test_a_worker_dies_with_its_parent(tmp_path, way):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, way], stdout=subprocess.PIPE, text=True, env=env
    )
    worker = int(proc.stdout.readline())
    try:
        time.sleep(0.3)  # the worker has set itself up
        assert alive(worker)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        wait_for(lambda: not alive(worker), timeout=5)
    finally:
        if alive(worker):
            os.kill(worker, signal.SIGKILL)
        proc.stdout.close()


def test_a_worker_whose_parent_is_already_gone_ends_at_once():
    other = os.getpid() + 1_000_000  # never our parent
    child = multiprocessing.get_context("fork").Process(target=die_with_parent, args=(other,))
    child.start()
    child.join(10)
    assert child.exitcode == 1
