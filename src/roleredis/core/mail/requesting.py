"""Request and reply between roles, on the mailboxes: :func:`request` (ask another role and
wait for its answer) and :func:`reply` (answer a request received, and acknowledge it).

Who answered is vouched for by the server, never by a field:

- The requester R makes the reply stream first, empty, on its own side:
  ``__roleredis__:{R}:reply:<P>:<msg_id>`` (``UNLINK`` of whatever is under that name, then
  ``XADD ... MAXLEN 0`` and ``PEXPIRE`` of the timeout and a second), then sends the request
  to P's inbox like mail, with its timeout in a field ``d`` (milliseconds). On one server the
  two go in one round trip, in order on one connection; in a Cluster (the reply stream in R's
  slot, the channel in P's: two nodes, no order between them) the reply stream is made in a
  round trip of its own first. R then waits on the reply stream (XREAD, in slices of a
  second) until an entry comes or the timeout passes, counted from when the send was answered
  (so after the request's entry, whose time the responder's deadline counts from).
- P learns R from the channel the request came in on (``__roleredis__:{P}:mail:R``, which only
  R's ACL user may append to) and the reply stream from it and the request's msg_id (checked:
  ``[0-9A-Za-z_-]{1,64}``); never from the body. P appends its answer with
  ``XADD ... NOMKSTREAM``: its ACL user may write only ``__roleredis__:{*}:reply:<P>:*`` keys
  (a selector, ``XADD`` only), so no role can write an answer to a request sent to another
  role, and R learns who answered from the key it reads. A reply after the deadline finds no
  stream (it expired) and makes none.
- The answer and the acknowledgment of the request go in one round trip (:func:`reply` sends
  the XADD in :func:`~roleredis.core.mail.ack`'s batch).

A request past its deadline is never handed to a responder: see
:mod:`roleredis.core.mail.deadlines`.

>>> from roleredis.foundation.keys import Keyspace
>>> scope = ops.Scope(Keyspace("planner"))
>>> op = request(scope, "worker", {"task": 1}, timeout=5)
>>> [name for name, _ in next(op)]  # the channel's length is not known yet: asked first
['xlen']
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ...foundation.errors import (
    InvalidArgumentError,
    NotFoundError,
    ResponderError,
    SerializationError,
    TimeoutError,
)
from ...foundation.keys import Keyspace
from ...foundation.tracecontext import OUTGOING
from .. import ops
from .common import SLICE, Mailbox, mailbox, parse_id, to_text
from .deadlines import DEADLINE_MAX_MS, REQUEST_ID, deadline_ms
from .housekeeping import ack
from .sending import PreparedSend, encode_body, prepare_send, send_prepared

__all__ = ["ERROR_TEXT_MAX", "Answer", "Answered", "error_text", "reply", "request"]

#: How long a reply stream outlives its request's deadline (milliseconds).
STREAM_MARGIN_MS = 1000
#: The longest error text a reply carries (characters); a longer one is cut, marked with "...".
ERROR_TEXT_MAX = 1000


@dataclasses.dataclass(slots=True)
class Answer:
    """A request's answer: ``reply`` (the responder's value), ``responder`` (the role whose
    ACL user wrote it: known from the key), the request's ``msg_id`` and ``id`` in the
    responder's inbox, and ``elapsed_ms`` from the send to the answer."""

    reply: Any
    responder: str
    msg_id: str
    id: str
    elapsed_ms: float


@dataclasses.dataclass(slots=True)
class Answered:
    """A reply sent: ``requester`` and the request's ``msg_id``; ``delivered`` False when the
    requester had stopped waiting (its reply stream had expired: nothing was written)."""

    id: str
    requester: str
    msg_id: str
    delivered: bool


def _timeout(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= DEADLINE_MAX_MS / 1000
    ):
        raise InvalidArgumentError(
            f"timeout must be a number of seconds, more than 0 and at most "
            f"{DEADLINE_MAX_MS // 1000}, got {value!r}"
        )
    return float(value)


def request(scope: ops.Scope, to_role: Any, body: Any, *, timeout: Any = 30.0) -> ops.Op[Answer]:
    """Send ``body`` to ``to_role`` as a request and wait up to ``timeout`` seconds for its
    answer (see the module's doc). ``overloaded`` if the channel is full (nothing sent),
    ``timeout`` past the deadline, ``responder_error`` if the responder answered with an
    error (its text)."""
    seconds = _timeout(timeout)
    ms = max(1, math.ceil(seconds * 1000))
    box = mailbox(scope)
    started = box.clock()
    prepared = prepare_send(scope, to_role, body, timeout_ms=ms)
    responder = prepared.to
    key = scope.keyspace.reply_key(responder, prepared.msg_id)
    setup: list[ops.Call] = [
        # made anew: a stream left under this name (the responder's user may make one with
        # a raw XADD, even with the last possible id, which would refuse every XADD "*") goes
        ("unlink", (key,)),
        ("xadd", (key, "MAXLEN", 0, "*", "o", 1)),
        # a second past the deadline: the server's deadline counts from the request's entry,
        # written after this (see below), and an answer in time must find its stream
        ("pexpire", (key, ms + STREAM_MARGIN_MS)),
    ]
    if box.litter:
        setup.append(ops.lenient("unlink", *box.litter))
        box.litter.clear()
    try:
        if scope.scattered:
            yield setup
            sent = yield from send_prepared(scope, prepared)
        else:
            sent = yield from send_prepared(scope, prepared, setup)
    except BaseException:
        prepared.unsent()
        box.litter.append(key)
        raise
    # the wait counts from now, the send answered: the request's entry (whose time the
    # responder's deadline counts from) was written before, so a requester that gave up never
    # sees its request handed out afterwards
    deadline = box.clock() + seconds
    try:
        return (
            yield from _await_answer(scope, box, prepared, key, sent.id, started, deadline, seconds)
        )
    finally:
        # the stream is done with only now (a request of another thread of this store, sent
        # meanwhile, must not unlink it while this one waits): unlinked with the next
        # request's first batch, or it expires
        box.litter.append(key)


def _await_answer(
    scope: ops.Scope,
    box: Mailbox,
    prepared: PreparedSend,
    key: str,
    entry_id: str,
    started: float,
    deadline: float,
    seconds: float,
) -> ops.Op[Answer]:
    """The first entry of the reply stream, read in slices until ``deadline`` (the store's
    clock)."""
    responder = prepared.to
    while True:
        remaining = deadline - box.clock()
        if remaining <= 0:
            raise TimeoutError(
                f"no reply from {responder!r} to request {prepared.msg_id} within "
                f"{seconds:g} s (the request stays in the inbox of {responder!r} until a "
                "receive, which drops it once past its deadline)"
            ).with_context(msg_id=prepared.msg_id, to=responder)
        wait = min(remaining, SLICE)
        read: ops.Call = (
            "xread",
            ("COUNT", 1, "BLOCK", max(1, round(wait * 1000)), "STREAMS", key, "0-0"),
        )
        (streams,) = yield ops.Batch([read], wait=wait)
        fields = _first_entry(streams)
        if fields is not None:
            value = _answer(scope, key, responder, prepared.msg_id, fields)
            elapsed = round((box.clock() - started) * 1000, 3)
            return Answer(value, responder, prepared.msg_id, entry_id, elapsed)


def _first_entry(streams: Any) -> dict[bytes, Any] | None:
    """The fields of the first entry of an XREAD reply (RESP2 or RESP3), None if none."""
    if not streams:
        return None
    if isinstance(streams, dict):
        streams = list(streams.items())
    for _, entries in streams:
        for entry in entries or ():
            if entry is None or entry[1] is None:
                continue
            fields = entry[1]
            if isinstance(fields, list):
                fields = dict(zip(fields[::2], fields[1::2], strict=False))
            return fields if isinstance(fields, dict) else {}
    return None


def _answer(scope: ops.Scope, key: str, responder: str, msg_id: str, fields: dict[Any, Any]) -> Any:
    """The value of a reply entry, or the responder's error raised. The responder's ACL user
    may write any entry to the stream: its size and form are checked here."""
    limit = scope.messaging.max_message_bytes
    data, text = fields.get(b"r"), fields.get(b"e")
    context = {"from": responder, "msg_id": msg_id}
    if isinstance(text, bytes) and len(text) <= 4 * ERROR_TEXT_MAX:
        # written by the responder's user, maybe by hand: empty or long, it is still its answer
        shown = error_text(to_text(text) or "(no error text)")
        raise ResponderError(
            f"{responder!r} answered request {msg_id} with an error: {shown}"
        ).with_context(**context, reply_error=shown)
    if not isinstance(data, bytes) or len(data) > limit:
        what = "no value" if data is None else f"{len(data)} bytes, over {limit}"
        raise ResponderError(
            f"{responder!r} answered request {msg_id} with a reply roleredis cannot read "
            f"({what}: messaging.max_message_bytes bounds a reply as it does a message)"
        ).with_context(**context, reply_error="malformed reply")
    try:
        return scope.codec.decode(data, key)
    except SerializationError as exc:
        raise ResponderError(
            f"{responder!r} answered request {msg_id} with a value that cannot be decoded: {exc}"
        ).with_context(**context, reply_error="undecodable reply") from None


def error_text(error: Any) -> str:
    """What a reply says of an error: ``Type: message`` of an exception (never a traceback),
    or the text given; at most ERROR_TEXT_MAX characters.

    >>> error_text(KeyError("city"))
    "KeyError: 'city'"
    >>> len(error_text("x" * 5000))
    1000
    """
    if isinstance(error, BaseException):
        message = str(error)
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    elif isinstance(error, str):
        text = error
    else:
        raise InvalidArgumentError(
            f"error must be a str or an exception, got {type(error).__name__}"
        )
    if not text:
        raise InvalidArgumentError("error must not be empty: say what went wrong")
    return text if len(text) <= ERROR_TEXT_MAX else text[: ERROR_TEXT_MAX - 3] + "..."


def reply(
    scope: ops.Scope,
    id: Any,
    body: Any = None,
    *,
    error: Any = None,
) -> ops.Op[Answered]:
    """Answer the request ``id`` (as :func:`~roleredis.core.mail.receive` gave it)
    with ``body``, or with ``error`` (a text or an exception: the requester gets a
    ``responder_error`` failure with it), and acknowledge it, in one round trip."""
    if error is not None and body is not None:
        raise InvalidArgumentError("give a reply's body or its error, not both")
    box = mailbox(scope)
    message_id = id
    sender, entry = parse_id(message_id)
    known = box.requests.pop(message_id, None)
    if known is None:
        key = yield from _request_of(scope, box, sender, entry, message_id)
    else:
        key = known[0]
    msg_id = key.rpartition(":")[2]
    if error is not None:
        fields: tuple[Any, ...] = ("e", error_text(error))
    else:
        fields = ("r", encode_body(scope, body, key, "reply"))
    context = OUTGOING.get()
    if context is not None:  # the trace the reply is part of (the requester may ignore it)
        fields = (*fields, "c", context)
    xadd: ops.Call = ("xadd", (key, "NOMKSTREAM", "*", *fields))
    acked = yield from ack(scope, [message_id], before=[xadd])
    return Answered(message_id, sender, msg_id, acked.before[0] is not None)


def _request_of(
    scope: ops.Scope, box: Mailbox, sender: str, entry: str, message_id: str
) -> ops.Op[str]:
    """The reply stream of a request this store did not hand out (another process received
    it, or it was forgotten): its entry read back from the channel."""
    channel = box.channels.get(sender) or scope.keyspace.mail_channel(sender)
    (found,) = yield [("xrange", (channel, entry, entry))]
    fields = _first_entry([(channel, found)]) if found else None
    if fields is None:
        raise NotFoundError(
            f"no message {message_id!r} in the inbox of {scope.role!r} (acknowledged "
            "already, or never received)"
        )
    msg_id = fields.get(b"m")
    timeout = deadline_ms(fields.get(b"d"))
    if timeout is None or not isinstance(msg_id, bytes):
        raise InvalidArgumentError(
            f"message {message_id!r} is mail, not a request (no reply is expected): "
            "acknowledge it with redis_ack"
        )
    request_id = to_text(msg_id)
    if REQUEST_ID.fullmatch(request_id) is None:
        raise InvalidArgumentError(f"message {message_id!r} is a malformed request")
    return Keyspace(sender).reply_key(scope.role, request_id)
