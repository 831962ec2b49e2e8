"""Issue 8, item 3: one write the server answers by closing the connection (a value over its
proto-max-bulk-len) must not stall everyone.

Before the fix the writer resent the batch holding it forever, and every later write of every
role waited behind it until async.max_age or exit; on the sync path the closed connection was
retried and counted by the circuit breaker, so three such writes made every role fail for the
cool-down. Now the writer isolates that write and gives up only it (counted, logged with its key
and size, never its value); the sync call fails at once with invalid_argument; and values over
serialization.max_value_bytes are refused at the call.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from roleredis import (
    redis_flush,
    redis_health_check,
    redis_write,
    redis_write_async,
    redis_write_many,
    reset,
)
from roleredis.testing import RedisServer

BIG = b"x" * (2 * 1024 * 1024)  # over the server's 1 MB proto-max-bulk-len


@pytest.fixture(scope="module")
def strict_server() -> Iterator[RedisServer]:
    with RedisServer(extra_args=("--proto-max-bulk-len", "1mb")) as server:
        yield server


@pytest.fixture
def strict(strict_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    monkeypatch.delenv("ROLEREDIS_CONFIG", raising=False)
    monkeypatch.delenv("ROLEREDIS_ROLE", raising=False)
    monkeypatch.setenv("REDIS_URL", strict_server.url)
    reset()
    try:
        yield strict_server
    finally:
        reset()
        client = strict_server.client()
        try:
            client.flushdb()
        finally:
            client.close()


def test_a_poison_write_is_given_up_alone_and_the_others_land(
    strict: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="roleredis.background"):
        assert redis_write_async("huge", BIG, role="poisoner")["success"] is True
        for n in range(100):
            assert redis_write_async(f"k{n}", n, role="bystander")["success"] is True
        flushed = redis_flush(timeout=20)
    assert flushed["success"] is True, flushed
    assert flushed["lost"] == 1
    client = strict.client()
    try:
        values = client.mget([f"bystander:k{n}" for n in range(100)])
        assert values == [str(n).encode() for n in range(100)]
        assert client.exists("poisoner:huge") == 0
    finally:
        client.close()
    background = redis_health_check(role="bystander")["background"]
    assert background["failed"] == 1 and background["given_up"] == 0
    assert background["pending"] == 0
    lines = [r.getMessage() for r in caplog.records if "poisoner:huge" in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert str(len(BIG) + 4) in lines[0]  # the stored size (the bytes envelope adds 4)
    assert "xxxx" not in caplog.text  # never the value


def test_a_poison_write_in_the_middle_of_a_batch_is_found(strict: RedisServer) -> None:
    # The server answers the writes before the poison, then closes the connection: the
    # writer must halve the batch until the poison is alone.
    assert redis_write_async("warm", 0, role="mixed")["success"] is True
    assert redis_flush(timeout=5)["success"] is True  # the writer is connected
    strict.pause()
    try:
        redis_write_async("first", 0, role="mixed")  # the writer waits on this one's reply
        time.sleep(0.2)
        # so these are queued meanwhile and go out as one batch: 50 SETs with a TTL, the
        # poison, and a run of 50 writes without a TTL (one MSET)
        for n in range(50):
            redis_write_async(f"before{n}", n, ttl=60, role="mixed")
        redis_write_async("huge", BIG, ttl=60, role="mixed")
        for n in range(50):
            redis_write_async(f"after{n}", n, role="mixed")
    finally:
        strict.resume()
    flushed = redis_flush(timeout=20)
    assert flushed["success"] is True and flushed["lost"] == 1, flushed
    assert redis_health_check(role="mixed")["background"]["failed"] == 1
    client = strict.client()
    try:
        keys = [f"mixed:before{n}" for n in range(50)] + [f"mixed:after{n}" for n in range(50)]
        assert all(v is not None for v in client.mget(keys))
    finally:
        client.close()


def test_a_sync_poison_write_fails_at_once_and_does_not_open_the_breaker(
    strict: RedisServer,
) -> None:
    for _ in range(3):
        started = time.monotonic()
        result = redis_write("huge", BIG, role="poisoner")
        elapsed = time.monotonic() - started
        assert result["success"] is False
        assert result["error_code"] == "invalid_argument", result
        assert "proto-max-bulk-len" in result["error"]
        assert elapsed < 5, f"the refused write took {elapsed:.1f} s"
    # in the middle of a batch: the server answers the first SET, then closes the connection
    started = time.monotonic()
    result = redis_write_many({"a": 1, "huge": BIG, "b": 2}, role="poisoner")
    assert time.monotonic() - started < 5
    assert result["error_code"] == "invalid_argument", result
    assert "proto-max-bulk-len" in result["error"]
    # four of them did not open the circuit breaker: other roles still work
    assert redis_write("fine", 1, role="bystander")["success"] is True
    assert redis_health_check(role="bystander")["breaker"]["state"] == "closed"


def test_values_over_max_value_bytes_are_refused_at_the_call(
    strict: RedisServer, write_config: Callable[[Any], object]
) -> None:
    write_config({"url": strict.url, "serialization": {"max_value_bytes": 1000}})
    small, big = "x" * 900, "x" * 1000  # 902 and 1002 bytes stored (JSON quotes)
    calls: list[Callable[[Any], dict[str, Any]]] = [
        lambda v: redis_write("k", v, role="limited"),
        lambda v: redis_write_async("k", v, role="limited"),
        lambda v: redis_write_many({"a": 1, "k": v}, role="limited"),
    ]
    for call in calls:
        assert call(small)["success"] is True
        refused = call(big)
        assert refused["success"] is False
        assert refused["error_code"] == "invalid_argument", refused
        assert "1002 bytes" in refused["error"] and "max_value_bytes" in refused["error"]
    assert redis_flush(timeout=5)["lost"] == 0


def test_max_value_bytes_is_validated(write_config: Callable[[Any], object]) -> None:
    write_config({"serialization": {"max_value_bytes": 0}})
    result = redis_write("k", 1, role="limited")
    assert result["error_code"] == "config"
    assert "serialization.max_value_bytes" in result["error"]
