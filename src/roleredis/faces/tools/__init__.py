"""The guide's Redis tools: plain functions that return result dicts and never raise.

Each is the sync binding of one row of the operation table (:mod:`roleredis.table.rows`): the
signature and docstring are here, the call (role, timing, metrics, logging, the failure dict)
is :func:`roleredis.table.calls.call`. The hooks of the guide's original module live here too,
looked up at each call, so tests may patch them: ``_get_calling_role``, ``REDIS_AVAILABLE``,
``_get_redis_client``.

>>> redis_write("forecast", {"sky": "clear"}, ttl=60, role="weather")["prefixed_key"]
'weather:forecast'
>>> redis_read("forecast", role="weather")["value"]
{'sky': 'clear'}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ... import runtime
from ...core import results
from ...core.store import RoleStore
from ...foundation.config import RedactedDict, Settings
from ...foundation.errors import DisabledError, InvalidArgumentError, TimeoutError
from ...foundation.keys import Keyspace, validate_role
from ...runtime import reset
from ...table import calls, fastlane, roles, synclane
from ...table.roles import acting_as
from ...table.rows import (
    CLEAR_ROLE_DATA,
    DELETE,
    EXISTS,
    GET_KEYS,
    HEALTH_CHECK,
    PUBLISH,
    READ,
    READ_ASYNC,
    READ_EVENTS,
    READ_MANY,
    WRITE,
    WRITE_ASYNC,
    WRITE_MANY,
)
from ...transport.writer import process as writer_process

__all__ = [
    "acting_as",
    "budget",
    "lease",
    "redis_ack",
    "redis_acquire",
    "redis_clear_role_data",
    "redis_dead_letters",
    "redis_delete",
    "redis_exists",
    "redis_flush",
    "redis_get_keys",
    "redis_give_back",
    "redis_health_check",
    "redis_publish",
    "redis_read",
    "redis_read_async",
    "redis_read_events",
    "redis_read_many",
    "redis_receive",
    "redis_release",
    "redis_renew",
    "redis_replay_dead_letters",
    "redis_reply",
    "redis_report",
    "redis_request",
    "redis_send",
    "redis_send_async",
    "redis_take",
    "redis_touch",
    "redis_write",
    "redis_write_async",
    "redis_write_many",
    "reset",
]

Result = dict[str, Any]

role_stores: dict[str, RoleStore] = {}
runtime.on_reset(lambda forked: role_stores.clear())  # their executors hold the old client
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


_CLIENT_HOOK = _get_redis_client  # the one above, unless a test patched it


def lane_open() -> bool:
    """Whether a fire-and-forget call with ``role=`` may take the lane
    (:mod:`roleredis.table.fastlane`): not while a test has patched ``REDIS_AVAILABLE`` or
    ``_get_redis_client`` (the general call, which looks them up, reports that)."""
    return REDIS_AVAILABLE and _get_redis_client is _CLIENT_HOOK


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


_DETECTING_ROLE = _get_calling_role  # the one above, unless a test patched it
#: The tool's caller, in frames above _resolve: role_store, calls.call, the tool, the caller.
_TOOL_CALLER = 4


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


def _resolve(role: str | None, skip: int = 0) -> tuple[Settings, str]:
    """The settings and the calling role, or the error that stops the call before any I/O
    (``skip``: frames between the user's and role_store's other than a tool's and calls.call's)."""
    if not REDIS_AVAILABLE:
        raise DisabledError(
            "Redis not available: roleredis.tools.REDIS_AVAILABLE is False (patched by a test?)"
        )
    settings = runtime.enabled_settings()
    if role is not None:
        return settings, validate_role(role)
    if _get_calling_role is _DETECTING_ROLE:  # the path walk starts at the tool's caller
        return settings, roles.current(None, settings, skip=_TOOL_CALLER + skip)
    return settings, validate_role(_get_calling_role())


def role_store(role: str | None, skip: int = 0) -> RoleStore:
    settings, name = _resolve(role, skip)
    client = _get_redis_client()
    store = role_stores.get(name)
    if store is None or store.client is not client or store.settings is not settings:
        store = role_stores[name] = RoleStore(name, client=client, settings=settings)
    return store


def redis_write(
    key: str,
    value: Any,
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
    replicas: int = 0,
) -> Result:
    """Write ``value`` under ``<role>:<key>``.

    ``ttl``: seconds; None takes key_management.default_ttl; -1 asks for no expiry.
    ``encrypt``: seal the value with AES-GCM (None: as encryption.roles says for the role).
    ``replicas``: wait up to async.wait_timeout until that many replicas have the write;
    fewer fails with error_code "timeout" (the write landed on the primary only).

    >>> redis_write("user_session", {"user_id": 123}, ttl=3600, role="web")["prefixed_key"]
    'web:user_session'
    """
    if role is not None and REDIS_AVAILABLE and _get_redis_client is _CLIENT_HOOK:
        done = synclane.write(WRITE, role_store, role, key, value, ttl, encrypt, replicas)
        if done is not None:
            return done
    return calls.call(
        WRITE, role_store, role, (key, value, ttl), {"encrypt": encrypt, "replicas": replicas}
    )


def redis_read(
    key: str,
    *,
    role: str | None = None,
    from_role: str | None = None,
    touch: int | None = None,
) -> Result:
    """Read ``<role>:<key>``: ``value`` as written, ``ttl`` remaining (-1: never expires).

    ``from_role``: read that role's ``key`` as the calling role (a granted read: with ACL
    users the server checks the grant, else the config's ``sharing:`` section, if any); the
    result then also carries ``role`` (the caller) and ``from_role``.
    ``touch``: renew the key's TTL to ``touch`` seconds in the same round trip (sliding
    expiry: GETEX); refused with ``from_role``.

    >>> _ = redis_write("user_session", {"user_id": 123}, role="web")
    >>> redis_read("user_session", role="web")["value"]
    {'user_id': 123}
    >>> redis_read("nothing here", role="web")["error_code"]
    'not_found'
    """
    if role is not None and REDIS_AVAILABLE and _get_redis_client is _CLIENT_HOOK:
        done = synclane.read(READ, role_store, role, key, from_role, touch)
        if done is not None:
            return done
    return calls.call(READ, role_store, role, (key,), {"from_role": from_role, "touch": touch})


def redis_get_keys(
    pattern: str = "*", *, role: str | None = None, from_role: str | None = None
) -> Result:
    """The calling role's keys matching ``pattern`` (SCAN; the prefix is not shown).

    ``from_role``: that role's keys which the calling role may read (``permission`` if it may
    read none of them); the result then carries ``from_role`` too.

    >>> _ = redis_write("session:abc123", {"user_id": 1}, role="web")
    >>> redis_get_keys("session:*", role="web")["keys"]
    ['session:abc123']
    """
    return calls.call(GET_KEYS, role_store, role, (pattern,), {"from_role": from_role})


def redis_delete(key: str, *, role: str | None = None) -> Result:
    """Delete ``<role>:<key>``; ``deleted`` says whether it existed.

    >>> _ = redis_write("user_session", 1, role="web")
    >>> redis_delete("user_session", role="web")["deleted"]
    True
    """
    return calls.call(DELETE, role_store, role, (key,))


def redis_exists(key: str, *, role: str | None = None, from_role: str | None = None) -> Result:
    """Whether ``<role>:<key>`` exists, in ``exists`` (``from_role``: that role's ``key``, a
    granted read, as for :func:`redis_read`).

    >>> redis_exists("never written", role="web")["exists"]
    False
    """
    return calls.call(EXISTS, role_store, role, (key,), {"from_role": from_role})


def redis_health_check(*, role: str | None = None) -> Result:
    """PING the server and probe a write/read/delete in the caller's namespace.

    Also reports latency_ms, the deployment's ``mode`` (standalone, cluster, sentinel or
    embedded) and ``nodes`` (each data node's host, port and primary/replica role), pool
    usage, and the fire-and-forget writer's counters under ``background`` (pending, written,
    given_up, failed, batches).

    >>> redis_health_check()["connected"]
    True
    """
    return calls.call(HEALTH_CHECK, role_store, role)


def redis_clear_role_data(role: str | None = None) -> Result:
    """Delete every key of ``role`` (default: the calling role). Use with caution.

    >>> _ = redis_write_many({"a": 1, "b": 2}, role="timer")
    >>> redis_clear_role_data("timer")["deleted_count"]
    2
    """
    return calls.call(CLEAR_ROLE_DATA, role_store, role)


def redis_write_many(
    mapping: Mapping[str, Any],
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
    replicas: int = 0,
) -> Result:
    """Write every item of ``mapping`` in one round trip (all refused if any is invalid).

    ``replicas``: as for :func:`redis_write`, for every write of the mapping.

    >>> redis_write_many({"a": 1, "b": 2}, ttl=60, role="web")["written"]
    2
    """
    return calls.call(
        WRITE_MANY, role_store, role, (mapping, ttl), {"encrypt": encrypt, "replicas": replicas}
    )


def redis_read_many(
    keys: Iterable[str], *, role: str | None = None, from_role: str | None = None
) -> Result:
    """Read many keys in one round trip: ``values`` for those found, ``missing`` for the rest.

    ``from_role``: that role's keys, a granted read (every key must be granted).

    >>> _ = redis_write_many({"a": 1, "b": 2}, role="web")
    >>> redis_read_many(["a", "b", "zzz"], role="web")["missing"]
    ['zzz']
    """
    return calls.call(READ_MANY, role_store, role, (keys,), {"from_role": from_role})


# --- events: each role's log per topic, which every role may read ---------------------------


def redis_publish(topic: str, event: Any, *, role: str | None = None) -> Result:
    """Append ``event`` to the calling role's own log for ``topic``; ``id`` is its stream id.

    ``event`` is any value :func:`redis_write` stores exactly (JSON values, ints of any size,
    bytes), at most messaging.max_message_bytes stored. A topic is 1-64 characters of
    ``A-Z a-z 0-9 _ . -``. The log keeps the last messaging.max_events events (the oldest go
    first). Only the role's own ACL user may write its logs; every role may read them.

    >>> redis_publish("forecasts", {"sky": "clear"}, role="weather")["success"]
    True
    """
    return calls.call(PUBLISH, role_store, role, (topic, event))


def redis_read_events(
    from_role: str,
    topic: str,
    *,
    after: str = "0",
    count: int = 100,
    block_ms: int = 0,
    role: str | None = None,
) -> Result:
    """Up to ``count`` events of ``from_role``'s ``topic`` published after ``after``, oldest
    first: ``events`` (each: id, from, topic, event, at) and ``last_id``, the ``after`` of the
    next read.

    ``after``: "0" (the oldest kept), an id (``last_id`` of the previous read) or "$" (only
    events from now on: resolved to the newest id, returned as ``last_id``). ``block_ms`` > 0:
    if there is none yet, wait up to that long for one. Any role may read any role's events.

    >>> _ = redis_publish("forecasts", {"sky": "rain"}, role="weather")
    >>> read = redis_read_events("weather", "forecasts", role="radar")
    >>> read["events"][-1]["event"], read["events"][-1]["from"]
    ({'sky': 'rain'}, 'weather')
    >>> redis_read_events("weather", "forecasts", after=read["last_id"], role="radar")["count"]
    0
    """
    return calls.call(
        READ_EVENTS,
        role_store,
        role,
        (from_role, topic),
        {"after": after, "count": count, "block_ms": block_ms},
    )


# --- fire and forget -------------------------------------------------------------------------


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
    if role is not None and lane_open():
        queued = fastlane.write_async(WRITE_ASYNC.name, role_store, role, key, value, ttl, encrypt)
        if queued is not None:
            return queued
    return calls.call(WRITE_ASYNC, role_store, role, (key, value, ttl), {"encrypt": encrypt})


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
    return calls.call(READ_ASYNC, role_store, role, (key, callback))


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
        done, written, pending, lost = writer_process.flush(timeout)
        if not done:
            error = TimeoutError(
                f"{pending} queued items were still pending after {timeout} s (is Redis reachable?)"
            )
            return results.failure(error, written=written, pending=pending, lost=lost)
        return results.flushed(written, lost)
    except Exception as exc:
        calls.log.debug("flush failed: %s", exc)  # the caller holds it in the result
        return results.failure(exc, written=0, pending=writer_process.current_pending(), lost=0)


# the mail, lease and budget tools live in rooms of their own (they use role_store, defined
# above)
from .budgets import budget, redis_give_back, redis_report, redis_take  # noqa: E402
from .leases import lease, redis_acquire, redis_release, redis_renew  # noqa: E402
from .mail import (  # noqa: E402
    redis_ack,
    redis_dead_letters,
    redis_receive,
    redis_replay_dead_letters,
    redis_reply,
    redis_request,
    redis_send,
    redis_send_async,
    redis_touch,
)
