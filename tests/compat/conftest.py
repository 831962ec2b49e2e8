"""The environment a team runs the guide's original test suite in: ``REDIS_HOST`` and
``REDIS_PORT`` name the server (here the session's throwaway one, never 6379), no ``REDIS_URL``,
no config file, and a fresh ``roleredis.reset()`` around each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import roleredis

from ..conftest import RoleredisEnv


@pytest.fixture(autouse=True)
def original_environment(roleredis_env: RoleredisEnv) -> Iterator[RoleredisEnv]:
    monkeypatch = roleredis_env.monkeypatch
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_HOST", roleredis_env.server.host)
    monkeypatch.setenv("REDIS_PORT", str(roleredis_env.server.port))
    roleredis.reset()
    yield roleredis_env
    roleredis.redis_flush(timeout=5)
