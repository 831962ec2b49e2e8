"""Metrics (issue 4, section 4): counts, errors by error_code and latency histograms per
operation and role; the fire-and-forget queue; pool usage; Prometheus exposition."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from roleredis import aio, redis_flush, redis_read, redis_write, redis_write_async
from roleredis.table import metrics

pytestmark = pytest.mark.backends("redis", "memory")


@pytest.fixture(autouse=True)
def _fresh_metrics() -> None:
    metrics.reset_metrics()


def test_counts_errors_and_latency_per_operation_and_role() -> None:
    for i in range(5):
        assert redis_write(f"k{i}", i, role="alpha")["success"] is True
    assert redis_read("k1", role="alpha")["success"] is True
    assert redis_read("missing", role="alpha")["error_code"] == "not_found"
    assert redis_write("k", float("nan"), role="beta")["error_code"] == "serialization"
    assert redis_write("k", 1, role="bad:role")["error_code"] == "invalid_argument"

    ops = metrics.snapshot()["operations"]
    assert ops["write"]["alpha"]["count"] == 5
    assert ops["write"]["alpha"]["errors"] == {}
    assert ops["read"]["alpha"]["count"] == 2
    assert ops["read"]["alpha"]["errors"] == {"not_found": 1}
    assert ops["write"]["beta"]["errors"] == {"serialization": 1}
    assert ops["write"]["(none)"]["errors"] == {"invalid_argument": 1}
    latency = ops["write"]["alpha"]["latency"]
    assert latency["count"] == 5
    assert latency["buckets"][float("inf")] == 5
    assert 0 < latency["sum"] < 5
    counts = list(latency["buckets"].values())
    assert counts == sorted(counts)  # cumulative


def test_aio_calls_are_counted_too() -> None:
    async def main() -> None:
        await aio.redis_write("k", 1, role="gamma")
        await aio.redis_read("k", role="gamma")

    asyncio.run(main())
    ops = metrics.snapshot()["operations"]
    assert ops["write"]["gamma"]["count"] == 1
    assert ops["read"]["gamma"]["count"] == 1


def test_queue_depth_and_pool_usage_are_reported() -> None:
    for i in range(100):
        assert redis_write_async(f"a{i}", i, role="delta")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    data = metrics.snapshot()
    assert data["operations"]["write_async"]["delta"]["count"] == 100
    assert data["background"]["pending"] == 0
    assert data["background"]["written"] >= 100
    redis_read("a1", role="delta")
    pool = metrics.snapshot()["pool"]
    assert pool is not None and pool["in_use"] == 0 and pool["idle"] >= 1


def test_prometheus_exposition() -> None:
    registry = CollectorRegistry()
    metrics.register_prometheus(registry)
    redis_write("k", 1, role="eps")
    redis_read("nope", role="eps")
    text = generate_latest(registry).decode()
    assert 'roleredis_operations_total{operation="write",role="eps"} 1.0' in text
    assert 'roleredis_errors_total{error_code="not_found",operation="read",role="eps"} 1.0' in text
    assert 'roleredis_latency_seconds_bucket{le="+Inf",operation="write",role="eps"} 1.0' in text
    assert 'roleredis_background{what="pending"}' in text
