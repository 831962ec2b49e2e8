"""Issue 18, item 1: ``RoleStore("w", settings=Settings(url=B))`` (and ``AsyncRoleStore``) used
the process-wide client anyway: the data went to the default server (A here; localhost:6379
with nothing configured), a server the user never named, and an error named both servers. A
store given settings connects where they say, with that server's own breaker."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from roleredis import RoleStore
from roleredis.core.store import AsyncRoleStore
from roleredis.foundation.config import Settings
from roleredis.foundation.errors import ConnectionFailedError
from roleredis.testing import RedisServer


@pytest.fixture
def server_b() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


def test_a_store_given_settings_writes_to_their_server(
    raw: redis.Redis, server_b: RedisServer
) -> None:
    b = Settings(url=server_b.url)
    RoleStore("w", settings=b).write("sync", 1)

    async def main() -> None:
        await AsyncRoleStore("w", settings=b).write("aio", 2)

    asyncio.run(main())
    on_b = server_b.client()
    try:
        assert sorted(on_b.keys("w:*")) == [b"w:aio", b"w:sync"]
    finally:
        on_b.close()
    assert raw.keys("w:*") == []  # nothing reached the default server


def test_an_error_names_only_the_server_used(redis_url: str) -> None:
    closed = RedisServer()  # a free port nothing listens on
    given = Settings(url=closed.url, socket_connect_timeout=0.2)
    with pytest.raises(ConnectionFailedError) as failed:
        RoleStore("w", settings=given).write("k", 1)
    text = str(failed.value)
    assert f":{closed.port}" in text
    assert redis_url.rsplit(":", 1)[1].split("/")[0] not in text  # not the default's port
