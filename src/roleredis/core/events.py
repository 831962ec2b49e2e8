"""Events: each role's durable, replayable log per topic, which every role may read.

A role publishes to its own stream for a topic, ``__roleredis__:{<role>}:events:<topic>``
(:meth:`~roleredis.foundation.keys.Keyspace.event_stream`): only that role's ACL user may write
it, so who
published an event is told by the key it is in, never by a field of it. Every role's user may
read every role's streams (``acl provision --no-events`` withholds that). A stream keeps the
last ``messaging.max_events`` events of its topic (exactly: XADD ``MAXLEN =``, the oldest go
first).

The operations are I/O-free generators, like those of :mod:`roleredis.core.ops`, run by the same
runners (sync, async). A read that waits (``block_ms``) is yielded as an
:class:`~roleredis.core.ops.Batch` with that ``wait``: the runners extend the read timeout by it and
keep waiting reads from holding more than half of the connection pool.

>>> scope = Scope(Keyspace("weather"))
>>> op = publish(scope, "alerts", {"level": 2})
>>> next(op)
[('xadd', ('__roleredis__:{weather}:events:alerts', 'MAXLEN', 10000, '*', 'event', b'{"level":2}'))]
>>> try:
...     op.send([b"1700000000000-0"])
... except StopIteration as done:
...     done.value.id
'1700000000000-0'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from ..foundation.errors import (
    ConnectionFailedError,
    InvalidArgumentError,
    OverloadedError,
    SerializationError,
    TimeoutError,
)
from ..foundation.keys import Keyspace, validate_role
from ..foundation.tracecontext import OUTGOING
from ..foundation.tracecontext import parse as parse_trace
from .ops import Batch, Call, Op, Scope

__all__ = [
    "FIELD",
    "FOLLOW_COUNT",
    "FOLLOW_WAIT_MS",
    "PASSING",
    "Event",
    "EventBatch",
    "Published",
    "publish",
    "read_events",
    "validate_after",
    "validate_follow",
]

#: The one field of a stream entry: the event, as the codec stores values (JSON text or the
#: bytes envelope), so other clients can read it with XRANGE.
FIELD = "event"
_ID = re.compile(r"(\d{1,20})(?:-(\d{1,20}))?")
_ID_MAX = 2**64 - 1

#: How long each read of a follower waits for new events (it returns as soon as one comes):
#: the longest a follower holds one of the pool's places for waiting at a time.
FOLLOW_WAIT_MS = 5000
#: The most events a follower reads in one round trip.
FOLLOW_COUNT = 100
#: Failures a follower waits out and tries again (from where it was): the server unreachable,
#: slow, or every connection in use. Anything else (permission, a bad argument) will not pass.
PASSING = (ConnectionFailedError, TimeoutError, OverloadedError)


@dataclasses.dataclass(frozen=True, slots=True)
class Published:
    """An event appended to its topic: ``id`` is its stream id (``<ms>-<seq>``)."""

    topic: str
    id: str
    stream: str


@dataclasses.dataclass(frozen=True, slots=True)
class Event:
    """One event as read: ``sender`` is the role whose stream it is in (the publisher), ``at``
    the server's time of publishing (seconds since the epoch, from the id). ``error``: why
    the entry is not an event roleredis can read (written by the publisher's own commands or
    another client: no ``event`` field, a value that does not decode); ``value`` is None then.
    A read never fails for such an entry: it is given with the others, and read past.
    ``trace``: the publisher's W3C trace context (a carrier dict, checked and bounded), None
    if the entry carries none or a malformed one."""

    id: str
    sender: str
    topic: str
    value: Any
    at: float
    error: str | None = None
    trace: dict[str, str] | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EventBatch:
    """What a read returned, oldest first, and ``last_id``: the id to read after next time."""

    sender: str
    topic: str
    events: list[Event]
    last_id: str


def validate_after(after: Any) -> str:
    """Return ``after`` if it is where a read may start: ``"0"`` (the oldest event kept),
    ``"$"`` (only events published from now on) or a stream id (``<ms>`` or ``<ms>-<seq>``,
    as ``id`` and ``last_id`` give them); else raise :class:`InvalidArgumentError`.

    >>> validate_after("1700000000000-3"), validate_after("$")
    ('1700000000000-3', '$')
    """
    if isinstance(after, str):
        if after == "$":
            return after
        match = _ID.fullmatch(after)
        if match is not None and all(int(p or 0) <= _ID_MAX for p in match.groups()):
            return after
    raise InvalidArgumentError(
        f"after must be '0', '$' or a stream id such as '1700000000000-0' (an event's id, or "
        f"the last_id of a read), got {after!r:.80}"
    )


def validate_follow(from_role: Any, topic: Any, after: Any) -> str:
    """Check what a follower is given, before it reads anything; return the stream it reads.

    >>> validate_follow("weather", "alerts", "$")
    '__roleredis__:{weather}:events:alerts'
    """
    stream = Keyspace(validate_role(from_role)).event_stream(topic)
    validate_after(after)
    return stream


def _whole(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidArgumentError(f"{name} must be a whole number >= {minimum}, got {value!r:.80}")
    return value


def _text(reply: Any) -> str:
    return reply.decode("ascii") if isinstance(reply, bytes) else str(reply)


def _encode(scope: Scope, value: Any, stream: str) -> bytes:
    """The stored bytes of an event: as a value is stored (exact JSON, the bytes envelope,
    compressed above the threshold), never sealed: an event is for every role to read. At most
    ``messaging.max_message_bytes`` (and ``serialization.max_value_bytes``) stored."""
    try:
        data = scope.codec.encode(value, stream, False)
    except SerializationError as exc:
        what = str(exc).removeprefix("value")  # "value['a']: ..." names a part of the event
        raise SerializationError(f"the event cannot be stored exactly: event{what}") from None
    limit = min(scope.messaging.max_message_bytes, scope.max_value_bytes)
    if len(data) > limit:
        setting = (
            "messaging.max_message_bytes"
            if limit == scope.messaging.max_message_bytes
            else "serialization.max_value_bytes"
        )
        raise InvalidArgumentError(
            f"the event is {len(data)} bytes stored, over {setting} ({limit}); publish a "
            "smaller event (a key to read, say) or raise the setting"
        )
    return data


def publish(scope: Scope, topic: str, event: Any) -> Op[Published]:
    """Append ``event`` to the role's stream for ``topic``; the oldest events beyond
    ``messaging.max_events`` are dropped in the same command."""
    stream = scope.keyspace.event_stream(topic)
    data = _encode(scope, event, stream)
    limit = scope.messaging.max_events
    context = OUTGOING.get()
    fields = (FIELD, data) if context is None else (FIELD, data, "c", context)
    (reply,) = yield [("xadd", (stream, "MAXLEN", limit, "*", *fields))]
    return Published(topic, _text(reply), stream)


def _read_call(stream: str, after: str, count: int, block_ms: int) -> Call:
    wait = ("BLOCK", block_ms) if block_ms else ()
    return ("xread", ("COUNT", count, *wait, "STREAMS", stream, after))


def read_events(
    scope: Scope,
    from_role: str,
    topic: str,
    *,
    after: str = "0",
    count: int = 100,
    block_ms: int = 0,
) -> Op[EventBatch]:
    """Up to ``count`` events of ``from_role``'s ``topic`` published after ``after``, oldest
    first. ``block_ms`` > 0: if there is none yet, wait up to that long for one.

    ``after="$"`` is resolved once, to the id of the last event there is now (one more round
    trip), and the read goes on from that id: ``last_id`` is then a real id, so reading again
    after it misses nothing published in between.
    """
    sender = validate_role(from_role)
    stream = Keyspace(sender).event_stream(topic)
    after = validate_after(after)
    count = _whole("count", count, 1)
    block_ms = _whole("block_ms", block_ms, 0)
    if after == "$":
        (newest,) = yield [("xrevrange", (stream, "+", "-", "COUNT", 1))]
        after = _text(newest[0][0]) if newest else "0-0"
        if not block_ms:  # nothing can come after the newest without waiting
            return EventBatch(sender, topic, [], after)
    read = _read_call(stream, after, count, block_ms)
    (reply,) = yield Batch([read], wait=block_ms / 1000) if block_ms else [read]
    entries = reply[0][1] if reply else []
    events = [_event(scope, sender, topic, stream, entry) for entry in entries]
    return EventBatch(sender, topic, events, events[-1].id if events else after)


def _event(scope: Scope, sender: str, topic: str, stream: str, entry: Any) -> Event:
    raw_id, fields = entry
    event_id = _text(raw_id)
    millis = int(event_id.partition("-")[0])
    data = _field(fields)
    if data is None:
        error = (
            f"event {event_id} of {stream!r} has no {FIELD!r} field (written by another client?)"
        )
        return Event(event_id, sender, topic, None, millis / 1000, error)
    if isinstance(data, str):  # a client made with decode_responses=True
        data = data.encode("utf-8")
    trace = parse_trace(_field(fields, "c")) if len(fields) > 1 else None
    try:
        value = scope.codec.decode(data, stream)
    except SerializationError as exc:
        return Event(
            event_id, sender, topic, None, millis / 1000, f"event {event_id}: {exc}", trace
        )
    return Event(event_id, sender, topic, value, millis / 1000, None, trace)


def _field(fields: Any, name: str = FIELD) -> Any:
    if isinstance(fields, Mapping):
        found = fields.get(name.encode())
        return found if found is not None else fields.get(name)
    return None
