"""Issue 10, item 2 (b): a half-open breaker whose probe ended in a Redis error reply stayed
half-open for ever.

Only connection failures and timeouts reached the breaker, so a probe answered with, say,
WRONGTYPE neither closed nor reopened it: ``_probing`` stayed set and every later call failed
fast ("circuit breaker open") although the server was answering. Any answer from the server now
closes it; a call that tells nothing about the server (an exhausted pool) lets the next call
probe instead.
"""

from __future__ import annotations

import pytest
import redis.exceptions as rex

from roleredis.foundation import errors
from roleredis.foundation.internals import PoolExhausted
from roleredis.testing import FakeClock
from roleredis.transport.breaker import Breaker
from roleredis.transport.executor import SyncExecutor


class Answering:
    """A stand-in client whose every call fails with ``exc``, then answers."""

    def __init__(self, exc: BaseException) -> None:
        self.exc: BaseException | None = exc

    def get(self, key: str) -> bytes:
        exc, self.exc = self.exc, None
        if exc is not None:
            raise exc
        return b"1"


def _half_open(clock: FakeClock) -> Breaker:
    breaker = Breaker(failures=1, cooldown=1.0, clock=clock)
    breaker.failed("down")
    clock.advance(1.0)
    return breaker


@pytest.mark.parametrize(
    "exc",
    [
        rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        rex.ResponseError("OOM command not allowed"),
        rex.AuthenticationError("invalid username-password pair"),
    ],
)
def test_a_probe_answered_with_an_error_reply_closes_the_breaker(exc: BaseException) -> None:
    clock = FakeClock()
    breaker = _half_open(clock)
    run = SyncExecutor(Answering(exc), breaker=breaker)
    with pytest.raises(errors.RoleRedisError):
        run([("get", ("k",))])  # the probe: the server answered, with an error
    assert breaker.state == "closed"
    assert run([("get", ("k",))]) == [b"1"]


def test_a_probe_that_tells_nothing_lets_the_next_call_probe() -> None:
    clock = FakeClock()
    breaker = _half_open(clock)
    run = SyncExecutor(Answering(PoolExhausted("No connection available.")), breaker=breaker)
    with pytest.raises(errors.OverloadedError):
        run([("get", ("k",))])
    assert breaker.state == "open"  # still open, but not stuck: the next call is the probe
    assert run([("get", ("k",))]) == [b"1"]
    assert breaker.state == "closed"
