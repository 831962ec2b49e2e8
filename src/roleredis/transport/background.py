"""The fire-and-forget writer: one thread per process that batches queued work into pipelines.

Callers validate and encode (so a bad value is reported to them, never lost here); the writer
only packs and sends. Work is applied in queue order, so writes made by one thread land in the
order they were made, and a read queued after them sees them. While Redis is down the batch in
hand is kept and retried (at least every 2 s), the outage logged once as it begins and once as
it ends; a write is given up only when it has waited longer than ``async.max_age`` or at exit
after ``async.drain_timeout``, and every one given up is counted and logged (at exit by the
closing thread itself if the writer is stuck on a hung server). The exit drain runs at exit, in
multiprocessing's finalizers in a child, and on SIGTERM in a pool worker (see
:func:`_drain_on_sigterm`). A
batch on which the server closes a new connection while still answering PING holds a write it
refuses (a value over its proto-max-bulk-len): the batch is halved until that write is found,
which alone is given up (counted as failed, logged with its key and size); the others land.
Nothing starts before the first fire-and-forget call.

With ``async.wait_replicas: N`` each batch ends with ``WAIT N async.wait_timeout`` on the
connection(s) that carried it (on a cluster, one per node that carried part of it: see
roleredis.transport.cluster). Writes of a batch that fewer than N replicas acknowledged landed on
the
primary only: they are not counted as written but kept and sent again (SET, MSET and the
index's ZADD GT are idempotent) until replicated, or given up (counted, logged) once older
than ``async.max_age``, like writes held through an outage.

Failures are judged by the one retry policy (:meth:`RetryPolicy.for_writer`) and reported to the
process's breaker, which the writer consults without obeying: it never stops retrying queued
writes because the breaker is open (it waits the longest backoff instead of hammering), its
failures are counted there (the health check shows them) without opening it by themselves (no
caller waits on the writer), and a batch that gets through closes it. Ages, backoff and the exit
drain read an injectable ``clock``; the wait between retries is an injectable ``pause``.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import dataclasses
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable
from typing import Any

import hiredis
import redis.exceptions as rex

from ..foundation import lifecycle
from ..foundation.config import Settings
from ..foundation.errors import InvalidArgumentError, RoleRedisError, translate
from ..foundation.internals import check_out, is_plain_socket, shut_down
from .breaker import Breaker
from .connection import build_client, close_client, describe, route_for, uses_tls
from .executor import answers_ping, roundtrip, send_packed, tell_breaker, to_wire
from .retry import WRITER_BACKOFF, Decision, RetryPolicy, refused_by_server

__all__ = ["Writer", "current_writer", "flush", "stats", "writer"]

log = logging.getLogger("roleredis.background")

_MAX_BACKOFF = WRITER_BACKOFF[-1]  # a retry at least every 2 s
_IDLE_WAIT = 1.0
#: after the exit drain, how long the writer may take to stop (twice: once told to, once its
#: socket is shut down); both within the documented "drain_timeout plus about a second"
_STOP_GRACE = 0.25
Callback = Callable[[dict[str, Any]], Any]


class _Orphaned(Exception):
    """The closing thread has taken the writer's work over (exit): the writer just stops."""


class _Abandoned(Exception):
    """The exit drain ran out: everything not yet sent is given up."""


class _Flush:
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


class Writer:
    """The queue and the thread that empties it. :func:`roleredis.runtime.writer` is the
    process's one."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        pause: Callable[[float], object] | None = None,
        breaker: Breaker,
    ) -> None:
        self.settings = settings
        #: seconds from an arbitrary origin, for ages, backoff and the exit drain; tests pass
        #: a roleredis.testing.FakeClock and advance it
        self.clock = clock
        #: waits between retries; the default waits on the writer's Event (a flush or the
        #: exit drain cuts it short), a test may advance its fake clock instead
        self.pause: Callable[[float], object] = pause if pause is not None else self._wait
        self.breaker = breaker
        self.policy = RetryPolicy.for_writer(tls=uses_tls(settings), address=describe(settings))
        self.max_pending = settings.async_max_pending
        self.batch_size = settings.async_batch_size
        self.max_age = settings.async_max_age
        self.wait_replicas = settings.async_wait_replicas
        self._wait_command: tuple[Any, ...] | None = None
        if self.wait_replicas:
            timeout_ms = max(1, round(settings.async_wait_timeout * 1000))
            self._wait_command = ("WAIT", self.wait_replicas, timeout_ms)
        self._unreplicated = False
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._sleeping = False
        self._closing = False
        self._abandon = False
        #: since when (self.clock) the writer's sends fail, None while they go through; and
        #: what it has said about it so far: one line per outage, and one when it is over
        self._outage_since: float | None = None
        self._outage_told: set[str] = set()
        self.in_flight = 0
        self.carried = 0
        self.given_up = 0
        self.failed = 0
        self.batches = 0
        # Who accounts for the batch in hand: the writer thread, or (once _taken) the thread
        # closing the writer at exit while the writer is stuck on a hung server.
        self._fate = threading.Lock()
        self._taken = False
        self._batch: list[Any] = []
        self._unsettled_writes = 0
        self._route = route_for(build_client(settings))
        self._conn: Any = None
        #: whether a write may come with its command already in the Redis protocol (a third
        #: element of the call, see :func:`_plan`): only on a single server's plain socket;
        #: callers read it to pack in their own thread or not (a cluster splits by key)
        self.takes_packed = False
        self._thread = threading.Thread(target=self._run, name="roleredis-writer", daemon=True)
        self._thread.start()

    # --- caller side (any thread) -------------------------------------------------------

    def pending(self) -> int:
        """Work queued or in flight (writes, reads and flush markers)."""
        return len(self._queue) + self.in_flight

    def _enqueue(self, item: Any) -> bool:
        if len(self._queue) + self.in_flight >= self.max_pending or self._closing:
            return False
        self._queue.append(item)
        if self._sleeping:
            self._wake.set()
        return True

    def submit_write(self, command: tuple[Any, ...], index: tuple[Any, ...] | None = None) -> bool:
        """Queue one encoded write command, and the update of the role's key index to send
        right after it (see roleredis.core.index); False if the queue is full."""
        queue = self._queue  # _enqueue inline: this runs once a fire-and-forget call
        if len(queue) + self.in_flight >= self.max_pending or self._closing:
            return False
        queue.append((command, self.clock(), index))
        if self._sleeping:
            self._wake.set()
        return True

    def submit_read(self, request: ReadRequest) -> bool:
        return self._enqueue(request)

    def flush(self, timeout: float | None = None) -> tuple[bool, int, int, int]:
        """Wait until all work queued before now is done.

        Returns ``(done, written, still_pending, lost)``: ``lost`` counts writes given up or
        refused by the server while waiting (each also logged and counted in stats()).
        """
        if threading.current_thread() is self._thread:
            raise InvalidArgumentError("redis_flush cannot be called from a read callback")
        marker = _Flush(self.carried, self.given_up + self.failed)
        self._queue.append(marker)
        self._wake.set()
        if marker.done.wait(timeout):
            return True, marker.written, 0, marker.lost
        try:
            ahead = self._queue.index(marker)
        except ValueError:  # reached just now
            if marker.done.wait(1.0):
                return True, marker.written, 0, marker.lost
            ahead = 0
        lost = self.given_up + self.failed - marker.lost_before
        return False, self.carried - marker.carried_before, ahead + self.in_flight, lost

    def close(self, timeout: float) -> None:
        """Drain for up to ``timeout`` seconds, give up (count, log) the rest, stop the thread.

        Returns within ``timeout`` plus half a second whatever the writer is doing: if it is
        stuck (a read from a hung server, a connect, a cluster's slot map being fetched), this
        thread accounts for the work it holds and shuts its socket down. The writer closes its
        client itself as it stops (a stuck one holds locks that closing it here would wait on).
        """
        if not self._thread.is_alive():
            return
        done = self.flush(timeout)[0]
        self._closing = True
        if not done:
            self._abandon = True
        self._wake.set()
        self._thread.join(_STOP_GRACE)
        if self._thread.is_alive():
            self._give_up_unsettled(
                "the exit drain timeout ran out while Redis did not answer",
                drain=True,
                take_over=True,
            )
            shut_down(self._conn)
            self._thread.join(_STOP_GRACE)

    def stats(self) -> dict[str, int]:
        return {
            "pending": self.pending(),
            "written": self.carried,
            "given_up": self.given_up,
            "failed": self.failed,
            "batches": self.batches,
        }

    # --- the writer thread ----------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        finally:  # the writer stops only when closed: it closes its own client
            try:
                close_client(self._route.client)
            except Exception:  # at exit: nothing to tell anyone
                log.debug("roleredis writer: closing its client failed", exc_info=True)

    def _loop(self) -> None:
        queue = self._queue
        while not self._taken:
            if not queue:
                if self._closing:
                    return
                self._sleeping = True
                if not queue:
                    self._wake.wait(_IDLE_WAIT)
                self._sleeping = False
                self._wake.clear()
                continue
            items = self._take_batch()
            if not items:
                continue
            try:
                self._send(items)
            except _Orphaned:
                return
            except _Abandoned:
                self._give_up_unsettled(
                    "the exit drain timeout ran out while Redis was unreachable", drain=True
                )
            except Exception:  # a bug must not kill the writer: count and log
                log.exception("roleredis writer: unexpected error")
                self._give_up_unsettled("an unexpected error in the writer", drain=False)

    def _take_batch(self) -> list[Any]:
        """The next batch from the queue (up to a flush marker, which is settled here)."""
        queue = self._queue
        items: list[Any] = []
        writes = 0
        with self._fate:
            if self._taken:
                return items
            while queue and len(items) < self.batch_size:
                if type(queue[0]) is _Flush:
                    if items:
                        break
                    marker = queue.popleft()
                    marker.written = self.carried - marker.carried_before
                    marker.lost = self.given_up + self.failed - marker.lost_before
                    marker.done.set()
                    continue
                item = queue.popleft()
                items.append(item)
                if type(item) is tuple:
                    writes += 1
            self._batch = items
            self.in_flight = len(items)
            self._unsettled_writes = writes
        return items

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
        has, the writer stops (_Orphaned) instead of counting anything twice.
        """
        with self._fate:
            if self._taken:
                raise _Orphaned
            for request in reads:
                request.settled = True
            self.in_flight -= count
            self._unsettled_writes -= carried + failed + given_up
            self.carried += carried
            self.failed += failed
            self.given_up += given_up

    def _send(self, items: list[Any]) -> None:
        attempt = 0
        unreplicated_rounds = 0
        while items:
            if self._abandon:
                raise _Abandoned
            fresh = self._conn is None
            pool = self._route.client.connection_pool  # None for a cluster
            commands: list[Any] = []
            plan: list[tuple[Any, int]] = []
            try:
                if pool is None:  # a cluster: each part to its node, on a pooled connection
                    commands, plan = self._plan(items, packed=False)
                    replies = self._exchange(commands)
                else:  # one server: on the connection the writer keeps
                    if self._conn is None:
                        self._conn = check_out(pool)
                        self.takes_packed = is_plain_socket(getattr(self._conn, "_sock", None))
                    commands, plan = self._plan(items, packed=self.takes_packed)
                    replies = roundtrip(self._conn, commands)
            except (rex.RedisError, OSError) as exc:
                # connection failures, and a handshake the server refused or did not understand
                # (AUTH, SELECT; not Redis at all): no reply errors, those come back as values
                self._drop_connection()
                if self._taken:
                    raise _Orphaned from None
                ping = pool is not None and self.policy.should_ping(exc)
                if ping and not fresh:  # held since an earlier batch, it may have gone stale
                    continue
                attempt += 1
                decision = self.policy.decide(
                    exc, attempt, 0.0, answers_ping=answers_ping(pool) if ping else None
                )
                if decision.refused:
                    self.breaker.succeeded()
                    self._isolate(items)
                    return
                self._tell_breaker(decision)
                items = self._after_failure(items, decision.error)
                if items:
                    self.pause(self._backoff(decision))
                continue
            self.batches += 1
            self.breaker.succeeded()  # an answer: the server is there
            if self._outage_since is not None:
                self._outage_over()
            if self._wait_command is None:
                self._settle(plan, replies)
                return
            reached = replies.pop()
            replicated = not isinstance(reached, hiredis.ReplyError) and (
                int(reached) >= self.wait_replicas
            )
            unreplicated = self._settle(plan, replies, replicated=replicated)
            if not unreplicated:
                if self._unreplicated:
                    self._unreplicated = False
                    log.warning("roleredis writer: writes reach async.wait_replicas again")
                return
            items = self._keep_unreplicated(unreplicated, reached)
            if items:
                unreplicated_rounds += 1
                self.pause(min(_MAX_BACKOFF, 0.1 * unreplicated_rounds))

    def _plan(self, items: list[Any], *, packed: bool) -> tuple[list[Any], list[tuple[Any, int]]]:
        commands, plan = _plan(items, packed=packed)
        if self._wait_command is not None:  # last, so that it counts every write of the batch
            commands.append(self._wait_command)
        return commands, plan

    def _exchange(self, commands: list[Any]) -> list[Any]:
        """A cluster batch's replies. Index updates of keys outside the index's slot go in
        round trips of their own: every ``_Lead`` ZADD before any write, every ``_Trail``
        after them all (a batch's parts go to several nodes, in no order between them)."""
        phases: list[list[int]] = [[], [], []]
        for i, command in enumerate(commands):
            kind = type(command)
            phases[0 if kind is _Lead else 2 if kind is _Trail else 1].append(i)
        if not phases[0]:
            whole: list[Any] = self._route.send(commands, send_packed)
            return whole
        replies: list[Any] = [None] * len(commands)
        for phase in phases:
            if phase:
                got = self._route.send([commands[i] for i in phase], send_packed)
                for i, reply in zip(phase, got, strict=True):
                    replies[i] = reply
        return replies

    def _keep_unreplicated(self, writes: list[Any], reached: Any) -> list[Any]:
        """Writes that landed on the primary but not on async.wait_replicas replicas: kept to
        be sent again, or given up if older than async.max_age."""
        oldest_allowed = self.clock() - self.max_age
        kept = [item for item in writes if item[1] >= oldest_allowed]
        too_old = [item for item in writes if item[1] < oldest_allowed]
        if too_old:
            self._give_up(
                too_old,
                f"not replicated to async.wait_replicas ({self.wait_replicas}) replicas within "
                f"async.max_age ({self.max_age:g} s)",
            )
        if kept and not self._unreplicated:
            self._unreplicated = True
            log.warning(
                "roleredis writer: %d writes reached the primary but only %s of "
                "async.wait_replicas (%d) replicas; not counted as written, sending them "
                "again until replicated or async.max_age",
                len(kept),
                reached,
                self.wait_replicas,
            )
        return kept

    def _tell_breaker(self, decision: Decision) -> None:
        """Report a failure to the breaker: counted (the health check shows the writer's
        view), but it does not open it by itself."""
        if decision.server == "down":
            self.breaker.failed(str(decision.error), opens=False)
        else:
            tell_breaker(self.breaker, decision)

    def _backoff(self, decision: Decision) -> float:
        """How long to wait before the next try: the policy's delay, and while the
        breaker is open: at least half the longest (callers already know the server is
        away; no need to hammer it)."""
        delay = decision.delay if decision.delay is not None else _MAX_BACKOFF
        if self.breaker.state == "open":
            delay = max(delay, _MAX_BACKOFF / 2)
        return delay

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _isolate(self, items: list[Any]) -> None:
        """The server closed a new connection on ``items`` yet answers PING: it refuses
        something in them (a value over its proto-max-bulk-len). Halve until that is found,
        give it up alone, and send the rest; a good batch costs nothing of this."""
        if len(items) == 1:
            self._refused(items[0])
            return
        middle = len(items) // 2
        self._send(items[:middle])
        self._send(items[middle:])

    def _refused(self, item: Any) -> None:
        if type(item) is not tuple:
            self._settled(1, reads=[item])
            error = refused_by_server("a queued read")
            self._deliver(item, item.failure(error))
            return
        self._settled(1, failed=1)
        args = item[0][1]
        log.error(
            "roleredis writer: Redis closed the connection on a write of %d bytes to %.200r "
            "but still answers PING (a value over its proto-max-bulk-len?); gave up that "
            "write, the others are sent; %d refused so far",
            len(args[1]),
            args[0],
            self.failed,
        )

    def _after_failure(self, items: list[Any], error: RoleRedisError) -> list[Any]:
        """Fail the reads (their callers are waiting), keep the writes unless too old."""
        kept: list[Any] = []
        too_old: list[Any] = []
        reads: list[ReadRequest] = []
        oldest_allowed = self.clock() - self.max_age
        for item in items:
            if type(item) is tuple:
                (kept if item[1] >= oldest_allowed else too_old).append(item)
            else:
                reads.append(item)
        if reads:
            self._settled(len(reads), reads=reads)
            for request in reads:
                self._deliver(request, request.failure(error))
        if too_old:
            self._give_up(too_old, f"waited longer than async.max_age ({self.max_age:g} s)")
        self._outage_began(error, len(kept))
        return kept

    def _outage_began(self, error: RoleRedisError, kept: int) -> None:
        """Log a failed send once per outage (each retry fails the same way until it ends: a
        cluster failover is a dozen of them), and once more if it turns into another kind."""
        if self._outage_since is None:
            self._outage_since = self.clock()
        # a refused login is not an outage: retrying will not help until the credentials (or
        # the server's users) are fixed; the writes are still kept up to async.max_age
        kind = "permission" if error.error_code == "permission" else "unreachable"
        if kind in self._outage_told:
            log.debug("roleredis writer: still failing (%s); %d writes kept", error, kept)
            return
        self._outage_told.add(kind)
        if kind == "permission":
            log.warning(
                "roleredis writer: authentication failed (%s); keeping %d writes and retrying "
                "until async.max_age (logged once until a send gets through)",
                error,
                kept,
            )
        else:
            log.warning(
                "roleredis writer: Redis unreachable (%s); keeping %d writes and retrying "
                "(logged once per outage)",
                error,
                kept,
            )

    def _outage_over(self) -> None:
        since, self._outage_since = self._outage_since, None
        what = "reachable" if "unreachable" in self._outage_told else "accepting writes"
        self._outage_told.clear()
        lasted = self.clock() - since if since is not None else 0.0
        log.warning(
            "roleredis writer: Redis %s again after %.1f s; sending queued writes", what, lasted
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
            if owner is _INDEX:  # the ZADD before writes: the writes' own replies judge them
                continue
            if type(owner) is _Each:  # writes with a reply each
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
            name, first = owner[0][0][:2]
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
        markers: list[_Flush] = []
        with self._fate:
            if self._taken:
                return
            self._taken = take_over
            writes = self._unsettled_writes
            reads = [r for r in self._batch if type(r) is not tuple and not r.settled]
            while drain and self._queue:
                item = self._queue.popleft()
                if type(item) is _Flush:
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

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._route.client.connection_pool.release(conn)


def _plan(items: list[Any], *, packed: bool = False) -> tuple[list[Any], list[tuple[Any, int]]]:
    """The commands for a batch, and what each reply settles: ``(writes, replies)`` (the
    first reply is that of their SET or MSET) or ``(read request, its command count)``.

    A write's call may carry a third element, the command already in the Redis protocol
    (a fire-and-forget send packs its XADD in the caller's thread): sent as those bytes when
    ``packed`` (one server, a plain socket), else made from the call like any other.

    Consecutive writes without a TTL to the same role go out as one MSET: one command and one
    reply for hundreds of writes, which is where the writer's time went (redis-py-free packing
    and parsing are per command). Order is kept: a run ends at the first write with a TTL, a
    read, or another role's key (so an ACL refusal of one role never takes another's writes).
    With the role's key index on, consecutive writes to one role (with or without a TTL) get
    one ZADD before the first of them (its own plan entry, ``_INDEX``) and one after the last,
    counted with it: ZADD, SET..., ZADD (see roleredis.core.index on the order). Where the role's
    keys are not in its index's Cluster slot (no ``{role}`` tag), both are ``_Lead`` and
    ``_Trail`` commands, which :meth:`Writer._exchange` sends in round trips of their own on a
    Cluster.
    """
    commands: list[Any] = []
    plan: list[tuple[Any, int]] = []
    run: list[Any] = []
    run_args: list[Any] = []
    run_role = ""
    group_index: list[Any] = []  # the ZADD of the role's writes since its first
    group_at = (0, 0)  # where the role's writes begin: in commands, in plan
    each = _Each()  # consecutive packed sends: one plan entry, a reply each

    def close_run() -> None:
        nonlocal each
        if each:
            plan.append((each, len(each)))
            each = _Each()
        if run:
            commands.append(("MSET", *run_args) if len(run) > 1 else to_wire(run[0][0]))
            plan.append((run.copy(), 1))
            run.clear()
            run_args.clear()

    def close_group() -> None:
        close_run()
        if group_index:
            apart = not run_role.startswith("{")  # role:k, not {role}:k
            lead, trail = (_Lead, _Trail) if apart else (tuple, tuple)
            commands.insert(group_at[0], lead(("ZADD", *group_index)))
            plan.insert(group_at[1], (_INDEX, 1))
            commands.append(trail(("ZADD", *group_index)))
            owner, count = plan[-1]
            plan[-1] = (owner, count + 1)
            group_index.clear()

    for item in items:
        if type(item) is tuple:
            call = item[0]
            if packed and len(call) == 3:  # a packed send (no TTL, no index): as it is
                if run_role != _PACKED:
                    close_group()
                    run_role = _PACKED
                commands.append(call[2])
                each.append(item)
                continue
            args = call[1]
            role = args[0].partition(":")[0]
            if role != run_role:
                close_group()
                run_role = role
                group_at = (len(commands), len(plan))
            update = item[2]
            if update is not None:  # ("zadd", (index, "GT", score, member))
                group_index.extend(update[1] if not group_index else update[1][2:])
            if len(args) == 2 and item[0][0] == "set":  # SET key value: no TTL
                run.append(item)
                run_args += args
                continue
            close_run()
            commands.append(to_wire((call[0], args) if len(call) == 3 else call))
            plan.append(([item], 1))
        else:
            close_group()
            run_role = ""
            commands.extend(item.commands)
            plan.append((item, len(item.commands)))
    close_group()
    return commands, plan


class _Each(list[Any]):
    """Writes of a batch with a reply each (packed sends), settled one by one."""


class _Lead(tuple[Any, ...]):
    """The index update before a role's writes whose keys are not in the index's slot."""


class _Trail(tuple[Any, ...]):
    """The index update after such writes."""


#: the plan entry of an index update sent before its writes (its reply is not theirs)
_INDEX = object()


#: ``run_role`` of :func:`_plan` in a run of packed sends (no role's name: never equal)
_PACKED = "\x00packed"

_writer: Writer | None = None
_lock = threading.Lock()
_atexit_installed = False
#: the process has begun its exit drain (at exit, or on SIGTERM in a pool worker); a second
#: caller waits for the first to finish
_draining = False
_drained = threading.Event()
_exit_lock = threading.Lock()
#: the pipe whose write end is the signal wakeup fd, read by the SIGTERM watcher (see
#: _drain_on_sigterm); None where no watcher runs
_sigterm_watch: tuple[int, int] | None = None
#: what the Python-level SIGTERM handler writes to that pipe (no signal has this number)
_SIGTERM_SEEN = 0xFF


def writer(start: Callable[[], Writer]) -> Writer:
    """The process's writer, made by ``start()`` and started on first use
    (:func:`roleredis.runtime.writer` gives it the process's settings and breaker)."""
    global _writer, _atexit_installed
    current = _writer
    if current is None:
        with _lock:
            if _writer is None:
                _writer = start()
                if not _atexit_installed:
                    atexit.register(_drain_at_exit)
                    _atexit_installed = True
                _drain_in_multiprocessing_child()
            current = _writer
    return current


def current_writer() -> Writer | None:
    """The writer if one has started, else None (never starts one)."""
    return _writer


def flush(timeout: float | None = None) -> tuple[bool, int, int, int]:
    """Wait for every write queued so far (see :meth:`Writer.flush`)."""
    current = _writer
    if current is None:
        return True, 0, 0, 0
    return current.flush(timeout)


def closing() -> bool:
    """Whether the writer has begun shutting down (it then takes no more work)."""
    current = _writer
    return current is not None and current._closing


def current_pending() -> int:
    current = _writer
    return current.pending() if current is not None else 0


def stats() -> dict[str, int]:
    """Counters of the fire-and-forget writer (all zero before it starts)."""
    current = _writer
    if current is None:
        return {"pending": 0, "written": 0, "given_up": 0, "failed": 0, "batches": 0}
    return current.stats()


def _drain_in_multiprocessing_child() -> None:
    # A multiprocessing child ends with os._exit() after running multiprocessing's own
    # finalizers, never atexit: drain there too. (Only if multiprocessing is in use at all.)
    mp = sys.modules.get("multiprocessing")
    if mp is None or mp.parent_process() is None:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _drain_at_exit, exitpriority=100)
    if mp.current_process().daemon:
        _drain_on_sigterm()


def _drain_on_sigterm() -> None:
    """A daemonic child (a Pool's worker) is ended by SIGTERM (``Pool.__exit__`` calls
    ``terminate()``), which runs no finalizer: drain on it, then end as SIGTERM would.

    Only where the handler is still the default (one of the program's own is never replaced)
    and no one listens on the signal wakeup fd (an event loop's own signal handling), and only
    from the main thread (the only one Python lets set either): a writer first started in
    another thread of the worker leaves SIGTERM alone (README: flush at the end of a task).

    The drain is not run by the Python-level handler: Python runs that in the main thread only
    once it gets back to Python code, and a pool worker's main thread may sit in a lock for
    ever (its parent holds the task queue's lock while terminating it); nor could the handler
    take any lock the thread it interrupted might hold. The interpreter's C-level handler
    writes the signal's number to the wakeup fd from whatever thread the kernel picked; a
    thread of ours reads it, drains, and ends the process.
    """
    global _sigterm_watch
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    if previous != -1:  # someone else's: put it back, leave SIGTERM alone
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return
    _sigterm_watch = (read, write)
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(
        target=_watch_for_sigterm, args=(read,), name="roleredis-sigterm", daemon=True
    ).start()


def _on_sigterm(signum: int, frame: object) -> None:
    """The Python-level handler (in the main thread, when it runs): the wakeup fd has told the
    watcher already, unless someone took the fd over since; tell it here too (os.write takes
    no lock)."""
    watch = _sigterm_watch
    if watch is not None:
        with contextlib.suppress(OSError):
            os.write(watch[1], bytes([_SIGTERM_SEEN]))


def _watch_for_sigterm(read: int) -> None:
    while True:
        try:
            got = os.read(read, 64)
        except OSError:
            return
        if not got:
            return
        if signal.SIGTERM in got or _SIGTERM_SEEN in got:  # other handled signals: not ours
            break
    try:
        _drain_at_exit()
    finally:
        os._exit(128 + signal.SIGTERM)  # as a shell reports a SIGTERM; no finalizer, like it


def _drain_at_exit() -> None:
    global _draining
    with _exit_lock:
        first, _draining = not _draining, True
    if not first:  # another thread drains (at exit, or on SIGTERM): wait for it to finish
        current = _writer
        if current is not None:
            _drained.wait(current.settings.async_drain_timeout + 2 * _STOP_GRACE + 0.5)
        return
    try:
        current = _writer
        if current is not None:
            current.close(current.settings.async_drain_timeout)
    finally:
        _drained.set()


def _forget_sigterm_watch() -> None:
    """In a forked child: the watcher thread did not survive the fork, and the pipe is the
    parent's (its watcher would read the child's SIGTERM): give SIGTERM its default back."""
    global _sigterm_watch
    watch, _sigterm_watch = _sigterm_watch, None
    if watch is None:
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    previous = signal.set_wakeup_fd(-1)
    if previous != watch[1]:  # not ours any more
        signal.set_wakeup_fd(previous)
    for fd in watch:
        os.close(fd)


def _on_reset(forked: bool) -> None:
    global _writer, _lock, _draining, _drained, _exit_lock
    if forked:  # the thread did not survive the fork; the parent sends what was queued
        _writer = None
        _lock = threading.Lock()
        _draining, _drained, _exit_lock = False, threading.Event(), threading.Lock()
        _forget_sigterm_watch()
        return
    current, _writer = _writer, None
    if current is not None:
        current.close(current.settings.async_drain_timeout)


lifecycle.on_reset(_on_reset)
