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


def _define_doc_budget(server: RedisServer) -> None:
    """The budget the budget tools' examples draw on (``roleredis budget set`` writes these)."""
    from roleredis.foundation.budgets import budget_key, parse

    (doc,) = parse(
        {"doc-llm": {"rate": "100/s", "tokens": "1000/s", "concurrency": 2, "roles": ["planner"]}},
        "doctest",
    ).values()
    client = server.client()
    try:
        client.hset(budget_key("doc-llm", "def"), mapping=doc.as_hash())
    finally:
        client.close()


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
    _define_doc_budget(server)
    try:
        yield
    finally:
        roleredis.reset()
        client = server.client()
        try:
            client.flushdb()
        finally:
            client.close()
