"""A clock that tests move by hand, for what roleredis times (the breaker, the writer's ages).

>>> clock = FakeClock()
>>> clock.advance(2.5)
>>> clock()
1002.5
"""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """Callable like ``time.monotonic``; time moves only when :meth:`advance` is called."""

    __slots__ = ("now",)

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
