"""The operation table that every face binds: one :class:`~roleredis.table.operation.Operation`
row per public operation (:data:`TABLE`), and :func:`commands`, every Redis command they send.

:mod:`roleredis.tools` binds the table to plain functions, :mod:`roleredis.aio` to awaitable ones
(both through :mod:`roleredis.table.calls`), :mod:`roleredis.admin.acl` takes its command list
from it, and agent tool schemas take their descriptions from it.

>>> WRITE.tool, sorted(WRITE.commands)
('redis_write', ['set', 'wait'])
>>> [op.name for op in TABLE][:3]
['write', 'read', 'get_keys']
"""

from __future__ import annotations

from ..core import budgets, events, leases, mail, ops, results
from ..core.mail import touching
from .budgeting import after_report, after_take, given_back, reported, taken
from .health import health_result, with_breaker
from .operation import Args, Operation, Result, Store
from .queueing import queue_read, queue_send, queue_write

__all__ = [
    "ACK",
    "ACQUIRE",
    "BY_TOOL",
    "CLEAR_ROLE_DATA",
    "DEAD_LETTERS",
    "DELETE",
    "EXISTS",
    "FLUSH",
    "GET_KEYS",
    "GIVE_BACK",
    "HEALTH_CHECK",
    "PUBLISH",
    "READ",
    "READ_ASYNC",
    "READ_EVENTS",
    "READ_MANY",
    "RECEIVE",
    "RELEASE",
    "RENEW",
    "REPLAY_DEAD_LETTERS",
    "REPLY",
    "REPORT",
    "REQUEST",
    "SEND",
    "SEND_ASYNC",
    "TABLE",
    "TAKE",
    "TOUCH",
    "WRITE",
    "WRITE_ASYNC",
    "WRITE_MANY",
    "commands",
]


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
    frozenset({"get", "getex", "ttl"}),
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
    health_result,
    "health",
    ops.health,
    fallback={"connected": False},
    finish=with_breaker,
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
    frozenset({"set", "mset", "wait"}),
    lambda w, s, a: results.written_many(w, s.role),
    "write_many",
    ops.write_many,
    fallback={"written": 0},
    many_keys=True,
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
    many_keys=True,
)
WRITE_ASYNC = Operation(
    "write_async",
    "Queue a write and return at once (fire and forget); checked and encoded now.",
    frozenset({"set", "mset"}),
    _as_is,
    factory=ops.prepare_write,
    subject="key",
    run=queue_write,
)
READ_ASYNC = Operation(
    "read_async",
    "Queue a read behind the queued writes; a callback gets the result.",
    frozenset({"get", "ttl"}),
    _as_is,
    factory=ops.read,
    subject="key",
    run=queue_read,
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
    run=queue_send,
)
REQUEST = Operation(
    "request",
    "Send a request to another role's inbox and wait for its reply (the server vouches who "
    "answered).",
    frozenset({"xadd", "pexpire", "unlink", "xlen", "sadd", "xread"}),
    lambda a, s, args: results.answer(a, s.role),
    "request",
    mail.request,
    subject="to",
    fallback={"reply": None},
)
REPLY = Operation(
    "reply",
    "Answer a request received (a value, or an error text) and acknowledge it, in one round trip.",
    frozenset({"xadd", "xack", "xdel", "xtrim", "xpending", "xlen", "xrange"}),
    lambda a, s, args: results.replied(a, s.role),
    "reply",
    mail.reply,
    subject="id",
)
TOUCH = Operation(
    "touch",
    "Restart the visibility timeout of received messages (a long handler keeps them).",
    frozenset({"xclaim"}),
    lambda t, s, a: results.touched(t, s.role),
    "touch",
    touching.touch,
    fallback={"touched": 0, "ids": [], "missing": []},
)

#: What the lease functions run inside (the server checks the caller's ACL for each, on the
#: role's own keys): granted with FCALL, never EVAL, nor FUNCTION LOAD (an administrator's).
_LEASE_INSIDE = frozenset({"get", "set", "pttl", "hincrby", "del"})
ACQUIRE = Operation(
    "acquire",
    "Take the role's lease of a name for ttl seconds: its token and fence (held: wait or fail).",
    frozenset({"fcall", "wait"}) | _LEASE_INSIDE,
    lambda g, s, a: results.granted(g, s.role),
    "acquire",
    leases.acquire,
    subject="name",
)
RENEW = Operation(
    "renew",
    "Extend the role's lease held with a token to ttl seconds from now.",
    frozenset({"fcall", "wait"}) | _LEASE_INSIDE,
    lambda r, s, a: results.renewed(r, s.role),
    "renew",
    leases.renew,
    subject="name",
)
RELEASE = Operation(
    "release",
    "Give up the role's lease held with a token (a lease taken since is left alone).",
    frozenset({"fcall"}) | _LEASE_INSIDE,
    lambda r, s, a: results.released(r, s.role),
    "release",
    leases.release,
    subject="name",
)

#: What the budget functions run inside (on the budget's keys; the definition read, never
#: written; HSET and HINCRBY on the sums only): granted with FCALL. TIME: the server's clock,
#: the only one every process shares. HGETALL: the definition read by ``status``.
_BUDGET_INSIDE = frozenset(
    {"time", "hgetall", "hmget", "hset", "hincrby", "pexpire"}
    | {"zadd", "zrem", "zscore", "zcard", "zcount", "zrange", "zrangebyscore", "zremrangebyscore"}
)
TAKE = Operation(
    "take",
    "Draw a request and estimated tokens on a shared budget, waiting up to timeout for room.",
    frozenset({"fcall"}) | _BUDGET_INSIDE,
    lambda t, s, a: taken(t, s.role),
    "take",
    budgets.take,
    subject="budget",
    finish=after_take,
)
REPORT = Operation(
    "report",
    "Report the actual tokens of a take: less lowers it, more is charged as debt.",
    frozenset({"fcall"}) | _BUDGET_INSIDE,
    lambda r, s, a: reported(r, s.role),
    "report",
    budgets.report,
    subject="budget",
    finish=after_report,
)
GIVE_BACK = Operation(
    "give_back",
    "Give back a budget's concurrency place that a take returned.",
    frozenset({"fcall"}) | _BUDGET_INSIDE,
    lambda g, s, a: given_back(g, s.role),
    "give_back",
    budgets.give_back,
    subject="budget",
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
    REQUEST,
    REPLY,
    TOUCH,
    ACQUIRE,
    RENEW,
    RELEASE,
    TAKE,
    REPORT,
    GIVE_BACK,
)

#: the rows by the name of their tool
BY_TOOL = {op.tool: op for op in TABLE}


def commands() -> frozenset[str]:
    """Every Redis command some operation of the table sends.

    >>> {"get", "set", "scan"} <= commands()
    True
    """
    return frozenset().union(*(op.commands for op in TABLE))
