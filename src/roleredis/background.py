"""The fire-and-forget writer: one thread per process that batches queued work into pipelines.

Callers validate and encode (so a bad value is reported to them, never lost here); the writer
only packs and sends. Work is applied in queue order, so writes made by one thread land in the
order they were made, and a read queued after them sees them. While Redis is down the batch in
hand is kept and retried (at least every 2 s); a write is given up only when it has waited longer
than ``async.max_age`` or at exit after ``async.drain_timeout``, and every one given up is counted
and logged. Nothing starts before the first fire-and-forget call.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import dataclasses
import logging
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import Any

import hiredis
import redis.exceptions as rex

from . import results, runtime
from .config import Settings
from .connection import build_client, close_client
from .errors import InvalidArgumentError, translate
from .executor import roundtrip, to_wire

__all__ = ["Writer", "current_writer", "flush", "stats", "writer"]

log = logging.getLogger("roleredis.background")

_MAX_BACKOFF = 2.0
_IDLE_WAIT = 1.0
Callback = Callable[[dict[str, Any]], Any]


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
    """A queued read: its calls, the operation waiting for their replies, and the callback."""

    commands: list[tuple[Any, ...]]
    op: Generator[Any, list[Any], Any]
    context: dict[str, Any]
    callback: Callback | None
    loop: asyncio.AbstractEventLoop | None


def _safe_call(callback: Callback, result: dict[str, Any]) -> None:
    try:
        callback(result)
    except BaseException:  # SystemExit in a callback must not end the writer thread either
        log.exception("a redis_read_async callback raised; the writer carries on")


class Writer:
    """The queue and the thread that empties it. Use :func:`writer` to get the process's one."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.max_pending = settings.async_max_pending
        self.batch_size = settings.async_batch_size
        self.max_age = settings.async_max_age
        self._queue: collections.deque[Any] = collections.deque()
        self._wake = threading.Event()
        self._sleeping = False
        self._closing = False
        self._abandon = False
        self._outage = False
        self.in_flight = 0
        self.carried = 0
        self.given_up = 0
        self.failed = 0
        self.batches = 0
        self._client = build_client(settings)
        self._conn: Any = None
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

    def submit_write(self, command: tuple[Any, ...]) -> bool:
        """Queue one encoded write command; False if the queue is full."""
        return self._enqueue((command, time.monotonic()))

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
        """Drain for up to ``timeout`` seconds, give up (count, log) the rest, stop the thread."""
        if not self._thread.is_alive():
            return
        done = self.flush(timeout)[0]
        self._closing = True
        if not done:
            self._abandon = True
        self._wake.set()
        self._thread.join(max(1.0, 2 * _MAX_BACKOFF))
        close_client(self._client)

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
        queue = self._queue
        while True:
            if not queue:
                if self._closing:
                    return
                self._sleeping = True
                if not queue:
                    self._wake.wait(_IDLE_WAIT)
                self._sleeping = False
                self._wake.clear()
                continue
            items: list[Any] = []
            while queue and len(items) < self.batch_size:
                if type(queue[0]) is _Flush:
                    if items:
                        break
                    marker = queue.popleft()
                    marker.written = self.carried - marker.carried_before
                    marker.lost = self.given_up + self.failed - marker.lost_before
                    marker.done.set()
                    continue
                items.append(queue.popleft())
                self.in_flight = len(items)
            if items:
                try:
                    self._send(items)
                except Exception:  # a bug must not kill the writer: count and log
                    log.exception("roleredis writer: unexpected error; %d items lost", len(items))
                    self.given_up += len(items)
                self.in_flight = 0

    def _send(self, items: list[Any]) -> None:
        backoff = 0.05
        while items:
            if self._abandon:
                self._give_up(items, "the exit drain timeout ran out while Redis was unreachable")
                self._give_up_queue()
                return
            commands, plan = _plan(items)
            try:
                if self._conn is None:
                    self._conn = self._client.connection_pool.get_connection()
                replies = roundtrip(self._conn, commands)
            except (rex.ConnectionError, rex.TimeoutError, OSError) as exc:
                self._drop_connection()
                items = self._after_failure(items, exc)
                if items:
                    self._wake.wait(backoff)
                    self._wake.clear()
                    backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            self.batches += 1
            if self._outage:
                self._outage = False
                log.warning("roleredis writer: Redis reachable again; sending queued writes")
            self._settle(plan, replies)
            return

    def _after_failure(self, items: list[Any], exc: BaseException) -> list[Any]:
        """Fail the reads (their callers are waiting), keep the writes unless too old."""
        error = translate(exc)
        kept: list[Any] = []
        too_old: list[Any] = []
        oldest_allowed = time.monotonic() - self.max_age
        for item in items:
            if type(item) is tuple:
                (kept if item[1] >= oldest_allowed else too_old).append(item)
            else:
                self._deliver(item, results.failure(error, **item.context))
        if too_old:
            self._give_up(too_old, f"waited longer than async.max_age ({self.max_age:g} s)")
        if kept:
            log.warning(
                "roleredis writer: Redis unreachable (%s); keeping %d writes and retrying",
                error,
                len(kept),
            )
        return kept

    def _settle(self, plan: list[tuple[Any, int]], replies: list[Any]) -> None:
        at = 0
        for owner, count in plan:
            mine = replies[at : at + count]
            at += count
            if type(owner) is list:  # writes: one reply for all of them (SET or MSET)
                if isinstance(mine[0], hiredis.ReplyError):
                    self.failed += len(owner)
                    log.error(
                        "roleredis writer: Redis refused %d writes (the first to %.200r): %s",
                        len(owner),
                        owner[0][0][1][0],
                        mine[0],
                    )
                else:
                    self.carried += len(owner)
            else:
                self._finish_read(owner, mine)

    def _finish_read(self, request: ReadRequest, replies: list[Any]) -> None:
        try:
            for reply in replies:
                if isinstance(reply, hiredis.ReplyError):
                    raise rex.ResponseError(str(reply))
            request.op.send(replies)
        except StopIteration as done:
            result = results.entry(done.value)
        except Exception as exc:
            result = results.failure(exc, **request.context)
        else:  # pragma: no cover - read operations finish after one batch
            result = results.failure(RuntimeError("read did not finish"), **request.context)
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
        writes = sum(1 for item in items if type(item) is tuple)
        failure = translate(rex.ConnectionError("Redis unreachable; the read was given up"))
        for item in items:
            if type(item) is not tuple:
                self._deliver(item, results.failure(failure, **item.context))
        if writes:
            self.given_up += writes
            log.error(
                "roleredis writer: gave up %d fire-and-forget writes (%s); %d given up so far",
                writes,
                why,
                self.given_up,
            )

    def _give_up_queue(self) -> None:
        rest: list[Any] = []
        while self._queue:
            item = self._queue.popleft()
            if type(item) is _Flush:
                item.done.set()
            else:
                rest.append(item)
        if rest:
            self._give_up(rest, "the exit drain timeout ran out")

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()
            self._client.connection_pool.release(conn)


def _plan(items: list[Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, int]]]:
    """The commands for a batch, and what each reply settles: ``(writes, 1)`` or
    ``(read request, its command count)``.

    Consecutive writes without a TTL to the same role go out as one MSET: one command and one
    reply for hundreds of writes, which is where the writer's time went (redis-py-free packing
    and parsing are per command). Order is kept: a run ends at the first write with a TTL, a
    read, or another role's key (so an ACL refusal of one role never takes another's writes).
    """
    commands: list[tuple[Any, ...]] = []
    plan: list[tuple[Any, int]] = []
    run: list[Any] = []
    run_args: list[Any] = []
    run_role = ""

    def close_run() -> None:
        if run:
            commands.append(("MSET", *run_args) if len(run) > 1 else to_wire(run[0][0]))
            plan.append((run.copy(), 1))
            run.clear()
            run_args.clear()

    for item in items:
        if type(item) is tuple:
            args = item[0][1]
            if len(args) == 2:  # SET key value: no TTL
                role = args[0].partition(":")[0]
                if run and role != run_role:
                    close_run()
                run_role = role
                run.append(item)
                run_args += args
                continue
            close_run()
            commands.append(to_wire(item[0]))
            plan.append(([item], 1))
        else:
            close_run()
            commands.extend(item.commands)
            plan.append((item, len(item.commands)))
    close_run()
    return commands, plan


_writer: Writer | None = None
_lock = threading.Lock()
_atexit_installed = False


def writer() -> Writer:
    """The process's writer, started on first use."""
    global _writer, _atexit_installed
    current = _writer
    if current is None:
        with _lock:
            if _writer is None:
                _writer = Writer(runtime.settings())
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
    if mp is not None and mp.parent_process() is not None:
        import multiprocessing.util

        multiprocessing.util.Finalize(None, _drain_at_exit, exitpriority=100)


def _drain_at_exit() -> None:
    current = _writer
    if current is not None:
        current.close(current.settings.async_drain_timeout)


def _on_reset(forked: bool) -> None:
    global _writer, _lock
    if forked:  # the thread did not survive the fork; the parent sends what was queued
        _writer = None
        _lock = threading.Lock()
        return
    current, _writer = _writer, None
    if current is not None:
        current.close(current.settings.async_drain_timeout)


runtime.on_reset(_on_reset)
