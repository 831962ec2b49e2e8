"""redis-py clients built from :class:`~roleredis.foundation.config.Settings` (the only place that
makes them).

One blocking pool of ``pool.max_connections`` connections per client; connections open lazily,
on first use. redis-py's own retries are switched off: roleredis retries in one place (the
executor), within ``socket_connect_timeout``, so that a dead server is reported in bounded time.

>>> from roleredis.foundation.config import load_settings
>>> client = build_client(load_settings(environ={"REDIS_URL": "redis://127.0.0.1:6399/2"}))
>>> client.connection_pool.connection_kwargs["db"]
2
>>> close_client(client)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.retry import Retry

from ..foundation.config import Settings, redact_url
from ..foundation.errors import ConfigError, register_secrets
from ..foundation.urls import Deployment
from .cluster import ClusterClient, ClusterRoute
from .fairqueue import FairQueue

__all__ = [
    "Route",
    "aclose_client",
    "admin_client",
    "after_fork",
    "build_async_client",
    "build_client",
    "close_admin_client",
    "close_client",
    "connection_kwargs",
    "describe",
    "forget_memory_server",
    "memory_server",
    "target_of",
    "uses_tls",
]


class Route:
    """The seam every runner (sync, async, the background writer) sends a batch through.

    With one server (or memory://) every key lives on the one client, so :meth:`send` hands it
    the whole batch; :class:`~roleredis.transport.cluster.ClusterRoute` splits a batch per node
    instead.

    >>> Route("the client").send([("GET", "w:k")], lambda client, commands: [client])
    ['the client']
    """

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def send(self, commands: list[tuple[Any, ...]], send: Callable[[Any, Any], Any]) -> Any:
        """The replies of ``commands``, sent by ``send(client, commands)``: on one server, all
        of them on the one client (a cluster's route splits them per node)."""
        return send(self.client, commands)

    async def asend(self, commands: list[tuple[Any, ...]], send: Callable[[Any, Any], Any]) -> Any:
        """As :meth:`send`, with an async ``send``."""
        return await send(self.client, commands)


def uses_tls(settings: Settings) -> bool:
    """Whether connections are made over TLS (``ssl: true`` or a rediss:// URL)."""
    return settings.ssl or (settings.url or "").startswith(("rediss://", "rediss+"))


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
    if issubclass(pool_class, redis.BlockingConnectionPool):
        # waiting threads served in turn, not overtaken by the thread that just gave one back
        sizing["queue_class"] = FairQueue
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
    topology = settings.topology()
    if topology is not None and topology.kind == "sentinel":
        return _sentinel_pool(settings, flavour, topology, kwargs)
    if topology is not None:
        raise ConfigError(f"{describe(settings)}: a cluster has no one pool (cluster_client)")
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


class SentinelBlockingConnectionPool(
    redis.sentinel.SentinelConnectionPool, redis.BlockingConnectionPool
):
    """The primary a Sentinel group names, behind a bounded pool that waits for a free
    connection (redis-py's SentinelConnectionPool raises at once when all are in use)."""


def _sentinel_pool(
    settings: Settings, flavour: ModuleType, topology: Deployment, kwargs: dict[str, Any]
) -> Any:
    """A pool whose connections go to the primary the sentinels name now (asked again on each
    new connection, so after a failover new connections reach the new primary)."""
    kwargs = dict(kwargs, db=topology.db)
    if topology.username:
        kwargs["username"] = topology.username
    if topology.password:
        kwargs["password"] = topology.password
    tls = {k: v for k, v in kwargs.items() if k.startswith("ssl_")}
    asking = {
        "socket_connect_timeout": settings.socket_connect_timeout,
        "socket_timeout": settings.socket_timeout,
        "protocol": 2,
        **({"ssl": True, **tls} if tls else {}),
    }
    sentinels = flavour.sentinel.Sentinel(list(topology.nodes), sentinel_kwargs=asking)
    if tls:
        kwargs["connection_class"] = flavour.sentinel.SentinelManagedSSLConnection
    if flavour is redis:
        pool_class: Any = SentinelBlockingConnectionPool
    else:
        pool_class = redis.asyncio.sentinel.SentinelConnectionPool
    return pool_class(topology.service_name, sentinels, **_sizing(settings, pool_class), **kwargs)


def _node_kwargs(settings: Settings, topology: Deployment) -> dict[str, Any]:
    kwargs = connection_kwargs(settings)
    if topology.username:
        kwargs["username"] = topology.username
    if topology.password:
        kwargs["password"] = topology.password
    return kwargs


def cluster_client(settings: Settings, flavour: ModuleType) -> ClusterClient:
    """A Redis Cluster: the slot map from redis-py's RedisCluster (loaded on first use), and
    per node a bounded pool of ``flavour`` (``redis`` or ``redis.asyncio``) for roleredis's
    own packed batches (see :mod:`roleredis.transport.cluster`)."""
    topology = settings.topology()
    assert topology is not None and topology.kind == "cluster"
    register_secrets(*settings.secrets())
    kwargs = _node_kwargs(settings, topology)
    tls = topology.tls or settings.ssl

    def make_topology() -> Any:
        options = dict(kwargs, ssl=True) if tls else dict(kwargs)
        options.pop("decode_responses", None)
        nodes = [ClusterNode(host, port) for host, port in topology.nodes]  # type: ignore[no-untyped-call]
        try:
            return redis.RedisCluster(startup_nodes=nodes, decode_responses=False, **options)
        except redis.exceptions.RedisClusterException as exc:
            # none of the startup nodes answered: a connection failure like any other
            raise redis.exceptions.ConnectionError(str(exc)) from None

    def make_node(host: str, port: int) -> Any:
        node_kwargs = dict(kwargs, host=host, port=port)
        if flavour is redis:
            node_kwargs["connection_class"] = redis.SSLConnection if tls else redis.Connection
            pool: Any = redis.BlockingConnectionPool(  # type: ignore[no-untyped-call]
                **_sizing(settings, redis.BlockingConnectionPool),
                retry=Retry(NoBackoff(), 0),
                **node_kwargs,
            )
            return redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        node_kwargs["connection_class"] = (
            redis.asyncio.SSLConnection if tls else redis.asyncio.Connection
        )
        apool = redis.asyncio.ConnectionPool(
            max_connections=settings.max_connections,
            retry=AsyncRetry(NoBackoff(), 0),
            **node_kwargs,
        )
        return redis.asyncio.Redis(connection_pool=apool, retry=AsyncRetry(NoBackoff(), 0))

    client = ClusterClient(make_topology, make_node, asynchronous=flavour is not redis)
    client.max_connections = settings.max_connections
    # how redis-py turns raw RESP2 replies into values (INFO into a dict, ...): the same for
    # every node, and known without a connection
    client.response_callbacks = dict(redis.Redis(protocol=2).response_callbacks)
    return client


def route_for(client: Any) -> Any:
    """The :class:`Route` (one server) or :class:`~roleredis.transport.cluster.ClusterRoute` of a
    client."""
    return ClusterRoute(client) if isinstance(client, ClusterClient) else Route(client)


def build_client(settings: Settings) -> Any:
    """A sync client with its own bounded, blocking pool; no connection is opened yet.

    ``memory://`` gives a fakeredis client on the process's in-process server instead; a
    cluster gives a :class:`~roleredis.transport.cluster.ClusterClient`.
    """
    if settings.mode == "cluster":
        return cluster_client(settings, redis)
    if is_memory(settings):
        client: redis.Redis = _memory_client(settings, redis)
        return client
    pool = _make_pool(settings, redis, Retry(NoBackoff(), 0))
    return redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))


def build_async_client(settings: Settings) -> Any:
    """An asyncio client (for one event loop) with its own bounded, blocking pool."""
    if settings.mode == "cluster":
        return cluster_client(settings, redis.asyncio)
    if is_memory(settings):
        client: redis.asyncio.Redis = _memory_client(settings, redis.asyncio)
        return client
    pool = _make_pool(settings, redis.asyncio, AsyncRetry(NoBackoff(), 0))
    return redis.asyncio.Redis(connection_pool=pool, retry=AsyncRetry(NoBackoff(), 0))


def close_client(client: Any) -> None:
    """Close a client made here and every connection of its pool (close() alone leaves them)."""
    if isinstance(client, ClusterClient):
        topology, nodes = client.forget()
        for node in nodes:
            close_client(node)
        if topology is not None:
            topology.close()
        return
    client.close()
    client.connection_pool.disconnect()
    for sentinel in _sentinels_of(client):
        sentinel.close()


async def aclose_client(client: Any) -> None:
    """Close an asyncio client made here and every connection of its pool."""
    if isinstance(client, ClusterClient):
        topology, nodes = client.forget()
        for node in nodes:
            await aclose_client(node)
        if topology is not None:
            topology.close()
        return
    await client.aclose()
    await client.connection_pool.disconnect()
    for sentinel in _sentinels_of(client):
        await sentinel.aclose()


def _sentinels_of(client: Any) -> list[Any]:
    """The clients a Sentinel-managed pool asks for the primary (they hold connections too)."""
    manager = getattr(client.connection_pool, "sentinel_manager", None)
    return list(manager.sentinels) if manager is not None else []


def target_of(settings: Settings) -> tuple[Any, ...]:
    """What a client built from ``settings`` connects to and how: equal for two settings
    exactly when :func:`build_client` would make the same client of them, so one client (and
    one breaker, one gate for waiting reads) serves every store of that target.

    The address (a URL wins over host, port and db), the credentials, TLS, the deployment's
    nodes, the pool's size and wait, the socket timeouts. Not the rest (TTLs, prefixes,
    codecs, the writer, the breaker's own numbers): those are per store, or taken from the
    first settings seen for the target.

    >>> from roleredis.foundation.config import Settings
    >>> a = Settings(url="redis://h:6380/0")
    >>> target_of(a) == target_of(a.replace(default_ttl=60, host="ignored"))
    True
    >>> target_of(a) == target_of(a.replace(max_connections=3))
    False
    """
    c, d = settings.connection, settings.deployment
    address = (c.url,) if c.url else (None, c.host, c.port, c.db)
    return (
        *address,
        c.username,
        c.password,
        c.socket_connect_timeout,
        c.socket_timeout,
        settings.tls,
        settings.pool,
        d.cluster_nodes,
        d.sentinel_service,
        d.sentinel_nodes,
    )


def describe(settings: Settings) -> str:
    """Where the client connects, for messages: never with the password."""
    if settings.url:
        return redact_url(settings.url)
    scheme = "rediss" if settings.ssl else "redis"
    return f"{scheme}://{settings.host}:{settings.port}/{settings.db}"


def _deployment_kwargs(settings: Settings, topology: Deployment) -> dict[str, Any]:
    """Connection keywords for a node of a Cluster or Sentinel deployment (no address, no db):
    the deployment URL's credentials win over the settings'."""
    kwargs = {
        k: v for k, v in connection_kwargs(settings).items() if k not in ("host", "port", "db")
    }
    if topology.username:
        kwargs["username"] = topology.username
    if topology.password:
        kwargs["password"] = topology.password
    return kwargs


def node_addresses(settings: Settings) -> list[tuple[str, int, str]]:
    """Every data node of the deployment as ``(host, port, role)``, role ``primary`` or
    ``replica``: the one server; a Cluster's primaries and replicas (CLUSTER NODES asked of the
    first startup node that answers); the Sentinel primary and the replicas the sentinels know.
    For work done on each node, such as ACL users, which Redis keeps per node."""
    topology = settings.topology()
    if topology is None:
        info = settings.connection_info()
        return [(str(info["host"]), int(info["port"] or 0), "primary")]
    kwargs = _deployment_kwargs(settings, topology)
    if topology.kind == "sentinel":
        service = str(topology.service_name)  # a sentinel deployment always names it
        # redis-py 8.1 leaves Sentinel untyped, 8.2 types it: an ignore one needs, the other not
        sentinel = redis.sentinel.Sentinel(  # type: ignore[no-untyped-call, unused-ignore]
            list(topology.nodes),
            sentinel_kwargs={
                "socket_connect_timeout": settings.socket_connect_timeout,
                "socket_timeout": settings.socket_timeout,
                "protocol": 2,
            },
        )
        try:
            host, port = sentinel.discover_master(service)  # type: ignore[no-untyped-call, unused-ignore]
            replicas = sentinel.discover_slaves(service)  # type: ignore[no-untyped-call, unused-ignore]
        finally:
            for client in sentinel.sentinels:
                client.close()
        return [(host, int(port), "primary")] + [(h, int(p), "replica") for h, p in replicas]
    last: Exception | None = None
    for host, port in topology.nodes:
        client = redis.Redis(host=host, port=port, **kwargs)
        try:
            text = client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
        except redis.RedisError as exc:
            last = exc
            continue
        finally:
            client.close()
        return _parse_cluster_nodes(text.decode() if isinstance(text, bytes) else str(text))
    raise ConfigError(f"no node of the cluster {describe(settings)} answered: {last}")


def _parse_cluster_nodes(text: str) -> list[tuple[str, int, str]]:
    """``(host, port, primary|replica)`` of each live node in a CLUSTER NODES reply."""
    nodes = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or "fail" in fields[2].split(",") or "noaddr" in fields[2]:
            continue
        address = fields[1].split("@")[0]
        host, _, port = address.rpartition(":")
        kind = "replica" if "slave" in fields[2].split(",") else "primary"
        nodes.append((host.strip("[]"), int(port), kind))
    return sorted(nodes, key=lambda n: (n[2] != "primary", n[0], n[1]))


def node_client(settings: Settings, host: str, port: int) -> redis.Redis:
    """A plain client to one node of the deployment, with the deployment's credentials and
    TLS (the caller closes it). For per-node administration, not for the tools' traffic."""
    kwargs = {
        k: v for k, v in connection_kwargs(settings).items() if k not in ("host", "port", "db")
    }
    topology = settings.topology()
    if topology is not None:
        if topology.username:
            kwargs["username"] = topology.username
        if topology.password:
            kwargs["password"] = topology.password
        tls = topology.tls or settings.ssl
    else:
        info = settings.connection_info()
        kwargs.update(username=info["username"], password=info["password"], db=info["db"])
        tls = uses_tls(settings)
    if tls:
        kwargs["ssl"] = True
    return redis.Redis(host=host, port=port, **kwargs)


def admin_client(settings: Settings) -> Any:
    """A client for whole-deployment administration (copying data between deployments):
    a :class:`redis.RedisCluster` for a Cluster (it sends each single-key command to the node
    that owns the key's slot), else a plain client to the one server or the Sentinel primary.
    The caller closes it with :func:`close_admin_client`."""
    topology = settings.topology()
    if topology is None or topology.kind != "cluster":
        return build_client(settings)
    from redis.cluster import ClusterNode

    kwargs = _deployment_kwargs(settings, topology)
    if topology.tls or settings.ssl:
        kwargs["ssl"] = True
    register_secrets(*settings.secrets())
    nodes = [ClusterNode(host, port) for host, port in topology.nodes]  # type: ignore[no-untyped-call]
    return redis.RedisCluster(startup_nodes=nodes, **kwargs)


def close_admin_client(client: Any) -> None:
    """Close a client made by :func:`admin_client`."""
    if isinstance(client, redis.RedisCluster):
        client.close()
    else:
        close_client(client)
