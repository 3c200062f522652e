"""Using both cores inside one stage: a small process pool whose results come back in order.

Reading and checking files (`ingest.loader`) and building silver tables (`ingest.standardize`) are
CPU-bound Python/Polars/DuckDB work that one process keeps on about one core. The stages hand
independent jobs (a run of files, one silver table) to `ingest.workers` processes and take the
results back *in submission order*, so what is written, and in which order, is exactly what the
single-process run writes; only the writers stay in the calling process. At most `window` jobs are
out at a time, so the results waiting to be consumed stay bounded.

Workers are started with `spawn` (never `fork`: the caller holds DuckDB connections and Polars
thread pools that do not survive a fork) when a stage first has more than one job, and kept for
the life of the process. They end with it: a normal exit shuts them down (`atexit`), and a parent
killed outright (SIGKILL, or SIGTERM without a handler: no `atexit` runs) is noticed by a watchdog
thread in each worker, which exits the worker, so no orphan keeps its memory.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from warehouse import logs

Job = TypeVar("Job")
Result = TypeVar("Result")
Item = TypeVar("Item")


_EXECUTORS: dict[int, ProcessPoolExecutor] = {}


def _executor(workers: int) -> ProcessPoolExecutor:
    """One set of worker processes per process, started on first use and kept: starting a spawned
    worker (importing Polars, DuckDB, deltalake) costs seconds, more than a small source's load."""
    if workers not in _EXECUTORS:
        _EXECUTORS[workers] = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(logging.getLogger().getEffectiveLevel(),),
        )
    return _EXECUTORS[workers]


def _start_worker(log_level: int) -> None:
    """Worker initializer: log as the parent does (a spawned process starts with Python's default,
    WARNING, so what a worker reports at INFO, such as standardize's `standardize <table>` progress
    lines, was lost), then watch the parent."""
    logs.configure(verbosity=int(log_level <= logging.DEBUG), quiet=log_level >= logging.WARNING)
    _exit_with_parent()


def _exit_with_parent() -> None:
    """A daemon thread waits on the parent's sentinel (a pipe the parent holds open; the kernel
    closes it however the parent dies) and ends this worker when it fires. Idle workers would
    otherwise wait on the job queue forever, busy ones finish a job nobody collects."""
    parent = multiprocessing.parent_process()
    if parent is None or parent.sentinel is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(1)  # no cleanup to run: the parent, which owns the stage, is gone

    threading.Thread(target=watch, name="cdp-exit-with-parent", daemon=True).start()


@atexit.register
def _shutdown() -> None:
    for executor in _EXECUTORS.values():
        executor.shutdown(wait=True, cancel_futures=True)
    _EXECUTORS.clear()


def release() -> None:
    """Stop the kept workers; the next stage that needs them starts fresh ones.

    A worker keeps the memory its last jobs grew (the allocators of Polars and DuckDB do not give
    freed arenas back to the system): after ingest each holds about 1 GB at 1M people, on top of
    which standardize's largest builds would run. A fresh start costs a few seconds per worker.
    """
    _shutdown()


class Pool:
    """`workers` processes, started on first use (a stage with one job never starts any)."""

    def __init__(self, workers: int):
        self.workers = workers

    def map_ordered(self, fn: Callable[[Job], Result], jobs: Sequence[Job]) -> Iterator[Result]:
        """`fn(job)` for every job, in order: in the workers when there is more than one job."""
        if self.workers <= 1 or len(jobs) <= 1 or multiprocessing.current_process().daemon:
            # (a daemonic process, such as some executors' task processes, may not start children)
            yield from (fn(job) for job in jobs)
            return
        executor = _executor(self.workers)
        window = self.workers + 1  # one job queued behind each busy worker, one being consumed
        pending: deque[Future[Result]] = deque()
        try:
            for job in jobs:
                pending.append(executor.submit(fn, job))
                if len(pending) >= window:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        except BrokenProcessPool:
            # a worker died (killed, out of memory): start afresh next time
            _EXECUTORS.pop(self.workers, None)
            raise
        finally:
            for future in pending:  # an error stops the stage: jobs not started are dropped
                future.cancel()


def runs(items: Iterable[Item], size: Callable[[Item], int], target: int) -> list[list[Item]]:
    """Consecutive items packed into runs of about `target` (by `size`); order is kept."""
    out: list[list[Item]] = []
    current: list[Item] = []
    total = 0
    for item in items:
        current.append(item)
        total += size(item)
        if total >= target:
            out.append(current)
            current, total = [], 0
    if current:
        out.append(current)
    return out
