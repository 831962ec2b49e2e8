"""What the ACL tests share: roles provisioned on a password-protected server the test
started (roleredis pointed at it as the admin), a raw client logged in as a role's own user,
and whether the server refused a raw command for that user's ACL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import redis

from roleredis import reset
from roleredis.admin import acl
from roleredis.testing import RedisServer


def provisioned(
    server: RedisServer, password: str, roles: Iterable[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """For a ``users`` fixture (``yield from``): each role's provisioning report, and the
    admin's client under "admin" (closed, and roleredis reset, afterwards)."""
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("REDIS_PASSWORD", password)
    reset()
    found: dict[str, Any] = {role: acl.provision(role) for role in roles}
    found["admin"] = redis.Redis.from_url(server.url, password=password)
    yield found
    found["admin"].close()
    reset()


def raw_as(role: str, users: dict[str, Any], server: RedisServer) -> redis.Redis:
    """A raw redis-py client logged in as ``role``'s own ACL user."""
    return redis.Redis.from_url(
        server.url, username=users[role].username, password=users[role].password
    )


def refused(client: redis.Redis, *command: Any) -> bool:
    """Whether the server refused ``command`` for the client's ACL user (NOPERM)."""
    try:
        client.execute_command(*command)
    except redis.exceptions.NoPermissionError:
        return True
    return False
