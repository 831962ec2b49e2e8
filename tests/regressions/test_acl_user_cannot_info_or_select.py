"""Issue 8, item 11: a provisioned role user could run INFO (every user's command counts and
failed logins) and SELECT (its prefix in other databases). It can do neither now (SELECT only
when the configured database is not 0), and its health check still passes without INFO."""

from __future__ import annotations

import pytest
import redis

from roleredis import redis_health_check, redis_read, redis_write, reset
from roleredis.admin import acl
from roleredis.testing import RedisServer


def _login(server: RedisServer, creds: acl.Credentials, db: int = 0) -> redis.Redis:
    return redis.Redis.from_url(
        f"{server.url.rsplit('/', 1)[0]}/{db}", username=creds.username, password=creds.password
    )


def test_role_user_cannot_info_or_select(
    acl_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = acl.provision("weather")
    login = _login(acl_server, creds)
    try:
        for command in (("INFO",), ("INFO", "commandstats"), ("SELECT", 1), ("SELECT", 0)):
            with pytest.raises(redis.exceptions.NoPermissionError):
                login.execute_command(*command)
        assert login.set("weather:k", "v") is True
    finally:
        login.close()

    # the role's own process: health passes with what it may see, everything else works
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password or "")
    reset()
    health = redis_health_check(role="weather")
    assert health["success"] is True and health["connected"] is True, health
    assert health["redis_version"] == "unknown" and health["used_memory_human"] is None
    assert redis_write("k", 1, role="weather")["success"] is True
    assert redis_read("k", role="weather")["value"] == 1


def test_async_health_degrades_too(
    acl_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from roleredis import aio

    creds = acl.provision("weather")
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password or "")
    reset()

    async def check() -> dict[str, object]:
        try:
            return await aio.redis_health_check(role="weather")
        finally:
            await aio.aclose()

    health = asyncio.run(check())
    assert health["success"] is True and health["redis_version"] == "unknown", health


def test_select_is_granted_only_for_another_database(
    acl_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", acl_server.url.rsplit("/", 1)[0] + "/2")
    reset()
    creds = acl.provision("weather")  # the admin's database is 2: its users must select it
    login = _login(acl_server, creds, db=2)
    try:
        assert login.set("weather:k", "v") is True
        with pytest.raises(redis.exceptions.NoPermissionError):
            login.execute_command("INFO")
    finally:
        login.close()
