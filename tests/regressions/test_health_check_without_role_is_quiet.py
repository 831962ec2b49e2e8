"""``redis_health_check()`` with no role fell back to the default role and logged the warning
"no role given or detected; using the default role": a health check probes its own keys, it is
no role's data access. No warning from it (sync or aio); the next data access without a role
still gets the one warning."""

from __future__ import annotations

import asyncio
import logging

import pytest

import roleredis
from roleredis import aio

pytestmark = pytest.mark.backends("redis")

WARNING = "no role given or detected"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if WARNING in r.getMessage()]


def test_a_health_check_without_a_role_does_not_warn(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    assert roleredis.redis_health_check()["connected"] is True
    assert asyncio.run(aio.redis_health_check())["connected"] is True
    assert _warnings(caplog) == []
    assert roleredis.redis_write("k", 1)["success"] is True  # a role's data: warned, once
    assert roleredis.redis_read("k")["success"] is True
    assert len(_warnings(caplog)) == 1, _warnings(caplog)
