"""The circuit breaker's state machine on a fake clock: no server, no sleeping."""

from __future__ import annotations

import pytest

from roleredis.foundation.errors import ConnectionFailedError
from roleredis.testing import FakeClock
from roleredis.transport.breaker import Breaker


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_opens_after_the_configured_failures_only(clock: FakeClock) -> None:
    breaker = Breaker(failures=3, cooldown=2.0, clock=clock)
    breaker.failed("refused")
    breaker.failed("refused")
    assert breaker.state == "closed"
    breaker.before_call()  # two failures never hold the next call back
    breaker.failed("refused")
    assert breaker.state == "open"
    with pytest.raises(ConnectionFailedError, match="last: refused"):
        breaker.before_call()


def test_one_probe_after_the_cooldown_then_closed_on_success(clock: FakeClock) -> None:
    breaker = Breaker(failures=2, cooldown=2.0, clock=clock)
    breaker.failed()
    breaker.failed()
    clock.advance(1.9)
    with pytest.raises(ConnectionFailedError, match=r"next try in 0\.1 s"):
        breaker.before_call()
    clock.advance(0.1)
    breaker.before_call()  # the probe
    assert breaker.state == "half_open"
    with pytest.raises(ConnectionFailedError):
        breaker.before_call()  # only one probe at a time
    breaker.succeeded()
    assert breaker.state == "closed"
    breaker.before_call()


def test_a_failed_probe_opens_it_for_another_cooldown(clock: FakeClock) -> None:
    breaker = Breaker(failures=2, cooldown=2.0, clock=clock)
    breaker.failed()
    breaker.failed()
    clock.advance(2.0)
    breaker.before_call()
    breaker.failed("still down")
    assert breaker.state == "open"
    clock.advance(1.0)
    with pytest.raises(ConnectionFailedError, match="still down"):
        breaker.before_call()
    clock.advance(1.0)
    breaker.before_call()


def test_report(clock: FakeClock) -> None:
    breaker = Breaker(failures=2, cooldown=2.0, clock=clock)
    breaker.failed("x")
    assert breaker.report()["state"] == "closed"
    assert breaker.report()["consecutive_failures"] == 1
    breaker.failed("x")
    report = breaker.report()
    assert report["state"] == "open"
    assert report["open_since"] is not None
    assert report["last_error"] == "x"
