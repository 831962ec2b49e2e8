"""Issue 24, item 3: the local tier kept true by the server (CLIENT TRACKING, default mode,
REDIRECT to a connection subscribed to ``__redis__:invalidate``) on every real backend, and
by the role's invalidation log on the embedded one. A change by any client reaches the tier
within 100 ms; the tier is emptied when the invalidation connection (or a tracking reader) is
killed, and filled again once it is back; a read racing an invalidation never leaves a stale
entry. (Across processes: test_caching_processes.py.)"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
import redis

from roleredis import RoleStore, acting_as, cached, metrics
from roleredis.core import localtier

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")
TRACKING = ("redis", "sentinel", "cluster", "cluster_spread")
ROLE = "tracked"


def until(condition: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.002)


def _tiered(size: int = 8, **options: Any) -> tuple[Any, dict[str, Any]]:
    source: dict[str, Any] = {"v": 1}

    @cached(ttl=60, local=size, **options)
    def value(name: str) -> Any:
        return source["v"]

    return value, source


def _tier(func: Any) -> localtier.LocalCache:
    return func.cache.local_cache(RoleStore(ROLE))  # type: ignore[no-any-return]


def _filled(func: Any, name: str = "x") -> localtier.LocalCache:
    """Call until the call is a local hit; the local tier."""
    metrics.reset_metrics()
    until(lambda: (func(name), _local_hits())[1] > 0)
    return _tier(func)


def _local_hits() -> int:
    return int(metrics.snapshot()["cache"].get(ROLE, {}).get("local_hits", 0))


def _encoded(value: Any, key: str) -> bytes:
    return RoleStore(ROLE).scope.encode(value, key)


def test_tracking_on_a_server_the_log_on_the_embedded_backend(backend: str) -> None:
    value, _ = _tiered()
    with acting_as(ROLE):
        tier = _filled(value)
    assert tier.follower.mode == ("log" if backend == "memory" else "tracking")
    assert tier.follower.live


def _seen_within_100ms(value: Any, change: Any, expected: Any) -> None:
    """``change()`` made by another client reaches ``value("x")`` within 100 ms."""
    changed = time.monotonic()
    change()
    until(lambda: value("x") == expected, 1)
    assert time.monotonic() - changed < 0.1


@pytest.mark.backends(*TRACKING)
def test_a_change_by_any_client_reaches_the_tier_within_100ms(raw: redis.Redis) -> None:
    value, source = _tiered()
    with acting_as(ROLE):
        _filled(value)
        key = value.cache.key("x")
        # another client (not roleredis: nothing is logged) overwrites the entry
        _seen_within_100ms(value, lambda: raw.set(key, _encoded(2, key), px=60_000), 2)
        _filled(value)
        source["v"] = 3  # and deletes it: the next call computes again
        _seen_within_100ms(value, lambda: raw.delete(key), 3)


@pytest.mark.backends(*TRACKING)
def test_a_sliding_entry_stays_tracked_after_its_reads_renew_it(raw: redis.Redis) -> None:
    # GETEX changes the key, which ends its tracking: the tracked read tracks it again
    value, _ = _tiered(sliding=True)
    with acting_as(ROLE):
        _filled(value)
        key = value.cache.key("x")
        _seen_within_100ms(value, lambda: raw.set(key, _encoded(2, key), px=60_000), 2)
        assert raw.pttl(key) > 50_000


def _killed(tier: localtier.LocalCache, which: str) -> None:
    watch = tier.follower
    assert isinstance(watch, localtier.Tracker) and watch.link is not None
    link = watch.link
    ids = [link.listener_id] if which == "listener" else link.reader_ids()
    assert ids
    node = watch.node()
    for client_id in ids:
        assert node.execute_command("CLIENT", "KILL", "ID", client_id) == 1


@pytest.mark.backends(*TRACKING)
@pytest.mark.parametrize("which", ["listener", "reader"])
def test_the_tier_is_emptied_when_a_tracking_connection_is_killed(which: str) -> None:
    value, source = _tiered()
    with acting_as(ROLE):
        tier = _filled(value)
        watch = tier.follower
        assert tier.entries and watch.drops == 0
        _killed(tier, which)
        # the listener's read ends at once; an idle reader is found within CHECK_EVERY
        until(lambda: watch.drops >= 1, 3)
        assert not tier.entries
        source["v"] = 2  # what the tier held is not served again
        assert value("x") == 1  # (from Redis: the entry is still there)
        _filled(value)  # the link is made again and the tier fills again
        assert tier.entries and watch.live


@pytest.mark.backends(*TRACKING)
def test_a_read_racing_a_change_never_leaves_a_stale_entry(raw: redis.Redis) -> None:
    value, _ = _tiered()
    with acting_as(ROLE):
        tier = _filled(value)
        key = value.cache.key("x")
        watch = tier.follower
        read = watch.read
        news = iter([2, 3])

        def racing(calls: list[Any], *, settle: bool) -> Any:
            replies = read(calls)  # the old value read (and the key tracked) ...
            raw.set(key, _encoded(next(news), key), px=60_000)  # ... then changed
            if settle:  # the invalidation handled before the caller keeps the value
                until(lambda: watch.epoch != seen, 1)
            return replies

        for settle in (True, False):
            tier.clear()  # the next call reads from Redis
            seen = watch.epoch
            watch.read = lambda calls, settle=settle: racing(calls, settle=settle)  # type: ignore[method-assign]
            try:
                stale = value("x")  # what was read is returned ...
            finally:
                del watch.read
            if settle:
                assert not tier.entries  # ... and not kept
            until(lambda s=stale: value("x") != s, 0.1)  # ... or dropped when the news came
        assert value("x") == 3 and next(news, None) is None


@pytest.mark.backends(*TRACKING)
def test_reads_racing_many_changes_end_with_the_last(raw: redis.Redis) -> None:
    value, _ = _tiered()
    with acting_as(ROLE):
        _filled(value)
        key = value.cache.key("x")
        olds = [_encoded(n, key) for n in range(2, 40)]
        stop = threading.Event()
        seen: list[Any] = []

        def reader() -> None:
            with acting_as(ROLE):
                while not stop.is_set():
                    seen.append(value("x"))

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            for data in olds:
                raw.set(key, data, px=60_000)
                time.sleep(0.002)
            raw.set(key, _encoded(100, key), px=60_000)
            time.sleep(0.1)
            assert value("x") == 100
        finally:
            stop.set()
            thread.join(10)
        assert _local_hits() > 0 and len(set(seen)) > 2


@pytest.mark.backends(*TRACKING)
def test_a_flush_empties_the_tier_and_tracking_goes_on(raw: redis.Redis, backend: str) -> None:
    value, source = _tiered()
    with acting_as(ROLE):
        tier = _filled(value)
        watch = tier.follower
        drops = watch.drops
        if backend.startswith("cluster"):
            watch.node().flushdb()
        else:
            raw.flushdb()
        until(lambda: not tier.entries, 1)
        assert watch.live and watch.drops == drops
        source["v"] = 2
        assert value("x") == 2
        _filled(value)


def test_the_local_hit_path_keeps_types_apart_and_invalidation_drops_every_local_key() -> None:
    computed: list[Any] = []

    @cached(ttl=60, local=16)
    def echo(x: Any, y: int = 0) -> str:
        computed.append(x)
        return f"{type(x).__name__}:{x!r}:{y}"

    def kept(*args: Any, **kwargs: Any) -> str:
        """Call until the call is a local hit; its value."""
        hits = _local_hits()
        until(lambda: (echo(*args, **kwargs), _local_hits())[1] > hits)
        return echo(*args, **kwargs)  # type: ignore[no-any-return]

    with acting_as(ROLE):
        metrics.reset_metrics()
        # 1, True, 1.0 and "1" are equal or alike as tuple members: four entries, never mixed
        assert [kept(x) for x in (1, True, 1.0, "1")] == [
            "int:1:0",
            "bool:True:0",
            "float:1.0:0",
            "str:'1':0",
        ]
        assert kept(1, 0) == kept(x=1) == "int:1:0"  # one entry, kept under three local keys
        before = len(computed)
        assert echo.cache.invalidate(1)  # type: ignore[attr-defined]
        assert echo(1) == echo(x=1) == echo(1, 0) == "int:1:0"
        assert len(computed) == before + 1  # every local key of the entry was dropped


@pytest.mark.backends(*TRACKING)
def test_an_async_functions_tier_is_tracked_too(raw: redis.Redis) -> None:
    source = {"v": 1}

    @cached(ttl=60, local=4)
    async def value(name: str) -> int:
        return source["v"]

    async def scenario() -> None:
        with acting_as(ROLE):
            metrics.reset_metrics()
            deadline = time.monotonic() + 10
            while _local_hits() == 0:  # the tracked read runs in a worker thread
                assert time.monotonic() < deadline
                await value("x")
            assert _tier(value).follower.mode == "tracking"
            source["v"] = 2
            changed = time.monotonic()
            raw.delete(value.cache.key("x"))  # type: ignore[attr-defined]
            while await value("x") != 2:
                assert time.monotonic() - changed < 1
            assert time.monotonic() - changed < 0.1

    asyncio.run(scenario())


def test_a_stopped_watch_is_followed_by_a_new_one_on_the_next_miss() -> None:
    # (a local hit looks in the last tier it used without asking whether its watch still
    # runs: a stopped watch's tier is empty, and the miss that follows must find a new one)
    value, _ = _tiered()
    with acting_as(ROLE):
        old = _filled(value).follower
        value("x")  # a local hit through the decorator's own store
        old.stop()
        assert not old.live
        metrics.reset_metrics()
        until(lambda: (value("x"), _local_hits())[1] > 0)  # fills again: a new watch
        tier = _tier(value)
        assert tier.follower is not old and tier.follower.live
