"""Issue 8, item 1: a child forked while other threads call redis_write_async never hangs.

Before the fix, 4 of 20 such children hung forever in their first tool call: a lock of the
library (metrics') was held by a parent thread at fork time and stays held in the child, where
no thread will ever release it. Every lock and per-process object is now reset in the child.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import redis

from roleredis import redis_flush, redis_write_async
from tests.integration.test_fork import start_child, wait_child

FORKS = 30
WRITER_THREADS = 4


def _child(n: int) -> dict[str, Any]:
    queued = redis_write_async(f"child{n}", {"n": n}, role="forked")
    flushed = redis_flush(timeout=5)
    return {"ok": queued["success"] is True and flushed["success"] is True, "flush": flushed}


def test_children_forked_during_async_writes_never_hang(raw: redis.Redis) -> None:
    stop = threading.Event()

    def produce(thread: int) -> None:
        n = 0
        while not stop.is_set():
            redis_write_async(f"t{thread}-{n}", n, role="parent")
            n += 1
            if n % 200 == 0:
                time.sleep(0.001)  # keep the queue from filling up: the writes are not the point

    producers = [threading.Thread(target=produce, args=(t,)) for t in range(WRITER_THREADS)]
    for thread in producers:
        thread.start()
    hung: list[int] = []
    failed: list[tuple[int, int, dict[str, Any]]] = []
    try:
        time.sleep(0.05)
        for n in range(FORKS):
            pid, read_end = start_child(lambda n=n: _child(n))  # type: ignore[misc]
            try:
                code, report = wait_child(pid, read_end, timeout=5)
            except AssertionError:  # wait_child killed it: it hung
                hung.append(n)
                continue
            if code != 0:
                failed.append((n, code, report))
    finally:
        stop.set()
        for thread in producers:
            thread.join(10)
    assert hung == [], f"{len(hung)} of {FORKS} forked children hung: {hung}"
    assert failed == [], failed[:3]
    values = raw.mget([f"forked:child{n}" for n in range(FORKS)])
    assert values == [f'{{"n":{n}}}'.encode() for n in range(FORKS)]
    assert redis_flush(timeout=20)["success"] is True
