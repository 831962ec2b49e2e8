"""roleredis.core.results: the guide's result dicts, built in one place (issue 2, section 1)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.exceptions as rex

from roleredis.core import ops, results
from roleredis.foundation import errors
from roleredis.foundation.errors import ERROR_CODES, NotFoundError, RoleRedisError

FAILURE_FIELDS = {"success", "error", "message", "error_code"}
ALL_ERRORS = [
    cls("something went wrong")
    for cls in (
        errors.NotFoundError,
        errors.InvalidArgumentError,
        errors.SerializationError,
        errors.ConnectionFailedError,
        errors.TimeoutError,
        errors.PermissionDeniedError,
        errors.ConfigError,
        errors.DisabledError,
        errors.OverloadedError,
        errors.InternalError,
    )
]


@pytest.mark.parametrize("exc", ALL_ERRORS, ids=lambda e: e.error_code)
def test_every_failure_has_the_four_fields(exc: RoleRedisError) -> None:
    result = results.failure(exc)
    assert set(result) >= FAILURE_FIELDS
    assert result["success"] is False
    assert result["error_code"] == exc.error_code
    assert result["error_code"] in ERROR_CODES
    assert result["error"] == "something went wrong"
    assert result["message"] == result["error"]
    assert isinstance(result["error"], str) and result["error"]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (rex.ConnectionError("refused"), "connection"),
        (rex.TimeoutError("slow"), "timeout"),
        (rex.AuthenticationError("bad"), "permission"),
        (rex.ResponseError("WRONGTYPE x"), "serialization"),
        (RuntimeError("boom"), "internal"),
        (ValueError(), "internal"),
    ],
)
def test_failure_translates_foreign_exceptions(exc: BaseException, code: str) -> None:
    result = results.failure(exc)
    assert result["success"] is False
    assert result["error_code"] == code
    assert result["error"]


def test_failure_keeps_context_but_not_over_the_error_fields() -> None:
    result = results.failure(
        NotFoundError("key 'x' not found"),
        key="x",
        prefixed_key="weather:x",
        error="context must not win",
        message="nor here",
        error_code="nor here",
    )
    assert result["key"] == "x"
    assert result["prefixed_key"] == "weather:x"
    assert result["error"] == "key 'x' not found"
    assert result["message"] == "key 'x' not found"
    assert result["error_code"] == "not_found"
    assert result["success"] is False


def _written(**kw: Any) -> ops.Written:
    base: dict[str, Any] = dict(key="forecast", full_key="weather:forecast", ttl=60, size=10)
    base.update(kw)
    return ops.Written(**base)


def test_written_shape() -> None:
    result = results.written(_written(), "weather")
    assert result["success"] is True
    assert {"success", "key", "prefixed_key", "ttl", "message"} <= set(result)
    assert result["key"] == "forecast"
    assert result["prefixed_key"] == "weather:forecast"
    assert result["ttl"] == 60
    assert result["role"] == "weather"
    assert "weather:forecast" in result["message"]
    assert "warning" not in result


def test_written_with_warning_and_no_expiry() -> None:
    result = results.written(_written(ttl=-1, warning="lowered"), "weather")
    assert result["ttl"] == -1
    assert result["warning"] == "lowered"


def test_entry_shape() -> None:
    e = ops.Entry(key="k", full_key="weather:k", value={"a": 1}, ttl=-1)
    result = results.entry(e)
    assert result["success"] is True
    assert {"success", "key", "prefixed_key", "value", "ttl", "message"} <= set(result)
    assert result["value"] == {"a": 1}
    assert result["ttl"] == -1


def test_entry_message_does_not_contain_the_value() -> None:
    # values may be secrets: messages name keys, never values
    e = ops.Entry(key="k", full_key="weather:k", value="hunter2-secret", ttl=5)
    assert "hunter2" not in results.entry(e)["message"]
    w = results.written(_written(), "weather")
    assert "hunter2" not in w["message"]


def test_key_list_shape() -> None:
    result = results.key_list(["a", "b"], "*", "weather")
    assert result["success"] is True
    assert {"success", "pattern", "role", "keys", "count", "message"} <= set(result)
    assert result["keys"] == ["a", "b"]
    assert result["count"] == 2
    assert result["pattern"] == "*"
    assert result["role"] == "weather"


@pytest.mark.parametrize("was_there", [True, False])
def test_deleted_shape(was_there: bool) -> None:
    result = results.deleted("k", "weather:k", was_there)
    assert result["success"] is True
    assert result["deleted"] is was_there
    assert result["key"] == "k" and result["prefixed_key"] == "weather:k"
    assert result["message"]


@pytest.mark.parametrize("present", [True, False])
def test_existence_shape(present: bool) -> None:
    result = results.existence("k", "weather:k", present)
    assert result["success"] is True
    assert result["exists"] is present
    assert result["message"]


def test_cleared_shape() -> None:
    result = results.cleared("weather", 42)
    assert result["success"] is True
    assert result["deleted_count"] == 42
    assert result["role"] == "weather"
    assert result["message"]


def test_written_many_shape() -> None:
    result = results.written_many(ops.WrittenMany(keys=["a", "b"], ttl=-1), "weather")
    assert result["success"] is True
    assert {"success", "written", "keys", "ttl", "message"} <= set(result)
    assert result["written"] == 2
    assert result["keys"] == ["a", "b"]
    assert result["ttl"] == -1


def test_read_many_shape() -> None:
    result = results.read_many(ops.ReadMany(values={"a": 1}, missing=["b"]), "weather")
    assert result["success"] is True
    assert {"success", "values", "missing", "count", "message"} <= set(result)
    assert result["values"] == {"a": 1}
    assert result["missing"] == ["b"]
    assert result["count"] == 1


def test_health_shape() -> None:
    h = ops.Health(
        latency_ms=0.5,
        redis_version="7.2.4",
        mode="standalone",
        used_memory_human="1M",
        probe_key="weather:__roleredis_health__:x",
    )
    pool = {"max": 10, "created": 1, "in_use": 0, "idle": 1}
    result = results.health(h, "weather", pool)
    assert result["success"] is True
    assert result["connected"] is True
    assert result["redis_version"] == "7.2.4"
    assert result["latency_ms"] == 0.5
    assert result["role"] == "weather"
    assert result["mode"] == "standalone"
    assert result["pool"] == pool
    assert result["message"]
