"""Every operation on a role's namespace, written once, without I/O (sans-I/O).

An operation is a generator: it validates and encodes in the caller, yields a batch of redis-py
calls (``("get", (key,))`` is ``client.get(key)``), receives their replies, and returns a typed
outcome. A sync driver (:mod:`roleredis.core.store`), an async one (:mod:`roleredis.aio`) and the
background writer run the same generators, so the logic exists once.

>>> scope = Scope(Keyspace("weather"))
>>> op = read(scope, "forecast")
>>> next(op)
[('get', ('weather:forecast',)), ('ttl', ('weather:forecast',))]
>>> try:
...     op.send([b'"sunny"', 60])
... except StopIteration as done:
...     done.value.value, done.value.ttl
('sunny', 60)
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any, TypeVar

from ..foundation import sharing
from ..foundation.batch import READABLE, Batch, Call, Lenient, lenient
from ..foundation.errors import (
    ConfigError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    SerializationError,
    TimeoutError,
    acl_refused,
)
from ..foundation.keys import Keyspace, validate_role
from ..foundation.settings import MessagingSettings
from ..foundation.ttl import NO_EXPIRY, apply_ttl
from . import codec, index

__all__ = [
    "Batch",
    "Call",
    "Entry",
    "Health",
    "Lenient",
    "Op",
    "PreparedWrite",
    "ReadMany",
    "Scope",
    "Written",
    "WrittenMany",
    "lenient",
]

T = TypeVar("T")
#: An operation: yields batches of calls, receives their replies, returns an outcome.
Op = Generator[list[Call], list[Any], T]

SCAN_COUNT = 1000
HEALTH_PROBE = "__roleredis_health__:"
#: A key in the namespace that listing and clearing touch first with a key-checked command
#: (EXISTS): Redis ACLs do not check SCAN, but they refuse this for another role's namespace.
ACL_PROBE = "__roleredis_acl_probe__"


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """What an operation needs to know about its role: its keyspace and TTL policy."""

    keyspace: Keyspace
    default_ttl: int | None = None
    max_ttl: int | None = None
    codec: codec.Codec = dataclasses.field(default_factory=codec.Codec)
    #: the largest stored value (after compression and sealing) a write may send
    max_value_bytes: int = 512 * 1024 * 1024
    #: keep the role's key index (key_management.index; see roleredis.core.index)
    index: bool = False
    #: the role's keys and its index live in different Cluster slots (a Cluster without
    #: co-located roles): a batch's parts go to several nodes, so an index update that must
    #: follow the writes is sent in a round trip of its own (see roleredis.core.index)
    index_apart: bool = False
    #: how long a write with ``replicas=N`` waits for them (async.wait_timeout), seconds
    wait_timeout: float = 1.0
    #: the sharing section of config.yaml (None: there is none; see roleredis.foundation.sharing)
    sharing: sharing.Sharing | None = None
    #: set on the scope of a read with ``from_role``: the role reading (keyspace: the owner's)
    reader: str | None = None
    #: mailboxes and events (visibility timeout, deliveries, bounds)
    messaging: MessagingSettings = dataclasses.field(default_factory=MessagingSettings)
    #: what operations of this store keep between calls in this process (the mailbox's known
    #: channels: see roleredis.core.mail); never compared
    state: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def role(self) -> str:
        return self.keyspace.role

    def encode(self, value: Any, full_key: str, encrypt: bool | None = None) -> bytes:
        """The stored bytes of ``value``; InvalidArgumentError if they exceed max_value_bytes.

        Measured on what is stored: the server closes the connection on a value over its
        proto-max-bulk-len instead of answering, so too big a value must never be sent.
        """
        # a value already too big before encoding (compression off) is refused without the
        # cost of encoding it (a 600 MB str took seconds and twice its size in memory)
        floor = self.codec.stored_floor(value)
        if floor > self.max_value_bytes:
            raise self._too_big(full_key, f"at least {floor}")
        data = self.codec.encode(value, self.binding(full_key), encrypt)
        if len(data) > self.max_value_bytes:
            raise self._too_big(full_key, str(len(data)))
        return data

    def _too_big(self, full_key: str, size: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"the value of {full_key!r} is {size} bytes stored, over "
            f"serialization.max_value_bytes ({self.max_value_bytes}); store it in pieces "
            "or raise the setting (and the server's proto-max-bulk-len)"
        )

    def binding(self, full_key: str) -> str:
        """What a sealed value is bound to: the key as the role names it (``weather:k``) in
        every layout, so it still opens after a copy to ``{weather}:k`` (and values sealed
        before, bound to ``weather:k``, open as they did)."""
        keyspace = self.keyspace
        return keyspace.logical_key(keyspace.strip(full_key)) if keyspace.hash_tag else full_key

    def ttl(self, ttl: Any) -> tuple[int | None, str | None]:
        return apply_ttl(ttl, default_ttl=self.default_ttl, max_ttl=self.max_ttl)


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
class Entry:
    """A value read back: ``ttl`` is the remaining seconds, -1 if the key never expires."""

    key: str
    full_key: str
    value: Any
    ttl: int


@dataclasses.dataclass(frozen=True, slots=True)
class ReadMany:
    values: dict[str, Any]
    missing: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Health:
    latency_ms: float
    redis_version: str
    mode: str
    used_memory_human: str | None
    probe_key: str


@dataclasses.dataclass(slots=True)
class PreparedWrite:
    """A write validated and encoded in the caller: the call to send and its outcome, and
    the index update to send right after it (None with the index off)."""

    call: Call
    written: Written
    index: Call | None = None


def _set_call(full_key: str, data: bytes, seconds: int | None) -> Call:
    return ("set", (full_key, data, seconds)) if seconds is not None else ("set", (full_key, data))


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
    return PreparedWrite(_set_call(full, data, seconds), written, update)


def _acknowledged(replies: list[Any], what: str) -> None:
    for reply in replies:
        if reply is not True and reply != b"OK" and reply != "OK":
            raise InternalError(f"{what}: the server did not acknowledge the write ({reply!r})")


def _replicas(replicas: Any) -> int:
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        raise InvalidArgumentError(
            f"replicas must be a whole number of replicas (0: do not wait), got {replicas!r}"
        )
    return replicas


def _wait_call(scope: Scope, replicas: int) -> list[Call]:
    """WAIT for ``replicas`` after the writes, in the same batch (so on the same connection:
    WAIT counts the writes of its own connection); none for 0."""
    if not replicas:
        return []
    return [("wait", (replicas, max(1, round(scope.wait_timeout * 1000))))]


def _replicated(scope: Scope, reply: Any, replicas: int, what: str) -> None:
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
    replicas = _replicas(replicas)
    prepared = prepare_write(scope, key, value, ttl, encrypt)
    wait = _wait_call(scope, replicas)
    if prepared.index is None:
        replies = yield [prepared.call, *wait]
    else:  # ZADD, SET, ZADD: see roleredis.core.index on the order
        replies = (yield from _indexed(scope, [prepared.call], prepared.index, wait))[1:]
    what = f"write of {prepared.written.full_key!r}"
    _acknowledged(replies[:1], what)
    if wait:
        _replicated(scope, replies[-1], replicas, f"the {what}")
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


def _remaining(ttl_reply: Any) -> int:
    ttl = int(ttl_reply)
    return NO_EXPIRY if ttl == -1 else max(ttl, 0)


def reading(scope: Scope, from_role: Any) -> Scope:
    """The scope through which ``scope``'s role reads ``from_role``'s keys (None, or the role
    itself: ``scope``, its own keys, which are never checked).

    The owner's keyspace in the same layout (``{owner}:`` under cluster hash tags), no key
    index (the owner's index is the owner's: a reader may not read it), and ``reader`` set so
    that the sharing section is checked.

    >>> reading(Scope(Keyspace("beta")), "alpha").keyspace.full_key("shared:x")
    'alpha:shared:x'
    """
    if from_role is None or from_role == scope.role:
        return scope
    owner = validate_role(from_role)
    ks = scope.keyspace
    return dataclasses.replace(
        scope,
        keyspace=Keyspace(owner, auto_prefix=ks.auto_prefix, hash_tag=ks.hash_tag),
        index=False,
        reader=scope.role,
    )


def _granted(scope: Scope, keys: Iterable[str]) -> None:
    """PermissionDeniedError if the sharing section does not let the reader read each key."""
    if scope.reader is None or scope.sharing is None:
        return
    patterns = scope.sharing.patterns(scope.reader, scope.role)  # once, not once per key
    for key in keys:
        if not sharing.matches(patterns, key):
            raise PermissionDeniedError(sharing.refusal(scope.reader, scope.role, key))


def _as_reader(scope: Scope, keys: list[str], batch: list[Call]) -> Op[list[Any]]:
    """Send ``batch``, a read of ``keys``: for a granted read (``scope.reader`` set), the
    server's ACL refusal (NOPERM) says which grant is missing and how to add it."""
    try:
        return (yield batch)
    except PermissionDeniedError as exc:
        if scope.reader is None or not acl_refused(exc):
            raise
        raise PermissionDeniedError(
            sharing.acl_refusal(scope.reader, scope.role, keys, str(exc))
        ) from exc


def read(scope: Scope, key: str, *, from_role: str | None = None) -> Op[Entry]:
    """The value and remaining TTL of ``key``; raises NotFoundError if it is missing.

    ``from_role``: read that role's ``key`` instead, as this role (a granted read).
    """
    scope = reading(scope, from_role)
    full = scope.keyspace.full_key(key)
    _granted(scope, (key,))
    data, ttl = yield from _as_reader(scope, [key], [("get", (full,)), ("ttl", (full,))])
    if data is None:
        raise NotFoundError(f"key {key!r} not found for role {scope.role!r}")
    return Entry(key, full, _decode(scope, data, full), _remaining(ttl))


def _decode(scope: Scope, data: Any, full_key: str) -> Any:
    if isinstance(data, str):  # a client made with decode_responses=True
        data = data.encode("utf-8")
    try:
        return scope.codec.decode(data, scope.binding(full_key))
    except SerializationError as exc:
        raise SerializationError(f"{full_key!r}: {exc}") from None


def remaining_ttl(scope: Scope, key: str) -> Op[int]:
    """Seconds ``key`` has left, -1 if it never expires; NotFoundError if it is missing."""
    full = scope.keyspace.full_key(key)
    (remaining,) = yield [("ttl", (full,))]
    if int(remaining) == -2:
        raise NotFoundError(f"key {key!r} not found for role {scope.role!r}")
    return int(remaining)


def exists(scope: Scope, key: str, *, from_role: str | None = None) -> Op[bool]:
    """Whether ``key`` exists (``from_role``: that role's ``key``, a granted read)."""
    scope = reading(scope, from_role)
    full = scope.keyspace.full_key(key)
    _granted(scope, (key,))
    (count,) = yield from _as_reader(scope, [key], [("exists", (full,))])
    return bool(count)


def delete(scope: Scope, key: str) -> Op[bool]:
    """Delete ``key``; False if it did not exist."""
    full = scope.keyspace.full_key(key)
    if scope.index:  # ZREM first, then UNLINK: see roleredis.core.index on the order
        count = (yield [index.remove_call(scope.keyspace, [key]), ("unlink", (full,))])[1]
    else:
        (count,) = yield [("unlink", (full,))]
    return bool(count)


def _acl_check(scope: Scope) -> list[Call]:
    """A key-checked command in the role's namespace, sent before SCAN (see ACL_PROBE)."""
    if not scope.keyspace.auto_prefix:
        return []
    return [("exists", (scope.keyspace.full_key(ACL_PROBE),))]


def _scan(cursor: int, match: str) -> Call:
    return ("scan", (cursor, match, SCAN_COUNT))


def list_keys(scope: Scope, pattern: str = "*", *, from_role: str | None = None) -> Op[list[str]]:
    """The role's keys matching ``pattern`` (a glob applied after the role prefix), without
    the prefix, sorted: from the role's index when it is on and trusted, else with SCAN
    (never KEYS).

    ``from_role``: that role's keys which this role may read (see :func:`_list_granted`).
    """
    granted = reading(scope, from_role)
    if granted is not scope:
        return (yield from _list_granted(granted, pattern))
    match = scope.keyspace.scan_pattern(pattern)
    strip = scope.keyspace.strip
    seen: dict[str, None] = {}
    cursor = 0
    calls = [*_acl_check(scope), _scan(cursor, match)]
    if scope.index:
        listed = yield from index.listing(scope.keyspace, match, _acl_check(scope))
        if listed is not None:
            return list(listed)
        calls = [_scan(cursor, match)]
    while True:
        (cursor, batch) = (yield calls)[-1]
        calls = [_scan(cursor, match)]
        for full in batch:
            seen[strip(full)] = None
        if int(cursor) == 0:
            return sorted(seen)


def _literal_prefix(pattern: str) -> str:
    """What every key matching the glob ``pattern`` starts with.

    >>> _literal_prefix("shared:*"), _literal_prefix("a?c")
    ('shared:', 'a')
    """
    for i, c in enumerate(pattern):
        if c in "*?[\\":
            return pattern[:i]
    return pattern


def _refused(reply: Any) -> bool:
    """Whether a READABLE call's reply is the server's refusal (the runners turn it into a
    PermissionDeniedError); any other error reply is raised."""
    if isinstance(reply, PermissionDeniedError):
        return True
    if isinstance(reply, Exception):
        raise reply
    return False


def _list_granted(scope: Scope, pattern: str) -> Op[list[str]]:
    """The owner's keys matching ``pattern`` that the reader may read, sorted.

    Redis does not check key patterns for SCAN, so a scan alone would show a reader every key
    name of the owner. The keys each SCAN step finds are asked with one key-checked EXISTS
    (READABLE, sent with the next SCAN step: no round trip of its own); if the server refuses
    it, one more round trip asks key by key, and only the keys the reader may read are kept.
    The sharing section (when there is one) is applied first. A first READABLE probe of a key
    under the pattern's literal prefix tells whether the reader holds a grant there: a
    listing that finds no readable key is ``permission`` unless that probe passed (an empty,
    granted part of the namespace).
    """
    keyspace = scope.keyspace
    match = keyspace.scan_pattern(pattern)
    reader = scope.reader or scope.role
    patterns = None if scope.sharing is None else scope.sharing.patterns(reader, scope.role)
    if patterns == ():
        raise PermissionDeniedError(sharing.refusal(reader, scope.role))
    probe = keyspace.full_key(_literal_prefix(pattern) + ACL_PROBE)
    replies = yield [(READABLE, (probe,)), _scan(0, match)]
    granted = not _refused(replies[0])
    strip = keyspace.strip
    kept: dict[str, None] = {}
    while True:
        cursor, batch = replies[-1]
        asked = [f for f in batch if patterns is None or sharing.matches(patterns, strip(f))]
        calls: list[Call] = [(READABLE, tuple(asked))] if asked else []
        if int(cursor) != 0:
            calls.append(_scan(cursor, match))
        if not calls:
            break
        replies = yield calls
        if asked and not _refused(replies[0]):
            kept.update(dict.fromkeys(map(strip, asked)))
        elif asked:  # some are not granted: which?
            each = yield [(READABLE, (full,)) for full in asked]
            for full, reply in zip(asked, each, strict=True):
                if not _refused(reply) and reply:
                    kept[strip(full)] = None
        if int(cursor) == 0:
            break
    if not kept and not granted:
        raise PermissionDeniedError(
            f"role {reader!r} may read no key of role {scope.role!r} matching {pattern!r} "
            f"(grant it: roleredis acl grant {reader} --read {scope.role}:PATTERN)"
        )
    return sorted(kept)


def clear(scope: Scope, progress: Callable[[int], object] | None = None) -> Op[int]:
    """Delete every key of the role with SCAN + UNLINK in batches; returns how many.

    With the index on: through the index when it is trusted; else SCAN as above, removing
    each batch from the index too, and the index is trusted afterwards (the role is empty).
    ``progress(n)`` is called after each batch with how many it deleted.
    """
    if not scope.keyspace.auto_prefix:
        raise ConfigError(
            "key_management.auto_prefix is false, so roles share one namespace and clearing "
            "a role would clear every key in the database; refused"
        )
    match = scope.keyspace.everything()
    deleted = 0
    first = [*_acl_check(scope), _scan(0, match)]
    if scope.index:
        cleared = yield from index.clearing(scope.keyspace, _acl_check(scope), progress)
        if cleared is not None:
            return int(cleared)
        first = [_scan(0, match)]
    (cursor, batch) = (yield first)[-1]
    while batch or int(cursor) != 0:
        calls: list[Call] = []
        if batch and scope.index:  # ZREM first, then UNLINK: see roleredis.core.index
            calls.append(index.remove_call(scope.keyspace, map(scope.keyspace.strip, batch)))
        if batch:
            calls.append(("unlink", tuple(batch)))
        if int(cursor) != 0:
            calls.append(_scan(cursor, match))
        replies = yield calls
        if batch:
            count = int(replies[1 if scope.index else 0])
            deleted += count
            if progress is not None:
                progress(count)
        if int(cursor) == 0:
            break
        cursor, batch = replies[-1]
    if scope.index:
        yield [index.trust_call(scope.keyspace)]
    return deleted


def reindex(scope: Scope, progress: Callable[[int], object] | None = None) -> Op[int]:
    """Index every key in the role's namespace (SCAN, with each key's real expiry), then
    trust the index; returns how many keys were indexed. Keys other clients wrote into the
    namespace are indexed too. ``progress(n)``: after each SCAN step, the keys it indexed."""
    if not scope.keyspace.auto_prefix:
        raise ConfigError(
            "key_management.auto_prefix is false, so roles share one namespace and have no "
            "index of their own; nothing to reindex"
        )
    match = scope.keyspace.everything()
    count = yield from index.reindexing(
        scope.keyspace, lambda cursor: _scan(cursor, match), _acl_check(scope), progress
    )
    return int(count)


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
    replicas = _replicas(replicas)
    if not isinstance(mapping, Mapping):
        raise InvalidArgumentError(
            f"mapping must be a dict of key -> value, got {type(mapping).__name__}"
        )
    seconds, warning = scope.ttl(ttl)
    calls: list[Call] = []
    for key, value in mapping.items():
        full = scope.keyspace.full_key(key)
        try:
            data = scope.encode(value, full, encrypt)
        except SerializationError as exc:
            raise SerializationError(f"key {key!r}: {exc}") from None
        calls.append(_set_call(full, data, seconds))
    keys = list(mapping)
    if calls:
        sets = len(calls)
        wait = _wait_call(scope, replicas)
        if scope.index:  # ZADD, SETs, ZADD: see roleredis.core.index on the order
            score = index.score_for(seconds)
            update = index.add_call(scope.keyspace, [(score, key) for key in keys])
            replies = (yield from _indexed(scope, calls, update, wait))[1:]
        else:
            replies = yield [*calls, *wait]
        _acknowledged(replies[:sets], "write_many")
        if wait:
            _replicated(scope, replies[-1], replicas, f"write_many of {sets} keys")
    return WrittenMany(keys, NO_EXPIRY if seconds is None else seconds, warning)


def read_many(scope: Scope, keys: Iterable[str], *, from_role: str | None = None) -> Op[ReadMany]:
    """Read ``keys`` with one MGET; missing keys are listed in ``missing``, not errors.

    ``from_role``: that role's keys (a granted read: all of them must be granted).
    """
    scope = reading(scope, from_role)
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        raise InvalidArgumentError(
            f"keys must be a list of str, got {type(keys).__name__}"
            + (" (wrap a single key in a list)" if isinstance(keys, str) else "")
        )
    wanted = list(dict.fromkeys(keys))
    fulls = [scope.keyspace.full_key(k) for k in wanted]
    _granted(scope, wanted)
    if not fulls:
        return ReadMany({}, [])
    (datas,) = yield from _as_reader(scope, wanted, [("mget", (fulls,))])
    values: dict[str, Any] = {}
    missing: list[str] = []
    for key, full, data in zip(wanted, fulls, datas, strict=True):
        if data is None:
            missing.append(key)
        else:
            values[key] = _decode(scope, data, full)
    return ReadMany(values, missing)


def health(scope: Scope, embedded: str | None = None, token: bytes | None = None) -> Op[Health]:
    """PING, then write, read and delete a short-lived probe key in the role's namespace.

    Then INFO server and memory, in a batch of their own: a user that may not run INFO (a
    provisioned role's ACL user) gets a passing check with the version and mode "unknown".
    ``embedded`` names an in-process backend (which has no INFO): its version is reported.
    ``token`` is the probe's value (default: a random one); it must read back unchanged.
    """
    started = time.perf_counter()
    yield [("ping", ())]
    latency_ms = (time.perf_counter() - started) * 1000
    probe = scope.keyspace.full_key(HEALTH_PROBE + uuid.uuid4().hex)
    if token is None:
        token = uuid.uuid4().hex.encode()
    replies = yield [("set", (probe, token, 30)), ("get", (probe,)), ("unlink", (probe,))]
    got = replies[1]
    if got != token and got != token.decode():
        raise InternalError("health probe: the value read back differs from the one written")
    server: Mapping[str, Any] = {}
    memory: Mapping[str, Any] = {}
    unknown = embedded or "unknown"
    if embedded is None:
        # a user that may not run INFO (raised into this generator) gets what it may see
        with contextlib.suppress(PermissionDeniedError):
            server, memory = yield [("info", ("server",)), ("info", ("memory",))]
    return Health(
        latency_ms=round(latency_ms, 3),
        redis_version=str(server.get("redis_version", unknown)),
        mode=str(server.get("redis_mode", "embedded" if embedded else unknown)),
        used_memory_human=memory.get("used_memory_human"),
        probe_key=probe,
    )
