"""The operations that change a role's keys: :func:`write`, :func:`write_many`, :func:`delete`,
and :func:`prepare_write` (a write checked and encoded in the caller, for the fire-and-forget
writer); with the key index on, each index update goes with its write (see
:mod:`roleredis.core.index` on the order).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ...foundation.batch import Call
from ...foundation.errors import (
    InternalError,
    InvalidArgumentError,
    RoleRedisError,
    SerializationError,
    TimeoutError,
)
from ...foundation.ttl import NO_EXPIRY
from .. import index
from ..codec import ENCODED_AS_IS, encode
from .scope import Op, Scope

__all__ = [
    "PreparedWrite",
    "Written",
    "WrittenMany",
    "acknowledge",
    "check_replicated",
    "delete",
    "prepare_write",
    "replica_count",
    "wait_call",
    "write",
    "write_many",
]


@dataclasses.dataclass(slots=True)
class Written:
    """A write carried out: ``ttl`` is the expiry applied, -1 for none."""

    key: str
    full_key: str
    ttl: int
    size: int
    warning: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class WrittenMany:
    keys: list[str]
    ttl: int
    warning: str | None = None


@dataclasses.dataclass(slots=True)
class PreparedWrite:
    """A write validated and encoded in the caller: the call to send and its outcome, and
    the index update to send right after it (None with the index off)."""

    call: Call
    written: Written
    index: Call | None = None


def prepare_write(
    scope: Scope, key: Any, value: Any, ttl: Any, encrypt: bool | None = None
) -> PreparedWrite:
    """Validate and encode one write (raises the typed errors) without sending anything.

    ``encrypt`` None follows the role's configuration (encryption.roles).
    """
    full = scope.keyspace.full_key(key)
    seconds, warning = scope.ttl(ttl)
    data = scope.encode(value, full, encrypt)
    written = Written(key, full, NO_EXPIRY if seconds is None else seconds, len(data), warning)
    update = None
    if scope.index:
        update = index.add_call(scope.keyspace, [(index.score_for(seconds), key)])
    call = ("set", (full, data, seconds)) if seconds is not None else ("set", (full, data))
    return PreparedWrite(call, written, update)


def acknowledge(reply: Any, full_key: str) -> None:
    """InternalError unless ``reply`` acknowledges the SET of ``full_key``: the reply step of
    :func:`write`, shared with the sync call's lane (:mod:`roleredis.table.synclane`)."""
    if reply is not True:  # redis-py's SET callback makes OK True; a stand-in says OK
        _acknowledged([reply], f"write of {full_key!r}")


def _acknowledged(replies: list[Any], what: str) -> None:
    for reply in replies:
        if reply is not True and reply != b"OK" and reply != "OK":
            raise InternalError(f"{what}: the server did not acknowledge the write ({reply!r})")


def replica_count(replicas: Any) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise InvalidArgumentError(
            f"replicas must be a whole number of replicas (0: do not wait), got {replicas!r}"
        )
    return replicas


def wait_call(scope: Scope, replicas: int) -> list[Call]:
    """WAIT for ``replicas`` after the writes, in the same batch (so on the same connection:
    WAIT counts the writes of its own connection); none for 0."""
    if not replicas:
        return []
    return [("wait", (replicas, max(1, round(scope.wait_timeout * 1000))))]


def check_replicated(scope: Scope, reply: Any, replicas: int, what: str) -> None:
    reached = int(reply)
    if reached < replicas:
        raise TimeoutError(
            f"{what} landed on the primary but reached only {reached} of {replicas} replicas "
            f"within async.wait_timeout ({scope.wait_timeout:g} s): it is lost if the primary "
            "fails before replicating it; retry it (the write is idempotent), or check the "
            "replicas (INFO replication)"
        )


def write(
    scope: Scope,
    key: str,
    value: Any,
    ttl: int | None = None,
    *,
    encrypt: bool | None = None,
    replicas: int = 0,
) -> Op[Written]:
    """Store ``value`` under ``key``; ``ttl`` None takes default_ttl, -1 means no expiry.

    ``encrypt`` None follows the role's configuration (encryption.roles). ``replicas=N``:
    wait (async.wait_timeout) until N replicas have the write; fewer is a TimeoutError.
    """
    if replicas or type(replicas) is not int:  # 0, the common case, needs no check
        replicas = replica_count(replicas)
    prepared = prepare_write(scope, key, value, ttl, encrypt)
    wait = wait_call(scope, replicas) if replicas else []
    if prepared.index is None:
        replies = yield [prepared.call, *wait]
    else:  # ZADD, SET, ZADD: see roleredis.core.index on the order
        replies = (yield from _indexed(scope, [prepared.call], prepared.index, wait))[1:]
    full = prepared.written.full_key
    acknowledge(replies[0], full)
    if wait:
        check_replicated(scope, replies[-1], replicas, f"the write of {full!r}")
    return prepared.written


def _indexed(scope: Scope, writes: list[Call], update: Call, wait: list[Call]) -> Op[list[Any]]:
    """Send ``writes`` between two copies of their index update (``ZADD, SET..., ZADD``, see
    roleredis.core.index); the replies of ``[update, *writes, *wait]``.

    In one round trip when the keys and the index are in one slot (every layout but a
    Cluster's spread one): a crash that cuts the batch short leaves no key without its entry,
    and the second ZADD restores an entry a concurrent delete's ZREM took before the SET.
    With ``index_apart`` the parts go to different nodes, in the order of the nodes' first
    commands (the index's first: its ZADD leads), and the second ZADD follows in a round trip
    of its own, after every SET.
    """
    if not scope.index_apart:
        replies = yield [update, *writes, update, *wait]
        return [*replies[: 1 + len(writes)], *replies[2 + len(writes) :]]
    replies = yield [update, *writes, *wait]
    yield [update]
    return list(replies)


def delete(scope: Scope, key: str) -> Op[bool]:
    """Delete ``key``; False if it did not exist."""
    full = scope.keyspace.full_key(key)
    if scope.index:  # ZREM first, then UNLINK: see roleredis.core.index on the order
        count = (yield [index.remove_call(scope.keyspace, [key]), ("unlink", (full,))])[1]
    else:
        (count,) = yield [("unlink", (full,))]
    return bool(count)


def _encoded(
    scope: Scope, mapping: Mapping[str, Any], fulls: list[str], encrypt: bool | None
) -> list[bytes]:
    """:meth:`Scope.encode` of each value of ``mapping`` (stored under ``fulls``), in order:
    on a role that neither compresses nor seals, a JSON container or scalar goes straight
    to :func:`~roleredis.core.codec.encode` and the sizes are checked once at the end."""
    coder = scope.codec
    if coder.compression_threshold is not None or (coder.encrypt if encrypt is None else encrypt):
        return [scope.encode(v, f, encrypt) for v, f in zip(mapping.values(), fulls, strict=True)]
    datas = [
        encode(value) if type(value) in ENCODED_AS_IS else scope.encode(value, full, encrypt)
        for value, full in zip(mapping.values(), fulls, strict=True)
    ]
    if datas and max(map(len, datas)) > scope.max_value_bytes:
        raise InvalidArgumentError("a value is too big")  # said per key by the loop
    return datas


def _checked_one_by_one(
    scope: Scope, mapping: Mapping[str, Any], encrypt: bool | None
) -> tuple[list[str], list[bytes]]:
    """The full keys and stored values of ``mapping``, item by item: the first invalid key or
    value raises, saying which."""
    fulls: list[str] = []
    datas: list[bytes] = []
    for key, value in mapping.items():
        full = scope.keyspace.full_key(key)
        try:
            datas.append(scope.encode(value, full, encrypt))
        except SerializationError as exc:
            raise SerializationError(f"key {key!r}: {exc}") from None
        fulls.append(full)
    return fulls, datas


def write_many(
    scope: Scope,
    mapping: Mapping[str, Any],
    ttl: int | None = None,
    *,
    encrypt: bool | None = None,
    replicas: int = 0,
) -> Op[WrittenMany]:
    """Write every item of ``mapping`` in one round trip; nothing is sent if any is invalid.

    ``replicas=N``: wait (async.wait_timeout) until N replicas have every write; fewer is a
    TimeoutError.
    """
    replicas = replica_count(replicas)
    if not isinstance(mapping, Mapping):
        raise InvalidArgumentError(
            f"mapping must be a dict of key -> value, got {type(mapping).__name__}"
        )
    seconds, warning = scope.ttl(ttl)
    keys = list(mapping)
    try:
        fulls = scope.keyspace.full_keys(keys)
        datas = _encoded(scope, mapping, fulls, encrypt)
    except RoleRedisError:  # the first invalid item, said as the loop below says it
        fulls, datas = _checked_one_by_one(scope, mapping, encrypt)
    if seconds is None:
        calls: list[Call] = [("set", args) for args in zip(fulls, datas, strict=True)]
    else:
        calls = [("set", (full, data, seconds)) for full, data in zip(fulls, datas, strict=True)]
    if calls:
        sets = len(calls)
        wait = wait_call(scope, replicas)
        if scope.index:  # ZADD, SETs, ZADD: see roleredis.core.index on the order
            score = index.score_for(seconds)
            update = index.add_call(scope.keyspace, [(score, key) for key in keys])
            replies = (yield from _indexed(scope, calls, update, wait))[1:]
        else:
            replies = yield [*calls, *wait]
        _acknowledged(replies[:sets], "write_many")
        if wait:
            check_replicated(scope, replies[-1], replicas, f"write_many of {sets} keys")
    return WrittenMany(keys, NO_EXPIRY if seconds is None else seconds, warning)
