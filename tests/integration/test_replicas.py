"""Replication is asynchronous: a write the primary acknowledged and lost before replicating
is the one loss Redis allows. ``replicas=N`` on sync writes and ``async.wait_replicas: N`` for
the fire-and-forget writer make that visible (issue 11, item 4), on one primary with a replica
and on a cluster. A replica is paused (SIGSTOP) to make replication fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from roleredis import aio, redis_flush, redis_write, redis_write_async, redis_write_many
from roleredis.testing import RedisServer
from roleredis.testing.cluster import RedisClusterProcesses
from roleredis.transport.writer import process as background

WriteConfig = Callable[[dict[str, Any]], Path]


def _synced(replica: RedisServer, timeout: float = 30.0) -> None:
    client = replica.client()
    try:
        deadline = time.monotonic() + timeout
        while client.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise AssertionError("the replica did not sync")
            time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and its replica."""
    with RedisServer() as primary:
        replica = RedisServer(
            extra_args=(
                "--replicaof",
                "127.0.0.1",
                str(primary.port),
                "--repl-diskless-sync-delay",
                "0",
            )
        )
        with replica:
            _synced(replica)
            yield primary, replica


def _config(wait_timeout: float = 0.3, **writer: Any) -> dict[str, Any]:
    """Settings with a short WAIT (0.3 s: a paused replica fails fast); a test that only
    expects success gives a long one (WAIT returns as soon as the replica answers, and under
    load an answer took longer than 0.3 s)."""
    return {
        "connection": {"socket_timeout": 5, "socket_connect_timeout": 1},
        "async": {"wait_timeout": wait_timeout, "drain_timeout": 1, **writer},
    }


@pytest.fixture
def on_pair(
    pair: tuple[RedisServer, RedisServer], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RedisServer, RedisServer]]:
    primary, replica = pair
    monkeypatch.setenv("REDIS_URL", primary.url)
    yield primary, replica
    if replica.paused:
        replica.resume()
    client = primary.client()
    try:
        client.flushdb()
    finally:
        client.close()


def test_replicated_sync_writes_succeed(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    write_config(_config(wait_timeout=5))
    result = redis_write("k", {"v": 1}, replicas=1, role="weather")
    assert result["success"] is True, result
    many = redis_write_many({"a": 1, "b": 2}, replicas=1, role="weather")
    assert many["success"] is True, many
    assert many["written"] == 2


def test_a_write_no_replica_acknowledged_fails_clearly(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    replica = on_pair[1]
    write_config(_config())
    replica.pause()
    result = redis_write("k", {"v": 1}, replicas=1, role="weather")
    assert result["success"] is False
    assert result["error_code"] == "timeout"
    assert "landed on the primary but reached only 0 of 1 replicas" in result["error"]
    many = redis_write_many({"a": 1}, replicas=1, role="weather")
    assert many["error_code"] == "timeout"
    assert "reached only 0 of 1" in many["error"]
    assert redis_write("k", 2, role="weather")["success"] is True  # replicas=0: no wait


def test_more_replicas_than_there_are_fails_and_aio_says_the_same(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    import asyncio

    write_config(_config())
    result = asyncio.run(aio.redis_write("k", 1, replicas=2, role="weather"))
    assert result["error_code"] == "timeout"
    assert "reached only 1 of 2 replicas" in result["error"]
    ok = asyncio.run(aio.redis_write_many({"a": 1}, replicas=1, role="weather"))
    assert ok["success"] is True, ok


def test_a_bad_replicas_value_is_refused_before_sending(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    write_config(_config())
    bad_values: list[Any] = [-1, "1", True, 1.5]
    for bad in bad_values:
        result = redis_write("k", 1, replicas=bad, role="weather")
        assert result["error_code"] == "invalid_argument", bad


def test_the_writer_counts_replicated_writes(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    write_config(_config(wait_replicas=1))
    for i in range(200):
        assert redis_write_async(f"k{i}", i, role="weather")["success"] is True
    flushed = redis_flush(timeout=20)
    assert flushed["success"] is True, flushed
    assert background.stats()["written"] == 200


def test_the_writer_never_counts_unreplicated_writes_as_written(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    primary, replica = on_pair
    write_config(_config(wait_replicas=1, max_age=1))
    replica.pause()
    for i in range(20):
        redis_write_async(f"k{i}", i, role="weather")
    redis_flush(timeout=20)
    stats = background.stats()
    assert stats["written"] == 0, stats
    assert stats["given_up"] == 20, stats
    client = primary.client()
    try:  # they did land on the primary: only their replication is unknown
        assert client.get("weather:k0") == b"0"
    finally:
        client.close()


def test_the_writer_resends_until_the_replica_is_back(
    on_pair: tuple[RedisServer, RedisServer], write_config: WriteConfig
) -> None:
    replica = on_pair[1]
    write_config(_config(wait_replicas=1, max_age=60))
    replica.pause()
    for i in range(20):
        redis_write_async(f"k{i}", i, role="weather")
    time.sleep(0.8)
    assert background.stats()["written"] == 0
    replica.resume()
    flushed = redis_flush(timeout=20)
    assert flushed["success"] is True, flushed
    stats = background.stats()
    assert stats["written"] == 20 and stats["given_up"] == 0, stats


# --------------------------------------------------------------------------- cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses(extra_args=("--repl-diskless-sync-delay", "0")) as started:
        for node in started.nodes:
            if node.running and started.roles()[node.port] == "slave":
                _synced(node)
        yield started


def _replica_of(cluster: RedisClusterProcesses, primary: RedisServer) -> RedisServer:
    for node in cluster.nodes:
        client = node.client()
        try:
            info = client.info("replication")
        finally:
            client.close()
        if info["role"] == "slave" and int(info["master_port"]) == primary.port:
            return node
    raise AssertionError("no replica")


@pytest.fixture
def on_cluster(
    cluster: RedisClusterProcesses, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RedisClusterProcesses]:
    monkeypatch.setenv("REDIS_URL", cluster.url)
    yield cluster
    for node in cluster.nodes:
        if node.paused:
            node.resume()
    client = cluster.client()
    try:
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    finally:
        client.close()


@pytest.mark.parametrize("colocate", [True, False], ids=["colocated", "spread"])
def test_cluster_replicated_writes_and_the_writer(
    on_cluster: RedisClusterProcesses, write_config: WriteConfig, colocate: bool
) -> None:
    write_config(
        {**_config(wait_timeout=5, wait_replicas=1), "cluster": {"colocate_roles": colocate}}
    )
    written = redis_write("k", 1, replicas=1, role="weather")
    assert written["success"] is True, written
    many = redis_write_many({f"m{i}": i for i in range(50)}, replicas=1, role="weather")
    assert many["success"] is True, many
    for i in range(100):
        redis_write_async(f"a{i}", i, role="weather")
    assert redis_flush(timeout=20)["success"] is True
    assert background.stats()["written"] == 100


def test_cluster_a_paused_replica_fails_the_write_of_its_primary_only(
    on_cluster: RedisClusterProcesses, write_config: WriteConfig
) -> None:
    write_config(_config(wait_replicas=1, max_age=1))
    primary = on_cluster.primary_for_key("{weather}:k")
    _replica_of(on_cluster, primary).pause()
    result = redis_write("k", 1, replicas=1, role="weather")
    assert result["error_code"] == "timeout", result
    assert "reached only 0 of 1 replicas" in result["error"]
    other = next(
        role
        for role in ("w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8")
        if on_cluster.primary_for_key("{" + role + "}:k") is not primary
    )
    assert redis_write("k", 1, replicas=1, role=other)["success"] is True
    for i in range(10):
        redis_write_async(f"a{i}", i, role="weather")
    redis_flush(timeout=20)
    stats = background.stats()
    assert stats["written"] == 0 and stats["given_up"] == 10, stats
