"""Issue 11, item 7: a role's key index (key_management.index). Listing and clearing cost
O(the role's keys) once the index is trusted (after reindex, or a clear); writes and deletes
keep it in the same round trip; a listing never reports a missing key; internal keys are never
listed; patterns mean what SCAN MATCH means."""

from __future__ import annotations

import time
from collections.abc import Callable
from unittest.mock import Mock

import pytest
import redis

from roleredis import (
    redis_clear_role_data,
    redis_delete,
    redis_flush,
    redis_get_keys,
    redis_write,
    redis_write_async,
    redis_write_many,
)
from roleredis.core.store import RoleStore

from .test_keys_scan import fill

pytestmark = pytest.mark.backends("redis", "memory")

IDX = b"__roleredis__:{w}:index"


@pytest.fixture(autouse=True)
def index_on(write_config: Callable[..., object]) -> None:
    write_config({"key_management": {"index": True}})


def members(raw: redis.Redis) -> dict[bytes, float]:
    return dict(raw.zrange(IDX, 0, -1, withscores=True))


def test_writes_and_deletes_keep_the_index(raw: redis.Redis) -> None:
    before = int(time.time() * 1000)  # scores are whole epoch milliseconds (index.now_ms)
    assert redis_write("a", 1, role="w")["success"] is True
    assert redis_write("t", 1, ttl=60, role="w")["success"] is True
    assert redis_write_many({"m1": 1, "m2": 2}, role="w")["success"] is True
    assert redis_write_async("q", 1, role="w")["success"] is True
    assert redis_flush(10)["success"] is True
    index = members(raw)
    assert set(index) == {b"a", b"t", b"m1", b"m2", b"q"}
    assert index[b"a"] == float("inf")
    assert before + 60_000 <= index[b"t"] <= time.time() * 1000 + 60_000
    assert redis_delete("a", role="w")["deleted"] is True
    assert b"a" not in members(raw)
    # the index is internal: never listed, not a key of the role
    assert redis_get_keys(role="w")["keys"] == ["m1", "m2", "q", "t"]


def test_the_index_is_used_only_once_trusted(raw: redis.Redis) -> None:
    fill(raw, "w:", 5)  # written by another client: unknown to the index
    redis_write("mine", 1, role="w")
    assert redis_get_keys(role="w")["count"] == 6  # untrusted: SCAN, finds them all
    assert RoleStore("w").reindex() == 6
    assert raw.zscore(IDX, b"") == float("inf")  # the trust mark
    raw.set("w:later", 1)  # another client again: only the next reindex picks it up
    assert "later" not in redis_get_keys(role="w")["keys"]
    assert RoleStore("w").reindex() == 7
    assert "later" in redis_get_keys(role="w")["keys"]


def test_a_clear_leaves_the_index_trusted(raw: redis.Redis) -> None:
    fill(raw, "w:", 50)
    assert redis_clear_role_data("w")["deleted_count"] == 50  # SCAN: untrusted until now
    assert raw.zscore(IDX, b"") == float("inf")
    redis_write_many({"a": 1, "b": 2}, role="w")
    assert redis_get_keys(role="w")["keys"] == ["a", "b"]
    assert redis_clear_role_data("w")["deleted_count"] == 2
    assert raw.dbsize() == 1  # the index alone, empty but for its trust mark
    assert members(raw) == {b"": float("inf")}


@pytest.mark.real_server
def test_listing_and_clearing_a_trusted_role_send_no_scan(
    raw: redis.Redis, commandstats: Callable[[], dict[str, int]]
) -> None:
    redis_clear_role_data("w")  # the role is empty: trusted from here
    fill(raw, "crowd:", 50_000)
    redis_write_many({f"k{n}": n for n in range(10)}, role="w")
    raw.config_resetstat()
    assert redis_get_keys(role="w")["keys"] == [f"k{n}" for n in range(10)]
    assert redis_get_keys("k[1-3]", role="w")["keys"] == ["k1", "k2", "k3"]
    assert redis_clear_role_data("w")["deleted_count"] == 10
    stats = commandstats()
    assert "scan" not in stats and "keys" not in stats, stats
    assert raw.dbsize() == 50_001


def test_a_listing_never_reports_a_key_that_no_longer_exists(raw: redis.Redis) -> None:
    redis_clear_role_data("w")
    redis_write_many({"a": 1, "b": 2, "c": 3}, role="w")
    redis_write("short", 1, ttl=1, role="w")
    raw.delete(b"w:b")  # another client's DEL: the index does not know
    time.sleep(1.1)
    assert redis_get_keys(role="w")["keys"] == ["a", "c"]
    assert set(members(raw)) == {b"", b"a", b"c"}  # the missing ones dropped
    # an expiry more than a minute past is pruned by score, whatever the pattern
    raw.zadd(IDX, {b"old": time.time() * 1000 - 61_000, b"recent": time.time() * 1000})
    assert redis_get_keys("x*", role="w")["keys"] == []
    assert set(members(raw)) == {b"", b"a", b"c", b"recent"}


@pytest.mark.parametrize("pattern", ["*", "s*", "s?", "[ab]*", "[^s]*", "\\**", "*:*", "x"])
def test_index_and_scan_listings_agree(raw: redis.Redis, pattern: str) -> None:
    keys = ["s1", "s2", "sx", "a", "b:1", "*star", "c", "s"]
    redis_write_many(dict.fromkeys(keys, 1), role="w")
    by_scan = redis_get_keys(pattern, role="w")
    RoleStore("w").reindex()
    by_index = redis_get_keys(pattern, role="w")
    assert by_index["keys"] == by_scan["keys"], pattern


def test_keys_of_other_roles_and_internal_keys_are_never_listed(
    raw: redis.Redis, write_config: Callable[..., object]
) -> None:
    redis_write("mine", 1, role="w")
    redis_write("theirs", 1, role="w2")
    RoleStore("w").reindex()
    RoleStore("w2").reindex()
    assert raw.exists(IDX, b"__roleredis__:{w2}:index") == 2
    for role in ("w", "w2"):
        assert len(redis_get_keys(role=role)["keys"]) == 1
    # SCAN (index off) cannot see them either: the role's pattern starts with "w:"
    write_config({"key_management": {"index": False}})
    assert redis_get_keys(role="w")["keys"] == ["mine"]


def test_a_stand_in_client_keeps_the_guides_calls() -> None:
    client = Mock()
    store = RoleStore("w", client=client)
    assert store.scope.index is False
    store.write("k", 1, ttl=5)
    assert client.setex.call_args.args == ("w:k", 5, "1")
    assert not client.zadd.called


def test_the_plugins_keys_leave_internal_keys_out(raw: redis.Redis) -> None:
    from roleredis.testing.plugin import RoleredisBackend

    redis_write("a", 1, role="w")
    assert raw.exists(IDX) == 1
    assert RoleredisBackend("", raw).keys() == ["w:a"]
