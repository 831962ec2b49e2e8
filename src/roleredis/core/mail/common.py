"""What the mail modules share: the constants, what a store knows of a recipient
(:class:`Route`), a :class:`Message` received, a store's :class:`Mailbox` (in its
``Scope.state``), the checks of the arguments (message ids, counts) and the small parsers of
stream ids and replies.

>>> parse_id("alpha/1700000000000-0")
('alpha', '1700000000000-0')
"""

from __future__ import annotations

import collections
import dataclasses
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from ...foundation.errors import InvalidArgumentError
from ...foundation.keys import validate_role
from .. import ops

__all__ = [
    "ANNOUNCE_EVERY",
    "DISCOVERY_EVERY",
    "EXPIRED_KEY",
    "GROUP",
    "ID_MAX",
    "MAX_COUNT",
    "MSG_ID_MAX",
    "SLICE",
    "Mailbox",
    "Message",
    "Route",
    "dead_letter_id",
    "entry_order",
    "id_list",
    "mailbox",
    "parse_id",
    "parse_known",
    "to_text",
    "whole_number",
]


#: The consumer group of every channel: the recipient role's processes share it.
GROUP = "inbox"
#: The longest a blocking read waits on the server in one round trip (seconds): between
#: slices the connection goes back to the pool and the senders set is read again.
SLICE = 1.0
#: How often (seconds) a pass over the senders set starts (at once after one that met names
#: without a channel; see discover), and idle mail is claimed, at most.
DISCOVERY_EVERY = 1.0
#: How often (seconds) a sender adds its name to a recipient's senders set again, at most (a
#: set that was deleted is filled again within this time).
ANNOUNCE_EVERY = 5.0
#: The role's internal key counting requests that expired before a receive (per sender).
EXPIRED_KEY = "mail-expired"
#: The most messages one receive returns, and one dead-letter listing.
MAX_COUNT = 10_000
_STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
#: The largest part of a stream id (``<ms>-<seq>``: both are 64-bit).
ID_MAX = 2**64 - 1
#: The longest msg_id (and sent_at text) an entry may carry to be mail; roleredis's are 32.
MSG_ID_MAX = 128


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
    ``msg_id`` is the sender's, kept across retries and replays (drop duplicates by it).
    ``deadline``: a request's (``redis_request``), in seconds since the epoch on the server's
    clock, by when the sender stops waiting for its reply (``redis_reply``); None for mail.
    ``trace``: the W3C trace context the sender wrote (``{"traceparent": ..., "tracestate":
    ...}``, checked and bounded: see roleredis.foundation.tracecontext), None if it wrote none
    or one that is malformed; in :meth:`as_dict` only when there is one."""

    id: str
    msg_id: str
    sender: str
    body: Any
    sent_at: float
    deliveries: int
    deadline: float | None = None
    trace: dict[str, str] | None = None

    @property
    def reply_expected(self) -> bool:
        """Whether it is a request, which :func:`~roleredis.core.mail.reply` answers."""
        return self.deadline is not None

    def as_dict(self) -> dict[str, Any]:
        shown = {
            "id": self.id,
            "msg_id": self.msg_id,
            "from": self.sender,
            "body": self.body,
            "sent_at": self.sent_at,
            "deliveries": self.deliveries,
            "reply_expected": self.deadline is not None,
            "deadline": self.deadline,
        }
        if self.trace is not None:
            shown["trace"] = self.trace
        return shown


# --- what a store keeps between calls, in this process ------------------------------------------


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
    #: requests handed out and not answered yet: message id -> (reply key, deadline), the
    #: newest DELIVERED_KEPT (see roleredis.core.mail.requesting: any other id is read back)
    requests: dict[str, tuple[str, float]] = dataclasses.field(default_factory=dict)
    #: the server's clock minus this host's (time.time()), seconds, and when it was learned
    #: (clock()); None: not known yet (see requesting.server_now)
    skew: float | None = None
    skew_at: float = 0.0
    #: reply keys of requests that are over, unlinked with the next request's first batch
    litter: list[str] = dataclasses.field(default_factory=list)
    #: the pass over the senders set (see discover): SSCAN's cursor, names it gave and not
    #: checked yet, names found without a channel (removed with the next step), and whether
    #: the last pass met such names (then the next pass starts at once)
    cursor: str = "0"
    unchecked: collections.deque[str] = dataclasses.field(default_factory=collections.deque)
    absent: list[str] = dataclasses.field(default_factory=list)
    sweeping: bool = False

    def learn_skew(self, server: float, local: float) -> None:
        """Remember the difference between the server's clock and this host's (time.time()),
        both seconds since the epoch, read at about the same moment."""
        self.skew = server - local
        self.skew_at = self.clock()

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


def parse_known(box: Mailbox, message_id: Any) -> tuple[str, str, tuple[int, int]]:
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
    return sender, entry, entry_order(entry)


def dead_letter_id(value: Any) -> tuple[str | None, str]:
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


def id_list(ids: Any, what: str) -> list[Any]:
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise InvalidArgumentError(
            f"{what} must be a list of ids, got {type(ids).__name__}"
            + (" (wrap a single id in a list)" if isinstance(ids, str) else "")
        )
    try:
        return list(dict.fromkeys(ids))
    except TypeError:  # an unhashable item: no id is a list or a dict
        raise InvalidArgumentError(f"{what} must be a list of ids (str), got {ids!r:.80}") from None


def whole_number(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(f"{name} must be a whole number {low}..{high}, got {value!r}")
    return value


def to_text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def entry_order(entry: str) -> tuple[int, int]:
    ms, _, seq = entry.partition("-")
    return int(ms), int(seq)
