"""``RoleStore`` and ``AsyncRoleStore``: every operation on one role's namespace, sync and
awaitable. Raise typed errors.

Each operation is an :mod:`roleredis.core.ops` generator; a store method is that generator bound to
the store's scope and run by the store's executor, so both stores offer the same operations
with the same signatures (tests/unit/test_face_parity.py checks it against the face table).

>>> store = RoleStore("weather")
>>> store.write("forecast", {"sky": "clear"}, ttl=60).full_key
'weather:forecast'
>>> store.read("forecast").value
{'sky': 'clear'}
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from ..foundation.config import Settings
from ..foundation.errors import RoleRedisError
from ..foundation.internals import pool_counts
from ..foundation.keys import Keyspace, validate_role
from ..transport.aexecutor import loop_executor
from ..transport.connection import describe, embedded_backend, uses_tls
from ..transport.executor import SyncExecutor, drive, waiting_places
from ..transport.retry import WRITER_BACKOFF
from . import budgets, events, leases, ops
from .codec import Codec
from .crypto import Keyring
from .mail import dead, housekeeping, receiving, requesting, sending, touching

__all__ = ["AsyncRoleStore", "Following", "RoleStore", "drive_async", "pool_usage", "scope_for"]

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger("roleredis.events")

#: The health probe's value on a stand-in client: the guide's original module wrote "test".
STAND_IN_PROBE_VALUE = b"test"


# id(settings) -> (settings, its codec, its encrypting codec): keyrings are costly to build
_codecs: dict[int, tuple[Settings, Codec, Codec]] = {}


def _codecs_for(settings: Settings) -> tuple[Codec, Codec]:
    cached = _codecs.get(id(settings))
    if cached is None or cached[0] is not settings:
        keyring = None
        if settings.encryption_key or settings.encryption_old_keys:
            keyring = Keyring(settings.encryption_key, settings.encryption_old_keys)
        options: dict[str, Any] = {
            "compression_threshold": settings.compression_threshold,
            "compression": settings.compression,
            "keyring": keyring,
        }
        if len(_codecs) > 64:
            _codecs.clear()
        cached = _codecs[id(settings)] = (
            settings,
            Codec(**options),
            Codec(**options, encrypt=True),
        )
    return cached[1], cached[2]


def scope_for(role: str, settings: Settings) -> ops.Scope:
    """The :class:`~roleredis.core.ops.Scope` of ``role`` under ``settings`` (role validated)."""
    plain, encrypting = _codecs_for(settings)
    return ops.Scope(
        Keyspace(
            validate_role(role),
            auto_prefix=settings.auto_prefix,
            # in a cluster, a co-located role's keys share one slot: {weather}:forecast
            hash_tag=settings.hash_tag_roles,
        ),
        default_ttl=settings.default_ttl,
        max_ttl=settings.max_ttl,
        codec=encrypting if role in settings.encrypt_roles else plain,
        max_value_bytes=settings.max_value_bytes,
        # roles share one namespace without a prefix: there is no role's index to keep
        index=settings.index and settings.auto_prefix,
        index_apart=settings.mode == "cluster" and not settings.hash_tag_roles,
        scattered=settings.mode == "cluster",
        wait_timeout=settings.async_wait_timeout,
        wait_replicas=settings.async_wait_replicas,
        sharing=settings.sharing,
        messaging=settings.messaging,
    )


def pool_usage(client: Any, settings: Settings) -> dict[str, int]:
    """How many connections the client's pool has made, lends out and may make."""
    in_use, idle = pool_counts(getattr(client, "connection_pool", None))
    return {"max": settings.max_connections, "in_use": in_use, "idle": idle}


def _signature_of(factory: Callable[..., Any], returns: str) -> inspect.Signature:
    """``factory``'s signature as a method's: ``self`` for the scope, ``returns`` for Op[T]."""
    signature = inspect.signature(factory)
    parameters = list(signature.parameters.values())
    outcome = str(signature.return_annotation).removeprefix("Op[").removesuffix("]")
    return signature.replace(
        parameters=[parameters[0].replace(name="self"), *parameters[1:]],
        return_annotation=returns.format(outcome),
    )


def _method(
    factory: Callable[Concatenate[ops.Scope, P], ops.Op[T]],
) -> Callable[Concatenate[RoleStore, P], T]:
    """The RoleStore method that runs the operation ``factory`` makes."""

    def method(self: RoleStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return drive(factory(self.scope, *args, **kwargs), self._run)

    _describe(method, factory, "{}")
    return method


def _async_method(
    factory: Callable[Concatenate[ops.Scope, P], ops.Op[T]],
) -> Callable[Concatenate[AsyncRoleStore, P], Coroutine[Any, Any, T]]:
    """The AsyncRoleStore method that runs the operation ``factory`` makes."""

    async def method(self: AsyncRoleStore, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._run(factory(self.scope, *args, **kwargs))

    _describe(method, factory, "Coroutine[Any, Any, {}]")
    return method


def _describe(method: Any, factory: Callable[..., Any], returns: str) -> None:
    renamed = {"list_keys": "keys", "remaining_ttl": "ttl", "status": "mail_status"}
    name = renamed.get(factory.__name__, factory.__name__)
    method.__name__ = name
    method.__doc__ = factory.__doc__
    method.__signature__ = _signature_of(factory, returns)
    method.__wrapped__ = factory  # the operation it runs (the face table's parity test checks)


class RoleStore:
    """One role's corner of Redis: keys are stored as ``<role>:<key>``.

    ``settings`` default to the process's (environment and config file, or
    :func:`roleredis.runtime.use_settings`). A store given settings connects where they say:
    through the one shared client of their connection target (address, credentials, TLS,
    pool: :func:`roleredis.transport.connection.target_of`), made on first use and reused by every
    store
    of that target, with the target's own circuit breaker and places for waiting reads, so one
    server's outage never fails calls to another. :func:`roleredis.reset` closes every such
    client; a forked child makes its own. ``client``: a redis-py client (or a stand-in) of the
    caller's instead, which the caller closes.

    >>> store = RoleStore("weather")
    >>> _ = store.write("session:abc123", {"user": 1})
    >>> store.keys("session:*")
    ['session:abc123']
    """

    __slots__ = ("_run", "client", "scope", "settings")

    def __init__(self, role: str, *, client: Any = None, settings: Settings | None = None) -> None:
        from .. import runtime

        self.settings = runtime.enabled_settings(settings)
        self.scope = scope_for(role, self.settings)
        target = runtime.target(settings)
        self.client = client if client is not None else target.client()
        self._run = SyncExecutor(
            self.client,
            budget=self.settings.socket_connect_timeout,
            breaker=target.breaker,
            tls=uses_tls(self.settings),
            address=describe(self.settings),
            waiting=waiting_places(self.settings.max_connections),
        )
        if not self._run.native and self.scope.index:
            # a stand-in (a Mock) gets the guide's original calls, which kept no index
            self.scope = dataclasses.replace(self.scope, index=False)

    @property
    def role(self) -> str:
        return self.scope.role

    def full_key(self, key: str) -> str:
        """The Redis key that ``key`` is stored under."""
        return self.scope.keyspace.full_key(key)

    write = _method(ops.write)
    read = _method(ops.read)
    ttl = _method(ops.remaining_ttl)
    exists = _method(ops.exists)
    delete = _method(ops.delete)
    keys = _method(ops.list_keys)
    write_many = _method(ops.write_many)
    read_many = _method(ops.read_many)
    publish = _method(events.publish)
    read_events = _method(events.read_events)
    send = _method(sending.send)
    receive = _method(receiving.receive)
    ack = _method(housekeeping.ack)
    dead_letters = _method(dead.dead_letters)
    replay_dead_letters = _method(dead.replay_dead_letters)
    mail_status = _method(housekeeping.status)
    request = _method(requesting.request)
    reply = _method(requesting.reply)
    touch = _method(touching.touch)
    acquire = _method(leases.acquire)
    renew = _method(leases.renew)
    release = _method(leases.release)
    take = _method(budgets.take)
    report = _method(budgets.report)
    give_back = _method(budgets.give_back)
    renew_place = _method(budgets.renew_place)

    def run(self, op: ops.Op[T]) -> T:
        """Drive ``op``, an operation generator made for this store's scope, on the store's
        runner (what every method does), and return its outcome."""
        return drive(op, self._run)

    def send_batch(self, batch: list[ops.Call]) -> list[Any]:
        """The replies of one batch of calls, sent by the store's runner as an operation's
        batch is (its retries, its breaker): for a hot path that needs no operation around it."""
        return self._run(batch)

    @property
    def runner(self) -> Callable[[list[ops.Call]], list[Any]]:
        """What :meth:`send_batch` calls: the store's runner itself, for a hot path that keeps
        it (roleredis.table.synclane) and so spares the method's call."""
        return self._run

    def clear(self, progress: Callable[[int], object] | None = None) -> int:
        """Delete every key of the role (SCAN + UNLINK in batches); returns how many.

        ``progress(n)`` is called after each batch with how many it deleted.
        """
        return drive(ops.clear(self.scope, progress), self._run)

    def reindex(self, progress: Callable[[int], object] | None = None) -> int:
        """Index every key in the role's namespace (SCAN) and trust the index from then on;
        returns how many keys were indexed. ``progress(n)`` after each SCAN step."""
        return drive(ops.reindex(self.scope, progress), self._run)

    def health(self) -> ops.Health:
        """PING plus a write/read/delete probe in the role's namespace."""
        # A stand-in client (the guide's tests patch in a Mock) answers GET with what the test
        # set, and the guide's tests set the value the original module probed with.
        token = None if self._run.native else STAND_IN_PROBE_VALUE
        return drive(ops.health(self.scope, embedded_backend(self.settings), token), self._run)

    def pool_usage(self) -> dict[str, int]:
        """Connections of the client's pool; a stand-in client (a Mock) has none to count."""
        if not self._run.native:
            return {"max": self.settings.max_connections, "in_use": 0, "idle": 0}
        return pool_usage(self.client, self.settings)


async def drive_async(op: ops.Op[T], run: Callable[[list[ops.Call]], Awaitable[list[Any]]]) -> T:
    """Run an operation generator to its end, awaiting each batch (see :func:`drive`)."""
    try:
        batch = next(op)
        while True:
            if type(batch) is ops.Pause:
                await asyncio.sleep(batch.wait)
                batch = op.send([])
                continue
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

    ``client`` defaults to the running loop's own client for the settings' connection target
    (one per event loop and target, closed when ``asyncio.run()`` ends), with that target's
    circuit breaker and places for waiting reads: settings given here are where it connects,
    as for :class:`RoleStore`.

    >>> import asyncio
    >>> async def main():
    ...     store = AsyncRoleStore("timer")
    ...     await store.write("state", "ticking")
    ...     return (await store.read("state")).value
    >>> asyncio.run(main())
    'ticking'
    """

    __slots__ = ("_target", "client", "scope", "settings")

    def __init__(self, role: str, *, client: Any = None, settings: Settings | None = None) -> None:
        from .. import runtime

        self.settings = runtime.enabled_settings(settings)
        self.scope = scope_for(role, self.settings)
        self.client = client
        self._target = runtime.target(settings)

    @property
    def role(self) -> str:
        return self.scope.role

    def full_key(self, key: str) -> str:
        """The Redis key that ``key`` is stored under."""
        return self.scope.keyspace.full_key(key)

    async def _run(self, op: ops.Op[T]) -> T:
        run = await loop_executor(self.client, self.settings, self._target)
        return await drive_async(op, run)

    async def run(self, op: ops.Op[T]) -> T:
        """Drive ``op``, an operation generator made for this store's scope, on the running
        loop's runner (what every method does), and return its outcome."""
        return await self._run(op)

    async def send_batch(self, batch: list[ops.Call]) -> list[Any]:
        """The replies of one batch of calls, sent by the running loop's runner (see
        :meth:`RoleStore.send_batch`)."""
        run = await loop_executor(self.client, self.settings, self._target)
        return await run(batch)

    write = _async_method(ops.write)
    read = _async_method(ops.read)
    ttl = _async_method(ops.remaining_ttl)
    exists = _async_method(ops.exists)
    delete = _async_method(ops.delete)
    keys = _async_method(ops.list_keys)
    write_many = _async_method(ops.write_many)
    read_many = _async_method(ops.read_many)
    publish = _async_method(events.publish)
    read_events = _async_method(events.read_events)
    send = _async_method(sending.send)
    receive = _async_method(receiving.receive)
    ack = _async_method(housekeeping.ack)
    dead_letters = _async_method(dead.dead_letters)
    replay_dead_letters = _async_method(dead.replay_dead_letters)
    mail_status = _async_method(housekeeping.status)
    request = _async_method(requesting.request)
    reply = _async_method(requesting.reply)
    touch = _async_method(touching.touch)
    acquire = _async_method(leases.acquire)
    renew = _async_method(leases.renew)
    release = _async_method(leases.release)
    take = _async_method(budgets.take)
    report = _async_method(budgets.report)
    give_back = _async_method(budgets.give_back)
    renew_place = _async_method(budgets.renew_place)

    async def clear(self, progress: Callable[[int], object] | None = None) -> int:
        """Delete every key of the role (SCAN + UNLINK in batches); returns how many.

        ``progress(n)`` is called after each batch with how many it deleted.
        """
        return await self._run(ops.clear(self.scope, progress))

    async def reindex(self, progress: Callable[[int], object] | None = None) -> int:
        """Index every key in the role's namespace (SCAN) and trust the index from then on;
        returns how many keys were indexed. ``progress(n)`` after each SCAN step."""
        return await self._run(ops.reindex(self.scope, progress))

    async def health(self) -> ops.Health:
        """PING plus a write/read/delete probe in the role's namespace."""
        return await self._run(ops.health(self.scope, embedded_backend(self.settings)))

    def follow_events(
        self, from_role: str, topic: str, *, after: str = "$"
    ) -> Following[events.Event]:
        """Every event of ``from_role``'s ``topic`` published after ``after``, as it comes,
        without end: a :class:`Following`, an async iterator (stop iterating, or
        ``await follower.aclose()``, to stop following) and an async context manager.

        ``after="$"`` means "only events published from now on", and *now* is when it is
        resolved, to the id of the newest event there is: on entering ``async with`` (or
        ``await follower.start()``), else at the first ``anext``. What is published between
        this call and that moment is not seen, so when the events that matter may come
        before the first ``anext`` (you publish, or ask another role to, right after), enter
        ``async with`` first. Every read then goes on from the id of the last event it
        returned, so none published between two reads is missed.

        Each read waits up to ``events.FOLLOW_WAIT_MS`` for new events (returning as soon as
        one comes), through the same runner, retry policy and breaker as every call. A failure
        that passes (the server unreachable or slow, every connection in use:
        ``events.PASSING``) is waited out with the background writer's backoff (up to 2 s
        between tries, logged once per outage on ``roleredis.core.events``) and the reads go on
        from where they were; any other failure (permission, a bad argument, an event that
        cannot be decoded) is raised. A bad role, topic or ``after`` is refused here, at once.

        >>> import asyncio
        >>> async def next_storm():
        ...     async with AsyncRoleStore("radar").follow_events("weather", "storms") as storms:
        ...         await AsyncRoleStore("weather").publish("storms", {"level": 3})
        ...         event = await anext(storms)  # published after "$" was resolved: seen
        ...     return event.sender, event.value
        >>> asyncio.run(next_storm())
        ('weather', {'level': 3})
        """
        events.validate_follow(from_role, topic, after)
        return Following(self, from_role, topic, after, _as_it_is)

    async def pool_usage(self) -> dict[str, int]:
        """Connections of the client's pool (the running loop's own client by default)."""
        executor = await loop_executor(self.client, self.settings, self._target)
        usage = pool_usage(executor.client, self.settings)
        # the connection the loop keeps between calls is checked out of the pool, yet idle
        parked = executor.parked_connections()
        usage["in_use"] -= parked
        usage["idle"] += parked
        return usage


def _as_it_is(event: events.Event) -> events.Event:
    return event


class Following(Generic[T]):
    """A follower of one role's events on one topic (see :meth:`AsyncRoleStore.follow_events`):
    an async iterator over them, each given as ``shape`` makes it, and an async context
    manager whose entering resolves ``after="$"`` to a real id before the block runs (plain
    iteration resolves it at the first ``anext``) and whose leaving stops following."""

    __slots__ = (
        "_after",
        "_closed",
        "_from_role",
        "_held",
        "_reading",
        "_shape",
        "_store",
        "_topic",
    )

    def __init__(
        self,
        store: AsyncRoleStore,
        from_role: str,
        topic: str,
        after: str,
        shape: Callable[[events.Event], T],
    ) -> None:
        self._store = store
        self._from_role = from_role
        self._topic = topic
        self._after = after
        self._shape = shape
        self._held: collections.deque[events.Event] = collections.deque()
        self._closed = False
        self._reading = False

    @property
    def after(self) -> str:
        """Where the next read goes on from: the id of the last event read (``"$"`` until it is
        resolved)."""
        return self._after

    async def start(self) -> Following[T]:
        """Resolve ``after="$"`` now, to the id of the newest event there is (nothing to do
        for any other ``after``, or once resolved); returns the follower."""
        if self._after == "$":
            self._after = (await self._read("$", 0)).last_id
        return self

    async def __aenter__(self) -> Following[T]:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __aiter__(self) -> Following[T]:
        return self

    async def __anext__(self) -> T:
        if self._closed:
            raise StopAsyncIteration
        if self._reading:  # two reads from one position would give the same events twice
            raise RuntimeError("anext(): this follower is already reading in another task")
        self._reading = True
        try:
            await self.start()
            while not self._held:
                batch = await self._read(self._after, events.FOLLOW_WAIT_MS)
                self._after = batch.last_id
                self._held.extend(batch.events)
        finally:
            self._reading = False
        return self._shape(self._held.popleft())

    async def aclose(self) -> None:
        """Stop following: the iteration ends (events read and not yet given are dropped)."""
        self._closed = True
        self._held.clear()

    async def _read(self, after: str, block_ms: int) -> events.EventBatch:
        """One read, tried again after failures that pass (see follow_events)."""
        store, from_role, topic = self._store, self._from_role, self._topic
        failures = 0
        while True:
            op = events.read_events(
                store.scope,
                from_role,
                topic,
                after=after,
                count=events.FOLLOW_COUNT,
                block_ms=block_ms,
            )
            try:
                batch = await store._run(op)
            except events.PASSING as exc:
                if not failures:
                    log.warning(
                        "following %s's events on %r as %s: %s; trying again until it passes",
                        from_role,
                        topic,
                        store.role,
                        exc,
                    )
                await asyncio.sleep(WRITER_BACKOFF[min(failures, len(WRITER_BACKOFF) - 1)])
                failures += 1
                continue
            if failures:
                log.warning(
                    "following %s's events on %r as %s: reading again after %d failed tries",
                    from_role,
                    topic,
                    store.role,
                    failures,
                )
            return batch
