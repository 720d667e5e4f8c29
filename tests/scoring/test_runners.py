"""Tests of regionloss.scoring.runners: serial, process-pool and Dask runs give the same
numbers; progress advances as chunks finish; a failure or an interruption stops the run."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from regionloss.scoring import runners, score
from regionloss.scoring.cases import CaseSettings, CaseStats
from regionloss.scoring.errors import ScoringError
from regionloss.scoring.matching import Case
from regionloss.scoring.options import check_options

from ._data import C, make_dataset, write_mask

SETTINGS = CaseSettings.from_options(check_options("p", "t", num_classes=2))


def _stats(chunk):
    return [CaseStats(i, np.zeros((2, 2), np.int64), {}, None) for i, _ in chunk]


def test_chunks():
    cases = [Case(str(i), "p", "r") for i in range(7)]
    chunks = runners.chunk_cases(cases, 3)
    assert [[i for i, _ in c] for c in chunks] == [[0, 1, 2], [3, 4, 5], [6]]
    assert runners.chunk_size(9, 2) == 1 and runners.chunk_size(1000, 2) == 32
    assert runners.chunk_size(200, 2) == 25


def test_progress_advances_as_chunks_finish(monkeypatch):
    """The first chunk finishes only once progress has been reported for another one: a
    runner that reported all chunks at the end would keep it waiting (and fail here)."""
    reported = threading.Event()
    released = []

    def fake_chunk(chunk, settings):
        if chunk[0][0] == 0:
            released.append(reported.wait(timeout=10))
        return _stats(chunk)

    monkeypatch.setattr(runners, "score_chunk", fake_chunk)
    seen = []

    def progress(done, total):
        seen.append((done, total))
        reported.set()

    cases = [Case(f"c{i}", "p", "r") for i in range(5)]
    with ThreadPoolExecutor(2) as pool:
        results = runners.run_pool(pool, runners.chunk_cases(cases, 1), SETTINGS, progress)
    assert released == [True], "progress was not reported while a chunk was still running"
    assert seen == [(i, 5) for i in range(1, 6)]
    assert sorted(s.index for s in results) == list(range(5))


@pytest.mark.parametrize("stop", [ScoringError("bad case"), KeyboardInterrupt()])
def test_a_failure_or_interruption_stops_the_pool(monkeypatch, stop):
    release = threading.Event()
    started = []

    def fake_chunk(chunk, settings):
        started.append(chunk[0][0])
        if chunk[0][0] == 1 and isinstance(stop, ScoringError):
            raise stop
        release.wait(timeout=10)
        return _stats(chunk)

    def progress(done, total):
        raise stop  # (an interruption arrives while the parent reports progress)

    monkeypatch.setattr(runners, "score_chunk", fake_chunk)
    stopped = []
    cases = [Case(f"c{i}", "p", "r") for i in range(40)]
    with ThreadPoolExecutor(2) as pool:
        with pytest.raises(type(stop)):
            runners.run_pool(pool, runners.chunk_cases(cases, 1), SETTINGS,
                             None if isinstance(stop, ScoringError) else progress,
                             on_stop=lambda: (stopped.append(True), release.set()))
    assert stopped == [True]
    assert len(started) < 40  # the chunks not started were cancelled


def test_end_workers_ends_busy_processes_at_once():
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(1, mp_context=runners._mp_context(),
                               initializer=runners._ignore_sigint)
    future = pool.submit(time.sleep, 60)
    deadline = time.monotonic() + 30
    while not future.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    processes = list((getattr(pool, "_processes", None) or {}).values())
    runners._end_workers(pool)
    for process in processes:
        process.join(timeout=10)
        assert not process.is_alive()
    # the executor finds its workers gone and fails the chunk that was running
    from concurrent.futures import wait

    wait([future], timeout=30)
    assert future.done()


@pytest.mark.slow
def test_workers_equal_serial(tmp_path):
    pytest.importorskip("scipy")
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=9, ext=".png")
    metrics = ["dice", "iou", "mcc", "hd95"]
    serial = score(pred_dir, ref_dir, num_classes=C, metrics=metrics)
    calls = []
    parallel = score(pred_dir, ref_dir, num_classes=C, metrics=metrics, workers=2,
                     progress=lambda done, total: calls.append((done, total)))
    assert parallel.cases == serial.cases
    np.testing.assert_array_equal(parallel.confusion, serial.confusion)
    for m in metrics:
        np.testing.assert_array_equal(parallel.per_case[m], serial.per_case[m])
        np.testing.assert_array_equal(parallel.pooled[m], serial.pooled[m])
    assert serial.to_csv() == parallel.to_csv()
    # one call per chunk of one case, as each finishes
    assert calls == [(i, 9) for i in range(1, 10)]


@pytest.mark.slow
def test_workers_report_a_worker_error(tmp_path):
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=4)
    write_mask(os.path.join(pred_dir, "case2.npy"), np.zeros((3, 3), np.uint8))
    with pytest.raises(ScoringError, match=r"shape mismatch: .*case2\.npy"):
        score(pred_dir, ref_dir, num_classes=C, workers=2)


@pytest.mark.slow
def test_dask_local_cluster_equals_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("scipy")
    pred_dir, ref_dir, _ = make_dataset(tmp_path, n=7, ext=".npz")
    serial = score(pred_dir, ref_dir, num_classes=C, metrics=["dice", "iou", "hd"])
    # A real TCP scheduler on loopback, its worker threads in this process (fast to start).
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp://", host="127.0.0.1",
                                  dashboard_address=":0") as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        calls = []
        on_dask = score(pred_dir, ref_dir, num_classes=C, metrics=["dice", "iou", "hd"],
                        scheduler=cluster.scheduler_address,
                        progress=lambda done, total: calls.append((done, total)))
        np.testing.assert_array_equal(on_dask.confusion, serial.confusion)
        for m in ("dice", "iou", "hd"):
            np.testing.assert_array_equal(on_dask.per_case[m], serial.per_case[m])
            np.testing.assert_array_equal(on_dask.pooled[m], serial.pooled[m])
        assert calls[-1] == (7, 7) and len(calls) == 7
        # a worker's error comes back with its message
        write_mask(os.path.join(pred_dir, "case3.npz"), np.full((24, 20), 9, np.uint8))
        with pytest.raises(ScoringError, match=r"prediction \S*case3\.npz holds label 9 at"):
            score(pred_dir, ref_dir, num_classes=C, scheduler=cluster.scheduler_address)
