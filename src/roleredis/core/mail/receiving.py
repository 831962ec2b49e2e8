"""Receiving: :func:`receive` (mail held from an earlier receive, discovery of senders, idle
mail claimed again with XAUTOCLAIM, new mail with XREADGROUP, blocking in slices), the checks
of an entry's fields (what is not mail goes to the dead letters), this process's consumer
name: see the package's doc, **Receive**.
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import uuid
from typing import Any

from ...foundation.errors import RoleRedisError, SerializationError
from ...foundation.keys import Keyspace
from ...foundation.tracecontext import parse as parse_trace
from .. import ops
from ..codec import json_size
from .common import (
    DISCOVERY_EVERY,
    GROUP,
    MAX_COUNT,
    MSG_ID_MAX,
    SLICE,
    Mailbox,
    Message,
    entry_order,
    mailbox,
    to_text,
    whole_number,
)
from .dead import bury
from .deadlines import REQUEST_ID, deadline_ms, drop_expired, request_deadline
from .discovery import discover
from .housekeeping import take_trims

__all__ = ["DELIVERED_KEPT", "Received", "consumer_name", "receive"]


class Received(list[Message]):
    """The messages a receive returns; ``cut``: how many more it would have returned but held
    back for the next receive (in this process), because they did not fit in ``max_bytes``."""

    cut: int = 0


# (pid, name): made again in a forked child. No lock (none to reset after a fork): two
# threads racing on the first call each make a name, and one of them stays; either is fine.
_consumer: tuple[int, str] | None = None


def consumer_name() -> str:
    """This process's consumer name in every group: ``host:pid:random`` (made again in a
    forked child, whose pid differs)."""
    global _consumer
    pid = os.getpid()
    current = _consumer
    if current is None or current[0] != pid:
        current = _consumer = (pid, f"{socket.gethostname()[:64]}:{pid}:{uuid.uuid4().hex[:8]}")
    return current[1]


def _fields(fields: Any, limit: int) -> tuple[str, float, bytes, int | None] | str:
    """``(msg_id, sent_at, body bytes, timeout ms)`` of an entry's fields (the timeout of a
    request, None for mail), or why it is not mail: no msg_id, sent_at or body, a msg_id or
    sent_at longer than MSG_ID_MAX, a sent_at that is not a finite number, a request whose
    timeout is not 1..DEADLINE_MAX_MS or whose msg_id cannot name a reply key
    (``malformed``), a body over ``limit`` bytes (``oversize``). Other fields are ignored
    (later versions may add some); a trace context (``c``) is read by :func:`_message`."""
    if not isinstance(fields, dict):
        return "malformed"
    msg_id, sent_at, body = fields.get(b"m"), fields.get(b"t"), fields.get(b"b")
    if msg_id is None or sent_at is None or body is None:
        return "malformed"
    if len(msg_id) > MSG_ID_MAX or len(sent_at) > MSG_ID_MAX:
        return "malformed"
    try:
        at = float(sent_at)
    except ValueError:
        return "malformed"
    if not math.isfinite(at):
        return "malformed"
    timeout = None
    if b"d" in fields:
        timeout = deadline_ms(fields[b"d"])
        if timeout is None or REQUEST_ID.fullmatch(to_text(msg_id)) is None:
            return "malformed"
    if len(body) > limit:
        return "oversize"
    return to_text(msg_id), at, body, timeout


def _message(
    scope: ops.Scope, sender: str, entry: str, fields: Any, deliveries: int, channel: str = ""
) -> Message | str:
    """The message, or why it cannot be read (then it goes to the dead letters)."""
    parsed = _fields(fields, scope.messaging.max_message_bytes)
    if isinstance(parsed, str):
        return parsed
    msg_id, sent_at, body, timeout = parsed
    try:
        value = scope.codec.decode(body, channel or scope.keyspace.mail_channel(sender))
    except SerializationError:
        return "undecodable"
    deadline = None if timeout is None else request_deadline(entry, timeout)
    # the sender's trace context: checked and bounded, dropped if malformed (never dead mail)
    trace = parse_trace(fields.get(b"c"))
    return Message(f"{sender}/{entry}", msg_id, sender, value, sent_at, deliveries, deadline, trace)


def _claim(scope: ops.Scope, box: Mailbox, want: int) -> ops.Op[list[Message]]:
    """Claim mail idle for the visibility timeout (XAUTOCLAIM), read its deliveries
    (XPENDING), bury what was delivered max_deliveries times; at most every second."""
    now = box.clock()
    settings = scope.messaging
    every = min(DISCOVERY_EVERY, settings.visibility_timeout / 2)
    if not box.channels or (box.claimed_at is not None and now - box.claimed_at < every):
        return []
    box.claimed_at = now
    consumer = consumer_name()
    idle_ms = max(1, round(settings.visibility_timeout * 1000))
    senders = list(box.channels)
    calls: list[ops.Call] = [
        (
            "xautoclaim",
            (box.channels[s], GROUP, consumer, idle_ms, box.cursors.get(s, "0-0"), "COUNT", want),
        )
        for s in senders
    ]
    try:
        replies = yield calls
    except RoleRedisError as exc:
        if "NOGROUP" not in str(exc):
            raise
        box.forget_channels()  # a channel or its group was deleted: find them again
        return []
    claimed: list[tuple[str, str, Any]] = []
    for sender, reply in zip(senders, replies, strict=True):
        box.cursors[sender] = to_text(reply[0])
        for entry, fields in reply[1] or ():
            if entry is not None:
                claimed.append((sender, to_text(entry), fields))
                _seen(box, sender, to_text(entry))
    if not claimed:
        return []
    pending = yield [("xpending_range", (box.channels[s], GROUP, e, e, 1)) for s, e, _ in claimed]
    got: list[Message] = []
    dead: list[tuple[str, str, Any, int, str]] = []
    for (sender, entry, fields), detail in zip(claimed, pending, strict=True):
        deliveries = int(detail[0][3]) if detail else 1
        if deliveries > settings.max_deliveries:
            dead.append((sender, entry, fields, deliveries - 1, "max_deliveries"))
            continue
        message = _message(scope, sender, entry, fields, deliveries)
        if isinstance(message, str):
            dead.append((sender, entry, fields, deliveries, message))
        else:
            got.append(message)
    if dead:
        yield from bury(scope, dead)
    return got


def _read(scope: ops.Scope, box: Mailbox, want: int, wait: float) -> ops.Op[list[Message]]:
    """New mail (XREADGROUP ``>``) over every channel, waiting up to ``wait`` seconds; with no
    channel yet, just the wait (a blocking XREAD of a key no one writes)."""
    keyspace = scope.keyspace
    wait_ms = max(1, round(wait * 1000)) if wait > 0 else 0
    if wait_ms and box.trims:  # a blocking batch holds its one blocking command only
        yield take_trims(box)
    if not box.channels:
        if wait_ms:
            key = keyspace.internal_key("mail-wait")
            yield ops.Batch([("xread", ("BLOCK", wait_ms, "STREAMS", key, "$"))], wait=wait)
        return []
    senders = list(box.channels)
    box.rotation = (box.rotation + 1) % len(senders)
    senders = senders[box.rotation :] + senders[: box.rotation]  # fair when more than asked
    keys = [box.channels[s] for s in senders]
    per = max(1, want // len(keys))
    block = ("BLOCK", wait_ms) if wait_ms else ()
    args = ("GROUP", GROUP, consumer_name(), "COUNT", per, *block, "STREAMS", *keys)
    call: ops.Call = ("xreadgroup", (*args, *(">",) * len(keys)))
    try:
        if wait_ms:
            (streams,) = yield ops.Batch([call], wait=wait)
        else:
            streams = (yield [*take_trims(box), call])[-1]
    except RoleRedisError as exc:
        if "NOGROUP" not in str(exc):
            raise
        box.forget_channels()  # a channel or its group was deleted: find them again
        return []
    got: list[Message] = []
    dead: list[tuple[str, str, Any, int, str]] = []
    limit = scope.messaging.max_message_bytes
    for stream, entries in streams or ():
        sender = box.senders_of.get(stream if isinstance(stream, bytes) else str(stream).encode())
        if sender is None:
            continue
        newest = None
        channel = box.channels[sender]
        prefix = sender + "/"
        decode = scope.codec.decode
        delivered = box.delivered
        for entry, fields in entries or ():
            if entry is None:
                continue
            newest = entry
            # the common case inline (a receive of 100 pays this 100 times); _message for
            # anything unusual, which it sends to the dead letters with the reason, and for
            # a request (``d``) or mail with a trace context (``c``): more than m, t, b
            if type(fields) is dict and len(fields) == 3:
                msg_id, sent_at, body = fields.get(b"m"), fields.get(b"t"), fields.get(b"b")
                if (
                    msg_id is not None
                    and sent_at is not None
                    and body is not None
                    and len(body) <= limit
                    and len(msg_id) <= MSG_ID_MAX
                    and len(sent_at) <= MSG_ID_MAX
                ):
                    try:
                        at = float(sent_at)
                        if at - at != 0.0:  # inf or nan: not a time
                            raise ValueError(sent_at)
                        value = decode(body, channel)
                    except (SerializationError, ValueError):
                        pass
                    else:
                        text = entry.decode()
                        name = prefix + text
                        mid = msg_id.decode("utf-8", "replace")  # as to_text: never raises
                        got.append(Message(name, mid, sender, value, at, 1))
                        delivered[name] = (channel, sender, text)
                        continue
            message = _message(scope, sender, entry.decode(), fields, 1, channel)
            if isinstance(message, str):
                dead.append((sender, to_text(entry), fields, 1, message))
            else:
                got.append(message)
        if newest is not None:  # entries come in order: the last is the newest
            _seen(box, sender, to_text(newest))
    _bound(box.delivered)
    if dead:
        yield from bury(scope, dead)
    return got


DELIVERED_KEPT = 10_000


def _bound(delivered: dict[str, tuple[str, str, str]]) -> None:
    """Forget the oldest ids handed out beyond DELIVERED_KEPT (never acked, or acked by
    another process): their ack is parsed and checked instead."""
    excess = len(delivered) - DELIVERED_KEPT
    if excess > 0:
        for stale in list(itertools.islice(delivered, excess)):
            del delivered[stale]


def _take_held(box: Mailbox, want: int, limit: float, since: dict[str, float]) -> list[Message]:
    """Messages read beyond what an earlier receive asked for, oldest first; those held
    longer than ``limit`` seconds are dropped (idle by now: they will be claimed again).
    ``since`` gets when each was first held (kept if it is held again)."""
    got: list[Message] = []
    now = box.clock()
    while box.held and len(got) < want:
        at, message = box.held.popleft()
        if now - at < limit:
            got.append(message)
            since[message.id] = at
    return got


def _fitting(messages: list[Message], max_bytes: int) -> int:
    """How many of ``messages``, from the first, fit in ``max_bytes`` as a JSON list's items
    (bytes as base64, items comma-separated); at least one: a message is never cut."""
    size = 0
    for i, message in enumerate(messages):
        size += json_size(message.as_dict()) + (1 if i else 0)
        if size > max_bytes and i:
            return i
    return len(messages)


def _deliver(
    box: Mailbox,
    got: list[Message],
    want: int,
    max_bytes: int | None = None,
    since: dict[str, float] | None = None,
) -> Received:
    """At most ``want`` of ``got``, and no more than fit in ``max_bytes``; the rest are held
    for the next receive (which takes them without a round trip and without counting another
    delivery), first the ones cut for size, each held since it was first held."""
    shown = min(want, len(got))
    fit = shown if max_bytes is None else _fitting(got[:shown], max_bytes)
    out = Received(got[:fit])
    out.cut = shown - fit
    if fit < len(got):
        now = box.clock()
        first = since or {}
        box.held.extendleft((first.get(m.id, now), m) for m in reversed(got[fit:]))
    return out


def receive(
    scope: ops.Scope, count: int = 10, block_ms: int = 0, *, max_bytes: int | None = None
) -> ops.Op[list[Message]]:
    """Up to ``count`` messages from the role's inbox (every sender's channel).

    ``block_ms`` 0 returns at once; more waits up to that long for a first message.
    Each message counts its ``deliveries``; ack it with :func:`ack` by its ``id``.
    ``max_bytes``: return no more messages than fit in that many bytes as JSON (at least
    one); the rest wait in this process for the next receive (:class:`Received` ``cut``).

    A wait goes in slices of at most SLICE (a second), each one blocking XREADGROUP (through
    the runners' gate for waiting reads: a slice that finds no place free within its own
    length is sent without BLOCK, so each slice still takes about its length and never
    spins). The slices are still needed with that gate: XREADGROUP waits only on the channels
    it names, so a sender that announces itself during a long wait is seen only when the
    senders set is read again between slices (a first message from a new sender reaches a
    waiting receiver within about two seconds); mail left idle by a dead process is claimed
    between slices too; and the connection goes back to the pool between them.
    """
    want = whole_number(count, "count", 1, MAX_COUNT)
    block = whole_number(block_ms, "block_ms", 0, 24 * 3600 * 1000)
    limit = None if max_bytes is None else whole_number(max_bytes, "max_bytes", 0, 2**62)
    box = mailbox(scope)
    held_for = scope.messaging.visibility_timeout / 2
    since: dict[str, float] = {}
    got = _take_held(box, want, held_for, since)
    if len(got) < want:
        stepped = yield from discover(scope, box)
        got += yield from _claim(scope, box, want - len(got))
        if len(got) < want:
            got += yield from _read(scope, box, want - len(got), 0.0)
        # nothing: a sender may have announced itself since the set was read (within the
        # second); an empty inbox pays one more round trip to be sure
        if not got and stepped is None and (yield from discover(scope, box, force=True)):
            got += yield from _read(scope, box, want, 0.0)
    got = yield from drop_expired(scope, box, got)
    if got or not block:
        return _handing(scope, box, _deliver(box, got, want, limit, since))
    deadline = box.clock() + block / 1000
    while True:
        remaining = deadline - box.clock()
        if remaining <= 0:
            return Received()
        yield from discover(scope, box)
        got = yield from _claim(scope, box, want)
        if not got:
            got = yield from _read(scope, box, want, min(remaining, SLICE))
        got = yield from drop_expired(scope, box, got)
        if got:
            return _handing(scope, box, _deliver(box, got, want, limit))


def _handing(scope: ops.Scope, box: Mailbox, out: Received) -> Received:
    """``out``, its requests remembered (reply key and deadline) for ``reply``."""
    for message in out:
        if message.deadline is not None:
            requester = Keyspace(message.sender)
            box.requests[message.id] = (
                requester.reply_key(scope.role, message.msg_id),
                message.deadline,
            )
    if len(box.requests) > DELIVERED_KEPT:
        for stale in list(itertools.islice(box.requests, len(box.requests) - DELIVERED_KEPT)):
            del box.requests[stale]
    return out


def _seen(box: Mailbox, sender: str, entry: str) -> None:
    """Remember the newest entry this store received from ``sender`` (see :func:`ack`)."""
    order = entry_order(entry)
    if order > box.newest.get(sender, (-1, -1)):
        box.newest[sender] = order
