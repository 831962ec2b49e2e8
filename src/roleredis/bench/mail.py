"""Mail between roles: redis_send, redis_receive + redis_ack and redis_send_async beside raw
redis-py doing the same work on a stream (XADD, XREADGROUP + XACK, pipelines of XADD)."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from .report import Row, pair, rate


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

    ours_rate, raw_rate = pair(n, ours_send, raw_send, rounds)
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
        best_ours = max(best_ours, rate(k, ours_async, 1))
        best_raw = max(best_raw, rate(k, raw_pipeline, 1))
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
