"""The running sums beside a budget's log (roleredis_budget_3): they agree with the log after
grants, lowered reports and debt; they are rebuilt from the log when deleted or when the
definition's period changes; provisioning deletes the library of the old layout."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from roleredis import RoleStore, redis_report, redis_take
from roleredis.admin.acl.provisioning import load_functions
from roleredis.core import budgets
from roleredis.core.budget_library import read_sums
from roleredis.foundation.budgets import budget_key, parse

pytestmark = pytest.mark.backends("redis", "memory")


def define(name: str, **fields: Any) -> None:
    fields.setdefault("roles", ["planner"])
    store = RoleStore("planner")
    store.run(budgets.define(store.scope, parse({name: fields}, "test")[name]))


def status(name: str) -> budgets.Status:
    store = RoleStore("planner")
    return store.run(budgets.status(store.scope, name))


def test_the_sums_agree_with_the_log(raw: redis.Redis) -> None:
    define("agree", rate="1000/30s", tokens="1000000/30s")
    for i, (estimate, actual) in enumerate([(50, 20), (10, 10), (30, 45), (5, 0), (70, 90)] * 3):
        got = redis_take("agree", estimate, role="planner")
        assert got["success"], got
        if i % 4 != 3:  # some grants are never reported
            assert redis_report("agree", got["id"], actual, role="planner")["success"]
    sums = read_sums(raw.get(budget_key("agree", "sums")))
    assert sums is not None
    now = status("agree")  # counted from the log itself
    assert sums["req"] == now.requests == 15
    assert sums["tok"] == now.tokens + now.debt
    assert sums["n"] == raw.zcard(budget_key("agree", "log"))


def test_deleted_sums_are_rebuilt_from_the_log(raw: redis.Redis) -> None:
    define("rebuilt", rate="3/30s")
    assert all(redis_take("rebuilt", role="planner")["success"] for _ in range(3))
    raw.delete(budget_key("rebuilt", "sums"))
    refused = redis_take("rebuilt", role="planner")
    assert refused["error_code"] == "timeout" and 28 < refused["retry_after"] <= 30, refused
    rebuilt = read_sums(raw.get(budget_key("rebuilt", "sums")))
    assert rebuilt is not None and rebuilt["req"] == 3


def test_a_changed_period_is_enforced_at_once(raw: redis.Redis) -> None:
    define("longer", rate="3/10s")
    assert all(redis_take("longer", role="planner")["success"] for _ in range(3))
    define("longer", rate="3/60s")  # the same grants now count for a minute
    refused = redis_take("longer", role="planner")
    assert refused["error_code"] == "timeout" and 58 < refused["retry_after"] <= 60, refused

    define("shorter", rate="2/30s")
    first = redis_take("shorter", role="planner")
    assert redis_take("shorter", role="planner")["success"]
    define("shorter", rate="2/0.5s")  # the grants leave the window within half a second
    got = redis_take("shorter", timeout=5, role="planner")
    assert got["success"], got
    assert got["granted_at"] - first["granted_at"] >= 0.5


@pytest.mark.backends("redis")
def test_provisioning_replaces_the_old_library(raw: redis.Redis) -> None:
    old = "redis.register_function('roleredis_budget_1_take', function() return 1 end)"
    raw.function_load(f"#!lua name=roleredis_budget_1\n{old}", replace=True)
    load_functions(raw)
    names = {lib[lib.index(b"library_name") + 1] for lib in raw.function_list()}
    assert budgets.LIBRARY.encode() in names and b"roleredis_budget_1" not in names
    load_functions(raw)  # again: nothing left to delete


@pytest.mark.parametrize("garble", ["text", "hash", "layout"])
def test_garbled_sums_are_rebuilt(raw: redis.Redis, garble: str) -> None:
    """A listed role's raw user may overwrite the sums with anything: the next take reads
    them as missing and rebuilds them from the log and the definition."""
    define("garbled", rate="3/30s")
    assert all(redis_take("garbled", role="planner")["success"] for _ in range(2))
    key = budget_key("garbled", "sums")
    raw.delete(key)
    if garble == "text":
        raw.set(key, b"x" * 112)
    elif garble == "hash":
        raw.hset(key, "rate", 1000)
    else:  # another layout's mark, with a limit raised
        raw.set(key, b"T 99 0 0 0 0 0 0 0 1000 30000000 0 0 0 0")
    assert redis_take("garbled", role="planner")["success"]
    refused = redis_take("garbled", role="planner")
    assert refused["error_code"] == "timeout", refused
    rebuilt = read_sums(raw.get(key))
    assert rebuilt is not None and rebuilt["req"] == 3 and rebuilt["rate"] == 3
