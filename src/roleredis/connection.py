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

from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.retry import Retry

from .config import Settings, redact_url
from .errors import ConfigError

__all__ = [
    "aclose_client",
    "build_async_client",
    "build_client",
    "close_client",
    "connection_kwargs",
    "describe",
]


def connection_kwargs(settings: Settings) -> dict[str, Any]:
    """The keyword arguments every connection of a pool is made with."""
    kwargs: dict[str, Any] = {
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_timeout": settings.socket_timeout,
        "decode_responses": False,  # values are bytes; the codec decides what they are
    }
    if settings.password is not None:
        kwargs["password"] = settings.password
    if settings.username is not None:
        kwargs["username"] = settings.username
    if settings.url is None:
        kwargs.update(host=settings.host, port=settings.port, db=settings.db)
    if settings.ssl or (settings.url or "").startswith("rediss://"):
        kwargs.update(
            ssl_cert_reqs=settings.ssl_cert_reqs,
            ssl_check_hostname=settings.ssl_check_hostname,
        )
        for name in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if getattr(settings, name) is not None:
                kwargs[name] = getattr(settings, name)
    return kwargs


def _check_url(settings: Settings) -> str | None:
    url = settings.url
    if url is not None and urlsplit(url).scheme == "memory":
        raise ConfigError(
            f"{redact_url(url)}: the embedded memory:// backend is not available in this "
            "version; use a redis://, rediss:// or unix:// URL"
        )
    return url


def _make_pool(settings: Settings, flavour: ModuleType, retry: Any) -> Any:
    """A BlockingConnectionPool of ``flavour`` (``redis`` or ``redis.asyncio``)."""
    url = _check_url(settings)
    kwargs = connection_kwargs(settings)
    kwargs["retry"] = retry
    sizing = {"max_connections": settings.max_connections, "timeout": settings.pool_timeout}
    if url is None:
        kwargs["connection_class"] = flavour.SSLConnection if settings.ssl else flavour.Connection
        return flavour.BlockingConnectionPool(**sizing, **kwargs)
    try:
        return flavour.BlockingConnectionPool.from_url(url, **sizing, **kwargs)
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: {exc}") from None


def build_client(settings: Settings) -> redis.Redis:
    """A sync client with its own bounded, blocking pool; no connection is opened yet."""
    pool = _make_pool(settings, redis, Retry(NoBackoff(), 0))
    return redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


def build_async_client(settings: Settings) -> redis.asyncio.Redis:
    """An asyncio client (for one event loop) with its own bounded, blocking pool."""
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
