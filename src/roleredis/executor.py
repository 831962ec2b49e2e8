"""How a batch of calls from :mod:`roleredis.ops` reaches Redis and comes back (sync).

The fast path packs the whole batch into one write on one pooled connection and reads the
replies (a pipeline without redis-py's pipeline bookkeeping). Any other client object (a mock,
a client made elsewhere) gets the calls as ordinary method calls, one by one.

Retries live here and only here: a failed connection is retried with a short backoff while the
time spent stays within ``socket_connect_timeout``; a timeout is never retried (the server is
slow, asking again makes it slower).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import redis
import redis.exceptions as rex

from .errors import translate

__all__ = ["SyncExecutor", "drive", "to_wire"]

T = TypeVar("T")
Call = tuple[str, tuple[Any, ...]]

_BACKOFF = (0.02, 0.1, 0.3)


def to_wire(call: Call) -> tuple[Any, ...]:
    """The Redis command for a redis-py method call.

    >>> to_wire(("set", ("k", b"v", 60)))
    ('SET', 'k', b'v', 'EX', 60)
    """
    name, args = call
    if name == "set":
        return ("SET", args[0], args[1], "EX", args[2]) if len(args) == 3 else ("SET", *args)
    if name == "scan":
        return ("SCAN", args[0], "MATCH", args[1], "COUNT", args[2])
    if name == "mget":
        return ("MGET", *args[0])
    return (name.upper(), *args)


def drive(op: Generator[list[Call], list[Any], T], run: Callable[[list[Call]], list[Any]]) -> T:
    """Run an operation generator to its end, sending each batch through ``run``."""
    try:
        batch = next(op)
        while True:
            batch = op.send(run(batch))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


def retryable(exc: BaseException) -> bool:
    """A connection failure worth one more try (not auth, not an exhausted pool, not timeouts)."""
    return (
        isinstance(exc, rex.ConnectionError)
        and not isinstance(exc, rex.AuthenticationError)
        and "No connection available" not in str(exc)
    )


def backoff_delays(budget: float) -> Generator[float, None, None]:
    """Delays before each retry, stopping once ``budget`` seconds would be exceeded."""
    started = time.monotonic()
    for delay in _BACKOFF:
        if time.monotonic() - started + delay >= budget:
            return
        yield delay


class SyncExecutor:
    """Sends batches of calls for one client; retries connection failures within a budget."""

    __slots__ = ("_callbacks", "_fast", "budget", "client")

    def __init__(self, client: Any, *, budget: float = 5.0) -> None:
        self.client = client
        self.budget = budget
        self._fast = type(client) is redis.Redis
        self._callbacks = client.response_callbacks if self._fast else {}

    def __call__(self, batch: list[Call]) -> list[Any]:
        """Send ``batch``; return the replies; raise the translated error."""
        send = self._send_packed if self._fast else self._send_calls
        delays = None
        while True:
            try:
                return send(batch)
            except Exception as exc:
                if retryable(exc):
                    if delays is None:
                        delays = backoff_delays(self.budget)
                    delay = next(delays, None)
                    if delay is not None:
                        time.sleep(delay)
                        continue
                raise translate(exc) from exc

    def _send_calls(self, batch: list[Call]) -> list[Any]:
        return [getattr(self.client, name)(*args) for name, args in batch]

    def _send_packed(self, batch: list[Call]) -> list[Any]:
        pool = self.client.connection_pool
        conn = pool.get_connection()
        try:
            commands = [to_wire(call) for call in batch]
            conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            replies = []
            error: Exception | None = None
            callbacks = self._callbacks
            for command in commands:
                try:
                    reply = conn.read_response()
                except rex.ResponseError as exc:
                    error = error or exc
                    replies.append(exc)
                    continue
                callback = callbacks.get(command[0])
                replies.append(callback(reply) if callback is not None else reply)
        except BaseException:
            conn.disconnect()
            raise
        finally:
            pool.release(conn)
        if error is not None:
            raise error
        return replies
