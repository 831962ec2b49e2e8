"""asyncio: roleredis.aio's redis_write and redis_read beside a raw ``redis.asyncio`` client
doing the same work (``set``; ``get`` + ``ttl``), one await a key."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
import redis.asyncio

from .report import Row


def aio_rows(
    url: str, value: Any, raw_value: bytes, *, scale: float = 1.0, rounds: int = 3
) -> list[Row]:
    """aio write and read rows against the server at ``url`` (roleredis already points there)."""
    from roleredis.faces import aio

    rows: list[Row] = []
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
    return rows
