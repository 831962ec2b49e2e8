"""Sending: a send checked and encoded (:func:`prepare_send`, which the fire-and-forget writer
uses too), its msg_id (:func:`new_msg_id`), the channel's length (:func:`channel_length`) and
the send itself (:func:`send`): see the package's doc, **Send**.

>>> scope = ops.Scope(Keyspace("alpha"))
>>> op = send(scope, "beta", {"hello": 1})
>>> next(op)  # the channel's length is not known yet: asked first
[('xlen', ('__roleredis__:{beta}:mail:alpha',))]
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import time
from collections.abc import Iterator
from typing import Any

from ...foundation.errors import (
    InvalidArgumentError,
    OutcomeUnknownError,
    OverloadedError,
    SerializationError,
)
from ...foundation.keys import Keyspace, validate_role
from ...foundation.lifecycle import on_reset
from ...foundation.tracecontext import OUTGOING
from .. import ops
from .common import ANNOUNCE_EVERY, DISCOVERY_EVERY, Route, mailbox, to_text

__all__ = [
    "PreparedSend",
    "Sent",
    "channel_length",
    "encode_body",
    "new_msg_id",
    "prepare_send",
    "send",
    "send_prepared",
]


@dataclasses.dataclass(slots=True)
class Sent:
    """A message appended to the recipient's channel: ``id`` is what the recipient acks."""

    to: str
    sender: str
    id: str
    msg_id: str


@dataclasses.dataclass(slots=True)
class PreparedSend:
    """A send checked and encoded in the caller, for the fire-and-forget writer: ``calls``
    (the XADD, then the SADD announce when due: a name is announced once its channel
    exists), and with ``packed`` the XADD also in the
    Redis protocol (the writer sends those bytes as they are to a single server)."""

    calls: list[ops.Call]
    to: str
    sender: str
    msg_id: str
    channel: str
    route: Route
    now: float
    packed: bytes | None = None

    def unsent(self) -> None:
        """The send failed (or may have): the next send to the recipient announces again (an
        announce counts from when it is prepared; SADD is idempotent, so once more is safe)."""
        if len(self.calls) == 2:
            self.route.announced_at = None


# --- sending ---------------------------------------------------------------------------------


def encode_body(scope: ops.Scope, message: Any, key: str, what: str = "message") -> bytes:
    """A message's (or a reply's: ``what``) body as redis_write stores a value (the same
    exactness check and encoding; never sealed: the recipient may not hold the sender's key),
    within max_message_bytes."""
    try:
        data = scope.codec.encode(message, key, encrypt=False)
    except SerializationError as exc:
        raise SerializationError(f"the {what}: {exc}") from None
    limit = scope.messaging.max_message_bytes
    if len(data) > limit:
        raise InvalidArgumentError(
            f"the {what} is {len(data)} bytes encoded, over messaging.max_message_bytes "
            f"({limit}); send a reference to data written with redis_write instead, or raise "
            "the setting"
        )
    return data


def prepare_send(
    scope: ops.Scope,
    to_role: Any,
    message: Any,
    *,
    packed: bool = False,
    timeout_ms: int | None = None,
) -> PreparedSend:
    """Check and encode a send (raises the typed errors) without sending anything: the XADD,
    with a new msg_id, then a SADD to the recipient's senders set when this store has not
    announced itself there for ANNOUNCE_EVERY seconds; ``packed``: the XADD in the Redis
    protocol too (for the writer); ``timeout_ms``: a request's (its ``d`` field, see
    roleredis.core.mail.deadlines; never packed). The trace context of the operation running
    now (``foundation.tracecontext.OUTGOING``), if any, goes in a field ``c`` (never packed)."""
    box = scope.state.get("mail") or mailbox(scope)
    route = box.routes.get(to_role) if type(to_role) is str else None
    if route is None:
        to = validate_role(to_role)
        recipient = Keyspace(to)
        route = box.routes[to] = Route(
            to, recipient.mail_channel(scope.role), recipient.mail_senders()
        )
    channel = route.channel
    data = encode_body(scope, message, channel)
    msg_id = new_msg_id()
    # seconds with 6 decimals, as text without a float's shortest repr (which costs more than
    # the rest of the send's encoding): the clock in microseconds, a dot before the last six
    micros = str(time.time_ns() // 1000)
    sent_at = micros[:-6] + "." + micros[-6:]
    xadd: ops.Call = ("xadd", (channel, "*", "m", msg_id, "t", sent_at, "b", data))
    if timeout_ms is not None:
        xadd = ("xadd", (*xadd[1], "d", timeout_ms))
    context = OUTGOING.get()
    if context is not None:  # the trace this send is part of (see foundation.tracecontext)
        xadd = ("xadd", (*xadd[1], "c", context))
        packed = False  # the packed head is of the three fields only
    now = box.clock()
    announced = route.announced_at
    if announced is None or now - announced >= ANNOUNCE_EVERY:
        route.announced_at = now
        calls: list[ops.Call] = [xadd, ("sadd", (route.senders, scope.role))]
    else:
        calls = [xadd]
    if not packed:
        return PreparedSend(calls, route.to, scope.role, msg_id, channel, route, now)
    # the fields in the protocol up to the body's bytes, as text: one f-string and one join
    # cost less than formatting bytes (the msg_id and the time are ASCII)
    fields = (
        f"{len(msg_id)}\r\n{msg_id}\r\n$1\r\nt\r\n${len(sent_at)}\r\n{sent_at}\r\n"
        f"$1\r\nb\r\n${len(data)}\r\n"
    )
    wire = b"".join((route.head, fields.encode(), data, b"\r\n"))
    return PreparedSend(calls, route.to, scope.role, msg_id, channel, route, now, wire)


# (random prefix, counter): made again in a forked child (and on roleredis.reset()), by the
# reset hook below, rather than by comparing os.getpid() at each id (a system call: a quarter
# of a fire-and-forget send's id). No lock: threads racing on the first call may each make a
# prefix; each id is still unique (a counter per prefix).
_msg_ids: tuple[str, Iterator[int]] | None = None


def _forget_msg_ids(forked: bool) -> None:
    global _msg_ids
    _msg_ids = None


on_reset(_forget_msg_ids)


def new_msg_id() -> str:
    """A new msg_id: 32 hex digits, a random 64-bit prefix per process (made again in a
    forked child) and a 64-bit counter, so unique like a uuid4 without a syscall per message.

    >>> len(new_msg_id()), new_msg_id() != new_msg_id()
    (32, True)
    """
    global _msg_ids
    current = _msg_ids
    if current is None:
        current = _msg_ids = (os.urandom(8).hex(), itertools.count())
    return current[0] + format(next(current[1]), "016x")


def _full(scope: ops.Scope, prepared: PreparedSend, length: int) -> OverloadedError:
    return OverloadedError(
        f"the channel from {prepared.sender!r} to {prepared.to!r} holds {length} "
        f"unacknowledged messages (messaging.max_length {scope.messaging.max_length}); the "
        "message was not sent: wait for the recipient to acknowledge its mail"
    )


def channel_length(scope: ops.Scope, prepared: PreparedSend) -> ops.Op[int]:
    """The channel's unacknowledged messages (XLEN), remembered for the next sends;
    overloaded if it is full."""
    (length,) = yield [("xlen", (prepared.channel,))]
    length = prepared.route.length = int(length)
    if length >= scope.messaging.max_length:
        raise _full(scope, prepared, length)
    return length


def send(scope: ops.Scope, to_role: str, message: Any) -> ops.Op[Sent]:
    """Send ``message`` to ``to_role``'s inbox, once (see the module's doc).

    How full the channel is: asked first when unknown or at the limit; asked with the send
    (XLEN after the XADD) while the channel is at least half full or was last asked over a
    second ago; otherwise counted here (the recipient only empties it).
    """
    prepared = prepare_send(scope, to_role, message)
    try:
        return (yield from send_prepared(scope, prepared))
    except BaseException:
        prepared.unsent()
        raise


def send_prepared(
    scope: ops.Scope, prepared: PreparedSend, before: list[ops.Call] | None = None
) -> ops.Op[Sent]:
    """Send what :func:`prepare_send` made (see :func:`send`); ``before``: calls sent first,
    in the send's round trip (on one connection: in order; their replies are not looked at,
    an error among them fails the send)."""
    route = prepared.route
    to = route.to
    limit = scope.messaging.max_length
    known = route.length
    if known is None or known >= limit:
        known = yield from channel_length(scope, prepared)
        route.checked_at = mailbox(scope).clock()
    now = prepared.now
    checked = route.checked_at
    ask = known >= limit // 2 or checked is None or now - checked >= DISCOVERY_EVERY
    calls = [*prepared.calls, ("xlen", (prepared.channel,))] if ask else prepared.calls
    first = 0
    if before:
        calls = [*before, *calls]
        first = len(before)
    try:
        replies = yield ops.Batch(calls, repeatable=False)
    except OutcomeUnknownError as exc:
        raise OutcomeUnknownError(
            f"the send of message {prepared.msg_id} to {to!r}: {exc}; if it arrived, the "
            "recipient sees this msg_id (send again with care: the copy has a new msg_id)",
            msg_id=prepared.msg_id,
            to=to,
        ) from None
    if ask:
        route.length = int(replies.pop())
        route.checked_at = now
    else:
        route.length = known + 1
    entry = to_text(replies[first])
    return Sent(to, prepared.sender, f"{prepared.sender}/{entry}", prepared.msg_id)
