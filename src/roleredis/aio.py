"""The asyncio face: ``await``-able versions of every tool, on redis.asyncio, and AsyncRoleStore.

The operations are the same generators the sync path runs (:mod:`roleredis.ops`); only the
I/O differs. The functions resolve the calling role when they are called, like the sync ones,
and return the coroutine to await: so ``asyncio.gather(redis_write(...))`` written in
``roles/timer/`` writes under ``timer:`` although the coroutine runs later in a task. (On
Python 3.12 and later they are marked so that ``inspect.iscoroutinefunction`` is true.)

Each event loop gets its own client, closed when ``asyncio.run()`` shuts the loop
down, so running several loops (one after another, or at once in several threads) never meets
"attached to a different loop" or "Event loop is closed".

>>> import asyncio
>>> from roleredis import aio
>>> async def main():
...     await aio.redis_write("forecast", {"sky": "clear"}, role="weather")
...     return (await aio.redis_read("forecast", role="weather"))["value"]
>>> asyncio.run(main())
{'sky': 'clear'}
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from . import face, runtime, tools
from .aexecutor import AsyncExecutor
from .aexecutor import executor_for as _executor_for
from .config import Settings
from .connection import aclose_client, build_async_client
from .store import AsyncRoleStore
from .tools import redis_flush, redis_read_async, redis_write_async

__all__ = [
    "AsyncRoleStore",
    "aclose",
    "redis_clear_role_data",
    "redis_delete",
    "redis_exists",
    "redis_flush",
    "redis_get_keys",
    "redis_health_check",
    "redis_read",
    "redis_read_async",
    "redis_read_many",
    "redis_write",
    "redis_write_async",
    "redis_write_many",
]

T = TypeVar("T")
Result = dict[str, Any]
Call = tuple[str, tuple[Any, ...]]


class _LoopClient:
    """A loop's client, the semaphore that bounds (and queues) its connections, and the
    async generator whose finalisation closes it."""

    __slots__ = ("client", "closer", "executor", "pool_timeout", "slots")

    def __init__(self, client: Any, closer: Any, max_connections: int, timeout: float) -> None:
        self.client = client
        self.closer = closer
        self.executor: AsyncExecutor | None = None
        self.slots = asyncio.Semaphore(max_connections)
        self.pool_timeout = timeout


# event loop -> its _LoopClient
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
    weakref.WeakKeyDictionary()
)
_clients_lock = threading.Lock()


async def _closer(client: Any, loop: asyncio.AbstractEventLoop) -> AsyncIterator[None]:
    # asyncio.run() -> loop.shutdown_asyncgens() finalises this generator inside the loop,
    # before the loop closes: the one moment the client's connections can be closed cleanly.
    try:
        yield
    finally:
        with _clients_lock:
            entry = _clients.get(loop)
            if entry is not None and entry.client is client:
                del _clients[loop]  # the entry would keep the loop alive (its client refers to it)
        await aclose_client(client)


async def _loop_client() -> _LoopClient:
    """The client of the running loop, made on first use in that loop."""
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if entry is None:
        settings = runtime.settings()
        client = build_async_client(settings)
        closer = _closer(client, loop)
        await closer.__anext__()
        entry = _LoopClient(client, closer, settings.max_connections, settings.pool_timeout)
        with _clients_lock:
            _clients[loop] = entry
    return entry


async def aclose() -> None:
    """Close the running loop's client now (``asyncio.run()`` does it by itself at the end)."""
    entry = _clients.get(asyncio.get_running_loop())
    if entry is not None:
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


runtime.on_reset(_forget_clients)


async def loop_executor(client: Any, settings: Settings) -> AsyncExecutor:
    """The executor that sends an AsyncRoleStore's batches: on ``client`` if given, else on the
    running loop's own client (made once per loop client; the hot path looks it up)."""
    if client is not None:
        return _executor_for(client, None, settings)
    shared = await _loop_client()
    if shared.executor is None:
        shared.executor = _executor_for(shared.client, shared.slots, settings)
    return shared.executor


# --- the face: the table bound to awaitable functions, with the sync tools' signatures --------

redis_write = face.bind_async(face.WRITE, tools.redis_write, __name__)
redis_read = face.bind_async(face.READ, tools.redis_read, __name__)
redis_get_keys = face.bind_async(face.GET_KEYS, tools.redis_get_keys, __name__)
redis_delete = face.bind_async(face.DELETE, tools.redis_delete, __name__)
redis_exists = face.bind_async(face.EXISTS, tools.redis_exists, __name__)
redis_health_check = face.bind_async(face.HEALTH_CHECK, tools.redis_health_check, __name__)
redis_clear_role_data = face.bind_async(face.CLEAR_ROLE_DATA, tools.redis_clear_role_data, __name__)
redis_write_many = face.bind_async(face.WRITE_MANY, tools.redis_write_many, __name__)
redis_read_many = face.bind_async(face.READ_MANY, tools.redis_read_many, __name__)
