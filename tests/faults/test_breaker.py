"""Issue 5, section 5: the circuit breaker, against a real server that is killed and restarted.

Tried: N consecutive connection failures, then calls while the breaker is open, then the
server back and the cool-down over (on a fake clock: no sleeping). Lost: nothing (no write is
made while it is open; each such call reports connection at once)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from roleredis import aio, redis_health_check, redis_read, redis_write, reset, runtime
from roleredis.testing import FakeClock, RedisServer

COOLDOWN = 1.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def victim(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object], clock: FakeClock
) -> Iterator[RedisServer]:
    server = RedisServer().start()
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config(
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            "breaker": {"failures": 3, "cooldown": COOLDOWN},
        }
    )
    runtime.breaker().clock = clock
    try:
        yield server
    finally:
        reset()
        server.stop()


def test_open_breaker_fails_fast_then_one_probe_closes_it(
    victim: RedisServer, clock: FakeClock
) -> None:
    assert redis_write("k", 1, role="b")["success"] is True
    assert redis_health_check(role="b")["breaker"]["state"] == "closed"
    victim.kill()
    for _ in range(3):
        assert redis_write("k", 2, role="b")["error_code"] == "connection"

    health = redis_health_check(role="b")
    assert health["success"] is False
    assert health["breaker"]["state"] == "open"
    assert health["breaker"]["consecutive_failures"] >= 3
    assert "circuit breaker open since" in health["error"]

    # open: fails in well under a millisecond, with the reason and since when
    timings = []
    for _ in range(50):
        started = time.perf_counter()
        result = redis_read("k", role="b")
        timings.append(time.perf_counter() - started)
        assert result["error_code"] == "connection"
        assert "circuit breaker open since" in result["error"]
    assert sorted(timings)[len(timings) // 2] < 0.001, timings

    victim.restart()
    # still open within the cool-down, even though the server is back
    assert "circuit breaker open" in redis_read("k", role="b")["error"]
    clock.advance(COOLDOWN)
    # the probe goes through and closes the breaker
    probe = redis_write("k", 3, role="b")
    assert probe["success"] is True, probe
    assert redis_read("k", role="b")["value"] == 3
    assert redis_health_check(role="b")["breaker"]["state"] == "closed"


def test_failed_probe_opens_it_again(victim: RedisServer, clock: FakeClock) -> None:
    victim.kill()
    for _ in range(3):
        redis_write("k", 1, role="b")
    clock.advance(COOLDOWN)
    probe = redis_write("k", 1, role="b")
    assert probe["error_code"] == "connection"
    assert "circuit breaker" not in probe["error"]  # the probe really tried the server
    again = redis_write("k", 1, role="b")
    assert "circuit breaker open" in again["error"]


def test_the_asyncio_path_shares_the_breaker(victim: RedisServer) -> None:
    import asyncio

    victim.kill()
    for _ in range(3):
        redis_write("k", 1, role="b")

    async def main() -> dict[str, object]:
        return await aio.redis_read("k", role="b")

    result = asyncio.run(main())
    assert result["error_code"] == "connection"
    assert "circuit breaker open" in str(result["error"])
