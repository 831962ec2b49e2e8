"""The fire-and-forget fast lane: ``redis_write_async(..., role=...)`` (:func:`write_async`)
in about half the caller's time of the general call (:func:`roleredis.table.calls.call` with
the row's run hook, :func:`roleredis.table.queueing.queue_write`), and
``redis_send_async(..., role=...)`` (:func:`send_async`) in about four fifths of it, with the
same checks, result, metrics and log line.

What the general call works out again at every call (the role validated, its store, its
settings, its key prefix, the default TTL, whether values are only JSON-encoded, the writer) is
kept per role in a :class:`Lane`, made by the first call through the lane and forgotten on
:func:`roleredis.runtime.reset` (and in a forked child). A write then does one dict look-up,
checks its key, TTL and value in line, queues a tuple, counts itself in the metrics and builds
its result; a send runs the general call's own preparation and queueing
(:func:`roleredis.core.mail.prepare_send`, :func:`.queueing.known_length`,
:func:`.queueing.submit_send`) without its role resolution and look-ups.

The lane only carries calls that succeed. Whatever is not its plain case (no ``role=``, a
span per fire-and-forget call (``tracing.fire_and_forget``), an invalid key, TTL, value,
recipient or message, a full queue, a channel length to ask, a patched hook of the tools)
returns None before anything is queued, and the caller makes the general call, which finds
the same error and reports it (the result, the metrics' error_code, the log line) as it
always has.
"""

from __future__ import annotations

from collections.abc import Callable
from logging import DEBUG
from time import perf_counter
from typing import Any

from .. import runtime
from ..core import index
from ..core.codec import encode
from ..core.mail import prepare_send
from ..core.results import queued_send, queued_write, queued_write_form
from ..core.store import RoleStore
from ..foundation.keys import MAX_KEY_BYTES
from ..foundation.ttl import NO_EXPIRY
from ..transport.writer.thread import Writer
from . import queueing, tracing
from .calls import log
from .metrics import record
from .operation import Result

__all__ = ["Lane", "send_async", "write_async"]

#: values the lane encodes with :func:`roleredis.core.codec.encode` straight away: a str or
#: bytes value goes through the scope, whose size floor refuses a huge one before encoding it
_ENCODED_AS_IS = frozenset({dict, list, int, float, bool, type(None)})


class Lane:
    """What a role's fire-and-forget writes need, worked out once (see the module doc)."""

    __slots__ = (
        "default_ttl",
        "default_warning",
        "form",
        "indexed",
        "max_value_bytes",
        "operation",
        "plain",
        "prefix",
        "role",
        "scope",
        "submit",
        "timed_alike",
        "writer",
    )

    def __init__(self, store: RoleStore, writer: Writer, operation: str) -> None:
        scope = store.scope
        self.role = store.role
        self.scope = scope
        self.writer = writer
        self.submit = writer.submit_set
        self.timed_alike = writer.clock is perf_counter
        self.operation = operation
        # a prefix to put before a checked key; "" (auto_prefix off): the keyspace checks the
        # key against the internal prefix, so the lane leaves such a role to the general call
        self.prefix = scope.keyspace.prefix
        self.default_ttl, self.default_warning = scope.ttl(None)
        self.max_value_bytes = scope.max_value_bytes
        coder = scope.codec
        self.plain = coder.compression_threshold is None and not coder.encrypt
        self.indexed = scope.index
        self.form = queued_write_form(self.role)


_GATE = tracing.GATE  # mutated in place, never replaced
_lanes: dict[str, Lane] = {}
runtime.on_reset(lambda forked: _lanes.clear())


def _open(
    store_for: Callable[[str | None], RoleStore], role: Any, operation: str, started: float
) -> Lane | None:
    """The role's lane for a call begun at ``started`` (a perf_counter reading), made now if
    need be; None where the general call must run: a span per fire-and-forget call
    (``tracing.fire_and_forget``), a role that is not a str, or an error to report."""
    tracer = _GATE.tracer if started < _GATE.until else _GATE.check(started)
    if tracer is not None and _GATE.queued:
        return None  # the general call makes the span
    if type(role) is not str:
        return None
    lane = _lanes.get(role)
    if lane is None:  # (a forked child's writer is new: the reset hook forgot the lanes)
        try:
            store = store_for(role)
            lane = _lanes[role] = Lane(store, queueing.writer_for(store), operation)
        except Exception:  # the general call reports it
            return None
    return lane


def write_async(
    operation: str,
    store_for: Callable[[str | None], RoleStore],
    role: Any,
    key: Any,
    value: Any,
    ttl: Any,
    encrypt: Any,
) -> Result | None:
    """The result of ``redis_write_async(key, value, ttl, role=role, encrypt=encrypt)`` queued
    through the lane, or None if the lane does not carry it (nothing was queued then: make the
    general call). ``operation`` is the row's name (the metrics' and the log's)."""
    started = perf_counter()
    lane = _open(store_for, role, operation, started)
    if lane is None:
        return None
    # the key: what Keyspace.full_key accepts, for an ASCII key (a byte a character) and a
    # prefix (without one, a key must also stay out of the internal keys: the general call)
    prefix = lane.prefix
    if type(key) is not str or not 0 < len(key) <= MAX_KEY_BYTES or not key.isascii() or not prefix:
        return None
    full_key = prefix + key
    try:
        if ttl is None:
            seconds, warning = lane.default_ttl, lane.default_warning
        else:
            seconds, warning = lane.scope.ttl(ttl)
        if lane.plain and encrypt is None and type(value) in _ENCODED_AS_IS:
            data = encode(value)
            if len(data) > lane.max_value_bytes:
                return None
        else:
            data = lane.scope.encode(value, full_key, encrypt)
    except Exception:  # the general call reports it
        return None
    update = None
    if lane.indexed:
        update = index.add_call(lane.scope.keyspace, [(index.score_for(seconds), key)])
    # queued at the call's start, on the writer's clock (its default: the one read above)
    queued_at = started if lane.timed_alike else lane.writer.clock()
    if not lane.submit(full_key, data, seconds, update, queued_at):
        return None  # full or closing: the general call says which
    elapsed = perf_counter() - started
    record(operation, role, elapsed)
    if log.isEnabledFor(DEBUG):
        log.debug("%s ok role=%s key=%.200r in %.2f ms", operation, role, key, elapsed * 1e3)
    ttl = NO_EXPIRY if seconds is None else seconds
    return queued_write(key, full_key, role, ttl, warning, lane.form)


def send_async(
    operation: str,
    store_for: Callable[[str | None], RoleStore],
    role: Any,
    to_role: Any,
    message: Any,
) -> Result | None:
    """The result of ``redis_send_async(to_role, message, role=role)`` queued through the lane,
    or None if the lane does not carry it (nothing was queued then: make the general call).

    The send is checked and encoded by :func:`roleredis.core.mail.prepare_send` and queued by
    :func:`roleredis.table.queueing.submit_send`, as the general call does; the lane carries
    it only when the channel's length is known without asking (:func:`.queueing.known_length`:
    not the first send to the recipient, asked less than a second ago, not full) and the
    queue takes it. Otherwise the prepared send is undone (its announce left to the general
    call) and the general call asks, queues or reports."""
    started = perf_counter()
    lane = _open(store_for, role, operation, started)
    if lane is None:
        return None
    scope = lane.scope
    writer = lane.writer
    try:
        prepared = prepare_send(scope, to_role, message, packed=writer.takes_packed)
    except Exception:  # the general call reports it
        return None
    known = queueing.known_length(scope, prepared)
    if known is None or not queueing.submit_send(writer, prepared, known):
        prepared.unsent()  # the general call asks the length, or says the queue is full
        return None
    elapsed = perf_counter() - started
    record(operation, role, elapsed)
    if log.isEnabledFor(DEBUG):  # the general call's line: a send has no key
        log.debug("%s ok role=%s key=%.200r in %.2f ms", operation, role, None, elapsed * 1e3)
    return queued_send(prepared)
