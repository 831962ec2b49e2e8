"""Issue 12, item 3: aio.follow_events rides out a server that dies and comes back: it waits
the outage out (the transport's retry policy and breaker, then the writer's backoff) and goes
on from the last event it gave, so an event published once the server is back reaches it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from roleredis import aio, redis_publish
from roleredis.testing import RedisServer

Config = Callable[[Mapping[str, Any]], Path]
STREAM = "__roleredis__:{weather}:events:alerts"


def test_a_follower_survives_a_server_restart(
    redis_server: RedisServer, write_config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    write_config({"connection": {"socket_connect_timeout": 0.3}, "breaker": {"cooldown": 0.2}})
    first = redis_publish("alerts", "before", role="weather")
    assert first["success"] is True, first

    async def main() -> list[Any]:
        follower = aio.follow_events("weather", "alerts", after=first["id"], role="radar")
        waiting = asyncio.ensure_future(anext(follower))
        await asyncio.sleep(0.1)  # let it start waiting: the kill then drops its read
        await asyncio.to_thread(redis_server.kill)
        await asyncio.sleep(0.5)  # the follower fails and backs off meanwhile
        await asyncio.to_thread(redis_server.start)
        # published by another process (this one's breaker may still be open: that is right)
        publisher = redis_server.client()
        try:
            publisher.xadd(STREAM, {"event": b'"after the restart"'})
        finally:
            publisher.close()
        event = await asyncio.wait_for(waiting, 30)
        await follower.aclose()
        return [event["event"]]

    with caplog.at_level(logging.WARNING, logger="roleredis.events"):
        assert asyncio.run(main()) == ["after the restart"]
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "trying again until it passes" in said and "reading again after" in said
