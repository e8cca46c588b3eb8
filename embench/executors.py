"""Where trials run: in this process, a local process pool, or a Dask cluster.

Every executor receives the dataset and split once (process initializer / Dask scatter) and
then runs ``execute(state, task)`` calls, so results never depend on the executor.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Callable
from typing import Any

from embench.errors import ConfigError

_STATE: Any = None  # (dataset, split) inside process-pool workers


def _init_worker(state: Any) -> None:
    global _STATE
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
            max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(state,)
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
