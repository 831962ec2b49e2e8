"""Issue 2, section 1: redis_write_many / redis_read_many, each one round trip (a pipeline)
whatever the count."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from roleredis import redis_exists, redis_read, redis_read_many, redis_write_many, reset

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")


def test_write_many_writes_every_key_under_the_prefix(raw: redis.Redis) -> None:
    mapping = {f"k{n}": {"n": n} for n in range(500)}
    result = redis_write_many(mapping, role="weather")
    assert result["success"] is True, result
    assert result["written"] == 500
    assert sorted(result["keys"]) == sorted(mapping)
    assert result["ttl"] == -1
    assert raw.dbsize() == 500
    assert raw.exists("weather:k499") == 1
    assert redis_read("k42", role="weather")["value"] == {"n": 42}


def test_read_many_reports_found_and_missing() -> None:
    redis_write_many({"a": 1, "b": None, "c": "3"}, role="w")
    result = redis_read_many(["a", "b", "x", "c", "y"], role="w")
    assert result["success"] is True
    assert result["values"] == {"a": 1, "b": None, "c": "3"}
    assert "b" in result["values"]  # a stored None is found, not missing
    assert result["missing"] == ["x", "y"]
    assert result["count"] == 3


def test_read_many_accepts_any_iterable_of_keys() -> None:
    redis_write_many({"a": 1, "b": 2}, role="w")
    assert redis_read_many(("a", "b"), role="w")["values"] == {"a": 1, "b": 2}
    assert redis_read_many((k for k in ["a"]), role="w")["values"] == {"a": 1}


def test_many_with_nothing_to_do() -> None:
    written = redis_write_many({}, role="w")
    assert written["success"] is True
    assert written["written"] == 0
    read = redis_read_many([], role="w")
    assert read["success"] is True
    assert read["values"] == {} and read["missing"] == [] and read["count"] == 0


def test_write_many_refuses_bad_keys_before_writing(raw: redis.Redis) -> None:
    result = redis_write_many({"ok": 1, "x" * 1025: 2}, role="w")
    assert result["success"] is False
    assert result["error_code"] == "invalid_argument"
    assert raw.dbsize() == 0
    result = redis_write_many({"ok": 1, 5: 2}, role="w")
    assert result["error_code"] == "invalid_argument"
    assert raw.dbsize() == 0


def test_many_do_not_cross_roles() -> None:
    redis_write_many({"a": "weather"}, role="weather")
    redis_write_many({"a": "timer"}, role="timer")
    assert redis_read_many(["a"], role="weather")["values"] == {"a": "weather"}
    assert redis_read_many(["a"], role="timer")["values"] == {"a": "timer"}
    assert redis_exists("a", role="other")["exists"] is False


@pytest.mark.parametrize("count", [1, 300])
def test_write_many_and_read_many_are_one_round_trip(
    count: int, delay_proxy: Callable[[float], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    delay = 0.05
    proxy = delay_proxy(delay)
    monkeypatch.setenv("REDIS_URL", proxy.url)
    reset()
    try:
        # warm up: the connection handshake is not part of the measured call
        assert redis_exists("warm", role="w")["success"] is True
        mapping = {f"k{n}": n for n in range(count)}

        started = time.monotonic()
        written = redis_write_many(mapping, ttl=60, role="w")
        write_time = time.monotonic() - started

        started = time.monotonic()
        read = redis_read_many(list(mapping), role="w")
        read_time = time.monotonic() - started
    finally:
        reset()
    assert written["success"] is True, written
    assert read["success"] is True, read
    assert read["values"] == mapping
    # One round trip costs one delay; allow a little more, but far less than one per key.
    assert write_time < 4 * delay, f"write_many of {count} keys took {write_time:.3f} s"
    assert read_time < 4 * delay, f"read_many of {count} keys took {read_time:.3f} s"


@pytest.mark.backends("redis")
def test_write_many_without_a_ttl_is_one_mset_and_with_one_a_set_each(raw: redis.Redis) -> None:
    # issue 26: the runner merges a run of plain SETs into one MSET (same effect, one
    # command); a TTL needs SET ... EX per key
    def calls(command: str) -> int:
        stats = raw.info("commandstats").get(f"cmdstat_{command}", {})
        return int(stats.get("calls", 0))

    mset, set_ = calls("mset"), calls("set")
    mapping = {f"k{n}": {"n": n} for n in range(100)}
    assert redis_write_many(mapping, role="weather")["success"] is True
    assert (calls("mset") - mset, calls("set") - set_) == (1, 0)
    assert redis_read_many(list(mapping), role="weather")["values"] == mapping
    assert redis_write_many(mapping, ttl=60, role="weather")["success"] is True
    assert (calls("mset") - mset, calls("set") - set_) == (1, 100)
    assert 0 < raw.ttl("weather:k99") <= 60
