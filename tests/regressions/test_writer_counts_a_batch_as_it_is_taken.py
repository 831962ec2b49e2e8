"""Issue 26 (fire and forget, round 2): the writer set ``in_flight`` only after taking a whole
batch off its queue, so while it took one (up to async.batch_size items) a caller's check of
the pending work (``len(queue) + in_flight`` against async.max_pending) missed what had been
taken so far and could queue up to a batch more than the bound.

Now each item is counted in flight before it leaves the queue: the pending work seen at any
step of a take is the whole of it.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest

from roleredis.foundation.config import load_settings
from roleredis.transport.breaker import Breaker
from roleredis.transport.writer.plan import queued
from roleredis.transport.writer.thread import Writer

from ..conftest import RoleredisEnv

pytestmark = pytest.mark.real_server


class Watched(collections.deque):  # type: ignore[type-arg]
    """A queue that notes the writer's pending work after each item taken off it."""

    def __init__(self, writer: Writer, items: list[Any]) -> None:
        super().__init__(items)
        self.writer = writer
        self.seen: list[int] = []

    def popleft(self) -> Any:
        item = super().popleft()
        self.seen.append(self.writer.pending())
        return item


def test_the_pending_work_seen_during_a_take_is_all_of_it(roleredis_env: RoleredisEnv) -> None:
    writer = Writer(load_settings(environ={"REDIS_URL": roleredis_env.url}), breaker=Breaker())
    # the writer's thread keeps waiting on its own (empty) queue; this one is taken here
    own = writer._queue
    items = [queued(("set", (f"w:k{i}", b"1")), 0.0) for i in range(100)]
    watched = writer._queue = Watched(writer, items)
    try:
        taken = writer._take_batch()
        assert len(taken) == 100
        assert watched.seen == [100] * 100
        assert writer.in_flight == 100
    finally:  # nothing was sent: forget the batch taken here, then close
        writer._batch, writer.in_flight, writer._unsettled_writes = [], 0, 0
        writer._queue = own
        writer.close(1)
