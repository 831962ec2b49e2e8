"""``roleredis mail ROLE``: the role's inbox as the role sees it, per sender (unacknowledged
and pending mail, the oldest pending message and its deliveries) and its dead letters;
``--replay`` puts the dead letters back in the inbox.

It runs the library's operations (:func:`roleredis.core.mail.status`, ``dead_letters``,
``replay_dead_letters``) on a :class:`~roleredis.core.store.RoleStore` of ROLE: connected as an
ACL user, that is ROLE's own user.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..core.mail.common import MAX_COUNT
from ..core.store import RoleStore
from .app import JsonFlag, RoleArg, app, connecting
from .output import counted, emit_json, say, shown, value_for_humans, value_for_json

__all__ = ["mail"]


@app.command()
def mail(
    role: RoleArg,
    replay: Annotated[
        bool, typer.Option("--replay", help="Put every dead letter back in ROLE's inbox.")
    ] = False,
    count: Annotated[
        int,
        # checked here, before --replay changes anything
        typer.Option("--count", min=1, max=MAX_COUNT, help="Dead letters to show, at most."),
    ] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Show ROLE's mail: per sender, the unacknowledged messages (delivered or not; "N+":
    at least N), those delivered and not acknowledged (pending), the oldest pending one with
    its idle time and deliveries; then the dead letters. With --replay, put the dead letters
    back first.
    """
    connecting("mail", role)
    store = RoleStore(role)
    replayed = store.replay_dead_letters().replayed if replay else None
    channels, dead_total = store.mail_status()
    letters = store.dead_letters(count=count)
    if as_json:
        result: dict[str, Any] = {
            "role": store.role,
            "senders": [c.as_dict() for c in channels],
            "dead_letters": dead_total,
            "dead": [_letter_json(d.as_dict()) for d in letters],
        }
        if replayed is not None:
            result["replayed"] = replayed
        emit_json(result)
        return
    if replayed is not None:
        say(f"put {replayed} dead letters back in the inbox of {role}")
    if not channels:
        say(f"{role} has no mail: no role has sent it any")
    limit = store.settings.messaging.max_length
    for c in channels:
        unacked = f"{c.unacked}+" if c.more else str(c.unacked)
        line = f"from {shown(c.sender)}: {unacked} unacknowledged, {c.pending} pending"
        if c.length > limit:  # written past the bound by the sender's own commands
            line += f" ({c.length} in the channel: over messaging.max_length {limit})"
        if c.oldest is not None:
            delivered = counted(c.deliveries or 0, "delivery", "deliveries")
            line += f"; oldest {shown(c.oldest)} idle {c.oldest_idle:.1f} s, {delivered}"
        if c.expired:  # requests whose deadline passed before a receive: never handed out
            line += f"; {counted(c.expired, 'request', 'requests')} expired unanswered"
        say(line)
    say(f"dead letters: {dead_total}")
    for d in letters:
        delivered = counted(d.deliveries, "delivery", "deliveries")
        say(
            f"  {d.id} from {shown(d.sender)} (msg_id {d.msg_id}, {delivered}, "
            f"{d.reason}): {shown(value_for_humans(d.body))}"
        )


def _letter_json(letter: dict[str, Any]) -> dict[str, Any]:
    body = value_for_json(letter.pop("body"))
    return {**letter, "body": body["value"], "encoding": body["encoding"]}
