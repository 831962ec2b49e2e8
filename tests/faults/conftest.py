"""Fault-injection tests: real redis-servers killed, paused and restarted, and child
processes. Every test here runs in the clean environment of ``roleredis_env``
(tests/conftest.py), like tests/integration, and is marked ``integration`` (so it must never
skip)."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _clean_roleredis(roleredis_env: object) -> None:
    """Autouse: REDIS_URL at the throwaway server, tmp cwd, reset() around, FLUSHDB after."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/faults is marked ``integration``."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
