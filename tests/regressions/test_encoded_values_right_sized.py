"""orjson >= 3.12 hands back its whole working buffer (at least 4 KiB) for a 100-byte value;
a fire-and-forget write keeps its encoded value in the queue, so 100,000 pending writes held
450 MiB. An encoded value must hold about its own size (sys.getsizeof hides the difference;
tracemalloc sees it)."""

from __future__ import annotations

import tracemalloc

from roleredis.core import codec

VALUE = {"event": "user_login", "user": 123456, "tags": ["a", "b", "c"], "note": "x" * 40}


def _bytes_held_per_value(n: int = 2000) -> float:
    tracemalloc.start()
    try:
        kept = [codec.encode(VALUE) for _ in range(n)]
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(kept) == n
    return current / n


def test_an_encoded_value_holds_about_its_own_size() -> None:
    size = len(codec.encode(VALUE))
    assert 80 < size < 200
    # bytes object header (33) + data, plus the list slot; 4 KiB when the buffer is not trimmed
    assert _bytes_held_per_value() < size + 100
