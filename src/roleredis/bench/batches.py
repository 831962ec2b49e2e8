"""Batches: redis_write_many and redis_read_many of 1000 keys beside a non-transactional
redis-py pipeline of 1000 SETs or GETs."""

from __future__ import annotations

from typing import Any

from .report import Row, pair


def batch_rows(
    r: Any, value: Any, raw_value: bytes, *, scale: float = 1.0, rounds: int = 3
) -> list[Row]:
    """write_many and read_many rows, in keys/s (the role "bench"; raw keys ``raw:m...``)."""
    import roleredis

    rows: list[Row] = []
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
            *pair(reps * batch, ours_write_many, raw_write_many, rounds),
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
            *pair(reps * batch, ours_read_many, raw_read_many, rounds),
            ">= 1.5",
            "keys/s",
        )
    )
    return rows
