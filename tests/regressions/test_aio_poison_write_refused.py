"""Issue 10, item 2 (c): the aio path lacked the sync path's handling of a connection the server
closes on a value over its proto-max-bulk-len while it still answers PING.

Before, aio had its own retry loop: the closed connection was retried like an outage and counted
by the circuit breaker, so a few such writes made every role fail for the cool-down. With the one
retry policy it is what the sync path reports: invalid_argument naming proto-max-bulk-len, not
retried, not counted by the breaker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from roleredis import aio, redis_health_check, reset
from roleredis.testing import RedisServer

BIG = b"x" * (2 * 1024 * 1024)  # over the server's 1 MB proto-max-bulk-len


@pytest.fixture
def strict(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.delenv("ROLEREDIS_CONFIG", raising=False)
    monkeypatch.delenv("ROLEREDIS_ROLE", raising=False)
    with RedisServer(extra_args=("--proto-max-bulk-len", "1mb")) as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        reset()
        try:
            yield server
        finally:
            reset()


def test_an_aio_poison_write_fails_at_once_and_does_not_open_the_breaker(
    strict: RedisServer,
) -> None:
    async def main() -> list[tuple[dict[str, object], float]]:
        out = []
        for write in (
            lambda: aio.redis_write("huge", BIG, role="poisoner"),
            lambda: aio.redis_write_many({"a": 1, "huge": BIG, "b": 2}, role="poisoner"),
        ):
            for _ in range(3):
                started = time.monotonic()
                result = await write()
                out.append((result, time.monotonic() - started))
        assert (await aio.redis_write("fine", 1, role="bystander"))["success"] is True
        return out

    for result, elapsed in asyncio.run(main()):
        assert result["success"] is False
        assert result["error_code"] == "invalid_argument", result
        assert "proto-max-bulk-len" in str(result["error"])
        assert elapsed < 5, f"the refused write took {elapsed:.1f} s"
    health = redis_health_check(role="bystander")
    assert health["breaker"]["state"] == "closed"
    assert health["breaker"]["consecutive_failures"] == 0
