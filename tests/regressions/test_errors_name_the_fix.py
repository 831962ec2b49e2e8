"""Issue 18, item 7: errors that did not say the fix.

- a ``from_role`` read the server's ACL refuses showed the raw NOPERM text: it names the grant
  that is missing and the ``roleredis acl grant READER --read OWNER:PATTERN`` line;
- ``REDIS_URL=redis:/localhost`` gave "invalid literal for int()": it names the setting, the
  value and the shape a URL must have;
- ``REDIS_PASSWORD`` set for a server without a password gave Redis's raw text: it says so;
- a str value over serialization.max_value_bytes (compression off) was encoded whole before
  it was refused: it is refused before encoding, with the same error as after.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

import roleredis
from roleredis import aio
from roleredis.admin import acl
from roleredis.core import codec
from roleredis.testing import RedisServer

from .conftest import ADMIN_PASSWORD, acl_server

__all__ = ["acl_server"]

pytestmark = pytest.mark.integration


def _login_as(monkeypatch: pytest.MonkeyPatch, creds: acl.Credentials) -> None:
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password or "")
    roleredis.reset()


def test_a_from_role_read_the_acl_refuses_names_the_grant(
    acl_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    acl.provision("alpha")
    beta = acl.provision("beta")
    assert roleredis.redis_write("report", 1, role="alpha")["success"] is True
    assert roleredis.redis_write("notes:1", 1, role="alpha")["success"] is True
    _login_as(monkeypatch, beta)

    async def via_aio() -> dict[str, Any]:
        return await aio.redis_read("report", role="beta", from_role="alpha")

    one = "roleredis acl grant beta --read alpha:report"
    results = {
        "read": (roleredis.redis_read("report", role="beta", from_role="alpha"), one),
        "exists": (roleredis.redis_exists("report", role="beta", from_role="alpha"), one),
        "aio read": (asyncio.run(via_aio()), one),
        "read_many": (
            roleredis.redis_read_many(["notes:1", "notes:2"], role="beta", from_role="alpha"),
            "roleredis acl grant beta --read 'alpha:notes:*'",
        ),
    }
    for name, (result, line) in results.items():
        assert result["error_code"] == "permission", (name, result)
        assert "no grant to read" in result["error"] and line in result["error"], (name, result)
        assert shlex.split(line)[:3] == ["roleredis", "acl", "grant"]
    # the line works: run as the admin, the same read succeeds
    monkeypatch.setenv("REDIS_USERNAME", "")
    monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
    roleredis.reset()
    acl.grant("beta", "alpha", "report")
    _login_as(monkeypatch, beta)
    assert roleredis.redis_read("report", role="beta", from_role="alpha")["value"] == 1


@pytest.mark.parametrize("url", ["redis:/localhost", "redis:localhost:6379", "redis://h:6379/x"])
def test_a_malformed_url_names_the_setting_and_the_shape(
    roleredis_env: Any, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    roleredis.reset()
    result = roleredis.redis_read("k", role="r")
    assert result["error_code"] == "config", result
    error = result["error"]
    assert "invalid literal" not in error, error
    assert "REDIS_URL" in error and repr(url) in error, error
    assert "redis://[[username]:password@]host[:port][/db]" in error, error


@pytest.fixture
def open_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    with RedisServer() as server:  # no password
        monkeypatch.setenv("REDIS_URL", server.url)
        roleredis.reset()
        yield server
        roleredis.reset()


def test_a_password_for_a_server_without_one_says_so(
    open_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", "not-needed-pw")
    roleredis.reset()
    for result in (
        roleredis.redis_write("k", 1, role="r"),
        roleredis.redis_health_check(role="r"),
    ):
        assert result["error_code"] == "permission", result
        assert "the server" in result["error"] and "has none" in result["error"], result
        assert "unset REDIS_PASSWORD" in result["error"], result
        assert "not-needed-pw" not in result["error"]


LIMIT = 4096


@pytest.mark.backends("redis")
@pytest.mark.parametrize("value", ["x" * (LIMIT - 1), b"y" * (LIMIT + 1)])
def test_a_value_over_the_limit_is_refused_before_encoding(
    write_config: Any,
    monkeypatch: pytest.MonkeyPatch,
    value: str | bytes,
) -> None:
    write_config({"serialization": {"max_value_bytes": LIMIT}})
    encoded: list[int] = []
    real = codec.encode

    def counting(v: Any) -> bytes:
        encoded.append(len(v) if isinstance(v, str | bytes) else 0)
        return real(v)

    monkeypatch.setattr(codec, "encode", counting)
    result = roleredis.redis_write("big", value, role="r")
    assert result["error_code"] == "invalid_argument", result
    assert "bytes stored, over serialization.max_value_bytes (4096)" in result["error"], result
    assert "at least" in result["error"], result
    assert encoded == [], "the value was encoded before it was refused"
    # just under the limit is written (and so encoded) as before
    assert roleredis.redis_write("small", "x" * (LIMIT - 10), role="r")["success"] is True
    assert encoded, "the write under the limit was not encoded"
