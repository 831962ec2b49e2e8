"""Housekeeping of the inbox: :func:`ack` (XACK, and the channel trimmed up to its oldest
unacknowledged entry, with the next batch: :func:`take_trims`), and the recipient's view of
its mail, :func:`status` (per sender, and its dead letters): see the package's doc, **Ack**.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from typing import Any

from .. import ops
from .common import (
    EXPIRED_KEY,
    GROUP,
    ID_MAX,
    Mailbox,
    entry_order,
    id_list,
    mailbox,
    parse_known,
    to_text,
)
from .dead import dead_streams
from .discovery import discover

__all__ = ["UNREAD_COUNTED", "Acked", "ChannelStatus", "ack", "status", "take_trims"]


@dataclasses.dataclass(slots=True)
class Acked:
    acked: int
    #: the replies of the calls sent before the acks (``ack(before=...)``)
    before: list[Any] = dataclasses.field(default_factory=list)


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
    #: requests from the sender that expired before a receive (acknowledged, never handed out)
    expired: int = 0

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
            "expired": self.expired,
        }


def take_trims(box: Mailbox) -> list[ops.Call]:
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
        after = min(after, entry_order(to_text(oldest)))
    return f"{after[0]}-{after[1]}"


def ack(
    scope: ops.Scope, ids: Iterable[str], *, before: list[ops.Call] | None = None
) -> ops.Op[Acked]:
    """Acknowledge messages by their ids; acknowledged mail leaves its channel. ``before``:
    calls sent first in the ack's round trip (a reply: see roleredis.core.mail.requesting),
    their replies in ``Acked.before``.

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
    wanted = id_list(ids, "ids")
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
        sender, entry, order = parse_known(box, message_id)
        channel = box.channels.get(sender) or keyspace.mail_channel(sender)
        if order <= box.newest.get(sender, (-1, -1)):
            known.setdefault(channel, (sender, []))[1].append(entry)
        else:
            unknown.append((channel, entry))
    calls = [*(before or ()), *take_trims(box)]
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
    sent_at = time.time()
    replies = yield calls
    answered = replies[: len(before or ())]
    # the server's clock; unknown (the XADD failed): every trim goes at once
    now_ms = 0
    if known and not isinstance(replies[-1], Exception):
        now_ms = int(to_text(replies[-1]).partition("-")[0])
        box.learn_skew(now_ms / 1000, (sent_at + time.time()) / 2)  # for requests' deadlines
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
    now = take_trims(box) if trim_now else []
    now += [ops.lenient("xdel", channel, *entries) for channel, entries in done.items()]
    if now:
        yield now
    return Acked(acked + sum(len(entries) for entries in done.values()), answered)


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
        yield from discover(scope, box, force=True)
    senders = sorted(box.channels)
    streams = yield from dead_streams(scope)
    calls: list[ops.Call] = [("xlen", (stream,)) for _, stream in streams]
    expired_key = scope.keyspace.internal_key(EXPIRED_KEY)
    for sender in senders:
        channel = box.channels[sender]
        calls += [
            ("xlen", (channel,)),
            ("xpending", (channel, GROUP)),
            ("xpending_range", (channel, GROUP, "-", "+", 1)),
            ("xinfo", ("GROUPS", channel)),
            ("hget", (expired_key, sender)),
        ]
    replies = yield calls
    dead_total = sum(int(n) for n in replies[: len(streams)])
    counts = []
    unread_calls: list[ops.Call] = []
    for i, sender in enumerate(senders):
        at = len(streams) + 5 * i
        length, summary, oldest, groups, expired = replies[at : at + 5]
        group = next((g for g in map(_pairs, groups or ()) if g.get("name") == GROUP), {})
        last = group.get("last-delivered-id") or "0-0"
        lag = group.get("lag")
        counted = lag is None or int(lag) > 0
        if counted:
            unread_calls.append(
                ("xrange", (box.channels[sender], f"({last}", "+", "COUNT", UNREAD_COUNTED + 1))
            )
        counts.append((length, summary, oldest, counted, int(expired or 0)))
    unread_replies = iter((yield unread_calls) if unread_calls else [])
    found: list[ChannelStatus] = []
    for sender, (length, summary, oldest, counted, expired) in zip(senders, counts, strict=True):
        pending = int(summary["pending"]) if isinstance(summary, dict) else 0
        unread = len(next(unread_replies) or ()) if counted else 0
        first = oldest[0] if oldest else None
        found.append(
            ChannelStatus(
                sender,
                min(unread, UNREAD_COUNTED) + pending,
                pending,
                f"{sender}/{to_text(first[0])}" if first else None,
                int(first[2]) / 1000 if first else None,
                int(first[3]) if first else None,
                more=unread > UNREAD_COUNTED,
                length=int(length),
                expired=expired,
            )
        )
    return found, dead_total


def _pairs(reply: Any) -> dict[str, Any]:
    """An XINFO reply's fields as a dict (str keys; text values as str): a RESP2 reply is a
    flat list of names and values, a RESP3 one a map."""
    items = reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
    return {to_text(k): to_text(v) if isinstance(v, bytes) else v for k, v in items}
