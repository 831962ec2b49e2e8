"""Fire-and-forget: redis_write_async's sustained throughput (counted until redis_flush
returns) beside a raw redis-py loop and pipelines of 100, the caller's own time per call
(under load and in a burst), what recording metrics costs a call, and the memory held per
pending write while the server is paused."""

from __future__ import annotations

import time
from typing import Any

from .report import Row, rate


def fire_and_forget_rows(
    r: Any,
    value: Any,
    raw_value: bytes,
    *,
    sync_write: Row,
    scale: float = 1.0,
    rounds: int = 3,
) -> list[Row]:
    """Throughput against the raw loop of ``sync_write`` (the single-call write row) and a
    pipeline of 100, then the caller time rows; the last row is the burst's."""
    import roleredis
    from roleredis import runtime

    rows: list[Row] = []
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

    ours_async_rate = rate(m, ours_async, rounds)
    raw_loop_rate = sync_write.raw or 1.0

    def raw_pipeline_100() -> None:
        for start in range(0, m, 100):
            pipe = r.pipeline(transaction=False)
            for i in range(start, start + 100):
                pipe.set(f"raw:a{i}", raw_value)
            pipe.execute()

    raw_p100 = rate(m, raw_pipeline_100, rounds)
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
    return rows


#: The small dict of issue 26's caller target.
SMALL_DICT = {"a": 1, "b": "x", "c": 2.5, "d": True}


def caller_cpu_row(n: int, *, rounds: int = 5) -> Row:
    """The caller thread's own CPU time (``time.thread_time``) per ``redis_write_async`` of a
    small dict with ``role=`` given: the median of ``rounds`` bursts of ``n`` calls, each
    flushed before the next (the writer's work is its own thread's, not counted here)."""
    import statistics

    import roleredis

    roleredis.redis_write_async("warm", SMALL_DICT, role="bench")
    roleredis.redis_flush(30)
    per_call: list[float] = []
    for _ in range(rounds):
        started = time.thread_time()
        for i in range(n):
            roleredis.redis_write_async(f"c{i}", SMALL_DICT, role="bench")
        per_call.append((time.thread_time() - started) / n)
        if not roleredis.redis_flush(60)["success"]:
            raise RuntimeError("flush failed")
    return Row(
        "caller CPU (thread_time) per redis_write_async of a small dict, role= given (median)",
        statistics.median(per_call) * 1e6,
        None,
        "<= 3",
        "us/call",
    )


def metrics_row(sync_write: Row, burst: Row) -> Row:
    """What recording one call's metrics costs, against a sync write (``sync_write``) and a
    fire-and-forget caller (``burst``, the caller time of a burst)."""
    # metrics: what recording one call costs, against a sync write and an async caller
    from ..table import metrics

    probes = 100_000
    started = time.perf_counter()
    for _ in range(probes):
        metrics.record("bench", "bench", 0.0001)
    record_us = (time.perf_counter() - started) / probes * 1e6
    write_us = 1e6 / sync_write.ours
    return Row(
        f"metrics recording per call ({record_us / write_us:.1%} of a sync write, "
        f"{record_us / burst.ours:.0%} of a fire-and-forget call)",
        record_us,
        None,
        "a few % of a call",
        "us/call",
    )


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

    from ..testing import RedisServer

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
