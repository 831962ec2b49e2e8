"""Fault-injection tests: real redis-servers killed, paused and restarted, and child
processes. Every test here runs in the clean environment of ``roleredis_env``
(tests/conftest.py), like tests/integration, and is marked ``integration`` (so it must never
skip)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from roleredis import reset
from roleredis.testing.cluster import RedisClusterProcesses, SentinelGroup

_HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _clean_roleredis(roleredis_env: object) -> None:
    """Autouse: REDIS_URL at the throwaway server, tmp cwd, reset() around, FLUSHDB after."""


def _in_use(deployment: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Start ``deployment`` and point roleredis at it for the test."""
    with deployment as started:
        monkeypatch.setenv("REDIS_URL", started.url)
        reset()
        try:
            yield started
        finally:
            reset()


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch, write_config: object) -> Iterator[SentinelGroup]:
    """A Sentinel group of this test's own (it gets its primary killed), roleredis on it."""
    yield from _in_use(SentinelGroup(), monkeypatch)


@pytest.fixture
def cluster(
    monkeypatch: pytest.MonkeyPatch, write_config: object
) -> Iterator[RedisClusterProcesses]:
    """A cluster of this test's own (it gets a primary killed); roles co-located."""
    yield from _in_use(RedisClusterProcesses(), monkeypatch)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/faults is marked ``integration``."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
