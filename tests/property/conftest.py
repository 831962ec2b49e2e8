"""Property-based tests (issue 5, section 7) against the session's real redis-server.

Every test runs in the clean environment of ``roleredis_env`` and is marked ``integration``
(it must never skip). Hypothesis runs many examples inside one test call, so each example
starts by emptying db 0 itself (the ``raw`` client's FLUSHDB on the throwaway server).
"""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _clean_roleredis(roleredis_env: object) -> None:
    """Autouse: REDIS_URL at the throwaway server, tmp cwd, reset() around, FLUSHDB after."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/property is marked ``integration``."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)
