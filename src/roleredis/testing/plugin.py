"""The roleredis pytest plugin: fixtures that give a role's own tests a real Redis, no mocks.

Installed with the package (entry point ``pytest11``), so the fixtures are there in any test
suite once roleredis is installed:

- ``roleredis_memory``: the embedded backend (memory://, in-process), empty for each test;
- ``roleredis_server``: a throwaway redis-server (needs the ``redis-server`` binary), shared by
  the session and emptied after each test.

While one is active, the module-level tools (``roleredis.tools``, ``roleredis.aio``) use it,
whatever the environment or config.yaml say, so a role's code runs unchanged::

    def test_forecast_is_cached(roleredis_memory):
        from roles.weather.lifecycle import save_forecast
        save_forecast("Paris", sky="clear")
        assert roleredis_memory.client.exists("weather:state")
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from .. import runtime
from ..foundation.config import load_settings
from ..foundation.keys import INTERNAL_PREFIX
from ..transport.connection import close_client, forget_memory_server
from .server import RedisServer

__all__ = ["RoleredisBackend", "roleredis_memory", "roleredis_server"]


@dataclasses.dataclass
class RoleredisBackend:
    """What the fixtures give a test: the URL in use and a raw redis-py client to look with."""

    url: str
    client: Any

    def keys(self, pattern: str = "*") -> list[str]:
        """Every key in the backend matching ``pattern`` (for assertions), sorted; roleredis's
        internal keys (a role's key index) are left out."""
        found = (k.decode() for k in self.client.scan_iter(match=pattern, count=1000))
        return sorted(k for k in found if not k.startswith(INTERNAL_PREFIX))


def _activate(url: str) -> None:
    # only the URL: no config file, no REDIS_* variables of the machine running the tests
    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))


def _deactivate() -> None:
    runtime.use_settings(None)


@pytest.fixture
def roleredis_memory() -> Iterator[RoleredisBackend]:
    """The embedded backend, empty for this test; the tools use it while the test runs."""
    name = f"pytest-{uuid.uuid4().hex}"
    url = f"memory://{name}"
    _activate(url)
    client = runtime.sync_client()
    try:
        yield RoleredisBackend(url, client)
    finally:
        _deactivate()
        forget_memory_server(name)


@pytest.fixture(scope="session")
def _roleredis_server_process() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def roleredis_server(_roleredis_server_process: RedisServer) -> Iterator[RoleredisBackend]:
    """A throwaway redis-server (free port, never yours), emptied after the test."""
    server = _roleredis_server_process
    _activate(server.url)
    client = server.client()
    try:
        yield RoleredisBackend(server.url, client)
    finally:
        _deactivate()
        client.flushdb()
        close_client(client)
