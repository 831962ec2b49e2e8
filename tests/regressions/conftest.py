"""The command-line helpers of tests/cli, for the regressions that drive ``roleredis``."""

from collections.abc import Iterator

import pytest

from roleredis import reset
from roleredis.testing import RedisServer

from ..cli.conftest import cli

__all__ = ["ADMIN_PASSWORD", "acl_server", "cli"]


ADMIN_PASSWORD = "admin-pw-77aa"


@pytest.fixture
def acl_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A throwaway server with an admin password, roleredis pointed at it as that admin."""
    for name in ("ROLEREDIS_ROLE", "ROLEREDIS_CONFIG", "REDIS_USERNAME", "REDIS_HOST"):
        monkeypatch.delenv(name, raising=False)
    with RedisServer(password=ADMIN_PASSWORD) as running:
        monkeypatch.setenv("REDIS_URL", running.url)
        monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
        reset()
        yield running
        reset()
