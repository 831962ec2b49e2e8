"""Mailboxes between roles on Redis Streams, as I/O-free operation generators.

Mail from ``S`` to ``R`` is the stream ``Keyspace(R).mail_channel(S)``
(``__roleredis__:{R}:mail:S``): the sender is known from the key, which only S's ACL user may
append to (see :mod:`roleredis.admin.acl`), never from a field. S adds its name to R's set of
senders
(``__roleredis__:{R}:senders``) so R finds the channel without scanning the keyspace.

- **Send**: ``XADD channel * m <msg_id> t <sent_at> b <body>`` in one round trip, before a
  ``SADD senders S`` (at most every ANNOUNCE_EVERY seconds per recipient: a name is
  announced only once its channel exists) and an ``XLEN channel`` (while the channel is at
  least half full, or last asked over a second ago), marked not repeatable
  (:class:`~roleredis.core.ops.Batch`): a reply lost after the batch was written is
  ``unknown_outcome`` with the ``msg_id``, never sent again blindly. When the channel's
  length is unknown or at ``messaging.max_length``, XLEN is asked first and a full channel
  refuses the send (``overloaded``).
- **Receive**: one consumer group (``inbox``) per channel, made by the recipient (XGROUP
  CREATE ... 0, never MKSTREAM) when it finds the sender in its set. Any role may add any
  name to that set, so a receive reads at most ``messaging.senders_per_receive`` names of it
  (SSCAN, a pass over the set at least every second), checks them all in one round trip (the
  XGROUP CREATE fails for a name without a channel) and removes those without a channel (see
  :func:`_discover`); one consumer name per process (``host:pid:random``). Unacknowledged
  mail idle for ``messaging.visibility_timeout`` is claimed again (XAUTOCLAIM), its
  deliveries read from XPENDING; past ``messaging.max_deliveries`` it moves to the dead
  letters (a stream per sender, ``__roleredis__:{R}:dead:S``, at most
  ``messaging.dead_letters_per_sender``). Then XREADGROUP ``>`` over every channel (new
  mail: delivery 1). The sender's own ACL user may write anything into its channel (XADD is
  all a channel needs), so what the sending library checks is checked again here: an entry
  without a msg_id, a finite sent_at and a body, or with a body over
  ``messaging.max_message_bytes``, is never mail (a dead letter with its reason); fields
  roleredis does not know are ignored.
  A blocking receive waits in slices of at most a second, each a round trip on a pooled
  connection with the read timeout extended by the slice, and notices new senders between
  them; the runners let at most half the pool's connections wait at once, so waiting
  receivers never starve other calls.
- **Ack**: XACK (with XPENDING, XLEN and the server's clock) in one round trip; the channel
  is then trimmed (XTRIM MINID) up to its oldest unacknowledged entry with this store's next
  batch, or at once when it is nearly full or the MINID is of the ack's own millisecond (a
  channel made again could reuse its ids): only acknowledged mail is removed, so a channel's
  length is its unacknowledged mail plus what the recipient acknowledged since its last call.
  Housekeeping (trims, deletions, dead letters) goes as :func:`~roleredis.core.ops.lenient`
  calls: an error reply to it never fails a read or an ack the server carried out.

>>> scope = ops.Scope(Keyspace("alpha"))
>>> op = send(scope, "beta", {"hello": 1})
>>> next(op)  # the channel's length is not known yet: asked first
[('xlen', ('__roleredis__:{beta}:mail:alpha',))]
>>> parse_id("alpha/1700000000000-0")
('alpha', '1700000000000-0')
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ..foundation.errors import (
    InvalidArgumentError,
    OutcomeUnknownError,
    OverloadedError,
    PermissionDeniedError,
    RoleRedisError,
    SerializationError,
)
from ..foundation.keys import Keyspace, validate_role
from . import ops
from .codec import json_size

__all__ = [
    "GROUP",
    "Acked",
    "ChannelStatus",
    "DeadLetter",
    "Mailbox",
    "Message",
    "PreparedSend",
    "Received",
    "Replayed",
    "Sent",
    "ack",
    "dead_letters",
    "mailbox",
    "parse_id",
    "prepare_send",
    "receive",
    "replay_dead_letters",
    "send",
    "status",
]

#: The consumer group of every channel: the recipient role's processes share it.
GROUP = "inbox"
#: The longest a blocking read waits on the server in one round trip (seconds): between
#: slices the connection goes back to the pool and the senders set is read again.
SLICE = 1.0
#: How often (seconds) a pass over the senders set starts (at once after one that met names
#: without a channel; see _discover), and idle mail is claimed, at most.
DISCOVERY_EVERY = 1.0
#: How often (seconds) a sender adds its name to a recipient's senders set again, at most (a
#: set that was deleted is filled again within this time).
ANNOUNCE_EVERY = 5.0
#: The most messages one receive returns, and one dead-letter listing.
MAX_COUNT = 10_000
_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
#: The largest part of a stream id (``<ms>-<seq>``: both are 64-bit).
ID_MAX = 2**64 - 1
#: The longest msg_id (and sent_at text) an entry may carry to be mail; roleredis's are 32.
MSG_ID_MAX = 128
log = logging.getLogger("roleredis.mail")


# --- outcomes ---------------------------------------------------------------------------------


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


class Route:
    """What a store knows of one recipient: its name, the channel to it and its senders set,
    when this store last announced itself there, the channel's length as last counted and
    when it was last asked (XLEN), and the start of the channel's XADD in the Redis protocol
    (up to the msg_id: the same for every message)."""

    __slots__ = ("announced_at", "channel", "checked_at", "head", "length", "senders", "to")

    def __init__(self, to: str, channel: str, senders: str) -> None:
        self.to = to
        self.channel = channel
        self.senders = senders
        self.announced_at: float | None = None
        self.length: int | None = None
        self.checked_at: float | None = None
        name = channel.encode()  # role names are ASCII
        self.head = b"*9\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$1\r\nm\r\n$" % (
            len(name),
            name,
        )


@dataclasses.dataclass(slots=True)
class Message:
    """A message received: ``id`` (``<sender>/<stream id>``) is what :func:`ack` takes;
    ``msg_id`` is the sender's, kept across retries and replays (drop duplicates by it)."""

    id: str
    msg_id: str
    sender: str
    body: Any
    sent_at: float
    deliveries: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "msg_id": self.msg_id,
            "from": self.sender,
            "body": self.body,
            "sent_at": self.sent_at,
            "deliveries": self.deliveries,
        }


class Received(list[Message]):
    """The messages a receive returns; ``cut``: how many more it would have returned but held
    back for the next receive (in this process), because they did not fit in ``max_bytes``."""

    cut: int = 0


@dataclasses.dataclass(slots=True)
class DeadLetter(Message):
    """A message delivered ``deliveries`` times without an ack (or one that could not be
    read: ``reason``); ``id`` is its entry in the dead letters (``<sender>/<stream id>``);
    ``size`` the bytes of its body, which is None when it was not kept (``oversize``: only
    its size is)."""

    reason: str
    size: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**Message.as_dict(self), "reason": self.reason, "size": self.size}


@dataclasses.dataclass(slots=True)
class Acked:
    acked: int


@dataclasses.dataclass(slots=True)
class Replayed:
    replayed: int
    ids: list[str]


@dataclasses.dataclass(slots=True)
class ChannelStatus:
    """One sender's channel as the recipient sees it: ``unacked`` messages in it (not read
    yet, or delivered and not acknowledged; ``more``: at least that many, see
    :func:`status`), ``pending`` of them delivered and not acknowledged, the oldest of those
    (its id, idle seconds and deliveries), and ``length``: the entries in the channel (what
    was acknowledged and not trimmed yet too; over ``messaging.max_length`` only if the
    sender wrote past it with its own commands)."""

    sender: str
    unacked: int
    pending: int
    oldest: str | None
    oldest_idle: float | None
    deliveries: int | None
    more: bool = False
    length: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.sender,
            "unacked": self.unacked,
            "unacked_more": self.more,
            "length": self.length,
            "pending": self.pending,
            "oldest": self.oldest,
            "oldest_idle_s": self.oldest_idle,
            "deliveries": self.deliveries,
        }


# --- what a store keeps between calls, in this process ------------------------------------------


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


@dataclasses.dataclass
class Mailbox:
    """A store's mail state in this process: the channels found (sender -> key, their group
    made), when the senders set was read and idle mail claimed last, XAUTOCLAIM's cursors,
    messages read beyond what a receive asked for, and the recipients sent to."""

    clock: Callable[[], float] = time.monotonic
    channels: dict[str, str] = dataclasses.field(default_factory=dict)
    senders_of: dict[bytes, str] = dataclasses.field(default_factory=dict)
    discovered_at: float | None = None
    claimed_at: float | None = None
    cursors: dict[str, str] = dataclasses.field(default_factory=dict)
    held: collections.deque[tuple[float, Message]] = dataclasses.field(
        default_factory=collections.deque
    )
    #: recipient -> what this store knows of it as a sender
    routes: dict[str, Route] = dataclasses.field(default_factory=dict)
    #: message id -> (channel, sender, entry) of messages handed out and not acked yet, the
    #: newest DELIVERED_KEPT (a fast path for ack; any other id is parsed and checked)
    delivered: dict[str, tuple[str, str, str]] = dataclasses.field(default_factory=dict)
    #: channel -> the MINID an ack found safe to trim it to, sent with the next batch
    trims: dict[str, str] = dataclasses.field(default_factory=dict)
    #: sender -> the newest entry id this store received from its channel (see ack)
    newest: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    rotation: int = 0
    #: the pass over the senders set (see _discover): SSCAN's cursor, names it gave and not
    #: checked yet, names found without a channel (removed with the next step), and whether
    #: the last pass met such names (then the next pass starts at once)
    cursor: str = "0"
    unchecked: collections.deque[str] = dataclasses.field(default_factory=collections.deque)
    absent: list[str] = dataclasses.field(default_factory=list)
    sweeping: bool = False

    def forget_channels(self) -> None:
        """Find every channel again (a group or a channel was deleted under us)."""
        self.channels.clear()
        self.senders_of.clear()
        self.cursors.clear()
        self.trims.clear()
        self.discovered_at = None
        self.cursor = "0"
        self.unchecked.clear()

    def adopt(self, sender: str, channel: str) -> None:
        """A channel found, its group made."""
        self.channels[sender] = channel
        self.senders_of[channel.encode()] = sender


def mailbox(scope: ops.Scope) -> Mailbox:
    """The :class:`Mailbox` of the store ``scope`` belongs to."""
    box = scope.state.get("mail")
    if box is None:
        box = scope.state.setdefault("mail", Mailbox())
    return box  # type: ignore[no-any-return]


# --- arguments -------------------------------------------------------------------------------


def parse_id(message_id: Any) -> tuple[str, str]:
    """``(sender, stream id)`` of a message id as :func:`receive` gives it; invalid_argument
    for anything else.

    >>> parse_id("beta/5-0")
    ('beta', '5-0')
    """
    if not isinstance(message_id, str):
        raise InvalidArgumentError(
            f"a message id is a str '<sender>/<stream id>', got {type(message_id).__name__}"
        )
    sender, slash, entry = message_id.partition("/")
    if not slash or not _is_stream_id(entry):
        raise InvalidArgumentError(
            f"invalid message id {message_id[:80]!r}: expected '<sender>/<stream id>' as "
            "redis_receive gives it (e.g. 'alpha/1700000000000-0')"
        )
    try:
        validate_role(sender)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"invalid message id {message_id[:80]!r}: {sender[:80]!r} is not a role name"
        ) from None
    return sender, entry


_ORDERED_ID = re.compile(r"(\d{1,20})-(\d{1,20})")


def _is_stream_id(entry: str) -> bool:
    """Whether ``entry`` is a stream id Redis takes: ``<ms>-<seq>``, both within 64 bits."""
    found = _ORDERED_ID.fullmatch(entry)
    return found is not None and int(found[1]) <= ID_MAX and int(found[2]) <= ID_MAX


def _parse_known(box: Mailbox, message_id: Any) -> tuple[str, str, tuple[int, int]]:
    """:func:`parse_id` and the entry's order, quicker for a sender this store knows."""
    if type(message_id) is str:
        sender, slash, entry = message_id.partition("/")
        if slash and sender in box.channels:
            found = _ORDERED_ID.fullmatch(entry)
            if found is not None:
                order = (int(found[1]), int(found[2]))
                if order[0] <= ID_MAX and order[1] <= ID_MAX:
                    return sender, entry, order
    sender, entry = parse_id(message_id)
    return sender, entry, _order(entry)


def _entry_id(value: Any) -> tuple[str | None, str]:
    """``(sender, stream id)`` of a dead letter's id (``<sender>/<stream id>``; a bare stream
    id is one of the dead letters kept before they were kept per sender: sender None)."""
    if isinstance(value, str) and _is_stream_id(value):
        return None, value
    try:
        return parse_id(value)
    except InvalidArgumentError:
        raise InvalidArgumentError(
            f"invalid dead letter id {str(value)[:80]!r}: expected '<sender>/<stream id>' "
            "such as 'alpha/1700000000000-0', as redis_dead_letters gives it"
        ) from None


def _ids(ids: Any, what: str) -> list[Any]:
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise InvalidArgumentError(
            f"{what} must be a list of ids, got {type(ids).__name__}"
            + (" (wrap a single id in a list)" if isinstance(ids, str) else "")
        )
    try:
        return list(dict.fromkeys(ids))
    except TypeError:  # an unhashable item: no id is a list or a dict
        raise InvalidArgumentError(f"{what} must be a list of ids (str), got {ids!r:.80}") from None


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be a whole number {low}..{high}, got {value!r}")
    return value


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# --- sending ---------------------------------------------------------------------------------


def _encode_body(scope: ops.Scope, message: Any, channel: str) -> bytes:
    """The body as redis_write stores a value (the same exactness check and encoding; never
    sealed: the recipient may not hold the sender's key), within max_message_bytes."""
    try:
        data = scope.codec.encode(message, channel, encrypt=False)
    except SerializationError as exc:
        raise SerializationError(f"the message: {exc}") from None
    limit = scope.messaging.max_message_bytes
    if len(data) > limit:
        raise InvalidArgumentError(
            f"the message is {len(data)} bytes encoded, over messaging.max_message_bytes "
            f"({limit}); send a reference to data written with redis_write instead, or raise "
            "the setting"
        )
    return data


def prepare_send(
    scope: ops.Scope, to_role: Any, message: Any, *, packed: bool = False
) -> PreparedSend:
    """Check and encode a send (raises the typed errors) without sending anything: the XADD,
    with a new msg_id, then a SADD to the recipient's senders set when this store has not
    announced itself there for ANNOUNCE_EVERY seconds; ``packed``: the XADD in the Redis
    protocol too (for the writer)."""
    box = scope.state.get("mail") or mailbox(scope)
    route = box.routes.get(to_role) if type(to_role) is str else None
    if route is None:
        to = validate_role(to_role)
        recipient = Keyspace(to)
        route = box.routes[to] = Route(
            to, recipient.mail_channel(scope.role), recipient.mail_senders()
        )
    channel = route.channel
    data = _encode_body(scope, message, channel)
    msg_id = new_msg_id()
    # seconds with 6 decimals, as text without a float's shortest repr (which costs more than
    # the rest of the send's encoding): the clock in microseconds, a dot before the last six
    micros = str(time.time_ns() // 1000)
    sent_at = micros[:-6] + "." + micros[-6:]
    xadd: ops.Call = ("xadd", (channel, "*", "m", msg_id, "t", sent_at, "b", data))
    now = box.clock()
    announced = route.announced_at
    if announced is None or now - announced >= ANNOUNCE_EVERY:
        route.announced_at = now
        calls: list[ops.Call] = [xadd, ("sadd", (route.senders, scope.role))]
    else:
        calls = [xadd]
    if not packed:
        return PreparedSend(calls, route.to, scope.role, msg_id, channel, route, now)
    wire = route.head + b"%d\r\n%s\r\n$1\r\nt\r\n$%d\r\n%s\r\n$1\r\nb\r\n$%d\r\n%s\r\n" % (
        len(msg_id),
        msg_id.encode(),
        len(sent_at),
        sent_at.encode(),
        len(data),
        data,
    )
    return PreparedSend(calls, route.to, scope.role, msg_id, channel, route, now, wire)


# (pid, random prefix, counter): made again in a forked child. No lock: threads racing on
# the first call may each make a prefix; each id is still unique (a counter per prefix).
_msg_ids: tuple[int, str, Iterator[int]] | None = None


def new_msg_id() -> str:
    """A new msg_id: 32 hex digits, a random 64-bit prefix per process (made again in a
    forked child) and a 64-bit counter, so unique like a uuid4 without a syscall per message.

    >>> len(new_msg_id()), new_msg_id() != new_msg_id()
    (32, True)
    """
    global _msg_ids
    current = _msg_ids
    pid = os.getpid()
    if current is None or current[0] != pid:
        current = _msg_ids = (pid, os.urandom(8).hex(), itertools.count())
    return current[1] + format(next(current[2]), "016x")


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
        return (yield from _send(scope, prepared))
    except BaseException:
        prepared.unsent()
        raise


def _send(scope: ops.Scope, prepared: PreparedSend) -> ops.Op[Sent]:
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
    entry = _text(replies[0])
    return Sent(to, prepared.sender, f"{prepared.sender}/{entry}", prepared.msg_id)


# --- receiving -------------------------------------------------------------------------------


def _discover(scope: ops.Scope, box: Mailbox, *, force: bool = False) -> ops.Op[bool | None]:
    """One step of the pass over the senders set, when due: ``None`` if none was, else
    whether a new channel was found.

    Any role may add any name to the set (SADD is all it needs to announce itself), so what
    a name costs is decided here: a step reads at most ``messaging.senders_per_receive``
    names (SSCAN, the rest kept for the next step) and checks them all in one round trip
    with ``XGROUP CREATE channel inbox 0`` (never MKSTREAM): made or already there (BUSYGROUP),
    the channel is read from now on; refused because the key does not exist, the name has no
    channel and is removed with the next step. A pass starts at most every DISCOVERY_EVERY
    seconds (or when ``force``: an empty receive), at once after a pass that met names
    without a channel, and goes on with each receive until SSCAN's cursor comes back to 0.

    A removal never loses a real sender: a send appends (XADD) before it announces (SADD),
    so a name with a channel never fails the check. The removal (SREM) goes with the same
    check again after it, in order: a channel made after the first check is either made
    before the SREM, and the second check finds it (the channel is read, and the name
    added back), or after it, and its sender's SADD, which follows its XADD, adds the name
    again (the next pass finds it).
    """
    now = box.clock()
    at = box.discovered_at
    in_pass = box.cursor != "0" or bool(box.unchecked) or bool(box.absent)
    if not (force or in_pass or box.sweeping or at is None or now - at >= DISCOVERY_EVERY):
        return None
    keyspace = scope.keyspace
    senders = keyspace.mail_senders()
    per = scope.messaging.senders_per_receive
    absent, box.absent = box.absent, []
    calls: list[ops.Call] = []
    if absent:
        calls.append(ops.lenient("srem", senders, *absent))
        calls += [_make_group(keyspace.mail_channel(name)) for name in absent]
    scan = len(box.unchecked) < per
    if scan:
        if box.cursor == "0":  # a new pass
            box.discovered_at = now
            box.sweeping = False
        calls.append(("sscan", (senders, box.cursor, "COUNT", per)))
    replies = (yield calls) if calls else []
    found = False
    back: list[str] = []  # made between the first check and the removal: announced again
    for name, reply in zip(absent, replies[1 : 1 + len(absent)], strict=True):
        if _group_made(reply):
            box.adopt(name, keyspace.mail_channel(name))
            back.append(name)
            found = True
    if scan:
        cursor, members = replies[-1]
        box.cursor = _text(cursor)
        queued = set(box.unchecked)
        for member in members or ():
            name = _text(member)
            if name in box.channels or name in queued:
                continue
            try:
                validate_role(name)
            except InvalidArgumentError:
                continue  # not a role name: never a channel (left alone: any role can add it)
            box.unchecked.append(name)
            queued.add(name)
    names = [box.unchecked.popleft() for _ in range(min(per, len(box.unchecked)))]
    names = [name for name in names if name not in box.channels]
    calls = [_make_group(keyspace.mail_channel(name)) for name in names]
    if back:
        calls.append(ops.lenient("sadd", senders, *back))
    if calls:
        replies = yield calls
        for name, reply in zip(names, replies, strict=False):
            if _group_made(reply):
                box.adopt(name, keyspace.mail_channel(name))
                found = True
            elif _no_channel(reply):
                box.absent.append(name)
                box.sweeping = True
    return found


def _make_group(channel: str) -> ops.Call:
    return ops.lenient("xgroup", "CREATE", channel, GROUP, "0")


def _group_made(reply: Any) -> bool:
    """Whether an XGROUP CREATE's reply says the channel has its group now (made, or
    already there); a refusal for want of permission is raised."""
    if not isinstance(reply, Exception):
        return True
    if isinstance(reply, PermissionDeniedError):
        raise reply
    return "BUSYGROUP" in str(reply)


def _no_channel(reply: Any) -> bool:
    """Whether an XGROUP CREATE was refused because the channel does not exist."""
    return isinstance(reply, Exception) and "requires the key to exist" in str(reply)


def _fields(fields: Any, limit: int) -> tuple[str, float, bytes] | str:
    """``(msg_id, sent_at, body bytes)`` of an entry's fields, or why it is not mail: no
    msg_id, sent_at or body, a msg_id or sent_at longer than MSG_ID_MAX, a sent_at that is
    not a finite number (``malformed``), a body over ``limit`` bytes (``oversize``). Other
    fields are ignored (later versions may add some)."""
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
    if len(body) > limit:
        return "oversize"
    return _text(msg_id), at, body


def _message(
    scope: ops.Scope, sender: str, entry: str, fields: Any, deliveries: int, channel: str = ""
) -> Message | str:
    """The message, or why it cannot be read (then it goes to the dead letters)."""
    parsed = _fields(fields, scope.messaging.max_message_bytes)
    if isinstance(parsed, str):
        return parsed
    msg_id, sent_at, body = parsed
    try:
        value = scope.codec.decode(body, channel or scope.keyspace.mail_channel(sender))
    except SerializationError:
        return "undecodable"
    return Message(f"{sender}/{entry}", msg_id, sender, value, sent_at, deliveries)


def dead_stream(keyspace: Keyspace, sender: str) -> str:
    """The stream of the dead letters from ``sender``: ``__roleredis__:{R}:dead:<sender>``."""
    return f"{keyspace.dead_letters()}:{sender}"


def _short(value: Any) -> Any:
    """A msg_id or sent_at as kept in a dead letter: as it was, unless too long to be one."""
    return value if isinstance(value, bytes) and len(value) <= MSG_ID_MAX else b""


def _bury(scope: ops.Scope, dead: list[tuple[str, str, Any, int, str]]) -> ops.Op[None]:
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
        box.cursors[sender] = _text(reply[0])
        for entry, fields in reply[1] or ():
            if entry is not None:
                claimed.append((sender, _text(entry), fields))
                _seen(box, sender, _text(entry))
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
        yield from _bury(scope, dead)
    return got


def _read(scope: ops.Scope, box: Mailbox, want: int, wait: float) -> ops.Op[list[Message]]:
    """New mail (XREADGROUP ``>``) over every channel, waiting up to ``wait`` seconds; with no
    channel yet, just the wait (a blocking XREAD of a key no one writes)."""
    keyspace = scope.keyspace
    wait_ms = max(1, round(wait * 1000)) if wait > 0 else 0
    if wait_ms and box.trims:  # a blocking batch holds its one blocking command only
        yield _trims(box)
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
            streams = (yield [*_trims(box), call])[-1]
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
            # anything unusual, which it sends to the dead letters with the reason
            if type(fields) is dict:
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
                        mid = msg_id.decode("utf-8", "replace")  # as _text: never raises
                        got.append(Message(name, mid, sender, value, at, 1))
                        delivered[name] = (channel, sender, text)
                        continue
            message = _message(scope, sender, entry.decode(), fields, 1, channel)
            if isinstance(message, str):
                dead.append((sender, _text(entry), fields, 1, message))
            else:
                got.append(message)
        if newest is not None:  # entries come in order: the last is the newest
            _seen(box, sender, _text(newest))
    _bound(box.delivered)
    if dead:
        yield from _bury(scope, dead)
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
    want = _whole(count, "count", 1, MAX_COUNT)
    block = _whole(block_ms, "block_ms", 0, 24 * 3600 * 1000)
    limit = None if max_bytes is None else _whole(max_bytes, "max_bytes", 0, 2**62)
    box = mailbox(scope)
    held_for = scope.messaging.visibility_timeout / 2
    since: dict[str, float] = {}
    got = _take_held(box, want, held_for, since)
    if len(got) < want:
        stepped = yield from _discover(scope, box)
        got += yield from _claim(scope, box, want - len(got))
        if len(got) < want:
            got += yield from _read(scope, box, want - len(got), 0.0)
        # nothing: a sender may have announced itself since the set was read (within the
        # second); an empty inbox pays one more round trip to be sure
        if not got and stepped is None and (yield from _discover(scope, box, force=True)):
            got += yield from _read(scope, box, want, 0.0)
    if got or not block:
        return _deliver(box, got, want, limit, since)
    deadline = box.clock() + block / 1000
    while True:
        remaining = deadline - box.clock()
        if remaining <= 0:
            return Received()
        yield from _discover(scope, box)
        got = yield from _claim(scope, box, want)
        if not got:
            got = yield from _read(scope, box, want, min(remaining, SLICE))
        if got:
            return _deliver(box, got, want, limit)


def _order(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)


def _seen(box: Mailbox, sender: str, entry: str) -> None:
    """Remember the newest entry this store received from ``sender`` (see :func:`ack`)."""
    order = _order(entry)
    if order > box.newest.get(sender, (-1, -1)):
        box.newest[sender] = order


def _trims(box: Mailbox) -> list[ops.Call]:
    """The trims a previous ack found safe (see :func:`ack`), to send with the next batch."""
    if not box.trims:
        return []
    calls = [ops.lenient("xtrim", key, "MINID", minid) for key, minid in box.trims.items()]
    box.trims.clear()
    return calls


def _safe_minid(summary: Any, newest: tuple[int, int]) -> str:
    """What a channel may be trimmed to (every entry before it is acknowledged): the oldest
    pending entry, or the one after the newest this store received, whichever is older.
    Ids are 64-bit on both sides of the dash: the one after ``<ms>-18446744073709551615`` is
    ``<ms+1>-0``, and nothing comes after the largest id (then it is the MINID: it keeps only
    that entry)."""
    ms, seq = newest
    after = (ms, seq + 1) if seq < ID_MAX else (ms + 1, 0) if ms < ID_MAX else (ms, seq)
    oldest = summary.get("min") if isinstance(summary, dict) else None
    if oldest is not None and int(summary.get("pending") or 0):
        after = min(after, _order(_text(oldest)))
    return f"{after[0]}-{after[1]}"


def ack(scope: ops.Scope, ids: Iterable[str]) -> ops.Op[Acked]:
    """Acknowledge messages by their ids; acknowledged mail leaves its channel.

    An id no newer than the newest this store received from that sender was delivered (the
    group hands entries out in order): such ids are acknowledged together (one XACK per
    channel) along with XPENDING, whose oldest pending entry says up to where the channel holds
    only acknowledged mail; that XTRIM MINID goes with this store's next batch (an ack or a
    receive), so trimming costs no round trip and never drops unacknowledged mail.

    Unless the channel may be made again with the same ids in between: a channel deleted
    (``DEL`` by an administrator) and made again by a send starts its ids again from the
    server's clock, so a send in the millisecond of the MINID could get an id below it and be
    trimmed unread (tests/regressions/test_trim_spares_a_remade_channel.py). The ack's batch
    therefore asks the server's clock on the role's node (an XADD to the role's one-entry
    ``mail-clock`` stream, whose id is that clock in milliseconds): a MINID from an earlier
    millisecond is safe to carry (any entry of a channel made again is newer), one from the
    ack's own millisecond is trimmed at once, in a second round trip (one for the whole ack,
    with the XDELs below). Any other id (given by another process, or made up) is
    acknowledged alone (XACK per id) and deleted (XDEL) only if the group acknowledged it:
    mail never delivered is never deleted.
    """
    box = mailbox(scope)
    wanted = _ids(ids, "ids")
    if not wanted:
        return Acked(0)
    keyspace = scope.keyspace
    known: dict[str, tuple[str, list[str]]] = {}
    unknown: list[tuple[str, str]] = []
    delivered = box.delivered
    for message_id in wanted:
        # handed out by this store: no parsing (the common case: a receive, then its ack)
        hit = delivered.pop(message_id, None) if type(message_id) is str else None
        if hit is not None:
            channel, sender, entry = hit
            known.setdefault(channel, (sender, []))[1].append(entry)
            continue
        sender, entry, order = _parse_known(box, message_id)
        channel = box.channels.get(sender) or keyspace.mail_channel(sender)
        if order <= box.newest.get(sender, (-1, -1)):
            known.setdefault(channel, (sender, []))[1].append(entry)
        else:
            unknown.append((channel, entry))
    calls = _trims(box)
    first = len(calls)
    for channel, (_, entries) in known.items():
        calls += [
            ("xack", (channel, GROUP, *entries)),
            ("xpending", (channel, GROUP)),
            ("xlen", (channel,)),
        ]
    calls += [("xack", (channel, GROUP, entry)) for channel, entry in unknown]
    if known:
        clock = keyspace.internal_key("mail-clock")
        calls.append(ops.lenient("xadd", clock, "MAXLEN", 1, "*", "c", 1))
    replies = yield calls
    # the server's clock; unknown (the XADD failed): every trim goes at once
    now_ms = 0
    if known and not isinstance(replies[-1], Exception):
        now_ms = int(_text(replies[-1]).partition("-")[0])
    acked = 0
    at = first
    nearly_full = scope.messaging.max_length * 9 // 10
    trim_now = False
    for channel, (sender, _) in known.items():
        acked += int(replies[at])
        minid = box.trims[channel] = _safe_minid(replies[at + 1], box.newest[sender])
        if int(replies[at + 2]) >= nearly_full or int(minid.partition("-")[0]) >= now_ms:
            trim_now = True
        at += 3
    done: dict[str, list[str]] = {}
    for (channel, entry), reply in zip(unknown, replies[at : at + len(unknown)], strict=True):
        if int(reply):
            done.setdefault(channel, []).append(entry)
    # what must go at once, in one round trip: the trims if senders wait for room or a remade
    # channel may reuse ids, and the deletion of what the acks of unknown ids acknowledged
    now = _trims(box) if trim_now else []
    now += [ops.lenient("xdel", channel, *entries) for channel, entries in done.items()]
    if now:
        yield now
    return Acked(acked + sum(len(entries) for entries in done.values()))


# --- dead letters ----------------------------------------------------------------------------


def _dead_letter(
    scope: ops.Scope, sender: str | None, entry: Any, fields: Any
) -> DeadLetter | None:
    """A dead letter as kept (``sender`` None: one of the single stream of earlier versions,
    its sender in its ``s`` field)."""
    if not isinstance(fields, dict):
        return None
    name = _text(fields.get(b"s", b"")) if sender is None else sender
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
    text = _text(entry)
    return DeadLetter(
        text if sender is None else f"{sender}/{text}",
        _text(fields.get(b"m", b"")),
        name,
        body,
        sent_at if math.isfinite(sent_at) else 0.0,
        deliveries,
        _text(fields.get(b"r", b"")),
        size,
    )


def _dead_streams(scope: ops.Scope) -> ops.Op[list[tuple[str | None, str]]]:
    """``(sender, stream)`` of every dead-letter stream of the role: the single stream of
    earlier versions (sender None), then one per sender that has had dead letters."""
    keyspace = scope.keyspace
    (members,) = yield [("smembers", (keyspace.internal_key("dead-senders"),))]
    found: list[tuple[str | None, str]] = [(None, keyspace.dead_letters())]
    for member in sorted(_text(m) for m in members or ()):
        try:
            validate_role(member)
        except InvalidArgumentError:
            continue
        found.append((member, dead_stream(keyspace, member)))
    return found


def _all_dead(scope: ops.Scope, count: int) -> ops.Op[list[tuple[str | None, str, Any, Any]]]:
    """The oldest ``count`` dead letters over every dead-letter stream, oldest first:
    ``(sender, stream, entry, fields)``."""
    streams = yield from _dead_streams(scope)
    replies = yield [("xrange", (stream, "-", "+", "COUNT", count)) for _, stream in streams]
    found = [
        (sender, stream, entry, fields)
        for (sender, stream), reply in zip(streams, replies, strict=True)
        for entry, fields in reply or ()
    ]
    # oldest first by the millisecond; within one, a sender's letters together, in order
    found.sort(key=lambda d: (_order(_text(d[2]))[0], d[0] or "", _order(_text(d[2]))[1]))
    return found[:count]


def dead_letters(scope: ops.Scope, *, count: int = 100) -> ops.Op[list[DeadLetter]]:
    """The role's dead letters, oldest first (at most ``count``)."""
    count = _whole(count, "count", 1, MAX_COUNT)
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
        wanted = [_entry_id(i) for i in _ids(ids, "ids")]
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
        name = _text(fields.get(b"s", b"")) if sender is None else sender
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
        done.append(_text(entry) if sender is None else f"{sender}/{_text(entry)}")
    if calls:
        yield calls
    return Replayed(len(done), done)


# --- the recipient's view --------------------------------------------------------------------

#: The most unread entries :func:`status` counts in a channel (past it: "at least").
UNREAD_COUNTED = 100


def status(scope: ops.Scope) -> ops.Op[tuple[list[ChannelStatus], int]]:
    """Per sender: unacknowledged and pending mail and the oldest pending message; and how
    many dead letters there are. Finds the channels (and makes their groups) first: a whole
    pass over the senders set.

    Unacknowledged is pending plus unread: the entries after the group's last-delivered id,
    counted with XRANGE up to UNREAD_COUNTED (past it, ``more``: at least that many). Neither
    XLEN (it counts acknowledged mail not trimmed yet) nor the group's ``lag`` (Redis 7.0
    counts entries a sender's own MAXLEN trimmed) would say it. A lag of 0 is exact: no
    XRANGE then."""
    box = mailbox(scope)
    passes = 0
    while True:
        if box.cursor == "0" and not box.unchecked:
            if passes:
                break
            passes += 1
        yield from _discover(scope, box, force=True)
    senders = sorted(box.channels)
    streams = yield from _dead_streams(scope)
    calls: list[ops.Call] = [("xlen", (stream,)) for _, stream in streams]
    for sender in senders:
        channel = box.channels[sender]
        calls += [
            ("xlen", (channel,)),
            ("xpending", (channel, GROUP)),
            ("xpending_range", (channel, GROUP, "-", "+", 1)),
            ("xinfo", ("GROUPS", channel)),
        ]
    replies = yield calls
    dead_total = sum(int(n) for n in replies[: len(streams)])
    counts = []
    unread_calls: list[ops.Call] = []
    for i, sender in enumerate(senders):
        at = len(streams) + 4 * i
        length, summary, oldest, groups = replies[at : at + 4]
        group = next((g for g in map(_pairs, groups or ()) if g.get("name") == GROUP), {})
        last = group.get("last-delivered-id") or "0-0"
        lag = group.get("lag")
        counted = lag is None or int(lag) > 0
        if counted:
            unread_calls.append(
                ("xrange", (box.channels[sender], f"({last}", "+", "COUNT", UNREAD_COUNTED + 1))
            )
        counts.append((length, summary, oldest, counted))
    unread_replies = iter((yield unread_calls) if unread_calls else [])
    found: list[ChannelStatus] = []
    for sender, (length, summary, oldest, counted) in zip(senders, counts, strict=True):
        pending = int(summary["pending"]) if isinstance(summary, dict) else 0
        unread = len(next(unread_replies) or ()) if counted else 0
        first = oldest[0] if oldest else None
        found.append(
            ChannelStatus(
                sender,
                min(unread, UNREAD_COUNTED) + pending,
                pending,
                f"{sender}/{_text(first[0])}" if first else None,
                int(first[2]) / 1000 if first else None,
                int(first[3]) if first else None,
                more=unread > UNREAD_COUNTED,
                length=int(length),
            )
        )
    return found, dead_total


def _pairs(reply: Any) -> dict[str, Any]:
    """An XINFO reply's fields as a dict (str keys; text values as str): a RESP2 reply is a
    flat list of names and values, a RESP3 one a map."""
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    return {_text(k): _text(v) if isinstance(v, bytes) else v for k, v in items}
