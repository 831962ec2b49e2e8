"""Issue 23, items 1 and 3: ``roleredis budget set`` writes config.yaml's budgets to Redis,
``show`` prints what Redis has, ``status`` the use now; a process whose own file says
otherwise still draws on what Redis holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roleredis import redis_take

from .conftest import Cli

BUDGETS = {
    "redis": {},
    "budgets": {
        "openai": {"rate": "5/min", "tokens": "1000/min", "concurrency": 2, "roles": ["planner"]},
        "limited": {"rate": "5/min", "roles": ["planner"]},
        "search": {"rate": "10/min", "roles": ["planner", "worker"]},
    },
}


def test_set_show_and_status(cli: Cli, write_config: Callable[[dict[str, Any]], object]) -> None:
    write_config(BUDGETS)
    written = cli("budget", "set")
    assert written.returncode == 0, written
    assert "set openai: rate 5/min, tokens 1000/min, concurrency 2" in written.stdout, written
    assert any(line.startswith("set search:") for line in written.lines), written
    shown = cli("budget", "show", "--json").json()["budgets"]
    assert set(shown) == {"openai", "limited", "search"}
    assert shown["openai"]["concurrency"] == 2 and shown["openai"]["roles"] == ["planner"]
    taken = redis_take("openai", 300, role="planner")
    assert taken["success"] is True, taken
    status = cli("budget", "status", "openai", "--json")
    assert status.returncode == 0, status
    now = status.json()
    assert now["requests"] == 1 and now["tokens_used"] == 300 and now["holders"] == 1, now
    text = cli("budget", "status", "openai")
    assert "requests in the last 60 s: 1 of 5" in text.stdout, text
    assert "holders: 1 of 2" in text.stdout, text


def test_redis_holds_the_truth_whatever_the_local_file_says(
    cli: Cli, write_config: Callable[[dict[str, Any]], object]
) -> None:
    write_config(BUDGETS)
    assert cli("budget", "set", "limited").returncode == 0
    # this process's file now says 1000/min; the budget in Redis still says 5/min
    looser = {"redis": {}, "budgets": {"limited": {"rate": "1000/min", "roles": ["planner"]}}}
    write_config(looser)
    granted = [redis_take("limited", 1, timeout=0, role="planner") for _ in range(8)]
    assert sum(1 for g in granted if g["success"]) == 5, granted
    assert {g["error_code"] for g in granted if not g["success"]} == {"timeout"}


def test_errors_name_what_to_fix(
    cli: Cli, write_config: Callable[[dict[str, Any]], object]
) -> None:
    write_config({"redis": {}})
    nothing = cli("budget", "set")
    assert nothing.returncode != 0 and "budgets: section" in nothing.stderr, nothing
    write_config(BUDGETS)
    unknown = cli("budget", "set", "nope")
    assert unknown.returncode != 0 and "no budget 'nope'" in unknown.stderr, unknown
