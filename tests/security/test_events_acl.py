"""Issue 12, items 3 and 4: events under ACL users. A provisioned role publishes only to its own
logs and reads every role's without a grant; no raw command of another role's login appends to,
trims, deletes or takes a consumer group on them; ``provision(events=False)`` (``acl provision
--no-events``) withholds reading others' events, through the tools and raw commands alike."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
import redis

from roleredis import aio, redis_publish, redis_read_events, reset
from roleredis.admin import acl
from roleredis.foundation.errors import PermissionDeniedError
from roleredis.testing import RedisServer
from tests.security.test_acl import ADMIN_PASSWORD, admin, server

__all__ = ["admin", "server"]  # the password-protected server and its admin, as test_acl's

WEATHER = "__roleredis__:{weather}:events:alerts"


def log_in(monkeypatch: pytest.MonkeyPatch, creds: acl.Credentials) -> None:
    """The process's connections from now on use the role's own ACL user."""
    assert creds.password is not None
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password)
    reset()


def raw_login(server: RedisServer, creds: acl.Credentials) -> redis.Redis:
    return redis.Redis.from_url(server.url, username=creds.username, password=creds.password)


def test_a_role_publishes_its_own_and_reads_others_without_a_grant(
    admin: redis.Redis, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    weather, radar = acl.provision("weather"), acl.provision("radar")
    log_in(monkeypatch, weather)
    published = redis_publish("alerts", {"level": 2}, role="weather")
    assert published["success"] is True, published
    log_in(monkeypatch, radar)
    read = redis_read_events("weather", "alerts", role="radar")
    assert read["success"] is True, read
    assert [(e["from"], e["event"]) for e in read["events"]] == [("weather", {"level": 2})]
    now = redis_read_events("weather", "alerts", after="$", block_ms=50, role="radar")
    assert now["success"] is True and now["last_id"] == published["id"]
    assert redis_publish("alerts", "mine", role="radar")["success"] is True
    own = redis_read_events("radar", "alerts", role="radar")
    assert [e["event"] for e in own["events"]] == ["mine"]
    login = raw_login(server, radar)
    try:
        assert login.xread({WEATHER: "0"})[0][1][0][1] == {b"event": b'{"level":2}'}
        assert login.xrevrange(WEATHER, count=1)[0][0].decode() == published["id"]
    finally:
        login.close()


TAMPERING = [
    ("XADD", WEATHER, "*", "event", '"forged"'),
    ("XADD", WEATHER, "MAXLEN", "0", "*", "event", '"forged"'),
    ("XTRIM", WEATHER, "MAXLEN", "0"),
    ("XDEL", WEATHER, "0-1"),
    ("DEL", WEATHER),
    ("UNLINK", WEATHER),
    ("XGROUP", "CREATE", WEATHER, "stolen", "0"),
    ("XGROUP", "DESTROY", WEATHER, "stolen"),
    ("XSETID", WEATHER, "99999999999999-0"),
    ("EXPIRE", WEATHER, "1"),
    ("RENAME", WEATHER, "__roleredis__:{radar}:events:alerts"),
]


def test_no_role_can_tamper_with_anothers_events(
    admin: redis.Redis, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    weather, radar = acl.provision("weather"), acl.provision("radar")
    log_in(monkeypatch, weather)
    for n in range(3):
        assert redis_publish("alerts", n, role="weather")["success"] is True
    before = admin.xrange(WEATHER)
    login = raw_login(server, radar)
    try:
        for command in TAMPERING:
            with pytest.raises(redis.exceptions.NoPermissionError):
                login.execute_command(*command)
    finally:
        login.close()
    log_in(monkeypatch, radar)
    forged = redis_publish("alerts", "forged", role="weather")  # as weather, logged in as radar
    assert forged["success"] is False and forged["error_code"] == "permission", forged
    assert admin.xrange(WEATHER) == before
    assert admin.xinfo_groups(WEATHER) == []


def test_events_false_withholds_reading_others_events(
    admin: redis.Redis, server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    weather, closed = acl.provision("weather"), acl.provision("closed", events=False)
    assert [u["reads_events"] for u in acl.list_users()] == [False, True]
    log_in(monkeypatch, weather)
    assert redis_publish("alerts", "public", role="weather")["success"] is True
    log_in(monkeypatch, closed)
    for read in (
        redis_read_events("weather", "alerts", role="closed"),
        redis_read_events("weather", "alerts", after="$", role="closed"),
        redis_read_events("weather", "alerts", block_ms=100, role="closed"),
    ):
        assert read["success"] is False and read["error_code"] == "permission", read
        assert read["events"] == []

    async def follow() -> None:
        async for _ in aio.follow_events("weather", "alerts", after="0", role="closed"):
            pass

    with pytest.raises(PermissionDeniedError):
        asyncio.run(follow())
    login = raw_login(server, closed)
    try:
        for command in (("XREAD", "STREAMS", WEATHER, "0"), ("XREVRANGE", WEATHER, "+", "-")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                login.execute_command(*command)
    finally:
        login.close()
    # its own events it still publishes and reads
    assert redis_publish("alerts", "own", role="closed")["success"] is True
    own = redis_read_events("closed", "alerts", role="closed")
    assert [e["event"] for e in own["events"]] == ["own"]


def test_withholding_from_an_existing_user_keeps_its_grants(
    admin: redis.Redis, server: RedisServer
) -> None:
    creds = acl.provision("radar")
    acl.grant("radar", "alpha", "shared:*")
    again = acl.provision("radar", events=False)
    assert again.password is None  # the user keeps its password
    keys = admin.acl_getuser(creds.username)["keys"]
    assert "%R~__roleredis__:{*}:events:*" not in keys
    assert "%R~alpha:shared:*" in keys and "~radar:*" in keys
    (listed,) = acl.list_users()
    assert listed["grants"] == ["alpha:shared:*"] and listed["reads_events"] is False
    admin.set("alpha:shared:x", "granted")
    login = raw_login(server, creds)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            login.xread({WEATHER: "0"})
        assert login.get("alpha:shared:x") == b"granted"  # the grant still works
        acl.revoke_grant("radar", "alpha", "shared:*")  # rewrites the patterns: still none
        with pytest.raises(redis.exceptions.NoPermissionError):
            login.xread({WEATHER: "0"})
        acl.provision("radar")  # provisioning again without it gives it back
        assert login.xread({WEATHER: "0"}) == []
    finally:
        login.close()
    assert acl.list_users()[0]["reads_events"] is True


def test_cli_provisions_without_events(admin: redis.Redis, server: RedisServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=server.url, REDIS_PASSWORD=ADMIN_PASSWORD)
    command = [sys.executable, "-m", "roleredis", "acl", "provision", "quiet"]
    done = subprocess.run(
        [*command, "--no-events", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    creds = json.loads(done.stdout)
    login = redis.Redis.from_url(server.url, username=creds["username"], password=creds["password"])
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            login.xread({WEATHER: "0"})
        assert login.xadd("__roleredis__:{quiet}:events:news", {"event": "1"})
    finally:
        login.close()
    said = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert said.returncode == 0, said.stderr
    assert "may read other roles' events" in said.stdout
    assert acl.list_users()[0]["reads_events"] is True
