"""The connection an event loop keeps between aio calls (issue 10, aio write speed).

A loop's own executor parks the connection it used instead of giving it back to the pool and
checking one out on the next call. These tests hold it to what the pool gave: a connection
the server closed while parked is not used (and the call is not mistaken for a refused
request), reports count it as idle, concurrent calls still get their own connections within
max_connections, and a write the server does not take in time fails as ``timeout``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from roleredis import aio
from roleredis.core.store import AsyncRoleStore
from roleredis.foundation.internals import stream_writer
from roleredis.runtime import settings, target
from roleredis.testing import RedisServer
from roleredis.testing.server import free_port
from roleredis.transport.aexecutor import loop_executor

pytestmark = pytest.mark.backends("redis")


async def _executor() -> Any:
    return await loop_executor(None, settings(), target())


async def _close_seen(connection: Any) -> bool:
    """Whether the client's side has seen the server close ``connection``: redis-py 8.1's
    ``can_read`` answers True at EOF, 8.2's raises ConnectionError (both are the check the
    executor runs before it uses a parked connection)."""
    try:
        return bool(await connection.can_read())
    except (redis.ConnectionError, OSError):
        return True


def test_one_connection_serves_a_loop_s_calls_one_after_another(redis_url: str) -> None:
    async def main() -> tuple[Any, Any, dict[str, int]]:
        assert (await aio.redis_write("k", 1, role="park"))["success"] is True
        first = (await _executor()).parked
        for n in range(5):
            assert (await aio.redis_read("k", role="park"))["value"] == 1, n
        usage = await AsyncRoleStore("park").pool_usage()
        return first, (await _executor()).parked, usage

    first, last, usage = asyncio.run(main())
    assert first is not None and last is first
    # parked, yet idle: reports do not count it as in use
    assert usage["in_use"] == 0 and usage["idle"] == 1, usage


def test_a_parked_connection_the_server_closed_is_replaced(
    redis_url: str, raw: redis.Redis
) -> None:
    async def main() -> dict[str, Any]:
        assert (await aio.redis_write("k", 1, role="park"))["success"] is True
        parked = (await _executor()).parked
        socket_before = stream_writer(parked)
        # the server drops every client but the admin (as at a restart, or idle timeout)
        assert raw.client_kill_filter(_type="normal", skipme=True) >= 1
        deadline = time.monotonic() + 5
        while not await _close_seen(parked):  # until the loop has seen the close
            assert time.monotonic() < deadline, "the close never reached the client"
            await asyncio.sleep(0.001)
        result = await aio.redis_write("k", 2, role="park")
        # the pool's check reconnected it (or lent another): not the closed socket
        now = (await _executor()).parked
        assert now is not parked or stream_writer(now) is not socket_before
        return result

    result = asyncio.run(main())
    assert result["success"] is True, result
    assert raw.get("park:k") == b"2"


def test_concurrent_calls_stay_within_max_connections(
    redis_url: str, write_config: Callable[[Any], Any], raw: redis.Redis
) -> None:
    write_config({"pool": {"max_connections": 2, "timeout": 5}})

    async def main() -> list[dict[str, Any]]:
        return list(
            await asyncio.gather(*(aio.redis_write(f"c{i}", i, role="park") for i in range(60)))
        )

    results = asyncio.run(main())
    assert [r for r in results if r["success"] is not True] == []
    assert sorted(int(raw.get(f"park:c{i}") or -1) for i in range(60)) == list(range(60))


def test_a_write_the_server_does_not_take_fails_as_timeout(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[[Any], Any]
) -> None:
    """More than the socket buffers hold, to a paused server: the write itself must wait, and
    gives up after socket_timeout."""
    with RedisServer(port=free_port()) as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        write_config({"connection": {"socket_timeout": 0.5}})
        big = os.urandom(32 << 20)  # not compressible

        async def main() -> dict[str, Any]:
            assert (await aio.redis_write("small", 1, role="park"))["success"] is True
            server.pause()
            try:
                return await aio.redis_write("big", big, role="park")
            finally:
                server.resume()

        result = asyncio.run(main())
    assert result["success"] is False and result["error_code"] == "timeout", result
    assert "writing" in result["error"], result  # the write gave up, not a read after it
