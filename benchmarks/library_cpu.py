"""The library's own CPU per call, without the socket: redis_write, redis_read (role= given)
and redis_write_many / redis_read_many of 1,000 keys, with the exchange on the socket
(``transport.executor._exchange``: pack, sendall, recv, parse) replaced by canned replies.

What is left is what roleredis adds in Python (role, checks, encoding, pool, runner, result,
metrics), measured without the kernel's share, which on a loaded machine swamps it. Run it
pinned, before and after a change, in one session::

    PYTHONPATH=<before>/src taskset -c 0 python benchmarks/library_cpu.py
    taskset -c 0 python benchmarks/library_cpu.py

Medians (and minimums) of 5 rounds of 20,000 calls (100 for the 1,000-key calls).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import roleredis
from roleredis import runtime
from roleredis.core import codec
from roleredis.foundation.config import load_settings
from roleredis.testing import RedisServer
from roleredis.transport import executor

VALUE = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
DATA = codec.encode(VALUE)
MAPPING = {f"m{i}": VALUE for i in range(1000)}
KEYS = list(MAPPING)


def canned(sock: Any, commands: list[tuple[Any, ...]]) -> list[Any]:
    """What the server would answer, without asking it."""
    answers = {"GET": DATA, "TTL": 3600}
    return [[DATA] * (len(c) - 1) if c[0] == "MGET" else answers.get(c[0], b"OK") for c in commands]


def cpu(fn: Callable[[], Any], n: int) -> float:
    for _ in range(min(500, n)):
        fn()
    started = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - started) / n * 1e6


def main(rounds: int = 5) -> None:
    with RedisServer() as server:
        runtime.use_settings(load_settings(environ={"REDIS_URL": server.url}, read_file=False))
        try:
            roleredis.redis_write_many(MAPPING, role="bench")
            real = executor._exchange
            executor._exchange = canned
            try:
                calls: dict[str, tuple[Callable[[], Any], int, int]] = {
                    "redis_write": (
                        lambda: roleredis.redis_write("s", VALUE, role="bench"),
                        20000,
                        1,
                    ),
                    "redis_read": (lambda: roleredis.redis_read("m1", role="bench"), 20000, 1),
                    "redis_write_many, per key": (
                        lambda: roleredis.redis_write_many(MAPPING, role="bench"),
                        100,
                        1000,
                    ),
                    "redis_read_many, per key": (
                        lambda: roleredis.redis_read_many(KEYS, role="bench"),
                        100,
                        1000,
                    ),
                }
                for name, (fn, _, _) in calls.items():
                    result = fn()
                    assert result["success"], (name, result)
                figures: dict[str, list[float]] = {name: [] for name in calls}
                for _ in range(rounds):
                    for name, (fn, n, per) in calls.items():
                        figures[name].append(cpu(fn, n) / per)
            finally:
                executor._exchange = real
        finally:
            runtime.use_settings(None)
    for name, values in figures.items():
        print(f"{name:26s} median {statistics.median(values):6.2f} us  (min {min(values):.2f})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
