"""Requests' deadlines on the responder's side: what marks an entry as a request (its ``d``
field), the server's clock as this process estimates it (:func:`server_now`), and the requests
past their deadline, which a receive never hands out (:func:`drop_expired`: acknowledged and
counted per sender in ``__roleredis__:{role}:mail-expired``, which ``roleredis mail`` shows).

A request's deadline is the time of its entry id (the server's clock on the responder's node
when the XADD ran) plus the timeout the requester gave (``d``, milliseconds): no host's clock
takes part. Now is the server's clock too: this host's clock plus the difference to the
server's, learned from an XADD's id on the role's node at most every SKEW_EVERY seconds while
requests arrive (a round trip then; none for plain mail).

>>> request_deadline("1700000000000-3", 2500)
1700000002.5
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any

from .. import ops
from .common import EXPIRED_KEY, Mailbox, Message, to_text
from .housekeeping import ack

__all__ = [
    "DEADLINE_MAX_MS",
    "EXPIRED_KEY",
    "REQUEST_ID",
    "SKEW_EVERY",
    "deadline_ms",
    "drop_expired",
    "request_deadline",
    "server_now",
]

#: What a requester's msg_id may be for a reply key to be made of it (roleredis makes 32 hex
#: digits); a request whose msg_id is anything else is not mail (a dead letter, malformed).
REQUEST_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
#: The longest a request may wait for its reply (a day), in milliseconds.
DEADLINE_MAX_MS = 24 * 3600 * 1000
#: How often (seconds) the difference between this host's clock and the server's is learned
#: again while requests arrive.
SKEW_EVERY = 5.0
_DIGITS = re.compile(rb"\d{1,12}")


def deadline_ms(value: Any) -> int | None:
    """A request's ``d`` field (its timeout in milliseconds) as a number; None if it is not
    one (1..DEADLINE_MAX_MS, digits only)."""
    if not isinstance(value, bytes) or _DIGITS.fullmatch(value) is None:
        return None
    ms = int(value)
    return ms if 0 < ms <= DEADLINE_MAX_MS else None


def request_deadline(entry: str, timeout_ms: int) -> float:
    """The deadline of a request with entry id ``entry``, seconds since the epoch."""
    return (int(entry.partition("-")[0]) + timeout_ms) / 1000


def server_now(scope: ops.Scope, box: Mailbox) -> ops.Op[float]:
    """The server's clock now, seconds since the epoch: this host's plus the difference last
    learned, learned again (an XADD to the role's one-entry ``mail-clock`` stream, whose id is
    the server's time on the role's node) when unknown or older than SKEW_EVERY seconds. If
    that XADD fails, this host's clock stands in (a deadline is then judged by it)."""
    at = box.clock()
    if box.skew is None or at - box.skew_at >= SKEW_EVERY:
        clock = scope.keyspace.internal_key("mail-clock")
        before = time.time()
        (reply,) = yield [ops.lenient("xadd", clock, "MAXLEN", 1, "*", "c", 1)]
        after = time.time()
        if isinstance(reply, Exception):
            return after
        box.learn_skew(int(to_text(reply).partition("-")[0]) / 1000, (before + after) / 2)
    return time.time() + (box.skew or 0.0)


def drop_expired(scope: ops.Scope, box: Mailbox, got: list[Message]) -> ops.Op[list[Message]]:
    """``got`` without the requests past their deadline: those are acknowledged (so never
    delivered again) and counted per sender, in one round trip, and never handed out."""
    if not any(m.deadline is not None for m in got):
        return got
    now = yield from server_now(scope, box)
    expired = [m for m in got if m.deadline is not None and m.deadline <= now]
    if not expired:
        return got
    counter = scope.keyspace.internal_key(EXPIRED_KEY)
    counts = collections.Counter(m.sender for m in expired)
    # acknowledged like any mail (the channel is trimmed of them as of any acked mail), and
    # counted in the same round trip; the count is housekeeping: it never fails the receive
    yield from ack(
        scope,
        [m.id for m in expired],
        before=[ops.lenient("hincrby", counter, sender, n) for sender, n in counts.items()],
    )
    gone = {m.id for m in expired}
    return [m for m in got if m.id not in gone]
