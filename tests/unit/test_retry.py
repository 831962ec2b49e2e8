"""roleredis.transport.retry: the one I/O-free retry policy every runner asks."""

from __future__ import annotations

import builtins

import pytest
import redis.exceptions as rex

from roleredis.foundation import errors
from roleredis.foundation.internals import PoolExhausted
from roleredis.transport.retry import (
    SYNC_BACKOFF,
    WRITER_BACKOFF,
    ConnectionDropped,
    Failure,
    RetryPolicy,
    classify,
)


def highest(low: float, high: float) -> float:
    return high


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (rex.ConnectionError("Error 111 connecting"), Failure.UNREACHABLE),
        (ConnectionDropped("connection closed by the server"), Failure.DROPPED),
        (rex.ResponseError("Protocol error: invalid bulk length"), Failure.REFUSED),
        (rex.ResponseError("WRONGTYPE Operation"), Failure.ANSWERED),
        (rex.AuthenticationError("invalid password"), Failure.ANSWERED),
        (rex.TimeoutError("Timeout reading"), Failure.TIMEOUT),
        (PoolExhausted("No connection available."), Failure.EXHAUSTED),
        (rex.ConnectionError("No connection available."), Failure.EXHAUSTED),
        (rex.ConnectionError("[SSL: CERTIFICATE_VERIFY_FAILED]"), Failure.FATAL),
        (rex.InvalidResponse("Protocol error: not Redis"), Failure.FATAL),
        (builtins.ConnectionResetError(104, "reset"), Failure.FATAL),
        (RuntimeError("bug"), Failure.OTHER),
    ],
)
def test_classify(exc: BaseException, kind: Failure) -> None:
    assert classify(exc) is kind


def test_sync_policy_backs_off_within_its_steps_and_budget() -> None:
    policy = RetryPolicy(60.0, uniform=highest)
    refused = rex.ConnectionError("refused")
    delays = [policy.decide(refused, n, 0.0).delay for n in range(1, len(SYNC_BACKOFF) + 2)]
    assert delays == [*SYNC_BACKOFF, None]
    # the delay must end within the budget
    assert policy.decide(refused, 1, 59.99).delay is None


def test_a_give_up_carries_the_translated_error_and_the_servers_state() -> None:
    policy = RetryPolicy(5.0)
    decision = policy.decide(rex.TimeoutError("slow"), 1, 0.0)
    assert decision.delay is None
    assert isinstance(decision.error, errors.TimeoutError)
    assert decision.server == "down"
    answered = policy.decide(rex.ResponseError("WRONGTYPE x"), 1, 0.0)
    assert (answered.delay, answered.server) == (None, "up")
    exhausted = policy.decide(PoolExhausted("No connection available."), 1, 0.0)
    assert isinstance(exhausted.error, errors.OverloadedError)
    assert exhausted.server == "unknown"


def test_a_dropped_connection_is_refused_only_if_the_server_still_answers_ping() -> None:
    policy = RetryPolicy(5.0)
    dropped = ConnectionDropped("connection closed by the server")
    assert policy.should_ping(dropped)
    assert not policy.should_ping(rex.ConnectionError("refused"))
    refused = policy.decide(dropped, 1, 0.0, answers_ping=True)
    assert refused.refused and refused.delay is None and refused.server == "up"
    assert isinstance(refused.error, errors.InvalidArgumentError)
    assert "proto-max-bulk-len" in str(refused.error)
    outage = policy.decide(dropped, 1, 0.0, answers_ping=False)
    assert outage.delay is not None and outage.server == "down"


def test_the_writers_policy_retries_for_ever_at_most_every_2_s() -> None:
    policy = RetryPolicy.for_writer()
    for exc in (
        rex.ConnectionError("refused"),
        rex.TimeoutError("slow"),
        rex.AuthenticationError("invalid password"),
    ):
        for attempt in (1, 5, 50, 5000):
            delay = policy.decide(exc, attempt, 1e9).delay
            assert delay is not None and delay <= WRITER_BACKOFF[-1]
