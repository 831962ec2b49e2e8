"""redis-py clients built from :class:`~roleredis.config.Settings` (the only place that makes them).

One blocking pool of ``pool.max_connections`` connections per client; connections open lazily,
on first use. redis-py's own retries are switched off: roleredis retries in one place (the
executor), within ``socket_connect_timeout``, so that a dead server is reported in bounded time.

>>> from roleredis.config import load_settings
>>> client = build_client(load_settings(environ={"REDIS_URL": "redis://127.0.0.1:6399/2"}))
>>> client.connection_pool.connection_kwargs["db"]
2
>>> close_client(client)
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .config import Settings, redact_url
from .errors import ConfigError, register_secrets

__all__ = [
    "Route",
    "aclose_client",
    "after_fork",
    "build_async_client",
    "build_client",
    "close_client",
    "connection_kwargs",
    "describe",
    "forget_memory_server",
    "memory_server",
    "uses_tls",
]


# commands whose first argument is not a key
_KEYLESS = frozenset({"PING", "INFO", "SCAN", "MGET", "MSET", "SELECT", "AUTH"})


def keys_of(commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """The keys a batch of wire commands touches (for a route that places keys).

    >>> keys_of([("SET", "w:k", b"1"), ("MGET", "w:a", "w:b"), ("PING",)])
    ['w:k', 'w:a', 'w:b']
    """
    keys: list[Any] = []
    for command in commands:
        name = command[0]
        if name == "MGET":
            keys += command[1:]
        elif name == "MSET":
            keys += command[1::2]
        elif name not in _KEYLESS and len(command) > 1:
            keys.append(command[1])
    return keys


class Route:
    """The seam that chooses the client a batch is sent on, from the keys it touches.

    Every runner (sync, async, the background writer) asks it. With one standalone server (or
    memory://) every key lives on the one client, so the batch is not even looked at; a route
    for a cluster overrides :meth:`for_keys` to give the node that owns the keys (one node for
    roles co-located by hash tag).

    >>> Route("the client").for_commands([("GET", "w:k")])
    'the client'
    """

    __slots__ = ("client",)

    #: whether every key is on :attr:`client` (then the commands need not be looked at)
    single: bool = True

    def __init__(self, client: Any) -> None:
        self.client = client

    def for_keys(self, keys: Iterable[Any]) -> Any:
        """The client that holds ``keys``."""
        return self.client

    def for_commands(self, commands: Sequence[tuple[Any, ...]]) -> Any:
        """The client to send ``commands`` (wire form, e.g. ``("SET", key, value)``) on."""
        if self.single:
            return self.client
        return self.for_keys(keys_of(commands))


def uses_tls(settings: Settings) -> bool:
    """Whether connections are made over TLS (``ssl: true`` or a rediss:// URL)."""
    return settings.ssl or (settings.url or "").startswith("rediss://")


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every connection of a pool is made with."""
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_timeout": settings.socket_timeout,
        "decode_responses": False,  # values are bytes; the codec decides what they are
        # RESP2: the handshake is AUTH (and nothing without a password), which every Redis
        # since 1.0 knows. redis-py 8 defaults to RESP3, whose HELLO fails on Redis before 6
        # or where HELLO is renamed away, and such a server echoes HELLO's arguments, the
        # password included, in its error. roleredis uses no RESP3 feature (client caching,
        # push messages), and every reply it reads is the same value under both protocols.
        "protocol": 2,
    }
    if settings.password is not None:
        kwargs["password"] = settings.password
    if settings.username is not None:
        kwargs["username"] = settings.username
    if settings.url is None:
        kwargs.update(host=settings.host, port=settings.port, db=settings.db)
    if uses_tls(settings):
        kwargs.update(
            ssl_cert_reqs=settings.ssl_cert_reqs,
            ssl_check_hostname=settings.ssl_check_hostname,
        )
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if getattr(settings, name) is not None:
                kwargs[name] = getattr(settings, name)
    return kwargs


# name -> the in-process server of memory://name (memory:// is the name "")
_memory_servers: dict[str, Any] = {}
_memory_lock = threading.Lock()


def memory_server(name: str = "") -> Any:
    """The in-process fakeredis server that ``memory://<name>`` clients share.

    It lives as long as the process (``roleredis.reset()`` keeps its data), unless it is
    dropped with :func:`forget_memory_server`.
    """
    import fakeredis

    with _memory_lock:
        server = _memory_servers.get(name)
        if server is None:
            server = _memory_servers[name] = fakeredis.FakeServer()
        return server


def after_fork() -> None:
    """In a forked child: new locks for the in-process servers (a parent thread may have held
    one at fork time; each child goes on with its own copy of their data)."""
    global _memory_lock
    _memory_lock = threading.Lock()
    for server in _memory_servers.values():
        server.lock = threading.Lock()


def forget_memory_server(name: str = "") -> None:
    """Drop the data of ``memory://<name>``; the next client gets an empty server."""
    with _memory_lock:
        _memory_servers.pop(name, None)


def is_memory(settings: Settings) -> bool:
    return settings.url is not None and urlsplit(settings.url).scheme == "memory"


def embedded_backend(settings: Settings) -> str | None:
    """What the in-process backend is, for health reports; None for a real server."""
    if not is_memory(settings):
        return None
    from importlib.metadata import version

    return f"fakeredis {version('fakeredis')}"


def _memory_client(settings: Settings, flavour: ModuleType) -> Any:
    try:
        import fakeredis
        import fakeredis.aioredis
    except ImportError:  # pragma: no cover - fakeredis is a dependency
        raise ConfigError(
            "REDIS_URL=memory:// needs the fakeredis package: pip install fakeredis"
        ) from None
    register_secrets(*settings.secrets())
    server = memory_server(urlsplit(settings.url or "").netloc)
    if flavour is redis:
        client_class: Any = fakeredis.FakeRedis
        pool_class: Any = redis.BlockingConnectionPool
    else:
        client_class = fakeredis.aioredis.FakeRedis
        pool_class = redis.asyncio.ConnectionPool  # bounded by aio's per-loop semaphore
    # the same bounded, *waiting* pool as for a real server (fakeredis's default pool raises
    # "Too many connections" at once, like redis-py's asyncio one)
    sizing = _sizing(settings, pool_class)
    return client_class(server=server, connection_pool_class=pool_class, **sizing)


def _sizing(settings: Settings, pool_class: Any) -> dict[str, Any]:
    sizing: dict[str, Any] = {"max_connections": settings.max_connections}
    if issubclass(pool_class, redis.BlockingConnectionPool | redis.asyncio.BlockingConnectionPool):
        sizing["timeout"] = settings.pool_timeout
    return sizing


def _make_pool(settings: Settings, flavour: ModuleType, retry: Any) -> Any:
    """The pool of ``flavour`` (``redis`` or ``redis.asyncio``), bounded by max_connections.

    Sync: a BlockingConnectionPool (a caller waits up to pool.timeout for a connection).
    asyncio: a plain ConnectionPool, whose waiting is done by roleredis.aio's per-loop
    semaphore: redis-py's asyncio BlockingConnectionPool costs a task per checkout (about
    40 us a call), and its plain pool raises "Too many connections" instead of waiting.
    """
    url = settings.url
    register_secrets(*settings.secrets())
    kwargs = connection_kwargs(settings)
    kwargs["retry"] = retry
    pool_class = (
        flavour.BlockingConnectionPool if flavour is redis else redis.asyncio.ConnectionPool
    )
    sizing = _sizing(settings, pool_class)
    if url is None:
        kwargs["connection_class"] = flavour.SSLConnection if settings.ssl else flavour.Connection
        return pool_class(**sizing, **kwargs)
    try:
        return pool_class.from_url(url, **sizing, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: {exc}") from None


def build_client(settings: Settings) -> redis.Redis:
    """A sync client with its own bounded, blocking pool; no connection is opened yet.

    ``memory://`` gives a fakeredis client on the process's in-process server instead.
    """
    if is_memory(settings):
        client: redis.Redis = _memory_client(settings, redis)
        return client
    pool = _make_pool(settings, redis, Retry(NoBackoff(), 0))
    return redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


def build_async_client(settings: Settings) -> redis.asyncio.Redis:
    """An asyncio client (for one event loop) with its own bounded, blocking pool."""
    if is_memory(settings):
        client: redis.asyncio.Redis = _memory_client(settings, redis.asyncio)
        return client
    pool = _make_pool(settings, redis.asyncio, AsyncRetry(NoBackoff(), 0))
    return redis.asyncio.Redis(connection_pool=pool, retry=AsyncRetry(NoBackoff(), 0))


def close_client(client: Any) -> None:
    """Close a client made here and every connection of its pool (close() alone leaves them)."""
    client.close()
    client.connection_pool.disconnect()


async def aclose_client(client: Any) -> None:
    """Close an asyncio client made here and every connection of its pool."""
    await client.aclose()
    await client.connection_pool.disconnect()


def describe(settings: Settings) -> str:
    """Where the client connects, for messages: never with the password."""
    if settings.url:
        return redact_url(settings.url)
    scheme = "rediss" if settings.ssl else "redis"
    return f"{scheme}://{settings.host}:{settings.port}/{settings.db}"
