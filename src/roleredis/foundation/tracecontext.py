"""W3C trace context as roleredis carries it between roles, without OpenTelemetry: the text
of an entry's ``c`` field (:func:`field`), its checks when read back (:func:`parse`), the
context an operation running now writes (:data:`OUTGOING`) and the hook the fire-and-forget
writer calls around each batch (:data:`HOOKS`).

An entry's ``c`` field is ``traceparent`` or ``traceparent,tracestate`` (a traceparent holds
no comma). It was written by another role's ACL user, maybe by hand: it is untrusted. What
:func:`parse` accepts is a W3C carrier dict (``{"traceparent": ..., "tracestate": ...}``), the
form OpenTelemetry's propagators take; anything else is dropped (None), never an error, and
never makes the entry itself unreadable.

>>> parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
{'traceparent': '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'}
>>> parse(b"00-00000000000000000000000000000000-00f067aa0ba902b7-01") is None
True

Nothing here imports OpenTelemetry: the table's tracing module (``roleredis.otel``) turns a
span into this text and back. Core operations read :data:`OUTGOING` (one context variable
look-up per send), so a trace crosses roles without any operation's signature changing.
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

__all__ = [
    "FIELD",
    "HOOKS",
    "MAX_FIELD",
    "OUTGOING",
    "TRACESTATE_MAX",
    "Hooks",
    "field",
    "parse",
]

#: The optional field of a mail, request, reply or event entry that carries the context.
FIELD = "c"
#: The longest tracestate kept (W3C: at most 512 characters are propagated).
TRACESTATE_MAX = 512
#: The longest ``c`` field read at all: a traceparent (55), a comma, a tracestate.
MAX_FIELD = 55 + 1 + TRACESTATE_MAX

#: The trace context (the ``c`` field's text) an operation running now writes into the
#: entries it makes; None (the default): none. Set by the table's call wrappers around a
#: call while OpenTelemetry is in use; a context variable, so each thread and task has its own.
OUTGOING: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "roleredis_trace_context", default=None
)

# version 00 only (a later version may add fields: it is not read), lowercase hex, as W3C says
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
# a tracestate list-member: key=value (W3C trace-context, section 3.3.1)
_MEMBER = re.compile(
    r"(?:[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13}|[a-z][_0-9a-z\-*/]{0,255})"
    r"=[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
)
_MEMBERS_MAX = 32


def field(traceparent: str, tracestate: str = "") -> str:
    """The ``c`` field's text for a context (tracestate dropped if over TRACESTATE_MAX).

    >>> field("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=1")
    '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,a=1'
    """
    if tracestate and len(tracestate) <= TRACESTATE_MAX:
        return f"{traceparent},{tracestate}"
    return traceparent


def _tracestate(text: str) -> str | None:
    members = [member.strip() for member in text.split(",")]
    members = [member for member in members if member]
    if not members or len(members) > _MEMBERS_MAX:
        return None
    if any(_MEMBER.fullmatch(member) is None for member in members):
        return None
    return ",".join(members)


def parse(raw: Any) -> dict[str, str] | None:
    """The carrier of a ``c`` field as read (bytes or str), or None if it is absent, over
    MAX_FIELD, or its traceparent is malformed (a tracestate that is malformed alone is
    dropped, the traceparent kept, as W3C says).

    >>> parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,vendor=x")["tracestate"]
    'vendor=x'
    >>> parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01," + "a=" + "x" * 600)
    """
    if isinstance(raw, bytes):
        if len(raw) > MAX_FIELD:
            return None
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    elif isinstance(raw, str):
        if len(raw) > MAX_FIELD:
            return None
        text = raw
    else:
        return None
    parent, comma, state = text.partition(",")
    match = _TRACEPARENT.fullmatch(parent)
    if match is None or match.group(1) == _ZERO_TRACE or match.group(2) == _ZERO_SPAN:
        return None
    carrier = {"traceparent": parent}
    if comma:
        kept = _tracestate(state)
        if kept is not None:
            carrier["tracestate"] = kept
    return carrier


class Hooks:
    """What the fire-and-forget writer (transport, below the table) calls to trace: ``batch``,
    given the batch's item count, returns a context manager around the batch's send; None
    (the default) while tracing is off, so the writer pays one attribute read per batch."""

    __slots__ = ("batch",)

    def __init__(self) -> None:
        self.batch: Callable[[int, Any], AbstractContextManager[Any]] | None = None


#: The process's hooks (set and cleared by ``roleredis.otel``).
HOOKS = Hooks()
