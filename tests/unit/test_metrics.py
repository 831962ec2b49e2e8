"""roleredis.metrics: counted without a lock, per thread, and folded when read (issue 10)."""

from __future__ import annotations

import threading

from roleredis.table import metrics


def _count(operation: str, role: str) -> int:
    stats = metrics.snapshot()["operations"].get(operation, {}).get(role)
    return 0 if stats is None else int(stats["count"])


def test_counts_of_many_threads_add_up_and_outlive_the_threads() -> None:
    metrics.reset_metrics()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for i in range(1000):
            metrics.record("unit_fold", "r", 0.0001 * (i % 3), "timeout" if i % 10 == 0 else None)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = metrics.snapshot()["operations"]["unit_fold"]["r"]
    assert stats["count"] == 8000
    assert stats["errors"] == {"timeout": 800}
    assert stats["latency"]["count"] == 8000
    assert list(stats["latency"]["buckets"].values())[-1] == 8000  # +Inf holds every call
    metrics.reset_metrics()
    assert _count("unit_fold", "r") == 0


def test_ended_threads_tables_are_folded_so_they_stay_few() -> None:
    for _ in range(50):
        thread = threading.Thread(target=metrics.record, args=("unit_few", "r", 0.001))
        thread.start()
        thread.join()
    metrics.snapshot()
    assert len(metrics._tables) < 10  # the live threads' tables only
    assert _count("unit_few", "r") >= 50
