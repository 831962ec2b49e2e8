"""A test that takes no server fixture must never reach a real server (a regression test once
wrote to the developer's server on 6379 because tests/regressions gives no server by itself):
tests/conftest.py points REDIS_URL nowhere before every test, and clears the developer's
REDIS_* / ROLEREDIS_* variables."""

from __future__ import annotations

import os

from roleredis import redis_write, reset
from tests.conftest import NOWHERE


def test_without_a_fixture_roleredis_points_nowhere() -> None:
    reset()
    assert os.environ["REDIS_URL"] == NOWHERE
    for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "ROLEREDIS_CONFIG"):
        assert name not in os.environ
    result = redis_write("k", 1, role="guard")
    reset()
    assert result["success"] is False
    assert result["error_code"] == "connection", result
