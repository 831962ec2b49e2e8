"""Issue 10, item 2 (a): the writer never logged "Redis reachable again".

``Writer._outage`` was never set to True, so after an outage the writer went back to sending
without a word: the log said "Redis unreachable" and then nothing. Now a connection failure sets
it and the first batch through logs the way back, once.
"""

from __future__ import annotations

import logging
import time

import pytest

from roleredis.foundation.config import load_settings
from roleredis.testing import FakeClock, RedisServer
from roleredis.transport.breaker import Breaker
from roleredis.transport.writer.thread import Writer

pytestmark = pytest.mark.real_server


def test_the_writer_logs_when_redis_is_reachable_again(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis.background")
    clock = FakeClock()
    with RedisServer() as server:
        settings = load_settings(environ={"REDIS_URL": server.url})
        pauses: list[float] = []

        def pause(seconds: float) -> None:
            pauses.append(seconds)
            clock.advance(seconds)
            time.sleep(0.01)  # the server restarts in real time meanwhile

        writer = Writer(settings, clock=clock, pause=pause, breaker=Breaker(clock=clock))
        try:
            writer.submit_write(("set", ("w:before", b"1")))
            assert writer.flush(5)[0]
            server.kill()
            writer.submit_write(("set", ("w:during", b"2")))
            deadline = time.monotonic() + 10
            while not pauses:
                assert time.monotonic() < deadline, "the writer never retried"
                time.sleep(0.01)
            server.start()
            done, _, _, lost = writer.flush(10)
            assert (done, lost) == (True, 0)
            assert writer.stats()["written"] == 2
        finally:
            writer.close(1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("unreachable" in m for m in messages), messages
    assert sum("reachable again" in m for m in messages) == 1, messages
