"""Issue 11 §6: the Redis Cluster primary that owns a role's slot is SIGKILLed during load.
Calls fail cleanly (a result with error_code connection or timeout, never an exception) for
at most the failover window, then succeed in the same process without a restart; what was
replicated before the kill (a WAIT on the dead primary) is there after; fire-and-forget writes
queued across the failover land."""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import pytest

from roleredis import (
    redis_flush,
    redis_health_check,
    redis_read,
    redis_write,
    redis_write_async,
)
from roleredis.testing.cluster import RedisClusterProcesses
from roleredis.testing.server import RedisServer

#: node timeout 2000 ms gives about 4 s here (PITFALLS); what a test waits for, at most
FAILOVER_WINDOW = 15.0
#: what a call may answer while its slot has no primary
CLEAN_FAILURES = ("connection", "timeout")


def _replicated(primary: RedisServer, tag: str) -> None:
    """Every write the primary took so far is on its replica: a write of this connection in
    the role's slot, then WAIT (a fresh connection's WAIT alone would wait for nothing)."""
    client = primary.client()
    try:
        client.set(f"{{{tag}}}:__replication_barrier", 1)
        assert client.wait(1, 5000) == 1
    finally:
        client.close()


class Load:
    """A thread writing to ``role`` without pause; each call's (time, result) is kept."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.calls: list[tuple[float, dict[str, Any]]] = []
        self.raised: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            try:
                result = redis_write(f"load{n}", n, role=self.role)
            except BaseException as exc:  # a call must never raise: recorded, then failed
                self.raised.append(exc)
                return
            self.calls.append((time.monotonic(), result))
            n += 1
            time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_calls_fail_cleanly_then_succeed_after_the_slots_primary_is_killed(
    cluster: RedisClusterProcesses,
) -> None:
    for i in range(50):
        assert redis_write(f"k{i}", {"i": i}, role="weather")["success"]
    old = cluster.primary_for_key("{weather}:k0")
    _replicated(old, "weather")
    assert redis_health_check(role="weather")["success"]

    load = Load("weather")
    time.sleep(0.3)
    old.kill()
    killed = time.monotonic()
    recovered = None
    while time.monotonic() - killed < FAILOVER_WINDOW:
        result = redis_write("during", 1, role="weather")
        if result["success"]:
            recovered = time.monotonic()
            break
        assert result["error_code"] in CLEAN_FAILURES, result
        time.sleep(0.1)
    time.sleep(1.0)  # the load goes on after the failover
    load.stop()

    assert recovered is not None, "writes never succeeded again after the failover"
    assert not load.raised, load.raised
    failures = [(t, r) for t, r in load.calls if not r["success"]]
    assert failures, "the kill was not seen: no call failed"
    for _, result in failures:
        assert result["error_code"] in CLEAN_FAILURES, result
    last_failure = max(t for t, _ in failures)
    assert last_failure - killed <= FAILOVER_WINDOW
    after = [r for t, r in load.calls if t > last_failure]
    assert after and all(r["success"] for r in after)
    codes = sorted({r["error_code"] for _, r in failures})
    print(f"window {recovered - killed:.2f} s: {len(failures)} clean failures {codes}")

    assert cluster.primary_for_key("{weather}:k0") is not old
    # what was replicated before the kill is there after, and so is what was written after
    for i in range(50):
        assert redis_read(f"k{i}", role="weather")["value"] == {"i": i}
    for result in after:
        assert redis_read(result["key"], role="weather")["success"], result
    health = redis_health_check(role="weather")
    assert health["success"] and health["mode"] == "cluster", health
    assert old.port not in {n["port"] for n in health["nodes"]}


def test_fire_and_forget_writes_queued_across_a_failover_land(
    cluster: RedisClusterProcesses, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="roleredis.background")
    assert redis_write("warm", 1, role="timer")["success"]
    old = cluster.primary_for_key("{timer}:warm")
    old.kill()
    for i in range(200):
        assert redis_write_async(f"a{i}", i, role="timer")["success"]
    done = redis_flush(timeout=FAILOVER_WINDOW + 10)
    assert done["success"], done
    assert done["lost"] == 0
    assert cluster.primary_for_key("{timer}:warm") is not old
    for i in range(200):
        assert redis_read(f"a{i}", role="timer")["value"] == i
    # issue 17 item 7: one line when the outage begins, one when it ends (not one per retry)
    said = [r.getMessage() for r in caplog.records if r.name == "roleredis.background"]
    assert sum("Redis unreachable" in m for m in said) == 1, said
    assert sum(bool(re.search(r"reachable again after \d+\.\d s", m)) for m in said) == 1, said
