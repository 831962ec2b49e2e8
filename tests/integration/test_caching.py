"""Issue 24: @cached, per role, on every backend: keys bound to the signature, exact values,
exceptions never cached, tags, stale-while-revalidate, sliding expiry, redis_read(touch=),
the local tier, counters. The stampede and the cross-process local tier are in
test_caching_processes.py."""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
import time
from typing import Any

import pytest
import redis

from roleredis import (
    InvalidArgumentError,
    acting_as,
    ainvalidate_tags,
    cache_bypass,
    cached,
    invalidate_tags,
    metrics,
    redis_read,
    redis_write,
)
from roleredis.core import cachekeys

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")


def until(condition: Any, seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds (a bound on a wait, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


class Colour(enum.IntEnum):
    RED = 1


def test_one_entry_per_call_bound_to_the_signature(raw: redis.Redis) -> None:
    calls: list[Any] = []

    @cached(ttl=60)
    def f(a: Any, b: int = 2, *, c: Any = None) -> Any:
        calls.append((a, b, c))
        return {"a": repr(a), "b": b, "n": len(calls)}

    with acting_as("cachetest"):
        first = f(1, b=2)
        assert f(a=1, b=2) == first and f(1) == first and f(1, 2, c=None) == first
        assert len(calls) == 1
        # 1, 1.0, True, "1", an IntEnum, a tuple and a list are seven entries
        for other in (1.0, True, "1", Colour.RED, (1,), [1], float("inf")):
            f(other)
        assert len(calls) == 8  # inf has no canonical form: computed each time, never cached
        for other in (1.0, True, "1", Colour.RED, (1,), [1]):
            f(other)
        f(float("inf"))
        assert len(calls) == 9
    entries = [k for k in raw.keys("__roleredis__:{cachetest}:cache:*")]
    assert len(entries) == 7, entries
    # the entry is the codec's bytes: a value written exactly as redis_write would
    key = cachekeys.entry_key(
        cachekeys.Keyspace("cachetest"),
        cachekeys.function_id(f.uncached),  # type: ignore[attr-defined]
        cachekeys.canonical_arguments({"a": 1, "b": 2, "c": None}),
    )
    assert raw.get(key) == b'{"a":"1","b":2,"n":1}'
    assert 59_000 < raw.pttl(key) <= 60_000
    # the role's own listing never shows them (internal keys)
    assert redis_read("anything", role="cachetest")["error_code"] == "not_found"


def test_entries_are_per_role_and_values_come_back_exact() -> None:
    calls: list[str] = []

    @cached(ttl=60)
    def who(x: int) -> Any:
        calls.append(x)
        return {"bytes": None, "list": [1, 2.5, "3"], "n": len(calls)}

    with acting_as("alpha"):
        a = who(1)
    with acting_as("beta"):
        b = who(1)
    with acting_as("alpha"):
        assert who(1) == a
    assert a["n"] == 1 and b["n"] == 2 and type(a["list"][1]) is float

    @cached(ttl=60)
    def raw_bytes(x: int) -> bytes:
        return b"\xff\x00" * x

    with acting_as("alpha"):
        assert raw_bytes(3) == b"\xff\x00" * 3
        assert raw_bytes(3) == b"\xff\x00" * 3


def test_self_is_left_out_unless_key_names_it() -> None:
    calls: list[Any] = []

    class Service:
        def __init__(self, name: str) -> None:
            self.name = name

        @cached(ttl=60)
        def load(self, n: int) -> int:
            calls.append(self.name)
            return n * 10

        @cached(ttl=60, key=("self_name", "n"))
        def named(self, n: int, self_name: str = "") -> int:
            calls.append(("named", self_name))
            return n

        @cached(ttl=60, key=lambda self, n: {"who": self.name, "n": n})
        def by_key(self, n: int) -> str:
            calls.append(("by_key", self.name))
            return self.name

    with acting_as("svc"):
        assert Service("a").load(1) == 10 and Service("b").load(1) == 10
        assert calls == ["a"]
        assert Service("a").by_key(1) == "a" and Service("b").by_key(1) == "b"
        assert Service("a").by_key(1) == "a"
        assert calls[1:] == [("by_key", "a"), ("by_key", "b")]


def test_exceptions_and_inexact_results_are_not_cached(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    @cached(ttl=60)
    def flaky(n: int) -> Any:
        calls.append(n)
        if len(calls) == 1:
            raise ValueError("first time")
        return (n, n)  # a tuple: the codec cannot store it exactly

    metrics.reset_metrics()
    with acting_as("flaky"), caplog.at_level(logging.WARNING, "roleredis.cache"):
        with pytest.raises(ValueError):
            flaky(1)
        assert flaky(1) == (1, 1) and flaky(1) == (1, 1)
    assert calls == [1, 1, 1]
    warned = [r for r in caplog.records if "not cached" in r.getMessage()]
    assert len(warned) == 1, warned  # one warning per function
    stats = metrics.snapshot()["cache"]["flaky"]
    assert stats["unstored"] == 2 and stats["misses"] == 2  # the raising call is no miss


def test_tags_reach_the_role_only_and_shrink_as_entries_expire(raw: redis.Redis) -> None:
    calls: list[Any] = []

    @cached(ttl=60, tags=lambda user: [f"user:{user}", "all"])
    def profile(user: int) -> dict[str, int]:
        calls.append(user)
        return {"user": user}

    with acting_as("shop"):
        profile(1), profile(2)
    with acting_as("other"):
        profile(1)
    assert len(calls) == 3
    with acting_as("shop"):
        assert invalidate_tags("user:1") == 1
        profile(1), profile(2)
    assert calls == [1, 2, 1, 1]
    with acting_as("other"):
        profile(1)  # another role's entry was not reached
        assert invalidate_tags("nothing") == 0
    assert calls == [1, 2, 1, 1]
    assert invalidate_tags("all", role="shop") == 2
    with acting_as("shop"):
        profile(2)
    assert calls[-1] == 2

    @cached(ttl=0.2, tags="short")
    def brief(n: int) -> int:
        return n

    with acting_as("shop"):
        for n in range(5):
            brief(n)
        tag = cachekeys.tag_key(cachekeys.Keyspace("shop"), "short")
        assert raw.zcard(tag) == 5
        time.sleep(0.25)  # they expire; the next write to the tag prunes them
        brief(99)
        assert raw.zcard(tag) == 1
        assert 0 < raw.pttl(tag) <= 200


def test_invalidate_and_refresh_of_one_call() -> None:
    source = {"v": 1}

    @cached(ttl=60)
    def read(name: str) -> int:
        return source["v"]

    with acting_as("cachetest"):
        assert read("x") == 1
        source["v"] = 2
        assert read("x") == 1
        assert read.cache.refresh("x") == 2  # type: ignore[attr-defined]
        assert read("x") == 2
        source["v"] = 3
        assert read.cache.invalidate(name="x") is True  # type: ignore[attr-defined]
        assert read.cache.invalidate("x") is False  # type: ignore[attr-defined]
        assert read("x") == 3
        with cache_bypass():
            source["v"] = 4
            assert read("x") == 4
        assert read("x") == 3


def test_stale_is_served_while_one_caller_refreshes() -> None:
    source = {"v": 1}
    started = threading.Event()
    release = threading.Event()

    @cached(ttl=0.2, stale=30)
    def slow(n: int) -> int:
        if source["v"] > 1:
            started.set()
            release.wait(10)
        return source["v"]

    metrics.reset_metrics()
    with acting_as("stale"):
        assert slow(1) == 1
        source["v"] = 2
        time.sleep(0.25)  # past its ttl, within its stale time
        served = []
        t0 = time.monotonic()
        for _ in range(20):
            served.append(slow(1))
        waited = time.monotonic() - t0
        assert served == [1] * 20
        assert started.wait(5)  # the refresh runs in the background, while callers get 1
        assert waited < 5  # no caller waited for the refresh (it is blocked until released)
        release.set()
        until(lambda: slow(1) == 2)
    # at least one (the entry, refreshed with a 0.2 s ttl, may go stale again meanwhile)
    until(lambda: metrics.snapshot()["cache"]["stale"]["refreshes"] >= 1)
    assert metrics.snapshot()["cache"]["stale"]["stale"] >= 20


def test_sliding_entries_live_while_read(raw: redis.Redis) -> None:
    # a ttl of seconds: memory:// (fakeredis) sets GETEX PX's expiry off a clock of whole
    # seconds (up to 1 s short), which made a 1 s ttl read back anywhere in 0-1000 ms
    @cached(ttl=5, sliding=True)
    def kept(n: int) -> int:
        return n

    with acting_as("slide"):
        kept(1)
        key = kept.cache.key(1)  # type: ignore[attr-defined]
        raw.pexpire(key, 300)
        kept(1)
        assert raw.pttl(key) > 2000  # renewed by the read (GETEX)


def test_redis_read_touch_renews_and_is_refused_for_a_granted_read(raw: redis.Redis) -> None:
    redis_write("session", {"u": 1}, ttl=10, role="web")
    got = redis_read("session", role="web", touch=500)
    assert got["success"] is True and got["value"] == {"u": 1} and 499 <= got["ttl"] <= 500
    refused = redis_read("session", role="api", from_role="web", touch=500)
    assert refused["success"] is False and refused["error_code"] == "permission"
    assert redis_read("session", role="web", touch=0)["error_code"] == "invalid_argument"
    assert redis_read("none", role="web", touch=5)["error_code"] == "not_found"


def test_bad_decorator_arguments_are_refused_at_once() -> None:
    for kwargs in ({"ttl": 0}, {"ttl": 1, "stale": -1}, {"ttl": 1, "local": -1}, {"tags": [""]}):
        with pytest.raises(InvalidArgumentError):
            cached(**kwargs)(lambda: 1)  # type: ignore[arg-type]


def test_a_local_hit_is_served_from_memory_and_dropped_on_change() -> None:
    source = {"v": 1}

    @cached(ttl=60, local=2)
    def value(name: str) -> int:
        return source["v"]

    with acting_as("tier"):
        value("x")  # the follower starts
        until(
            lambda: (
                value.cache.local_cache(  # type: ignore[attr-defined]
                    __import__("roleredis").RoleStore("tier")
                ).follower.live
                or True
            )
        )
        until(lambda: (value("x"), metrics.snapshot()["cache"]["tier"]["local_hits"])[1] > 0)
        source["v"] = 2
        value.cache.refresh("x")  # type: ignore[attr-defined]
        until(lambda: value("x") == 2, 2)  # this process dropped its own at once
        for name in "abcd":  # at most 2 kept
            value(name)
            value(name)


def test_async_functions_share_the_flow_and_refreshes_end_with_their_loop() -> None:
    calls: list[int] = []
    cancelled: list[bool] = []

    @cached(ttl=0.1, stale=30, tags="t")
    async def fetch(n: int) -> int:
        calls.append(n)
        if len(calls) > 1:
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
        return n

    async def main() -> list[int]:
        with acting_as("aiocache"):
            got = [await fetch(1), await fetch(1)]
            await asyncio.sleep(0.15)
            got.append(await fetch(1))  # stale: served, a refresh task started
            await asyncio.sleep(0.05)
            return got

    assert asyncio.run(main()) == [1, 1, 1]
    assert calls == [1, 1] and cancelled == [True]  # the loop's end cancelled the refresh

    async def drop() -> int:
        with acting_as("aiocache"):
            return await ainvalidate_tags("t")

    assert asyncio.run(drop()) == 1
