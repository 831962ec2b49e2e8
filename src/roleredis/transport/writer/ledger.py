"""The writer's ledger: what is queued besides writes, and who accounts for the batch in hand.

A :class:`Flush` marker and a :class:`ReadRequest` are the queue's items besides writes (a
flat tuple: :func:`.plan.queued`). :class:`Ledger` is the part of
:class:`.thread.Writer` that settles a batch: it counts what was written, refused or given up
(under the lock with which the closing thread takes the batch over at exit, after which the
writer stops: :class:`Orphaned`), logs it, and hands each read its result on its caller's
event loop. Its state is made by ``Writer.__init__``.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any

import hiredis
import redis.exceptions as rex

from ...foundation.errors import translate
from ..retry import refused_by_server
from .plan import ARGS, INDEX, Each, call_of

log = logging.getLogger("roleredis.background")

Callback = Callable[[dict[str, Any]], Any]


class Orphaned(Exception):
    """The closing thread has taken the writer's work over (exit): the writer just stops."""


class Flush:
    """A marker in the queue: everything before it is done when the writer reaches it."""

    __slots__ = ("carried_before", "done", "lost", "lost_before", "written")

    def __init__(self, carried_before: int, lost_before: int) -> None:
        self.done = threading.Event()
        self.carried_before = carried_before
        self.lost_before = lost_before
        self.written = 0
        self.lost = 0


@dataclasses.dataclass(slots=True)
class ReadRequest:
    """A queued read: its calls, the operation waiting for their replies, the callback, and
    how its result is made (the table's builders: the writer only carries it)."""

    commands: list[tuple[Any, ...]]
    op: Generator[Any, list[Any], Any]
    #: the result of the operation's outcome, and of a failure
    outcome: Callable[[Any], dict[str, Any]]
    failure: Callable[[BaseException], dict[str, Any]]
    callback: Callback | None
    loop: asyncio.AbstractEventLoop | None
    settled: bool = False  # its outcome is known (set under Writer._fate)


def _safe_call(callback: Callback, result: dict[str, Any]) -> None:
    try:
        callback(result)
    except BaseException:  # SystemExit in a callback must not end the writer thread either
        log.exception("a redis_read_async callback raised; the writer carries on")


class Ledger:
    """The writer's accounting of the batch in hand and of the queue at exit (see
    :class:`.thread.Writer`, which is built on it and makes this state)."""

    _queue: collections.deque[Any]
    _fate: threading.Lock
    _taken: bool
    _batch: list[Any]
    _unsettled_writes: int
    in_flight: int
    carried: int
    given_up: int
    failed: int

    def _settled(
        self,
        count: int,
        *,
        carried: int = 0,
        failed: int = 0,
        given_up: int = 0,
        reads: Iterable[ReadRequest] = (),
    ) -> None:
        """Account for ``count`` items of the batch whose fate is known (``reads`` among them).

        Under the lock with which the closing thread takes the batch over at exit: once it
        has, the writer stops (Orphaned) instead of counting anything twice.
        """
        with self._fate:
            if self._taken:
                raise Orphaned
            for request in reads:
                request.settled = True
            self.in_flight -= count
            self._unsettled_writes -= carried + failed + given_up
            self.carried += carried
            self.failed += failed
            self.given_up += given_up

    def _refused(self, item: Any) -> None:
        if type(item) is not tuple:
            self._settled(1, reads=[item])
            error = refused_by_server("a queued read")
            self._deliver(item, item.failure(error))
            return
        self._settled(1, failed=1)
        key, data = item[ARGS : ARGS + 2]
        log.error(
            "roleredis writer: Redis closed the connection on a write of %d bytes to %.200r "
            "but still answers PING (a value over its proto-max-bulk-len?); gave up that "
            "write, the others are sent; %d refused so far",
            len(data),
            key,
            self.failed,
        )

    def _settle(
        self, plan: list[tuple[Any, int]], replies: list[Any], *, replicated: bool = True
    ) -> list[Any]:
        """Account for a batch's replies; return the writes that landed but are not to be
        counted yet (not ``replicated``: async.wait_replicas)."""
        at = 0
        carried = 0
        landed: list[Any] = []
        refused: list[tuple[list[Any], Any]] = []
        reads: list[tuple[ReadRequest, list[Any]]] = []
        for owner, count in plan:
            mine = replies[at : at + count]
            at += count
            if owner is INDEX:  # the ZADD before writes: the writes' own replies judge them
                continue
            if type(owner) is Each:  # writes with a reply each
                for write, reply in zip(owner, mine, strict=True):
                    if isinstance(reply, hiredis.ReplyError):
                        refused.append(([write], reply))
                    elif replicated:
                        carried += 1
                    else:
                        landed.append(write)
            elif type(owner) is list:  # writes: one reply for all of them (SET or MSET), then
                # that of their index update, if any (the write landed whatever it says)
                if isinstance(mine[0], hiredis.ReplyError):
                    refused.append((owner, mine[0]))
                elif replicated:
                    carried += len(owner)
                else:
                    landed.extend(owner)
            else:
                reads.append((owner, mine))
        failed = sum(len(owner) for owner, _ in refused)
        self._settled(
            carried + failed + len(reads),
            carried=carried,
            failed=failed,
            reads=[request for request, _ in reads],
        )
        for owner, reply in refused:
            name, first = call_of(owner[0])
            log.error(
                "roleredis writer: Redis refused %d writes (the first to %.200r, %d bytes): %s",
                len(owner),
                first[0],
                len(first[-1] if name == "xadd" else first[1]),  # a send's body is its last
                reply,
            )
        for request, mine in reads:
            self._finish_read(request, mine)
        return landed

    def _finish_read(self, request: ReadRequest, replies: list[Any]) -> None:
        try:
            for reply in replies:
                if isinstance(reply, hiredis.ReplyError):
                    raise rex.ResponseError(str(reply))
            request.op.send(replies)
        except StopIteration as done:
            result = request.outcome(done.value)
        except Exception as exc:
            result = request.failure(exc)
        else:  # pragma: no cover - read operations finish after one batch
            result = request.failure(RuntimeError("read did not finish"))
        self._deliver(request, result)

    def _deliver(self, request: ReadRequest, result: dict[str, Any]) -> None:
        callback = request.callback
        if callback is None:
            return
        loop = request.loop
        if loop is not None:
            # A loop that has stopped (even if not closed) may never run again: a callback
            # handed to it would be lost without a word. (It may stop just after this check;
            # nothing can tell that from this thread.)
            if loop.is_running() and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(_safe_call, callback, result)
                    return
                except RuntimeError:  # closed in between
                    pass
            log.warning(
                "the event loop of a redis_read_async caller has stopped or closed; running "
                "its callback on the writer thread"
            )
        _safe_call(callback, result)

    def _give_up(self, items: list[Any], why: str) -> None:
        reads = [item for item in items if type(item) is not tuple]
        writes = len(items) - len(reads)
        self._settled(len(items), given_up=writes, reads=reads)
        self._fail_reads(reads)
        if writes:
            self._log_given_up(writes, why)

    def _give_up_unsettled(self, why: str, *, drain: bool, take_over: bool = False) -> None:
        """Give up everything of the batch not yet settled, and with ``drain`` the queue too.

        ``take_over``: called by the closing thread while the writer is stuck; from then on
        the writer counts nothing more (each write is counted once, by one of the two).
        """
        markers: list[Flush] = []
        with self._fate:
            if self._taken:
                return
            self._taken = take_over
            writes = self._unsettled_writes
            reads = [r for r in self._batch if type(r) is not tuple and not r.settled]
            while drain and self._queue:
                item = self._queue.popleft()
                if type(item) is Flush:
                    markers.append(item)
                elif type(item) is tuple:
                    writes += 1
                else:
                    reads.append(item)
            for request in reads:
                request.settled = True
            self._batch = []
            self.in_flight = 0
            self._unsettled_writes = 0
            self.given_up += writes
        for marker in markers:
            marker.done.set()
        self._fail_reads(reads)
        if writes:
            self._log_given_up(writes, why)

    def _fail_reads(self, reads: list[ReadRequest]) -> None:
        failure = translate(rex.ConnectionError("Redis unreachable; the read was given up"))
        for request in reads:
            self._deliver(request, request.failure(failure))

    def _log_given_up(self, writes: int, why: str) -> None:
        log.error(
            "roleredis writer: gave up %d fire-and-forget writes (%s); %d given up so far",
            writes,
            why,
            self.given_up,
        )
