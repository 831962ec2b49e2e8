"""Issue 23, items 2 and 3: shared budgets over one server, the embedded backend (fakeredis
with lupa), a Sentinel-managed primary and a Cluster (a budget's keys in one slot). Windows are
checked with the server grant times that takes report; waits are bounded, never timed."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
import redis

from roleredis import (
    RoleStore,
    TimeoutError,
    aio,
    budget,
    redis_give_back,
    redis_report,
    redis_take,
)
from roleredis.core import budgets
from roleredis.foundation.budgets import parse
from roleredis.table import metrics

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster")


def define(name: str, **fields: Any) -> None:
    fields.setdefault("roles", ["planner", "worker"])
    store = RoleStore("planner")
    store.run(budgets.define(store.scope, parse({name: fields}, "test")[name]))


def test_rate_is_a_sliding_window_on_the_servers_clock(raw: redis.Redis) -> None:
    define("r", rate="5/s")
    grants = [redis_take("r", timeout=5, role="planner") for _ in range(8)]
    assert all(g["success"] for g in grants), grants
    times = [g["granted_at"] for g in grants]
    # the 6th grant waited for the 1st to leave the window: no window of 1 s holds more than 5
    for i in range(len(times) - 5):
        assert times[i + 5] - times[i] >= 1.0
    assert grants[0]["waited"] < grants[5]["waited"]


def test_a_wait_that_cannot_end_in_time_fails_at_once(raw: redis.Redis) -> None:
    define("once", rate="1/30s")
    assert redis_take("once", role="planner")["success"]
    refused = redis_take("once", timeout=2, role="planner")
    assert refused["success"] is False and refused["error_code"] == "timeout", refused
    assert refused["budget"] == "once" and 28 < refused["retry_after"] <= 30
    assert metrics.snapshot()["budgets"]["once"]["refused"] >= 1


def test_tokens_and_debt(raw: redis.Redis) -> None:
    define("t", tokens="100/30s")
    got = redis_take("t", 60, role="planner")
    assert got["success"] and got["tokens"] == 60 and got["place"] is None
    reported = redis_report("t", got["id"], 90, role="worker")
    assert reported["success"] and reported["debt"] == 30
    assert redis_report("t", got["id"], 90, role="worker")["success"]  # counted once
    store = RoleStore("planner")
    now = store.run(budgets.status(store.scope, "t"))
    assert (now.requests, now.tokens, now.debt) == (0, 60, 30)
    assert redis_take("t", 11, role="planner")["error_code"] == "timeout"  # 60 + 30 + 11 > 100
    assert redis_take("t", 10, role="planner")["success"]
    too_big = redis_take("t", 101, role="planner")
    assert too_big["error_code"] == "invalid_argument"


def test_a_lower_report_gives_tokens_back(raw: redis.Redis) -> None:
    define("low", tokens="100/30s")
    got = redis_take("low", 100, role="planner")
    assert redis_take("low", 1, role="planner")["error_code"] == "timeout"
    assert redis_report("low", got["id"], 40, role="planner")["debt"] == 0
    assert redis_take("low", 60, role="planner")["success"]


def test_concurrency_places_and_blocks(raw: redis.Redis) -> None:
    define("c", concurrency=2, lease=30)
    a = redis_take("c", role="planner")
    b = redis_take("c", role="worker")
    assert a["place"] and b["place"] and a["lease"] == 30
    assert redis_take("c", role="planner")["error_code"] == "timeout"
    assert redis_give_back("c", a["place"], role="planner")["given_back"] is True
    assert redis_give_back("c", a["place"], role="planner")["given_back"] is False
    with budget("c", role="planner").take(timeout=5) as t:
        assert t.place and t.granted_at > 0
        assert redis_take("c", role="planner")["error_code"] == "timeout"
    assert redis_give_back("c", b["place"], role="worker")["given_back"]
    store = RoleStore("planner")
    assert store.run(budgets.status(store.scope, "c")).holders == 0


def test_waiters_are_served_in_arrival_order(raw: redis.Redis) -> None:
    define("fifo", concurrency=1, lease=30)
    first = redis_take("fifo", role="planner")
    order: list[int] = []
    threads = []
    for i in range(3):
        ready = threading.Event()

        def wait(i: int = i, ready: threading.Event = ready) -> None:
            ready.set()
            with budget("fifo", role="worker").take(timeout=20):
                order.append(i)

        thread = threading.Thread(target=wait)
        thread.start()
        ready.wait(5)
        store = RoleStore("planner")
        for _ in range(500):  # until this waiter has arrived in the queue
            if store.run(budgets.status(store.scope, "fifo")).waiters == i + 1:
                break
            threading.Event().wait(0.01)
        threads.append(thread)
    redis_give_back("fifo", first["place"], role="planner")
    for thread in threads:
        thread.join(20)
    assert order == [0, 1, 2]


def test_an_undefined_budget_is_not_found(raw: redis.Redis) -> None:
    got = redis_take("nothing-here", role="planner")
    assert got["error_code"] == "not_found" and "roleredis budget set" in got["error"]
    assert redis_take("bad:name", role="planner")["error_code"] == "invalid_argument"


def test_asyncio_blocks(raw: redis.Redis) -> None:
    define("a", rate="3/s", tokens="100/s", concurrency=1)

    async def main() -> list[float]:
        times = []
        for _ in range(4):
            async with aio.budget("a", role="planner").take(tokens=10, timeout=5) as t:
                await t.areport(12)
                times.append(t.granted_at)
        got = await aio.redis_take("a", role="planner", timeout=5)
        await aio.redis_give_back("a", got["place"], role="planner")
        return times

    times = asyncio.run(main())
    assert times[3] - times[0] >= 1.0
    assert metrics.snapshot()["budgets"]["a"]["debt"] >= 8


def test_a_timeout_in_a_block_raises(raw: redis.Redis) -> None:
    define("x", rate="1/30s")
    with budget("x", role="planner").take():
        pass
    with pytest.raises(TimeoutError), budget("x", role="planner").take(timeout=1):
        pass
