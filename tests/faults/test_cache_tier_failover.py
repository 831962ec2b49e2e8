"""Issue 24, item 3, under Sentinel and in a Cluster: the primary (in a Cluster, the one of the
role's slot) is killed while a process keeps a local tier kept true by client tracking. The
tier is emptied at once (the invalidation connection dropped with the primary), nothing it
held is served again, and after the failover the tracking link is made again on the new
primary: the tier fills again and a change by another client reaches it within 100 ms."""

from __future__ import annotations

import time
from typing import Any

from roleredis import RoleStore, acting_as, cached, metrics
from roleredis.core import cachekeys, localtier
from roleredis.foundation.keys import Keyspace
from roleredis.testing.cluster import RedisClusterProcesses, SentinelGroup

ROLE = "failover"


def _until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def _emptied_then_tracked_again(kill: Any, new_client: Any) -> None:
    """Fill a tier, ``kill()`` the primary of the role's entries (it returns when the
    failover is done), then see the tier filled again and a change made with
    ``new_client()`` (a client of the new primary) reach it within 100 ms."""
    source = {"v": 1}

    @cached(ttl=60, local=8)
    def value(name: str) -> int:
        return source["v"]

    def local_hits() -> int:
        return int(metrics.snapshot()["cache"].get(ROLE, {}).get("local_hits", 0))

    def calls_until_local_hit(seconds: float) -> None:
        metrics.reset_metrics()
        _until(lambda: (value("x"), local_hits())[1] > 0, seconds)

    with acting_as(ROLE):
        calls_until_local_hit(10)
        tier = value.cache.local_cache(RoleStore(ROLE))  # type: ignore[attr-defined]
        watch = tier.follower
        assert isinstance(watch, localtier.Tracker) and tier.entries
        kill(lambda: watch.drops >= 1 and not tier.entries and not watch.live)
        # the tier fills again once the link is made on the new primary (calls meanwhile
        # fail over to computing, or read the replicated entry)
        calls_until_local_hit(30)
        assert watch.live and tier.entries
        key = value.cache.key("x")  # type: ignore[attr-defined]
        raw = new_client()
        try:
            assert raw.get(key) is not None
            source["v"] = 2
            changed = time.monotonic()
            raw.delete(key)  # another client, on the new primary
            _until(lambda: value("x") == 2, 1)
            assert time.monotonic() - changed < 0.1
        finally:
            raw.close()


def test_the_tier_is_emptied_by_a_sentinel_failover_and_tracked_again_after(
    group: SentinelGroup,
) -> None:
    old = group.current_primary()

    def kill(emptied: Any) -> None:
        old.kill()
        _until(emptied, 2)  # the listener's connection dropped
        group.wait_for_failover(old)

    _emptied_then_tracked_again(kill, lambda: group.current_primary().client())


def test_the_tier_is_emptied_by_a_cluster_failover_and_tracked_again_after(
    cluster: RedisClusterProcesses,
) -> None:
    entries = cachekeys.log_key(Keyspace(ROLE))  # in the role's slot, as every entry is
    old = cluster.primary_for_key(entries)

    def kill(emptied: Any) -> None:
        old.kill()
        _until(emptied, 2)
        cluster.wait_for_failover(old)

    _emptied_then_tracked_again(kill, cluster.client)
