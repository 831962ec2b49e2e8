"""Root conftest: lets the docstring examples in src/roleredis run (pytest --doctest-modules)
against a throwaway redis-server, never against a server the user already runs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from roleredis.testing import RedisServer


@pytest.fixture(scope="session")
def _doctest_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _doctest_env(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    import roleredis

    server: RedisServer = request.getfixturevalue("_doctest_server")
    for name in (
        "ROLEREDIS_ROLE",
        "ROLEREDIS_CONFIG",
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_PASSWORD",
        "REDIS_USERNAME",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("ROLEREDIS_ROLE", "doctest")
    monkeypatch.chdir(request.config.rootpath / "src")
    roleredis.reset()
    try:
        yield
    finally:
        roleredis.reset()
        client = server.client()
        try:
            client.flushdb()
        finally:
            client.close()
