"""Issue 12, items 1 and 4: granted reads enforced by the server. ``acl grant beta --read
alpha:shared:*`` lets beta's ACL user read alpha's keys under ``shared:``, and nothing else:
other keys, writes and deletes of the granted keys, alpha's internal keys (mail, dead letters,
index) and listing outside the grant are refused (``permission``), by the tools and by raw
redis-py alike. Re-provisioning keeps grants; revoking one removes only it. fakeredis drops
``%R~`` rules, so this needs the real server (started here, never 6379)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis import (
    aio,
    redis_exists,
    redis_get_keys,
    redis_read,
    redis_read_many,
    redis_write,
    redis_write_many,
    reset,
)
from roleredis.admin import acl
from roleredis.testing import RedisServer

ADMIN_PASSWORD = "admin-pw-9d2a"
ALPHA_INTERNAL = (
    "__roleredis__:{alpha}:mail:gamma",
    "__roleredis__:{alpha}:dead",
    "__roleredis__:{alpha}:index",
)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer(password=ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def admin(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[redis.Redis]:
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
    reset()
    client = redis.Redis.from_url(server.url, password=ADMIN_PASSWORD)
    yield client
    client.flushdb()
    for name in client.acl_users():
        if name.startswith(acl.USER_PREFIX):
            client.acl_deluser(name)
    client.close()


def _login_as(monkeypatch: pytest.MonkeyPatch, creds: acl.Credentials) -> None:
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password or "")
    reset()


def _alpha_data(admin: redis.Redis) -> None:
    written = redis_write_many({"shared:a": 1, "shared:b": "two", "private": 3}, role="alpha")
    assert written["success"] is True, written
    admin.xadd(ALPHA_INTERNAL[0], {"body": "hi"})
    admin.xadd(ALPHA_INTERNAL[1], {"body": "dead"})
    admin.zadd(ALPHA_INTERNAL[2], {"private": 1})


def test_a_grant_lets_the_reader_read_only_what_it_names(
    admin: redis.Redis, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alpha_data(admin)
    acl.provision("alpha")
    beta = acl.provision("beta")
    granted = acl.grant("beta", "alpha", "shared:*")
    assert granted.rule == "%R~alpha:shared:*" and not granted.failed
    assert [n.outcome for n in granted.nodes] == ["granted"]
    assert [n.outcome for n in acl.grant("beta", "alpha", "shared:*").nodes] == ["unchanged"]
    acl.grant("beta", "alpha", "empty:*")
    again = acl.provision("beta")  # provisioning again keeps the grants
    assert again.password is None
    users = {u["role"]: u for u in acl.list_users()}
    assert users["beta"]["grants"] == ["alpha:shared:*", "alpha:empty:*"]
    assert users["alpha"]["grants"] == []

    _login_as(monkeypatch, beta)
    read = redis_read("shared:a", role="beta", from_role="alpha")
    assert read["value"] == 1 and read["role"] == "beta" and read["from_role"] == "alpha"
    assert redis_exists("shared:b", role="beta", from_role="alpha")["exists"] is True
    many = redis_read_many(["shared:a", "shared:b"], role="beta", from_role="alpha")
    assert many["values"] == {"shared:a": 1, "shared:b": "two"}
    assert redis_get_keys(role="beta", from_role="alpha")["keys"] == ["shared:a", "shared:b"]
    assert redis_get_keys("shared:*", role="beta", from_role="alpha")["count"] == 2
    empty = redis_get_keys("empty:*", role="beta", from_role="alpha")
    assert empty["success"] is True and empty["keys"] == []  # granted, and nothing there yet

    refused = {
        "read": redis_read("private", role="beta", from_role="alpha"),
        "exists": redis_exists("private", role="beta", from_role="alpha"),
        "read_many": redis_read_many(["shared:a", "private"], role="beta", from_role="alpha"),
        "list outside the grant": redis_get_keys("priv*", role="beta", from_role="alpha"),
        "list with no grant": redis_get_keys(role="beta", from_role="delta"),
        # role= only changes the prefix: the server still sees beta's user
        "read private as the owner": redis_read("private", role="alpha"),
        "write a granted key as the owner": redis_write("shared:a", "x", role="alpha"),
    }
    for name, result in refused.items():
        assert result["success"] is False and result["error_code"] == "permission", (name, result)
    assert refused["list outside the grant"]["keys"] == []
    assert "acl grant beta --read delta:PATTERN" in refused["list with no grant"]["error"]

    async def main() -> list[dict[str, Any]]:
        return [
            await aio.redis_read("shared:b", role="beta", from_role="alpha"),
            await aio.redis_read("private", role="beta", from_role="alpha"),
            await aio.redis_get_keys(role="beta", from_role="alpha"),
        ]

    ok, no, listed = asyncio.run(main())
    assert ok["value"] == "two" and no["error_code"] == "permission"
    assert listed["keys"] == ["shared:a", "shared:b"]

    # the server refuses beta's raw writes and deletes of the granted keys, and alpha's
    # internal keys, although beta's user may run those commands on its own keys
    raw = redis.Redis.from_url(server.url, username=beta.username, password=beta.password)
    try:
        assert raw.get("alpha:shared:a") == b"1"
        for command in (
            ("SET", "alpha:shared:a", "x"),
            ("DEL", "alpha:shared:a"),
            ("UNLINK", "alpha:shared:b"),
            ("GET", "alpha:private"),
            *(("EXISTS", key) for key in ALPHA_INTERNAL),
            ("ZRANGE", ALPHA_INTERNAL[2], 0, -1),
            ("XADD", ALPHA_INTERNAL[1], "*", "body", "forged"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                raw.execute_command(*command)
    finally:
        raw.close()
    assert admin.get("alpha:shared:a") == b"1" and admin.xlen(ALPHA_INTERNAL[1]) == 1

    # revoking the grant removes it alone: the user, its own keys and other grants stay
    monkeypatch.setenv("REDIS_USERNAME", "")
    monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
    reset()
    assert [n.outcome for n in acl.revoke_grant("beta", "alpha", "shared:*").nodes] == ["revoked"]
    assert [n.outcome for n in acl.revoke_grant("beta", "alpha", "shared:*").nodes] == ["absent"]
    (beta_user,) = [u for u in acl.list_users() if u["role"] == "beta"]
    assert beta_user["grants"] == ["alpha:empty:*"]
    assert beta_user["keys"] == ["beta:*", "__roleredis__:{beta}:*"]
    user = admin.acl_getuser("roleredis-beta")
    assert len(user["selectors"]) == 3  # the mail and reply selectors are untouched
    _login_as(monkeypatch, beta)
    gone = redis_read("shared:a", role="beta", from_role="alpha")
    assert gone["error_code"] == "permission"
    assert redis_write("mine", 1, role="beta")["success"] is True


def test_grant_needs_the_readers_user(admin: redis.Redis) -> None:
    with pytest.raises(Exception, match=r"no ACL user roleredis-beta here: run 'roleredis acl"):
        acl.grant("beta", "alpha", "*")


def _cli(server: RedisServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=server.url, REDIS_PASSWORD=ADMIN_PASSWORD)
    return subprocess.run(
        [sys.executable, "-m", "roleredis", "acl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_grant_list_revoke(admin: redis.Redis, server: RedisServer) -> None:
    acl.provision("beta")
    made = _cli(server, "grant", "beta", "--read", "alpha:shared:*", "--read", "gamma:x", "--json")
    assert made.returncode == 0, made.stderr
    assert [d["rule"] for d in json.loads(made.stdout)] == ["%R~alpha:shared:*", "%R~gamma:x"]
    shown = _cli(server, "list")
    assert shown.returncode == 0, shown.stderr
    assert "alpha:shared:*" in shown.stdout and "reads" in shown.stdout
    removed = _cli(server, "revoke", "beta", "--read", "gamma:x")
    assert removed.returncode == 0, removed.stderr
    assert "revoked: beta reading gamma's keys x" in removed.stdout
    listed = _cli(server, "list", "--json")
    (user,) = json.loads(listed.stdout)
    assert user["grants"] == ["alpha:shared:*"]
    bad = _cli(server, "grant", "beta", "--read", "alpha")
    assert bad.returncode == 2 and "has no ':'" in bad.stderr, bad
    bad_pattern = _cli(server, "grant", "beta", "--read", "alpha:a b")
    assert bad_pattern.returncode == 2 and "whitespace" in bad_pattern.stderr, bad_pattern
    deleted = _cli(server, "revoke", "beta")  # without --read: the user goes
    assert deleted.returncode == 0 and "deleted ACL user roleredis-beta" in deleted.stdout
    assert acl.list_users() == []


def test_config_shows_the_sharing_section(tmp_path: Any) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "sharing:\n  beta:\n    read: ['alpha:shared:*', 'gamma:x']\n  delta: {}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL="memory://", ROLEREDIS_CONFIG=str(path))
    shown = subprocess.run(
        [sys.executable, "-m", "roleredis", "config", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["sharing"] == {"beta": ["alpha:shared:*", "gamma:x"]}
    path.write_text("sharing:\n  beta:\n    read: ['alpha']\n", encoding="utf-8")
    bad = subprocess.run(
        [sys.executable, "-m", "roleredis", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "sharing.beta.read[0] ('alpha')" in bad.stderr, bad
