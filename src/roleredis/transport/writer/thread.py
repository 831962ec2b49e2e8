"""The writer's thread: :class:`Writer`, the queue and the thread that empties it.

Callers (any thread) queue work, flush and close; the thread takes batches off the queue (up to
a flush marker), sends each (planned by :mod:`.plan`) on the connection it keeps or through the
Cluster route, retries through outages (logged once as one begins and once as it ends), sends
again writes that did not reach ``async.wait_replicas``, and halves a batch the server refuses
until the refused write is found. What each item came to is settled by :class:`.ledger.Ledger`,
which it is built on.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import hiredis
import redis.exceptions as rex

from ...foundation.config import Settings
from ...foundation.errors import InvalidArgumentError, RoleRedisError
from ...foundation.internals import check_out, is_plain_socket, shut_down
from ...foundation.tracecontext import HOOKS
from ..breaker import Breaker
from ..connection import build_client, close_client, describe, route_for, uses_tls
from ..executor import answers_ping, roundtrip, send_packed, tell_breaker
from ..retry import WRITER_BACKOFF, Decision, RetryPolicy
from .ledger import Flush, Ledger, Orphaned, ReadRequest
from .plan import Lead, Trail, plan_batch, queued

__all__ = ["Writer"]

log = logging.getLogger("roleredis.background")

_MAX_BACKOFF = WRITER_BACKOFF[-1]  # a retry at least every 2 s
_IDLE_WAIT = 1.0
#: after the exit drain, how long the writer may take to stop (twice: once told to, once its
#: socket is shut down); both within the documented "drain_timeout plus about a second"
STOP_GRACE = 0.25


class _Abandoned(Exception):
    """The exit drain ran out: everything not yet sent is given up."""


class Writer(Ledger):
    """The queue and the thread that empties it. :func:`roleredis.runtime.writer` is the
    process's one."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.perf_counter,
        pause: Callable[[float], object] | None = None,
        breaker: Breaker,
    ) -> None:
        self.settings = settings
        #: seconds from an arbitrary origin, for ages, backoff and the exit drain; tests pass
        #: a roleredis.testing.FakeClock and advance it. The default, perf_counter (monotonic
        #: too), is the clock calls are timed with: a caller that has just read it passes its
        #: reading with a write (submit_set's ``queued_at``) instead of reading it again
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
        #: element of the call, see :func:`plan_batch`): only on a single server's plain socket;
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
            self._wake_up()
        return True

    def submit_write(self, command: tuple[Any, ...], index: tuple[Any, ...] | None = None) -> bool:
        """Queue one encoded write command, and the update of the role's key index to send
        right after it (see roleredis.core.index); False if the queue is full."""
        queue = self._queue  # _enqueue inline: this runs once a fire-and-forget call
        if len(queue) + self.in_flight >= self.max_pending or self._closing:
            return False
        queue.append(queued(command, self.clock(), index))
        if self._sleeping:
            self._wake_up()
        return True

    def submit_set(
        self,
        key: str,
        data: bytes,
        seconds: int | None,
        index: tuple[Any, ...] | None,
        queued_at: float,
    ) -> bool:
        """:meth:`submit_write` of ``SET key data [EX seconds]``, the queued tuple made here
        (the fire-and-forget lane's: no call tuple to make and take apart); ``queued_at``: a
        reading of :attr:`clock` (the call's start, say)."""
        queue = self._queue
        if len(queue) + self.in_flight >= self.max_pending or self._closing:
            return False
        if seconds is None:
            queue.append(("set", queued_at, index, None, key, data))
        else:
            queue.append(("set", queued_at, index, None, key, data, seconds))
        if self._sleeping:
            self._wake_up()
        return True

    def _wake_up(self) -> None:
        """Wake the sleeping writer: once, not at each write queued until it runs (it waits
        for the GIL, up to the switch interval, while the caller queues thousands: an
        ``Event.set`` each cost the caller about a microsecond)."""
        self._sleeping = False
        self._wake.set()

    def submit_read(self, request: ReadRequest) -> bool:
        return self._enqueue(request)

    def flush(self, timeout: float | None = None) -> tuple[bool, int, int, int]:
        """Wait until all work queued before now is done.

        Returns ``(done, written, still_pending, lost)``: ``lost`` counts writes given up or
        refused by the server while waiting (each also logged and counted in stats()).
        """
        if threading.current_thread() is self._thread:
            raise InvalidArgumentError("redis_flush cannot be called from a read callback")
        marker = Flush(self.carried, self.given_up + self.failed)
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
        self._thread.join(STOP_GRACE)
        if self._thread.is_alive():
            self._give_up_unsettled(
                "the exit drain timeout ran out while Redis did not answer",
                drain=True,
                take_over=True,
            )
            shut_down(self._conn)
            self._thread.join(STOP_GRACE)

    def closing(self) -> bool:
        """Whether it has begun shutting down (it then takes no more work)."""
        return self._closing

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
            hook = HOOKS.batch  # a span per batch while the application traces
            try:
                if hook is None:
                    self._send(items)
                else:
                    with hook(len(items), self):
                        self._send(items)
            except Orphaned:
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
            limit = self.batch_size
            take, keep = queue.popleft, items.append  # thousands a batch: bound once
            while queue and len(items) < limit:
                if type(queue[0]) is Flush:
                    if items:
                        break
                    marker = take()
                    marker.written = self.carried - marker.carried_before
                    marker.lost = self.given_up + self.failed - marker.lost_before
                    marker.done.set()
                    continue
                # counted in flight before it leaves the queue: a caller's check of the pending
                # work (len(queue) + in_flight, against async.max_pending) never misses what is
                # being taken (it may run between any two steps here)
                self.in_flight += 1
                item = take()
                keep(item)
                if type(item) is tuple:
                    writes += 1
            self._batch = items
            self.in_flight = len(items)  # (what it is already, unless it had drifted)
            self._unsettled_writes = writes
        return items

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
                    raise Orphaned from None
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
        commands, plan = plan_batch(items, packed=packed)
        if self._wait_command is not None:  # last, so that it counts every write of the batch
            commands.append(self._wait_command)
        return commands, plan

    def _exchange(self, commands: list[Any]) -> list[Any]:
        """A cluster batch's replies. Index updates of keys outside the index's slot go in
        round trips of their own: every ``Lead`` ZADD before any write, every ``Trail``
        after them all (a batch's parts go to several nodes, in no order between them)."""
        phases: list[list[int]] = [[], [], []]
        for i, command in enumerate(commands):
            kind = type(command)
            phases[0 if kind is Lead else 2 if kind is Trail else 1].append(i)
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

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._route.client.connection_pool.release(conn)
