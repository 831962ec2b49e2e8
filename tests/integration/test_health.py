"""Issue 2, section 7: redis_health_check returns the guide's fields plus latency_ms, role, the
server mode and pool usage; it probes with PING and a write/read/delete of a short-lived key in
the caller's own namespace, which it leaves clean."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from roleredis import acting_as, redis_get_keys, redis_health_check, redis_read, redis_write

pytestmark = pytest.mark.backends("redis", "memory")


@pytest.mark.real_server
def test_health_check_reports_the_real_server(raw: redis.Redis) -> None:
    result = redis_health_check(role="weather")
    assert result["success"] is True, result
    assert result["connected"] is True
    assert result["redis_version"] == raw.info("server")["redis_version"]
    assert isinstance(result["latency_ms"], int | float)
    assert 0 <= result["latency_ms"] < 1000
    assert result["role"] == "weather"
    assert result["mode"] == "standalone"
    assert isinstance(result["pool"], dict) and result["pool"]
    assert isinstance(result["message"], str) and result["message"]


def test_health_check_uses_the_detected_role() -> None:
    with acting_as("timer"):
        assert redis_health_check()["role"] == "timer"
    assert redis_health_check()["role"] == "unknown"


def test_health_check_pool_reports_the_configured_size(
    write_config: Callable[..., object],
) -> None:
    write_config({"pool": {"max_connections": 7}})
    pool = redis_health_check(role="w")["pool"]
    assert 7 in pool.values(), pool


def test_health_check_leaves_nothing_behind(raw: redis.Redis) -> None:
    redis_write("a", 1, role="weather")
    redis_write("b", {"x": 2}, role="weather")
    before = {k: raw.get(k) for k in raw.scan_iter()}
    for _ in range(3):
        assert redis_health_check(role="weather")["success"] is True
    after = {k: raw.get(k) for k in raw.scan_iter()}
    assert after == before
    assert redis_get_keys(role="weather")["keys"] == ["a", "b"]
    assert redis_read("b", role="weather")["value"] == {"x": 2}


@pytest.mark.real_server
def test_health_check_probes_with_ping(
    commandstats: Callable[[], dict[str, int]],
) -> None:
    assert redis_health_check(role="weather")["success"] is True
    stats = commandstats()
    assert stats.get("ping", 0) >= 1, stats
    assert "keys" not in stats
    assert "flushdb" not in stats and "flushall" not in stats


@pytest.fixture
def keyspace_events(raw: redis.Redis) -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """Turn on keyspace notifications; the returned function collects (key, event) pairs."""
    raw.config_set("notify-keyspace-events", "KEA")
    pubsub = raw.pubsub()
    pubsub.psubscribe("__keyspace@0__:*")
    while pubsub.get_message(timeout=0.2) is not None:  # the subscribe confirmation
        pass

    def collect() -> list[tuple[str, str]]:
        events = []
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
            if message and message["type"] == "pmessage":
                key = message["channel"].decode().split(":", 1)[1]
                events.append((key, message["data"].decode()))
        return events

    try:
        yield collect
    finally:
        pubsub.close()
        raw.config_set("notify-keyspace-events", "")


@pytest.mark.real_server
def test_health_probe_key_is_short_lived_and_in_the_callers_namespace(
    keyspace_events: Callable[[], list[tuple[str, str]]], raw: redis.Redis
) -> None:
    assert redis_health_check(role="weather")["success"] is True
    events = keyspace_events()
    touched = {key for key, _ in events}
    assert touched, "the probe should write, read and delete a key"
    assert all(key.startswith("weather:") for key in touched), events
    kinds = {event for _, event in events}
    assert "set" in kinds, events
    assert "expire" in kinds, f"the probe key should be short-lived (have a TTL): {events}"
    assert "del" in kinds, f"the probe key should be deleted: {events}"
    assert raw.dbsize() == 0


# --------------------------------------------------------------------------- issue 11 §1

DEPLOYMENT_MODE = {
    "redis": "standalone",
    "memory": "embedded",
    "sentinel": "sentinel",
    "cluster": "cluster",
    "cluster_spread": "cluster",
}


def expected_nodes(backend: str, request: pytest.FixtureRequest) -> set[tuple[int, str]]:
    """(port, primary|replica) of every data node of the test's backend, asked of the nodes."""
    if backend == "memory":
        return set()
    if backend == "redis":
        return {(request.getfixturevalue("redis_server").port, "primary")}
    if backend == "sentinel":
        group = request.getfixturevalue("sentinel_group")
        primary = group.current_primary()
        return {(s.port, "primary" if s is primary else "replica") for s in group.servers()}
    cluster = request.getfixturevalue("redis_cluster")
    names = {"master": "primary", "slave": "replica"}
    return {(port, names[role]) for port, role in cluster.roles().items()}


@pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")
def test_health_check_shows_the_mode_and_the_data_nodes(
    backend: str, request: pytest.FixtureRequest
) -> None:
    result = redis_health_check(role="weather")
    assert result["success"] is True, result
    assert result["mode"] == DEPLOYMENT_MODE[backend]
    assert f"({DEPLOYMENT_MODE[backend]})" in result["message"]
    assert "nodes_error" not in result
    nodes = result["nodes"]
    assert all(set(n) == {"host", "port", "role"} for n in nodes), nodes
    assert all(n["host"] == "127.0.0.1" for n in nodes), nodes
    assert {(n["port"], n["role"]) for n in nodes} == expected_nodes(backend, request)
    assert len(nodes) == len(expected_nodes(backend, request))
    if backend.startswith("cluster"):
        assert [n["role"] for n in nodes].count("primary") == 3


@pytest.mark.backends("sentinel", "cluster")
def test_async_health_check_shows_the_same_mode_and_nodes(
    backend: str, request: pytest.FixtureRequest
) -> None:
    import asyncio

    from roleredis import aio

    result = asyncio.run(aio.redis_health_check(role="weather"))
    assert result["success"] is True, result
    assert result["mode"] == DEPLOYMENT_MODE[backend]
    assert {(n["port"], n["role"]) for n in result["nodes"]} == expected_nodes(backend, request)
