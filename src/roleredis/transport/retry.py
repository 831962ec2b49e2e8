"""The one retry policy: what a failed round trip means, and whether and when to try again.

It does no I/O and reads no clock: a runner (sync, async, or the background writer's batch loop)
tells it the exception, how many tries have failed and how long it has spent (from its own
clock), and gets a :class:`Decision`: try again after ``delay`` seconds, or give up with
``error`` (already translated); and what the failure says about the server, for the breaker.
The classification of failures lives here and only here.

>>> policy = RetryPolicy(budget=5.0)
>>> decision = policy.decide(rex.ConnectionError("refused"), attempt=1, elapsed=0.0)
>>> 0.01 <= decision.delay <= 0.02, decision.server
(True, 'down')
>>> policy.decide(rex.TimeoutError("slow"), attempt=1, elapsed=0.0).error.error_code
'timeout'
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Callable

import redis.exceptions as rex

from ..foundation.errors import (
    InvalidArgumentError,
    OutcomeUnknownError,
    RoleRedisError,
    translate,
)
from ..foundation.internals import pool_exhausted

__all__ = [
    "SYNC_BACKOFF",
    "WRITER_BACKOFF",
    "ConnectionDropped",
    "Decision",
    "Failure",
    "RetryPolicy",
    "classify",
    "refused_by_server",
    "retryable",
]

#: delays (before jitter) between the tries of a caller's call; all must fit in its budget
SYNC_BACKOFF = (0.02, 0.1, 0.3)
#: the writer's delays: it keeps writes until async.max_age, retrying at least every 2 s
WRITER_BACKOFF = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0)

# what Redis answers to a request it cannot parse (a bulk over proto-max-bulk-len), just before
# it closes the connection
_PROTOCOL_ERROR = "Protocol error"


class ConnectionDropped(rex.ConnectionError):
    """An established connection failed in the middle of a round trip (reset, or closed by
    the server), as opposed to a connection that could not be made."""


class Failure(enum.Enum):
    """What kind of failure an exception is (see :func:`classify`)."""

    UNREACHABLE = "unreachable"  # a connection could not be made or was lost: worth a retry
    DROPPED = "dropped"  # the server closed an established connection: refused, or an outage
    REFUSED = "refused"  # the server said it refuses what was sent (a protocol error)
    ANSWERED = "answered"  # any other reply from the server: an error reply, auth refused
    TIMEOUT = "timeout"  # no answer in time: asking again makes a slow server slower
    EXHAUSTED = "exhausted"  # no pooled connection came free: our side, not the server's
    FATAL = "fatal"  # will fail the same way again: an untrusted cert, not Redis at all
    OTHER = "other"  # not a Redis failure at all (a bug)


def classify(exc: BaseException) -> Failure:
    """The kind of failure ``exc`` is: the one place that tells them apart.

    >>> classify(rex.ConnectionError("No connection available.")).value
    'exhausted'
    """
    if pool_exhausted(exc):
        return Failure.EXHAUSTED
    if isinstance(exc, rex.AuthenticationError):
        return Failure.ANSWERED
    if isinstance(exc, ConnectionDropped):
        return Failure.DROPPED
    if isinstance(exc, rex.ConnectionError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc).upper().replace(" ", "_"):
            return Failure.FATAL
        return Failure.UNREACHABLE
    if isinstance(exc, rex.TimeoutError):
        return Failure.TIMEOUT
    if isinstance(exc, rex.ResponseError):
        return Failure.REFUSED if _PROTOCOL_ERROR in str(exc) else Failure.ANSWERED
    if isinstance(exc, rex.RedisError | OSError):  # not Redis at the other end; a socket error
        return Failure.FATAL
    return Failure.OTHER


def retryable(exc: BaseException) -> bool:
    """A connection failure worth one more try: not auth, not an exhausted pool, not timeouts,
    not a certificate the client does not trust (asking again will not change it)."""
    return classify(exc) is Failure.UNREACHABLE


def refused_by_server(what: str, exc: BaseException | None = None) -> InvalidArgumentError:
    """The error for a connection the server closed on ``what`` while it still answers PING."""
    said = f" ({exc})" if isinstance(exc, rex.ResponseError) else ""
    return InvalidArgumentError(
        f"Redis closed the connection on {what}{said} but still answers PING: it refused what "
        "was sent, most likely a value over the server's proto-max-bulk-len (512 MB by "
        "default; see serialization.max_value_bytes) or a request over its "
        "client-query-buffer-limit; not retried"
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a failed try.

    ``delay``: seconds to wait before the next try, or None to give up with ``error``.
    ``server``: what the failure says about the server, for the breaker: ``"up"`` (it answered:
    close the breaker, end a probe), ``"down"`` (a connection failure or timeout: counts toward
    opening it) or ``"unknown"`` (nothing either way: an exhausted pool, a bug).
    ``refused``: the server refuses what was sent (it closed the connection yet answers PING).
    """

    delay: float | None
    error: RoleRedisError
    server: str
    refused: bool = False


_SERVER = {
    Failure.UNREACHABLE: "down",
    Failure.DROPPED: "down",
    Failure.TIMEOUT: "down",
    Failure.FATAL: "down",
    Failure.REFUSED: "up",
    Failure.ANSWERED: "up",
    Failure.EXHAUSTED: "unknown",
    Failure.OTHER: "unknown",
}


class RetryPolicy:
    """When to try again: exponential backoff with jitter, within a budget.

    ``budget``: seconds a caller's call may spend retrying (socket_connect_timeout); every
    delay must end within it. ``backoff``: the delays before jitter (each is taken at half to
    all of its value); with ``persistent`` the last is repeated for ever (the writer's policy:
    it gives writes up by their age, not by tries), else the call gives up after them.
    ``retry``: the kinds of failure worth another try.
    """

    __slots__ = ("address", "backoff", "budget", "persistent", "retry", "tls", "uniform")

    def __init__(
        self,
        budget: float | None = 5.0,
        *,
        backoff: tuple[float, ...] = SYNC_BACKOFF,
        persistent: bool = False,
        retry: frozenset[Failure] = frozenset({Failure.UNREACHABLE}),
        tls: bool = False,
        address: str | None = None,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.budget = budget
        self.backoff = backoff
        self.persistent = persistent
        self.retry = retry
        self.tls = tls
        self.address = address  # where it connects, for error messages (never the password)
        self.uniform = uniform

    @classmethod
    def for_writer(cls, *, tls: bool = False, address: str | None = None) -> RetryPolicy:
        """The background writer's policy: every failure but a refusal is retried, for ever
        (the writer gives each write up by its age, async.max_age), at least every 2 s."""
        return cls(
            None,
            backoff=WRITER_BACKOFF,
            persistent=True,
            retry=frozenset(Failure) - {Failure.REFUSED, Failure.OTHER},
            tls=tls,
            address=address,
        )

    def delay(self, attempt: int) -> float | None:
        """The jittered delay after the ``attempt``-th failed try, or None when out of tries."""
        steps = self.backoff
        if attempt > len(steps):
            if not self.persistent:
                return None
            attempt = len(steps)
        step = steps[attempt - 1]
        return self.uniform(step / 2, step)

    def should_ping(self, exc: BaseException, repeatable: bool = True) -> bool:
        """Whether the runner should find out if the server still answers PING before
        :meth:`decide`: only for an established connection the server dropped (and not for a
        batch that is not repeatable: its outcome is unknown whatever PING says)."""
        return repeatable and classify(exc) is Failure.DROPPED

    def decide(
        self,
        exc: BaseException,
        attempt: int,
        elapsed: float,
        *,
        answers_ping: bool | None = None,
        what: str = "the call",
        repeatable: bool = True,
    ) -> Decision:
        """What to do after the ``attempt``-th try failed with ``exc``, ``elapsed`` seconds
        after the first failure.

        ``answers_ping`` (found out by the runner when :meth:`should_ping` said so) is whether
        the server answers PING on a new connection: then it closed this one on purpose, and
        the call is refused (invalid_argument), never retried.

        ``repeatable`` False (a batch that must not be carried out twice: a mail send, since
        XADD is not idempotent): a timeout or a connection lost after the batch was written
        leaves its outcome unknown; that is the error (``unknown_outcome``), never a retry.
        A connection that could not be made (nothing was written) is retried as usual.
        """
        kind = classify(exc)
        if not repeatable and kind in (Failure.DROPPED, Failure.TIMEOUT):
            lost = translate(exc, address=self.address, tls=self.tls)
            return Decision(
                None,
                OutcomeUnknownError(
                    f"{what}: the reply was lost ({lost}); it may or may not have been "
                    "carried out, so it is not sent again"
                ),
                _SERVER[kind],
            )
        if kind is Failure.REFUSED or (kind is Failure.DROPPED and answers_ping):
            return Decision(None, refused_by_server(what, exc), "up", refused=True)
        error = translate(exc, address=self.address, tls=self.tls)
        if kind is Failure.DROPPED:
            kind = Failure.UNREACHABLE
        if kind in self.retry:
            delay = self.delay(attempt)
            if delay is not None and (self.budget is None or elapsed + delay < self.budget):
                return Decision(delay, error, _SERVER[kind])
        return Decision(None, error, _SERVER[kind])
