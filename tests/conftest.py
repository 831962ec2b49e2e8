"""Shared fixtures: one throwaway redis-server per test session, and a clean roleredis
environment per test.

Nothing here ever talks to a server the session did not start itself (never 6379), and nothing
ever runs FLUSHALL: after each test only the throwaway server's db 0 is flushed.

If ``redis-server`` is missing, every test that needs the server errors out (it never skips):
:class:`roleredis.testing.RedisServer` raises with a clear message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from roleredis.testing import RedisServer
from roleredis.testing.cluster import RedisClusterProcesses, SentinelGroup

# Variables that would point roleredis somewhere else than the throwaway server, or pick a role.
ROLEREDIS_ENV_VARS = (
    "ROLEREDIS_ROLE",
    "ROLEREDIS_CONFIG",
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_DB",
    "REDIS_PASSWORD",
    "REDIS_USERNAME",
)


#: Where a test that took no server fixture ends up: a closed port, so it fails at once with
#: "connection refused" instead of writing to a real server on 6379 (or wherever the
#: developer's REDIS_URL points).
NOWHERE = "redis://127.0.0.1:1/0"


@pytest.fixture(autouse=True)
def _never_a_real_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before every test (autouse fixtures come first): no REDIS_*/ROLEREDIS_* variable of the
    developer's, and REDIS_URL pointing nowhere; the server fixtures then set their own."""
    for name in ROLEREDIS_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", NOWHERE)


def _reset_roleredis() -> None:
    # Imported late: the infrastructure must load even while the library is incomplete.
    import roleredis

    roleredis.reset()


@dataclasses.dataclass
class RoleredisEnv:
    """What a test gets from :func:`roleredis_env`."""

    server: RedisServer
    url: str
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    #: what every config file of the test holds besides its own settings (the redis: section;
    #: the cluster_spread backend's ``cluster: {colocate_roles: false}``)
    base_config: dict[str, Any] = dataclasses.field(default_factory=dict)

    def reset(self) -> None:
        """``roleredis.reset()``: forget cached settings and clients."""
        _reset_roleredis()


# --------------------------------------------------------------------------- the server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One throwaway redis-server for the whole session (free port, never 6379)."""
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- backends
#
# Modules marked ``pytest.mark.backends("redis", "memory")`` run each test twice: against the
# throwaway redis-server and against the embedded memory:// backend (fakeredis), which must
# give the same results. A test that needs what only a real server has (CONFIG, INFO
# commandstats, keyspace notifications, killing the process) is marked ``real_server``.
#
# "cluster" and "cluster_spread" are one session-wide Redis Cluster (3 primaries, 3 replicas)
# in its two key layouts: co-located roles (``{weather}:forecast``, the default) and
# ``colocate_roles: false`` (``weather:forecast``, spread over the slots). A test that cannot
# hold on a cluster by nature (one server's DBSIZE, SELECT, INFO commandstats, CONFIG) is
# marked ``not_cluster("why")``, which drops both.

CLUSTER_BACKENDS = ("cluster", "cluster_spread")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    backends = marker.args if marker is not None else ("redis",)
    if metafunc.definition.get_closest_marker("real_server") is not None:
        backends = ("redis",)
    not_cluster = metafunc.definition.get_closest_marker("not_cluster")
    if not_cluster is not None:
        if not not_cluster.args or not str(not_cluster.args[0]).strip():
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: not_cluster needs the reason, "
                'pytest.mark.not_cluster("why")'
            )
        backends = tuple(b for b in backends if b not in CLUSTER_BACKENDS)
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``redis`` (the throwaway redis-server), ``memory`` (the embedded backend),
    ``sentinel`` (a primary, a replica and three sentinels, one group for the session),
    ``cluster`` (the session's Redis Cluster, roles co-located: ``{role}:key``) or
    ``cluster_spread`` (the same cluster, ``colocate_roles: false``: ``role:key``)."""
    return str(getattr(request, "param", "redis"))


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterProcesses]:
    """One Redis Cluster (3 primaries + 3 replicas) for the whole session, started on first
    use; both cluster backends share it (the layout is a client setting, not the server's)."""
    with RedisClusterProcesses() as cluster:
        yield cluster


def _flush_cluster(cluster: RedisClusterProcesses) -> None:
    """FLUSHDB on every primary of the session's own cluster (replicas follow)."""
    for port, role in cluster.roles().items():
        if role != "master":
            continue
        node = next(n for n in cluster.nodes if n.port == port)
        client = node.client()
        try:
            client.flushdb()
        finally:
            client.close()


def physical_key(logical: str, backend: str) -> str:
    """The Redis key of the logical ``role:key`` on ``backend``: ``{role}:key`` on the
    co-located cluster, ``role:key`` everywhere else. A key without a ``:`` (auto_prefix
    false), an internal ``__roleredis__:`` key and a key already tagged ``{...}`` are the same
    in every layout."""
    if backend != "cluster" or ":" not in logical or logical.startswith(("__roleredis__:", "{")):
        return logical
    role, _, rest = logical.partition(":")
    return f"{{{role}}}:{rest}"


@pytest.fixture
def physical(backend: str) -> Callable[[str], str]:
    """``physical("weather:forecast")``: the key (and ``prefixed_key``) the test's backend
    really uses for it, for exact assertions in every layout (``{weather}:forecast`` on the
    co-located cluster)."""
    return lambda logical: physical_key(logical, backend)


@pytest.fixture(scope="session")
def sentinel_group() -> Iterator[SentinelGroup]:
    """One Sentinel-managed primary + replica for the whole session (started on first use)."""
    with SentinelGroup() as group:
        yield group


def _data_server(request: pytest.FixtureRequest, backend: str, standalone: RedisServer) -> Any:
    """The server whose db 0 a test's data lands in: the throwaway one, or the Sentinel
    group's current primary."""
    if backend == "sentinel":
        return request.getfixturevalue("sentinel_group").current_primary()
    return standalone


@pytest.fixture
def roleredis_env(
    redis_server: RedisServer,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[RoleredisEnv]:
    """A clean roleredis environment pointing at the session's throwaway server.

    Clears every ROLEREDIS_*/REDIS_* variable, sets REDIS_URL, chdirs to a fresh tmp dir (no
    stray ./config.yaml), calls ``roleredis.reset()`` before and after, and FLUSHDBs db 0 of
    the throwaway server before and after the test (before too: a test that used the session's
    servers without this fixture, through a proxy say, may have left keys behind).
    """
    if not redis_server.running:  # a test may have stopped it; bring it back for the others
        redis_server.start()
    for name in ROLEREDIS_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    if backend == "sentinel":
        url = request.getfixturevalue("sentinel_group").url
    elif backend in CLUSTER_BACKENDS:
        url = request.getfixturevalue("redis_cluster").url
    else:
        url = {"redis": redis_server.url, "memory": f"memory://{tmp_path.name}"}[backend]
    monkeypatch.setenv("REDIS_URL", url)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    base_config: dict[str, Any] = {}
    if backend == "cluster_spread":
        base_config = {"cluster": {"colocate_roles": False}}
        path = tmp_path / "roleredis-layout.yaml"
        path.write_text(yaml.safe_dump({"redis": base_config}), encoding="utf-8")
        monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
    _reset_roleredis()
    _flush_backend(request, backend, redis_server)
    try:
        yield RoleredisEnv(redis_server, url, workdir, monkeypatch, base_config)
    finally:
        _reset_roleredis()
        if backend == "memory":
            from roleredis.transport.connection import forget_memory_server

            forget_memory_server(tmp_path.name)
        if redis_server.paused:
            redis_server.resume()
        _flush_backend(request, backend, redis_server)


def _flush_backend(request: pytest.FixtureRequest, backend: str, redis_server: RedisServer) -> None:
    """FLUSHDB the data of ``backend``: every primary of the cluster, else its one server."""
    if backend in CLUSTER_BACKENDS:
        _flush_cluster(request.getfixturevalue("redis_cluster"))
        return
    client = _data_server(request, backend, redis_server).client()
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def redis_url(roleredis_env: RoleredisEnv) -> str:
    """The URL of the throwaway server (with the clean environment of :func:`roleredis_env`)."""
    return roleredis_env.url


@pytest.fixture
def raw(
    redis_server: RedisServer,
    roleredis_env: RoleredisEnv,
    backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[redis.Redis]:
    """A plain redis-py client (bytes, no decoding) to the test's backend: the throwaway
    server's db 0, or the embedded backend's in-process server; on a cluster backend, a
    :class:`LayoutClient` (logical ``role:key`` arguments mapped to the layout's physical
    keys, DBSIZE and KEYS over every primary)."""
    if backend in CLUSTER_BACKENDS:
        adapter = LayoutClient(request.getfixturevalue("redis_cluster"), backend)
        try:
            yield adapter  # type: ignore[misc]
        finally:
            adapter.close()
        return
    if roleredis_env.url.startswith("memory://"):
        import fakeredis

        from roleredis.transport.connection import memory_server

        fake = fakeredis.FakeRedis(server=memory_server(roleredis_env.url[len("memory://") :]))
        yield fake
        fake.close()
        return
    client = redis.Redis.from_url(_data_server(request, backend, redis_server).url)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def write_config(roleredis_env: RoleredisEnv) -> Callable[[Mapping[str, Any] | str], Path]:
    """``write_config(settings) -> path``: write a config YAML, point ROLEREDIS_CONFIG at it,
    and ``roleredis.reset()``.

    A str is written as is. A mapping is dumped as YAML; a mapping without a top-level
    ``redis`` key is taken as the contents of the ``redis:`` section.

    On a backend with a base config (cluster_spread: ``cluster: {colocate_roles: false}``)
    its settings are added to the file's ``redis:`` section where the file does not set them,
    so the test keeps its backend's key layout.
    """
    counter = 0

    def write(settings: Mapping[str, Any] | str) -> Path:
        nonlocal counter
        counter += 1
        path = roleredis_env.tmp_path.parent / f"roleredis-config-{counter}.yaml"
        if isinstance(settings, str):
            text = settings
            if roleredis_env.base_config:
                document = _with_base(yaml.safe_load(settings), roleredis_env.base_config)
                if document is not None:
                    text = yaml.safe_dump(document, sort_keys=False)
        else:
            document = dict(settings) if "redis" in settings else {"redis": dict(settings)}
            document = _with_base(document, roleredis_env.base_config) or document
            text = yaml.safe_dump(document, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        roleredis_env.monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
        _reset_roleredis()
        return path

    return write


def _with_base(document: Any, base: Mapping[str, Any]) -> dict[str, Any] | None:
    """``document`` (a whole config file) with ``base``'s settings added to its ``redis:``
    section where it does not set them; None if it is not a mapping of sections."""
    if not base or not isinstance(document, Mapping):
        return None
    section = document.get("redis") or {}
    if not isinstance(section, Mapping):
        return None
    merged = {k: dict(v) if isinstance(v, Mapping) else v for k, v in section.items()}
    for name, value in base.items():
        if isinstance(value, Mapping) and isinstance(merged.get(name, {}), Mapping):
            merged[name] = {**value, **merged.get(name, {})}
        else:
            merged.setdefault(name, value)
    return {**document, "redis": merged}


# --------------------------------------------------------------------------- cluster layout


class LayoutClient:
    """Test adapter: the ``raw`` client of a cluster backend.

    It maps each LOGICAL key argument ``role:key`` to the PHYSICAL key of the backend's layout
    (``{role}:key`` on the co-located ``cluster`` backend, unchanged on ``cluster_spread``)
    and sends the command to the node owning that key, so an assertion written for one server
    (``raw.exists("weather:forecast")``) checks the key roleredis must have written in this
    layout: a key written under a wrong physical name is not found, and still fails the test.
    A key without ``:`` (auto_prefix false) is the same in every layout.

    Keys coming back (``keys()``) are mapped the other way: ``{role}:key`` to ``role:key`` on
    the co-located layout; a key that is not in the layout's form (``role:key`` without the
    hash tag there) comes back as ``b"<not in layout>" + key``, so it never equals a
    logical key. ``dbsize()`` and ``keys()`` cover every primary. Only the commands listed
    here are offered: any other raises AttributeError (add it here, with its key mapping).
    """

    #: commands whose first argument is the one key
    SINGLE_KEY = frozenset(
        {
            "get", "set", "ttl", "pttl", "rpush", "lrange", "type", "strlen", "expire",
            "persist", "hgetall", "hset", "getrange", "incr", "append", "setex", "sadd",
            "smembers", "object", "memory_usage", "expiretime", "xlen", "xrange", "xadd", "hget",
            "zcard", "pexpire",
        }
    )  # fmt: skip
    #: commands whose every positional argument is a key
    MANY_KEYS = frozenset({"exists", "delete", "unlink"})

    def __init__(self, cluster: RedisClusterProcesses, backend: str) -> None:
        self.backend = backend
        self.colocated = backend == "cluster"
        self.client = cluster.client()

    # ------------------------------------------------------------------ key mapping

    def physical(self, key: Any) -> Any:
        """The physical key (str or bytes, as given) of the logical ``key``."""
        if isinstance(key, bytes):
            return physical_key(key.decode("utf-8", "surrogateescape"), self.backend).encode(
                "utf-8", "surrogateescape"
            )
        return physical_key(str(key), self.backend)

    def logical(self, key: bytes) -> bytes:
        """The logical key of a physical one returned by the cluster (see the class doc)."""
        if not self.colocated or b":" not in key or key.startswith(b"__roleredis__:"):
            return key
        if key.startswith(b"{") and b"}:" in key:
            tag, _, rest = key[1:].partition(b"}:")
            return tag + b":" + rest
        return b"<not in layout>" + key

    # ------------------------------------------------------------------ commands

    def __getattr__(self, name: str) -> Any:
        if name in self.SINGLE_KEY:
            method = getattr(self.client, name)
            return lambda key, *args, **kwargs: method(self.physical(key), *args, **kwargs)
        if name in self.MANY_KEYS:
            method = getattr(self.client, name)
            return lambda *keys: sum(int(method(self.physical(k))) for k in keys)
        raise AttributeError(
            f"LayoutClient offers no {name!r}: add it, with how its keys map to the layout"
        )

    def mget(self, keys: Any, *more: Any) -> list[Any]:
        names = [keys] if isinstance(keys, str | bytes) else list(keys)
        return [self.client.get(self.physical(k)) for k in [*names, *more]]

    def keys(self, pattern: str = "*") -> list[bytes]:
        found: list[bytes] = []
        for node in self.client.get_primaries():
            got = self.client.keys(self.physical(pattern), target_nodes=node)
            found += [self.logical(k) for k in got]
        return found

    def dbsize(self) -> int:
        return sum(
            int(self.client.dbsize(target_nodes=node)) for node in self.client.get_primaries()
        )

    def pipeline(self, transaction: bool = False) -> LayoutPipeline:
        return LayoutPipeline(self, self.client.pipeline(transaction=transaction))

    def close(self) -> None:
        self.client.close()


class LayoutPipeline:
    """A cluster pipeline with :class:`LayoutClient`'s key mapping; MSET is sent as one SET
    per key (a cluster pipeline refuses MSET across slots)."""

    def __init__(self, layout: LayoutClient, pipe: Any) -> None:
        self.layout = layout
        self.pipe = pipe

    def set(self, key: Any, value: Any, **kwargs: Any) -> LayoutPipeline:
        self.pipe.set(self.layout.physical(key), value, **kwargs)
        return self

    def mset(self, mapping: Mapping[Any, Any]) -> LayoutPipeline:
        for key, value in mapping.items():
            self.set(key, value)
        return self

    def execute(self) -> list[Any]:
        return list(self.pipe.execute())

    def __enter__(self) -> LayoutPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pipe.reset()


# --------------------------------------------------------------------------- no skips


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """An integration test that skips fails the run (issue 2, section 9)."""
    outcome = yield
    report = outcome.get_result()
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("integration") is not None
    ):
        report.outcome = "failed"
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"integration tests must not skip (skipped: {reason})"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/integration is marked ``integration``."""
    integration_dir = Path(__file__).parent / "integration"
    for item in items:
        if integration_dir in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
