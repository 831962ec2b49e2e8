"""The operation table that every face binds, and the call wrappers (sync and async).

Each public operation is one :class:`Operation` row: its name, what it is for, the Redis
commands it sends, the store method that runs it, how its outcome becomes the guide's result
dict and which fields its failure dict carries. :mod:`roleredis.tools` binds the table to plain
functions, :mod:`roleredis.aio` to awaitable ones, :mod:`roleredis.admin.acl` takes its command list
from it, and agent tool schemas take their descriptions from it.

The wrappers do what every call needs once: resolve the role (in the caller, at call time),
time the call, count it in :mod:`roleredis.table.metrics`, log it, and turn any error into the
failure dict. They never raise.

>>> WRITE.tool, sorted(WRITE.commands)
('redis_write', ['set', 'wait'])
>>> [op.name for op in TABLE][:3]
['write', 'read', 'get_keys']
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import Any, ParamSpec

from .. import runtime
from ..core import events, mail, ops, results
from ..core.store import AsyncRoleStore, RoleStore
from ..foundation.config import Settings
from ..foundation.errors import (
    ConfigError,
    InvalidArgumentError,
    OverloadedError,
    RoleRedisError,
    scrub,
)
from ..foundation.internals import running_loop
from ..transport.connection import describe, node_addresses, target_of
from ..transport.executor import to_wire
from ..transport.writer import process as writer_process
from ..transport.writer.ledger import ReadRequest
from ..transport.writer.thread import Writer
from . import metrics, roles

__all__ = [
    "TABLE",
    "Operation",
    "async_store",
    "bind_async",
    "call",
    "call_async",
    "commands",
]

P = ParamSpec("P")
Result = dict[str, Any]
Args = tuple[Any, ...]
Store = RoleStore | AsyncRoleStore
#: What a row's builder gets: the outcome, the store it ran on, the call's positional arguments.
Builder = Callable[[Any, Any, Args], Result]
NO_KWARGS: Mapping[str, Any] = MappingProxyType({})

# The tools' logger since the first release: applications configure it by this name.
log = logging.getLogger("roleredis.tools")

# What the caller receives in its result is logged at DEBUG: an application that configured no
# logging must not see on stderr a failure it already holds (Python's last-resort handler prints
# WARNING and above). What no caller can see (writes given up or refused in the background, an
# outage the writer rides out, a callback that raised, the "no role detected" notice) is logged
# at WARNING or above where it happens.
_LEVEL_OF_RETURNED_FAILURES = logging.DEBUG


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One public operation, as every face offers it."""

    #: "write": the tool is ``redis_write``, the metrics and logs say "write"
    name: str
    #: one line, for humans and agent tool schemas
    description: str
    #: the Redis commands it may send (lowercase, as ACL rules name them)
    commands: frozenset[str]
    #: outcome, store, positional arguments -> the guide's result dict
    build: Builder
    #: the RoleStore / AsyncRoleStore method that runs it; None: not offered by the stores
    method: str | None = None
    #: the ops generator the method runs (``factory(scope, *args, **kwargs)``)
    factory: Callable[..., Any] | None = None
    #: the first argument's name, echoed into failure dicts ("key" adds ``prefixed_key``)
    subject: str | None = None
    #: fields every failure dict of it carries (values are copied per call)
    fallback: Mapping[str, Any] = dataclasses.field(default_factory=lambda: NO_KWARGS)
    #: instead of a store method: run it on the sync store (store, args, kwargs) -> outcome
    run: Callable[[RoleStore, Args, Mapping[str, Any]], Any] | None = None
    #: applied last to every result, success or failure
    finish: Callable[[Result], Result] | None = None
    #: the outcome is paired with the store's pool usage (the health check)
    reports_pool: bool = False
    #: whether the call takes a role (redis_flush does not)
    has_role: bool = True
    #: a call without a role that falls back to the default role warns once (a role's data
    #: access under the wrong name); False for a call that is no role's data access (health)
    warns_default_role: bool = True
    #: it takes ``from_role=OWNER`` (a granted read of another role's keys): its results,
    #: success or failure, then carry ``role`` (the caller) and ``from_role`` (the owner)
    reads_from: bool = False

    @property
    def tool(self) -> str:
        """The function name every face offers it under."""
        return "redis_" + self.name

    def failure_context(self, args: Args) -> Result:
        context: Result = {}
        if self.subject is not None:
            context[self.subject] = args[0] if args else None
        for field, value in self.fallback.items():
            context[field] = value.copy() if isinstance(value, list | dict) else value
        return context


# --- the table -------------------------------------------------------------------------------


def _health(
    outcome: tuple[ops.Health, dict[str, int], dict[str, Any]], store: Store, args: Args
) -> Result:
    report, pool, deployment = outcome
    return results.health(report, store.role, pool, **deployment, **_health_extras())


def deployment_report(settings: Settings) -> dict[str, Any]:
    """The health check's ``mode`` (standalone, cluster, sentinel or embedded: the deployment
    the settings name, which a Sentinel-managed primary's own INFO does not tell) and
    ``nodes``: each data node as ``{"host", "port", "role": primary|replica}`` (a cluster's
    and a Sentinel group's from :func:`~roleredis.transport.connection.node_addresses`, the one
    server
    for standalone, none for the in-process backend). Blocking I/O for cluster and sentinel
    (CLUSTER NODES, SENTINEL queries): the async face runs it in a thread."""
    mode = "embedded" if settings.mode == "memory" else settings.mode
    report: dict[str, Any] = {"mode": mode, "nodes": []}
    if mode == "embedded":
        return report
    try:
        found = node_addresses(settings)
    except Exception as exc:  # the probe answered: the check passes, saying what is unknown
        report["nodes_error"] = scrub(f"{type(exc).__name__}: {exc}")
        return report
    report["nodes"] = [{"host": host, "port": port, "role": role} for host, port, role in found]
    return report


def _health_extras() -> dict[str, Any]:
    """What a health report adds about this process: the writer's counters, the breaker."""
    return {"background": writer_process.stats(), "breaker": runtime.breaker().report()}


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


def _overloaded(what: str) -> OverloadedError:
    if writer_process.closing():
        return OverloadedError(
            f"the fire-and-forget writer is shutting down (interpreter exit); the {what} was "
            "not queued: use the synchronous call"
        )
    limit = runtime.settings().async_max_pending
    return OverloadedError(
        f"the fire-and-forget queue is full ({limit} pending, async.max_pending); the {what} "
        "was not queued: slow down, call redis_flush(), or raise async.max_pending"
    )


def _writer_for(store: RoleStore) -> Writer:
    """The process's one fire-and-forget writer, which connects where the process's settings
    say: refused for a store given settings of another connection target, whose writes it
    would send to the wrong server. (The tools' stores always have the process's settings.)"""
    writer = runtime.writer()
    ours, its = store.settings, writer.settings
    if ours is not its and target_of(ours) != target_of(its):
        raise ConfigError(
            f"fire-and-forget calls go through the process's one writer, which connects to "
            f"{describe(its)} (the process's settings); this store was given settings for "
            f"{describe(ours)}: use the store's own calls (store.write, store.send) there"
        )
    return writer


def _queue_write(store: RoleStore, args: Args, kwargs: Mapping[str, Any]) -> Result:
    key, value, ttl = args
    prepared = ops.prepare_write(store.scope, key, value, ttl, kwargs["encrypt"])
    if not _writer_for(store).submit_write(prepared.call, prepared.index):
        raise _overloaded("write")
    return results.queued_write(prepared.written, store.role)


def _queue_read(store: RoleStore, args: Args, kwargs: Mapping[str, Any]) -> Result:
    key, callback = args
    if callback is not None and not callable(callback):
        raise InvalidArgumentError(
            f"callback must be callable or None, got {type(callback).__name__}"
        )
    op = ops.read(store.scope, key)
    calls = next(op)  # validates the key now, in the caller
    full_key = store.full_key(key)
    request = ReadRequest(
        commands=[to_wire(call) for call in calls],
        op=op,
        outcome=results.entry,
        failure=functools.partial(results.failure, key=key, role=store.role, prefixed_key=full_key),
        callback=None if callback is None else _missing_value_for(callback),
        loop=running_loop(),
    )
    if not _writer_for(store).submit_read(request):
        raise _overloaded("read")
    return results.queued_read(key, full_key, callback is not None)


def _missing_value_for(callback: Callable[[Result], Any]) -> Callable[[Result], Any]:
    """``callback``, given the read's result as ``redis_read`` returns it."""

    def deliver(result: Result) -> Any:
        return callback(results.with_missing_value(result))

    return deliver


def _as_is(outcome: Result, store: Store, args: Args) -> Result:
    return outcome


WRITE = Operation(
    "write",
    "Write a JSON value (or bytes) under the role's key, with an optional TTL in seconds.",
    frozenset({"set", "wait"}),
    lambda w, s, a: results.written(w, s.role),
    "write",
    ops.write,
    subject="key",
)
READ = Operation(
    "read",
    "Read the role's key: its value as written and the seconds it has left.",
    frozenset({"get", "ttl"}),
    lambda e, s, a: results.entry(e),
    "read",
    ops.read,
    subject="key",
    finish=results.with_missing_value,
    reads_from=True,
)
GET_KEYS = Operation(
    "get_keys",
    "List the role's keys matching a glob pattern (without the role prefix).",
    frozenset({"exists", "scan"}),
    lambda keys, s, a: results.key_list(keys, a[0], s.role, getattr(s, "from_role", None)),
    "keys",
    ops.list_keys,
    subject="pattern",
    fallback={"keys": [], "count": 0},
    reads_from=True,
)
DELETE = Operation(
    "delete",
    "Delete the role's key; says whether it existed.",
    frozenset({"unlink"}),
    lambda gone, s, a: results.deleted(a[0], s.full_key(a[0]), gone),
    "delete",
    ops.delete,
    subject="key",
)
EXISTS = Operation(
    "exists",
    "Say whether the role's key exists.",
    frozenset({"exists"}),
    lambda there, s, a: results.existence(a[0], s.full_key(a[0]), there),
    "exists",
    ops.exists,
    subject="key",
    reads_from=True,
)
HEALTH_CHECK = Operation(
    "health_check",
    "Ping Redis and probe a write, read and delete in the role's namespace.",
    frozenset({"ping", "set", "get", "unlink"}),
    _health,
    "health",
    ops.health,
    fallback={"connected": False},
    finish=_with_breaker,
    reports_pool=True,
    warns_default_role=False,
)
CLEAR_ROLE_DATA = Operation(
    "clear_role_data",
    "Delete every key of the role (SCAN and UNLINK in batches).",
    frozenset({"exists", "scan", "unlink"}),
    lambda count, s, a: results.cleared(s.role, count),
    "clear",
    ops.clear,
    fallback={"deleted_count": 0},
)
WRITE_MANY = Operation(
    "write_many",
    "Write many keys of the role in one round trip (none if any is invalid).",
    frozenset({"set", "wait"}),
    lambda w, s, a: results.written_many(w, s.role),
    "write_many",
    ops.write_many,
    fallback={"written": 0},
)
READ_MANY = Operation(
    "read_many",
    "Read many keys of the role in one round trip; lists the missing ones.",
    frozenset({"mget"}),
    lambda r, s, a: results.read_many(r, s.role),
    "read_many",
    ops.read_many,
    fallback={"values": {}, "missing": [], "count": 0},
    reads_from=True,
)
WRITE_ASYNC = Operation(
    "write_async",
    "Queue a write and return at once (fire and forget); checked and encoded now.",
    frozenset({"set", "mset"}),
    _as_is,
    factory=ops.prepare_write,
    subject="key",
    run=_queue_write,
)
READ_ASYNC = Operation(
    "read_async",
    "Queue a read behind the queued writes; a callback gets the result.",
    frozenset({"get", "ttl"}),
    _as_is,
    factory=ops.read,
    subject="key",
    run=_queue_read,
)
PUBLISH = Operation(
    "publish",
    "Publish an event (any JSON value, or bytes) to the role's own log for a topic.",
    frozenset({"xadd"}),
    lambda p, s, a: results.published(p, s.role),
    "publish",
    events.publish,
    subject="topic",
)
READ_EVENTS = Operation(
    "read_events",
    "Read a role's events on a topic after an id, oldest first; optionally wait for new ones.",
    frozenset({"xread", "xrevrange"}),
    lambda b, s, a: results.events_read(b, s.role),
    "read_events",
    events.read_events,
    subject="from_role",
    fallback={"events": [], "count": 0},
)
FLUSH = Operation(
    "flush",
    "Wait until every queued fire-and-forget write has been carried out.",
    frozenset(),
    _as_is,
    has_role=False,
)


def _queue_send(store: RoleStore, args: Args, kwargs: Mapping[str, Any]) -> Result:
    to_role, message = args
    scope = store.scope
    queue = _writer_for(store)
    prepared = mail.prepare_send(scope, to_role, message, packed=queue.takes_packed)
    route = prepared.route
    known = route.length
    checked = route.checked_at
    now = prepared.now
    # a queued send cannot be refused later by a full channel: check the length the last XLEN
    # gave plus what this process queued since (asked again at most every second, and
    # whenever it says the channel is full)
    if (
        known is None
        or checked is None
        or now - checked >= mail.DISCOVERY_EVERY
        or known >= scope.messaging.max_length
    ):
        route.checked_at = now
        try:
            known = store.run(mail.channel_length(scope, prepared))
        except BaseException:
            prepared.unsent()
            raise
    calls = prepared.calls
    submit = queue.submit_write
    xadd = calls[0] if prepared.packed is None else (*calls[0], prepared.packed)
    if not submit(xadd):
        prepared.unsent()
        raise _overloaded("send")
    if len(calls) == 2 and not submit(calls[1]):  # the announce (SADD), after the XADD
        prepared.unsent()  # queued, not announced: the next send announces
    route.length = known + 1  # so that sends queued by this process fill the channel
    return results.queued_send(prepared)


SEND = Operation(
    "send",
    "Send a message (a JSON value or bytes) to another role's inbox; at least once, in order.",
    frozenset({"sadd", "xadd", "xlen"}),
    lambda s, store, a: results.sent(s),
    "send",
    mail.send,
    subject="to",
    fallback={"msg_id": None},
)
RECEIVE = Operation(
    "receive",
    "Receive up to count messages from the role's inbox, waiting up to block_ms for one.",
    frozenset(
        {"sscan", "srem", "sadd", "xgroup", "xautoclaim", "xpending", "xreadgroup", "xread"}
        | {"xadd", "xack", "xdel", "xtrim", "xlen", "hincrby"}
    ),
    lambda got, s, a: results.received(got, s.role),
    "receive",
    mail.receive,
    fallback={"messages": [], "count": 0},
)
ACK = Operation(
    "ack",
    "Acknowledge received messages by their ids, so they are not delivered again.",
    frozenset({"xack", "xdel", "xtrim", "xpending", "xlen", "xadd"}),
    lambda a, s, args: results.acked(a, s.role),
    "ack",
    mail.ack,
    fallback={"acked": 0},
)
DEAD_LETTERS = Operation(
    "dead_letters",
    "List the role's dead letters: mail delivered max_deliveries times without an ack.",
    frozenset({"xrange", "smembers"}),
    lambda d, s, a: results.dead_letters(d, s.role),
    "dead_letters",
    mail.dead_letters,
    fallback={"messages": [], "count": 0},
)
REPLAY_DEAD_LETTERS = Operation(
    "replay_dead_letters",
    "Put the role's dead letters (all, or those of ids) back in its inbox.",
    frozenset({"xrange", "smembers", "sadd", "xadd", "xdel"}),
    lambda r, s, a: results.replayed(r, s.role),
    "replay_dead_letters",
    mail.replay_dead_letters,
    fallback={"replayed": 0, "ids": []},
)
SEND_ASYNC = Operation(
    "send_async",
    "Queue a message to another role's inbox and return at once (fire and forget).",
    frozenset({"sadd", "xadd", "xlen"}),
    _as_is,
    factory=mail.prepare_send,
    subject="to",
    fallback={"msg_id": None},
    run=_queue_send,
)

#: Every public operation, in the order the guide lists them.
TABLE: tuple[Operation, ...] = (
    WRITE,
    READ,
    GET_KEYS,
    DELETE,
    EXISTS,
    HEALTH_CHECK,
    CLEAR_ROLE_DATA,
    WRITE_MANY,
    READ_MANY,
    WRITE_ASYNC,
    READ_ASYNC,
    FLUSH,
    PUBLISH,
    READ_EVENTS,
    SEND,
    RECEIVE,
    ACK,
    DEAD_LETTERS,
    REPLAY_DEAD_LETTERS,
    SEND_ASYNC,
)

#: the rows by the name of their tool
_BY_TOOL = {op.tool: op for op in TABLE}


def commands() -> frozenset[str]:
    """Every Redis command some operation of the table sends.

    >>> {"get", "set", "scan"} <= commands()
    True
    """
    return frozenset().union(*(op.commands for op in TABLE))


# --- the call wrappers -----------------------------------------------------------------------


class _ReadingFrom:
    """The store as a ``from_role`` read's result sees it: the caller's role, the owner's keys
    (``prefixed_key`` names the key that was read)."""

    __slots__ = ("from_role", "role", "scope")

    def __init__(self, store: Store, owner: Any) -> None:
        self.role = store.role
        self.scope = store.scope
        self.from_role = owner

    def full_key(self, key: str) -> str:
        return ops.reading(self.scope, self.from_role).keyspace.full_key(key)


def _seen_as(op: Operation, store: Any, kwargs: Mapping[str, Any]) -> Any:
    owner = kwargs.get("from_role") if op.reads_from else None
    return store if owner is None or store is None else _ReadingFrom(store, owner)


def _finished(op: Operation, result: Result, store: Any, kwargs: Mapping[str, Any]) -> Result:
    """The result as the caller gets it: with ``role`` and ``from_role`` for a read from another
    role (absent when ``from_role`` is not given), then the row's ``finish``."""
    if op.reads_from and kwargs.get("from_role") is not None:
        result["from_role"] = kwargs["from_role"]
        if store is not None:
            result.setdefault("role", store.role)
    return result if op.finish is None else op.finish(result)


def _failed(
    op: Operation, exc: Exception, store: Store | None, args: Args, started: float
) -> Result:
    """The failure result for ``exc`` (with the call's context), logged without values."""
    context = op.failure_context(args)
    key = context.get("key") if op.subject == "key" else None
    if store is not None:
        context["role"] = store.role
        if key is not None:
            with contextlib.suppress(RoleRedisError):
                context["prefixed_key"] = store.full_key(key)
    result = results.failure(exc, **context)
    code = result["error_code"]
    elapsed = time.perf_counter() - started
    metrics.record(op.name, context.get("role"), elapsed, code)
    log.log(
        _LEVEL_OF_RETURNED_FAILURES,
        "%s failed (%s) role=%s key=%.200r after %.2f ms: %s",
        op.name,
        code,
        context.get("role"),
        key,
        elapsed * 1e3,
        result["error"],
    )
    return result


def _succeeded(op: Operation, store: Store, args: Args, started: float) -> None:
    elapsed = time.perf_counter() - started
    metrics.record(op.name, store.role, elapsed)
    if log.isEnabledFor(logging.DEBUG):
        key = args[0] if op.subject == "key" else None
        log.debug("%s ok role=%s key=%.200r in %.2f ms", op.name, store.role, key, elapsed * 1e3)


def call(
    op: Operation,
    store_for: Callable[[str | None], RoleStore],
    role: str | None,
    args: Args = (),
    kwargs: Mapping[str, Any] = NO_KWARGS,
) -> Result:
    """Run ``op`` on the store ``store_for(role)`` gives; never raises.

    ``store_for`` resolves the role and finds the store (the sync face's hooks live there).
    """
    started = time.perf_counter()
    store: RoleStore | None = None
    try:
        if op.warns_default_role:
            store = store_for(role)
        else:
            with roles.without_default_warning():
                store = store_for(role)
        if op.run is not None:
            outcome = op.run(store, args, kwargs)
        else:
            outcome = getattr(store, op.method)(*args, **kwargs)  # type: ignore[arg-type]
            if op.reports_pool:
                outcome = (outcome, store.pool_usage(), deployment_report(store.settings))
        # most rows read no other role's keys and finish nothing: no call for that (a
        # fire-and-forget call pays each one)
        seen = _seen_as(op, store, kwargs) if op.reads_from else store
        result = op.build(outcome, seen, args)
    except Exception as exc:
        result = _failed(op, exc, _seen_as(op, store, kwargs), args, started)
    else:
        _succeeded(op, store, args, started)
    if op.reads_from or op.finish is not None:
        return _finished(op, result, store, kwargs)
    return result


# role -> its AsyncRoleStore (it holds no loop state, so one serves every loop)
_async_stores: dict[str, AsyncRoleStore] = {}
runtime.on_reset(lambda forked: _async_stores.clear())

#: Frames between roles.current() and the caller of an aio function: call_async, the function.
_ASYNC_CALLER = 2


def async_store(role: str | None, *, skip: int = 0) -> AsyncRoleStore:
    """The calling role's AsyncRoleStore (cached per role); the role is resolved now, ``skip``
    frames above the caller's being the library's own."""
    settings = runtime.enabled_settings()
    name = roles.current(role, settings, skip=skip + 1)
    store = _async_stores.get(name)
    if store is None or store.settings is not settings:
        store = _async_stores[name] = AsyncRoleStore(name, settings=settings)
    return store


def call_async(
    op: Operation,
    role: str | None,
    args: Args = (),
    kwargs: Mapping[str, Any] = NO_KWARGS,
) -> Coroutine[Any, Any, Result]:
    """Resolve the role now, in the caller's frame (a coroutine may run later, in a task, where
    the caller's frame is gone); return the coroutine that does the rest and never raises."""
    started = time.perf_counter()
    try:
        if op.warns_default_role:
            store = async_store(role, skip=_ASYNC_CALLER)
        else:
            with roles.without_default_warning():
                store = async_store(role, skip=_ASYNC_CALLER)
    except Exception as exc:
        return _ready(op, _failed(op, exc, None, args, started), kwargs)
    return _run_async(op, store, args, kwargs, started)


async def _ready(op: Operation, result: Result, kwargs: Mapping[str, Any]) -> Result:
    return _finished(op, result, None, kwargs)


async def _run_async(
    op: Operation, store: AsyncRoleStore, args: Args, kwargs: Mapping[str, Any], started: float
) -> Result:
    try:
        outcome = await getattr(store, op.method)(*args, **kwargs)  # type: ignore[arg-type]
        if op.reports_pool:
            deployment = await asyncio.to_thread(deployment_report, store.settings)
            outcome = (outcome, await store.pool_usage(), deployment)
        # most rows read no other role's keys and finish nothing: no call for that (a
        # fire-and-forget call pays each one)
        seen = _seen_as(op, store, kwargs) if op.reads_from else store
        result = op.build(outcome, seen, args)
    except Exception as exc:
        result = _failed(op, exc, _seen_as(op, store, kwargs), args, started)
    else:
        _succeeded(op, store, args, started)
    if op.reads_from or op.finish is not None:
        return _finished(op, result, store, kwargs)
    return result


def bind_async(
    op: Operation, like: Callable[P, Result], module: str
) -> Callable[P, Coroutine[Any, Any, Result]]:
    """The awaitable twin of the sync tool ``like``, for ``module``: the same parameters (names,
    kinds, defaults, annotations), running ``op`` with :func:`call_async`. A plain function that
    returns the coroutine (the role is resolved when it is called), marked as a coroutine
    function on Python 3.12 and later.

    Generated from ``like``'s signature (as dataclasses generates ``__init__``), so argument
    errors are raised as for any function and the call costs no argument binding. Made once per
    row, tool and module: the agent tools call the very functions :mod:`roleredis.aio` offers.
    """
    known = _twins.get((op.name, like, module))
    if known is not None:
        return known  # type: ignore[no-any-return]
    signature = inspect.signature(like)
    positional: list[str] = []
    keyword: list[str] = []
    declared: list[str] = []
    defaults: dict[str, Any] = {}
    star_seen = False
    for parameter in signature.parameters.values():
        name = parameter.name
        if parameter.kind is parameter.KEYWORD_ONLY and not star_seen:
            declared.append("*")
            star_seen = True
        elif parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(f"{like.__name__}: parameter {name} is not supported")
        if parameter.default is parameter.empty:
            declared.append(name)
        else:
            defaults[f"_default_{name}"] = parameter.default
            declared.append(f"{name}=_default_{name}")
        if name != "role":
            (keyword if parameter.kind is parameter.KEYWORD_ONLY else positional).append(name)
    if op.has_role and "role" not in signature.parameters:
        raise TypeError(f"{like.__name__} has no role parameter")
    packed_args = "".join(f"{name}, " for name in positional)
    packed_kwargs = ", ".join(f"{name!r}: {name}" for name in keyword)
    source = (
        f"def {like.__name__}({', '.join(declared)}):\n"
        f"    return _call(_op, role, ({packed_args}), {{{packed_kwargs}}})\n"
    )
    namespace: dict[str, Any] = {"_call": call_async, "_op": op, **defaults}
    exec(compile(source, f"<roleredis.table.face: aio {like.__name__}>", "exec"), namespace)
    function: Any = namespace[like.__name__]
    function.__module__ = module
    function.__doc__ = f"Awaitable :func:`roleredis.tools.{like.__name__}`."
    function.__annotations__ = {
        **like.__annotations__,
        "return": "Coroutine[Any, Any, Result]",
    }
    if hasattr(inspect, "markcoroutinefunction"):  # Python >= 3.12
        inspect.markcoroutinefunction(function)
    _twins[(op.name, like, module)] = function
    return function  # type: ignore[no-any-return]


#: the awaitable twins made so far, by row name, sync tool and module
_twins: dict[tuple[str, Callable[..., Result], str], Any] = {}


def awaitable_twin(tool: Callable[..., Result]) -> Callable[..., Any] | None:
    """What :mod:`roleredis.aio` offers for the sync tool ``tool``: its awaitable twin, or the
    tool itself for a row that runs no store method (fire and forget); None for a function
    that is no row's tool."""
    op = _BY_TOOL.get(tool.__name__)
    if op is None:
        return None
    if op.method is None:
        return tool
    return bind_async(op, tool, "roleredis.aio")
