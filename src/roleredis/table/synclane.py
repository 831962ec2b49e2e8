"""The sync round trip's lane: ``redis_write`` and ``redis_read`` with ``role=`` given, without
the general call's machinery around their one round trip, with the same checks, retries,
breaker, result, metrics and log line.

The general call (:func:`roleredis.table.calls.call`) resolves the role and finds its store,
then the store runs the row's operation generator (:func:`roleredis.core.ops.write`,
:func:`~roleredis.core.ops.read`) through :func:`~roleredis.transport.executor.drive`, and the
row's ``build`` makes the result. For the plain case (a SET of a JSON value on an unindexed
role; a GET and TTL of the role's own key) that is one batch and one reply step, so the lane
does it in line, on what it keeps per role in a :class:`Trip` (the store, its runner, its
scope, the key prefix, the default TTL): the same pure steps as the generator (the key check
of :meth:`~roleredis.foundation.keys.Keyspace.full_keys`, :func:`~roleredis.core.codec.encode`,
:func:`~roleredis.core.ops.acknowledge`, :func:`~roleredis.core.ops.entry_of`), the same runner
(the store's :class:`~roleredis.transport.executor.SyncExecutor`: its retries and the target's
breaker), the row's own ``build`` and ``finish`` for the result, and on an error the general
call's :func:`~roleredis.table.calls.failed`. The async path runs the generators, as before.

Whatever is not the plain case (no ``role=``, a span per call while the application traces,
``replicas``, ``encrypt``, compression, the key index, ``from_role``, ``touch``, a key that is
not plain ASCII, an invalid TTL or value, a patched hook of the tools) returns None before
anything is sent, and the tool makes the general call, which reports what is wrong as it
always has. The trips are forgotten on :func:`roleredis.runtime.reset` (and in a forked child).
"""

from __future__ import annotations

from collections.abc import Callable
from logging import DEBUG
from time import perf_counter
from typing import Any

from .. import runtime
from ..core.codec import ENCODED_AS_IS, encode
from ..core.ops import Written, acknowledge, entry_of
from ..core.store import RoleStore
from ..foundation.keys import MAX_KEY_BYTES
from ..foundation.ttl import NO_EXPIRY
from . import tracing
from .calls import failed, log
from .metrics import record
from .operation import Operation, Result

__all__ = ["Trip", "read", "write"]


class Trip:
    """What a role's plain round trips need, worked out once (see the module doc)."""

    __slots__ = (
        "default_ttl",
        "default_warning",
        "max_value_bytes",
        "plain",
        "prefix",
        "role",
        "scope",
        "send",
        "store",
    )

    def __init__(self, store: RoleStore) -> None:
        scope = store.scope
        self.store = store
        self.role = store.role
        self.scope = scope
        self.send = store.runner
        # "" (auto_prefix off): the keyspace checks a key against the internal prefix, and an
        # indexed role's writes carry their index updates: the general call for both
        self.prefix = "" if scope.index else scope.keyspace.prefix
        self.default_ttl, self.default_warning = scope.ttl(None)
        self.max_value_bytes = scope.max_value_bytes
        coder = scope.codec
        self.plain = coder.compression_threshold is None and not coder.encrypt


_GATE = tracing.GATE  # mutated in place, never replaced
_trips: dict[str, Trip] = {}
runtime.on_reset(lambda forked: _trips.clear())


def _trip(store_for: Callable[[str | None], RoleStore], role: Any, started: float) -> Trip | None:
    """The trip of ``role`` (None where the general call must run: no ``role=`` given, tracing
    on at ``started``, an invalid role, a store that could not be made)."""
    if type(role) is not str:
        return None
    if (_GATE.tracer if started < _GATE.until else _GATE.check(started)) is not None:
        return None  # the general call makes the span
    trip = _trips.get(role)
    if trip is None:
        try:
            trip = _trips[role] = Trip(store_for(role))
        except Exception:  # the general call reports it
            return None
    return trip


def _full_key(trip: Trip, key: Any) -> str | None:
    """``key`` under the trip's prefix, if it is a key Keyspace.full_key accepts as it is (an
    ASCII str of 1 to MAX_KEY_BYTES characters, a prefix to put before it); None: the general
    call checks it."""
    prefix = trip.prefix
    if type(key) is not str or not 0 < len(key) <= MAX_KEY_BYTES or not key.isascii() or not prefix:
        return None
    return prefix + key


def write(
    op: Operation,
    store_for: Callable[[str | None], RoleStore],
    role: Any,
    key: Any,
    value: Any,
    ttl: Any,
    encrypt: Any,
    replicas: Any,
) -> Result | None:
    """The result of ``redis_write(key, value, ttl, role=role, encrypt=encrypt,
    replicas=replicas)`` (``op``: its row), or None if the lane does not carry it (nothing was
    sent then: make the general call)."""
    started = perf_counter()
    trip = _trip(store_for, role, started)
    if trip is None or type(replicas) is not int or replicas or encrypt is not None:
        return None
    full = _full_key(trip, key)
    if full is None:
        return None
    try:
        if ttl is None:
            seconds, warning = trip.default_ttl, trip.default_warning
        else:
            seconds, warning = trip.scope.ttl(ttl)
        if trip.plain and type(value) in ENCODED_AS_IS:
            data = encode(value)
            if len(data) > trip.max_value_bytes:
                return None
        else:
            data = trip.scope.encode(value, full, None)
    except Exception:  # the general call reports it
        return None
    store = trip.store
    args = (full, data, seconds) if seconds is not None else (full, data)
    try:
        replies = trip.send([("set", args)])
        acknowledge(replies[0], full)
        written = Written(key, full, NO_EXPIRY if seconds is None else seconds, len(data), warning)
        result = op.build(written, store, (key, value, ttl))
    except Exception as exc:
        return failed(op, exc, store, (key, value, ttl), started)
    # the general call's success steps (as calls.call has them inline)
    elapsed = perf_counter() - started
    record(op.name, trip.role, elapsed)
    if log.isEnabledFor(DEBUG):
        _logged(op, trip.role, key, elapsed)
    return result


def read(
    op: Operation,
    store_for: Callable[[str | None], RoleStore],
    role: Any,
    key: Any,
    from_role: Any,
    touch: Any,
) -> Result | None:
    """The result of ``redis_read(key, role=role, from_role=from_role, touch=touch)`` (``op``:
    its row), or None if the lane does not carry it (nothing was sent then: make the general
    call)."""
    started = perf_counter()
    trip = _trip(store_for, role, started)
    if trip is None or from_role is not None or touch is not None:
        return None
    full = _full_key(trip, key)
    if full is None:
        return None
    store = trip.store
    try:
        data, remaining = trip.send([("get", (full,)), ("ttl", (full,))])
        result = op.build(entry_of(trip.scope, key, full, data, remaining), store, (key,))
    except Exception as exc:
        result = failed(op, exc, store, (key,), started)
    else:
        elapsed = perf_counter() - started
        record(op.name, trip.role, elapsed)
        if log.isEnabledFor(DEBUG):
            _logged(op, trip.role, key, elapsed)
    return result if op.finish is None else op.finish(result)


def _logged(op: Operation, role: str, key: str, elapsed: float) -> None:
    log.debug("%s ok role=%s key=%.200r in %.2f ms", op.name, role, key, elapsed * 1e3)
