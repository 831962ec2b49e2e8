"""One exception tree for roleredis, and the one place where redis-py's errors are translated.

Every child of :class:`RoleRedisError` owns exactly one ``error_code``; the seed-style result
dicts carry that code, so callers can branch on it without parsing text.

>>> try:
...     raise NotFoundError("key 'forecast' not found")
... except RoleRedisError as exc:
...     exc.error_code
'not_found'
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import ClassVar

import redis.exceptions as rex

__all__ = [
    "ERROR_CODES",
    "ConfigError",
    "ConnectionFailedError",
    "DisabledError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RoleRedisError",
    "SerializationError",
    "TimeoutError",
    "map_redis_errors",
    "translate",
]


class RoleRedisError(Exception):
    """Root of every error roleredis raises. ``error_code`` names the kind of failure."""

    error_code: ClassVar[str] = "internal"


class NotFoundError(RoleRedisError):
    """The key does not exist (or has expired)."""

    error_code = "not_found"


class InvalidArgumentError(RoleRedisError, ValueError):
    """A role name, key, pattern or TTL that roleredis refuses."""

    error_code = "invalid_argument"


class SerializationError(RoleRedisError, ValueError):
    """A value that cannot be stored exactly, or stored data that cannot be decoded."""

    error_code = "serialization"


class ConnectionFailedError(RoleRedisError):
    """The Redis server could not be reached."""

    error_code = "connection"


class TimeoutError(RoleRedisError):
    """The server did not answer within socket_timeout, or a wait ran out."""

    error_code = "timeout"


class PermissionDeniedError(RoleRedisError):
    """The server (ACL, authentication) refused the operation."""

    error_code = "permission"


class ConfigError(RoleRedisError):
    """The configuration (file or environment) is invalid or forbids the operation."""

    error_code = "config"


class DisabledError(RoleRedisError):
    """Redis is disabled in the configuration (``enabled: false``)."""

    error_code = "disabled"


class OverloadedError(RoleRedisError):
    """A bounded queue or pool is full."""

    error_code = "overloaded"


class InternalError(RoleRedisError):
    """Anything unexpected: a bug in roleredis or a reply it does not understand."""

    error_code = "internal"


ERROR_CODES: tuple[str, ...] = tuple(
    cls.error_code
    for cls in (
        NotFoundError,
        InvalidArgumentError,
        SerializationError,
        ConnectionFailedError,
        TimeoutError,
        PermissionDeniedError,
        ConfigError,
        DisabledError,
        OverloadedError,
        InternalError,
    )
)


_REFUSED_COMMAND = re.compile(r"no permissions to run the '([^']+)' command", re.IGNORECASE)


def _refused(text: str) -> PermissionDeniedError:
    """A refusal; when it is of a command roleredis itself needs, say how to fix the user."""
    from .acl import COMMANDS, SELECT  # acl imports this module

    refused = _REFUSED_COMMAND.search(text)
    if refused is not None and refused.group(1).lower() in (*COMMANDS, SELECT):
        text += (
            "; roleredis needs this command: an admin should re-run "
            "`roleredis acl provision ROLE` to update this role's ACL user"
        )
    return PermissionDeniedError(f"Redis refused: {text}")


def translate(exc: BaseException) -> RoleRedisError:
    """Turn any exception into the matching :class:`RoleRedisError` (the one mapping place).

    >>> translate(rex.ConnectionError("refused")).error_code
    'connection'
    """
    if isinstance(exc, RoleRedisError):
        return exc
    text = str(exc) or type(exc).__name__
    result: RoleRedisError
    if isinstance(exc, rex.AuthenticationError | rex.AuthorizationError | rex.NoPermissionError):
        result = _refused(text)
    elif isinstance(exc, rex.TimeoutError) and "connecting" in text.lower():
        result = ConnectionFailedError(f"Redis connection failed: {text}")
    elif isinstance(exc, rex.TimeoutError):
        result = TimeoutError(f"Redis did not answer in time: {text}")
    elif isinstance(exc, rex.ConnectionError) and "No connection available" in text:
        result = OverloadedError(
            f"connection pool exhausted: every connection stayed in use for pool.timeout; "
            f"raise pool.max_connections or pool.timeout ({text})"
        )
    elif isinstance(exc, rex.ConnectionError | ConnectionError):
        result = ConnectionFailedError(f"Redis connection failed: {text}")
    elif isinstance(exc, rex.ResponseError):
        upper = text.upper()
        if upper.startswith(("NOPERM", "NOAUTH", "WRONGPASS")):
            result = _refused(text)
        elif upper.startswith("WRONGTYPE"):
            # what is stored is not a value roleredis can read: a stored-data problem, not the
            # caller's argument
            result = SerializationError(
                "the key holds a Redis type other than a string (written by another client?): "
                f"{text}"
            )
        elif upper.startswith(("OOM", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN")):
            result = OverloadedError(f"Redis is busy: {text}")
        else:
            result = InternalError(f"Redis error: {text}")
    else:
        result = InternalError(f"unexpected {type(exc).__name__}: {text}")
    result.__cause__ = exc
    return result


@contextlib.contextmanager
def map_redis_errors() -> Iterator[None]:
    """Re-raise any exception from inside the block as a :class:`RoleRedisError`."""
    try:
        yield
    except RoleRedisError:
        raise
    except Exception as exc:
        raise translate(exc) from exc
