"""The guide's Redis tools: plain functions that return result dicts and never raise.

Each is a thin face over :class:`~roleredis.store.RoleStore`: find the calling role, run the
operation, turn the outcome or the error into the guide's dict (:mod:`roleredis.results`).

>>> redis_write("forecast", {"sky": "clear"}, ttl=60, role="weather")["prefixed_key"]
'weather:forecast'
>>> redis_read("forecast", role="weather")["value"]
{'sky': 'clear'}
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from . import results, roles, runtime
from .config import RedactedDict
from .errors import DisabledError, RoleRedisError
from .store import RoleStore

__all__ = [
    "redis_clear_role_data",
    "redis_delete",
    "redis_exists",
    "redis_get_keys",
    "redis_health_check",
    "redis_read",
    "redis_read_many",
    "redis_write",
    "redis_write_many",
]

log = logging.getLogger("roleredis.tools")
Result = dict[str, Any]

_stores: dict[str, RoleStore] = {}
runtime.on_reset(lambda forked: _stores.clear())


def _get_redis_client() -> Any:
    """The shared redis-py client the tools use (patch this in mock-based unit tests)."""
    return runtime.sync_client()


def _get_redis_config() -> RedactedDict:
    """The effective connection settings: host, port, db, password (shown as *** in repr)."""
    return runtime.settings().connection_info()


def _store(role: str | None) -> RoleStore:
    settings = runtime.settings()
    if not settings.enabled:
        raise DisabledError("Redis is disabled in the configuration (redis.enabled: false)")
    name = roles.current(role, default=settings.default_role)
    client = _get_redis_client()
    store = _stores.get(name)
    if store is None or store.client is not client or store.settings is not settings:
        store = _stores[name] = RoleStore(name, client=client, settings=settings)
    return store


def _call(
    operation: str,
    role: str | None,
    body: Callable[[RoleStore], Result],
    fallback: Mapping[str, Any],
    key: Any = None,
) -> Result:
    """Run ``body`` on the caller's store; turn any error into a failure result, and log."""
    started = time.perf_counter()
    store: RoleStore | None = None
    try:
        store = _store(role)
        result = body(store)
    except Exception as exc:
        context = dict(fallback)
        if store is not None:
            context["role"] = store.role
            if key is not None:
                with contextlib.suppress(RoleRedisError):
                    context["prefixed_key"] = store.full_key(key)
        result = results.failure(exc, **context)
        code = result["error_code"]
        log.log(
            logging.DEBUG if code == "not_found" else logging.WARNING,
            "%s failed (%s) role=%s key=%.200r after %.2f ms: %s",
            operation,
            code,
            context.get("role"),
            key,
            (time.perf_counter() - started) * 1e3,
            result["error"],
        )
        return result
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s ok role=%s key=%.200r in %.2f ms",
            operation,
            store.role,
            key,
            (time.perf_counter() - started) * 1e3,
        )
    return result


def redis_write(key: str, value: Any, ttl: int | None = None, *, role: str | None = None) -> Result:
    """Write ``value`` under ``<role>:<key>``.

    ``ttl``: seconds; None takes key_management.default_ttl; -1 asks for no expiry.

    >>> redis_write("user_session", {"user_id": 123}, ttl=3600)["success"]  # doctest: +SKIP
    True
    """
    return _call(
        "write",
        role,
        lambda s: results.written(s.write(key, value, ttl), s.role),
        {"key": key},
        key,
    )


def redis_read(key: str, *, role: str | None = None) -> Result:
    """Read ``<role>:<key>``: ``value`` as written, ``ttl`` remaining (-1: never expires).

    >>> redis_read("user_session")["value"]  # doctest: +SKIP
    {'user_id': 123}
    """
    return _call("read", role, lambda s: results.entry(s.read(key)), {"key": key}, key)


def redis_get_keys(pattern: str = "*", *, role: str | None = None) -> Result:
    """The calling role's keys matching ``pattern`` (SCAN; the prefix is not shown).

    >>> redis_get_keys("session:*")["keys"]  # doctest: +SKIP
    ['session:abc123']
    """
    return _call(
        "get_keys",
        role,
        lambda s: results.key_list(s.keys(pattern), pattern, s.role),
        {"pattern": pattern, "keys": [], "count": 0},
    )


def redis_delete(key: str, *, role: str | None = None) -> Result:
    """Delete ``<role>:<key>``; ``deleted`` says whether it existed.

    >>> redis_delete("user_session")["deleted"]  # doctest: +SKIP
    True
    """
    return _call(
        "delete",
        role,
        lambda s: results.deleted(key, s.full_key(key), s.delete(key)),
        {"key": key},
        key,
    )


def redis_exists(key: str, *, role: str | None = None) -> Result:
    """Whether ``<role>:<key>`` exists, in ``exists``.

    >>> redis_exists("user_session")["exists"]  # doctest: +SKIP
    False
    """
    return _call(
        "exists",
        role,
        lambda s: results.existence(key, s.full_key(key), s.exists(key)),
        {"key": key},
        key,
    )


def redis_health_check(*, role: str | None = None) -> Result:
    """PING the server and probe a write/read/delete in the caller's namespace.

    >>> redis_health_check()["connected"]  # doctest: +SKIP
    True
    """
    return _call(
        "health_check",
        role,
        lambda s: results.health(s.health(), s.role, s.pool_usage()),
        {"connected": False},
    )


def redis_clear_role_data(role: str | None = None) -> Result:
    """Delete every key of ``role`` (default: the calling role). Use with caution.

    >>> redis_clear_role_data("timer")["deleted_count"]  # doctest: +SKIP
    42
    """
    return _call(
        "clear_role_data",
        role,
        lambda s: results.cleared(s.role, s.clear()),
        {"deleted_count": 0},
    )


def redis_write_many(
    mapping: Mapping[str, Any], ttl: int | None = None, *, role: str | None = None
) -> Result:
    """Write every item of ``mapping`` in one round trip (all refused if any is invalid).

    >>> redis_write_many({"a": 1, "b": 2}, ttl=60)["written"]  # doctest: +SKIP
    2
    """
    return _call(
        "write_many",
        role,
        lambda s: results.written_many(s.write_many(mapping, ttl), s.role),
        {"written": 0},
    )


def redis_read_many(keys: Iterable[str], *, role: str | None = None) -> Result:
    """Read many keys in one round trip: ``values`` for those found, ``missing`` for the rest.

    >>> redis_read_many(["a", "b", "zzz"])["missing"]  # doctest: +SKIP
    ['zzz']
    """
    return _call(
        "read_many",
        role,
        lambda s: results.read_many(s.read_many(keys), s.role),
        {"values": {}, "missing": [], "count": 0},
    )
