"""The request/reply benchmarks (roleredis.bench.requests) run once at a tiny scale against
the throwaway server, so the bench code cannot rot: its processes start, answer and stop,
and it gives its three rows. No figure is checked (timings are not assertions)."""

from __future__ import annotations

import pytest

from roleredis.bench.requests import request_rows

pytestmark = pytest.mark.backends("redis")


def test_request_rows_run_at_a_tiny_scale(redis_url: str) -> None:
    rows = request_rows(redis_url, scale=0.001, rounds=1)
    assert [row.unit for row in rows] == ["ms", "ms", "req/s"]
    assert [row.target for row in rows] == ["<= 3", "measured", "measured"]
    for row in rows:
        assert row.ours > 0 and row.raw is not None and row.raw > 0, row
    p50, p99 = rows[0], rows[1]
    assert p50.ours <= p99.ours and p50.raw is not None and p99.raw is not None
    assert p50.raw <= p99.raw
