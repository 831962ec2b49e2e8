"""A loop's parked connection is checked before it carries the next aio call (``can_read``).
When that check failed (a connection reset while it was parked: redis-py raises
ConnectionError), the connection was neither parked again nor given back to the pool: the call
went through the retry policy and a new connection, and the reset one stayed counted as in use
for good (each reset took one place of the pool until the pool ran out). A parked connection
that fails its check is given back to the pool like a closed one, and the call goes on."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roleredis import aio
from roleredis.core.store import AsyncRoleStore
from roleredis.runtime import settings, target
from roleredis.transport.aexecutor import loop_executor

pytestmark = pytest.mark.backends("redis")


def test_a_parked_connection_that_was_reset_is_given_back(redis_url: str) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, int]]:
        assert (await aio.redis_write("k", 1, role="park"))["success"] is True
        parked = (await loop_executor(None, settings(), target())).parked
        assert parked is not None

        parser = parked._parser
        check = parser.can_read

        async def reset() -> bool:  # as the socket answers once, after a reset
            parser.can_read = check
            raise ConnectionResetError(104, "Connection reset by peer")

        parser.can_read = reset
        result = await aio.redis_read("k", role="park")
        return result, await AsyncRoleStore("park").pool_usage()

    result, usage = asyncio.run(main())
    assert result["success"] is True and result["value"] == 1, result
    assert usage["in_use"] == 0, usage  # none lost: the reset one went back to the pool
