"""Running the cases: in this process, in a pool of local processes, or on a Dask cluster.

Cases go out in chunks (a few cases per task: enough tasks per worker to balance the load,
enough cases per task to keep the overhead small) and come back as the small statistics of
:mod:`~regionloss.scoring.cases`; the caller sorts them by case index, so every runner gives
the same report. Progress is reported as each chunk finishes, ``progress(done, total)`` in
cases.

Stopping: when a chunk fails or the run is interrupted (Ctrl-C, ``KeyboardInterrupt``), the
chunks not started are cancelled and the worker processes are ended at once, so the error
(or the interruption) reaches the caller without waiting for the other chunks. Worker
processes ignore SIGINT: a Ctrl-C in a terminal reaches the whole process group, and only
the parent should act on it (no traceback from each worker).
"""

from __future__ import annotations

import signal
import sys
from typing import Any, Callable, Sequence

import numpy as np

from .._kernels.devices import threaded_runtimes
from .cases import CaseSettings, CaseStats, score_case, score_chunk, sum_confusions
from .errors import MissingDependencyError
from .matching import Case

__all__ = ["chunk_cases", "chunk_size", "run_serial", "run_pool", "run_processes", "run_dask"]

Progress = Callable[[int, int], None]


def chunk_cases(cases: Sequence[Case], size: int) -> list[list[tuple[int, Case]]]:
    """``cases`` with their indices, in chunks of ``size``."""
    indexed = list(enumerate(cases))
    return [indexed[i:i + size] for i in range(0, len(indexed), size)]


def chunk_size(n_cases: int, n_workers: int) -> int:
    """About four tasks per worker (load balance), at most 32 cases per task (progress)."""
    return max(1, min(32, n_cases // (4 * n_workers)))


def run_serial(cases: Sequence[Case], settings: CaseSettings,
               progress: Progress | None = None) -> list[CaseStats]:
    """Score every case in this process, in order."""
    results = []
    for index, case in enumerate(cases):
        results.append(score_case(index, case, settings))
        if progress is not None:
            progress(index + 1, len(cases))
    return results


def run_pool(executor, chunks: Sequence[Sequence[tuple[int, Case]]], settings: CaseSettings,
             progress: Progress | None = None, *,
             on_stop: Callable[[], None] | None = None) -> list[CaseStats]:
    """Submit every chunk to ``executor`` (a :class:`concurrent.futures.Executor`) and
    collect the results as each chunk finishes, reporting progress as it goes.

    The first failing chunk's error is re-raised (the remaining chunks cancelled); so is an
    interruption while waiting. ``on_stop`` is called before re-raising (e.g. to end the
    worker processes).
    """
    from concurrent.futures import FIRST_COMPLETED, wait

    total = sum(len(chunk) for chunk in chunks)
    pending = {executor.submit(score_chunk, chunk, settings) for chunk in chunks}
    results: list[CaseStats] = []
    try:
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                chunk_result = future.result()  # re-raises a worker's error
                results.extend(chunk_result)
                if progress is not None:
                    progress(len(results), total)
    except BaseException:
        for future in pending:
            future.cancel()
        if on_stop is not None:
            on_stop()
        raise
    return results


def _mp_context():
    import multiprocessing
    import threading

    methods = multiprocessing.get_all_start_methods()
    if ("fork" in methods and threading.active_count() == 1 and not threaded_runtimes()
            and sys.platform != "darwin"):
        # A single-threaded parent (the command line) forks safely, and forking is what
        # makes a pool pay off on a few hundred cases (no interpreter start-up per worker).
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        # Safe with threads in the parent (unlike fork); the server imports NumPy and
        # regionloss once, so each worker starts by a cheap fork.
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "regionloss.scoring", "regionloss.metrics"])
        return ctx
    return multiprocessing.get_context("spawn")


def _ignore_sigint() -> None:
    """Worker initializer: the parent alone handles Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _end_workers(pool) -> None:
    """End the worker processes now (not after their current chunk) and cancel what has
    not started: a failed or interrupted run stops at once."""
    terminate = getattr(pool, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    # Older Pythons have no public way; the executor keeps its processes here (until
    # shutdown, which forgets them: so they are ended first).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)


def run_processes(cases: Sequence[Case], settings: CaseSettings, workers: int,
                  progress: Progress | None = None) -> list[CaseStats]:
    """Score ``cases`` in ``workers`` local processes."""
    from concurrent.futures import ProcessPoolExecutor

    chunks = chunk_cases(cases, chunk_size(len(cases), workers))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(),
                               initializer=_ignore_sigint)
    results = run_pool(pool, chunks, settings, progress, on_stop=lambda: _end_workers(pool))
    pool.shutdown(wait=True)
    return results


def run_dask(cases: Sequence[Case], settings: CaseSettings, scheduler: Any,
             progress: Progress | None = None) -> tuple[list[CaseStats], np.ndarray]:
    """Score ``cases`` on a Dask distributed cluster (an address or a ``Client``); returns
    the per-case statistics and the pooled confusion matrix, summed on the cluster."""
    try:
        import distributed
    except ImportError as exc:
        raise MissingDependencyError(
            f"{settings.spelling.name('scheduler')} needs Dask distributed, which is not "
            "installed: pip install 'regionloss[dask]'"
        ) from exc
    own_client = not isinstance(scheduler, distributed.Client)
    client = distributed.Client(scheduler, set_as_default=False) if own_client else scheduler
    futures: list = []
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        chunks = chunk_cases(cases, chunk_size(len(cases), n_workers))
        futures = client.map(score_chunk, chunks, settings=settings, pure=False)
        # The mergeable statistics are reduced on the cluster: one integer sum.
        pooled_future = client.submit(sum_confusions, *futures, pure=False)
        futures.append(pooled_future)
        results: list[CaseStats] = []
        for future in distributed.as_completed(futures[:-1], loop=client.loop):
            chunk_result = future.result()  # re-raises a worker's error
            results.extend(chunk_result)
            if progress is not None:
                progress(len(results), len(cases))
        pooled = pooled_future.result()
    except BaseException:
        if futures:
            client.cancel(futures)
        if own_client:
            client.close()
        raise
    if own_client:
        client.close()
    return results, pooled
