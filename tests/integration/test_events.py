"""Issue 12, item 3: events. A role publishes to its own log per topic; any role reads it, in
order, from an id, waiting for new events if asked; a log keeps the last messaging.max_events;
aio.follow_events yields every new event, none missed between reads. On one server, the
embedded backend, a Sentinel-managed primary and a Cluster (a role's event streams share its
slot)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from roleredis import aio, redis_publish, redis_read_events, redis_write

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster")

STREAM = "__roleredis__:{weather}:events:alerts"
Config = Callable[[Mapping[str, Any]], Path]


def publish_all(values: list[Any], role: str = "weather", topic: str = "alerts") -> list[str]:
    ids = []
    for value in values:
        result = redis_publish(topic, value, role=role)
        assert result["success"] is True, result
        assert result["topic"] == topic and result["role"] == role
        ids.append(result["id"])
    return ids


def until_blocked(raw: redis.Redis, backend: str, readers: int = 1) -> None:
    """On the real server, wait until ``readers`` clients wait in a blocking read. Elsewhere
    (no INFO) return at once: the tests that call it hold whatever the order."""
    if backend != "redis":
        return
    deadline = time.monotonic() + 10
    while int(raw.info("clients")["blocked_clients"]) < readers:
        assert time.monotonic() < deadline, "the reader never started waiting"
        time.sleep(0.005)


def test_events_are_read_in_order_with_who_published_them(raw: redis.Redis) -> None:
    ids = publish_all([{"n": n} for n in range(5)])
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    read = redis_read_events("weather", "alerts", role="radar")
    assert read["success"] is True, read
    assert read["role"] == "radar" and read["from_role"] == "weather"
    assert [e["event"] for e in read["events"]] == [{"n": n} for n in range(5)]
    assert [e["id"] for e in read["events"]] == ids
    assert {(e["from"], e["topic"]) for e in read["events"]} == {("weather", "alerts")}
    assert all(e["at"] == int(e["id"].split("-")[0]) / 1000 for e in read["events"])
    assert read["count"] == 5 and read["last_id"] == ids[-1]
    assert raw.xlen(STREAM) == 5  # the publisher's own stream, in its slot


def test_paging_with_after_and_last_id(raw: redis.Redis) -> None:
    ids = publish_all(list(range(10)))
    seen: list[int] = []
    after = "0"
    pages = 0
    while True:
        read = redis_read_events("weather", "alerts", after=after, count=3, role="radar")
        assert read["success"] is True, read
        if not read["events"]:
            assert read["last_id"] == after  # nothing read: the position stays
            break
        assert len(read["events"]) <= 3
        seen += [e["event"] for e in read["events"]]
        after = read["last_id"]
        pages += 1
    assert seen == list(range(10)) and pages == 4
    middle = redis_read_events("weather", "alerts", after=ids[6], role="radar")
    assert [e["event"] for e in middle["events"]] == [7, 8, 9]


def test_a_topic_keeps_the_last_max_events(raw: redis.Redis, write_config: Config) -> None:
    write_config({"messaging": {"max_events": 5}})
    ids = publish_all(list(range(8)))
    read = redis_read_events("weather", "alerts", role="radar")
    assert [e["event"] for e in read["events"]] == [3, 4, 5, 6, 7]  # the oldest went first
    assert [e["id"] for e in read["events"]] == ids[3:]
    assert raw.xlen(STREAM) == 5
    publish_all(["one more"])
    assert raw.xlen(STREAM) == 5


def test_topics_and_roles_are_separate_logs() -> None:
    publish_all(["w-a"], topic="alerts")
    publish_all(["w-b"], topic="news")
    publish_all(["r-a"], role="radar", topic="alerts")
    for sender, topic, expected in [
        ("weather", "alerts", ["w-a"]),
        ("weather", "news", ["w-b"]),
        ("radar", "alerts", ["r-a"]),
        ("radar", "news", []),
    ]:
        read = redis_read_events(sender, topic, role="anyone")
        assert [e["event"] for e in read["events"]] == expected
        assert all(e["from"] == sender for e in read["events"])


@pytest.mark.parametrize("topic", ["", "a:b", "*", "{weather}", "x y", "é", "t" * 65, 5])
def test_a_bad_topic_is_refused_and_nothing_is_written(raw: redis.Redis, topic: Any) -> None:
    published = redis_publish(topic, 1, role="weather")
    assert published["success"] is False and published["error_code"] == "invalid_argument"
    read = redis_read_events("weather", topic, role="radar")
    assert read["success"] is False and read["error_code"] == "invalid_argument"
    assert read["events"] == [] and read["count"] == 0
    assert raw.dbsize() == 0


@pytest.mark.parametrize("sender", ["", "a:b", "__roleredis__", "we*", None, "r" * 65])
def test_the_publisher_read_from_is_validated(sender: Any) -> None:
    read = redis_read_events(sender, "alerts", role="radar")
    assert read["success"] is False and read["error_code"] == "invalid_argument", read
    assert read["from_role"] == sender


@pytest.mark.parametrize(
    ("after", "count", "block_ms"),
    [("x", 1, 0), ("1-2-3", 1, 0), (7, 1, 0), ("0", 0, 0), ("0", True, 0), ("0", 1, -5)],
)
def test_bad_positions_counts_and_waits_are_refused(after: Any, count: Any, block_ms: Any) -> None:
    read = redis_read_events(
        "weather", "alerts", after=after, count=count, block_ms=block_ms, role="radar"
    )
    assert read["success"] is False and read["error_code"] == "invalid_argument", read


EXACT = [
    2**64,
    -(2**100),
    "123",
    "null",
    None,
    True,
    1.5,
    b"\xff\x00\x80 raw bytes",
    b"",
    "unicode ✓ \u2028",
    {"nested": {"list": [1, [2, {"deep": 2**70}]], "none": None}, "": ""},
    [],
]


def test_events_come_back_exactly() -> None:
    publish_all(EXACT)
    read = redis_read_events("weather", "alerts", role="radar")
    got = [e["event"] for e in read["events"]]
    assert got == EXACT
    assert [type(v) for v in got] == [type(v) for v in EXACT]


def test_what_is_not_stored_exactly_or_too_big_is_refused(
    raw: redis.Redis, write_config: Config
) -> None:
    write_config({"messaging": {"max_message_bytes": 100}})
    for value, code in [
        ({1, 2}, "serialization"),
        ({1: "a"}, "serialization"),
        ("x" * 200, "invalid_argument"),
    ]:
        published = redis_publish("alerts", value, role="weather")
        assert published["success"] is False and published["error_code"] == code, published
    assert raw.dbsize() == 0
    assert redis_publish("alerts", "x" * 90, role="weather")["success"] is True


def test_dollar_reads_only_what_comes_after_now() -> None:
    (first,) = publish_all(["before"])
    now = redis_read_events("weather", "alerts", after="$", role="radar")
    assert now["success"] is True and now["events"] == []
    assert now["last_id"] == first  # a real position: nothing published after it is missed
    publish_all(["after"])
    later = redis_read_events("weather", "alerts", after=now["last_id"], role="radar")
    assert [e["event"] for e in later["events"]] == ["after"]
    empty = redis_read_events("nobody", "alerts", after="$", role="radar")
    assert empty["last_id"] == "0-0"


def test_a_waiting_read_outlasts_the_socket_timeout(write_config: Config) -> None:
    write_config({"connection": {"socket_timeout": 0.1}})
    (last,) = publish_all(["old"])
    read = redis_read_events("weather", "alerts", after=last, block_ms=300, role="radar")
    assert read["success"] is True, read  # the read timeout was extended by the wait
    assert read["events"] == [] and read["last_id"] == last


def test_a_waiting_read_wakes_on_publish(raw: redis.Redis, backend: str) -> None:
    (last,) = publish_all(["old"])
    got: list[dict[str, Any]] = []
    reader = threading.Thread(
        target=lambda: got.append(
            redis_read_events("weather", "alerts", after=last, block_ms=20_000, role="radar")
        )
    )
    reader.start()
    until_blocked(raw, backend)
    publish_all(["new"])
    reader.join(30)
    assert not reader.is_alive()
    (read,) = got
    assert read["success"] is True, read
    assert [e["event"] for e in read["events"]] == ["new"]  # not the 20 s wait's empty answer


def test_follow_events_misses_none_published_between_reads() -> None:
    (start,) = publish_all(["before"])

    async def main() -> list[Any]:
        follower = aio.follow_events("weather", "alerts", after=start, role="radar")
        got: list[Any] = []
        try:
            publish_all([1, 2])
            got.append((await anext(follower))["event"])
            # the follower holds 2 and reads no more until asked: these come between reads
            await aio.redis_publish("alerts", 3, role="weather")
            await aio.redis_publish("alerts", 4, role="weather")
            for _ in range(3):
                event = await anext(follower)
                assert event["from"] == "weather" and event["topic"] == "alerts"
                got.append(event["event"])
        finally:
            await follower.aclose()
        return got

    assert asyncio.run(main()) == [1, 2, 3, 4]


def test_follow_events_refuses_bad_arguments_at_once() -> None:
    from roleredis.foundation.errors import InvalidArgumentError

    for args in (("a:b", "alerts"), ("weather", "")):
        with pytest.raises(InvalidArgumentError):
            aio.follow_events(*args, role="radar")
    with pytest.raises(InvalidArgumentError):
        aio.follow_events("weather", "alerts", after="soon", role="radar")


@pytest.mark.real_server
def test_follow_events_from_now_on(raw: redis.Redis, backend: str) -> None:
    publish_all(["old"])

    async def main() -> list[Any]:
        follower = aio.follow_events("weather", "alerts", role="radar")  # after="$"
        first = asyncio.ensure_future(anext(follower))
        await asyncio.to_thread(until_blocked, raw, backend)  # "$" resolved, now waiting
        await aio.redis_publish("alerts", "new 1", role="weather")
        got = [(await first)["event"]]
        await aio.redis_publish("alerts", "new 2", role="weather")
        got.append((await anext(follower))["event"])
        await follower.aclose()
        return got

    assert asyncio.run(main()) == ["new 1", "new 2"]


@pytest.mark.real_server
def test_follow_events_iterated_plainly_resolves_now_at_the_first_anext(
    raw: redis.Redis, backend: str
) -> None:
    """Documented: without ``async with``, "$" means the first anext's now; what is published
    between the call and then is not seen."""
    publish_all(["old"])

    async def main() -> list[Any]:
        follower = aio.follow_events("weather", "alerts", role="radar")
        await aio.redis_publish("alerts", "before the first anext", role="weather")
        first = asyncio.ensure_future(anext(follower))
        await asyncio.to_thread(until_blocked, raw, backend)  # "$" resolved, now waiting
        await aio.redis_publish("alerts", "after", role="weather")
        got = [(await first)["event"]]
        await follower.aclose()
        return got

    assert asyncio.run(main()) == ["after"]


def test_a_follower_refuses_a_second_reader_at_once() -> None:
    """Two reads from one position would give the same events twice: refused."""

    async def main() -> Any:
        follower = aio.follow_events("weather", "alerts", after="0", role="radar")
        waiting = asyncio.ensure_future(anext(follower))
        await asyncio.sleep(0.05)
        try:
            with pytest.raises(RuntimeError, match="already reading"):
                await anext(follower)
            await aio.redis_publish("alerts", "one", role="weather")
            return (await asyncio.wait_for(waiting, 10))["event"]
        finally:
            await follower.aclose()

    assert asyncio.run(main()) == "one"


@pytest.mark.real_server
def test_waiting_readers_never_take_the_whole_pool(
    raw: redis.Redis, backend: str, write_config: Config
) -> None:
    """Three readers wait on a pool of two connections: one waits on the server, the others
    queue for the one place for waiting, and a write still gets a connection at once."""
    write_config({"pool": {"max_connections": 2, "timeout": 1}})
    (last,) = publish_all(["old"])
    got: list[dict[str, Any]] = []

    def read() -> None:
        got.append(redis_read_events("weather", "alerts", after=last, block_ms=20_000, role="r"))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    until_blocked(raw, backend)
    most = 0
    for n in range(5):
        written = redis_write(f"k{n}", n, role="other")
        assert written["success"] is True, written  # not "overloaded" after pool.timeout
        most = max(most, int(raw.info("clients")["blocked_clients"]))
    assert most == 1
    publish_all(["new"])
    for reader in readers:
        reader.join(30)
    assert [[e["event"] for e in r["events"]] for r in got] == [["new"]] * 3


@pytest.mark.real_server
def test_waiting_async_readers_never_take_the_whole_pool(
    raw: redis.Redis, backend: str, write_config: Config
) -> None:
    write_config({"pool": {"max_connections": 2, "timeout": 1}})
    (last,) = publish_all(["old"])

    async def main() -> list[Any]:
        readers = [
            asyncio.ensure_future(
                aio.redis_read_events("weather", "alerts", after=last, block_ms=20_000, role="r")
            )
            for _ in range(3)
        ]
        await asyncio.to_thread(until_blocked, raw, backend)
        for n in range(5):
            written = await aio.redis_write(f"k{n}", n, role="other")
            assert written["success"] is True, written
        assert int(raw.info("clients")["blocked_clients"]) == 1
        await aio.redis_publish("alerts", "new", role="weather")
        return [[e["event"] for e in r["events"]] for r in await asyncio.gather(*readers)]

    assert asyncio.run(main()) == [["new"]] * 3


def test_events_through_the_agent_tools() -> None:
    from roleredis import call_tool

    published = call_tool(
        "redis_publish", {"topic": "alerts", "event": {"n": 2**70}}, role="weather"
    )
    assert published["success"] is True, published
    read = call_tool("redis_read_events", {"from_role": "weather", "topic": "alerts"}, role="radar")
    assert read["success"] is True, read
    assert [(e["from"], e["event"]) for e in read["events"]] == [("weather", {"n": 2**70})]
    assert read["last_id"] == published["id"]
    nothing = call_tool(
        "redis_read_events",
        {"from_role": "weather", "topic": "alerts", "after": read["last_id"], "block_ms": 10},
        role="radar",
    )
    assert nothing["success"] is True and nothing["events"] == []
