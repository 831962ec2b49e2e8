"""roleredis.foundation.errors: one exception tree, one error_code each, one translation place."""

from __future__ import annotations

import builtins

import pytest
import redis.exceptions as rex

from roleredis.foundation import errors
from roleredis.foundation.errors import (
    ERROR_CODES,
    ConfigError,
    ConnectionFailedError,
    DisabledError,
    HeldError,
    InternalError,
    InvalidArgumentError,
    LostError,
    NotFoundError,
    OutcomeUnknownError,
    OverloadedError,
    PermissionDeniedError,
    ResponderError,
    RoleRedisError,
    SerializationError,
    TimeoutError,
    map_redis_errors,
    translate,
)

ISSUE_CODES = {
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
    # issue 12: a mail send whose reply was lost is reported, not blindly sent again
    "unknown_outcome",
    # issue 21: a request whose responder answered with an error
    "responder_error",
    # issue 22: a lease another holds, a lease no longer the caller's
    "held",
    "lost",
}

CLASSES = [
    NotFoundError,
    InvalidArgumentError,
    SerializationError,
    ConnectionFailedError,
    TimeoutError,
    PermissionDeniedError,
    ConfigError,
    DisabledError,
    OverloadedError,
    OutcomeUnknownError,
    ResponderError,
    HeldError,
    LostError,
    InternalError,
]


def test_error_codes_are_the_issue_set() -> None:
    assert set(ERROR_CODES) == ISSUE_CODES
    assert len(ERROR_CODES) == len(ISSUE_CODES)


def test_every_class_has_a_distinct_code() -> None:
    codes = [cls.error_code for cls in CLASSES]
    assert len(set(codes)) == len(CLASSES)
    assert set(codes) == ISSUE_CODES


def test_every_class_derives_from_root() -> None:
    for cls in CLASSES:
        assert issubclass(cls, RoleRedisError)
        assert cls("x").error_code == cls.error_code
    assert RoleRedisError.error_code in ISSUE_CODES


def test_value_errors_stay_value_errors() -> None:
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(SerializationError, ValueError)


def test_timeout_error_does_not_shadow_builtin() -> None:
    assert TimeoutError is not builtins.TimeoutError
    assert errors.TimeoutError.error_code == "timeout"


def test_every_exported_error_class_is_covered() -> None:
    exported = {
        getattr(errors, name)
        for name in errors.__all__
        if isinstance(getattr(errors, name), type)
        and issubclass(getattr(errors, name), RoleRedisError)
    }
    assert exported == {RoleRedisError, *CLASSES}


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (
            rex.ConnectionError("Error 111 connecting to localhost:6379. Connection refused."),
            "connection",
        ),
        (rex.BusyLoadingError("Redis is loading the dataset in memory"), "connection"),
        (builtins.ConnectionRefusedError(111, "refused"), "connection"),
        (builtins.ConnectionResetError(104, "reset"), "connection"),
        (rex.TimeoutError("Timeout reading from socket"), "timeout"),
        (rex.TimeoutError("Timeout connecting to server"), "connection"),
        (rex.ConnectionError("No connection available."), "overloaded"),
        (rex.AuthenticationError("invalid username-password pair"), "permission"),
        (
            rex.NoPermissionError("this user has no permissions to run the 'set' command"),
            "permission",
        ),
        (
            rex.ResponseError("NOPERM this user has no permissions to access one of the keys"),
            "permission",
        ),
        (rex.ResponseError("NOAUTH Authentication required."), "permission"),
        (rex.ResponseError("WRONGPASS invalid username-password pair"), "permission"),
        (
            rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
            "serialization",
        ),
        (
            rex.ResponseError("OOM command not allowed when used memory > 'maxmemory'."),
            "overloaded",
        ),
        (rex.ResponseError("BUSY Redis is busy running a script."), "overloaded"),
        (rex.ResponseError("LOADING Redis is loading the dataset in memory"), "overloaded"),
        (rex.ResponseError("ERR unknown command 'FOO'"), "internal"),
        (rex.ResponseError(""), "internal"),
        (rex.RedisError("something"), "internal"),
        (RuntimeError("boom"), "internal"),
        (KeyError("k"), "internal"),
        (ValueError("v"), "internal"),
    ],
)
def test_translate(exc: BaseException, code: str) -> None:
    out = translate(exc)
    assert isinstance(out, RoleRedisError)
    assert out.error_code == code
    assert out.__cause__ is exc
    assert str(out)


def test_translate_keeps_text_of_the_original() -> None:
    out = translate(rex.ResponseError("WRONGTYPE Operation against a key"))
    assert "WRONGTYPE" in str(out)
    out = translate(RuntimeError("boom"))
    assert "RuntimeError" in str(out) and "boom" in str(out)
    out = translate(RuntimeError())
    assert "RuntimeError" in str(out)


def test_translate_passes_roleredis_errors_through() -> None:
    original = NotFoundError("key 'x' not found")
    assert translate(original) is original


def test_socket_timeout_from_redis_py_is_timeout() -> None:
    # redis-py wraps socket.timeout in its TimeoutError; that is what translate sees
    wrapped = rex.TimeoutError("Timeout reading from socket")
    wrapped.__cause__ = builtins.TimeoutError("timed out")
    assert translate(wrapped).error_code == "timeout"


def test_map_redis_errors_context_manager() -> None:
    with pytest.raises(ConnectionFailedError) as info, map_redis_errors():
        raise rex.ConnectionError("refused")
    assert isinstance(info.value.__cause__, rex.ConnectionError)
    original = DisabledError("off")
    with pytest.raises(DisabledError) as info2, map_redis_errors():
        raise original
    assert info2.value is original
    with map_redis_errors():
        pass


def test_map_redis_errors_leaves_base_exceptions_alone() -> None:
    with pytest.raises(KeyboardInterrupt), map_redis_errors():
        raise KeyboardInterrupt
