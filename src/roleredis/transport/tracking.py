"""Server-assisted client-side caching on one server: a :class:`TrackingLink` is a connection
subscribed to ``__redis__:invalidate`` (the *listener*) and up to :data:`MAX_READERS`
connections with ``CLIENT TRACKING ON REDIRECT <listener's id>`` (the *readers*), all to the
node that serves the keys read.

Tracking is in the default mode: the server remembers the keys each reader read and tells
the listener when one of them changes (written, deleted, expired, evicted, or the database
flushed: then with no key list). Never BCAST: on servers that do not check ACL key
permissions on broadcasts (Redis 7, before redis/redis#15371), BCAST shows a user every key
name changed on the node, other roles' included. roleredis speaks RESP2, so the messages need
a listener of their own (REDIRECT); with RESP2 the server sends them only to a connection in
Pub/Sub mode.

A reader that dropped takes its tracking with it, silently: the server tells nobody. The
listener's owner checks the idle readers every :data:`CHECK_EVERY` seconds
(:meth:`TrackingLink.check_readers`) and treats a failed one as the link's end.

I/O only: what is kept, and when, is the owner's (``roleredis.core.localtier``).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

import hiredis
import redis.exceptions as rex

from ..foundation.batch import Call
from ..foundation.internals import connected_socket, shut_down
from .executor import pack, roundtrip, to_wire

__all__ = ["CHANNEL", "CHECK_EVERY", "FLUSHED", "MAX_READERS", "LinkBroken", "TrackingLink"]

#: The channel the server's invalidation messages come on (RESP2, with REDIRECT).
CHANNEL = b"__redis__:invalidate"
#: Readers per link at most; a read that finds none free goes through the usual pool (and its
#: result is not kept locally).
MAX_READERS = 4
#: Seconds between checks of the idle readers (and the longest a listen waits).
CHECK_EVERY = 1.0
#: Seconds the SUBSCRIBE's answer is waited for when the connection has no socket_timeout.
OPEN_TIMEOUT = 5.0
#: What :meth:`TrackingLink.listen` returns for "every key": the database was flushed.
FLUSHED = object()


class LinkBroken(rex.ConnectionError):
    """The link cannot be trusted any more: a connection dropped, a reply was not what
    tracking needs (a refusal, MOVED), or the link was closed."""


def _text(reply: Any) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)


class TrackingLink:
    """A listener and its readers on the server that ``client()`` (a redis-py client of one
    server: a standalone or Sentinel-managed pool, or a cluster node's client) connects to."""

    def __init__(self, client: Callable[[], Any]) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._made = 0
        self._reader = hiredis.Reader()
        self.listener: Any = None
        self.listener_id = 0
        self.closed = False

    # the listener ------------------------------------------------------------------------

    def open(self) -> None:
        """Connect the listener and subscribe it (its id is what readers redirect to).
        Raises redis-py's errors: ``NoPermissionError`` / ``ResponseError`` when the server
        or the user cannot track (no CLIENT TRACKING before Redis 6, no ACL grant)."""
        conn = self._connection()
        try:
            (listener_id,) = self._checked(roundtrip(conn, [("CLIENT", "ID")]))
            # a reader made now proves the user may track before anything is trusted
            self.listener, self.listener_id = conn, int(listener_id)
            self._give_back(self._new_reader())
            sock = connected_socket(conn)
            sock.sendall(pack([("SUBSCRIBE", CHANNEL)]))
            reply = self._next(sock, getattr(conn, "socket_timeout", None) or OPEN_TIMEOUT)
            if reply is None:
                raise LinkBroken(f"SUBSCRIBE {CHANNEL.decode()} was not answered")
            if not (isinstance(reply, list) and reply and reply[0] == b"subscribe"):
                raise LinkBroken(f"SUBSCRIBE {CHANNEL.decode()} answered {reply!r}")
        except BaseException:
            self.close()
            raise

    def listen(self, timeout: float = CHECK_EVERY) -> list[bytes] | object | None:
        """The keys of the next invalidation message, :data:`FLUSHED`, or None when none came
        within ``timeout`` seconds; raises :class:`LinkBroken` when the listener dropped."""
        conn = self.listener
        if conn is None or self.closed:
            raise LinkBroken("the tracking link is closed")
        try:
            reply = self._next(connected_socket(conn), timeout)
        except (OSError, rex.RedisError, hiredis.ProtocolError) as exc:
            raise LinkBroken(f"the invalidation connection dropped: {exc}") from None
        if reply is None:
            return None
        if not (isinstance(reply, list) and len(reply) == 3 and reply[0] == b"message"):
            return None  # a PONG, a subscribe confirmation
        if reply[1] != CHANNEL:
            return None
        keys = reply[2]
        if keys is None:
            return FLUSHED
        if isinstance(keys, bytes):  # a PUBLISH on the channel by a client: one key name
            return [keys]
        return [k for k in keys if isinstance(k, bytes)]

    def _next(self, sock: Any, timeout: float | None) -> Any:
        reader = self._reader
        while True:
            reply = reader.gets()
            if reply is not False:
                if isinstance(reply, hiredis.ReplyError):
                    raise LinkBroken(f"the invalidation connection was refused: {reply}")
                return reply
            sock.settimeout(timeout)
            try:
                chunk = sock.recv(1 << 16)
            except TimeoutError:
                return None
            finally:
                with contextlib.suppress(OSError):
                    sock.settimeout(None)
            if not chunk:
                raise LinkBroken("the invalidation connection was closed by the server")
            reader.feed(chunk)

    # the readers -------------------------------------------------------------------------

    def _connection(self) -> Any:
        pool = self._client().connection_pool
        conn = pool.connection_class(**pool.connection_kwargs)
        conn.connect()
        return conn

    @staticmethod
    def _checked(replies: list[Any]) -> list[Any]:
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                raise rex.ResponseError(_text(str(reply)))
        return replies

    def _new_reader(self) -> Any:
        conn = self._connection()
        try:
            self._checked(
                roundtrip(
                    conn, [("CLIENT", "TRACKING", "ON", "REDIRECT", self.listener_id, "NOLOOP")]
                )
            )
        except BaseException:
            conn.disconnect()
            raise
        with self._lock:
            self._made += 1
        return conn

    def _take(self) -> Any:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self._made >= MAX_READERS or self.closed:
                return None
        try:
            return self._new_reader()
        except (OSError, rex.RedisError) as exc:
            raise LinkBroken(f"a tracking reader could not be made: {exc}") from None

    def _give_back(self, conn: Any) -> None:
        with self._lock:
            if not self.closed:
                self._idle.append(conn)
                return
        conn.disconnect()

    def read(self, calls: list[Call]) -> list[Any] | None:
        """The raw replies of ``calls`` read on a tracking reader (every key they read is
        tracked from now on), or None when every reader is busy (nothing was sent). Raises
        :class:`LinkBroken` if the reader failed or a reply is an error (a refusal, MOVED):
        the caller sends the read the usual way then."""
        conn = self._take()
        if conn is None:
            return None
        try:
            replies = roundtrip(conn, [to_wire(call) for call in calls])
        except (OSError, rex.RedisError) as exc:
            self._lost(conn)
            raise LinkBroken(f"a tracking reader dropped: {exc}") from None
        for reply in replies:
            if isinstance(reply, hiredis.ReplyError):
                self._lost(conn)
                raise LinkBroken(f"a tracked read was refused: {reply}")
        self._give_back(conn)
        return replies

    def _lost(self, conn: Any) -> None:
        conn.disconnect()
        with self._lock:
            self._made -= 1

    def check_readers(self) -> None:
        """PING every idle reader; :class:`LinkBroken` if one dropped (its tracking with it)."""
        with self._lock:
            idle, self._idle = self._idle, []
        try:
            for i, conn in enumerate(idle):
                try:
                    replies = roundtrip(conn, [("PING",)])
                except (OSError, rex.RedisError) as exc:
                    self._lost(conn)
                    idle.pop(i)
                    raise LinkBroken(f"a tracking reader dropped: {exc}") from None
                if replies != [b"PONG"]:
                    raise LinkBroken(f"a tracking reader answered PING with {replies!r}")
        finally:
            for conn in idle:
                self._give_back(conn)

    def reader_ids(self) -> list[int]:
        """The server's ids of the idle readers (for tests)."""
        with self._lock:
            idle = list(self._idle)
        ids = []
        for conn in idle:
            (found,) = roundtrip(conn, [("CLIENT", "ID")])
            ids.append(int(found))
        return ids

    def close(self) -> None:
        """Close every connection of the link (a blocked :meth:`listen` returns at once)."""
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.disconnect()
        listener = self.listener
        if listener is not None:
            shut_down(listener)
            with contextlib.suppress(Exception):
                listener.disconnect()
