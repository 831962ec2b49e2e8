"""Issue 5, section 6: the connection pool is exhausted by many threads (and by many tasks).

Tried: ``pool.max_connections`` 2, ``pool.timeout`` 0.3 s, ``socket_timeout`` 1.5 s. The server
is paused (SIGSTOP), so the two connections the pool can make are held for the whole
socket_timeout by "slow work"; 20 threads call ``redis_read`` at the same moment. The same with
20 asyncio tasks of ``roleredis.aio.redis_read`` in one loop. Then the server is resumed and the
same 20 threads make 50 calls each.

Contract and what was lost:
- bounded wait, a clear error: the two callers holding a connection get error_code ``timeout``
  after about socket_timeout; every other one gets error_code ``overloaded`` after about
  pool.timeout (never later than pool.timeout + 0.9 s), with a message that names the pool and
  what to raise; nothing raises;
- no deadlock: every thread ends (joined within 10 s);
- recovery: after SIGCONT all 20 x 50 calls succeed on the same two connections; the pool
  reports nothing in use afterwards; threads are back to the baseline;
- lost: nothing (the data written before the pause reads back intact).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import roleredis
from roleredis import aio
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

THREADS = 20
MAX_CONNECTIONS = 2
POOL_TIMEOUT = 0.3
SOCKET_TIMEOUT = 1.5
ROLE = "pool"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, write_config: WriteConfig) -> Iterator[RedisServer]:
    yield from own_server(
        monkeypatch,
        write_config,
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": SOCKET_TIMEOUT},
            "pool": {"max_connections": MAX_CONNECTIONS, "timeout": POOL_TIMEOUT},
            "breaker": {"cooldown": 0.2},
        },
    )


def _check_exhaustion(outcomes: list[tuple[Any, float]]) -> dict[str, int]:
    codes: dict[str, int] = {}
    for result, elapsed in outcomes:
        assert isinstance(result, dict), f"a call raised: {result!r}"
        assert result["success"] is False, result
        code = result["error_code"]
        codes[code] = codes.get(code, 0) + 1
        if code == "overloaded":
            assert elapsed <= POOL_TIMEOUT + 0.9, (elapsed, result)
            assert elapsed >= POOL_TIMEOUT * 0.8, (elapsed, result)
            text = result["error"]
            assert "pool" in text and "max_connections" in text, text
        else:
            assert code == "timeout", result
            assert elapsed <= SOCKET_TIMEOUT + 1.0, (elapsed, result)
    assert codes.get("timeout", 0) <= MAX_CONNECTIONS, codes
    assert codes.get("overloaded", 0) >= THREADS - MAX_CONNECTIONS, codes
    return codes


def test_pool_exhausted_by_threads_bounded_wait_clear_error_no_deadlock(
    server: RedisServer,
) -> None:
    assert roleredis.redis_write("k", {"kept": 1}, role=ROLE)["success"] is True
    baseline = thread_baseline()
    outcomes: list[tuple[Any, float]] = [(None, 0.0)] * THREADS
    barrier = threading.Barrier(THREADS)

    def slow(i: int) -> None:
        barrier.wait()
        started = time.monotonic()
        try:
            result: Any = roleredis.redis_read("k", role=ROLE)
        except BaseException as exc:
            result = exc
        outcomes[i] = (result, time.monotonic() - started)

    server.pause()
    try:
        threads = [threading.Thread(target=slow, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert not any(t.is_alive() for t in threads), "deadlock: threads still waiting"
    finally:
        server.resume()
    codes = _check_exhaustion(outcomes)

    # recovery: the same threads, 50 calls each, all succeed on the two connections
    assert wait_until(lambda: roleredis.redis_read("k", role=ROLE)["success"] is True, 5)
    failures: list[Any] = []

    def busy(i: int) -> None:
        for n in range(50):
            try:
                result: Any = roleredis.redis_write(f"t{i}:{n}", n, role=ROLE)
            except BaseException as exc:
                result = exc
            if not (isinstance(result, dict) and result.get("success") is True):
                failures.append(result)

    threads = [threading.Thread(target=busy, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "deadlock after recovery"
    assert failures == [], f"{len(failures)} calls failed after recovery: {failures[:3]}"
    health = roleredis.redis_health_check(role=ROLE)
    assert health["success"] is True, health
    assert health["pool"]["in_use"] == 0, health["pool"]
    assert health["pool"]["in_use"] + health["pool"]["idle"] <= MAX_CONNECTIONS, health["pool"]
    assert other_clients(server) <= MAX_CONNECTIONS
    assert roleredis.redis_read("k", role=ROLE)["value"] == {"kept": 1}
    assert roleredis.redis_get_keys("t*", role=ROLE)["count"] == THREADS * 50
    assert threads_back_to(baseline), f"threads left behind: {describe_threads()}"
    print(f"pool exhausted by {THREADS} threads: {codes}; recovered; lost: 0")


def test_pool_exhausted_by_asyncio_tasks_bounded_wait_clear_error(server: RedisServer) -> None:
    """redis.asyncio's plain pool raises "Too many connections" at once (PITFALLS); roleredis's
    must wait pool.timeout, then say overloaded."""
    assert roleredis.redis_write("k", {"kept": 1}, role=ROLE)["success"] is True

    async def one() -> tuple[Any, float]:
        started = time.monotonic()
        try:
            result: Any = await aio.redis_read("k", role=ROLE)
        except BaseException as exc:
            result = exc
        return result, time.monotonic() - started

    async def main() -> list[tuple[Any, float]]:
        return list(await asyncio.wait_for(asyncio.gather(*(one() for _ in range(THREADS))), 10))

    server.pause()
    try:
        outcomes = asyncio.run(main())
    finally:
        server.resume()
    codes = _check_exhaustion(outcomes)

    async def recovered() -> list[dict[str, Any]]:
        await asyncio.sleep(0.3)  # the breaker's cool-down
        return list(
            await asyncio.gather(
                *(aio.redis_write(f"a{i}", i, role=ROLE) for i in range(THREADS * 10))
            )
        )

    after = asyncio.run(recovered())
    bad = [r for r in after if r.get("success") is not True]
    assert bad == [], f"{len(bad)} asyncio calls failed after recovery: {bad[:3]}"
    assert roleredis.redis_read("k", role=ROLE)["value"] == {"kept": 1}
    print(f"pool exhausted by {THREADS} tasks: {codes}; recovered; lost: 0")
