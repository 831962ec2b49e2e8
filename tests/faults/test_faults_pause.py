"""Issue 5, section 6: the server is paused (SIGSTOP) and resumed (SIGCONT).

Tried, three times in a row on one process: 8 threads call ``redis_read`` / ``redis_write`` /
``redis_exists`` / ``redis_health_check`` at once while the server is SIGSTOPped (its TCP port
still accepts connections, nothing answers); then a few calls one after another; then the
server is resumed. ``socket_timeout`` is 0.5 s.

Contract and what was lost:
- every concurrent call returns after about socket_timeout (0.4 to 1.5 s) with success False
  and error_code ``timeout``; no call raises, no call waits longer than socket_timeout plus a
  little (later calls may be turned away at once by the circuit breaker: error_code
  ``connection``, saying so);
- no thread leak: threading.active_count() is back to where it was;
- no connection leak: after SIGCONT the server (CLIENT LIST) sees at most pool.max_connections
  connections from the process, not more after three pauses than after one, and none at all
  after ``roleredis.reset()``;
- recovery: calls succeed again within a few seconds of SIGCONT, and the data written before
  the pause is intact (zero lost).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import roleredis
from roleredis.testing import RedisServer

from .test_faults_support import (
    WriteConfig,
    describe_threads,
    other_clients,
    own_server,
    thread_baseline,
    threads_back_to,
    wait_until,
)

SOCKET_TIMEOUT = 0.5
MAX_CONNECTIONS = 10
ROLE = "paused"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, write_config: WriteConfig) -> Iterator[RedisServer]:
    yield from own_server(
        monkeypatch,
        write_config,
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": SOCKET_TIMEOUT},
            "pool": {"max_connections": MAX_CONNECTIONS, "timeout": 3},
            "breaker": {"cooldown": 0.2},
        },
    )


CALLS: list[Callable[[], dict[str, Any]]] = [
    lambda: roleredis.redis_read("before", role=ROLE),
    lambda: roleredis.redis_write("during", 1, role=ROLE),
    lambda: roleredis.redis_exists("before", role=ROLE),
    lambda: roleredis.redis_health_check(role=ROLE),
]


def _timed(call: Callable[[], dict[str, Any]]) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        result: Any = call()
    except BaseException as exc:  # the contract: never
        result = exc
    return result, time.monotonic() - started


def _concurrent_calls(n: int) -> list[tuple[Any, float]]:
    out: list[tuple[Any, float]] = [(None, 0.0)] * n
    barrier = threading.Barrier(n)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = _timed(CALLS[i % len(CALLS)])

    threads = [threading.Thread(target=run, args=(i,), name=f"paused-{i}") for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "a call hung on the paused server"
    return out


def test_paused_server_times_out_cleanly_without_leaks_and_recovers(server: RedisServer) -> None:
    assert roleredis.redis_write("before", {"kept": True}, role=ROLE)["success"] is True
    # warm the pool up to several connections
    _ = _concurrent_calls(8)
    baseline = thread_baseline()
    client_counts: list[int] = []
    for cycle in range(3):
        server.pause()
        try:
            concurrent = _concurrent_calls(8)
            one_by_one = [_timed(CALLS[i % len(CALLS)]) for i in range(4)]
        finally:
            server.resume()
        for result, elapsed in concurrent:
            assert isinstance(result, dict), f"a call raised: {result!r}"
            assert result["success"] is False, result
            assert result["error_code"] == "timeout", (cycle, result)
            assert 0.4 <= elapsed <= SOCKET_TIMEOUT + 1.0, (cycle, elapsed, result)
        for result, elapsed in one_by_one:
            assert isinstance(result, dict), f"a call raised: {result!r}"
            assert result["success"] is False, result
            assert elapsed <= SOCKET_TIMEOUT + 1.0, (cycle, elapsed, result)
            if result["error_code"] != "timeout":
                assert result["error_code"] == "connection", result
                assert "breaker" in result["error"], result
        assert threads_back_to(baseline), f"threads left behind: {describe_threads()}"
        # recovery after SIGCONT
        started = time.monotonic()
        assert wait_until(
            lambda: roleredis.redis_read("before", role=ROLE).get("success") is True, timeout=5
        ), "no recovery within 5 s of SIGCONT"
        recovery = time.monotonic() - started
        assert recovery < 5
        for call in CALLS:
            result = call()
            assert result["success"] is True, result
        # connections: whatever the server accepted while paused and the client dropped is
        # closed once it runs again; what stays is at most the pool
        settled = wait_until(lambda: other_clients(server) <= MAX_CONNECTIONS, timeout=3)
        client_counts.append(other_clients(server))
        assert settled, f"cycle {cycle}: {client_counts[-1]} connections after SIGCONT"
    print(
        "client counts",
        client_counts,
        [(r["error_code"], round(e, 2)) for r, e in one_by_one],
        [round(e, 2) for _, e in concurrent],
    )
    assert client_counts[-1] <= max(client_counts[0], MAX_CONNECTIONS), client_counts
    assert roleredis.redis_read("before", role=ROLE)["value"] == {"kept": True}
    roleredis.reset()
    assert wait_until(lambda: other_clients(server) == 0, timeout=3), (
        f"{other_clients(server)} connections still open after roleredis.reset()"
    )
    assert threads_back_to(baseline), f"threads left behind: {describe_threads()}"
