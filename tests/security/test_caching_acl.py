"""Issue 24: the cache under provisioned ACL users. A role's user caches, invalidates by tag
and keeps a local tier through the library with the commands provisioning grants; another
role's user cannot read, write or delete its entries, tags or invalidation log with raw
commands. Client tracking (the local tier kept by the server) is the role's only where
``acl provision --tracking`` granted it: then its user tracks only keys it may read, hears
only of its own, and may neither publish nor listen elsewhere."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import hiredis
import pytest
import redis

from roleredis import RoleStore, cached, invalidate_tags, metrics, reset
from roleredis.admin import acl
from roleredis.core import cachekeys
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer

from .acl_users import provisioned, raw_as, refused

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


def test_by_default_a_roles_tier_follows_its_log_not_tracking(
    server: RedisServer, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    @cached(ttl=60, local=4)
    def f(n: int) -> int:
        return n

    connect_as("alpha", users, monkeypatch)
    f(1)
    watch = f.cache.local_cache(RoleStore("alpha")).follower  # type: ignore[attr-defined]
    # the first watch tried tracking and was refused; the tier follows the log from then on
    deadline = time.monotonic() + 10
    while watch.mode != "log" or not watch.live:
        assert time.monotonic() < deadline
        f(1)
        watch = f.cache.local_cache(RoleStore("alpha")).follower  # type: ignore[attr-defined]
    assert _cannot_track("alpha", users, server)


def test_with_tracking_granted_the_user_sees_only_its_own_keys_changes(
    server: RedisServer, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    acl.provision("alpha", tracking=True, client=users["admin"])

    @cached(ttl=60, local=4)
    def f(n: int) -> int:
        return n

    connect_as("alpha", users, monkeypatch)
    metrics.reset_metrics()
    deadline = time.monotonic() + 10
    while metrics.snapshot()["cache"].get("alpha", {}).get("local_hits", 0) == 0:
        assert time.monotonic() < deadline
        f(1)
    watch = f.cache.local_cache(RoleStore("alpha")).follower  # type: ignore[attr-defined]
    assert watch.mode == "tracking" and watch.live
    beta_key = "beta:secret-name"
    users["admin"].set(beta_key, 1)

    # what the grant allows, with raw commands as alpha's user: a listener of its own, and
    # tracking in the default mode, which tracks only keys this user could read
    listener = Connection.from_url(server.url, users["alpha"])
    reader = Connection.from_url(server.url, users["alpha"])
    try:
        (listener_id,) = listener.send(("CLIENT", "ID"))
        assert listener.send(("SUBSCRIBE", "__redis__:invalidate"))[0][0] == b"subscribe"
        assert reader.send(("CLIENT", "TRACKING", "ON", "REDIRECT", listener_id)) == [b"OK"]
        (denied,) = reader.send(("GET", beta_key))
        assert isinstance(denied, hiredis.ReplyError) and "NOPERM" in str(denied)
        alpha_key = "alpha:mine"
        reader.send(("GET", alpha_key))
        users["admin"].set(beta_key, 2)  # another role's key changes: nothing comes
        users["admin"].set(alpha_key, 1)  # its own: its name comes
        assert listener.message() == [b"message", b"__redis__:invalidate", [b"alpha:mine"]]
        assert listener.message(0.3) is None
        # no other channel, no PUBLISH (no fake invalidations for other roles' listeners)
        for command in (("SUBSCRIBE", "other"), ("PSUBSCRIBE", "*"), ("PUBLISH", "x", "y")):
            (answer,) = reader.send(command)
            assert isinstance(answer, hiredis.ReplyError) and "NOPERM" in str(answer), command
    finally:
        listener.close()
        reader.close()
    assert _cannot_track("beta", users, server)  # the grant is alpha's alone
    acl.provision("alpha", client=users["admin"])  # again without it: taken back
    assert _cannot_track("alpha", users, server)


def _cannot_track(role: str, users: dict[str, Any], server: RedisServer) -> bool:
    """Whether ``role``'s user is refused CLIENT TRACKING and the invalidation channel."""
    client = raw_as(role, users, server)
    try:
        return refused(client, "CLIENT", "TRACKING", "ON") and refused(
            client, "SUBSCRIBE", "__redis__:invalidate"
        )
    finally:
        client.close()


class Connection:
    """A raw RESP2 connection (a listener's messages are read as they come)."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=5)
        self.reader = hiredis.Reader()
        assert self.send(("AUTH", username, password)) == [b"OK"]

    @classmethod
    def from_url(cls, url: str, creds: Any) -> Connection:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        return cls(parts.hostname, parts.port, creds.username, creds.password)

    def send(self, command: tuple[Any, ...]) -> list[Any]:
        self.sock.sendall(hiredis.pack_command(command))  # type: ignore[arg-type]
        return [self.message(5)]

    def message(self, timeout: float = 2.0) -> Any:
        self.sock.settimeout(timeout)
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return None
            assert chunk
            self.reader.feed(chunk)

    def close(self) -> None:
        self.sock.close()


def test_cli_provisions_with_tracking(
    server: RedisServer, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=server.url, REDIS_PASSWORD=ADMIN_PASSWORD)
    command = [sys.executable, "-m", "roleredis", "acl", "provision", "alpha"]
    said = subprocess.run([*command, "--tracking"], env=env, capture_output=True, text=True)
    assert said.returncode == 0, said.stderr
    assert "client tracking" in said.stdout
    login = raw_as("alpha", users, server)
    try:
        assert not refused(login, "CLIENT", "TRACKING", "ON")
        assert not refused(login, "CLIENT", "TRACKING", "OFF")
    finally:
        login.close()
    again = subprocess.run(command, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert _cannot_track("alpha", users, server)
