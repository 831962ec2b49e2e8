"""Issue 26 (fire and forget, round 2): a sleeping writer was woken at every write queued until
it ran. It waits for the GIL (up to the switch interval, 5 ms) while the caller queues
thousands of writes, and each saw ``_sleeping`` still set and called ``Event.set`` (about a
microsecond of the caller's time each): 1,000-4,000 calls in a burst of 20,000 writes.

Now the first write that finds it asleep wakes it and says so; the others do not. Here the
writer is kept asleep (its wake-up is counted, not delivered) while 200 writes are queued.
"""

from __future__ import annotations

import threading
import time

import pytest

from roleredis.foundation.config import load_settings
from roleredis.transport.breaker import Breaker
from roleredis.transport.writer.thread import Writer

from ..conftest import RoleredisEnv

pytestmark = pytest.mark.real_server


class CountedWake(threading.Event):
    """The writer's wake-up, counted and not delivered: the writer keeps waiting on its old
    Event (until its idle wait of 1 s ends), as if it had not got the GIL yet."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def set(self) -> None:
        self.calls += 1


def test_a_sleeping_writer_is_woken_once_per_sleep(roleredis_env: RoleredisEnv) -> None:
    writer = Writer(load_settings(environ={"REDIS_URL": roleredis_env.url}), breaker=Breaker())
    try:
        writer.submit_write(("set", ("w:warm", b"0")))
        assert writer.flush(5)[0]
        deadline = time.monotonic() + 5
        while not writer._sleeping:  # the writer's own state, read only
            assert time.monotonic() < deadline, "the writer never went to sleep"
            time.sleep(0.001)
        counted = CountedWake()
        real, writer._wake = writer._wake, counted
        for i in range(100):
            assert writer.submit_write(("set", (f"w:k{i}", b"1")))
            assert writer.submit_set(f"w:s{i}", b"1", None, None, writer.clock())
        assert counted.calls == 1
        real.set()  # deliver it: everything lands
        done, written, _, lost = writer.flush(10)
        assert (done, lost) == (True, 0)
        assert written == 200
    finally:
        writer.close(1)
