"""Keeping things alive on a schedule: one thread per process (:func:`keeper`) and one task per
event loop (:func:`loop_keeper`) that run each registered item when it is due, whatever the
number of items: a held lease's renewal, a message kept while its handler runs.

An item has a ``due`` time (``time.monotonic``) and a ``keep()`` (sync items) or an
``akeep()`` (items of a loop) that does its work and sets its next ``due`` (or removes the
item). The keeper sleeps until the earliest ``due``; adding or removing an item wakes it.
The thread (a daemon, named ``roleredis-keeper``) starts with the first item and ends when
none is left; so does a loop's task. A forked child starts with no items (its parent's are
the parent's: see :mod:`roleredis.core.holding`).

>>> import threading
>>> class Once:
...     def __init__(self):
...         self.due, self.done = 0.0, threading.Event()
...     def keep(self):
...         keeper().discard(self)
...         self.done.set()
>>> item = Once()
>>> keeper().add(item)
>>> item.done.wait(5)
True
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Protocol

from ..foundation import lifecycle

__all__ = ["AsyncKept", "Keeper", "Kept", "LoopKeeper", "keeper", "loop_keeper"]

log = logging.getLogger("roleredis.keeping")


class Kept(Protocol):
    """An item a :class:`Keeper` runs: ``keep()`` when ``due`` (monotonic seconds)."""

    due: float

    def keep(self) -> None: ...


class AsyncKept(Protocol):
    """An item a :class:`LoopKeeper` awaits: ``akeep()`` when ``due``."""

    due: float

    def akeep(self) -> Awaitable[None]: ...


class Keeper:
    """The process's keeper thread and its items (see the module's doc)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._items: set[Kept] = set()
        self._thread: threading.Thread | None = None

    def add(self, item: Kept) -> None:
        with self._changed:
            self._items.add(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="roleredis-keeper", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def discard(self, item: Kept) -> None:
        with self._changed:
            self._items.discard(item)
            self._changed.notify()

    def __len__(self) -> int:
        return len(self._items)

    def _due(self) -> list[Kept] | None:
        """The items due now (waiting until one is); None when there are none left."""
        with self._changed:
            while True:
                if not self._items:
                    self._thread = None
                    return None
                now = self._clock()
                due = [item for item in self._items if item.due <= now]
                if due:
                    return sorted(due, key=lambda item: item.due)
                self._changed.wait(min(item.due for item in self._items) - now)

    def _run(self) -> None:
        while True:
            due = self._due()
            if due is None:
                return
            for item in due:
                if item not in self._items:  # removed while others ran
                    continue
                try:
                    item.keep()
                except Exception:  # an item's bug must not stop the others being kept
                    log.exception("roleredis keeper: %r failed; dropped", item)
                    self.discard(item)


class LoopKeeper:
    """One event loop's keeper task and its items (see the module's doc)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._items: set[AsyncKept] = set()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def add(self, item: AsyncKept) -> None:
        self._items.add(item)
        self._changed.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="roleredis-keeper"
            )

    def discard(self, item: AsyncKept) -> None:
        self._items.discard(item)
        self._changed.set()

    def __len__(self) -> int:
        return len(self._items)

    async def _run(self) -> None:
        try:
            while self._items:
                now = self._clock()
                due = sorted((item for item in self._items if item.due <= now), key=lambda i: i.due)
                if not due:
                    self._changed.clear()
                    wait = min(item.due for item in self._items) - now
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), wait)
                    continue
                for item in due:
                    if item not in self._items:
                        continue
                    try:
                        await item.akeep()
                    except Exception:
                        log.exception("roleredis keeper: %r failed; dropped", item)
                        self.discard(item)
        finally:
            self._task = None


_keeper = Keeper()
_loop_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopKeeper] = (
    weakref.WeakKeyDictionary()
)


def keeper() -> Keeper:
    """The process's keeper (a forked child gets a new, empty one)."""
    return _keeper


def loop_keeper() -> LoopKeeper:
    """The running event loop's keeper (made on first use)."""
    loop = asyncio.get_running_loop()
    found = _loop_keepers.get(loop)
    if found is None:
        found = _loop_keepers[loop] = LoopKeeper()
    return found


def _forget(forked: bool) -> None:
    """In a forked child: no thread, no items (their leases are the parent's); on reset(),
    the items stay (a lease held across ``roleredis.reset()`` is still held)."""
    global _keeper
    if forked:
        _keeper = Keeper()
        _loop_keepers.clear()


lifecycle.on_reset(_forget)
