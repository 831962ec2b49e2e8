"""The limit: what a hand-written Python client pushes through one socket for the commands
roleredis itself sends (issue 26), beside roleredis doing the same work in the same run, as a
fraction of it.

The hand-written client is the least a Python program can do: ``orjson.dumps`` of the value,
``hiredis.pack_command`` of each command, ``socket.sendall`` of a batch (1,000 commands, or one
for a round trip) and ``hiredis.Reader`` for the replies: no checks, no retries, no metrics.
Rows (each ``roleredis / limit``, with its target):

- batched SET (fire and forget: redis_write_async + redis_flush), ``>= 0.35``;
- MSET of 1,000 (redis_write_many), MGET of 1,000 (redis_read_many), ``>= 0.6``;
- batched XADD of a mail entry (redis_send_async + redis_flush), ``>= 0.35``;
- one SET round trip (redis_write), GET + TTL in one send (redis_read), ``>= 0.65``.

The MSET, MGET and round-trip rows are the medians of interleaved rounds (at least 5: see
:func:`~roleredis.bench.report.interleaved`), the form issue 26 states its targets in.

Whether the process is pinned to one core is said in the rows' names: round trips run at two
speeds on a 2-core machine depending on where the scheduler puts the server and the client.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import hiredis
import orjson

from .fire_and_forget import caller_cpu_row
from .report import Row, interleaved

__all__ = ["HandClient", "limit_rows", "pinned"]

BATCH = 1000


def pack(command: tuple[Any, ...]) -> bytes:
    """One command in the Redis protocol (hiredis)."""
    packed: bytes = hiredis.pack_command(command)
    return packed


class HandClient:
    """A hand-written client on one socket: pack, send, read with hiredis (the limit)."""

    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    def send(self, packed: bytes, replies: int) -> list[Any]:
        """Send ``packed`` (``replies`` commands) and read their replies."""
        self.sock.sendall(packed)
        got: list[Any] = []
        while len(got) < replies:
            reply = self.reader.gets()
            if reply is False:
                self.reader.feed(self.sock.recv(1 << 16))
            else:
                got.append(reply)
        return got

    def close(self) -> None:
        self.sock.close()


def pinned() -> bool:
    """Whether this process may run on one core only (``taskset``, a container's cpuset)."""
    return hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) == 1


def limit_rows(url: str, value: Any, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """The limit rows and roleredis's fraction of each (roleredis pointed at ``url``)."""
    import roleredis
    from roleredis.foundation.keys import Keyspace

    hand = HandClient(url)
    where = "pinned to one core" if pinned() else "unpinned"
    n = max(BATCH, int(100_000 * scale) // BATCH * BATCH)
    singles = max(200, int(5000 * scale))
    rows: list[Row] = []

    def batched_n(make: Callable[[int], tuple[Any, ...]], count: int) -> Callable[[], None]:
        def run() -> None:
            for start in range(0, count, BATCH):
                packed = b"".join(pack(make(i)) for i in range(start, start + BATCH))
                hand.send(packed, BATCH)

        return run

    def batched(make: Callable[[int], tuple[Any, ...]]) -> Callable[[], None]:
        return batched_n(make, n)

    def fire_and_forget() -> None:
        for i in range(n):
            roleredis.redis_write_async(f"f{i}", value, role="bench")
        if not roleredis.redis_flush(60)["success"]:
            raise RuntimeError("flush failed")

    ours_set, limit_set = interleaved(
        n,
        fire_and_forget,
        batched(lambda i: ("SET", f"hand:f{i}", orjson.dumps(value))),
        max(rounds, 5),
    )
    rows.append(
        Row(
            f"limit: batched SET, fire-and-forget ({where}, median of interleaved rounds)",
            ours_set,
            limit_set,
            ">= 0.35",
        )
    )
    rows.append(caller_cpu_row(n, rounds=max(rounds, 5)))

    recipients = iter(range(1_000_000))
    mail_n = min(n, 50_000)  # below messaging.max_length (100,000): nothing refused

    def hand_xadd(i: int) -> tuple[Any, ...]:
        fields = ("m", os.urandom(16).hex(), "t", repr(time.time()), "b", orjson.dumps(value))
        return ("XADD", "hand:mail", "*", *fields)

    def send_async() -> None:
        to = f"bench_in{next(recipients)}"
        for _ in range(mail_n):
            if not roleredis.redis_send_async(to, value, role="bench_out")["success"]:
                raise RuntimeError("a queued send was refused")
        flushed = roleredis.redis_flush(60)
        if not flushed["success"] or flushed["lost"]:
            raise RuntimeError(f"flush failed: {flushed}")

    ours_xadd, limit_xadd = interleaved(
        mail_n, send_async, batched_n(hand_xadd, mail_n), max(rounds, 5)
    )
    hand.send(pack(("UNLINK", "hand:mail")), 1)
    for i in range(next(recipients)):
        hand.send(pack(("UNLINK", Keyspace(f"bench_in{i}").mail_channel("bench_out"))), 1)
    rows.append(
        Row(
            f"limit: batched XADD, redis_send_async ({where}, median of interleaved rounds)",
            ours_xadd,
            limit_xadd,
            ">= 0.35",
        )
    )

    mapping = {f"m{i}": value for i in range(BATCH)}
    keys = list(mapping)

    def hand_write_many() -> None:
        dumps = orjson.dumps
        hand.send(pack(("MSET", *(x for k in keys for x in (f"hand:{k}", dumps(value))))), 1)

    times = max(20, n // BATCH)

    def repeat(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(times):
                fn()

        return run

    def hand_read_many() -> None:
        for reply in hand.send(pack(("MGET", *(f"hand:{k}" for k in keys))), 1)[0]:
            orjson.loads(reply)

    ours_mset, limit_mset = interleaved(
        times * BATCH,
        repeat(lambda: roleredis.redis_write_many(mapping, role="bench")),
        repeat(hand_write_many),
        rounds,
    )
    rows.append(Row("limit: MSET of 1,000, redis_write_many", ours_mset, limit_mset, ">= 0.6"))
    ours_mget, limit_mget = interleaved(
        times * BATCH,
        repeat(lambda: roleredis.redis_read_many(keys, role="bench")),
        repeat(hand_read_many),
        rounds,
    )
    rows.append(Row("limit: MGET of 1,000, redis_read_many", ours_mget, limit_mget, ">= 0.6"))

    def hand_write() -> None:
        for i in range(singles):
            hand.send(pack(("SET", f"hand:s{i}", orjson.dumps(value))), 1)

    def ours_write() -> None:
        for i in range(singles):
            roleredis.redis_write(f"s{i}", value, role="bench")

    def hand_read() -> None:
        for i in range(singles):
            key = f"hand:s{i}"
            got, _ = hand.send(pack(("GET", key)) + pack(("TTL", key)), 2)
            orjson.loads(got)

    def ours_read() -> None:
        for i in range(singles):
            roleredis.redis_read(f"s{i}", role="bench")

    rows.append(
        Row(
            f"limit: SET round trip, redis_write ({where})",
            *interleaved(singles, ours_write, hand_write, rounds),
            ">= 0.65",
        )
    )
    rows.append(
        Row(
            f"limit: GET+TTL round trip, redis_read ({where})",
            *interleaved(singles, ours_read, hand_read, rounds),
            ">= 0.65",
        )
    )
    hand.close()
    return rows
