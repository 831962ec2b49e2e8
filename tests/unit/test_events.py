"""roleredis.core.events driven by hand (issue 12, item 3): the exact calls publishing and reading
make, how "$" is resolved, what is refused before any I/O; and the runners' handling of a
waiting batch (ops.Batch with a wait): the read timeout extended, at most `waiting` reads
waiting, never BLOCK 0."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from roleredis.settings import MessagingSettings

from roleredis.core import codec, events, ops
from roleredis.foundation.errors import InvalidArgumentError, SerializationError
from roleredis.foundation.keys import Keyspace
from roleredis.transport import executor
from roleredis.transport.cluster import _routing_key
from roleredis.transport.executor import SyncExecutor, wait_gate
from tests.unit.test_executor import FakeClient
from tests.unit.test_ops import Script

STREAM = "__roleredis__:{weather}:events:alerts"


def scope(role: str = "radar", **messaging: Any) -> ops.Scope:
    return ops.Scope(Keyspace(role), messaging=MessagingSettings(**messaging))


def entry(event_id: bytes, value: Any) -> tuple[bytes, dict[bytes, bytes]]:
    return (event_id, {b"event": codec.encode(value)})


# --------------------------------------------------------------------------- publish


def test_publish_appends_to_the_roles_own_stream_bounded_exactly() -> None:
    s = Script(events.publish(scope("weather", max_events=7), "alerts", {"level": 2}))
    published = s.run([b"1700000000000-0"])
    assert s.batches == [[("xadd", (STREAM, "MAXLEN", 7, "*", "event", b'{"level":2}'))]]
    assert published == events.Published("alerts", "1700000000000-0", STREAM)


@pytest.mark.parametrize("value", ["123", 2**70, -(2**80), b"\xff\x00raw", {"a": [1, {"b": None}]}])
def test_publish_stores_what_the_codec_stores(value: Any) -> None:
    s = Script(events.publish(scope("weather"), "alerts", value))
    s.run([b"1-0"])
    assert s.batches[0][0][1][-1] == codec.encode(value)


def test_publish_never_seals_an_event() -> None:
    sealing = ops.Scope(Keyspace("weather"), codec=codec.Codec(encrypt=True))  # no key: would fail
    s = Script(events.publish(sealing, "alerts", "for every role"))
    s.run([b"1-0"])
    assert s.batches[0][0][1][-1] == b'"for every role"'


@pytest.mark.parametrize("topic", ["", "a:b", "a*", "{x}", "a b", "x" * 65, 7, None])
def test_publish_refuses_a_bad_topic_before_any_io(topic: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="topic"):
        next(events.publish(scope("weather"), topic, 1))


def test_publish_refuses_what_the_codec_cannot_store_exactly() -> None:
    with pytest.raises(SerializationError, match=r"event\['a'\]: set"):
        next(events.publish(scope("weather"), "alerts", {"a": {1}}))


def test_publish_refuses_an_event_over_max_message_bytes() -> None:
    with pytest.raises(InvalidArgumentError, match=r"messaging\.max_message_bytes"):
        next(events.publish(scope("weather", max_message_bytes=10), "alerts", "x" * 20))
    small_values = ops.Scope(Keyspace("weather"), max_value_bytes=10)
    with pytest.raises(InvalidArgumentError, match=r"serialization\.max_value_bytes"):
        next(events.publish(small_values, "alerts", "x" * 20))


# --------------------------------------------------------------------------- read


def test_read_from_an_id_is_one_xread_and_says_who_published() -> None:
    s = Script(events.read_events(scope(), "weather", "alerts", after="5-1", count=2))
    batch = s.run([[[STREAM.encode(), [entry(b"6-0", 1), entry(b"1700000000123-4", [2])]]]])
    assert s.batches == [[("xread", ("COUNT", 2, "STREAMS", STREAM, "5-1"))]]
    assert type(s.batches[0]) is list  # no wait: a plain batch
    assert [(e.id, e.sender, e.topic, e.value) for e in batch.events] == [
        ("6-0", "weather", "alerts", 1),
        ("1700000000123-4", "weather", "alerts", [2]),
    ]
    assert batch.events[1].at == 1700000000.123
    assert batch.last_id == "1700000000123-4"


def test_read_of_nothing_keeps_the_position() -> None:
    s = Script(events.read_events(scope(), "weather", "alerts"))
    batch = s.run([[]])
    assert s.batches == [[("xread", ("COUNT", 100, "STREAMS", STREAM, "0"))]]
    assert batch.events == [] and batch.last_id == "0"


def test_a_waiting_read_is_a_blocking_batch() -> None:
    s = Script(events.read_events(scope(), "weather", "alerts", after="9-0", block_ms=250))
    s.run([[]])
    (batch,) = s.batches
    assert type(batch) is ops.Batch and batch.wait == 0.25
    assert batch == [("xread", ("COUNT", 100, "BLOCK", 250, "STREAMS", STREAM, "9-0"))]


def test_dollar_is_resolved_to_the_newest_id_without_waiting() -> None:
    s = Script(events.read_events(scope(), "weather", "alerts", after="$"))
    batch = s.run([[(b"42-7", {b"event": b"1"})]])
    assert s.batches == [[("xrevrange", (STREAM, "+", "-", "COUNT", 1))]]
    assert batch.events == [] and batch.last_id == "42-7"


def test_dollar_then_waits_from_the_resolved_id() -> None:
    s = Script(events.read_events(scope(), "weather", "alerts", after="$", block_ms=100))
    batch = s.run([[]], [[[STREAM.encode(), [entry(b"3-0", "new")]]]])
    assert s.batches[1] == [("xread", ("COUNT", 100, "BLOCK", 100, "STREAMS", STREAM, "0-0"))]
    assert [e.value for e in batch.events] == ["new"] and batch.last_id == "3-0"


def test_dollar_on_an_empty_stream_returns_a_real_position() -> None:
    batch = Script(events.read_events(scope(), "weather", "alerts", after="$")).run([[]])
    assert batch.last_id == "0-0"
    events.validate_after(batch.last_id)


@pytest.mark.parametrize(
    ("args", "what"),
    [
        ({"from_role": "a:b"}, "role"),
        ({"from_role": "__roleredis__"}, "reserved"),
        ({"from_role": ""}, "role"),
        ({"from_role": None}, "role"),
        ({"topic": "x:y"}, "topic"),
        ({"after": "x"}, "after"),
        ({"after": "1-2-3"}, "after"),
        ({"after": "-1"}, "after"),
        ({"after": 5}, "after"),
        ({"after": str(2**64)}, "after"),
        ({"after": ""}, "after"),
        ({"count": 0}, "count"),
        ({"count": True}, "count"),
        ({"count": 1.5}, "count"),
        ({"block_ms": -1}, "block_ms"),
        ({"block_ms": 0.5}, "block_ms"),
    ],
)
def test_read_refuses_bad_arguments_before_any_io(args: dict[str, Any], what: str) -> None:
    call = {"from_role": "weather", "topic": "alerts", **args}
    with pytest.raises(InvalidArgumentError, match=what):
        next(
            events.read_events(
                scope(),
                call.pop("from_role"),
                call.pop("topic"),
                **call,
            )
        )


def test_an_entry_that_is_not_an_event_is_told_and_read_past() -> None:
    # a publisher's own XADD may write anything into its stream: the read never fails for it
    s = Script(events.read_events(scope(), "weather", "alerts"))
    s.first()
    with pytest.raises(StopIteration) as done:
        s.op.send(
            [
                [
                    [
                        STREAM.encode(),
                        [
                            (b"7-0", {b"other": b"1"}),
                            (b"8-0", {b"event": b"\xffrrQ?"}),
                            (b"9-0", {b"event": b"1", b"later": b"x"}),
                        ],
                    ]
                ]
            ]
        )
    batch = done.value.value
    assert [(e.id, e.value) for e in batch.events] == [("7-0", None), ("8-0", None), ("9-0", 1)]
    assert "no 'event' field" in str(batch.events[0].error)
    assert "8-0" in str(batch.events[1].error) and batch.events[2].error is None
    assert batch.last_id == "9-0"


def test_validate_follow_checks_everything_a_follower_is_given() -> None:
    assert events.validate_follow("weather", "alerts", "0") == STREAM
    for bad in (("a:b", "alerts", "$"), ("weather", "", "$"), ("weather", "alerts", "now")):
        with pytest.raises(InvalidArgumentError):
            events.validate_follow(*bad)


def test_the_cluster_routes_a_stream_read_by_its_stream() -> None:
    command = ("XREAD", "COUNT", 1, "BLOCK", 5, "STREAMS", STREAM, "0")
    assert _routing_key("XREAD", command) == STREAM
    assert _routing_key("XADD", ("XADD", STREAM, "*")) == STREAM


# --------------------------------------------------------------------------- the runners


def _blocking(wait_ms: int) -> ops.Batch:
    return ops.Batch(
        [("xread", ("COUNT", 1, "BLOCK", wait_ms, "STREAMS", STREAM, "0"))], wait=wait_ms / 1000
    )


def test_a_blocking_read_with_a_free_place_waits_no_longer_than_asked() -> None:
    client = FakeClient()
    SyncExecutor(client, waiting=1)(_blocking(300))
    ((name, args),) = client.calls
    assert name == "xread"
    wait = args[args.index("BLOCK") + 1]
    assert 0 < wait <= 300


def test_a_blocking_read_finding_every_place_taken_reads_without_waiting() -> None:
    client = FakeClient()
    gate = wait_gate(client, 1)
    assert gate.acquire(blocking=False)  # another reader waits on the only place
    try:
        SyncExecutor(client, waiting=1)(_blocking(20))
    finally:
        gate.release()
    assert client.calls == [("xread", ("COUNT", 1, "STREAMS", STREAM, "0"))]


def test_without_a_bound_a_blocking_read_is_sent_as_it_is() -> None:
    client = FakeClient()
    SyncExecutor(client)(_blocking(20))
    assert client.calls == [("xread", ("COUNT", 1, "BLOCK", 20, "STREAMS", STREAM, "0"))]


def test_blocking_never_becomes_block_zero_which_waits_forever() -> None:
    for wait in (0, -0.04, 0.0001):
        shortest = executor.rewaited(_blocking(5), wait)
        assert shortest == _blocking(1) and shortest.wait == 0.001  # type: ignore[attr-defined]


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.socket_timeout = sock.gettimeout()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_a_waiting_roundtrip_extends_the_read_timeout_and_puts_it_back(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, server = pair
    ours.settimeout(0.05)
    answer = threading.Timer(0.2, lambda: server.sendall(b"*-1\r\n"))  # answered after 0.05 s
    answer.start()
    try:
        replies = executor.roundtrip(_Conn(ours), [("XREAD", "BLOCK", 1000)], 1.0)
    finally:
        answer.cancel()
    assert replies == [None]
    assert ours.gettimeout() == 0.05
