"""How a batch of calls from :mod:`roleredis.core.ops` reaches Redis and comes back (asyncio).

The async twin of :class:`~roleredis.transport.executor.SyncExecutor`: the same retry policy
(:mod:`roleredis.transport.retry`), the same breaker, the same seam choosing the client
(:class:`~roleredis.transport.connection.Route`). The batch is packed into one write on one pooled
connection and every reply is read back, without redis-py's per-command retry and bookkeeping.
A connection fails "dropped" (the server closed it, or reset it) only once it was lent and
connected; the policy then asks whether the server still answers PING, as on the sync path.

Each loop has its own client per connection target (the process's settings, or those an
AsyncRoleStore was given), with the target's breaker. Connections are bounded per loop client
by a semaphore of ``pool.max_connections`` that queues
callers for up to ``pool.timeout`` (redis-py's asyncio pool raises at once instead, and its
blocking pool costs a task per checkout): running out is :class:`PoolExhausted`.

A loop's own executor keeps the last connection it used while no call needs it (``parked``),
instead of giving it back to the pool and checking one out again on the next call: redis-py's
asyncio checkout and release (a lock, a health check through its retry wrapper, an event
dispatch, metrics hooks) cost about a quarter of an aio write. The parked connection stays one
of the pool's, counted as idle in reports, and is closed with the pool.

A batch that waits on the server (an :class:`~roleredis.foundation.batch.Batch` with a ``wait``)
is read
with the timeout extended by its wait, and at most half of the loop's connections wait at once,
as on the sync path (see :mod:`roleredis.transport.executor`): a second semaphore per loop,
``waiting``.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import redis.exceptions as rex

from ..foundation import lifecycle
from ..foundation.batch import READABLE, Batch, Lenient
from ..foundation.config import Settings
from ..foundation.errors import refusal
from ..foundation.internals import PoolExhausted, stream_writer
from .breaker import Breaker
from .cluster import ClusterRoute
from .connection import Route, aclose_client, build_async_client, describe, route_for, uses_tls
from .executor import (
    Call,
    pack,
    rewaited,
    tell_breaker,
    to_wire,
    waiting_places,
)
from .merging import merged_sets, spread
from .retry import ConnectionDropped, RetryPolicy

__all__ = ["AsyncExecutor", "aclose", "executor_for", "loop_executor"]


class AsyncExecutor:
    """Sends batches of calls with redis.asyncio; retries by the one policy."""

    __slots__ = (
        "_own_pool",
        "breaker",
        "clock",
        "parked",
        "policy",
        "pool_timeout",
        "route",
        "slots",
        "waiting",
    )

    def __init__(
        self,
        client: Any,
        policy: RetryPolicy,
        breaker: Breaker,
        slots: asyncio.Semaphore | None = None,
        pool_timeout: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        waiting: asyncio.Semaphore | None = None,
    ) -> None:
        self.route = client if isinstance(client, Route | ClusterRoute) else route_for(client)
        #: the places for waiting batches (None: no bound, for a client the caller owns)
        self.waiting = waiting
        self.policy = policy
        self.breaker = breaker
        self.slots = slots
        self.pool_timeout = pool_timeout
        self.clock = clock
        #: the connection kept between calls (only with ``slots``: the loop's own client,
        #: one server); a call takes it, and gives it back here when it is done
        self.parked: Any = None
        self._own_pool: Any = (
            self.client.connection_pool if slots is not None and type(self.route) is Route else None
        )

    @property
    def client(self) -> Any:
        return self.route.client

    async def __call__(self, batch: list[Call]) -> list[Any]:
        """Send ``batch``; return the replies; raise the translated error."""
        if self.waiting is not None and type(batch) is Batch and batch.wait:
            return await self._call_waiting(batch, self.waiting)
        return await self._call(batch)

    async def _call_waiting(self, batch: list[Call], waiting: asyncio.Semaphore) -> list[Any]:
        """A waiting batch, through the loop's places for waiting (see executor's doc)."""
        wait = float(getattr(batch, "wait", 0.0))
        started = self.clock()
        try:
            await asyncio.wait_for(waiting.acquire(), wait)
        except asyncio.TimeoutError:
            return await self._call(rewaited(batch, None))
        try:
            return await self._call(rewaited(batch, wait - (self.clock() - started)))
        finally:
            waiting.release()

    async def _call(self, batch: list[Call]) -> list[Any]:
        self.breaker.before_call()
        try:
            replies = await self._send(batch)
        except Exception as exc:
            return await self._retry(batch, exc)
        self.breaker.succeeded()
        return replies

    async def _retry(self, batch: list[Call], exc: Exception) -> list[Any]:
        started = self.clock()
        attempt = 0
        repeatable = getattr(batch, "repeatable", True)  # see batch.Batch
        while True:
            attempt += 1
            ping = self.policy.should_ping(exc, repeatable)
            pinged = await self._answers_ping() if ping else None
            decision = self.policy.decide(
                exc, attempt, self.clock() - started, answers_ping=pinged, repeatable=repeatable
            )
            if decision.delay is None:
                tell_breaker(self.breaker, decision)
                raise decision.error from exc
            await asyncio.sleep(decision.delay)
            try:
                replies = await self._send(batch)
            except Exception as again:
                exc = again
                continue
            self.breaker.succeeded()
            return replies

    async def _send(self, batch: list[Call]) -> list[Any]:
        slots = self.slots
        if slots is None:
            return await self._send_now(batch)
        if slots.locked():  # every connection is busy: wait for one, up to pool.timeout
            try:
                await asyncio.wait_for(slots.acquire(), self.pool_timeout)
            except asyncio.TimeoutError:
                raise PoolExhausted("No connection available.") from None
        else:
            await slots.acquire()  # free: returns at once
        try:
            return await self._send_now(batch)
        finally:
            slots.release()

    async def _send_now(self, batch: list[Call]) -> list[Any]:
        route = self.route
        calls, runs = merged_sets(batch, route)
        commands = [to_wire(call) for call in calls]
        wait = getattr(batch, "wait", 0.0)  # a blocking read: see batch.Batch
        replies = await route.asend(commands, functools.partial(self._send_packed, wait=wait))
        callbacks = route.client.response_callbacks
        failed = None
        for i, (command, reply) in enumerate(zip(commands, replies, strict=True)):
            if isinstance(reply, rex.ResponseError):
                if calls[i][0] == READABLE or type(calls[i][0]) is Lenient:
                    replies[i] = refusal(reply)  # the error is the reply
                else:
                    failed = failed or reply
                continue
            callback = callbacks.get(command[0])
            if callback is not None:
                replies[i] = callback(reply)
        if failed is not None:
            raise failed
        return replies if runs is None else spread(replies, runs)

    async def _send_packed(
        self, client: Any, commands: list[tuple[Any, ...]], wait: float = 0.0
    ) -> list[Any]:
        """As :func:`_send_packed`, on the parked connection when the pool is the loop's own."""
        pool = client.connection_pool
        if pool is not self._own_pool:
            return await _send_packed(client, commands, wait)
        conn, self.parked = self.parked, None
        if conn is not None and not await _reusable(conn):
            await pool.release(conn)  # closed, reset, or holding data nobody asked for: the
            conn = None  # pool's check (it reconnects or lends another)
        if conn is None:
            conn = await pool.get_connection()  # connected, and checked for staleness
        try:
            replies = await _roundtrip(conn, commands, wait)
        except BaseException:
            await pool.release(conn)
            raise
        if self.parked is None:
            self.parked = conn
        else:  # another call parked its connection meanwhile: one is enough
            await pool.release(conn)
        return replies

    def parked_connections(self) -> int:
        """How many connections this executor keeps between calls (0 or 1)."""
        return 0 if self.parked is None else 1

    async def _answers_ping(self) -> bool:
        """Whether the server answers PING on a new connection (see executor.answers_ping)."""
        pool = self.route.client.connection_pool
        if pool is None:  # a cluster: no one server to ask
            return False
        try:
            conn = await pool.get_connection()
        except (rex.RedisError, OSError):
            return False
        try:
            return (await _roundtrip(conn, [("PING",)]))[0] in (b"PONG", "PONG", True)
        except (rex.RedisError, OSError):
            return False
        finally:
            await pool.release(conn)


async def _reusable(conn: Any) -> bool:
    """Whether a parked connection may carry the next call: connected, nothing unread, and
    not reset meanwhile (redis-py's check raises then, after disconnecting it)."""
    if not conn.is_connected:
        return False
    try:
        return not await conn.can_read()
    except (rex.ConnectionError, OSError):
        return False


async def _send_packed(
    client: Any, commands: list[tuple[Any, ...]], wait: float = 0.0
) -> list[Any]:
    """``commands`` on a pooled connection of ``client`` (one server), in one write."""
    pool = client.connection_pool
    conn = await pool.get_connection()  # connected, and checked for staleness
    try:
        return await _roundtrip(conn, commands, wait)
    finally:
        await pool.release(conn)


async def _roundtrip(conn: Any, commands: list[tuple[Any, ...]], wait: float = 0.0) -> list[Any]:
    """Send ``commands`` on a connected asyncio connection in one write; read every reply.

    An error reply is returned in the list (so that one failed command does not hide the
    others, nor leave replies unread); a failure of the connection itself raises
    :class:`ConnectionDropped` (or redis-py's TimeoutError), after disconnecting it.
    ``wait``: seconds a blocking command may wait on the server, added to the read timeout.
    """
    replies: list[Any] = []
    timeout = None
    if wait:
        usual = getattr(conn, "socket_timeout", None)
        timeout = None if usual is None else usual + wait
    try:
        await _write(conn, pack(commands))
        for _ in commands:
            try:
                replies.append(await conn.read_response(timeout=timeout))
            except rex.ResponseError as exc:
                replies.append(exc)
    except rex.TimeoutError:
        await conn.disconnect()
        raise
    except (rex.ConnectionError, OSError) as exc:
        await conn.disconnect()
        raise ConnectionDropped(str(exc)) from None
    except BaseException:  # cancelled mid-way: the replies still due would confuse the next
        await conn.disconnect(nowait=True)
        raise
    return replies


async def _write(conn: Any, packed: bytes) -> None:
    """Write ``packed`` on a connected connection; wait (up to socket_timeout) only if the
    socket's buffer is full."""
    writer = stream_writer(conn)
    if writer is None:  # not a socket (fakeredis): redis-py's own way
        await conn.send_packed_command(packed, False)
        return
    writer.write(packed)
    transport = writer.transport
    if transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]:
        await writer.drain()  # does not wait; raises if the connection was lost
        return
    try:
        await asyncio.wait_for(writer.drain(), conn.socket_timeout)
    except asyncio.TimeoutError:
        # what is still buffered would never be sent: drop it with the connection, or closing
        # would wait for a server that does not read
        transport.abort()
        raise rex.TimeoutError("Timeout writing to socket") from None


def executor_for(
    client: Any,
    slots: asyncio.Semaphore | None,
    settings: Settings,
    breaker: Breaker,
    waiting: asyncio.Semaphore | None = None,
) -> AsyncExecutor:
    """The async runner for ``client`` under ``settings``, with ``breaker`` (the breaker of the
    settings' connection target, the one the sync path shares)."""
    policy = RetryPolicy(
        settings.socket_connect_timeout, tls=uses_tls(settings), address=describe(settings)
    )
    return AsyncExecutor(client, policy, breaker, slots, settings.pool_timeout, waiting=waiting)


class Target(Protocol):
    """A connection target as :class:`roleredis.Target` keeps it: the settings that
    connect alike and their breaker; hashable (each loop has one client per target)."""

    settings: Settings
    breaker: Breaker


# --- the per-loop clients: one client per event loop and connection target, closed when -----
# --- asyncio.run() ends ---------------------------------------------------------------------


class _LoopClient:
    """A loop's client, the semaphore that bounds (and queues) its connections, and the
    async generator whose finalisation closes it."""

    __slots__ = ("client", "closer", "executor", "pool_timeout", "slots", "waiting")

    def __init__(self, client: Any, closer: Any, max_connections: int, timeout: float) -> None:
        self.client = client
        self.closer = closer
        self.executor: AsyncExecutor | None = None
        self.slots = asyncio.Semaphore(max_connections)
        self.waiting = asyncio.Semaphore(waiting_places(max_connections))
        self.pool_timeout = timeout


# event loop -> its clients, per connection target (Target)
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Target, _LoopClient]] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()


async def _closer(
    client: Any, loop: asyncio.AbstractEventLoop, target: Target
) -> AsyncIterator[None]:
    # asyncio.run() -> loop.shutdown_asyncgens() finalises this generator inside the loop,
    # before the loop closes: the one moment the client's connections can be closed cleanly.
    try:
        yield
    finally:
        with _clients_lock:
            entries = _clients.get(loop, {})
            entry = entries.get(target)
            if entry is not None and entry.client is client:
                # the entry would keep the loop alive (its client refers to it)
                del entries[target]
                if not entries:
                    del _clients[loop]
        await aclose_client(client)


async def _loop_client(target: Target) -> _LoopClient:
    """The running loop's client of ``target``, made on first use in that loop."""
    loop = asyncio.get_running_loop()
    entries = _clients.get(loop)
    entry = None if entries is None else entries.get(target)
    if entry is None:
        settings = target.settings
        client = build_async_client(settings)
        closer = _closer(client, loop, target)
        await closer.__anext__()
        entry = _LoopClient(client, closer, settings.max_connections, settings.pool_timeout)
        with _clients_lock:
            _clients.setdefault(loop, {})[target] = entry
    return entry


async def aclose() -> None:
    """Close the running loop's clients now (``asyncio.run()`` does it by itself at the end)."""
    entries = _clients.get(asyncio.get_running_loop())
    for entry in list((entries or {}).values()):
        await entry.closer.aclose()


def _forget_clients(forked: bool) -> None:
    # Clients belong to their loops; a loop still running keeps its own until it ends. After
    # reset() the next call in that loop must see new settings, so drop the mapping. In a
    # forked child the lock may have been held by a parent thread: a new one.
    global _clients_lock
    if forked:
        _clients_lock = threading.Lock()
    with _clients_lock:
        _clients.clear()


lifecycle.on_reset(_forget_clients)


async def loop_executor(client: Any, settings: Settings, target: Target) -> AsyncExecutor:
    """The executor that sends an AsyncRoleStore's batches: on ``client`` if given, else on the
    running loop's own client for the connection ``target`` (the runtime's, for the store's
    settings), made once per loop and target, with the target's breaker; the hot path looks it
    up."""
    if client is not None:
        return executor_for(client, None, settings, target.breaker)
    shared = await _loop_client(target)
    if shared.executor is None:
        shared.executor = executor_for(
            shared.client, shared.slots, target.settings, target.breaker, shared.waiting
        )
    return shared.executor
