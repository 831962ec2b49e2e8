"""Benchmarks: roleredis against raw redis-py doing the same work, in one process, on one
throwaway redis-server. Ratios are roleredis / raw (above 1: roleredis is faster).

Run ``python benchmarks/run.py`` (or ``python -m roleredis.bench``). It starts its own
redis-server on a free port and never touches a server you run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import os
import platform
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio

__all__ = ["Row", "mail_rows", "main", "run_all"]


#: A target that can be checked: ``>= 15`` (a ratio, or the plain figure of a row without a
#: raw side), ``<= 5`` (in the row's unit), ``< 20 ms`` (the roleredis figure, in that unit).
_TARGET = re.compile(r"^\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(\S+)?\s*$")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass
class Row:
    name: str
    ours: float  # operations per second
    raw: float | None  # operations per second, or None for a plain measurement
    #: ``>= 15`` etc. (see :data:`_TARGET`); anything else ("measured", "a few % of a call")
    #: is shown, not checked
    target: str
    unit: str = "ops/s"

    @property
    def ratio(self) -> float | None:
        return self.ours / self.raw if self.raw else None

    def _checked(self) -> tuple[float, str, float, str] | None:
        """(the figure the target is about, the comparison, the bound, its unit), or None
        for a target that is not a bound."""
        found = _TARGET.match(self.target)
        if found is None:
            return None
        op, bound, unit = found.group(1), float(found.group(2)), found.group(3)
        if unit is None and self.ratio is not None:
            return self.ratio, op, bound, "x"
        return self.ours, op, bound, f" {unit or self.unit}"

    @property
    def met(self) -> bool | None:
        """Whether the row meets its target; None for a target that is not a bound.

        >>> Row("f", 30.0, 2.0, ">= 15").met, Row("f", 20.0, 2.0, ">= 15").met
        (True, False)
        >>> Row("caller", 15.3, None, "<= 5", "us/call").met, Row("m", 1.0, None, "measured").met
        (False, None)
        """
        checked = self._checked()
        if checked is None:
            return None
        figure, op, bound, _ = checked
        return _COMPARE[op](figure, bound)

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED (target >= 15x, got 10.00x)``, or "" (nothing to check)."""
        checked = self._checked()
        if checked is None:
            return ""
        figure, op, bound, unit = checked
        if _COMPARE[op](figure, bound):
            return "met"
        return f"MISSED (target {op} {bound:g}{unit}, got {figure:,.2f}{unit})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roleredis": round(self.ours, 2),
            "raw": round(self.raw, 2) if self.raw else None,
            "ratio": round(self.ratio, 3) if self.ratio else None,
            "target": self.target,
            "unit": self.unit,
            "met": self.met,
        }


def _rate(n: int, fn: Callable[[], Any], rounds: int) -> float:
    """Best of ``rounds`` runs of ``fn`` (which does ``n`` operations), in operations/s."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


def _pair(
    n: int, ours: Callable[[], Any], raw: Callable[[], Any], rounds: int
) -> tuple[float, float]:
    # interleave so both see the same machine state
    a, b = [], []
    for _ in range(rounds):
        a.append(_rate(n, ours, 1))
        b.append(_rate(n, raw, 1))
    return max(a), max(b)


def run_all(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """Every benchmark against the server at ``url``; roleredis is pointed at it too."""
    import roleredis
    from roleredis import runtime
    from roleredis.faces import aio
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    # raw clients with the same timeouts as roleredis's defaults: like for like (redis.asyncio
    # pays a task per read for a socket_timeout, which an unbounded client does not)
    r = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    rows: list[Row] = []
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    raw_value = json.dumps(value).encode()

    n = max(200, int(3000 * scale))

    def ours_write() -> None:
        for i in range(n):
            roleredis.redis_write(f"k{i % 100}", value, role="bench")

    def raw_write() -> None:
        for i in range(n):
            r.set(f"raw:k{i % 100}", raw_value)

    rows.append(
        Row("sync write: redis_write vs r.set", *_pair(n, ours_write, raw_write, rounds), ">= 0.85")
    )

    def ours_read() -> None:
        for i in range(n):
            roleredis.redis_read(f"k{i % 100}", role="bench")

    def raw_read() -> None:
        for i in range(n):
            r.get(f"raw:k{i % 100}")
            r.ttl(f"raw:k{i % 100}")

    rows.append(
        Row(
            "sync read: redis_read vs r.get + r.ttl",
            *_pair(n, ours_read, raw_read, rounds),
            ">= 0.85",
        )
    )

    batch = 1000
    mapping = {f"m{i}": value for i in range(batch)}
    raw_keys = [f"raw:m{i}" for i in range(batch)]
    reps = max(2, int(20 * scale))

    def ours_write_many() -> None:
        for _ in range(reps):
            roleredis.redis_write_many(mapping, role="bench")

    def raw_write_many() -> None:
        for _ in range(reps):
            pipe = r.pipeline(transaction=False)
            for key in raw_keys:
                pipe.set(key, raw_value)
            pipe.execute()

    rows.append(
        Row(
            "redis_write_many(1000) vs redis-py pipeline",
            *_pair(reps * batch, ours_write_many, raw_write_many, rounds),
            ">= 1.5",
            "keys/s",
        )
    )
    keys = list(mapping)

    def ours_read_many() -> None:
        for _ in range(reps):
            roleredis.redis_read_many(keys, role="bench")

    def raw_read_many() -> None:
        for _ in range(reps):
            pipe = r.pipeline(transaction=False)
            for key in raw_keys:
                pipe.get(key)
            pipe.execute()

    rows.append(
        Row(
            "redis_read_many(1000) vs redis-py pipeline",
            *_pair(reps * batch, ours_read_many, raw_read_many, rounds),
            ">= 1.5",
            "keys/s",
        )
    )

    # fire and forget: sustained throughput, counted until redis_flush returns
    m = max(5000, int(100_000 * scale))
    roleredis.redis_write_async("warm", 1, role="bench")
    roleredis.redis_flush(30)
    caller_times: list[float] = []

    def ours_async() -> None:
        started = time.perf_counter()
        for i in range(m):
            roleredis.redis_write_async(f"a{i}", value, role="bench")
        caller_times.append((time.perf_counter() - started) / m)
        result = roleredis.redis_flush(60)
        if not result["success"]:
            raise RuntimeError(f"flush failed: {result}")

    ours_async_rate = _rate(m, ours_async, rounds)
    raw_loop_rate = rows[0].raw or 1.0

    def raw_pipeline_100() -> None:
        for start in range(0, m, 100):
            pipe = r.pipeline(transaction=False)
            for i in range(start, start + 100):
                pipe.set(f"raw:a{i}", raw_value)
            pipe.execute()

    raw_p100 = _rate(m, raw_pipeline_100, rounds)
    rows.append(Row("fire-and-forget vs raw r.set loop", ours_async_rate, raw_loop_rate, ">= 15"))
    rows.append(
        Row("fire-and-forget vs redis-py pipeline of 100", ours_async_rate, raw_p100, ">= 2")
    )
    rows.append(
        Row(
            "caller time per redis_write_async (under sustained load)",
            min(caller_times) * 1e6,
            None,
            "<= 5",
            "us/call",
        )
    )
    # the caller's own cost, with the writer thread idle: what a burst of calls costs
    burst = 2000
    writer = runtime.writer()
    writer_stats_before = writer.carried
    started = time.perf_counter()
    for i in range(burst):
        roleredis.redis_write_async(f"b{i}", value, role="bench")
    burst_cost = (time.perf_counter() - started) / burst
    roleredis.redis_flush(30)
    assert writer.carried - writer_stats_before >= burst
    rows.append(
        Row(
            "caller time per redis_write_async (burst of 2000)",
            burst_cost * 1e6,
            None,
            "<= 5",
            "us/call",
        )
    )

    # metrics: what recording one call costs, against a sync write and an async caller
    from .table import metrics

    probes = 100_000
    started = time.perf_counter()
    for _ in range(probes):
        metrics.record("bench", "bench", 0.0001)
    record_us = (time.perf_counter() - started) / probes * 1e6
    write_us = 1e6 / rows[0].ours
    rows.append(
        Row(
            f"metrics recording per call ({record_us / write_us:.1%} of a sync write, "
            f"{record_us / (burst_cost * 1e6):.0%} of a fire-and-forget call)",
            record_us,
            None,
            "a few % of a call",
            "us/call",
        )
    )

    # asyncio
    na = max(200, int(3000 * scale))

    async def aio_pair() -> tuple[float, float, float, float]:
        ar = redis.asyncio.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
        try:

            async def ours_w() -> None:
                for i in range(na):
                    await aio.redis_write(f"k{i % 100}", value, role="bench")

            async def raw_w() -> None:
                for i in range(na):
                    await ar.set(f"raw:k{i % 100}", raw_value)

            async def ours_r() -> None:
                for i in range(na):
                    await aio.redis_read(f"k{i % 100}", role="bench")

            async def raw_r() -> None:
                for i in range(na):
                    await ar.get(f"raw:k{i % 100}")
                    await ar.ttl(f"raw:k{i % 100}")

            out = []
            for ours, raw in ((ours_w, raw_w), (ours_r, raw_r)):
                best_ours = best_raw = 0.0
                for _ in range(rounds):
                    t = time.perf_counter()
                    await ours()
                    best_ours = max(best_ours, na / (time.perf_counter() - t))
                    t = time.perf_counter()
                    await raw()
                    best_raw = max(best_raw, na / (time.perf_counter() - t))
                out += [best_ours, best_raw]
            return out[0], out[1], out[2], out[3]
        finally:
            await ar.aclose()
            await aio.aclose()

    ow, rw, orr, rr = asyncio.run(aio_pair())
    rows.append(Row("aio write vs redis.asyncio set", ow, rw, ">= 0.85"))
    rows.append(Row("aio read vs redis.asyncio get + ttl", orr, rr, ">= 0.85"))

    roleredis.redis_clear_role_data("bench")
    for key in r.scan_iter("raw:*", count=1000):
        r.unlink(key)
    r.close()
    runtime.use_settings(None)
    rows.append(pending_write_memory(max(5000, int(50_000 * scale))))
    rows += mail_rows(url, scale=scale, rounds=rounds)
    return rows


def mail_rows(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """Mail between roles (issue 12) beside raw redis-py doing the same work: the same
    fields (a uuid4 msg_id, the time, the JSON body) on a stream, decoded on receipt.

    - sends: redis_send vs a loop of XADD;
    - receipt: redis_receive(100) + redis_ack vs XREADGROUP COUNT 100 + XACK, per message;
    - sends from the fire-and-forget writer (redis_send_async + redis_flush) vs pipelines of
      100 XADDs.
    """
    import uuid

    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings
    from roleredis.foundation.keys import Keyspace

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    r: Any = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    value = {"task": "forecast", "region": "north", "steps": [1, 2, 3]}
    raw_stream = "raw:mail"
    ours_stream = Keyspace("bench_in").mail_channel("bench_out")
    rows: list[Row] = []

    def raw_fields() -> dict[str, Any]:
        return {"m": uuid.uuid4().hex, "t": repr(time.time()), "b": json.dumps(value)}

    def drain() -> None:
        r.unlink(raw_stream, ours_stream)
        roleredis.redis_receive(1, role="bench_in")  # the recipient finds its channel again

    n = max(200, int(3000 * scale))

    def ours_send() -> None:
        for _ in range(n):
            roleredis.redis_send("bench_in", value, role="bench_out")

    def raw_send() -> None:
        for _ in range(n):
            r.xadd(raw_stream, raw_fields())

    ours_rate, raw_rate = _pair(n, ours_send, raw_send, rounds)
    rows.append(Row("mail send: redis_send vs raw XADD loop", ours_rate, raw_rate, ">= 0.85"))

    # receipt: both streams filled (untimed), then drained 100 at a time, each round
    m = max(1000, int(20_000 * scale))
    best_ours = best_raw = 0.0
    for _ in range(rounds):
        drain()
        r.xgroup_create(raw_stream, "inbox", "0", mkstream=True)
        for start in range(0, m, 1000):
            pipe = r.pipeline(transaction=False)
            for _ in range(start, min(m, start + 1000)):
                pipe.xadd(raw_stream, raw_fields())
            pipe.execute()
        for _ in range(m):
            roleredis.redis_send_async("bench_in", value, role="bench_out")
        roleredis.redis_flush(60)

        started = time.perf_counter()
        got = 0
        while got < m:
            batch = roleredis.redis_receive(100, role="bench_in")["messages"]
            if not batch:
                raise RuntimeError("redis_receive came back empty before the end")
            got += len(batch)
            roleredis.redis_ack([message["id"] for message in batch], role="bench_in")
        best_ours = max(best_ours, m / (time.perf_counter() - started))

        started = time.perf_counter()
        got = 0
        while got < m:
            reply = r.xreadgroup("inbox", "c", {raw_stream: ">"}, count=100)
            entries = reply[0][1]
            bodies = [json.loads(fields[b"b"]) for _, fields in entries]
            got += len(bodies)
            r.xack(raw_stream, "inbox", *(entry for entry, _ in entries))
        best_raw = max(best_raw, m / (time.perf_counter() - started))
    rows.append(
        Row(
            "mail receive+ack (100 a call): redis_receive + redis_ack vs XREADGROUP + XACK",
            best_ours,
            best_raw,
            ">= 0.85",
            "msgs/s",
        )
    )

    # sends from the fire-and-forget writer
    k = max(2000, int(50_000 * scale))

    def ours_async() -> None:
        for _ in range(k):
            roleredis.redis_send_async("bench_in", value, role="bench_out")
        if roleredis.redis_flush(60)["lost"]:
            raise RuntimeError("the writer lost sends")

    def raw_pipeline() -> None:
        for start in range(0, k, 100):
            pipe = r.pipeline(transaction=False)
            for _ in range(start, start + 100):
                pipe.xadd(raw_stream, raw_fields())
            pipe.execute()

    best_ours = best_raw = 0.0
    for _ in range(rounds):
        drain()
        best_ours = max(best_ours, _rate(k, ours_async, 1))
        best_raw = max(best_raw, _rate(k, raw_pipeline, 1))
    rows.append(
        Row(
            "mail sends from the writer: redis_send_async vs redis-py pipeline of 100 XADD",
            best_ours,
            best_raw,
            ">= 1.5",
            "msgs/s",
        )
    )
    drain()
    r.close()
    runtime.use_settings(None)
    return rows


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
                    best[flag] = max(best[flag], _rate(count, fn, 1))
            rows.append(Row(f"index on vs off: {name}", best[True], best[False], ">= 0.9", unit))
    finally:
        runtime.use_settings(settings[False])
        roleredis.redis_clear_role_data("bench")
        runtime.use_settings(None)
    return rows


def _list_and_clear_lonely(base: Any, mine: int) -> dict[bool, tuple[float, float]]:
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
        timings = _list_and_clear_lonely(base, mine)
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


#: A value whose stored form is 108 bytes, as in the issue that set the memory target.
VALUE_108 = {"event": "user_login", "user_id": 123456, "ip": "10.0.0.1", "note": "n" * 43}


def pending_write_memory(n: int) -> Row:
    """Bytes held per pending fire-and-forget write of a 108-byte value (server paused).

    Counted with tracemalloc from before the first call to after the last, while the writer
    cannot send: the queue entry, the command, the key and the encoded value.
    """
    import tracemalloc

    import roleredis
    from roleredis import runtime
    from roleredis.core.codec import encode
    from roleredis.foundation.config import load_settings

    from .testing import RedisServer

    assert len(encode(VALUE_108)) == 108
    with RedisServer() as server:
        env = {"REDIS_URL": server.url}
        settings = load_settings(environ=env, read_file=False)
        settings = settings.replace(
            async_max_pending=n + 10, async_max_age=600.0, socket_timeout=60.0
        )
        runtime.use_settings(settings)
        try:
            roleredis.redis_write_async("warm", 1, role="bench")
            roleredis.redis_flush(30)
            server.pause()
            try:
                tracemalloc.start()
                before, _ = tracemalloc.get_traced_memory()
                for i in range(n):
                    roleredis.redis_write_async(f"pending:{i:08d}", VALUE_108, role="bench")
                after, _ = tracemalloc.get_traced_memory()
                tracemalloc.stop()
            finally:
                server.resume()
            done = roleredis.redis_flush(120)
            if not done["success"]:
                raise RuntimeError(f"flush failed: {done}")
        finally:
            runtime.use_settings(None)
    return Row(
        "memory held per pending fire-and-forget write of a 108-byte value",
        (after - before) / n,
        None,
        "<= 600",
        "bytes",
    )


def cluster_pairs(
    cluster: Any, *, colocate: bool, scale: float = 1.0, rounds: int = 3
) -> list[Row]:
    """roleredis on a local cluster (``colocate_roles`` as given) beside raw redis-py
    ``RedisCluster`` doing the same work: sync write and read, write_many/read_many(1000) vs a
    non-transactional cluster pipeline, fire-and-forget vs a raw loop and a pipeline of 100.

    Raw keys follow the same layout: ``{raw}:...`` (one slot, one node) when roles are
    co-located, plain ``raw:...`` (spread over the nodes) when they are not.
    """
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    base = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
    runtime.use_settings(base.replace(colocate_roles=colocate))
    r: Any = redis.RedisCluster(
        startup_nodes=cluster.startup_nodes(), socket_timeout=5.0, socket_connect_timeout=5.0
    )
    layout = "co-located" if colocate else "spread"
    raw_prefix = "{raw}:" if colocate else "raw:"
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    raw_value = json.dumps(value).encode()
    n = max(200, int(3000 * scale))
    batch = 1000
    reps = max(2, int(10 * scale))
    m = max(5000, int(50_000 * scale))
    mapping = {f"m{i}": value for i in range(batch)}
    keys = list(mapping)
    raw_keys = [f"{raw_prefix}m{i}" for i in range(batch)]

    def ours_write() -> None:
        for i in range(n):
            roleredis.redis_write(f"k{i % 100}", value, role="bench")

    def raw_write() -> None:
        for i in range(n):
            r.set(f"{raw_prefix}k{i % 100}", raw_value)

    def ours_read() -> None:
        for i in range(n):
            roleredis.redis_read(f"k{i % 100}", role="bench")

    def raw_read() -> None:
        for i in range(n):
            r.get(f"{raw_prefix}k{i % 100}")
            r.ttl(f"{raw_prefix}k{i % 100}")

    def ours_write_many() -> None:
        for _ in range(reps):
            roleredis.redis_write_many(mapping, role="bench")

    def raw_pipeline(command: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(reps):
                pipe = r.pipeline(transaction=False)
                for key in raw_keys:
                    if command == "set":
                        pipe.set(key, raw_value)
                    else:
                        pipe.get(key)
                pipe.execute()

        return run

    def ours_read_many() -> None:
        for _ in range(reps):
            roleredis.redis_read_many(keys, role="bench")

    def ours_async() -> None:
        for i in range(m):
            roleredis.redis_write_async(f"a{i}", value, role="bench")
        if not roleredis.redis_flush(60)["success"]:
            raise RuntimeError("flush failed")

    def raw_pipeline_100() -> None:
        for start in range(0, m, 100):
            pipe = r.pipeline(transaction=False)
            for i in range(start, start + 100):
                pipe.set(f"{raw_prefix}a{i}", raw_value)
            pipe.execute()

    rows: list[Row] = []
    try:
        ours_write()  # warm: connections, the slot map
        raw_write()
        write = _pair(n, ours_write, raw_write, rounds)
        rows.append(Row(f"cluster ({layout}) sync write vs RedisCluster.set", *write, ">= 0.85"))
        rows.append(
            Row(
                f"cluster ({layout}) sync read vs RedisCluster.get + ttl",
                *_pair(n, ours_read, raw_read, rounds),
                ">= 0.85",
            )
        )
        for name, ours, raw in (
            ("write_many(1000)", ours_write_many, raw_pipeline("set")),
            ("read_many(1000)", ours_read_many, raw_pipeline("get")),
        ):
            rows.append(
                Row(
                    f"cluster ({layout}) {name} vs RedisCluster pipeline",
                    *_pair(reps * batch, ours, raw, rounds),
                    ">= 1.5",
                    "keys/s",
                )
            )
        ours_async()  # warm: the writer thread
        fire = _rate(m, ours_async, rounds)
        rows.append(
            Row(f"cluster ({layout}) fire-and-forget vs raw set loop", fire, write[1], ">= 15")
        )
        p100 = _rate(m, raw_pipeline_100, rounds)
        rows.append(
            Row(f"cluster ({layout}) fire-and-forget vs pipeline of 100", fire, p100, ">= 2")
        )
    finally:
        roleredis.redis_clear_role_data("bench")
        runtime.use_settings(None)
        for key in r.scan_iter(f"{raw_prefix}*", count=1000):
            r.unlink(key)
        r.close()
    return rows


def _used_memory(r: Any) -> int:
    """used_memory summed over the cluster's primaries."""
    info = r.info("memory", target_nodes=redis.RedisCluster.PRIMARIES)
    return sum(int(node["used_memory"]) for node in info.values())


def cluster_memory(cluster: Any, *, keys: int = 200_000) -> list[Row]:
    """Bytes of server memory per key of a 108-byte value (summed over the primaries), with
    the role's key index off and on, written with redis_write_many in batches of 1000."""
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    base = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
    r = redis.RedisCluster(startup_nodes=cluster.startup_nodes())
    rows = []
    try:
        for flag in (False, True):
            runtime.use_settings(base.replace(index=flag))
            roleredis.redis_clear_role_data("mem")
            before = _used_memory(r)
            for start in range(0, keys, 1000):
                chunk = {f"event:{i:09d}": VALUE_108 for i in range(start, start + 1000)}
                if not roleredis.redis_write_many(chunk, role="mem")["success"]:
                    raise RuntimeError("write_many failed")
            per_key = (_used_memory(r) - before) / keys
            roleredis.redis_clear_role_data("mem")
            rows.append(
                Row(
                    f"server memory per key, 108-byte value, index {'on' if flag else 'off'}",
                    per_key,
                    None,
                    "measured",
                    "bytes",
                )
            )
    finally:
        runtime.use_settings(None)
        r.close()
    return rows


def cluster_listing(cluster: Any, *, others: int = 300_000, mine: int = 10) -> list[Row]:
    """A 10-key role among ``others`` keys spread over the cluster: redis_get_keys and
    redis_clear_role_data (ms), for each layout, with SCAN (index off) and with the index."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    r: Any = redis.RedisCluster(startup_nodes=cluster.startup_nodes())
    for start in range(0, others, 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(others, start + 1000)):
            pipe.set(f"crowd:{i}", b"1")
        pipe.execute()
    base = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
    rows = []
    try:
        for colocate in (True, False):
            timings = _list_and_clear_lonely(base.replace(colocate_roles=colocate), mine)
            layout = "co-located" if colocate else "spread"
            where = f"{mine} keys among {others:,}, {layout}"
            rows.append(
                Row(
                    f"cluster redis_get_keys, {where}: index vs SCAN",
                    timings[True][0],
                    timings[False][0],
                    "measured",
                    "ms",
                )
            )
            rows.append(Row(f"cluster redis_clear_role_data, {where}: index vs SCAN",
                            timings[True][1], timings[False][1], "measured", "ms"))  # fmt: skip
    finally:
        runtime.use_settings(None)
        r.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        r.close()
    return rows


def run_cluster(*, scale: float = 1.0, rounds: int = 3) -> tuple[str, list[Row]]:
    """Start a local cluster (3 primaries + 3 replicas) and run every cluster benchmark on it."""
    from .testing.cluster import RedisClusterProcesses

    with RedisClusterProcesses() as cluster:
        client = cluster.client()
        try:
            version = str(client.info("server", target_nodes=redis.RedisCluster.RANDOM)
                          ["redis_version"])  # fmt: skip
        finally:
            client.close()
        rows = cluster_pairs(cluster, colocate=True, scale=scale, rounds=rounds)
        rows += cluster_pairs(cluster, colocate=False, scale=scale, rounds=rounds)
        rows += cluster_memory(cluster, keys=max(20_000, int(200_000 * scale)))
        rows += cluster_listing(cluster, others=max(30_000, int(300_000 * scale)))
    return f"{version} (cluster: 3 primaries + 3 replicas, one machine)", rows


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    server = redis.__version__
    return (
        f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, "
        f"redis-py {server}, {platform.system()} {platform.release()}"
    )


def render(rows: list[Row]) -> str:
    """The rows as a Markdown table, each checked target marked met or MISSED, and a last
    line that counts the misses."""
    lines = [
        "| benchmark | roleredis | raw redis-py | ratio | target | verdict |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        raw = ""
        if row.raw:
            raw = f"{row.raw:,.2f} {row.unit}" if row.unit == "ms" else f"{row.raw:,.0f} {row.unit}"
        ratio = f"{row.ratio:.2f}x" if row.ratio else ""
        ours = (
            f"{row.ours:,.2f} {row.unit}"
            if row.unit in ("us/call", "ms")
            else f"{row.ours:,.0f} {row.unit}"
        )
        verdict = f"**{row.verdict}**" if row.met is False else row.verdict
        lines.append(f"| {row.name} | {ours} | {raw} | {ratio} | {row.target} | {verdict} |")
    lines.append("")
    lines.append(summary(rows))
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """How many checked targets the run missed, and which.

    >>> summary([Row("a", 2.0, 1.0, ">= 1.5"), Row("b", 1.0, 1.0, ">= 1.5")])
    'missed 1 of 2 targets: b'
    >>> summary([Row("a", 2.0, 1.0, ">= 1.5"), Row("m", 1.0, None, "measured")])
    'met every target (1 checked)'
    """
    checked = [row for row in rows if row.met is not None]
    missed = [row.name for row in checked if row.met is False]
    if not missed:
        return f"met every target ({len(checked)} checked)"
    return f"missed {len(missed)} of {len(checked)} targets: {'; '.join(missed)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="work per benchmark (1.0 = full)")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--index",
        action="store_true",
        help="only the role key index's benchmarks: write cost on vs off, and listing and "
        "clearing a 10-key role among 1,000,000 keys, index vs SCAN",
    )
    parser.add_argument("--mail", action="store_true", help="only the mail benchmarks (issue 12)")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="only the cluster benchmarks: a local cluster of 3 primaries + 3 replicas, "
        "roleredis (both key layouts) beside raw RedisCluster; memory per key; listing costs",
    )
    args = parser.parse_args(argv)
    from .testing import RedisServer

    if args.cluster:
        server_version, rows = run_cluster(scale=args.scale, rounds=args.rounds)
        _print(rows, server_version, as_json=args.json)
        return 0
    with RedisServer() as server:
        server_version = server.client().info("server")["redis_version"]
        if args.index:
            rows = index_write_cost(server.url, scale=args.scale, rounds=args.rounds)
            rows += index_listing(server.url)
        elif args.mail:
            rows = mail_rows(server.url, scale=args.scale, rounds=args.rounds)
        else:
            rows = run_all(server.url, scale=args.scale, rounds=args.rounds)
    _print(rows, server_version, as_json=args.json)
    return 0


def _print(rows: list[Row], server_version: str, *, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "machine": machine(),
                    "redis_server": server_version,
                    "results": [row.as_dict() for row in rows],
                    "missed": [row.name for row in rows if row.met is False],
                },
                indent=2,
            )
        )
    else:
        print(f"machine: {machine()}; redis-server {server_version}\n")
        print(render(rows))


if __name__ == "__main__":
    sys.exit(main())
