"""A thread that gave a connection back and asked again at once took it back ahead of the
threads already waiting for one (tests/faults/test_faults_pool.py failed about 1 run in 4 on a
loaded machine).

redis-py's BlockingConnectionPool keeps idle connections in a ``queue.LifoQueue``: putting one
back only wakes a waiter, and the thread that put it back, still holding the GIL, takes it again
on its next call. With 20 threads making 50 writes each on 2 connections, the two threads that
held them kept them for all their calls while the 18 others waited, each for the whole burst;
when load stretched the burst past ``pool.timeout`` (0.3 s there) calls failed as
``overloaded`` although the pool was busy serving all along. Every sync pool now queues waiters
first come, first served (:class:`roleredis.transport.fairqueue.FairQueue`).

The tests pin the order, not a duration: a long GIL switch interval makes the overtaking of the
old queue certain instead of likely, and each waiter is seen waiting before the next step.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from roleredis.settings import PoolSettings, Settings

from roleredis.testing import RedisServer
from roleredis.transport import fairqueue
from roleredis.transport.connection import build_client, close_client
from roleredis.transport.fairqueue import FairQueue


@pytest.fixture
def one_connection_pool(redis_server: RedisServer) -> Iterator[Any]:
    """The pool roleredis builds, with one connection and a long pool.timeout."""
    client = build_client(
        Settings(url=redis_server.url, pool=PoolSettings(max_connections=1, timeout=10))
    )
    try:
        yield client.connection_pool
    finally:
        close_client(client)


@pytest.fixture
def no_forced_switch() -> Iterator[None]:
    """No thread switch while a thread runs Python code: only where it blocks."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(10.0)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _blocked_in(thread: threading.Thread, names: set[str]) -> bool:
    """Whether ``thread``'s innermost Python frame is one of the functions ``names``."""
    frame = sys._current_frames().get(thread.ident or 0)
    return frame is not None and frame.f_code.co_name in names


def _wait_until_waiting(thread: threading.Thread) -> None:
    """Until ``thread`` waits for a connection (in the queue's get, or Condition.wait of the old
    LifoQueue); deterministic: it polls a state, not a duration."""
    deadline = time.monotonic() + 10
    while not _blocked_in(thread, {"get", "wait"}):
        assert time.monotonic() < deadline, "the thread never waited for a connection"
        time.sleep(0.001)


def test_a_connection_given_back_goes_to_the_thread_waiting_for_it(
    one_connection_pool: Any, no_forced_switch: None
) -> None:
    pool = one_connection_pool
    order: list[str] = []
    mine = pool.get_connection()

    def waiter() -> None:
        conn = pool.get_connection()
        order.append("waiter")
        pool.release(conn)

    thread = threading.Thread(target=waiter)
    thread.start()
    _wait_until_waiting(thread)
    pool.release(mine)
    mine = pool.get_connection()  # asks again at once, as a thread making many calls does
    order.append("giver")
    pool.release(mine)
    thread.join(10)
    assert order == ["waiter", "giver"]


def test_waiting_threads_are_served_in_the_order_they_asked(
    one_connection_pool: Any, no_forced_switch: None
) -> None:
    pool = one_connection_pool
    order: list[int] = []
    held = pool.get_connection()

    def waiter(n: int) -> None:
        conn = pool.get_connection()
        order.append(n)
        pool.release(conn)

    threads = []
    for n in range(4):
        threads.append(threading.Thread(target=waiter, args=(n,)))
        threads[-1].start()
        _wait_until_waiting(threads[-1])
    pool.release(held)
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3]


def test_a_waiter_not_served_in_time_gets_empty_and_leaves_the_line() -> None:
    q: FairQueue[str] = FairQueue(1)
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    assert q.waiting() == 0
    q.put_nowait("conn")
    assert q.get(block=False) == "conn"
    with pytest.raises(queue.Empty):
        q.get(block=False)


def test_a_full_queue_says_so_as_the_pool_expects() -> None:
    """redis-py fills a new pool's queue with None until put_nowait raises Full."""
    q: FairQueue[None] = FairQueue(2)
    q.put_nowait(None)
    q.put_nowait(None)
    with pytest.raises(queue.Full):
        q.put_nowait(None)


def test_an_item_handed_over_as_the_wait_ran_out_is_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hand-over races the timeout: an item given to a waiter whose wait has just ended is
    still that waiter's (it is no longer in the queue, so returning Empty would lose it)."""

    class LateLock:
        """A waiter's lock whose timed wait ends unserved just as the item is handed over."""

        def __init__(self, q: FairQueue[str]) -> None:
            self.q = q

        def acquire(self, timeout: float = -1) -> bool:
            self.q.put_nowait("conn")  # handed over while the waiter's wait ends
            return False

        def release(self) -> None:
            pass

    q: FairQueue[str] = FairQueue(1)
    real = fairqueue._Waiter.__init__

    def late(self: Any) -> None:
        real(self)
        self.handed = LateLock(q)

    monkeypatch.setattr(fairqueue._Waiter, "__init__", late)
    assert q.get(timeout=0.01) == "conn"
    assert q.waiting() == 0 and q.qsize() == 0
