"""Issue 24: the cache under provisioned ACL users. A role's user caches, invalidates by tag
and keeps a local tier through the library with the commands provisioning grants; another
role's user cannot read, write or delete its entries, tags or invalidation log with raw
commands."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis import cached, invalidate_tags, metrics, reset
from roleredis.core import cachekeys
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer

from .acl_users import provisioned

ADMIN_PASSWORD = "admin-pw-c4ch3"
ROLES = ("alpha", "beta")


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(password=ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def users(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from provisioned(server, ADMIN_PASSWORD, ROLES, monkeypatch)


def connect_as(role: str, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_USERNAME", users[role].username)
    monkeypatch.setenv("REDIS_PASSWORD", users[role].password)
    monkeypatch.setenv("ROLEREDIS_ROLE", role)
    reset()


def test_the_cache_works_as_the_roles_user_and_is_closed_to_others(
    server: RedisServer, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    @cached(ttl=60, tags="t", local=4, sliding=True)
    def f(n: int) -> dict[str, int]:
        calls.append(n)
        return {"n": n}

    connect_as("alpha", users, monkeypatch)
    metrics.reset_metrics()
    assert f(1) == {"n": 1} and f(1) == {"n": 1}
    deadline = time.monotonic() + 10
    while metrics.snapshot()["cache"]["alpha"]["local_hits"] == 0:  # the follower reads its log
        assert time.monotonic() < deadline
        f(1)
    assert metrics.snapshot()["cache"]["alpha"]["failures"] == 0
    assert invalidate_tags("t") == 1
    f(1)
    assert calls == [1, 1]
    entry = f.cache.key(1)  # type: ignore[attr-defined]
    tag = cachekeys.tag_key(Keyspace("alpha"), "t")
    log = cachekeys.log_key(Keyspace("alpha"))
    assert users["admin"].exists(entry, tag, log) == 3

    mallory = redis.Redis.from_url(
        server.url, username=users["beta"].username, password=users["beta"].password
    )
    try:
        for command in (
            ("GET", entry),
            ("GETEX", entry, "EX", 1),
            ("SET", entry, b'"poisoned"'),
            ("UNLINK", entry),
            ("ZADD", tag, 1, "__roleredis__:{alpha}:mail:beta"),
            ("ZRANGE", tag, 0, -1),
            ("XADD", log, "*", "k", entry),
            ("XREAD", "STREAMS", log, "0"),
            ("PEXPIRE", tag, 1),
            ("CLIENT", "TRACKING", "ON", "BCAST"),
            ("SUBSCRIBE", "__redis__:invalidate"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                mallory.execute_command(*command)
    finally:
        mallory.close()
    assert users["admin"].get(entry) == b'{"n":1}'
