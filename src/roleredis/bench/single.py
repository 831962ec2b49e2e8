"""Single calls: redis_write and redis_read, one call a key, beside a raw redis-py loop doing
the same work (``r.set``; ``r.get`` + ``r.ttl``)."""

from __future__ import annotations

from typing import Any

from .report import Row, pair


def single_rows(
    r: Any, value: Any, raw_value: bytes, *, scale: float = 1.0, rounds: int = 3
) -> list[Row]:
    """Sync write and read rows (the role "bench", keys ``k0..k99``; raw keys ``raw:k...``)."""
    import roleredis

    rows: list[Row] = []
    n = max(200, int(3000 * scale))

    def ours_write() -> None:
        for i in range(n):
            roleredis.redis_write(f"k{i % 100}", value, role="bench")

    def raw_write() -> None:
        for i in range(n):
            r.set(f"raw:k{i % 100}", raw_value)

    rows.append(
        Row("sync write: redis_write vs r.set", *pair(n, ours_write, raw_write, rounds), ">= 0.85")
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
            *pair(n, ours_read, raw_read, rounds),
            ">= 0.85",
        )
    )
    return rows
