"""On a local Redis Cluster (3 primaries + 3 replicas): roleredis in both key layouts beside raw
``RedisCluster``, server memory per key with the index off and on, and listing costs."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from .fire_and_forget import VALUE_108
from .index import list_and_clear_lonely
from .report import Row, pair, rate


def cluster_pairs(
    cluster: Any, *, colocate: bool, scale: float = 1.0, rounds: int = 3
) -> list[Row]:
    """roleredis on a local cluster (``colocate_roles`` as given) beside raw redis-py
    ``RedisCluster`` doing the same work: sync write and read, write_many/read_many(1000) vs a
    non-transactional cluster pipeline, fire-and-forget vs a raw loop and a pipeline of 100.

    Raw keys follow the same layout: ``{raw}:...`` (one slot, one node) when roles are
    co-located, plain ``raw:...`` (spread over the nodes) when they are not.
    """
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    base = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
    runtime.use_settings(base.replace(colocate_roles=colocate))
    r: Any = redis.RedisCluster(
        startup_nodes=cluster.startup_nodes(), socket_timeout=5.0, socket_connect_timeout=5.0
    )
    layout = "co-located" if colocate else "spread"
    raw_prefix = "{raw}:" if colocate else "raw:"
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    raw_value = json.dumps(value).encode()
    n = max(200, int(3000 * scale))
    batch = 1000
    reps = max(2, int(10 * scale))
    m = max(5000, int(50_000 * scale))
    mapping = {f"m{i}": value for i in range(batch)}
    keys = list(mapping)
    raw_keys = [f"{raw_prefix}m{i}" for i in range(batch)]

    def ours_write() -> None:
        for i in range(n):
            roleredis.redis_write(f"k{i % 100}", value, role="bench")

    def raw_write() -> None:
        for i in range(n):
            r.set(f"{raw_prefix}k{i % 100}", raw_value)

    def ours_read() -> None:
        for i in range(n):
            roleredis.redis_read(f"k{i % 100}", role="bench")

    def raw_read() -> None:
        for i in range(n):
            r.get(f"{raw_prefix}k{i % 100}")
            r.ttl(f"{raw_prefix}k{i % 100}")

    def ours_write_many() -> None:
        for _ in range(reps):
            roleredis.redis_write_many(mapping, role="bench")

    def raw_pipeline(command: str) -> Callable[[], None]:
        def run() -> None:
            for _ in range(reps):
                pipe = r.pipeline(transaction=False)
                for key in raw_keys:
                    if command == "set":
                        pipe.set(key, raw_value)
                    else:
                        pipe.get(key)
                pipe.execute()

        return run

    def ours_read_many() -> None:
        for _ in range(reps):
            roleredis.redis_read_many(keys, role="bench")

    def ours_async() -> None:
        for i in range(m):
            roleredis.redis_write_async(f"a{i}", value, role="bench")
        if not roleredis.redis_flush(60)["success"]:
            raise RuntimeError("flush failed")

    def raw_pipeline_100() -> None:
        for start in range(0, m, 100):
            pipe = r.pipeline(transaction=False)
            for i in range(start, start + 100):
                pipe.set(f"{raw_prefix}a{i}", raw_value)
            pipe.execute()

    rows: list[Row] = []
    try:
        ours_write()  # warm: connections, the slot map
        raw_write()
        write = pair(n, ours_write, raw_write, rounds)
        rows.append(Row(f"cluster ({layout}) sync write vs RedisCluster.set", *write, ">= 0.85"))
        rows.append(
            Row(
                f"cluster ({layout}) sync read vs RedisCluster.get + ttl",
                *pair(n, ours_read, raw_read, rounds),
                ">= 0.85",
            )
        )
        for name, ours, raw in (
            ("write_many(1000)", ours_write_many, raw_pipeline("set")),
            ("read_many(1000)", ours_read_many, raw_pipeline("get")),
        ):
            rows.append(
                Row(
                    f"cluster ({layout}) {name} vs RedisCluster pipeline",
                    *pair(reps * batch, ours, raw, rounds),
                    ">= 1.5",
                    "keys/s",
                )
            )
        ours_async()  # warm: the writer thread
        fire = rate(m, ours_async, rounds)
        rows.append(
            Row(f"cluster ({layout}) fire-and-forget vs raw set loop", fire, write[1], ">= 15")
        )
        p100 = rate(m, raw_pipeline_100, rounds)
        rows.append(
            Row(f"cluster ({layout}) fire-and-forget vs pipeline of 100", fire, p100, ">= 2")
        )
    finally:
        roleredis.redis_clear_role_data("bench")
        runtime.use_settings(None)
        for key in r.scan_iter(f"{raw_prefix}*", count=1000):
            r.unlink(key)
        r.close()
    return rows


def _used_memory(r: Any) -> int:
    """used_memory summed over the cluster's primaries."""
    info = r.info("memory", target_nodes=redis.RedisCluster.PRIMARIES)
    return sum(int(node["used_memory"]) for node in info.values())


def cluster_memory(cluster: Any, *, keys: int = 200_000) -> list[Row]:
    """Bytes of server memory per key of a 108-byte value (summed over the primaries), with
    the role's key index off and on, written with redis_write_many in batches of 1000."""
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    base = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
    r = redis.RedisCluster(startup_nodes=cluster.startup_nodes())
    rows = []
    try:
        for flag in (False, True):
            runtime.use_settings(base.replace(index=flag))
            roleredis.redis_clear_role_data("mem")
            before = _used_memory(r)
            for start in range(0, keys, 1000):
                chunk = {f"event:{i:09d}": VALUE_108 for i in range(start, start + 1000)}
                if not roleredis.redis_write_many(chunk, role="mem")["success"]:
                    raise RuntimeError("write_many failed")
            per_key = (_used_memory(r) - before) / keys
            roleredis.redis_clear_role_data("mem")
            rows.append(
                Row(
                    f"server memory per key, 108-byte value, index {'on' if flag else 'off'}",
                    per_key,
                    None,
                    "measured",
                    "bytes",
                )
            )
    finally:
        runtime.use_settings(None)
        r.close()
    return rows


def cluster_listing(cluster: Any, *, others: int = 300_000, mine: int = 10) -> list[Row]:
    """A 10-key role among ``others`` keys spread over the cluster: redis_get_keys and
    redis_clear_role_data (ms), for each layout, with SCAN (index off) and with the index."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    r: Any = redis.RedisCluster(startup_nodes=cluster.startup_nodes())
    for start in range(0, others, 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(others, start + 1000)):
            pipe.set(f"crowd:{i}", b"1")
        pipe.execute()
    base = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
    rows = []
    try:
        for colocate in (True, False):
            timings = list_and_clear_lonely(base.replace(colocate_roles=colocate), mine)
            layout = "co-located" if colocate else "spread"
            where = f"{mine} keys among {others:,}, {layout}"
            rows.append(
                Row(
                    f"cluster redis_get_keys, {where}: index vs SCAN",
                    timings[True][0],
                    timings[False][0],
                    "measured",
                    "ms",
                )
            )
            rows.append(Row(f"cluster redis_clear_role_data, {where}: index vs SCAN",
                            timings[True][1], timings[False][1], "measured", "ms"))  # fmt: skip
    finally:
        runtime.use_settings(None)
        r.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
        r.close()
    return rows


def run_cluster(*, scale: float = 1.0, rounds: int = 3) -> tuple[str, list[Row]]:
    """Start a local cluster (3 primaries + 3 replicas) and run every cluster benchmark on it."""
    from ..testing.cluster import RedisClusterProcesses

    with RedisClusterProcesses() as cluster:
        client = cluster.client()
        try:
            version = str(client.info("server", target_nodes=redis.RedisCluster.RANDOM)
                          ["redis_version"])  # fmt: skip
        finally:
            client.close()
        rows = cluster_pairs(cluster, colocate=True, scale=scale, rounds=rounds)
        rows += cluster_pairs(cluster, colocate=False, scale=scale, rounds=rounds)
        rows += cluster_memory(cluster, keys=max(20_000, int(200_000 * scale)))
        rows += cluster_listing(cluster, others=max(30_000, int(300_000 * scale)))
    return f"{version} (cluster: 3 primaries + 3 replicas, one machine)", rows
