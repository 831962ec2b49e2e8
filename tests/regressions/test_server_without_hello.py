"""Issue 8, item 2: a server without HELLO (Redis before 6, or HELLO renamed away).

redis-py 8 speaks RESP3 by default and so opens every connection with ``HELLO 3 AUTH user
password``; such a server answers "unknown command 'HELLO', with args beginning with: '3'
'AUTH' 'default' '<password>'". roleredis speaks RESP2 (AUTH), so every tool works there; and
whatever a server echoes, the configured password never reaches a result, a log line, an
exception or the CLI's output (the server is made to echo it here by forcing RESP3 through
the URL's ``protocol=3``).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import redis

import roleredis
from roleredis import aio
from roleredis.core.store import RoleStore
from roleredis.testing import RedisServer

from ..cli.conftest import run_cli

PASSWORD = "hello-less-Pa55word-7f3c"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def no_hello() -> Iterator[RedisServer]:
    server = RedisServer(password=PASSWORD, extra_args=("--rename-command", "HELLO", ""))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def configured(
    no_hello: RedisServer, roleredis_env: Any, monkeypatch: pytest.MonkeyPatch
) -> RedisServer:
    monkeypatch.setenv("REDIS_URL", no_hello.url)
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    roleredis.reset()
    yield no_hello
    roleredis.reset()
    client = no_hello.client(protocol=2)
    try:
        client.flushdb()
    finally:
        client.close()


def test_the_server_really_has_no_hello(no_hello: RedisServer) -> None:
    client = no_hello.client(protocol=2)
    try:
        with pytest.raises(redis.ResponseError, match="unknown command"):
            client.execute_command("HELLO", "3")
    finally:
        client.close()


def test_every_tool_works_without_hello(configured: RedisServer) -> None:
    got: list[dict[str, Any]] = []
    outcomes = {
        "write": roleredis.redis_write("forecast", {"sky": "clear"}, ttl=60, role="weather"),
        "read": roleredis.redis_read("forecast", role="weather"),
        "exists": roleredis.redis_exists("forecast", role="weather"),
        "get_keys": roleredis.redis_get_keys("*", role="weather"),
        "write_many": roleredis.redis_write_many({"a": 1, "b": [2]}, role="weather"),
        "read_many": roleredis.redis_read_many(["a", "b"], role="weather"),
        "write_async": roleredis.redis_write_async("late", "x", role="weather"),
        "read_async": roleredis.redis_read_async("late", callback=got.append, role="weather"),
        "flush": roleredis.redis_flush(timeout=10),
        "health": roleredis.redis_health_check(role="weather"),
        "delete": roleredis.redis_delete("forecast", role="weather"),
        "clear": roleredis.redis_clear_role_data("weather"),
    }
    failed = {name: r for name, r in outcomes.items() if not r["success"]}
    assert failed == {}
    assert outcomes["read"]["value"] == {"sky": "clear"}
    assert outcomes["read_many"]["values"] == {"a": 1, "b": [2]}
    assert outcomes["flush"]["lost"] == 0
    assert got and got[0]["value"] == "x"
    assert outcomes["clear"]["deleted_count"] == 3  # a, b, late

    async def main() -> dict[str, Any]:
        await aio.redis_write("k", 1, role="weather")
        return await aio.redis_read("k", role="weather")

    assert asyncio.run(main())["value"] == 1


def test_replies_read_the_same_over_resp2(configured: RedisServer) -> None:
    """The fast path reads raw replies; under RESP2 TTL, EXISTS, SCAN and INFO give the
    values the operations expect (ints, bools, a parsed INFO)."""
    store = RoleStore("weather")
    store.write("t", "v", ttl=100)
    entry = store.read("t")
    assert entry.value == "v" and 98 <= entry.ttl <= 100
    assert store.exists("t") is True and store.exists("nope") is False
    assert store.keys() == ["t"]
    report = store.health()
    assert report.redis_version.count(".") == 2 and report.mode == "standalone"


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


@pytest.fixture
def echoing(configured: RedisServer, monkeypatch: pytest.MonkeyPatch) -> RedisServer:
    """The same server, reached the way redis-py 8 does by default (RESP3: HELLO first)."""
    monkeypatch.setenv("REDIS_URL", f"{configured.url}?protocol=3")
    roleredis.reset()
    return configured


def test_the_password_is_scrubbed_from_results_logs_and_exceptions(
    echoing: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="roleredis")
    result = roleredis.redis_write("k", 1, role="weather")
    assert not result["success"]
    assert "HELLO" in result["error"], result  # the server did echo the command ...
    assert "***" in result["error"]  # ... and the password was scrubbed from it
    health = roleredis.redis_health_check(role="weather")
    async_result = roleredis.redis_write_async("k", 1, role="weather")
    flushed = roleredis.redis_flush(timeout=0.5)
    with pytest.raises(roleredis.RoleRedisError) as raised:
        RoleStore("weather").read("k")
    shown = "".join(traceback.format_exception(raised.value))
    roleredis.reset()  # the writer gives its writes up: logged too
    for text in (repr(result), repr(health), repr(async_result), repr(flushed), shown):
        assert PASSWORD not in text
    assert "HELLO" in shown
    assert _all_log_text(caplog), "the failures should have been logged"
    assert PASSWORD not in _all_log_text(caplog)


def test_the_password_is_scrubbed_from_the_cli(echoing: RedisServer) -> None:
    env = {"REDIS_URL": f"{echoing.url}?protocol=3", "REDIS_PASSWORD": PASSWORD}
    for args in (
        ("health",),
        ("health", "--json"),
        ("-v", "get", "weather", "k"),
        ("set", "weather", "k", "1", "--json"),
        ("roles",),
    ):
        ran = run_cli(*args, env=env)
        assert ran.returncode == 1, str(ran)
        assert "HELLO" in ran.stderr + ran.stdout, str(ran)
        assert PASSWORD not in ran.stderr + ran.stdout, str(ran)


def test_the_cli_works_without_hello(configured: RedisServer) -> None:
    env = {"REDIS_URL": configured.url, "REDIS_PASSWORD": PASSWORD}
    assert run_cli("set", "weather", "k", "1", env=env).returncode == 0
    ran = run_cli("get", "weather", "k", env=env)
    assert (ran.returncode, ran.stdout.strip()) == (0, "1"), str(ran)
    assert run_cli("health", "--role", "weather", env=env).returncode == 0
