"""The MSET and MGET limit rows of ``roleredis bench --limits`` on their own, in a fresh
process: redis_write_many / redis_read_many of 1,000 keys against the hand-written client
(``bench.limits.HandClient``: orjson, hiredis pack_command, one socket, hiredis Reader), 7
interleaved rounds of 30 calls, medians in us per key and the ratios (hand / roleredis time).

It prints each side's time per key as well as the ratios: the hand client's MSET runs at two
speeds (about 0.73 and 1.35 us per key pinned on the 2-core VM), here and in the full
``--limits`` run, from process to process (its orjson output is a 4 KiB buffer per value,
so the allocator's state, which the rest of the process shapes, decides how much of it is
page faults); read roleredis's own time beside the ratio. Run before and after in one
session::

    PYTHONPATH=<before>/src taskset -c 0 python benchmarks/many_limits.py
    taskset -c 0 python benchmarks/many_limits.py
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import orjson

import roleredis
from roleredis import runtime
from roleredis.bench.limits import HandClient, pack
from roleredis.foundation.config import load_settings
from roleredis.testing import RedisServer

VALUE = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
MAPPING = {f"m{i}": VALUE for i in range(1000)}
KEYS = list(MAPPING)


def main(rounds: int = 7, times: int = 30) -> None:
    with RedisServer() as server:
        runtime.use_settings(load_settings(environ={"REDIS_URL": server.url}, read_file=False))
        hand = HandClient(server.url)

        def hand_write() -> None:
            dumps = orjson.dumps
            hand.send(pack(("MSET", *(x for k in KEYS for x in (f"hand:{k}", dumps(VALUE))))), 1)

        def hand_read() -> None:
            for reply in hand.send(pack(("MGET", *(f"hand:{k}" for k in KEYS))), 1)[0]:
                orjson.loads(reply)

        calls: dict[str, Callable[[], Any]] = {
            "hand MSET": hand_write,
            "redis_write_many": lambda: roleredis.redis_write_many(MAPPING, role="bench"),
            "hand MGET": hand_read,
            "redis_read_many": lambda: roleredis.redis_read_many(KEYS, role="bench"),
        }
        figures: dict[str, list[float]] = {name: [] for name in calls}
        try:
            for _ in range(rounds):
                for name, fn in calls.items():
                    started = time.perf_counter()
                    for _ in range(times):
                        fn()
                    figures[name].append((time.perf_counter() - started) / times / 1000 * 1e6)
        finally:
            hand.close()
            runtime.use_settings(None)
    median = {name: statistics.median(values) for name, values in figures.items()}
    for name, us in median.items():
        print(f"{name:18s} {us:6.3f} us per key")
    print(
        f"MSET limit: redis_write_many {median['hand MSET'] / median['redis_write_many']:.2f}x, "
        f"MGET limit: redis_read_many {median['hand MGET'] / median['redis_read_many']:.2f}x"
    )


if __name__ == "__main__":
    main()
