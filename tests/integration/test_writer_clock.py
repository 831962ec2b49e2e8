"""Issue 10, item 6: the background writer's ages, backoff and breaker on an injected clock.

The writer reads ``Writer.clock`` for the age of each write (async.max_age) and waits between
retries with ``Writer.pause``: here the pause advances a FakeClock by the delay it was asked to
wait, so minutes of outage pass in milliseconds and nothing sleeps to let time pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from roleredis.foundation.config import load_settings
from roleredis.testing import FakeClock, RedisServer, free_port
from roleredis.transport.breaker import Breaker
from roleredis.transport.retry import WRITER_BACKOFF
from roleredis.transport.writer.thread import Writer

pytestmark = pytest.mark.real_server


class Pauses:
    """A Writer.pause that advances the fake clock by each delay and records it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []
        self.called = threading.Event()

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        self.called.set()
        time.sleep(0.001)  # let the test's thread run; not time the writer waits for


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_writer(url: str, clock: FakeClock, breaker: Breaker | None = None) -> Writer:
    settings = load_settings(environ={"REDIS_URL": url, "REDIS_SOCKET_CONNECT_TIMEOUT": "0.5"})
    return Writer(
        settings,
        clock=clock,
        pause=Pauses(clock),
        breaker=breaker if breaker is not None else Breaker(clock=clock),
    )


@pytest.fixture
def nowhere() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


@pytest.fixture
def down_writer(nowhere: str, clock: FakeClock) -> Iterator[Writer]:
    writer = make_writer(nowhere, clock)
    try:
        yield writer
    finally:
        writer.close(0.1)


def test_writes_are_kept_until_max_age_then_given_up(down_writer: Writer, clock: FakeClock) -> None:
    writer = down_writer
    for i in range(10):
        assert writer.submit_write(("set", (f"w:k{i}", b"1")))
    pauses = writer.pause
    assert isinstance(pauses, Pauses)
    # retried, kept: the writes are younger than async.max_age (300 s) on the writer's clock
    wait_for(lambda: len(pauses.delays) >= 5, "a few retries")
    assert writer.stats()["given_up"] == 0
    assert writer.stats()["pending"] == 10
    clock.advance(writer.max_age)
    wait_for(lambda: writer.stats()["given_up"] == 10, "the writes to be given up")
    assert writer.stats()["pending"] == 0
    assert writer.stats()["written"] == 0


def test_backoff_grows_with_jitter_and_is_capped_at_2_s(
    down_writer: Writer, clock: FakeClock
) -> None:
    writer = down_writer
    pauses = writer.pause
    assert isinstance(pauses, Pauses)
    writer.submit_write(("set", ("w:k", b"1")))
    wait_for(lambda: len(pauses.delays) >= 12, "a dozen retries")
    delays = pauses.delays[:12]
    for delay, step in zip(delays, WRITER_BACKOFF, strict=False):
        assert step / 2 <= delay <= step
    assert all(d <= 2.0 for d in delays)
    assert all(d >= 1.0 for d in delays[len(WRITER_BACKOFF) :])  # at the cap: 1-2 s


def test_the_writer_counts_failures_in_the_breaker_without_opening_it(
    nowhere: str, clock: FakeClock
) -> None:
    breaker = Breaker(failures=3, clock=clock)
    writer = make_writer(nowhere, clock, breaker)
    try:
        writer.submit_write(("set", ("w:k", b"1")))
        wait_for(lambda: breaker.report()["consecutive_failures"] >= 5, "failures counted")
        report = breaker.report()
        assert report["state"] == "closed"  # only a caller's own failure opens it
        assert "connection" in report["last_error"].lower() or report["last_error"]
        # a caller that fails now opens it at once: the writer has seen the outage already
        breaker.failed("a caller's call failed")
        assert breaker.state == "open"
    finally:
        writer.close(0.1)


def test_a_batch_that_gets_through_closes_the_breaker(clock: FakeClock) -> None:
    breaker = Breaker(failures=1, clock=clock)
    breaker.failed("the server was away")
    assert breaker.state == "open"
    with RedisServer() as server:
        writer = make_writer(server.url, clock, breaker)
        try:
            writer.submit_write(("set", ("w:k", b"1")))
            assert writer.flush(5)[0]
            assert breaker.state == "closed"
            client = server.client()
            try:
                assert client.get("w:k") == b"1"
            finally:
                client.close()
        finally:
            writer.close(1)


def test_the_exit_drain_deadline_reads_the_writers_clock(
    down_writer: Writer, clock: FakeClock
) -> None:
    writer = down_writer
    for i in range(3):
        writer.submit_write(("set", (f"w:k{i}", b"1")))
    started = time.monotonic()
    writer.close(0.2)
    assert time.monotonic() - started < 3
    assert writer.stats()["given_up"] == 3
