"""The run hooks of the fire-and-forget rows (``write_async``, ``read_async``, ``send_async``):
each checks and prepares the call in the caller (bad keys, values, TTLs, recipients fail here),
then queues it on the process's one writer (:func:`writer_for`) instead of calling a store
method; a full queue is ``overloaded``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from .. import runtime
from ..core import mail, ops, results
from ..core.store import RoleStore
from ..foundation.errors import ConfigError, InvalidArgumentError, OverloadedError
from ..foundation.internals import running_loop
from ..transport.connection import describe, target_of
from ..transport.executor import to_wire
from ..transport.writer import process as writer_process
from ..transport.writer.ledger import ReadRequest
from ..transport.writer.thread import Writer
from .operation import Args, Result

__all__ = [
    "known_length",
    "queue_read",
    "queue_send",
    "queue_write",
    "submit_send",
    "writer_for",
]


def _overloaded(what: str) -> OverloadedError:
    if writer_process.closing():
        return OverloadedError(
            f"the fire-and-forget writer is shutting down (interpreter exit); the {what} was "
            "not queued: use the synchronous call"
        )
    limit = runtime.settings().async_max_pending
    return OverloadedError(
        f"the fire-and-forget queue is full ({limit} pending, async.max_pending); the {what} "
        "was not queued: slow down, call redis_flush(), or raise async.max_pending"
    )


def writer_for(store: RoleStore) -> Writer:
    """The process's one fire-and-forget writer, which connects where the process's settings
    say: refused for a store given settings of another connection target, whose writes it
    would send to the wrong server. (The tools' stores always have the process's settings.)"""
    writer = runtime.writer()
    ours, its = store.settings, writer.settings
    if ours is not its and target_of(ours) != target_of(its):
        raise ConfigError(
            f"fire-and-forget calls go through the process's one writer, which connects to "
            f"{describe(its)} (the process's settings); this store was given settings for "
            f"{describe(ours)}: use the store's own calls (store.write, store.send) there"
        )
    return writer


def queue_write(store: RoleStore, args: Args, kwargs: Mapping[str, Any]) -> Result:
    key, value, ttl = args
    prepared = ops.prepare_write(store.scope, key, value, ttl, kwargs["encrypt"])
    if not writer_for(store).submit_write(prepared.call, prepared.index):
        raise _overloaded("write")
    w = prepared.written
    return results.queued_write(w.key, w.full_key, store.role, w.ttl, w.warning)


def queue_read(store: RoleStore, args: Args, kwargs: Mapping[str, Any]) -> Result:
    key, callback = args
    if callback is not None and not callable(callback):
        raise InvalidArgumentError(
            f"callback must be callable or None, got {type(callback).__name__}"
        )
    op = ops.read(store.scope, key)
    calls = next(op)  # validates the key now, in the caller
    full_key = store.full_key(key)
    request = ReadRequest(
        commands=[to_wire(call) for call in calls],
        op=op,
        outcome=results.entry,
        failure=functools.partial(results.failure, key=key, role=store.role, prefixed_key=full_key),
        callback=None if callback is None else _missing_value_for(callback),
        loop=running_loop(),
    )
    if not writer_for(store).submit_read(request):
        raise _overloaded("read")
    return results.queued_read(key, full_key, callback is not None)


def _missing_value_for(callback: Callable[[Result], Any]) -> Callable[[Result], Any]:
    """``callback``, given the read's result as ``redis_read`` returns it."""

    def deliver(result: Result) -> Any:
        return callback(results.with_missing_value(result))

    return deliver


def queue_send(store: RoleStore, args: Args, kwargs: Mapping[str, Any]) -> Result:
    to_role, message = args
    scope = store.scope
    queue = writer_for(store)
    prepared = mail.prepare_send(scope, to_role, message, packed=queue.takes_packed)
    known = known_length(scope, prepared)
    if known is None:
        prepared.route.checked_at = prepared.now
        try:
            known = store.run(mail.channel_length(scope, prepared))
        except BaseException:
            prepared.unsent()
            raise
    if not submit_send(queue, prepared, known):
        raise _overloaded("send")
    return results.queued_send(prepared)


def known_length(scope: ops.Scope, prepared: mail.PreparedSend) -> int | None:
    """The length of the prepared send's channel as this process knows it (the last XLEN plus
    what it queued since), or None if the channel must be asked first (XLEN): unknown, last
    asked a second ago or more (mail.DISCOVERY_EVERY), or full by what is known. A queued
    send cannot be refused later by a full channel: it is refused now, by this."""
    route = prepared.route
    known = route.length
    checked = route.checked_at
    if (
        known is None
        or checked is None
        or prepared.now - checked >= mail.DISCOVERY_EVERY
        or known >= scope.messaging.max_length
    ):
        return None
    return known


def submit_send(queue: Writer, prepared: mail.PreparedSend, known: int) -> bool:
    """Queue a prepared send on ``queue`` (``known``: its channel's length, see
    :func:`known_length`): the XADD (packed, if it was prepared so), then its announce (SADD)
    when due. False if the queue is full (nothing queued, the announce left to the next send)."""
    calls = prepared.calls
    submit = queue.submit_write
    xadd = calls[0] if prepared.packed is None else (*calls[0], prepared.packed)
    if not submit(xadd):
        prepared.unsent()
        return False
    if len(calls) == 2 and not submit(calls[1]):  # the announce (SADD), after the XADD
        prepared.unsent()  # queued, not announced: the next send announces
    prepared.route.length = known + 1  # so that sends queued by this process fill the channel
    return True
