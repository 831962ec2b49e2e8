"""Issue 2, section 5: TTL. None -> default_ttl (absent: no expiry); positive int as given;
above max_ttl lowered with a warning; -1 = no expiry (lowered to max_ttl where set); 0, other
negatives, bools, non-ints refused; redis_read reports remaining seconds or -1."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from roleredis import redis_read, redis_write, redis_write_many

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

WriteConfig = Callable[..., object]


def test_no_ttl_and_no_default_means_no_expiry(raw: redis.Redis) -> None:
    result = redis_write("k", 1, role="w")
    assert result["ttl"] == -1
    assert raw.ttl("w:k") == -1
    assert redis_read("k", role="w")["ttl"] == -1


def test_explicit_ttl_is_applied(raw: redis.Redis) -> None:
    result = redis_write("k", 1, ttl=60, role="w")
    assert result["success"] is True
    assert result["ttl"] == 60
    assert not result.get("warning")
    assert 58 <= raw.ttl("w:k") <= 60
    assert 58 <= redis_read("k", role="w")["ttl"] <= 60


def test_key_really_expires() -> None:
    redis_write("short", "x", ttl=1, role="w")
    assert redis_read("short", role="w")["success"] is True
    time.sleep(1.2)
    assert redis_read("short", role="w")["error_code"] == "not_found"


def test_ttl_minus_one_means_no_expiry(raw: redis.Redis) -> None:
    result = redis_write("k", 1, ttl=-1, role="w")
    assert result["success"] is True
    assert result["ttl"] == -1
    assert raw.ttl("w:k") == -1


def test_overwrite_without_ttl_clears_the_old_expiry(raw: redis.Redis) -> None:
    redis_write("k", 1, ttl=60, role="w")
    redis_write("k", 2, role="w")
    assert raw.ttl("w:k") == -1
    assert redis_read("k", role="w")["ttl"] == -1


def test_default_ttl_from_config(write_config: WriteConfig, raw: redis.Redis) -> None:
    write_config({"key_management": {"default_ttl": 120}})
    result = redis_write("k", 1, role="w")
    assert result["ttl"] == 120
    assert 118 <= raw.ttl("w:k") <= 120
    # an explicit ttl wins over the default
    assert redis_write("k2", 1, ttl=30, role="w")["ttl"] == 30
    assert 28 <= raw.ttl("w:k2") <= 30
    # -1 still asks for no expiry when no max_ttl is set
    assert redis_write("k3", 1, ttl=-1, role="w")["ttl"] == -1
    assert raw.ttl("w:k3") == -1


def test_max_ttl_lowers_with_a_warning(write_config: WriteConfig, raw: redis.Redis) -> None:
    write_config({"key_management": {"max_ttl": 100}})
    result = redis_write("k", 1, ttl=5000, role="w")
    assert result["success"] is True
    assert result["ttl"] == 100
    assert isinstance(result["warning"], str) and result["warning"]
    assert "100" in result["warning"]
    assert 98 <= raw.ttl("w:k") <= 100

    exact = redis_write("k2", 1, ttl=100, role="w")
    assert exact["ttl"] == 100
    assert not exact.get("warning")

    below = redis_write("k3", 1, ttl=10, role="w")
    assert below["ttl"] == 10
    assert not below.get("warning")


def test_no_expiry_is_lowered_to_max_ttl(write_config: WriteConfig, raw: redis.Redis) -> None:
    write_config({"key_management": {"max_ttl": 100}})
    minus_one = redis_write("k", 1, ttl=-1, role="w")
    assert minus_one["ttl"] == 100
    assert minus_one.get("warning")
    assert 98 <= raw.ttl("w:k") <= 100

    # ttl=None with no default_ttl means "no expiry" too: max_ttl still bounds it
    none = redis_write("k2", 1, role="w")
    assert none["ttl"] == 100
    assert 98 <= raw.ttl("w:k2") <= 100


def test_default_and_max_ttl_together(write_config: WriteConfig, raw: redis.Redis) -> None:
    write_config({"key_management": {"default_ttl": 3600, "max_ttl": 86400}})
    assert redis_write("a", 1, role="w")["ttl"] == 3600
    big = redis_write("b", 1, ttl=10**6, role="w")
    assert big["ttl"] == 86400 and big.get("warning")
    assert 86398 <= raw.ttl("w:b") <= 86400


@pytest.mark.parametrize("ttl", [0, -2, -100, True, False, 1.5, 60.0, "60", [60], float("inf")])
def test_bad_ttls_are_refused(ttl: Any, raw: redis.Redis) -> None:
    raw.set("w:k", b'"previous"')
    result = redis_write("k", "new", ttl=ttl, role="w")
    assert result["success"] is False, result
    assert result["error_code"] == "invalid_argument", result
    assert raw.get("w:k") == b'"previous"'
    assert raw.ttl("w:k") == -1


def test_read_reports_remaining_seconds(raw: redis.Redis) -> None:
    raw.set("w:k", b"1", ex=500)
    assert 498 <= redis_read("k", role="w")["ttl"] <= 500
    raw.set("w:forever", b"1")
    assert redis_read("forever", role="w")["ttl"] == -1


def test_write_many_applies_one_ttl_to_all(raw: redis.Redis) -> None:
    result = redis_write_many({"a": 1, "b": 2, "c": 3}, ttl=40, role="w")
    assert result["success"] is True
    assert result["ttl"] == 40
    for key in ("w:a", "w:b", "w:c"):
        assert 38 <= raw.ttl(key) <= 40

    forever = redis_write_many({"d": 1}, role="w")
    assert forever["ttl"] == -1
    assert raw.ttl("w:d") == -1


def test_write_many_respects_default_and_max_ttl(
    write_config: WriteConfig, raw: redis.Redis
) -> None:
    write_config({"key_management": {"default_ttl": 50, "max_ttl": 100}})
    assert redis_write_many({"a": 1}, role="w")["ttl"] == 50
    assert 48 <= raw.ttl("w:a") <= 50
    lowered = redis_write_many({"b": 1}, ttl=1000, role="w")
    assert lowered["ttl"] == 100
    assert lowered.get("warning")
    assert 98 <= raw.ttl("w:b") <= 100


@pytest.mark.parametrize("ttl", [0, -5, True, 2.5, "10"])
def test_write_many_refuses_bad_ttls(ttl: Any, raw: redis.Redis) -> None:
    result = redis_write_many({"a": 1}, ttl=ttl, role="w")
    assert result["success"] is False
    assert result["error_code"] == "invalid_argument"
    assert raw.dbsize() == 0
