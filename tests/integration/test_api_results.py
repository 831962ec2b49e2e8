"""Issue 2, section 1: the guide's API, its result dicts, error codes, no raising, no values
in logs. Per-topic details live in the other test files; this one pins the shapes."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import redis
import roleredis.tools as tools

import roleredis
from roleredis import (
    acting_as,
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_read_many,
    redis_write,
    redis_write_many,
    reset,
)

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

ERROR_CODES = {
    "not_found",
    "invalid_argument",
    "serialization",
    "connection",
    "timeout",
    "permission",
    "config",
    "disabled",
    "overloaded",
    "internal",
}

PUBLIC = [
    "redis_write",
    "redis_read",
    "redis_get_keys",
    "redis_delete",
    "redis_exists",
    "redis_health_check",
    "redis_clear_role_data",
    "redis_write_many",
    "redis_read_many",
    "acting_as",
    "reset",
]


def assert_failure(result: dict, code: str) -> None:
    """The failure shape every function shares."""
    assert isinstance(result, dict), result
    assert result["success"] is False, result
    assert result["error_code"] == code, result
    assert result["error_code"] in ERROR_CODES
    assert isinstance(result["error"], str) and result["error"], result
    assert isinstance(result["message"], str) and result["message"], result


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_are_the_same_objects_in_roleredis_and_tools(name: str) -> None:
    assert getattr(roleredis, name) is getattr(tools, name)


def test_debug_helpers_exist_in_tools() -> None:
    assert callable(tools._get_redis_client)
    assert callable(tools._get_redis_config)
    assert reset is roleredis.reset


def test_write_result_fields(raw: redis.Redis, physical: Callable[[str], str]) -> None:
    result = redis_write("forecast", {"temp": 21}, role="weather")
    assert result["success"] is True
    assert result["key"] == "forecast"
    assert result["prefixed_key"] == physical("weather:forecast")
    assert result["ttl"] == -1
    assert result["role"] == "weather"
    assert isinstance(result["message"], str) and result["message"]
    assert not result.get("warning")
    assert raw.exists("weather:forecast") == 1


def test_read_result_fields(physical: Callable[[str], str]) -> None:
    redis_write("forecast", {"temp": 21}, ttl=100, role="weather")
    result = redis_read("forecast", role="weather")
    assert result["success"] is True
    assert result["key"] == "forecast"
    assert result["prefixed_key"] == physical("weather:forecast")
    assert result["value"] == {"temp": 21}
    assert 0 < result["ttl"] <= 100
    assert isinstance(result["message"], str) and result["message"]


def test_read_missing_key_is_not_found() -> None:
    result = redis_read("nothing-here", role="weather")
    assert_failure(result, "not_found")
    assert "value" not in result or result["value"] is None


def test_delete_result_fields(raw: redis.Redis) -> None:
    redis_write("k", 1, role="weather")
    result = redis_delete("k", role="weather")
    assert result["success"] is True
    assert result["deleted"] is True
    assert isinstance(result["message"], str)
    assert raw.exists("weather:k") == 0

    again = redis_delete("k", role="weather")
    assert again["success"] is True
    assert again["deleted"] is False


def test_exists_result_fields() -> None:
    redis_write("k", "v", role="weather")
    yes = redis_exists("k", role="weather")
    assert yes["success"] is True and yes["exists"] is True
    no = redis_exists("other", role="weather")
    assert no["success"] is True and no["exists"] is False
    other_role = redis_exists("k", role="timer")
    assert other_role["success"] is True and other_role["exists"] is False


def test_get_keys_result_fields() -> None:
    for key in ("b", "a", "c"):
        redis_write(key, 1, role="weather")
    result = redis_get_keys(role="weather")
    assert result["success"] is True
    assert result["pattern"] == "*"
    assert result["role"] == "weather"
    assert result["keys"] == ["a", "b", "c"]
    assert result["count"] == 3
    assert isinstance(result["message"], str)


def test_clear_role_data_result_fields(raw: redis.Redis) -> None:
    redis_write("a", 1, role="weather")
    redis_write("b", 2, role="weather")
    redis_write("a", 1, role="timer")
    result = redis_clear_role_data("weather")
    assert result["success"] is True
    assert result["role"] == "weather"
    assert result["deleted_count"] == 2
    assert isinstance(result["message"], str)
    assert raw.exists("timer:a") == 1


def test_health_check_result_fields() -> None:
    result = redis_health_check(role="weather")
    assert result["success"] is True
    assert result["connected"] is True
    assert isinstance(result["redis_version"], str) and result["redis_version"]
    assert isinstance(result["latency_ms"], int | float) and result["latency_ms"] >= 0
    assert result["role"] == "weather"
    assert isinstance(result["mode"], str) and result["mode"]
    assert isinstance(result["pool"], dict)
    assert isinstance(result["message"], str)


def test_write_many_and_read_many_result_fields() -> None:
    written = redis_write_many({"a": 1, "b": "two"}, ttl=50, role="weather")
    assert written["success"] is True
    assert written["written"] == 2
    assert sorted(written["keys"]) == ["a", "b"]
    assert written["ttl"] == 50
    assert isinstance(written["message"], str)

    read = redis_read_many(["a", "b", "zzz"], role="weather")
    assert read["success"] is True
    assert read["values"] == {"a": 1, "b": "two"}
    assert read["missing"] == ["zzz"]
    assert read["count"] == 2
    assert isinstance(read["message"], str)


def test_role_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        redis_read("k", "weather")
    with pytest.raises(TypeError):
        redis_write("k", 1, 60, "weather")


# --------------------------------------------------------------------------- never raises

BAD_CALLS = [
    ("write None key", lambda: redis_write(None, 1, role="w"), "invalid_argument"),
    ("write int key", lambda: redis_write(5, 1, role="w"), "invalid_argument"),
    ("write bytes key", lambda: redis_write(b"k", 1, role="w"), "invalid_argument"),
    ("write empty key", lambda: redis_write("", 1, role="w"), "invalid_argument"),
    ("write object value", lambda: redis_write("k", object(), role="w"), "serialization"),
    ("write str ttl", lambda: redis_write("k", 1, ttl="60", role="w"), "invalid_argument"),
    ("write int role", lambda: redis_write("k", 1, role=5), "invalid_argument"),
    ("write colon role", lambda: redis_write("k", 1, role="a:b"), "invalid_argument"),
    ("read None key", lambda: redis_read(None, role="w"), "invalid_argument"),
    ("read bad role", lambda: redis_read("k", role="a*"), "invalid_argument"),
    ("delete list key", lambda: redis_delete(["k"], role="w"), "invalid_argument"),
    ("exists empty key", lambda: redis_exists("", role="w"), "invalid_argument"),
    ("get_keys int pattern", lambda: redis_get_keys(5, role="w"), "invalid_argument"),
    ("get_keys bad role", lambda: redis_get_keys("*", role=""), "invalid_argument"),
    ("clear bad role", lambda: redis_clear_role_data("a:b"), "invalid_argument"),
    ("health bad role", lambda: redis_health_check(role="x y"), "invalid_argument"),
    ("write_many list", lambda: redis_write_many([("a", 1)], role="w"), "invalid_argument"),
    ("write_many bad key", lambda: redis_write_many({"": 1}, role="w"), "invalid_argument"),
    ("write_many bad value", lambda: redis_write_many({"a": {1, 2}}, role="w"), "serialization"),
    ("read_many None", lambda: redis_read_many(None, role="w"), "invalid_argument"),
    ("read_many bad key", lambda: redis_read_many(["a", 3], role="w"), "invalid_argument"),
]


@pytest.mark.parametrize(("label", "call", "code"), BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_bad_arguments_return_a_failure_and_never_raise(
    label: str, call: object, code: str, raw: redis.Redis
) -> None:
    result = call()
    assert_failure(result, code)
    assert raw.dbsize() == 0, f"{label}: something was written"


def test_read_many_refuses_a_bare_string() -> None:
    # A str is iterable; reading "abc" as the keys "a", "b", "c" would be a silent bug.
    redis_write("a", 1, role="w")
    result = redis_read_many("abc", role="w")
    assert_failure(result, "invalid_argument")


def test_wrong_redis_type_is_a_failure_not_an_exception(raw: redis.Redis) -> None:
    raw.rpush("weather:list", "x")
    result = redis_read("list", role="weather")
    assert result["success"] is False
    assert result["error_code"] in ERROR_CODES
    assert result["error_code"] != "not_found"


# --------------------------------------------------------------------------- logging


SECRET = "s3cr3t-V4LUE-never-logged"


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


def test_values_are_never_logged(caplog: pytest.LogCaptureFixture, raw: redis.Redis) -> None:
    caplog.set_level(logging.DEBUG)
    with acting_as("weather"):
        redis_write("secret", {"token": SECRET}, ttl=30)
        redis_read("secret")
        redis_write_many({"s1": SECRET, "s2": [SECRET]})
        redis_read_many(["s1", "s2", "missing"])
        redis_write("bad", {"token": SECRET, "oops": {1, 2}})  # refused: serialization
        redis_write("bad2", [SECRET, float("nan")])  # refused: serialization
        redis_exists("secret")
        redis_get_keys()
        redis_delete("secret")
        redis_health_check()
    raw.set("weather:rawsecret", SECRET)
    redis_read("rawsecret", role="weather")
    assert caplog.records, "roleredis should log something at DEBUG (keys, sizes, timings)"
    assert SECRET not in _all_log_text(caplog)


def test_logs_go_through_the_roleredis_logger_hierarchy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    redis_write("k", 1, role="weather")
    redis_read("missing", role="weather")
    redis_write("k", (1, 2), role="weather")
    ours = [r for r in caplog.records if r.name == "roleredis" or r.name.startswith("roleredis.")]
    assert ours, "expected log records from the roleredis logger hierarchy"
