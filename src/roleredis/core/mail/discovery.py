"""Discovery of senders: a recipient's pass over its senders set (:func:`discover`), each name
checked by making its channel's consumer group (XGROUP CREATE, never MKSTREAM), names
without a channel removed: see the package's doc, **Receive**.
"""

from __future__ import annotations

from typing import Any

from ...foundation.errors import InvalidArgumentError, PermissionDeniedError
from ...foundation.keys import validate_role
from .. import ops
from .common import DISCOVERY_EVERY, GROUP, Mailbox, to_text

__all__ = ["discover"]


def discover(scope: ops.Scope, box: Mailbox, *, force: bool = False) -> ops.Op[bool | None]:
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
        box.cursor = to_text(cursor)
        queued = set(box.unchecked)
        for member in members or ():
            name = to_text(member)
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
