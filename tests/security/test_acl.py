"""Issue 5, section 1: isolation the server enforces. Role A, connected with the ACL user
provisioned for it, tries read, write, delete, exists, list, clear, async write and batch on
role B's data: every attempt is refused (permission) and B's data is byte-for-byte intact; the
server itself refuses a raw redis-py command on B's keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis import (
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_flush,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_read_many,
    redis_write,
    redis_write_async,
    redis_write_many,
    reset,
)
from roleredis.admin import acl
from roleredis.testing import RedisServer
from roleredis.transport.writer.process import stats

ADMIN_PASSWORD = "admin-pw-4c1e"


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(password=ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def admin(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
    reset()
    client = redis.Redis.from_url(server.url, password=ADMIN_PASSWORD)
    yield client
    client.close()


def _snapshot(client: redis.Redis, pattern: str) -> dict[bytes, Any]:
    return {key: (client.dump(key), client.pttl(key) > 0) for key in client.scan_iter(pattern)}


def test_provision_list_revoke(admin: redis.Redis) -> None:
    creds = acl.provision("weather")
    assert creds.username == "roleredis-weather" and len(creds.password) >= 32
    assert creds.password not in repr(creds)
    users = acl.list_users()
    assert [u["role"] for u in users] == ["weather"]
    assert users[0]["keys"] == ["weather:*", "__roleredis__:{weather}:*"]
    assert users[0]["enabled"] is True
    again = acl.provision("weather")  # re-provisioning keeps the password (shows none)
    assert again.password is None and again.created is False
    rotated = acl.provision("weather", new_password=True)
    assert rotated.password is not None and rotated.password != creds.password
    assert acl.revoke("weather") is True
    assert acl.revoke("weather") is False
    assert acl.list_users() == []


def test_a_role_cannot_touch_another_roles_data(
    admin: redis.Redis, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # B's data, written by the admin through the tools
    assert redis_write("profile", {"name": "bee"}, role="b", ttl=600)["success"] is True
    assert redis_write_many({"x": 1, "y": b"\x00\x01"}, role="b")["success"] is True
    before = _snapshot(admin, "b:*")
    assert len(before) == 3

    creds_a = acl.provision("a")
    acl.provision("b")
    monkeypatch.setenv("REDIS_USERNAME", creds_a.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds_a.password)
    reset()

    # A's own namespace works
    assert redis_write("mine", 1, role="a")["success"] is True
    assert redis_read("mine", role="a")["value"] == 1
    assert redis_get_keys(role="a")["keys"] == ["mine"]
    assert redis_health_check(role="a")["success"] is True

    attempts = {
        "read": redis_read("profile", role="b"),
        "write": redis_write("profile", "owned", role="b"),
        "delete": redis_delete("profile", role="b"),
        "exists": redis_exists("profile", role="b"),
        "list": redis_get_keys(role="b"),
        "list pattern": redis_get_keys("pro*", role="b"),
        "clear": redis_clear_role_data("b"),
        "write_many": redis_write_many({"x": 2}, role="b"),
        "read_many": redis_read_many(["x", "y"], role="b"),
    }
    for name, result in attempts.items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "permission", (name, result)
    assert attempts["list"]["keys"] == []  # not even the names

    # a fire-and-forget write is queued (the caller cannot know), then refused by the server,
    # counted as failed and logged; nothing of B's changes
    assert redis_write_async("profile", "owned", role="b")["success"] is True
    flushed = redis_flush(timeout=10)
    assert flushed["success"] is True and flushed["lost"] == 1 and flushed["written"] == 0
    assert stats()["failed"] >= 1

    # the server itself refuses raw commands on B's keys from A's login
    raw_a = redis.Redis.from_url(server.url, username=creds_a.username, password=creds_a.password)
    try:
        for command in (("GET", "b:profile"), ("SET", "b:profile", "x"), ("DEL", "b:x")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                raw_a.execute_command(*command)
        with pytest.raises(redis.exceptions.NoPermissionError):
            raw_a.execute_command("FLUSHDB")
    finally:
        raw_a.close()

    assert _snapshot(admin, "b:*") == before


def test_cli_provisions_with_json(admin: redis.Redis, server: RedisServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=server.url, REDIS_PASSWORD=ADMIN_PASSWORD)
    done = subprocess.run(
        [sys.executable, "-m", "roleredis", "acl", "provision", "timer", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    creds = json.loads(done.stdout)
    assert creds["role"] == "timer" and creds["username"] == "roleredis-timer"
    login = redis.Redis.from_url(server.url, username=creds["username"], password=creds["password"])
    try:
        assert login.set("timer:k", "v") is True
        with pytest.raises(redis.exceptions.NoPermissionError):
            login.get("weather:k")
    finally:
        login.close()
    listed = subprocess.run(
        [sys.executable, "-m", "roleredis", "acl", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert [u["role"] for u in json.loads(listed.stdout)] == ["timer"]
    assert creds["password"] not in listed.stdout
    revoked = subprocess.run(
        [sys.executable, "-m", "roleredis", "acl", "revoke", "timer"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert revoked.returncode == 0, revoked.stderr
    assert acl.list_users() == []


def test_a_role_user_keeps_its_key_index_and_cannot_touch_anothers(
    admin: redis.Redis, server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("redis:\n  key_management:\n    index: true\n", encoding="utf-8")
    monkeypatch.setenv("ROLEREDIS_CONFIG", str(config))
    reset()
    assert redis_write("profile", 1, role="b")["success"] is True
    assert redis_clear_role_data("b")["success"] is True  # B's index: trusted, empty
    assert redis_write("profile", 1, role="b")["success"] is True
    b_index = admin.zrange("__roleredis__:{b}:index", 0, -1, withscores=True)

    creds_a = acl.provision("a")
    monkeypatch.setenv("REDIS_USERNAME", creds_a.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds_a.password)
    reset()
    # every tool of A's, with its index, and its reindex
    assert redis_write("mine", 1, role="a", ttl=600)["success"] is True
    assert redis_write_many({"x": 1, "y": 2}, role="a")["success"] is True
    assert redis_write_async("z", 1, role="a")["success"] is True
    assert redis_flush(timeout=10)["lost"] == 0
    assert redis_delete("y", role="a")["deleted"] is True
    assert redis_get_keys(role="a")["keys"] == ["mine", "x", "z"]  # SCAN: not trusted yet
    from roleredis.core.store import RoleStore

    assert RoleStore("a").reindex() == 3
    assert redis_get_keys("[mx]*", role="a")["keys"] == ["mine", "x"]  # the index
    assert redis_clear_role_data("a")["deleted_count"] == 3

    # B's index is out of A's reach, through the tools and raw
    for result in (redis_get_keys(role="b"), redis_clear_role_data("b")):
        assert result["success"] is False and result["error_code"] == "permission", result
    raw_a = redis.Redis.from_url(server.url, username=creds_a.username, password=creds_a.password)
    try:
        for command in (
            ("ZADD", "__roleredis__:{b}:index", "1", "x"),
            ("ZRANGE", "__roleredis__:{b}:index", "0", "-1"),
            ("ZREM", "__roleredis__:{b}:index", "profile"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                raw_a.execute_command(*command)
    finally:
        raw_a.close()
    assert admin.zrange("__roleredis__:{b}:index", 0, -1, withscores=True) == b_index
