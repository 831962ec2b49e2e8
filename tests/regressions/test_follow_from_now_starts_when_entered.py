"""Issue 18, item 5: ``aio.follow_events(after="$")`` fixed "now" at the first ``anext``, not
when it was called: events published in between were lost, with no way to start earlier. The
follower is also an async context manager whose entering resolves "$" before the block goes
on, so an event published between entering and the first anext is seen."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roleredis import aio, redis_publish

pytestmark = pytest.mark.backends("redis", "memory")


def publish(value: Any) -> None:
    result = redis_publish("alerts", value, role="weather")
    assert result["success"] is True, result


def test_entering_resolves_from_now_before_the_block_goes_on(redis_url: str) -> None:
    publish("old")

    async def main() -> list[Any]:
        follower = aio.follow_events("weather", "alerts", role="radar")  # after="$"
        publish("before entering")
        async with follower as alerts:
            assert alerts.after != "$"  # a real id already
            await aio.redis_publish("alerts", "right after", role="weather")
            got = [(await anext(alerts))["event"]]
        with pytest.raises(StopAsyncIteration):  # leaving the block stopped it
            await anext(alerts)
        async with aio.AsyncRoleStore("radar").follow_events("weather", "alerts") as typed:
            await aio.redis_publish("alerts", "typed", role="weather")
            got.append((await anext(typed)).value)
        return got

    assert asyncio.run(main()) == ["right after", "typed"]
