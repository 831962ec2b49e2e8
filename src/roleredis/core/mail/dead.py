"""Dead letters: entries moved out of a channel (delivered max_deliveries times, or not mail)
into a stream per sender, at most ``messaging.dead_letters_per_sender`` (:func:`bury`);
listed (:func:`dead_letters`) and put back in the inbox (:func:`replay_dead_letters`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
from collections.abc import Iterable
from typing import Any

from ...foundation.errors import InvalidArgumentError, SerializationError
from ...foundation.keys import Keyspace, validate_role
from .. import ops
from .common import (
    GROUP,
    MAX_COUNT,
    MSG_ID_MAX,
    Message,
    dead_letter_id,
    entry_order,
    id_list,
    to_text,
    whole_number,
)

__all__ = [
    "DeadLetter",
    "Replayed",
    "bury",
    "dead_letters",
    "dead_stream",
    "dead_streams",
    "replay_dead_letters",
]


@dataclasses.dataclass(slots=True)
class DeadLetter(Message):
    """A message delivered ``deliveries`` times without an ack (or one that could not be
    read: ``reason``); ``id`` is its entry in the dead letters (``<sender>/<stream id>``);
    ``size`` the bytes of its body, which is None when it was not kept (``oversize``: only
    its size is)."""

    reason: str = ""
    size: int = 0

    def as_dict(self) -> dict[str, Any]:
        shown = Message.as_dict(self)
        del shown["reply_expected"], shown["deadline"]  # a dead letter is never answered
        return {**shown, "reason": self.reason, "size": self.size}


@dataclasses.dataclass(slots=True)
class Replayed:
    replayed: int
    ids: list[str]


log = logging.getLogger("roleredis.mail")


def dead_stream(keyspace: Keyspace, sender: str) -> str:
    """The stream of the dead letters from ``sender``: ``__roleredis__:{R}:dead:<sender>``."""
    return f"{keyspace.dead_letters()}:{sender}"


def _short(value: Any) -> Any:
    """A msg_id or sent_at as kept in a dead letter: as it was, unless too long to be one."""
    return value if isinstance(value, bytes) and len(value) <= MSG_ID_MAX else b""


def bury(scope: ops.Scope, dead: list[tuple[str, str, Any, int, str]]) -> ops.Op[None]:
    """Move entries to the dead letters: XADD each to its sender's dead letters (at most
    ``messaging.dead_letters_per_sender``: a sender's oldest go first, never another's),
    then XACK and XDEL in its channel those the XADD kept. A body over max_message_bytes is
    not copied: the letter keeps its size. What the bound drops is counted (HINCRBY of the
    sender in ``__roleredis__:{R}:dead-dropped``) and logged. Every call is lenient: an
    entry whose XADD failed stays pending, and is claimed again."""
    keyspace = scope.keyspace
    limit = scope.messaging.max_message_bytes
    share = scope.messaging.dead_letters_per_sender
    per_sender = collections.Counter(sender for sender, *_ in dead)
    calls: list[ops.Call] = [
        ops.lenient("xlen", dead_stream(keyspace, sender)) for sender in per_sender
    ]
    calls.append(ops.lenient("sadd", keyspace.internal_key("dead-senders"), *per_sender))
    for sender, _, fields, deliveries, reason in dead:
        raw = fields if isinstance(fields, dict) else {}
        body = raw.get(b"b")
        size = len(body) if isinstance(body, bytes) else 0
        kept: tuple[Any, ...] = ("b", body) if isinstance(body, bytes) and size <= limit else ()
        calls.append(
            ops.lenient(
                "xadd",
                dead_stream(keyspace, sender),
                "MAXLEN",
                share,
                "*",
                "s",
                sender,
                "m",
                _short(raw.get(b"m")),
                "t",
                _short(raw.get(b"t")),
                "d",
                deliveries,
                "r",
                reason,
                "n",
                size,
                *kept,
            )
        )
    replies = yield calls
    lengths = replies[: len(per_sender)]
    added = replies[len(per_sender) + 1 :]
    calls = []
    for (sender, entry, *_), reply in zip(dead, added, strict=True):
        if not isinstance(reply, Exception):
            channel = keyspace.mail_channel(sender)
            calls += [
                ops.lenient("xack", channel, GROUP, entry),
                ops.lenient("xdel", channel, entry),
            ]
    for sender, length in zip(per_sender, lengths, strict=True):
        dropped = (
            int(length) + per_sender[sender] - share if not isinstance(length, Exception) else 0
        )
        if dropped > 0:
            calls.append(
                ops.lenient("hincrby", keyspace.internal_key("dead-dropped"), sender, dropped)
            )
            log.warning(
                "%d dead letters from %r to %r dropped: over messaging.dead_letters_per_sender "
                "(%d); the oldest went first",
                dropped,
                sender,
                keyspace.role,
                share,
            )
    if calls:
        yield calls


# --- dead letters ----------------------------------------------------------------------------


def _dead_letter(
    scope: ops.Scope, sender: str | None, entry: Any, fields: Any
) -> DeadLetter | None:
    """A dead letter as kept (``sender`` None: one of the single stream of earlier versions,
    its sender in its ``s`` field)."""
    if not isinstance(fields, dict):
        return None
    name = to_text(fields.get(b"s", b"")) if sender is None else sender
    body: Any = None
    data = fields.get(b"b")
    if data is not None:
        try:
            body = scope.codec.decode(data, scope.keyspace.mail_channel(name))
        except (SerializationError, InvalidArgumentError):
            body = None
    try:
        sent_at = float(fields.get(b"t", b"0"))
        deliveries = int(fields.get(b"d", b"0"))
        size = int(fields.get(b"n", len(data) if data is not None else 0))
    except ValueError:
        sent_at, deliveries, size = 0.0, 0, 0
    text = to_text(entry)
    return DeadLetter(
        text if sender is None else f"{sender}/{text}",
        to_text(fields.get(b"m", b"")),
        name,
        body,
        sent_at if math.isfinite(sent_at) else 0.0,
        deliveries,
        reason=to_text(fields.get(b"r", b"")),
        size=size,
    )


def dead_streams(scope: ops.Scope) -> ops.Op[list[tuple[str | None, str]]]:
    """``(sender, stream)`` of every dead-letter stream of the role: the single stream of
    earlier versions (sender None), then one per sender that has had dead letters."""
    keyspace = scope.keyspace
    (members,) = yield [("smembers", (keyspace.internal_key("dead-senders"),))]
    found: list[tuple[str | None, str]] = [(None, keyspace.dead_letters())]
    for member in sorted(to_text(m) for m in members or ()):
        try:
            validate_role(member)
        except InvalidArgumentError:
            continue
        found.append((member, dead_stream(keyspace, member)))
    return found


def _all_dead(scope: ops.Scope, count: int) -> ops.Op[list[tuple[str | None, str, Any, Any]]]:
    """The oldest ``count`` dead letters over every dead-letter stream, oldest first:
    ``(sender, stream, entry, fields)``."""
    streams = yield from dead_streams(scope)
    replies = yield [("xrange", (stream, "-", "+", "COUNT", count)) for _, stream in streams]
    found = [
        (sender, stream, entry, fields)
        for (sender, stream), reply in zip(streams, replies, strict=True)
        for entry, fields in reply or ()
    ]
    # oldest first by the millisecond; within one, a sender's letters together, in order
    found.sort(
        key=lambda d: (entry_order(to_text(d[2]))[0], d[0] or "", entry_order(to_text(d[2]))[1])
    )
    return found[:count]


def dead_letters(scope: ops.Scope, *, count: int = 100) -> ops.Op[list[DeadLetter]]:
    """The role's dead letters, oldest first (at most ``count``)."""
    count = whole_number(count, "count", 1, MAX_COUNT)
    letters = yield from _all_dead(scope, count)
    found = (_dead_letter(scope, sender, entry, fields) for sender, _, entry, fields in letters)
    return [letter for letter in found if letter is not None]


def replay_dead_letters(scope: ops.Scope, ids: Iterable[str] | None = None) -> ops.Op[Replayed]:
    """Put dead letters (all, or those of ``ids``) back in the inbox: each into its sender's
    channel again, with its msg_id, as a new entry (delivered from 1 again, after the mail
    already there), and out of the dead letters. A letter whose body was not kept (over
    max_message_bytes, or none) stays where it is."""
    keyspace = scope.keyspace
    if ids is None:
        entries = yield from _all_dead(scope, MAX_COUNT)
    else:
        wanted = [dead_letter_id(i) for i in id_list(ids, "ids")]
        if not wanted:
            return Replayed(0, [])
        streams = [
            (sender, keyspace.dead_letters() if sender is None else dead_stream(keyspace, sender))
            for sender, _ in wanted
        ]
        replies = yield [
            ("xrange", (stream, entry, entry))
            for (_, stream), (_, entry) in zip(streams, wanted, strict=True)
        ]
        entries = [
            (sender, stream, entry, fields)
            for (sender, stream), reply in zip(streams, replies, strict=True)
            for entry, fields in reply or ()
        ]
    calls: list[ops.Call] = []
    done: list[str] = []
    for sender, stream, entry, fields in entries:
        if not isinstance(fields, dict) or fields.get(b"b") is None:
            continue
        name = to_text(fields.get(b"s", b"")) if sender is None else sender
        try:
            channel = keyspace.mail_channel(name)
        except InvalidArgumentError:
            continue  # not from a role: it stays where it is
        xadd = ("m", fields.get(b"m", b""), "t", fields.get(b"t", b"0"), "b", fields[b"b"])
        calls += [
            ("xadd", (channel, "*", *xadd)),
            ("sadd", (keyspace.mail_senders(), name)),  # after the XADD, as a send
            ("xdel", (stream, entry)),
        ]
        done.append(to_text(entry) if sender is None else f"{sender}/{to_text(entry)}")
    if calls:
        yield calls
    return Replayed(len(done), done)
