"""Issue 18, item 1: a store given settings connects where they say, on two real servers at
once: the process's settings name server A (the session's), a store's settings server B.

One sync client per connection target, reused by every store of it, with its own breaker and
places for waiting reads; async stores get their loop's client for the target; reset() closes
them; a forked child makes its own; the fire-and-forget writer (the process's) refuses a store
of another target.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis import (
    RoleStore,
    aio,
    redis_flush,
    redis_publish,
    redis_read_events,
    redis_write,
    runtime,
)
from roleredis.core.store import AsyncRoleStore
from roleredis.foundation.config import Settings
from roleredis.foundation.errors import ConnectionFailedError
from roleredis.table import calls, rows
from roleredis.testing import RedisServer

from .test_fork import start_child, wait_child


@pytest.fixture
def server_b() -> Iterator[RedisServer]:
    with RedisServer() as running:
        yield running


def keys_on(server: RedisServer, pattern: str = "w:*") -> list[bytes]:
    client = server.client()
    try:
        return sorted(client.keys(pattern))
    finally:
        client.close()


def connections_on(server: RedisServer) -> int:
    """Clients connected to ``server``, besides the one asking."""
    client = server.client()
    try:
        return int(client.info("clients")["connected_clients"]) - 1
    finally:
        client.close()


def test_one_client_per_connection_target(redis_url: str, server_b: RedisServer) -> None:
    b = Settings(url=server_b.url)
    first = RoleStore("w", settings=b)
    # other settings that connect alike (a TTL, a prefix rule) share it; another pool does not
    assert RoleStore("x", settings=Settings(url=server_b.url, default_ttl=60)).client is (
        first.client
    )
    assert RoleStore("w", settings=b.replace(max_connections=3)).client is not first.client
    # the process's settings are one target among others: its client is the default one
    assert RoleStore("w", settings=runtime.settings()).client is runtime.sync_client()
    assert first.client is not runtime.sync_client()
    assert runtime.breaker(b) is not runtime.breaker()


def test_sync_and_async_stores_write_to_their_server(
    raw: redis.Redis, server_b: RedisServer
) -> None:
    b = Settings(url=server_b.url)
    assert RoleStore("w", settings=b).write("sync", 1).full_key == "w:sync"
    assert redis_write("default", 0, role="w")["success"] is True

    async def main() -> list[Any]:
        store = AsyncRoleStore("w", settings=b)
        await store.write("aio", 2)
        await aio.redis_write("aio_default", 0, role="w")
        usage = await store.pool_usage()  # the loop's client of B, not of A
        return [(await store.read("sync")).value, usage["max"], usage["idle"] >= 1]

    assert asyncio.run(main()) == [1, 10, True]
    assert keys_on(server_b) == [b"w:aio", b"w:sync"]
    assert sorted(raw.keys("w:*")) == [b"w:aio_default", b"w:default"]


def test_an_outage_of_one_server_opens_only_its_breaker(
    raw: redis.Redis, server_b: RedisServer
) -> None:
    b = Settings(url=server_b.url, socket_connect_timeout=0.2, breaker_failures=2)
    store = RoleStore("w", settings=b)
    store.write("k", 1)
    server_b.stop()
    for _ in range(2):
        with pytest.raises(ConnectionFailedError) as failed:
            store.write("k", 2)
        assert f":{server_b.port}" in str(failed.value)
    assert runtime.breaker(b).state == "open"
    with pytest.raises(ConnectionFailedError, match="circuit breaker open"):
        store.write("k", 3)

    async def on_b() -> str:  # the async path shares the target's breaker
        with pytest.raises(ConnectionFailedError) as failed:
            await AsyncRoleStore("w", settings=b).write("k", 4)
        return str(failed.value)

    assert "circuit breaker open" in asyncio.run(on_b())
    # A is another target: its breaker stays closed and its calls go on, sync and async
    assert runtime.breaker().state == "closed"
    assert redis_write("still", "here", role="w")["success"] is True
    assert RoleStore("w").read("still").value == "here"
    assert asyncio.run(aio.redis_read("still", role="w"))["value"] == "here"
    assert redis_write("health", 1, role="w")["success"] is True
    assert raw.get("w:still") is not None


def test_reset_closes_every_targets_client(redis_url: str, server_b: RedisServer) -> None:
    store = RoleStore("w", settings=Settings(url=server_b.url))
    store.write("k", 1)
    assert connections_on(server_b) == 1
    runtime.reset()
    deadline = time.monotonic() + 5
    while connections_on(server_b):
        assert time.monotonic() < deadline, "reset() left B's connection open"
        time.sleep(0.01)
    fresh = RoleStore("w", settings=Settings(url=server_b.url))
    assert fresh.client is not store.client  # a new client after reset()
    assert fresh.read("k").value == 1


def test_a_forked_child_makes_its_own_client(redis_url: str, server_b: RedisServer) -> None:
    b = Settings(url=server_b.url)
    parents = RoleStore("w", settings=b)
    parents.write("parent", 1)

    def child() -> dict[str, Any]:
        store = RoleStore("w", settings=b)
        store.write("child", 2)
        return {"ok": store.client is not parents.client, "read": store.read("parent").value}

    pid, pipe = start_child(child)
    code, report = wait_child(pid, pipe)
    assert code == 0, report
    assert report["read"] == 1
    assert keys_on(server_b) == [b"w:child", b"w:parent"]
    assert parents.read("child").value == 2  # the parent's client still works


def test_waiting_reads_on_one_server_leave_the_others_places_free(
    raw: redis.Redis, server_b: RedisServer, write_config: Any
) -> None:
    """Each target has its own places for waiting reads: a reader waiting on B (one place: a
    pool of 2) does not keep a reader of A (one place too) from waiting on A."""
    write_config({"pool": {"max_connections": 2}})
    b = Settings(url=server_b.url, max_connections=2)
    on_b = RoleStore("radar", settings=b)
    last_b = on_b.read_events("weather", "alerts", after="$").last_id
    last_a = redis_read_events("weather", "alerts", after="$", role="radar")["last_id"]
    got: dict[str, Any] = {}
    readers = [
        threading.Thread(
            target=lambda: got.update(
                b=on_b.read_events("weather", "alerts", after=last_b, block_ms=20_000)
            )
        ),
        threading.Thread(
            target=lambda: got.update(
                a=redis_read_events(
                    "weather", "alerts", after=last_a, block_ms=20_000, role="radar"
                )
            )
        ),
    ]
    b_raw = server_b.client()
    try:
        readers[0].start()
        until_blocked(b_raw)
        readers[1].start()
        until_blocked(raw)  # not sent without BLOCK for want of a place: it waits on A
        assert redis_publish("alerts", "on A", role="weather")["success"] is True
        RoleStore("weather", settings=b).publish("alerts", "on B")
    finally:
        for reader in readers:
            reader.join(30)
        b_raw.close()
    assert [e["event"] for e in got["a"]["events"]] == ["on A"]
    assert [e.value for e in got["b"].events] == ["on B"]


def until_blocked(client: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while int(client.info("clients")["blocked_clients"]) < 1:
        assert time.monotonic() < deadline, "the reader never started waiting"
        time.sleep(0.005)


def test_the_process_writer_refuses_a_store_of_another_target(
    raw: redis.Redis, server_b: RedisServer
) -> None:
    """Fire-and-forget calls are the tools', on the process's settings; a store given other
    settings reaching the process's writer would send its writes to A: refused, saying so."""
    b = Settings(url=server_b.url)

    def store_for(role: str | None) -> RoleStore:
        return RoleStore(role or "w", settings=b)

    for row, args in (
        (rows.WRITE_ASYNC, ("k", 1, None)),
        (rows.READ_ASYNC, ("k", None)),
        (rows.SEND_ASYNC, ("planner", "hello")),
    ):
        kwargs = {"encrypt": None} if row is rows.WRITE_ASYNC else {}
        result = calls.call(row, store_for, "w", args, kwargs)
        assert result["success"] is False and result["error_code"] == "config", result
        assert f":{server_b.port}" in result["error"] and "store.write" in result["error"]
    # the process's own stores still queue
    same = calls.call(rows.WRITE_ASYNC, RoleStore, "w", ("k", 1, None), {"encrypt": None})
    assert same["success"] is True, same
    assert redis_flush(timeout=10)["success"] is True
    assert raw.get("w:k") is not None and keys_on(server_b, "*") == []
