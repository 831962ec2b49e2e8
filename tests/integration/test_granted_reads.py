"""Issue 12, item 1, without ACL users: ``from_role=OWNER`` on redis_read, redis_read_many,
redis_exists and redis_get_keys (tools, aio, RoleStore, AsyncRoleStore) reads OWNER's keys as
the calling role; with no sharing section every such read is allowed, with one the library
refuses (``permission``) what no entry grants. Both backends, Sentinel and both cluster layouts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from roleredis import (
    RoleStore,
    aio,
    redis_exists,
    redis_get_keys,
    redis_read,
    redis_read_many,
    redis_write,
    redis_write_many,
)
from roleredis.core.crypto import generate_key
from roleredis.core.store import AsyncRoleStore

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

Physical = Callable[[str], str]


def _alpha_writes() -> None:
    written = redis_write_many(
        {"shared:a": {"n": 1}, "shared:b": "two", "private": 3}, role="alpha"
    )
    assert written["success"] is True, written


def test_from_role_reads_are_allowed_without_acl_users_or_a_sharing_section(
    physical: Physical,
) -> None:
    _alpha_writes()
    read = redis_read("shared:a", role="beta", from_role="alpha")
    assert read["success"] is True and read["value"] == {"n": 1}, read
    assert read["role"] == "beta" and read["from_role"] == "alpha"
    assert read["prefixed_key"] == physical("alpha:shared:a")
    exists = redis_exists("private", role="beta", from_role="alpha")
    assert exists["exists"] is True and exists["from_role"] == "alpha"
    assert exists["prefixed_key"] == physical("alpha:private")
    many = redis_read_many(["shared:a", "shared:b", "gone"], role="beta", from_role="alpha")
    assert many["values"] == {"shared:a": {"n": 1}, "shared:b": "two"}
    assert many["missing"] == ["gone"] and many["role"] == "beta"
    listed = redis_get_keys("shared:*", role="beta", from_role="alpha")
    assert listed["keys"] == ["shared:a", "shared:b"] and listed["from_role"] == "alpha"
    assert redis_get_keys(role="beta", from_role="alpha")["count"] == 3
    # without from_role, beta reads its own namespace, and the result has no from_role
    own = redis_read("shared:a", role="beta")
    assert own["error_code"] == "not_found" and "from_role" not in own
    missing = redis_read("gone", role="beta", from_role="alpha")
    assert missing["error_code"] == "not_found" and missing["value"] is None
    assert missing["role"] == "beta" and missing["from_role"] == "alpha"
    bad = redis_read("k", role="beta", from_role="al:pha")
    assert bad["error_code"] == "invalid_argument" and bad["from_role"] == "al:pha"
    assert "invalid role name" in bad["error"]


def test_from_role_in_the_stores_and_aio() -> None:
    _alpha_writes()
    store = RoleStore("beta")
    assert store.read("shared:b", from_role="alpha").value == "two"
    assert store.exists("private", from_role="alpha") is True
    assert store.keys("shared:*", from_role="alpha") == ["shared:a", "shared:b"]
    assert store.read_many(["private"], from_role="alpha").values == {"private": 3}

    async def main() -> list[Any]:
        astore = AsyncRoleStore("beta")
        return [
            (await astore.read("shared:b", from_role="alpha")).value,
            await astore.exists("nope", from_role="alpha"),
            await astore.keys("shared:*", from_role="alpha"),
            (await astore.read_many(["shared:a"], from_role="alpha")).values,
            await aio.redis_read("private", role="beta", from_role="alpha"),
            await aio.redis_get_keys("shared:*", role="beta", from_role="alpha"),
        ]

    got = asyncio.run(main())
    assert got[:4] == ["two", False, ["shared:a", "shared:b"], {"shared:a": {"n": 1}}]
    assert got[4]["value"] == 3 and got[4]["role"] == "beta" and got[4]["from_role"] == "alpha"
    assert got[5]["keys"] == ["shared:a", "shared:b"]


def test_the_sharing_section_is_enforced_in_the_library(
    write_config: Callable[[Any], Path],
) -> None:
    write_config(
        {
            "redis": {"enabled": True},
            "sharing": {"beta": {"read": ["alpha:shared:*"]}, "gamma": None},
        }
    )
    _alpha_writes()
    assert redis_read("shared:a", role="beta", from_role="alpha")["value"] == {"n": 1}
    assert redis_exists("shared:b", role="beta", from_role="alpha")["exists"] is True
    refused = {
        "read": redis_read("private", role="beta", from_role="alpha"),
        "exists": redis_exists("private", role="beta", from_role="alpha"),
        "read_many": redis_read_many(["shared:a", "private"], role="beta", from_role="alpha"),
        "other reader": redis_read("shared:a", role="gamma", from_role="alpha"),
        "other owner": redis_read("shared:a", role="beta", from_role="delta"),
        "list": redis_get_keys(role="gamma", from_role="alpha"),
    }
    for name, result in refused.items():
        assert result["error_code"] == "permission", (name, result)
        assert "sharing:" in result["error"] and result["from_role"], (name, result)
    assert "'private'" in refused["read"]["error"]
    assert "value" not in refused["read"]  # nothing of the value
    assert refused["list"]["keys"] == []
    # a listing shows only the keys a grant matches
    assert redis_get_keys(role="beta", from_role="alpha")["keys"] == ["shared:a", "shared:b"]
    # a role's own keys are never checked
    assert redis_read("private", role="alpha")["value"] == 3

    async def main() -> dict[str, Any]:
        return await aio.redis_read("private", role="beta", from_role="alpha")

    assert asyncio.run(main())["error_code"] == "permission"


def test_a_from_role_read_opens_a_sealed_value_with_the_process_key(
    monkeypatch: pytest.MonkeyPatch, raw: redis.Redis
) -> None:
    import roleredis

    monkeypatch.setenv("ROLEREDIS_ENCRYPTION_KEY", generate_key())
    roleredis.reset()
    assert redis_write("token", {"t": 1}, role="alpha", encrypt=True)["success"] is True
    assert b'"t"' not in (raw.get("alpha:token") or b"")  # sealed at rest
    assert redis_read("token", role="beta", from_role="alpha")["value"] == {"t": 1}
    monkeypatch.delenv("ROLEREDIS_ENCRYPTION_KEY")
    roleredis.reset()
    without_key = redis_read("token", role="beta", from_role="alpha")
    assert without_key["error_code"] == "serialization", without_key
