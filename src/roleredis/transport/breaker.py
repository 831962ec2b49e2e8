"""The circuit breaker: after N consecutive connection failures, fail fast for a cool-down.

While it is open, calls fail in microseconds with error_code ``connection`` (saying since when)
instead of each waiting ``socket_connect_timeout`` for a server that is not there. After the
cool-down one call goes through as a probe: if it succeeds the breaker closes, if it fails the
breaker opens again. One breaker per connection target (``runtime.breaker(settings)``: a server
that fails opens only its own), shared by the sync and async paths.

>>> b = Breaker(failures=2, cooldown=30)
>>> b.failed(); b.failed(); b.state
'open'
>>> try:
...     b.before_call()
... except ConnectionFailedError as exc:
...     "circuit breaker open" in str(exc)
True
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from ..foundation.errors import ConnectionFailedError

__all__ = ["Breaker", "after_fork"]

# every breaker of the process, so that a forked child can replace their locks
_breakers: weakref.WeakSet[Breaker] = weakref.WeakSet()


class Breaker:
    """Counts consecutive connection failures; opens, lets one probe through, closes."""

    def __init__(
        self,
        failures: int = 3,
        cooldown: float = 2.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures = failures
        self.cooldown = cooldown
        #: seconds from an arbitrary origin; tests pass a fake one and advance it
        self.clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None  # self.clock() when it opened
        self._opened_wall: float | None = None  # time.time(), for messages
        self._probing = False
        self._last_error = ""
        #: no failure counted (closed, no probe): a call's start and its success have nothing
        #: to do, so a hot path may skip :meth:`before_call` and :meth:`succeeded` (read
        #: without the lock, as those two read the state)
        self.quiet = True
        _breakers.add(self)

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._probing else "open"

    def before_call(self) -> None:
        """Raise ConnectionFailedError at once while open (except for the one probe)."""
        if self._opened_at is None:  # the common case: no lock
            return
        with self._lock:
            opened = self._opened_at
            if opened is None:
                return
            waited = self.clock() - opened
            if waited >= self.cooldown and not self._probing:
                self._probing = True  # this call is the probe
                return
        since = time.strftime("%H:%M:%S", time.localtime(self._opened_wall or 0))
        raise ConnectionFailedError(
            f"Redis unreachable: circuit breaker open since {since} after {self._consecutive} "
            f"consecutive connection failures (last: {self._last_error}); failing fast, next "
            f"try in {max(0.0, self.cooldown - waited):.1f} s"
        )

    def succeeded(self) -> None:
        if self._consecutive or self._opened_at is not None:
            with self._lock:
                self._consecutive = 0
                self._opened_at = self._opened_wall = None
                self._probing = False
                self.quiet = True

    def released(self) -> None:
        """A call ended without telling whether the server is there (an exhausted pool, a
        bug): if it was the probe, the next call probes instead."""
        if self._probing:
            with self._lock:
                self._probing = False

    def failed(self, error: str = "", *, opens: bool = True) -> None:
        """Count a connection failure; the breaker opens at ``failures`` in a row.

        ``opens=False``: the failure is evidence, not a verdict (the background writer's, which
        no caller waits on): counted and reported, but only a caller's own failure opens it.
        """
        with self._lock:
            self.quiet = False
            self._last_error = error[:300]
            self._consecutive += 1
            if opens:
                self._probing = False
            if opens and self._consecutive >= self.failures:
                self._opened_at = self.clock()
                self._opened_wall = time.time()

    def report(self) -> dict[str, Any]:
        """The state for health checks: state, consecutive failures, open since (epoch s)."""
        return {
            "state": self.state,
            "consecutive_failures": self._consecutive,
            "open_since": self._opened_wall,
            "last_error": self._last_error or None,
        }


def after_fork() -> None:
    """In a forked child: new locks, and no probe in flight (the parent thread that was
    probing does not exist here, so it would never let the next call through)."""
    for breaker in list(_breakers):
        breaker._lock = threading.Lock()
        breaker._probing = False
