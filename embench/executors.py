"""Where trials run: in this process, a local process pool, or a Dask cluster.

Every executor receives the dataset and split once (process initializer / Dask scatter) and
then runs ``execute(state, task)`` calls.

``wait_any`` returns the futures that finished (in submission order), whatever order they
finished in; the study journals each at once but tells its optimiser the results in the order it
asked for them (:mod:`embench.study`), so timing never changes which trials are chosen.

No orphans: process-pool workers end with the process that started them (Linux:
``prctl(PR_SET_PDEATHSIG, SIGKILL)``; everywhere: a thread that watches the parent's pid), so a
SIGKILL of ``embench run`` leaves no worker holding memory or its output pipe.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from embench.errors import ConfigError

_STATE: Any = None  # (dataset, split) inside process-pool workers
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
WATCH_SECONDS = 0.5  # how often a worker checks that its parent lives


def die_with_parent(parent: int, *, use_prctl: bool = True, interval: float = WATCH_SECONDS):
    """Make this (worker) process end when the process ``parent`` ends.

    Linux: the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``). Everywhere
    (and in case the parent died before that took effect): a daemon thread checks every
    ``interval`` seconds that the parent is still this process's parent, and ends the process
    at once when it is not.
    """
    if use_prctl and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent is already gone
        os._exit(1)
    threading.Thread(
        target=_watch_parent, args=(parent, interval), name="embench-parent-watch", daemon=True
    ).start()


def _watch_parent(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os._exit(1)


def _init_worker(state: Any, parent: int) -> None:
    global _STATE
    die_with_parent(parent)
    _STATE = state


def _in_worker(fn: Callable, task: Any) -> Any:
    return fn(_STATE, task)


class LocalExecutor:
    """One trial at a time, in this process."""

    workers = 1

    def __init__(self, state: Any) -> None:
        self.state = state

    def submit(self, fn: Callable, task: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(self.state, task))
        except BaseException as exc:  # delivered through the future like the other executors
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future

    def wait_any(self, futures: list) -> tuple[list, list]:
        return list(futures), []

    def close(self) -> None:
        pass


class ProcessExecutor:
    """``workers`` processes on this machine (forked, so the dataset is shared copy-on-write)."""

    def __init__(self, state: Any, workers: int) -> None:
        self.workers = workers
        context = multiprocessing.get_context("fork")
        self.pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(state, os.getpid()),
        )

    def submit(self, fn: Callable, task: Any) -> cf.Future:
        return self.pool.submit(_in_worker, fn, task)

    def wait_any(self, futures: list) -> tuple[list, list]:
        done, pending = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return [f for f in futures if f in done], [f for f in futures if f in pending]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor:
    """A Dask distributed ``Client``: the given scheduler, or a ``LocalCluster``."""

    def __init__(self, state: Any, workers: int, threads: int, scheduler: str | None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("executor = 'dask' needs Dask: pip install 'embench[dask]'") from None
        self.workers = workers
        self.cluster = None
        if scheduler:
            self.client = Client(scheduler)
        else:
            self.cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=threads,
                processes=True,
                dashboard_address=None,
            )
            self.client = Client(self.cluster)
        self.state = self.client.scatter(state, broadcast=True)

    def submit(self, fn: Callable, task: Any):
        return self.client.submit(fn, self.state, task, pure=False)

    def wait_any(self, futures: list) -> tuple[list, list]:
        from distributed import wait

        result = wait(futures, return_when="FIRST_COMPLETED")
        return [f for f in futures if f in result.done], [
            f for f in futures if f in result.not_done
        ]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(kind: str, state: Any, workers: int, threads: int, scheduler: str | None):
    if kind == "local" or (kind == "process" and workers == 1):
        return LocalExecutor(state)
    if kind == "process":
        return ProcessExecutor(state, workers)
    return DaskExecutor(state, workers, threads, scheduler)
