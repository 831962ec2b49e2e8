"""The cache of a role, without I/O: the operations on its entries (:func:`fetch`, :func:`poll`,
:func:`put`, :func:`drop`, :func:`drop_tags`, :func:`follow`) and the flows that the decorator
(:mod:`roleredis.faces.caching`) drives, sync or async, step by step (:func:`lookup`,
:func:`refresh`): one generator for both.

An entry is an internal key of the role (:mod:`roleredis.core.cachekeys`), its value the
codec's bytes of the result (exactly as ``redis_write`` stores a value), with a Redis TTL of
``ttl + stale`` seconds: it is fresh while more than ``stale`` seconds are left (PTTL, read
in the same round trip: the server's clock only), and stale for the last ``stale`` seconds.
A tag is a sorted set of entry keys scored by the time they surely expire, pruned
(ZREMRANGEBYSCORE) on every write to it and read with the entries it lists on invalidation,
written before the entry (a dangling member is pruned; a missing one would hide an entry from
its invalidation). Every write and invalidation of a function with a local tier is appended to
the role's invalidation log (a stream, :func:`~roleredis.core.cachekeys.log_key`) in the same
round trip, which every process keeping a local tier follows.

A flow yields steps: a batch of calls (a list: for the store's runner to send as it is; its
replies, or its error, come back), :class:`Run` (an operation for the store to run; its
outcome, or its error, comes back), :data:`COMPUTE` (call the function; its result comes
back, or its exception is thrown in), a :class:`~roleredis.foundation.batch.Pause`. It
returns a :class:`Served`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Generator, Iterable
from typing import Any

from ..foundation.batch import Batch, Call, Pause
from ..foundation.errors import (
    ConfigError,
    HeldError,
    InvalidArgumentError,
    RoleRedisError,
    SerializationError,
)
from . import cachekeys, leases
from .ops import Op, Scope

__all__ = [
    "COMMANDS",
    "COMPUTE",
    "TRACKING_CHANNEL",
    "TRACKING_COMMANDS",
    "Found",
    "Plan",
    "Run",
    "Served",
    "drop",
    "drop_tags",
    "fetch",
    "fetch_calls",
    "follow",
    "lookup",
    "newest",
    "poll",
    "put",
    "refresh",
    "served_entry",
    "tracked_calls",
    "tracked_replies",
    "wake",
]

log = logging.getLogger("roleredis.cache")

#: Every command the cache sends (leases' own come from the lease rows): ACL provisioning
#: grants them.
COMMANDS = frozenset(
    {"get", "getex", "pttl", "exists", "set", "zadd", "zremrangebyscore", "zrange", "pexpire"}
    | {"unlink", "xadd", "xread", "xrevrange", "fcall", "hincrby", "del"}
)
#: What a tracking local tier sends beyond :data:`COMMANDS` (see roleredis.core.localtier):
#: granted only by ``acl provision --tracking`` (CLIENT TRACKING lets a user ask for BCAST,
#: which on Redis 7 shows every key name changed on the node), with the one channel
#: :data:`TRACKING_CHANNEL`.
TRACKING_COMMANDS = frozenset({"client|tracking", "subscribe", "multi", "exec"})
#: The channel a tracking listener subscribes to.
TRACKING_CHANNEL = "__redis__:invalidate"
#: Entries of the invalidation log kept (the oldest go first; a follower that fell further
#: behind empties its local tier, see roleredis.core.localtier).
LOG_LENGTH = 10_000
#: Entry keys read from one tag per invalidation, at most (a tag's members are pruned as they
#: expire, so this bounds only a tag of very many live entries: invalidate it again).
TAG_MEMBERS = 100_000
#: A waiter's first and longest pause between looks at the entry being computed, seconds.
FIRST_LOOK = 0.005
LAST_LOOK = 0.05


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """One cached call: its entry key, its lifetimes (ms), its tags' keys, whether reads renew
    it (sliding) and whether its writes are logged for local tiers; :attr:`lease` names the
    lease guarding its computation (made only when a miss needs it)."""

    key: str
    ttl_ms: int
    stale_ms: int
    tags: tuple[str, ...] = ()
    sliding: bool = False
    logged: bool = False
    #: a result whose stored bytes exceed this is returned but not cached (None: no limit)
    max_bytes: int | None = None
    #: the batch that reads the entry (see :func:`fetch_calls`), made once: never changed
    reads: list[Call] = dataclasses.field(init=False, repr=False, compare=False)
    #: the same on a tracking reader (see :func:`tracked_calls`)
    tracked: list[Call] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = self.key
        get: Call = (
            ("getex", (key, "PX", self.ttl_ms + self.stale_ms)) if self.sliding else ("get", (key,))
        )
        reads: list[Call] = [("pttl", (key,)), get]
        object.__setattr__(self, "reads", reads)
        tracked = [("multi", ()), *reads, ("pttl", (key,)), ("exec", ())] if self.sliding else reads
        object.__setattr__(self, "tracked", tracked)

    @property
    def lease(self) -> str:
        """The lease that guards the computation of the entry."""
        return cachekeys.lease_name(self.key)


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    """An entry as read: its stored bytes (None: missing), whether it is still fresh, and
    for how many more seconds."""

    data: bytes | None
    fresh: bool
    fresh_for: float = 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class Run:
    """A flow's step: run ``op`` on the store and send back its outcome."""

    op: Op[Any]


class _Compute:
    __slots__ = ()

    def __repr__(self) -> str:
        return "COMPUTE"


#: A flow's step: call the function now; send back its result or throw in its exception.
COMPUTE = _Compute()

Step = list[Call] | Run | _Compute | Pause
Flow = Generator[Step, Any, "Served"]


# not frozen: one is made per call, and a frozen dataclass's __init__ costs three times as
# much (the Redis hit must stay close to a raw GET); nothing changes one once returned
@dataclasses.dataclass(slots=True)
class Served:
    """What a cached call returns: ``value``; ``how`` it was served (``hit``, ``stale``,
    ``miss``, ``waited``: computed by another caller, ``alone``: computed without the lease
    after waiting past cache.wait, ``failed``: Redis failed, computed without the cache);
    ``refresh``: start a background refresh (a stale serve); ``unstored``: why the result was
    not cached (None: it was, or needed not be); ``fresh_for``: seconds a value read fresh
    from Redis stays fresh (the local tier may keep it that long)."""

    value: Any
    how: str
    refresh: bool = False
    unstored: str | None = None
    fresh_for: float = 0.0


def _fresh_ms(pttl: Any, plan: Plan) -> int:
    """Milliseconds an entry read with ``pttl`` stays fresh (<= 0: it is stale)."""
    left = int(pttl)
    if left == -1:  # no expiry (set by another client): fresh for a ttl at most
        left = plan.ttl_ms + plan.stale_ms
    return left - plan.stale_ms


def _found(data: Any, pttl: Any, plan: Plan) -> Found:
    if data is None:
        return Found(None, False)
    if isinstance(data, str):  # a client made with decode_responses=True
        data = data.encode("utf-8")
    fresh = _fresh_ms(pttl, plan)
    return Found(data, fresh > 0, max(0, fresh) / 1000)


def fetch_calls(plan: Plan) -> list[Call]:
    """The batch that reads an entry: PTTL and GET (GETEX PX renewing it, sliding), in one
    round trip (PTTL first: a sliding read says how fresh it was before it renewed it)."""
    return plan.reads


def tracked_calls(plan: Plan) -> list[Call]:
    """The read of :func:`fetch_calls` for a tracking reader (see
    :mod:`roleredis.core.localtier`): the same, but for a sliding entry MULTI, PTTL, GETEX,
    PTTL, EXEC. GETEX changes the key, and a change ends its tracking (the reader's NOLOOP
    only spares it the message about its own change): the PTTL after it tracks the key again,
    in the same transaction, so that no change by another client slips in between."""
    return plan.tracked


def tracked_replies(plan: Plan, replies: list[Any]) -> list[Any] | None:
    """The replies of :func:`fetch_calls` in those of :func:`tracked_calls`; None if the
    transaction failed."""
    if not plan.sliding:
        return replies
    done = replies[-1]
    if not isinstance(done, list) or len(done) != 3 or any(isinstance(r, Exception) for r in done):
        return None
    return done[:2]


def fetch(scope: Scope, plan: Plan) -> Op[Found]:
    """The entry and whether it is fresh (the replies of :func:`fetch_calls`)."""
    pttl, data = yield fetch_calls(plan)
    return _found(data, pttl, plan)


def poll(scope: Scope, plan: Plan) -> Op[tuple[Found, bool]]:
    """A waiter's look: the entry, and whether its computation's lease is still held."""
    pttl, data, held = yield [
        ("pttl", (plan.key,)),
        ("get", (plan.key,)),
        ("exists", (scope.keyspace.lease(plan.lease),)),
    ]
    return _found(data, pttl, plan), bool(held)


def _log_call(scope: Scope, keys: Iterable[str]) -> Call:
    return (
        "xadd",
        (cachekeys.log_key(scope.keyspace), "MAXLEN", "~", LOG_LENGTH, "*", "k", " ".join(keys)),
    )


def put(scope: Scope, plan: Plan, data: bytes) -> Op[None]:
    """Store the entry ``data`` (tags first, each pruned of what has expired), logged for
    local tiers when the plan says so; one round trip."""
    life = plan.ttl_ms + plan.stale_ms
    now = int(time.time() * 1000)
    calls: list[Call] = []
    for tag in plan.tags:
        calls += [
            ("zadd", (tag, now + life, plan.key)),
            ("zremrangebyscore", (tag, "-inf", now)),
            # a new tag gets the entry's life, an older one only ever longer
            ("pexpire", (tag, life, "NX")),
            ("pexpire", (tag, life, "GT")),
        ]
    calls.append(("set", (plan.key, data, "PX", life)))
    if plan.logged:
        calls.append(_log_call(scope, (plan.key,)))
    yield calls


def drop(scope: Scope, keys: list[str], *, logged: bool = True) -> Op[int]:
    """Delete entries (their tags keep the keys until pruned); how many existed."""
    calls: list[Call] = [("unlink", tuple(keys))]
    if logged:
        calls.append(_log_call(scope, keys))
    replies = yield calls
    return int(replies[0])


def drop_tags(scope: Scope, tags: list[str]) -> Op[tuple[int, list[str]]]:
    """Delete every entry listed by the tags ``tags`` (keys made by cachekeys.tag_key), and the
    tags; logged for local tiers. Two round trips; how many entries existed, and their keys."""
    if not tags:
        return 0, []
    listed = yield [("zrange", (tag, 0, TAG_MEMBERS - 1)) for tag in tags]
    keyspace = scope.keyspace
    # a member is only ever one of the role's entry keys: the role's own user could add any
    # key of its own to its tags, and an invalidation must never delete its other keys
    entries = list(
        dict.fromkeys(
            (m.decode() if isinstance(m, bytes) else m)
            for members in listed
            for m in members
            if cachekeys.is_entry(keyspace, m)
        )
    )
    calls: list[Call] = [("unlink", (*entries, *tags))]
    if entries:
        calls.append(_log_call(scope, entries))
    replies = yield calls
    return min(int(replies[0]), len(entries)), entries


def wake(scope: Scope) -> Op[None]:
    """An entry without keys in the role's log: ends a follower's blocked read (it stops)."""
    yield [("xadd", (cachekeys.log_key(scope.keyspace), "MAXLEN", "~", LOG_LENGTH, "*", "w", 1))]


def newest(scope: Scope) -> Op[str]:
    """The id of the newest entry of the role's invalidation log ("0-0": none yet)."""
    (reply,) = yield [("xrevrange", (cachekeys.log_key(scope.keyspace), "+", "-", "COUNT", 1))]
    return _text(reply[0][0]) if reply else "0-0"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def follow(scope: Scope, after: str, block_ms: int) -> Op[tuple[str, list[str]]]:
    """The entry keys logged after ``after`` (waiting up to ``block_ms`` for one), and the id
    to read on from."""
    stream = cachekeys.log_key(scope.keyspace)
    read: Call = ("xread", ("COUNT", 1000, "BLOCK", block_ms, "STREAMS", stream, after))
    (reply,) = yield Batch([read], wait=block_ms / 1000)
    keys: list[str] = []
    if not reply:
        return after, keys
    for entry_id, fields in reply[0][1]:
        after = _text(entry_id)
        value = fields.get(b"k", fields.get("k")) if isinstance(fields, dict) else None
        if value:
            keys.extend(_text(value).split(" "))
    return after, keys


# --- the flows -------------------------------------------------------------------------------


def _encoded(scope: Scope, plan: Plan, value: Any) -> tuple[bytes | None, str | None]:
    """The entry's bytes, or None and why the result cannot be cached exactly."""
    try:
        data = scope.encode(value, plan.key)
    except (SerializationError, InvalidArgumentError) as exc:
        return None, str(exc)
    if plan.max_bytes is not None and len(data) > plan.max_bytes:
        return None, f"its stored form is {len(data)} bytes, over max_bytes ({plan.max_bytes})"
    return data, None


def _decoded(scope: Scope, plan: Plan, data: bytes) -> Any:
    return scope.codec.decode(data, scope.binding(plan.key))


def _quietly(what: str, scope: Scope, exc: RoleRedisError) -> None:
    log.warning("cache of role %s: %s failed (%s); going on without it", scope.role, what, exc)


def _store(scope: Scope, plan: Plan, value: Any) -> Generator[Step, Any, str | None]:
    """Cache ``value`` (a failure of Redis is logged, never raised): why it was not, or None."""
    data, why = _encoded(scope, plan, value)
    if data is None:
        return why
    try:
        yield Run(put(scope, plan, data))
    except RoleRedisError as exc:
        _quietly("storing an entry", scope, exc)
    return None


def _acquire(scope: Scope, plan: Plan, wait: float) -> Generator[Step, Any, str | None]:
    """The lease's token, "" if this server cannot give leases (no Redis Functions: computed
    without one), or None if another caller holds it."""
    try:
        granted = yield Run(leases.acquire(scope, plan.lease, wait, replicas=0))
    except HeldError:
        return None
    except ConfigError as exc:
        _quietly("taking the computation's lease", scope, exc)
        return ""
    return str(granted.token)


def _release(scope: Scope, plan: Plan, token: str) -> Generator[Step, Any, None]:
    if not token:
        return
    try:
        yield Run(leases.release(scope, plan.lease, token))
    except RoleRedisError as exc:  # it expires by itself
        _quietly("giving the computation's lease back", scope, exc)


def _compute_and_store(
    scope: Scope, plan: Plan, token: str, how: str
) -> Generator[Step, Any, Served]:
    try:
        value = yield COMPUTE
    except BaseException:
        yield from _release(scope, plan, token)  # exceptions are never cached
        raise
    why = yield from _store(scope, plan, value)
    yield from _release(scope, plan, token)
    return Served(value, how, unstored=why)


def served_entry(scope: Scope, plan: Plan, replies: list[Any]) -> Served | None:
    """What the replies of :func:`fetch_calls` serve: the entry's value, fresh (``hit``) or
    stale (a refresh asked for); None when there is no entry."""
    pttl, data = replies
    if data is None:
        return None
    if isinstance(data, str):  # a client made with decode_responses=True
        data = data.encode("utf-8")
    value = _decoded(scope, plan, data)
    fresh = _fresh_ms(pttl, plan)
    if fresh > 0:
        return Served(value, "hit", False, None, fresh / 1000)
    return Served(value, "stale", refresh=True)


def lookup(
    scope: Scope,
    plan: Plan,
    wait: float,
    fetched: list[Any] | RoleRedisError | None = None,
) -> Flow:
    """A cached call: the entry if there is one (stale: served, with a refresh asked for);
    else one caller computes it under the entry's lease and the others look at the entry until
    it is there, the lease is given up without it (then one of them computes), or ``wait``
    seconds have passed (then each computes by itself).

    ``fetched``: the replies of :func:`fetch_calls` (or the error it failed with) when the
    driver sent it already (the hit path: served by :func:`served_entry` with no flow at all).
    A failure of Redis never fails the call: the function is called without the cache."""
    try:
        # the batch itself, not Run(fetch(...)): the driver sends it as it is
        replies = (yield fetch_calls(plan)) if fetched is None else fetched
        if isinstance(replies, RoleRedisError):
            raise replies
    except RoleRedisError as exc:
        _quietly("reading an entry", scope, exc)
        return Served((yield COMPUTE), "failed")
    served = served_entry(scope, plan, replies)
    if served is not None:
        return served
    deadline = time.monotonic() + wait
    try:
        while True:
            token = yield from _acquire(scope, plan, wait)
            if token:  # another caller may have stored it since the miss, and let go
                served = served_entry(scope, plan, (yield fetch_calls(plan)))
                if served is not None:  # (read untracked: like a waiter's, never kept locally)
                    yield from _release(scope, plan, token)
                    how = "waited" if served.how == "hit" else served.how
                    return dataclasses.replace(served, how=how, fresh_for=0.0)
            if token is not None:
                return (yield from _compute_and_store(scope, plan, token, "miss"))
            pause = FIRST_LOOK
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return (yield from _compute_and_store(scope, plan, "", "alone"))
                yield Pause(min(pause, left))
                pause = min(pause * 2, LAST_LOOK)
                found, held = yield Run(poll(scope, plan))
                if found.data is not None:
                    return Served(_decoded(scope, plan, found.data), "waited")
                if not held:  # given up without an entry (the computation raised): try again
                    break
    except RoleRedisError as exc:
        _quietly("waiting for an entry", scope, exc)
        return Served((yield COMPUTE), "failed")


def refresh(scope: Scope, plan: Plan, wait: float, *, force: bool = False) -> Flow:
    """Compute the entry again and store it: under its lease, unless another caller holds it
    (then nothing is done: ``how`` is ``held``); ``force``: whatever the lease."""
    token = ""
    if not force:
        try:
            got = yield from _acquire(scope, plan, wait)
        except RoleRedisError as exc:
            _quietly("taking the computation's lease", scope, exc)
            got = ""
        if got is None:
            return Served(None, "held")
        token = got
    return (yield from _compute_and_store(scope, plan, token, "refreshed"))


def check_life(ttl: Any, stale: Any) -> tuple[int, int]:
    """``ttl`` (> 0) and ``stale`` (>= 0) seconds in milliseconds; InvalidArgumentError else.

    >>> check_life(300, 0.5)
    (300000, 500)
    """
    for name, value, least in (("ttl", ttl, 0.001), ("stale", stale, 0)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not least <= value <= leases.MAX_TTL * 52
        ):
            raise InvalidArgumentError(
                f"cached: {name} must be seconds >= {least:g}, got {value!r}"
            )
    return max(1, round(ttl * 1000)), round(stale * 1000)
