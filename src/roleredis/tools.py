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
from typing import Any, Protocol

from . import background, metrics, ops, results, roles, runtime
from .config import RedactedDict, Settings
from .errors import (
    DisabledError,
    InvalidArgumentError,
    OverloadedError,
    RoleRedisError,
    TimeoutError,
)
from .executor import to_wire
from .internals import running_loop
from .keys import Keyspace, validate_role
from .roles import acting_as
from .runtime import reset
from .store import RoleStore

__all__ = [
    "acting_as",
    "redis_clear_role_data",
    "redis_delete",
    "redis_exists",
    "redis_flush",
    "redis_get_keys",
    "redis_health_check",
    "redis_read",
    "redis_read_async",
    "redis_read_many",
    "redis_write",
    "redis_write_async",
    "redis_write_many",
    "reset",
]

log = logging.getLogger("roleredis.tools")
Result = dict[str, Any]

_stores: dict[str, RoleStore] = {}
runtime.on_reset(lambda forked: _stores.clear())  # their executors hold the old client
runtime.on_reset(roles.forget_warning)

#: The guide's original module set this False when redis could not be imported. redis-py is a
#: dependency of roleredis, so it is always True here; tests that patch it to False make every
#: tool fail with error_code ``disabled``, as the original's did. Read at each call.
REDIS_AVAILABLE = True


def _get_redis_client() -> Any:
    """The shared redis-py client the tools use (patch this in mock-based unit tests)."""
    return runtime.sync_client()


def _get_redis_config() -> RedactedDict:
    """The connection settings the environment and config.yaml give now: host, port, db,
    password (the real value, shown as *** in repr), and more.

    A diagnostic: it reads them afresh at each call (a test may set ``REDIS_*`` with
    ``patch.dict`` and then call it). The tools keep using the settings they loaded on first
    use until ``roleredis.reset()``. While a test fixture's settings are in force
    (``roleredis_memory``, ``roleredis_server``), it shows those: the tools use them.
    """
    return runtime.current_settings().connection_info()


def _get_calling_role() -> str:
    """The role of a call that passes no ``role=``: ``acting_as``, then ``ROLEREDIS_ROLE``,
    then the caller's ``roles/<name>/`` path, then the default role.

    The tools look it up at each call, so a test may patch ``roleredis.tools._get_calling_role``
    to decide the role.

    >>> with acting_as("timer"):
    ...     _get_calling_role()
    'timer'
    """
    return roles.current()


def _keyspace(role: str | None) -> Keyspace:
    name = validate_role(_get_calling_role() if role is None else role)
    return Keyspace(name, auto_prefix=runtime.settings().auto_prefix)


def _prefix_key(key: str, role: str | None = None) -> str:
    """The Redis key the tools use for ``key`` of ``role`` (default: the calling role).

    >>> _prefix_key("test_key", "weather")
    'weather:test_key'
    """
    return _keyspace(role).prefix + key


def _unprefix_key(key: str, role: str | None = None) -> str:
    """``key`` without the prefix of ``role`` (default: the calling role); unchanged if it
    does not start with it.

    >>> _unprefix_key("weather:test_key", "weather"), _unprefix_key("other:k", "weather")
    ('test_key', 'other:k')
    """
    prefix = _keyspace(role).prefix
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


class _Namespace(Protocol):
    @property
    def role(self) -> str: ...
    def full_key(self, key: str) -> str: ...


def _resolve(role: str | None) -> tuple[Settings, str]:
    """The settings and the calling role, or the error that stops the call before any I/O."""
    if not REDIS_AVAILABLE:
        raise DisabledError(
            "Redis not available: roleredis.tools.REDIS_AVAILABLE is False (patched by a test?)"
        )
    settings = runtime.enabled_settings()
    return settings, validate_role(_get_calling_role() if role is None else role)


def _store(role: str | None) -> RoleStore:
    settings, name = _resolve(role)
    client = _get_redis_client()
    store = _stores.get(name)
    if store is None or store.client is not client or store.settings is not settings:
        store = _stores[name] = RoleStore(name, client=client, settings=settings)
    return store


def _failed(
    operation: str,
    exc: Exception,
    fallback: Mapping[str, Any],
    store: _Namespace | None,
    key: Any,
    started: float,
) -> Result:
    """The failure result for ``exc`` (with the call's context), logged without values."""
    context = dict(fallback)
    if store is not None:
        context["role"] = store.role
        if key is not None:
            with contextlib.suppress(RoleRedisError):
                context["prefixed_key"] = store.full_key(key)
    result = results.failure(exc, **context)
    code = result["error_code"]
    elapsed = time.perf_counter() - started
    metrics.record(operation, context.get("role"), elapsed, code)
    log.log(
        _LEVEL_OF_RETURNED_FAILURES,
        "%s failed (%s) role=%s key=%.200r after %.2f ms: %s",
        operation,
        code,
        context.get("role"),
        key,
        elapsed * 1e3,
        result["error"],
    )
    return result


# What the caller receives in its result is logged at DEBUG: an application that configured no
# logging must not see on stderr a failure it already holds (Python's last-resort handler prints
# WARNING and above). What no caller can see (writes given up or refused in the background, an
# outage the writer rides out, a callback that raised, the "no role detected" notice) is logged
# at WARNING or above where it happens.
_LEVEL_OF_RETURNED_FAILURES = logging.DEBUG


def _succeeded(operation: str, store: _Namespace, key: Any, started: float) -> None:
    elapsed = time.perf_counter() - started
    metrics.record(operation, store.role, elapsed)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s ok role=%s key=%.200r in %.2f ms", operation, store.role, key, elapsed * 1e3)


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
        return _failed(operation, exc, fallback, store, key, started)
    _succeeded(operation, store, key, started)
    return result


def redis_write(
    key: str,
    value: Any,
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
) -> Result:
    """Write ``value`` under ``<role>:<key>``.

    ``ttl``: seconds; None takes key_management.default_ttl; -1 asks for no expiry.
    ``encrypt``: seal the value with AES-GCM (None: as encryption.roles says for the role).

    >>> redis_write("user_session", {"user_id": 123}, ttl=3600, role="web")["prefixed_key"]
    'web:user_session'
    """
    return _call(
        "write",
        role,
        lambda s: results.written(s.write(key, value, ttl, encrypt=encrypt), s.role),
        {"key": key},
        key,
    )


def redis_read(key: str, *, role: str | None = None) -> Result:
    """Read ``<role>:<key>``: ``value`` as written, ``ttl`` remaining (-1: never expires).

    >>> _ = redis_write("user_session", {"user_id": 123}, role="web")
    >>> redis_read("user_session", role="web")["value"]
    {'user_id': 123}
    >>> redis_read("nothing here", role="web")["error_code"]
    'not_found'
    """
    return results.with_missing_value(
        _call("read", role, lambda s: results.entry(s.read(key)), {"key": key}, key)
    )


def redis_get_keys(pattern: str = "*", *, role: str | None = None) -> Result:
    """The calling role's keys matching ``pattern`` (SCAN; the prefix is not shown).

    >>> _ = redis_write("session:abc123", {"user_id": 1}, role="web")
    >>> redis_get_keys("session:*", role="web")["keys"]
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

    >>> _ = redis_write("user_session", 1, role="web")
    >>> redis_delete("user_session", role="web")["deleted"]
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

    >>> redis_exists("never written", role="web")["exists"]
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

    Also reports latency_ms, the server mode, pool usage, and the fire-and-forget writer's
    counters under ``background`` (pending, written, given_up, failed, batches).

    >>> redis_health_check()["connected"]
    True
    """
    return _with_breaker(
        _call(
            "health_check",
            role,
            lambda s: results.health(s.health(), s.role, s.pool_usage(), **_health_extras()),
            {"connected": False},
        )
    )


def _health_extras() -> dict[str, Any]:
    """What a health report adds about this process: the writer's counters, the breaker."""
    return {"background": background.stats(), "breaker": runtime.breaker().report()}


def _with_breaker(result: Result) -> Result:
    """A failed health check still says what the breaker is doing (if settings are valid), and
    why a refused probe may have been refused."""
    if not result["success"]:
        with contextlib.suppress(Exception):
            result["breaker"] = runtime.breaker().report()
        with contextlib.suppress(Exception):
            _explain_refused_probe(result)
    return result


def _explain_refused_probe(result: Result) -> None:
    """An ACL user may touch its role's keys only: a probe refused while running as the default
    role (no role given, none detected) most likely just ran in the wrong namespace."""
    default_role = runtime.settings().default_role
    if result.get("error_code") == "permission" and result.get("role") == default_role:
        hint = (
            f"; the probe ran as role {default_role!r} (key_management.default_role): if this "
            "user may only use one role's keys, check as that role with --role ROLE or "
            "ROLEREDIS_ROLE (redis_health_check(role=...) in code)"
        )
        result["error"] = result["message"] = result["error"] + hint


def redis_clear_role_data(role: str | None = None) -> Result:
    """Delete every key of ``role`` (default: the calling role). Use with caution.

    >>> _ = redis_write_many({"a": 1, "b": 2}, role="timer")
    >>> redis_clear_role_data("timer")["deleted_count"]
    2
    """
    return _call(
        "clear_role_data",
        role,
        lambda s: results.cleared(s.role, s.clear()),
        {"deleted_count": 0},
    )


def redis_write_many(
    mapping: Mapping[str, Any],
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
) -> Result:
    """Write every item of ``mapping`` in one round trip (all refused if any is invalid).

    >>> redis_write_many({"a": 1, "b": 2}, ttl=60, role="web")["written"]
    2
    """
    return _call(
        "write_many",
        role,
        lambda s: results.written_many(s.write_many(mapping, ttl, encrypt=encrypt), s.role),
        {"written": 0},
    )


def redis_read_many(keys: Iterable[str], *, role: str | None = None) -> Result:
    """Read many keys in one round trip: ``values`` for those found, ``missing`` for the rest.

    >>> _ = redis_write_many({"a": 1, "b": 2}, role="web")
    >>> redis_read_many(["a", "b", "zzz"], role="web")["missing"]
    ['zzz']
    """
    return _call(
        "read_many",
        role,
        lambda s: results.read_many(s.read_many(keys), s.role),
        {"values": {}, "missing": [], "count": 0},
    )


# --- fire and forget -------------------------------------------------------------------------


def _overloaded(what: str) -> OverloadedError:
    if background.closing():
        return OverloadedError(
            f"the fire-and-forget writer is shutting down (interpreter exit); the {what} was "
            "not queued: use the synchronous call"
        )
    limit = runtime.settings().async_max_pending
    return OverloadedError(
        f"the fire-and-forget queue is full ({limit} pending, async.max_pending); the {what} "
        "was not queued: slow down, call redis_flush(), or raise async.max_pending"
    )


def _queue_write(store: RoleStore, key: Any, value: Any, ttl: Any, encrypt: bool | None) -> Result:
    prepared = ops.prepare_write(store.scope, key, value, ttl, encrypt)
    if not background.writer().submit_write(prepared.call, prepared.index):
        raise _overloaded("write")
    return results.queued_write(prepared.written, store.role)


def redis_write_async(
    key: str,
    value: Any,
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
) -> Result:
    """Queue a write and return at once; a background thread batches it into a pipeline.

    Invalid keys, values and TTLs are reported here, at once. The write is either carried out
    or, if Redis stays unreachable past async.max_age, counted and logged as given up.

    >>> redis_write_async("logs:info", {"event": "user_login"}, ttl=86400, role="web")["async"]
    True
    >>> redis_flush(timeout=5)["success"]
    True
    """
    return _call(
        "write_async", role, lambda s: _queue_write(s, key, value, ttl, encrypt), {"key": key}, key
    )


def _queue_read(store: RoleStore, key: Any, callback: Any) -> Result:
    if callback is not None and not callable(callback):
        raise InvalidArgumentError(
            f"callback must be callable or None, got {type(callback).__name__}"
        )
    op = ops.read(store.scope, key)
    calls = next(op)  # validates the key now, in the caller
    full_key = store.full_key(key)
    request = background.ReadRequest(
        commands=[to_wire(call) for call in calls],
        op=op,
        context={"key": key, "role": store.role, "prefixed_key": full_key},
        callback=None if callback is None else _missing_value_for(callback),
        loop=running_loop(),
    )
    if not background.writer().submit_read(request):
        raise _overloaded("read")
    return results.queued_read(key, full_key, callback is not None)


def _missing_value_for(callback: Callable[[Result], Any]) -> Callable[[Result], Any]:
    """``callback``, given the read's result as :func:`redis_read` returns it."""

    def deliver(result: Result) -> Any:
        return callback(results.with_missing_value(result))

    return deliver


def redis_read_async(
    key: str, callback: Callable[[Result], Any] | None = None, *, role: str | None = None
) -> Result:
    """Queue a read; ``callback`` gets exactly the dict :func:`redis_read` would return.

    It sees every fire-and-forget write queued before it. Inside a running event loop the
    callback runs on that loop; otherwise on the writer thread.

    >>> got = []
    >>> _ = redis_write_async("user_session", {"user_id": 7}, role="web")
    >>> redis_read_async("user_session", callback=got.append, role="web")["callback"]
    True
    >>> _ = redis_flush(timeout=5)  # the read was queued before the flush: it is done
    >>> got[0]["value"]
    {'user_id': 7}
    """
    return _call("read_async", role, lambda s: _queue_read(s, key, callback), {"key": key}, key)


def redis_flush(timeout: float | None = None) -> Result:
    """Wait until every fire-and-forget write queued before this call has been carried out.

    ``written`` counts those carried out while waiting; ``lost`` those given up (past
    async.max_age) or refused by the server (e.g. an ACL) meanwhile, each also logged.

    >>> redis_flush(timeout=5)["pending"]
    0
    """
    try:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0
        ):
            raise InvalidArgumentError(f"timeout must be None or seconds >= 0, got {timeout!r}")
        done, written, pending, lost = background.flush(timeout)
        if not done:
            error = TimeoutError(
                f"{pending} queued items were still pending after {timeout} s (is Redis reachable?)"
            )
            return results.failure(error, written=written, pending=pending, lost=lost)
        return results.flushed(written, lost)
    except Exception as exc:
        log.debug("flush failed: %s", exc)  # the caller holds it in the result
        return results.failure(exc, written=0, pending=background.current_pending(), lost=0)
