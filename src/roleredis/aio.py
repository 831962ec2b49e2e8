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
import inspect
import threading
import time
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Generator,
    Iterable,
    Mapping,
)
from typing import Any, TypeVar

from . import ops, results, runtime
from .aexecutor import AsyncExecutor
from .aexecutor import executor_for as _executor_for
from .config import Settings
from .connection import (
    aclose_client,
    build_async_client,
    embedded_backend,
)
from .errors import RoleRedisError
from .store import pool_usage, scope_for
from .tools import (
    _failed,
    _health_extras,
    _resolve,
    _succeeded,
    _with_breaker,
    redis_flush,
    redis_read_async,
    redis_write_async,
)

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


# role -> its AsyncRoleStore (it holds no loop state, so one serves every loop)
_stores: dict[str, AsyncRoleStore] = {}


def _forget_clients(forked: bool) -> None:
    # Clients belong to their loops; a loop still running keeps its own until it ends. After
    # reset() the next call in that loop must see new settings, so drop the mapping. In a
    # forked child the lock may have been held by a parent thread: a new one.
    global _clients_lock
    if forked:
        _clients_lock = threading.Lock()
    with _clients_lock:
        _clients.clear()
    _stores.clear()


runtime.on_reset(_forget_clients)


async def drive_async(
    op: Generator[list[Call], list[Any], T], run: Callable[[list[Call]], Awaitable[list[Any]]]
) -> T:
    """Run an operation generator to its end, awaiting each batch (see :func:`drive`)."""
    try:
        batch = next(op)
        while True:
            try:
                replies = await run(batch)
            except RoleRedisError as exc:
                batch = op.throw(exc)
            else:
                batch = op.send(replies)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


class AsyncRoleStore:
    """One role's corner of Redis, for asyncio code; the same operations as RoleStore.

    ``client`` defaults to the running loop's own client.

    >>> async def main():
    ...     store = AsyncRoleStore("timer")
    ...     await store.write("state", "ticking")
    ...     return (await store.read("state")).value
    >>> asyncio.run(main())
    'ticking'
    """

    __slots__ = ("client", "scope", "settings")

    def __init__(self, role: str, *, client: Any = None, settings: Settings | None = None) -> None:
        self.settings = runtime.enabled_settings(settings)
        self.scope = scope_for(role, self.settings)
        self.client = client

    @property
    def role(self) -> str:
        return self.scope.role

    def full_key(self, key: str) -> str:
        return self.scope.keyspace.full_key(key)

    async def _run(self, op: Generator[list[Call], list[Any], T]) -> T:
        if self.client is not None:
            run = _executor_for(self.client, None, self.settings)
        else:
            shared = await _loop_client()
            if shared.executor is None:  # made once per loop client; the hot path looks it up
                shared.executor = _executor_for(shared.client, shared.slots, self.settings)
            run = shared.executor
        return await drive_async(op, run)

    async def write(
        self, key: str, value: Any, ttl: int | None = None, *, encrypt: bool | None = None
    ) -> ops.Written:
        return await self._run(ops.write(self.scope, key, value, ttl, encrypt))

    async def read(self, key: str) -> ops.Entry:
        return await self._run(ops.read(self.scope, key))

    async def exists(self, key: str) -> bool:
        return await self._run(ops.exists(self.scope, key))

    async def delete(self, key: str) -> bool:
        return await self._run(ops.delete(self.scope, key))

    async def keys(self, pattern: str = "*") -> list[str]:
        return await self._run(ops.list_keys(self.scope, pattern))

    async def clear(self) -> int:
        return await self._run(ops.clear(self.scope))

    async def write_many(
        self, mapping: Mapping[str, Any], ttl: int | None = None, *, encrypt: bool | None = None
    ) -> ops.WrittenMany:
        return await self._run(ops.write_many(self.scope, mapping, ttl, encrypt))

    async def read_many(self, keys: Iterable[str]) -> ops.ReadMany:
        return await self._run(ops.read_many(self.scope, keys))

    async def health(self) -> ops.Health:
        return await self._run(ops.health(self.scope, embedded_backend(self.settings)))

    async def pool_usage(self) -> dict[str, int]:
        client = self.client if self.client is not None else (await _loop_client()).client
        return pool_usage(client, self.settings)


def _call(
    operation: str,
    role: str | None,
    body: Callable[[AsyncRoleStore], Awaitable[Result]],
    fallback: Mapping[str, Any],
    key: Any = None,
    finish: Callable[[Result], Result] | None = None,
) -> Coroutine[Any, Any, Result]:
    """Resolve the role now, in the caller's frame (a coroutine may run later, in a task, where
    the caller's frame is gone); return the coroutine that does the rest and never raises.
    ``finish`` gets the result (success or failure) last."""
    started = time.perf_counter()
    try:
        settings, name = _resolve(role)
        store = _stores.get(name)
        if store is None or store.settings is not settings:
            store = _stores[name] = AsyncRoleStore(name, settings=settings)
    except Exception as exc:
        result = _failed(operation, exc, fallback, None, key, started)
        return _fail_later(finish(result) if finish is not None else result)
    return _run_body(operation, store, body, fallback, key, started, finish)


async def _fail_later(result: Result) -> Result:
    return result


async def _run_body(
    operation: str,
    store: AsyncRoleStore,
    body: Callable[[AsyncRoleStore], Awaitable[Result]],
    fallback: Mapping[str, Any],
    key: Any,
    started: float,
    finish: Callable[[Result], Result] | None,
) -> Result:
    try:
        result = await body(store)
    except Exception as exc:
        result = _failed(operation, exc, fallback, store, key, started)
    else:
        _succeeded(operation, store, key, started)
    return finish(result) if finish is not None else result


def redis_write(
    key: str,
    value: Any,
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_write`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.written(await s.write(key, value, ttl, encrypt=encrypt), s.role)

    return _call("write", role, body, {"key": key}, key)


def redis_read(key: str, *, role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_read`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.entry(await s.read(key))

    async def read() -> Result:
        return results.with_missing_value(await _call("read", role, body, {"key": key}, key))

    return read()


def redis_get_keys(pattern: str = "*", *, role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_get_keys`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.key_list(await s.keys(pattern), pattern, s.role)

    return _call("get_keys", role, body, {"pattern": pattern, "keys": [], "count": 0})


def redis_delete(key: str, *, role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_delete`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.deleted(key, s.full_key(key), await s.delete(key))

    return _call("delete", role, body, {"key": key}, key)


def redis_exists(key: str, *, role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_exists`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.existence(key, s.full_key(key), await s.exists(key))

    return _call("exists", role, body, {"key": key}, key)


def redis_health_check(*, role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_health_check`."""

    async def body(s: AsyncRoleStore) -> Result:
        report = await s.health()
        return results.health(report, s.role, await s.pool_usage(), **_health_extras())

    return _call("health_check", role, body, {"connected": False}, finish=_with_breaker)


def redis_clear_role_data(role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_clear_role_data`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.cleared(s.role, await s.clear())

    return _call("clear_role_data", role, body, {"deleted_count": 0})


def redis_write_many(
    mapping: Mapping[str, Any],
    ttl: int | None = None,
    *,
    role: str | None = None,
    encrypt: bool | None = None,
) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_write_many`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.written_many(await s.write_many(mapping, ttl, encrypt=encrypt), s.role)

    return _call("write_many", role, body, {"written": 0})


def redis_read_many(keys: Iterable[str], *, role: str | None = None) -> Coroutine[Any, Any, Result]:
    """Awaitable :func:`roleredis.tools.redis_read_many`."""

    async def body(s: AsyncRoleStore) -> Result:
        return results.read_many(await s.read_many(keys), s.role)

    return _call("read_many", role, body, {"values": {}, "missing": [], "count": 0})


if hasattr(inspect, "markcoroutinefunction"):  # Python >= 3.12
    for _name in __all__:
        _function = globals()[_name]
        if _name.startswith("redis_") and _function.__module__ == __name__:
            inspect.markcoroutinefunction(_function)
