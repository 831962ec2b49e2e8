"""The cache (issue 24): a Redis hit of ``@cached`` beside a raw ``GET`` + ``orjson.loads``
loop (at least 0.85x; the entry's stored bytes are the same JSON as the raw key's: the codec
adds no envelope to a dict); a local hit's cost beyond the decorator's own argument binding
(target at most 1 us beyond it; ``Signature.bind`` alone reported too, and the local hit in
all: a call of positional str / int arguments seen before binds nothing, so that row is the
whole hit less what binding would cost); 100 concurrent misses of one key computed once."""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

import orjson

from .report import Row, pair, rate


def cache_rows(r: Any, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """The three cache rows (role "bench"; raw key ``raw:cached``)."""
    import roleredis
    from roleredis import acting_as, cached

    n = max(500, int(5000 * scale))
    value = {"sky": "clear", "temp": 21.5, "hours": list(range(8))}

    @cached(ttl=600)
    def forecast(city: str, days: int = 1) -> dict[str, Any]:
        return value

    @cached(ttl=600, local=64)
    def near(city: str, days: int = 1) -> dict[str, Any]:
        return value

    r.set("raw:cached", orjson.dumps(value))
    with acting_as("bench"):
        forecast("Oslo")

        def ours() -> None:
            for _ in range(n):
                forecast("Oslo")

        def raw() -> None:
            for _ in range(n):
                orjson.loads(r.get("raw:cached"))

        hit = pair(n, ours, raw, rounds)
        deadline = time.monotonic() + 10
        while roleredis.metrics.snapshot()["cache"]["bench"]["local_hits"] == 0:
            near("Oslo")  # until the follower is live and the entry is kept
            if time.monotonic() > deadline:
                break
        m = n * 20

        def local() -> None:
            for _ in range(m):
                near("Oslo")

        signature = inspect.signature(near.uncached)  # type: ignore[attr-defined]

        def binding() -> None:
            for _ in range(m):
                signature.bind("Oslo").apply_defaults()

        own = near.cache.bind  # type: ignore[attr-defined]

        def own_binding() -> None:
            for _ in range(m):
                own(("Oslo",), {})

        local_us = 1e6 / rate(m, local, rounds)
        bind_us = 1e6 / rate(m, binding, rounds)
        own_us = 1e6 / rate(m, own_binding, rounds)
        computed = []

        @cached(ttl=600)
        def slow(key: str) -> str:
            computed.append(key)
            time.sleep(0.2)
            return key

        def burst() -> None:
            go = threading.Event()

            def call() -> None:
                with acting_as("bench"):
                    go.wait()
                    slow("one")

            threads = [threading.Thread(target=call) for _ in range(100)]
            for t in threads:
                t.start()
            go.set()
            for t in threads:
                t.join()

        started = time.perf_counter()
        burst()
        took = time.perf_counter() - started
    return [
        Row("cache: a Redis hit of @cached vs GET + orjson.loads", *hit, ">= 0.85", "calls/s"),
        Row("cache: Signature.bind + apply_defaults alone", bind_us, None, "measured", "us/call"),
        Row("cache: the decorator's own argument binding", own_us, None, "measured", "us/call"),
        Row("cache: a local hit in all", local_us, None, "measured", "us/call"),
        Row(
            "cache: a local hit beyond the decorator's own argument binding",
            local_us - own_us,
            None,
            "<= 1",
            "us/call",
        ),
        Row(
            f"cache: 100 concurrent misses of one key (200 ms function; {took:.2f} s)",
            len(computed),
            None,
            "<= 1",
            "computations",
        ),
    ]
