"""Every private attribute of a dependency that roleredis uses, each behind one function.

They are used for speed (the batch fast path writes to the connection's socket itself) or for
reporting (pool usage). tests/integration/test_internals_contract.py checks each one against the
installed redis-py and Python, so the day a dependency changes one, that test fails by name
instead of a call misbehaving somewhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import select
import socket
from typing import Any

import redis
import redis.exceptions as rex

__all__ = [
    "PoolExhausted",
    "check_out",
    "connected_socket",
    "give_back",
    "lend",
    "plain_socket",
    "pool_counts",
    "pool_exhausted",
    "refresh_slots",
    "running_loop",
    "shut_down",
    "slot_owner",
    "stream_writer",
]

# what redis-py's BlockingConnectionPool raises (an untyped ConnectionError) when no connection
# came free within its timeout
_NO_CONNECTION = "No connection available"


class PoolExhausted(rex.ConnectionError):
    """No connection of a bounded pool came free within pool.timeout.

    A subclass of redis-py's ConnectionError, so that code catching that still catches it;
    roleredis recognises it by its type (errors.translate makes it OverloadedError).
    """


def pool_exhausted(exc: BaseException) -> bool:
    """Whether ``exc`` says that a pool had no connection to lend: a :class:`PoolExhausted`, or
    redis-py's own untyped error for it (from a client roleredis did not check out from, such as
    a stand-in). The only place that knows redis-py's text for it."""
    return isinstance(exc, PoolExhausted) or (
        type(exc) is rex.ConnectionError and str(exc).startswith(_NO_CONNECTION)
    )


def check_out(pool: Any) -> Any:
    """A connection from a sync redis-py pool; :class:`PoolExhausted` if none came free within
    the pool's timeout (redis-py says so only in an error's text)."""
    try:
        return pool.get_connection()
    except rex.ConnectionError as exc:
        if pool_exhausted(exc):
            raise PoolExhausted(str(exc)) from None
        raise


#: The pool class whose queue :func:`lend` and :func:`give_back` take themselves: the exact class
#: roleredis builds (a subclass, such as Sentinel's, may lend otherwise), and only outside
#: redis-py's maintenance mode (RESP3 only: roleredis speaks RESP2).
_BLOCKING_POOL: Any = redis.BlockingConnectionPool
#: whether the pool can check a connection that is not on a plain socket (TLS, fakeredis's)
#: by itself: ``ensure_connection`` came with redis-py 8.2; before, only ``get_connection``
_ENSURES = hasattr(_BLOCKING_POOL, "ensure_connection")

#: this process's id, renewed in a forked child: a pool made by this process has it as its
#: ``pid``, so a pool's own check (``_checkpid``, a getpid() call) runs only when they differ
_pid = os.getpid()


def _renew_pid() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_pid)


# file descriptor -> (its socket, a poll object watching it for reading): a poll(0) on a
# registered descriptor costs half a select(); the socket is compared so that a descriptor
# number reused by a new socket gets a poll object of its own
_polls: dict[int, tuple[Any, Any]] = {}


def _readable(sock: Any) -> bool:
    """Whether a plain socket has something to read (or was closed by its peer) right now."""
    if not hasattr(select, "poll"):  # not on every platform
        return bool(select.select((sock,), (), (), 0)[0])
    fd = sock.fileno()
    entry = _polls.get(fd)
    if entry is None or entry[0] is not sock:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        entry = _polls[fd] = (sock, poller)
    return bool(entry[1].poll(0))


def lend(pool: Any) -> Any:
    """A connection from a sync pool, connected, with nothing unread on its socket: the
    contract of ``pool.get_connection()`` (:func:`check_out`) at a third of its cost, for the
    exact ``redis.BlockingConnectionPool`` roleredis builds (any other pool goes through
    :func:`check_out`). Give it back with :func:`give_back`.

    What it skips is redis-py's per-checkout bookkeeping that roleredis has no use for: its
    observability records (four per call, each looking up the pool's name) and its check that
    the connection holds no reply through redis-py's parser, made here on the socket itself
    (the fast path reads replies with its own reader, never redis-py's). It keeps the rest:
    a forked child's pool starts afresh (``_checkpid``), a free slot makes a new connection,
    and a connection whose socket is readable (closed or reset by the server while idle,
    or holding data nobody asked for) is reconnected before it is lent, as redis-py does.
    A connection that is not on a plain socket (TLS, with its own buffer; fakeredis's) is
    checked by redis-py's own ``ensure_connection``.
    """
    if type(pool) is not _BLOCKING_POOL or pool._in_maintenance:  # see _BLOCKING_POOL
        return check_out(pool)
    if pool.pid != _pid:
        pool._checkpid()
    try:
        conn = pool.pool.get(True, pool.timeout)
    except queue.Empty:
        raise PoolExhausted("No connection available.") from None
    if conn is None:  # a free slot: a connection made now (connected just below)
        try:
            conn = pool.make_connection()
        except BaseException:
            with contextlib.suppress(queue.Full):
                pool.pool.put_nowait(None)
            raise
    sock = conn._sock
    if sock is not None and type(sock) is not socket.socket and not _ENSURES:
        give_back(pool, conn)  # redis-py < 8.2 has no ensure_connection: its whole checkout
        return check_out(pool)
    try:
        if sock is None:
            conn.connect()
        elif type(sock) is not socket.socket:  # TLS (its own buffer), fakeredis: redis-py's
            pool.ensure_connection(conn)
        elif _readable(sock):
            conn.disconnect()  # readable while idle: closed by the server, or out of step
            conn.connect()
            if _readable(conn._sock):
                raise rex.ConnectionError("Connection not ready")
    except BaseException:
        give_back(pool, conn)
        raise
    return conn


def give_back(pool: Any, conn: Any) -> None:
    """Return a connection :func:`lend` lent (or :func:`check_out` checked out) to ``pool``."""
    if type(pool) is not _BLOCKING_POOL or pool._in_maintenance:  # see _BLOCKING_POOL
        pool.release(conn)
        return
    if pool.pid != _pid:
        pool._checkpid()
    if conn.pid != pool.pid or conn.should_reconnect():  # lent before a fork, or marked:
        pool.release(conn)  # the pool's own way of forgetting or reconnecting it
        return
    # not contextlib.suppress: three calls more on every round trip
    try:  # noqa: SIM105
        pool.pool.put(conn, False)
    except queue.Full:
        pass


def connected_socket(conn: Any) -> Any:
    """The socket of a redis-py connection, connecting it first if it is not connected.

    A real server gives a :class:`socket.socket` (an ``ssl.SSLSocket`` over TLS); anything else
    (fakeredis's in-process connection) has its own I/O and must go through redis-py's methods.
    """
    sock = conn._sock
    if sock is None:
        conn.connect()
        sock = conn._sock
    return sock


def plain_socket(conn: Any) -> Any:
    """The socket of a connected redis-py connection if it is a plain one (TCP, unix), on
    which :func:`roundtrip`-style direct I/O works; None otherwise (not connected, TLS,
    fakeredis)."""
    sock = conn._sock
    return sock if type(sock) is socket.socket else None


def is_plain_socket(sock: Any) -> bool:
    """Whether :func:`roundtrip`-style direct socket I/O works on ``sock``."""
    return isinstance(sock, socket.socket)


def shut_down(conn: Any) -> None:
    """Shut down the socket of a redis-py connection, if it has one, from any thread: a thread
    blocked reading or writing on it returns at once (closing alone would not wake it)."""
    sock = getattr(conn, "_sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def pool_counts(pool: Any) -> tuple[int, int]:
    """``(in use, idle)`` connections of a redis-py pool, sync or asyncio; (0, 0) if unknown."""
    lent = getattr(pool, "_in_use_connections", None)  # asyncio pools
    available = getattr(pool, "_available_connections", None)
    if lent is not None and available is not None:
        return len(lent), len(available)
    # sync BlockingConnectionPool: every connection made, and a queue of the idle ones
    made = len(getattr(pool, "_connections", ()) or ())
    queue = getattr(getattr(pool, "pool", None), "queue", None) or ()
    idle = sum(1 for c in queue if c is not None)
    return made - idle, idle


def stream_writer(conn: Any) -> asyncio.StreamWriter | None:
    """The StreamWriter of a connected redis.asyncio connection, or None if it has none (not
    connected, or not a socket: fakeredis's in-process connection). Writing to it directly
    spares redis-py's send_packed_command, which wraps each write in ``asyncio.wait_for`` (a task
    and a trip through the event loop) to bound a drain that almost never waits."""
    writer = getattr(conn, "_writer", None)
    return writer if isinstance(writer, asyncio.StreamWriter) else None


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The running event loop of this thread, or None (without raising, unlike
    ``asyncio.get_running_loop``, and without the cost of catching its RuntimeError)."""
    return asyncio._get_running_loop()


def refresh_slots(cluster: Any) -> None:
    """Make a redis-py RedisCluster ask the cluster again which node serves which slot."""
    cluster.nodes_manager.initialize()


def slot_owner(cluster: Any, slot: int) -> tuple[str, int]:
    """``(host, port)`` of the primary a redis-py RedisCluster's slot map names for ``slot``."""
    node = cluster.nodes_manager.get_node_from_slot(slot)
    return node.host, int(node.port)
