"""Leases: ``redis_acquire`` + ``redis_release`` of one name, one pair a lease, beside a raw
redis-py loop taking and dropping a plain lock the usual way (``SET k token NX PX`` + ``DEL``):
two round trips each (issue 22: at most 2x the raw pair's time)."""

from __future__ import annotations

from typing import Any

from .report import Row, pair


def lease_rows(r: Any, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """The acquire + release row (the role "bench", lease ``nightly``; raw key ``raw:lock``)."""
    import roleredis

    n = max(200, int(3000 * scale))
    roleredis.redis_release("nightly", "warm", role="bench")  # loads the functions if missing

    def ours() -> None:
        for _ in range(n):
            got = roleredis.redis_acquire("nightly", 30, role="bench")
            roleredis.redis_release("nightly", got["token"], role="bench")

    def raw() -> None:
        for i in range(n):
            r.set("raw:lock", i, nx=True, px=30_000)
            r.delete("raw:lock")

    return [
        Row(
            "lease: redis_acquire + redis_release vs SET NX PX + DEL",
            *pair(n, ours, raw, rounds),
            ">= 0.5",
            "pairs/s",
        )
    ]
