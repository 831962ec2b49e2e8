"""Touching received mail: :func:`touch` restarts the visibility timeout of messages this role
received and has not acknowledged, so that a long handler keeps its message (it is not
claimed again by another process of the role) without a delivery being counted.

``XCLAIM channel inbox <this process's consumer> 0 <entry ids> JUSTID``: a claim with no
minimum idle time sets the entry's idle time to 0 and, with JUSTID, leaves its delivery count
alone. It restarts the timeout; it cannot push it further: Redis clamps an idle time set in
the future (``TIME``) to now, so "extend by N seconds" cannot be built on a consumer group.
An entry no longer pending (acknowledged, trimmed, or never delivered) is not claimed: it is
reported ``missing``, never made pending again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from ...foundation.errors import PermissionDeniedError
from .. import ops
from .common import GROUP, id_list, mailbox, parse_known, to_text
from .receiving import consumer_name

__all__ = ["Touched", "touch"]


@dataclasses.dataclass(slots=True)
class Touched:
    """The messages whose visibility timeout restarted (``ids``) and those that were no
    longer pending (``missing``: acknowledged, trimmed, or never received)."""

    ids: list[str]
    missing: list[str]


def touch(scope: ops.Scope, ids: Iterable[str]) -> ops.Op[Touched]:
    """Restart the visibility timeout of received messages by their ``id`` (one XCLAIM per
    channel, in one round trip); a delivery is not counted."""
    box = mailbox(scope)
    wanted = id_list(ids, "ids")
    by_channel: dict[str, list[tuple[str, str]]] = {}
    for message_id in wanted:
        sender, entry, _ = parse_known(box, message_id)
        channel = box.channels.get(sender) or scope.keyspace.mail_channel(sender)
        by_channel.setdefault(channel, []).append((message_id, entry))
    if not by_channel:
        return Touched([], [])
    consumer = consumer_name()
    # lenient: a channel or group that is gone (NOGROUP) is mail no longer pending
    calls: list[ops.Call] = [
        ops.lenient("xclaim", channel, GROUP, consumer, 0, *(e for _, e in pairs), "JUSTID")
        for channel, pairs in by_channel.items()
    ]
    replies = yield calls
    touched: list[str] = []
    missing: list[str] = []
    for pairs, reply in zip(by_channel.values(), replies, strict=True):
        if isinstance(reply, PermissionDeniedError):
            raise reply
        claimed = set() if isinstance(reply, Exception) else {to_text(e) for e in reply or ()}
        for message_id, entry in pairs:
            (touched if entry in claimed else missing).append(message_id)
    return Touched(touched, missing)
