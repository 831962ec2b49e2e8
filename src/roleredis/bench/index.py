"""The role's key index (key_management.index): what it costs writes (on against off), and
listing and clearing a small role among many keys with the index against SCAN."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from .report import Row, rate


def index_write_cost(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """What the role's key index (key_management.index) costs writes: each write benchmark
    with the index on against the same with it off, interleaved in one run (ratio: on / off,
    1.0 = free)."""
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    base = load_settings(environ={"REDIS_URL": url}, read_file=False)
    settings = {flag: base.replace(index=flag) for flag in (False, True)}
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    n = max(200, int(3000 * scale))
    mapping = {f"m{i}": value for i in range(1000)}
    reps = max(2, int(20 * scale))
    m = max(5000, int(100_000 * scale))

    def write(ttl: int | None) -> Callable[[], None]:
        def run() -> None:
            for i in range(n):
                roleredis.redis_write(f"k{i % 100}", value, ttl=ttl, role="bench")

        return run

    def write_many() -> None:
        for _ in range(reps):
            roleredis.redis_write_many(mapping, role="bench")

    def fire_and_forget(ttl: int | None) -> Callable[[], None]:
        def run() -> None:
            for i in range(m):
                roleredis.redis_write_async(f"a{i}", value, ttl=ttl, role="bench")
            if not roleredis.redis_flush(60)["success"]:
                raise RuntimeError("flush failed")

        return run

    cases: list[tuple[str, int, Callable[[], None], str]] = [
        ("sync write (no TTL)", n, write(None), "ops/s"),
        ("sync write (TTL 3600)", n, write(3600), "ops/s"),
        ("write_many(1000)", reps * 1000, write_many, "keys/s"),
        ("fire-and-forget (no TTL)", m, fire_and_forget(None), "ops/s"),
        ("fire-and-forget (TTL 3600)", m, fire_and_forget(3600), "ops/s"),
    ]
    rows = []
    try:
        for name, count, fn, unit in cases:
            best = {False: 0.0, True: 0.0}
            for _ in range(rounds):
                for flag in (False, True):
                    runtime.use_settings(settings[flag])
                    fn()  # warm: connections, the writer thread
                    best[flag] = max(best[flag], rate(count, fn, 1))
            rows.append(Row(f"index on vs off: {name}", best[True], best[False], ">= 0.9", unit))
    finally:
        runtime.use_settings(settings[False])
        roleredis.redis_clear_role_data("bench")
        runtime.use_settings(None)
    return rows


def list_and_clear_lonely(base: Any, mine: int) -> dict[bool, tuple[float, float]]:
    """With the index off (False) and on (True) under settings ``base``: write ``mine`` keys
    of the role "lonely", then time listing and clearing them; (ms to list, ms to clear)."""
    import roleredis
    from roleredis import runtime

    timings: dict[bool, tuple[float, float]] = {}
    for flag in (False, True):
        runtime.use_settings(base.replace(index=flag))
        roleredis.redis_clear_role_data("lonely")  # with the index on: trusted from here
        roleredis.redis_write_many({f"k{i}": i for i in range(mine)}, role="lonely")
        started = time.perf_counter()
        listed = roleredis.redis_get_keys(role="lonely")
        listed_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        cleared = roleredis.redis_clear_role_data("lonely")
        cleared_ms = (time.perf_counter() - started) * 1000
        if listed["count"] != mine or cleared["deleted_count"] != mine:
            raise RuntimeError(f"unexpected results: {listed} {cleared}")
        timings[flag] = (listed_ms, cleared_ms)
    return timings


def index_listing(url: str, *, others: int = 1_000_000, mine: int = 10) -> list[Row]:
    """A role of ``mine`` keys among ``others`` other keys: redis_get_keys and
    redis_clear_role_data with a trusted key index against SCAN (ms per call)."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    r = redis.Redis.from_url(url)
    pipe = r.pipeline(transaction=False)
    for start in range(0, others, 1000):
        pipe.mset({f"crowd:{i}": b"1" for i in range(start, min(others, start + 1000))})
        if start % 100_000 == 0:
            pipe.execute()
    pipe.execute()
    base = load_settings(environ={"REDIS_URL": url}, read_file=False)
    try:
        timings = list_and_clear_lonely(base, mine)
    finally:
        runtime.use_settings(None)
        r.flushdb()
        r.close()
    where = f"{mine} keys among {others:,}"
    return [
        Row(f"redis_get_keys, {where}: index vs SCAN", timings[True][0], timings[False][0],
            "< 20 ms", "ms"),
        Row(f"redis_clear_role_data, {where}: index vs SCAN", timings[True][1],
            timings[False][1], "< 20 ms", "ms"),
    ]  # fmt: skip
