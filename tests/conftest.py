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
from roleredis.testing.cluster import SentinelGroup

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    backends = marker.args if marker is not None else ("redis",)
    if metafunc.definition.get_closest_marker("real_server") is not None:
        backends = ("redis",)
    metafunc.parametrize("backend", backends, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """``redis`` (the throwaway redis-server), ``memory`` (the embedded backend) or
    ``sentinel`` (a primary, a replica and three sentinels, one group for the session)."""
    return str(getattr(request, "param", "redis"))


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
    the throwaway server after the test.
    """
    if not redis_server.running:  # a test may have stopped it; bring it back for the others
        redis_server.start()
    for name in ROLEREDIS_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    url = {
        "redis": redis_server.url,
        "memory": f"memory://{tmp_path.name}",
        "sentinel": request.getfixturevalue("sentinel_group").url if backend == "sentinel" else "",
    }[backend]
    monkeypatch.setenv("REDIS_URL", url)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    _reset_roleredis()
    try:
        yield RoleredisEnv(redis_server, url, workdir, monkeypatch)
    finally:
        _reset_roleredis()
        if backend == "memory":
            from roleredis.connection import forget_memory_server

            forget_memory_server(tmp_path.name)
        if redis_server.paused:
            redis_server.resume()
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
    server's db 0, or the embedded backend's in-process server."""
    if roleredis_env.url.startswith("memory://"):
        import fakeredis

        from roleredis.connection import memory_server

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
    """
    counter = 0

    def write(settings: Mapping[str, Any] | str) -> Path:
        nonlocal counter
        counter += 1
        path = roleredis_env.tmp_path.parent / f"roleredis-config-{counter}.yaml"
        if isinstance(settings, str):
            text = settings
        else:
            document = dict(settings) if "redis" in settings else {"redis": dict(settings)}
            text = yaml.safe_dump(document, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        roleredis_env.monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
        _reset_roleredis()
        return path

    return write


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
