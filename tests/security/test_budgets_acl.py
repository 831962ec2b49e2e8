"""Issue 23, items 1 and 3: budgets under provisioned ACL users, proven with raw commands as
each role's own user. A role a budget does not list cannot draw on it, through the library or
with raw FCALLs, nor touch its keys; a listed role can (a budget is cooperative among its
roles: docs/threat-model.md) but cannot change its definition. No role selector (mail,
senders, replies, events: ``__roleredis__:{*}:...``) matches a budget's keys (ACL DRYRUN)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from roleredis import RoleStore, redis_take, reset
from roleredis.admin import acl
from roleredis.core import budgets
from roleredis.foundation.budgets import budget_key
from roleredis.testing import RedisServer

ADMIN_PASSWORD = "admin-pw-bu6g3t"
ROLES = ("alpha", "beta", "gamma")
TAKE = f"{budgets.LIBRARY}_take"
CONFIG = """
redis: {{url: "{url}"}}
budgets:
  shared: {{rate: 100/s, tokens: 1000/s, concurrency: 2, roles: [alpha, beta]}}
  alpha-only: {{rate: 100/s, roles: [alpha]}}
"""


@pytest.fixture
def users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with RedisServer(password=ADMIN_PASSWORD) as server:
        config = tmp_path / "config.yaml"
        config.write_text(CONFIG.format(url=server.url))
        monkeypatch.setenv("ROLEREDIS_CONFIG", str(config))
        monkeypatch.setenv("REDIS_URL", server.url)
        monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
        reset()
        found: dict[str, Any] = {role: acl.provision(role) for role in ROLES}
        admin = RoleStore("admin")
        for budget in admin.settings.budgets.values():
            admin.run(budgets.define(admin.scope, budget))
        found["server"] = server
        found["admin"] = redis.Redis.from_url(server.url, password=ADMIN_PASSWORD)
        yield found
        found["admin"].close()
        reset()


def raw_as(role: str, users: dict[str, Any]) -> redis.Redis:
    return redis.Redis.from_url(
        users["server"].url, username=users[role].username, password=users[role].password
    )


def refused(client: redis.Redis, *command: Any) -> bool:
    try:
        client.execute_command(*command)
    except redis.exceptions.NoPermissionError:
        return True
    except redis.exceptions.ResponseError as exc:
        return "user executing the script can't" in str(exc) or "no permissions" in str(exc)
    return False


def keys(name: str) -> list[str]:
    return [budget_key(name, part) for part in ("log", "holders", "queue", "alive", "sums")]


def take_args(name: str) -> list[Any]:
    return ["FCALL", TAKE, 5, *keys(name), "0123456789abcdef-1", 1, "p", -1]


def connect_as(role: str, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_USERNAME", users[role].username)
    monkeypatch.setenv("REDIS_PASSWORD", users[role].password)
    reset()


def test_listed_roles_draw_and_others_cannot_through_the_library(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_as("alpha", users, monkeypatch)
    assert redis_take("shared", 5, role="alpha")["success"]
    assert redis_take("alpha-only", role="alpha")["success"]
    connect_as("beta", users, monkeypatch)
    assert redis_take("shared", 5, role="beta")["success"]
    assert redis_take("alpha-only", role="beta")["error_code"] == "permission"
    connect_as("gamma", users, monkeypatch)
    assert redis_take("shared", role="gamma")["error_code"] == "permission"


def test_raw_commands_of_a_role_not_listed_are_refused(users: dict[str, Any]) -> None:
    gamma, beta = raw_as("gamma", users), raw_as("beta", users)
    try:
        for client, name in ((gamma, "shared"), (gamma, "alpha-only"), (beta, "alpha-only")):
            assert refused(client, *take_args(name))
            assert refused(client, "FCALL", f"{budgets.LIBRARY}_give_back", 1, keys(name)[1], "x")
            assert refused(client, "ZADD", keys(name)[0], 1, "forged|1")
            assert refused(client, "DEL", *keys(name))
            assert refused(client, "HGETALL", budget_key(name, "def"))
            assert refused(client, "HSET", budget_key(name, "def"), "rate", 1000000)
    finally:
        gamma.close()
        beta.close()


def test_a_listed_role_cooperates_but_cannot_redefine(users: dict[str, Any]) -> None:
    beta = raw_as("beta", users)
    try:
        assert beta.execute_command(*take_args("shared"))[0] == 1  # cooperative: raw FCALL
        assert not refused(beta, "ZCARD", keys("shared")[0])
        assert beta.hgetall(budget_key("shared", "def"))[b"rate"] == b"100"
        assert refused(beta, "HSET", budget_key("shared", "def"), "rate", 1000000)
        assert refused(beta, "DEL", budget_key("shared", "def"))
        assert refused(beta, "FUNCTION", "LOAD", "REPLACE", budgets.SOURCE)
        assert refused(beta, "EVAL", "return 1", 0)
    finally:
        beta.close()


def test_no_role_selector_matches_a_budgets_keys(users: dict[str, Any]) -> None:
    """gamma's selectors (``__roleredis__:{*}:mail:gamma``, senders, replies, events) match no
    key of a budget; a listed role's writes reach every key but the definition."""
    admin = users["admin"]
    every = [budget_key("shared", p) for p in ("def", "log", "holders", "queue", "alive", "sums")]

    def allowed(role: str, *command: Any) -> bool:
        return admin.execute_command("ACL", "DRYRUN", users[role].username, *command) == b"OK"

    for key in every:
        for command in (
            ("XADD", key, "*", "f", "v"),
            ("SADD", key, "x"),
            ("XRANGE", key, "-", "+"),
        ):
            assert not allowed("gamma", *command), command
        assert allowed("beta", "SADD", key, "x") is (not key.endswith(":def"))
        assert allowed("beta", "EXISTS", key)
