"""The mail tools: messages between roles (send, receive, ack, dead letters), requests and
replies, and keeping a received message while a long handler runs (touch). Part of
:mod:`roleredis.tools`, which re-exports them: see its doc.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ...table import calls, fastlane
from ...table.rows import (
    ACK,
    DEAD_LETTERS,
    RECEIVE,
    REPLAY_DEAD_LETTERS,
    REPLY,
    REQUEST,
    SEND,
    SEND_ASYNC,
    TOUCH,
)
from . import Result, lane_open, role_store

__all__ = [
    "redis_ack",
    "redis_dead_letters",
    "redis_receive",
    "redis_replay_dead_letters",
    "redis_reply",
    "redis_request",
    "redis_send",
    "redis_send_async",
    "redis_touch",
]


def redis_send(to_role: str, message: Any, *, role: str | None = None) -> Result:
    """Send ``message`` (any value :func:`redis_write` stores exactly) to ``to_role``'s inbox.

    ``id`` is what the recipient acks; ``msg_id`` is made here and kept across retries and
    replays, so the recipient can drop duplicates (delivery is at least once). A send whose
    reply was lost fails with error_code ``unknown_outcome`` (and its ``msg_id``) instead of
    being sent twice; a full channel (messaging.max_length unacknowledged) with ``overloaded``.

    >>> sent = redis_send("planner", {"task": "forecast"}, role="weather")
    >>> sent["success"], sent["from"], sent["to"], len(sent["msg_id"])
    (True, 'weather', 'planner', 32)
    """
    return calls.call(SEND, role_store, role, (to_role, message))


def redis_receive(
    count: int = 10, block_ms: int = 0, *, role: str | None = None, max_bytes: int | None = None
) -> Result:
    """Up to ``count`` messages from the calling role's inbox: each with ``id``, ``msg_id``,
    ``from`` (the sender, as the server authenticated it), ``body``, ``sent_at`` and
    ``deliveries``. ``block_ms`` 0 returns at once; more waits up to that long for one.

    A message not acknowledged within messaging.visibility_timeout is delivered again (to
    any process of the role); after messaging.max_deliveries it becomes a dead letter.
    ``max_bytes``: return no more messages than fit in that many bytes as JSON (at least one;
    the agent tools pass what mcp.max_result_bytes leaves): the rest wait in this process for
    the next receive, which returns them at once without counting another delivery, and the
    result says ``truncated: true``.

    >>> _ = redis_send("planner", {"task": "forecast"}, role="weather")
    >>> got = redis_receive(role="planner")
    >>> [(m["from"], m["body"], m["deliveries"]) for m in got["messages"]]
    [('weather', {'task': 'forecast'}, 1)]
    >>> redis_ack([m["id"] for m in got["messages"]], role="planner")["acked"]
    1
    """
    return calls.call(RECEIVE, role_store, role, (count, block_ms), {"max_bytes": max_bytes})


def redis_request(
    to_role: str, body: Any, *, timeout: float = 30.0, role: str | None = None
) -> Result:
    """Send ``body`` to ``to_role`` as a request and wait up to ``timeout`` seconds for its
    answer: ``reply`` (the value), ``from`` (who answered, as the server authenticated it:
    only ``to_role``'s ACL user may write the answer), ``msg_id`` and ``elapsed_ms``.

    Fails with error_code ``timeout`` when no answer comes in time, ``overloaded`` when the
    channel is full (nothing was sent), ``responder_error`` (with the responder's text in
    ``reply_error``) when the responder answered with an error. The responder gets the
    request from :func:`redis_receive`, marked ``reply_expected`` with its ``deadline``, and
    answers with :func:`redis_reply` (or runs :func:`roleredis.serve`).

    >>> import threading
    >>> answers = []
    >>> ask = lambda: answers.append(redis_request("worker", {"n": 3}, timeout=10, role="boss"))
    >>> asking = threading.Thread(target=ask)
    >>> asking.start()
    >>> (job,) = redis_receive(block_ms=5000, role="worker")["messages"]
    >>> job["reply_expected"], job["from"], job["body"]
    (True, 'boss', {'n': 3})
    >>> redis_reply(job["id"], {"square": 9}, role="worker")["delivered"]
    True
    >>> asking.join()
    >>> answers[0]["reply"], answers[0]["from"]
    ({'square': 9}, 'worker')
    """
    return calls.call(REQUEST, role_store, role, (to_role, body), {"timeout": timeout})


def redis_reply(id: str, body: Any = None, *, error: Any = None, role: str | None = None) -> Result:
    """Answer the request ``id`` (as :func:`redis_receive` gave it) with ``body``, or with
    ``error`` (a text, or an exception: its type and message, at most 1,000 characters,
    never a traceback), and acknowledge it, in one round trip.

    ``delivered`` is False when the requester had stopped waiting (past its deadline the
    answer is dropped: nothing is written). Mail that is not a request fails with
    ``invalid_argument``: acknowledge it with :func:`redis_ack`.

    >>> redis_reply("boss/1-0", {"late": True}, role="worker")["error_code"]
    'not_found'
    """
    return calls.call(REPLY, role_store, role, (id, body), {"error": error})


def redis_ack(ids: Iterable[str], *, role: str | None = None) -> Result:
    """Acknowledge received messages by their ``id``: they are not delivered again, and
    leave the channel. ``acked`` counts those acknowledged now.

    >>> redis_ack([], role="planner")["acked"]
    0
    """
    return calls.call(ACK, role_store, role, (ids,))


def redis_dead_letters(*, role: str | None = None, count: int = 100) -> Result:
    """The calling role's dead letters (oldest first, at most ``count``): messages delivered
    messaging.max_deliveries times without an ack, with ``from``, ``msg_id``, ``body``,
    ``sent_at``, ``deliveries`` and ``reason``.

    >>> redis_dead_letters(role="planner")["count"]
    0
    """
    return calls.call(DEAD_LETTERS, role_store, role, (), {"count": count})


def redis_replay_dead_letters(
    ids: Iterable[str] | None = None, *, role: str | None = None
) -> Result:
    """Put dead letters (all, or those whose ``id`` is in ``ids``) back in the inbox, each in
    its sender's channel with its msg_id; ``replayed`` counts them.

    >>> redis_replay_dead_letters(role="planner")["replayed"]
    0
    """
    return calls.call(REPLAY_DEAD_LETTERS, role_store, role, (ids,))


def redis_send_async(to_role: str, message: Any, *, role: str | None = None) -> Result:
    """Queue a message for ``to_role`` and return at once; the fire-and-forget writer sends
    it (in order with the calling thread's other queued work). Checked and encoded now; a
    full channel is refused now (by the length seen at most a second ago plus what this
    process queued since). If it cannot be carried out, it is counted and logged as lost
    (see :func:`redis_flush`).

    >>> redis_send_async("planner", "ping", role="weather")["async"]
    True
    >>> from roleredis.tools import redis_flush
    >>> redis_flush(timeout=5)["lost"]
    0
    """
    if role is not None and lane_open():
        queued = fastlane.send_async(SEND_ASYNC.name, role_store, role, to_role, message)
        if queued is not None:
            return queued
    return calls.call(SEND_ASYNC, role_store, role, (to_role, message))


def redis_touch(ids: Iterable[str], *, role: str | None = None) -> Result:
    """Restart the visibility timeout of received, unacknowledged messages (by ``id``)
    without counting a delivery; ``missing``: ids no longer pending (acknowledged).

    >>> _ = redis_send("planner", "long job", role="weather")
    >>> got = redis_receive(role="planner")["messages"]
    >>> redis_touch([m["id"] for m in got], role="planner")["touched"]
    1
    """
    return calls.call(TOUCH, role_store, role, (ids,))
