"""How a batch of calls from :mod:`roleredis.core.ops` reaches Redis and comes back (sync).

The fast path packs the whole batch into one write on one pooled connection and reads the
replies (a pipeline without redis-py's pipeline bookkeeping). It is taken for any genuine
redis-py client (by its real type: a ``Mock(spec=redis.Redis)`` passes ``isinstance`` but not
this). Any other client object (a Mock, a stand-in) gets the calls one by one, as the guide's
original module made them (:mod:`roleredis.transport.standin`).

Whether to retry is decided by :mod:`roleredis.transport.retry`, the one policy the sync, async
(:mod:`roleredis.transport.aexecutor`) and background runners share: a failed connection is
retried with a
short backoff while the time spent stays within ``socket_connect_timeout``; a timeout is never
retried (the server is slow, asking again makes it slower). A connection the server closes in
the middle of a call while it still answers PING on a new one is not an outage: the server
refused what was sent (a value over its proto-max-bulk-len, say), so it is reported as such,
never retried and never counted by the breaker. Any answer from the server closes the breaker.

A batch that may wait on the server (an :class:`~roleredis.foundation.batch.Batch` with a
``wait``: XREAD
with ``BLOCK``) is read with the socket timeout extended by its wait, so a long wait is not
taken for a dead server. Such waits hold a pooled connection the whole time, so they must not
starve the calls that share the pool: at most ``waiting`` of them (half of
``pool.max_connections``) hold a connection at once, per client (:func:`wait_gate`). A waiting
batch that finds every place taken queues for one, within its own wait: if one comes free it
waits only for what is left of its time (:func:`rewaited`); if none does, it is sent once
without waiting (so it still returns what is there, and no later than its wait allowed).
Calls that do not wait never queue behind waiting ones.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import hiredis
import redis
import redis.exceptions as rex
from hiredis import pack_command

from ..foundation import lifecycle
from ..foundation.batch import READABLE, Batch, Lenient, Pause
from ..foundation.errors import RoleRedisError, refusal
from ..foundation.internals import (
    check_out,
    connected_socket,
    give_back,
    is_plain_socket,
    lend,
    plain_socket,
)
from ..foundation.keys import raw_key
from .breaker import Breaker
from .cluster import ClusterClient
from .connection import Route, route_for
from .merging import MERGED_RUN, merged_sets, spread
from .retry import (
    SYNC_BACKOFF,
    ConnectionDropped,
    Decision,
    RetryPolicy,
    refused_by_server,
    retryable,
)
from .standin import send_calls

__all__ = [
    "ConnectionDropped",
    "SyncExecutor",
    "answers_ping",
    "drive",
    "is_native",
    "pack",
    "refused_by_server",
    "retryable",
    "rewaited",
    "roundtrip",
    "tell_breaker",
    "to_wire",
    "wait_gate",
    "waiting_places",
    "with_raw_keys",
]

T = TypeVar("T")
Call = tuple[str, tuple[Any, ...]]

_BACKOFF = SYNC_BACKOFF
_READ_SIZE = 1 << 16


#: The calls whose command is not their name in capitals followed by their arguments.
_SHAPED = frozenset({READABLE, "set", "scan", "mget", "memory_usage", "xpending_range", "xclaim"})
#: The command names of the most frequent plain calls, spelled once (``name.upper()`` else).
_WIRE_NAMES = {name: name.upper() for name in ("get", "ttl", "mset", "unlink", "exists", "wait")}
_REPLY_ERROR = hiredis.ReplyError


def to_wire(call: Call) -> tuple[Any, ...]:
    """The Redis command for a redis-py method call.

    >>> to_wire(("set", ("k", b"v", 60)))
    ('SET', 'k', b'v', 'EX', 60)
    >>> to_wire(("memory_usage", (b"k",)))
    ('MEMORY', 'USAGE', b'k')
    """
    name, args = call
    if name not in _SHAPED:  # most calls: one set look-up instead of the seven tests below
        return (name.upper(), *args)
    if name == READABLE:  # EXISTS, its refusal a reply (see roleredis.foundation.batch.READABLE)
        return ("EXISTS", *args)
    if name == "set":
        return ("SET", args[0], args[1], "EX", args[2]) if len(args) == 3 else ("SET", *args)
    if name == "scan":
        return ("SCAN", args[0], "MATCH", args[1], "COUNT", args[2])
    if name == "mget":
        return ("MGET", *args[0])
    if name == "memory_usage":
        return ("MEMORY", "USAGE", *args)
    if name == "xpending_range":
        # the command name as bytes: no redis-py reply callback matches it, so the reply comes
        # back raw (redis-py's XPENDING callback reads only the summary form)
        return (b"XPENDING", *args)
    if name == "xclaim":  # raw too: redis-py's XCLAIM callback reads entries, not JUSTID's ids
        return (b"XCLAIM", *args)
    return (name.upper(), *args)


def drive(op: Generator[list[Call], list[Any], T], run: Callable[[list[Call]], list[Any]]) -> T:
    """Run an operation generator to its end, sending each batch through ``run``.

    A batch that fails is raised into the operation (at its ``yield``), which may handle it.
    A :class:`~roleredis.foundation.batch.Pause` is slept here, in the caller.
    """
    try:
        batch = next(op)
        while True:
            if type(batch) is Pause:
                time.sleep(batch.wait)
                batch = op.send([])
                continue
            try:
                replies = run(batch)
            except RoleRedisError as exc:
                batch = op.throw(exc)
            else:
                batch = op.send(replies)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def rewaited(batch: list[Call], wait: float | None) -> list[Call]:
    """``batch`` waiting ``wait`` seconds on the server instead of its own wait (its ``BLOCK``
    arguments rewritten; never ``BLOCK 0``, which waits forever), or, for None, not waiting at
    all (answered at once). Whether it may be sent again stays as ``batch`` says.

    >>> batch = Batch([("xread", ("BLOCK", 500, "STREAMS", "k", "0"))], wait=0.5)
    >>> shorter = rewaited(batch, 0.12)
    >>> shorter, shorter.wait
    ([('xread', ('BLOCK', 120, 'STREAMS', 'k', '0'))], 0.12)
    >>> rewaited(batch, None)
    [('xread', ('STREAMS', 'k', '0'))]
    """
    millis = None if wait is None else max(1, round(wait * 1000))
    calls: list[Call] = []
    for name, args in batch:
        if "BLOCK" in args:
            at = args.index("BLOCK")
            block = () if millis is None else ("BLOCK", millis)
            args = (*args[:at], *block, *args[at + 2 :])
        calls.append((name, args))
    wait = 0.0 if millis is None else millis / 1000
    return Batch(calls, repeatable=getattr(batch, "repeatable", True), wait=wait)


def waiting_places(max_connections: int) -> int:
    """How many connections of a pool of ``max_connections`` waiting batches may hold at once:
    half of them, at least one (the other half always serves the calls that do not wait).

    >>> waiting_places(10), waiting_places(1)
    (5, 1)
    """
    return max(1, max_connections // 2)


# client -> the semaphore bounding how many of its connections waiting batches hold at once
_gates: weakref.WeakKeyDictionary[Any, threading.BoundedSemaphore] = weakref.WeakKeyDictionary()
_gates_lock = threading.Lock()


def wait_gate(client: Any, size: int) -> threading.BoundedSemaphore:
    """The places for waiting batches on ``client``'s connections: ``size`` of them, shared by
    every runner of the client (each role's store has its own runner on the shared client).

    >>> gate = wait_gate(wait_gate, 2)  # any object that can be weakly referenced
    >>> gate is wait_gate(wait_gate, 2), gate.acquire(blocking=False)
    (True, True)
    >>> gate.release()
    """
    gate = _gates.get(client)
    if gate is None:
        with _gates_lock:
            gate = _gates.get(client)
            if gate is None:
                gate = _gates[client] = threading.BoundedSemaphore(size)
    return gate


def forget_gates(forked: bool = False) -> None:
    """Drop every gate (in a forked child, places held by threads of the parent must not count
    against the child's; after reset(), the clients they bound are closed)."""
    global _gates_lock
    if forked:
        _gates_lock = threading.Lock()
    _gates.clear()


lifecycle.on_reset(forget_gates)


def tell_breaker(breaker: Breaker, decision: Decision) -> None:
    """What a call that gave up says about the server: any answer from it closes the breaker
    (and ends a probe), a connection failure or timeout counts toward opening it, anything
    else (an exhausted pool, a bug) only lets the next call probe."""
    if decision.server == "up":
        breaker.succeeded()
    elif decision.server == "down":
        breaker.failed(str(decision.error))
    else:
        breaker.released()


def is_native(client: Any) -> bool:
    """Whether ``client`` is a genuine redis-py client (or a subclass, such as fakeredis's).

    Decided by the object's real type, not ``isinstance``: a ``Mock(spec=redis.Redis)`` claims
    to be a ``redis.Redis`` through ``__class__``, but has no connection pool to pack
    commands on.

    >>> from unittest.mock import Mock
    >>> stand_in = Mock(spec=redis.Redis)
    >>> isinstance(stand_in, redis.Redis), is_native(stand_in)
    (True, False)
    """
    return issubclass(type(client), redis.Redis | ClusterClient)


class SyncExecutor:
    """Sends batches of calls for one client; retries by the one policy (:mod:`.retry`).

    ``native`` says whether the client is a genuine redis-py client (the fast, packed path);
    any other client gets its calls one by one through
    :func:`roleredis.transport.standin.send_calls`.
    ``budget`` (socket_connect_timeout) bounds the time spent retrying, read from ``clock``.
    ``waiting``: how many connections of the client waiting batches may hold at once (see the
    module's doc; 0: no bound, for a client the caller owns).
    """

    __slots__ = ("_callbacks", "_send", "breaker", "clock", "native", "policy", "route", "waiting")

    def __init__(
        self,
        client: Any,
        *,
        budget: float = 5.0,
        breaker: Breaker | None = None,
        tls: bool = False,
        address: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        waiting: int = 0,
    ) -> None:
        self.route = route_for(client)
        self.waiting = waiting
        # address: where it connects, for error messages (never the password)
        self.policy = RetryPolicy(budget, tls=tls, address=address)
        self.breaker = breaker if breaker is not None else Breaker()
        self.clock = clock
        self.native = is_native(client)
        self._callbacks = {**client.response_callbacks, **_LEAN_CALLBACKS} if self.native else {}
        self._send = self._send_packed if self.native else self._send_calls

    @property
    def client(self) -> Any:
        return self.route.client

    def __call__(self, batch: list[Call]) -> list[Any]:
        """Send ``batch``; return the replies; raise the translated error."""
        if self.waiting and type(batch) is Batch and batch.wait:
            return self._call_waiting(batch)
        # _call's steps, inline: this is every round trip's path (a quiet breaker, the common
        # case, has nothing to do before or after it)
        breaker = self.breaker
        if not breaker.quiet:
            breaker.before_call()
        try:
            replies = self._send(batch)
        except Exception as exc:
            return self._retry(batch, self._send, exc)
        if not breaker.quiet:
            breaker.succeeded()
        return replies

    def _call_waiting(self, batch: list[Call]) -> list[Any]:
        """A waiting batch, through the client's gate (see the module's doc)."""
        gate = wait_gate(self.client, self.waiting)
        wait = float(getattr(batch, "wait", 0.0))
        started = self.clock()
        if not gate.acquire(timeout=wait):
            return self._call(rewaited(batch, None))
        try:
            return self._call(rewaited(batch, wait - (self.clock() - started)))
        finally:
            gate.release()

    def _call(self, batch: list[Call]) -> list[Any]:
        self.breaker.before_call()
        send = self._send
        try:
            replies = send(batch)
        except Exception as exc:
            return self._retry(batch, send, exc)
        self.breaker.succeeded()
        return replies

    def _retry(
        self, batch: list[Call], send: Callable[[list[Call]], list[Any]], exc: Exception
    ) -> list[Any]:
        started = self.clock()
        attempt = 0
        repeatable = getattr(batch, "repeatable", True)  # see batch.Batch
        while True:
            attempt += 1
            # a cluster (or a stand-in) has no one pool: no PING question then
            pool = self.client.connection_pool if self.native else None
            ping = pool is not None and self.policy.should_ping(exc, repeatable)
            pinged = answers_ping(pool) if ping else None
            decision = self.policy.decide(
                exc, attempt, self.clock() - started, answers_ping=pinged, repeatable=repeatable
            )
            if decision.delay is None:
                tell_breaker(self.breaker, decision)
                raise decision.error from exc
            time.sleep(decision.delay)  # looked up at each call: tests replace time.sleep
            try:
                replies = send(batch)
            except Exception as again:
                exc = again
                continue
            self.breaker.succeeded()
            return replies

    def _send_calls(self, batch: list[Call]) -> list[Any]:
        return send_calls(self.client, batch)

    def _send_packed(self, batch: list[Call]) -> list[Any]:
        route = self.route
        calls, runs = (batch, None) if len(batch) < MERGED_RUN else merged_sets(batch, route)
        # to_wire's steps, inline for the plain calls (most of every batch)
        commands: list[tuple[Any, ...]] = []
        for call in calls:
            name, args = call
            if name not in _SHAPED:
                commands.append((_WIRE_NAMES.get(name) or name.upper(), *args))
            else:
                commands.append(to_wire(call))
        # a blocking read (see batch.Batch); a plain list has no wait
        wait = 0.0 if type(batch) is list else getattr(batch, "wait", 0.0)
        replies: list[Any]
        if wait:
            replies = route.send(commands, functools.partial(send_packed, wait=wait))
        elif type(route) is Route:  # Route.send's one step, without the call
            replies = send_packed(route.client, commands)
        else:
            replies = route.send(commands, send_packed)
        if len(replies) != len(commands):
            raise rex.InvalidResponse(f"{len(replies)} replies to {len(commands)} commands")
        callbacks = self._callbacks
        for i, reply in enumerate(replies):
            if isinstance(reply, _REPLY_ERROR):
                if calls[i][0] == READABLE or type(calls[i][0]) is Lenient:
                    replies[i] = refusal(str(reply))  # the error is the reply
                    continue
                raise rex.ResponseError(str(reply))
            callback = callbacks.get(commands[i][0])
            if callback is not None:
                replies[i] = callback(reply)
        return replies if runs is None else spread(replies, runs)


def _set_reply(reply: Any) -> Any:
    """redis-py's SET callback (``parse_set_result``) for the replies the fast path reads, which
    are always bytes (its own reader, whatever ``decode_responses`` says) and never those of
    ``SET ... GET`` (roleredis does not send it): OK is True, a refused NX/XX None."""
    return reply and reply == b"OK"


#: redis-py's reply callbacks, replaced for the hot commands by ones that do the same for the
#: fast path's replies without redis-py's generality (see :func:`_set_reply`).
_LEAN_CALLBACKS: dict[str, Callable[[Any], Any]] = {"SET": _set_reply}


def send_packed(client: Any, commands: list[tuple[Any, ...]], wait: float = 0.0) -> list[Any]:
    """``commands`` on a pooled connection of ``client`` (a redis-py client of one server),
    in one write; the raw replies (see :func:`roundtrip`)."""
    pool = client.connection_pool
    conn = lend(pool)
    try:
        return roundtrip(conn, commands, wait)
    except BaseException:
        conn.disconnect()
        raise
    finally:
        give_back(pool, conn)


def with_raw_keys(commands: list[Any]) -> list[Any]:
    """``commands`` with every str argument as the bytes it stands for: a key listed with
    surrogate escapes (bytes that are not UTF-8) is sent as those bytes. Only used when
    packing as UTF-8 failed, so plain keys pay nothing for it."""
    return [
        c if type(c) is bytes else tuple(raw_key(a) if isinstance(a, str) else a for a in c)
        for c in commands
    ]


def pack(commands: list[Any]) -> bytes:
    r"""The commands in the Redis protocol, in one buffer (see :func:`with_raw_keys`); a
    command given as bytes is one already in the protocol (the writer's packed sends).

    >>> pack([("PING",), b"*1\r\n$4\r\nPING\r\n"])
    b'*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n'
    """
    try:
        if len(commands) == 1 and type(commands[0]) is not bytes:
            return pack_command(commands[0])  # type: ignore[no-any-return]
        return b"".join([c if type(c) is bytes else pack_command(c) for c in commands])
    except UnicodeEncodeError:
        return b"".join(
            [c if type(c) is bytes else pack_command(c) for c in with_raw_keys(commands)]
        )


def _roundtrip_via_redis_py(conn: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """The same contract as :func:`roundtrip`, through redis-py's own connection methods."""
    try:
        packed = conn.pack_commands(commands)
    except UnicodeEncodeError:
        packed = conn.pack_commands(with_raw_keys(commands))
    conn.send_packed_command(packed)
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(conn.read_response())
        except rex.ResponseError as exc:
            replies.append(hiredis.ReplyError(str(exc)))
    return replies


def roundtrip(conn: Any, commands: list[tuple[Any, ...]], wait: float = 0.0) -> list[Any]:
    """Send ``commands`` on a connected redis-py connection in one write; read every reply.

    Replies come back raw from hiredis: error replies are ``hiredis.ReplyError`` objects in the
    list, not exceptions, so one failed command does not hide the others. A socket failure or
    timeout raises redis-py's ConnectionError / TimeoutError; the caller disconnects.
    ``wait``: seconds a blocking command of the batch may wait on the server, added to the
    read timeout for this call only.
    """
    sock = plain_socket(conn)  # lent connected (see internals.lend)
    if sock is None:
        sock = connected_socket(conn)
        if not is_plain_socket(sock):  # e.g. fakeredis: its own, in-process I/O
            return _roundtrip_via_redis_py(conn, commands)
    if wait:
        usual = getattr(conn, "socket_timeout", None)
        sock.settimeout(None if usual is None else usual + wait)
        try:
            return _exchange(sock, commands)
        finally:
            sock.settimeout(usual)
    return _exchange(sock, commands)


#: Readers that parsed every byte they were fed, for the next exchange (a new one costs as
#: much as the rest of a reply's parsing): each is taken by one exchange at a time (list.pop
#: and append are atomic), and one an exchange failed in, or left with bytes, is dropped.
_READERS: list[Any] = []
_SPARE_READERS = 16


def _exchange(sock: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    packed = pack(commands)
    try:
        reader = _READERS.pop()
    except IndexError:
        reader = hiredis.Reader()
    replies: list[Any] = []
    want = len(commands)
    try:
        sock.sendall(packed)
        while len(replies) < want:
            reply = reader.gets()
            if reply is False:
                chunk = sock.recv(_READ_SIZE)
                if not chunk:
                    raise ConnectionDropped("connection closed by the server")
                reader.feed(chunk)
            else:
                replies.append(reply)
    except hiredis.ProtocolError as exc:  # what answered is not Redis (an HTTP server, ...)
        raise rex.InvalidResponse(f"Protocol error: {exc}") from None
    except TimeoutError as exc:
        raise rex.TimeoutError(f"no answer within socket_timeout ({exc})") from None
    except OSError as exc:
        raise ConnectionDropped(f"connection lost: {exc}") from None
    if not reader.has_data() and len(_READERS) < _SPARE_READERS:
        _READERS.append(reader)
    return replies


def answers_ping(pool: Any) -> bool:
    """Whether the server answers PING on a connection from ``pool`` (a new one, since the
    failed one was dropped). Only for the failure path of a dropped connection: it tells an
    outage from a server that closed the connection on purpose."""
    try:
        conn = check_out(pool)
    except (rex.RedisError, OSError):
        return False
    try:
        return roundtrip(conn, [("PING",)])[0] in (b"PONG", "PONG")
    except (rex.RedisError, OSError):
        conn.disconnect()
        return False
    finally:
        pool.release(conn)
