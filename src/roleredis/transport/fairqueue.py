"""The queue of idle connections of every sync pool: threads waiting for one are served in
the order they asked.

redis-py's ``BlockingConnectionPool`` keeps its idle connections in a ``queue.LifoQueue``. When
a connection is put back while threads wait, that queue only wakes one of them; the thread
that put it back, still holding the GIL, usually asks again at once and takes it back first.
With 20 threads on 2 connections, the two threads that hold them keep them and the 18 others
wait until those two are done with *all* their calls, so a waiter's wait is the length of the
whole burst instead of a few calls. When the machine is loaded the burst outlasts
``pool.timeout`` and calls fail as ``overloaded`` although the pool was moving all along.

:class:`FairQueue` hands a connection that is put back straight to the thread that has waited
longest, and a thread asking while others wait queues behind them: a waiter's wait is bounded
by the calls of the threads ahead of it. With nobody waiting, it costs what LifoQueue costs.
The pool takes it through its public ``queue_class`` parameter.

>>> q = FairQueue(2)
>>> q.put_nowait("a"); q.put_nowait("b")
>>> q.get(), q.get()
('b', 'a')
>>> q.get(timeout=0)
Traceback (most recent call last):
  ...
_queue.Empty
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any, TypeVar

__all__ = ["FairQueue"]

T = TypeVar("T")


class _Waiter:
    """A thread waiting in :meth:`FairQueue.get`: ``handed`` is released when it is given
    ``item``."""

    __slots__ = ("handed", "item")

    def __init__(self) -> None:
        self.handed = threading.Lock()
        self.handed.acquire()
        self.item: Any = None


class FairQueue(queue.LifoQueue[T]):
    """A ``LifoQueue`` (the idle item put last is taken first) whose waiters are served first
    come, first served, each item put while they wait going straight to the oldest one.

    ``put`` never blocks: it raises ``queue.Full`` when full (a pool only ever puts back what it
    lent, with ``put_nowait``). ``task_done``/``join`` are not supported.
    """

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self._waiting: deque[_Waiter] = deque()

    def waiting(self) -> int:
        """How many threads wait for an item."""
        return len(self._waiting)

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        # the common case, without the lock: nobody waits and an item is idle. list.pop is
        # atomic; a thread that starts waiting meanwhile found the queue empty under the lock
        # (an item put while it waits goes to it, never to the queue), so none is overtaken
        if not self._waiting:
            try:
                return self.queue.pop()
            except IndexError:
                pass
        with self.mutex:
            if self._qsize() and not self._waiting:
                return self._get()
            if not block:
                raise queue.Empty
            waiter = _Waiter()
            self._waiting.append(waiter)
        if waiter.handed.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            return waiter.item  # type: ignore[no-any-return]
        with self.mutex:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
                raise queue.Empty
        # handed an item just as the wait ran out: it is ours
        return waiter.item  # type: ignore[no-any-return]

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if self._waiting:
                waiter = self._waiting.popleft()
                waiter.item = item
                waiter.handed.release()
                return
            if 0 < self.maxsize <= len(self.queue):
                raise queue.Full
            self.queue.append(item)
