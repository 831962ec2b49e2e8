"""Issue 2, section 3: keys are "<role>:<key>"; redis_get_keys uses SCAN (never KEYS) with a
glob-escaped prefix, returns each of the role's keys once and nothing of other roles;
redis_clear_role_data uses SCAN + UNLINK in batches; auto_prefix: false."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from roleredis import (
    acting_as,
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_get_keys,
    redis_read,
    redis_write,
    reset,
)
from roleredis.testing import RedisServer

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")


def fill(raw: redis.Redis, prefix: str, count: int, value: bytes = b"1") -> None:
    """Write ``count`` keys ``<prefix>k<n>`` straight into Redis, fast."""
    with raw.pipeline(transaction=False) as pipe:
        for start in range(0, count, 1000):
            pipe.mset({f"{prefix}k{n}": value for n in range(start, min(count, start + 1000))})
        pipe.execute()


# --------------------------------------------------------------------------- key rules


def test_keys_are_stored_as_role_colon_key(raw: redis.Redis) -> None:
    redis_write("user:42:profile", {"x": 1}, role="weather")
    assert raw.keys() == [b"weather:user:42:profile"]


@pytest.mark.parametrize(
    "key",
    [
        "k",
        "a:b:c",
        "with space",
        "glob*chars?[x]",
        "back\\slash",
        "ünïcødé ✓",
        "x" * 1024,
        "é" * 512,
    ],
)
def test_valid_keys_round_trip(key: str, raw: redis.Redis, physical: Callable[[str], str]) -> None:
    result = redis_write(key, "v", role="weather")
    assert result["success"] is True, result
    assert result["prefixed_key"] == physical(f"weather:{key}")
    assert raw.exists(f"weather:{key}".encode()) == 1
    assert redis_read(key, role="weather")["value"] == "v"
    assert redis_exists(key, role="weather")["exists"] is True
    assert redis_get_keys(role="weather")["keys"] == [key]
    assert redis_delete(key, role="weather")["deleted"] is True


@pytest.mark.parametrize(
    "key",
    ["", None, 42, 4.2, b"bytes", ["k"], "x" * 1025, "é" * 513, "\ud800"],
    ids=["empty", "None", "int", "float", "bytes", "list", "1025B", "1026B-utf8", "surrogate"],
)
def test_invalid_keys_are_refused(key: object, raw: redis.Redis) -> None:
    for result in (
        redis_write(key, "v", role="weather"),
        redis_read(key, role="weather"),
        redis_exists(key, role="weather"),
        redis_delete(key, role="weather"),
    ):
        assert result["success"] is False, result
        assert result["error_code"] == "invalid_argument"
    assert raw.dbsize() == 0


# --------------------------------------------------------------------------- get_keys


def test_get_keys_returns_only_this_roles_keys_sorted_without_prefix(raw: redis.Redis) -> None:
    for key in ("session:b", "session:a", "cache:x", "other"):
        redis_write(key, 1, role="weather")
    # roles whose names start like "weather", and a raw key that merely looks similar
    redis_write("session:c", 1, role="weather2")
    redis_write("session:d", 1, role="weather.x")
    redis_write("session:e", 1, role="weathe")
    raw.set("weathersession:f", 1)
    raw.set("session:g", 1)

    everything = redis_get_keys(role="weather")
    assert everything["keys"] == ["cache:x", "other", "session:a", "session:b"]
    assert everything["count"] == 4

    sessions = redis_get_keys("session:*", role="weather")
    assert sessions["keys"] == ["session:a", "session:b"]
    assert sessions["count"] == 2
    assert sessions["pattern"] == "session:*"

    assert redis_get_keys("nomatch*", role="weather")["keys"] == []
    assert redis_get_keys("nomatch*", role="weather")["count"] == 0


def test_get_keys_pattern_keeps_its_glob_meaning_after_the_prefix() -> None:
    for key in ("a1", "a2", "b1", "ab", "a*"):
        redis_write(key, 1, role="w")
    assert redis_get_keys("a?", role="w")["keys"] == ["a*", "a1", "a2", "ab"]
    assert redis_get_keys("[ab]1", role="w")["keys"] == ["a1", "b1"]
    assert redis_get_keys("a\\*", role="w")["keys"] == ["a*"]
    assert redis_get_keys("b1", role="w")["keys"] == ["b1"]


def test_pattern_cannot_escape_the_role_namespace() -> None:
    redis_write("secret", 1, role="timer")
    redis_write("mine", 1, role="w")
    for pattern in ("*", "*:*", "*secret", "../timer:*", "\\", "[", "*timer*"):
        result = redis_get_keys(pattern, role="w")
        if result["success"]:
            assert "secret" not in result["keys"], (pattern, result)
            assert all(not k.startswith("timer") for k in result["keys"]), (pattern, result)
        else:
            assert result["error_code"] == "invalid_argument", (pattern, result)


def test_get_keys_with_many_keys_returns_each_exactly_once(raw: redis.Redis) -> None:
    fill(raw, "w:", 3000)
    fill(raw, "other:", 3000)
    result = redis_get_keys(role="w")
    assert result["success"] is True
    assert result["count"] == 3000
    assert len(result["keys"]) == 3000
    assert len(set(result["keys"])) == 3000
    assert result["keys"] == sorted(f"k{n}" for n in range(3000))


def test_get_keys_finds_a_few_keys_among_many_others(raw: redis.Redis) -> None:
    fill(raw, "crowd:", 20000)
    for n in range(5):
        redis_write(f"mine{n}", n, role="lonely")
    result = redis_get_keys(role="lonely")
    assert result["keys"] == [f"mine{n}" for n in range(5)]


@pytest.mark.real_server
def test_get_keys_and_clear_never_send_keys(
    raw: redis.Redis, commandstats: Callable[[], dict[str, int]]
) -> None:
    fill(raw, "w:", 2500)
    fill(raw, "o:", 100)
    assert redis_get_keys(role="w")["count"] == 2500
    assert redis_get_keys("k1*", role="w")["count"] == 1111
    assert redis_clear_role_data("w")["deleted_count"] == 2500
    stats = commandstats()
    assert "keys" not in stats, stats
    assert stats.get("scan", 0) >= 3, stats  # get_keys twice + clear, each SCANs
    assert raw.dbsize() == 100


def test_get_keys_and_clear_work_on_a_server_without_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # KEYS renamed away: an implementation that used it would fail here.
    with RedisServer(extra_args=("--rename-command", "KEYS", "")) as server:
        monkeypatch.setenv("REDIS_URL", server.url)
        reset()
        try:
            redis_write("a", 1, role="w")
            redis_write("b", 2, role="w")
            assert redis_get_keys(role="w")["keys"] == ["a", "b"]
            assert redis_clear_role_data("w")["deleted_count"] == 2
            assert redis_get_keys(role="w")["keys"] == []
        finally:
            reset()


# --------------------------------------------------------------------------- clear


@pytest.mark.real_server
def test_clear_role_data_many_keys_leaves_other_roles_untouched(
    raw: redis.Redis, commandstats: Callable[[], dict[str, int]]
) -> None:
    fill(raw, "bulk:", 5000)
    redis_write("keep1", {"v": 1}, role="other")
    redis_write("keep2", [1, 2], role="other")
    redis_write("x", 1, role="bulk2")  # a role whose name extends "bulk"
    redis_write("x", 1, role="bulk.x")
    raw.set("bulkx", 1)  # not a roleredis key at all
    raw.set("bulk", 1)

    started = time.monotonic()
    result = redis_clear_role_data("bulk")
    elapsed = time.monotonic() - started

    assert result["success"] is True, result
    assert result["role"] == "bulk"
    assert result["deleted_count"] == 5000
    assert elapsed < 5, elapsed
    assert raw.dbsize() == 6
    assert redis_read("keep1", role="other")["value"] == {"v": 1}
    assert redis_read("keep2", role="other")["value"] == [1, 2]
    assert redis_exists("x", role="bulk2")["exists"] is True
    assert redis_exists("x", role="bulk.x")["exists"] is True
    assert raw.exists("bulkx", "bulk") == 2

    stats = commandstats()
    assert "keys" not in stats, stats
    assert "flushdb" not in stats and "flushall" not in stats, stats
    assert stats.get("unlink", 0) >= 2, f"expected UNLINK in batches, got {stats}"


def test_clear_role_data_uses_the_detected_role(raw: redis.Redis) -> None:
    redis_write("a", 1, role="weather")
    redis_write("a", 1, role="timer")
    with acting_as("weather"):
        result = redis_clear_role_data()
    assert result["role"] == "weather"
    assert result["deleted_count"] == 1
    assert raw.keys() == [b"timer:a"]


def test_clear_role_data_of_an_empty_role() -> None:
    result = redis_clear_role_data("nobody")
    assert result["success"] is True
    assert result["deleted_count"] == 0


# --------------------------------------------------------------------------- auto_prefix


def test_auto_prefix_false_stores_keys_as_given(
    write_config: Callable[..., object], raw: redis.Redis
) -> None:
    write_config({"key_management": {"auto_prefix": False}})
    result = redis_write("forecast", 1, role="weather")
    assert result["success"] is True, result
    assert result["prefixed_key"] == "forecast"
    assert raw.keys() == [b"forecast"]
    assert redis_read("forecast", role="timer")["value"] == 1
    assert redis_get_keys("fore*", role="weather")["keys"] == ["forecast"]


def test_auto_prefix_false_refuses_clear_role_data(
    write_config: Callable[..., object], raw: redis.Redis
) -> None:
    write_config({"key_management": {"auto_prefix": False}})
    redis_write("a", 1, role="weather")
    raw.set("someone_elses", 1)
    result = redis_clear_role_data("weather")
    assert result["success"] is False
    assert result["error_code"] == "config"
    assert raw.dbsize() == 2
