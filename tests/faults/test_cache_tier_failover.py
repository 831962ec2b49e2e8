"""Issue 24, item 3, under Sentinel: the primary is killed while a process keeps a local
tier kept true by client tracking. The tier is emptied at once (the invalidation connection
dropped with the primary), nothing it held is served again, and after the failover the
tracking link is made again on the new primary: the tier fills again and a change by another
client reaches it within 100 ms."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from roleredis import RoleStore, acting_as, cached, metrics, reset
from roleredis.core import localtier
from roleredis.testing.cluster import SentinelGroup

ROLE = "failover"


@pytest.fixture
def group(monkeypatch: pytest.MonkeyPatch, write_config: object) -> Iterator[SentinelGroup]:
    with SentinelGroup() as started:
        monkeypatch.setenv("REDIS_URL", started.url)
        reset()
        try:
            yield started
        finally:
            reset()


def _until(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def test_the_tier_is_emptied_by_a_failover_and_tracked_again_after(group: SentinelGroup) -> None:
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
        old = group.current_primary()

        old.kill()
        _until(lambda: watch.drops >= 1, 2)  # the listener's connection dropped
        assert not tier.entries and not watch.live
        new = group.wait_for_failover(old)

        # the tier fills again once the link is made on the new primary (calls meanwhile
        # fail over to computing, or read the replicated entry)
        calls_until_local_hit(30)
        assert watch.live and tier.entries
        key = value.cache.key("x")  # type: ignore[attr-defined]
        raw = new.client()
        try:
            stored = raw.get(key)
            assert stored is not None
            source["v"] = 2
            changed = time.monotonic()
            raw.delete(key)  # another client, on the new primary
            _until(lambda: value("x") == 2, 1)
            assert time.monotonic() - changed < 0.1
        finally:
            raw.close()
