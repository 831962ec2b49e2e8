"""Issue 11 §6: the Sentinel-managed primary is SIGKILLed during load. Calls fail cleanly
(a result with an error_code, never an exception) for at most the failover window, then
succeed in the same process without a restart; what was replicated before the kill is there
after; fire-and-forget writes queued across the failover land."""

from __future__ import annotations

import time

from roleredis import (
    redis_flush,
    redis_health_check,
    redis_read,
    redis_write,
    redis_write_async,
)
from roleredis.testing.cluster import SentinelGroup

#: down-after-milliseconds 1000 gives about 2.5 s here; what a test waits for, at most
FAILOVER_WINDOW = 15.0


def _replicated(group: SentinelGroup) -> None:
    """Every write the primary took so far is on its replica: WAIT counts the replicas that
    have this connection's last write, so the connection writes first (a fresh connection's
    WAIT waits for nothing)."""
    client = group.current_primary().client()
    try:
        client.set("__replication_barrier", 1)
        assert client.wait(1, 5000) == 1
    finally:
        client.close()


def test_calls_fail_cleanly_then_succeed_after_the_primary_is_killed(
    group: SentinelGroup,
) -> None:
    for i in range(50):
        assert redis_write(f"k{i}", {"i": i}, role="weather")["success"]
    _replicated(group)
    health = redis_health_check(role="weather")
    assert health["success"], health
    old = group.current_primary()

    old.kill()
    started = time.monotonic()
    outcomes = []
    while time.monotonic() - started < FAILOVER_WINDOW:
        result = redis_write("during", 1, role="weather")
        outcomes.append(result["success"])
        if result["success"]:
            break
        assert result["error_code"] in ("connection", "timeout", "overloaded"), result
        time.sleep(0.1)
    assert outcomes[-1] is True, "writes never succeeded again after the failover"
    assert group.current_primary() is not old

    # what was replicated before the kill is there after
    for i in range(50):
        assert redis_read(f"k{i}", role="weather")["value"] == {"i": i}
    assert redis_health_check(role="weather")["success"]


def test_fire_and_forget_writes_queued_across_a_failover_land(group: SentinelGroup) -> None:
    assert redis_write("warm", 1, role="timer")["success"]
    old = group.current_primary()
    old.kill()
    for i in range(200):
        assert redis_write_async(f"a{i}", i, role="timer")["success"]
    done = redis_flush(timeout=FAILOVER_WINDOW + 10)
    assert done["success"], done
    assert done["lost"] == 0
    assert group.current_primary() is not old
    for i in range(0, 200, 20):
        assert redis_read(f"a{i}", role="timer")["value"] == i
