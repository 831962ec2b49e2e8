"""The loop of ``serve``, written once without I/O: :func:`serving` yields the steps (receive,
handle a message, reply, acknowledge, pause) and gets their outcomes; the sync driver
(:func:`roleredis.serve`, in :mod:`roleredis.faces.serving`) and the async one
(:func:`roleredis.aio.serve`) carry the steps out with the tools or their awaitable twins.

What the loop does with a message, by the handler's outcome:

- a request (``reply_expected``): the handler's return value is the reply; an exception the
  handler raised is an error reply (its type and message, never a traceback); either way the
  request is acknowledged with the reply (``redis_reply``). A return value that cannot be
  stored exactly becomes an error reply saying so, so the requester is not left waiting.
- plain mail: acknowledged once handled (the handled messages of one receive in one
  ``redis_ack``); a handler that raises leaves the message unacknowledged: it is delivered
  again after ``messaging.visibility_timeout``, and becomes a dead letter after
  ``messaging.max_deliveries``. The exception is logged (type and message).

>>> loop = serving(count=5, block_ms=100)
>>> next(loop)
Receive(count=5, block_ms=100)
>>> loop.send({"success": True, "messages": [{"id": "a/1-0", "reply_expected": False}]})
Handle(message={'id': 'a/1-0', 'reply_expected': False})
>>> loop.send(Handled(value=None, error=None))
Ack(ids=['a/1-0'])
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Generator
from typing import Any

from ..core.mail import error_text
from .tracing import handling

__all__ = [
    "Ack",
    "Handle",
    "Handled",
    "HandlingSpans",
    "Keeping",
    "Pause",
    "Receive",
    "Reply",
    "Step",
    "Stopping",
    "drive",
    "serving",
]

log = logging.getLogger("roleredis.serve")

#: How long (seconds) the loop pauses after a receive that failed, at first and at most
#: (doubling in between), so a server that is down is not asked in a tight loop.
PAUSE_FIRST = 0.1
PAUSE_MOST = 5.0


class Stopping(Exception):
    """Thrown into :func:`serving` at a :class:`Handle` step when the loop is stopped: the
    messages not handled yet are left (delivered again after the visibility timeout), those
    handled are still acknowledged, and the next step is a :class:`Receive`, where the
    driver stops."""


@dataclasses.dataclass(frozen=True, slots=True)
class Receive:
    """``redis_receive(count, block_ms)``: the outcome is its result dict."""

    count: int
    block_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Handle:
    """Call the handler with ``message`` (a dict as redis_receive gives it): the outcome is a
    :class:`Handled`."""

    message: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Handled:
    """What the handler did: returned ``value``, or raised ``error``."""

    value: Any
    error: BaseException | None


@dataclasses.dataclass(frozen=True, slots=True)
class Reply:
    """``redis_reply(id, body, error=error)``: the outcome is its result dict."""

    id: str
    body: Any
    error: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    """``redis_ack(ids)``: the outcome is its result dict."""

    ids: list[str]


@dataclasses.dataclass(frozen=True, slots=True)
class Pause:
    """Wait ``seconds`` (or until stopped): the outcome is None."""

    seconds: float


Step = Receive | Handle | Reply | Ack | Pause


def serving(count: int = 10, block_ms: int = 1000) -> Generator[Step, Any, None]:
    """The steps of the serve loop, forever (the drivers stop it between steps)."""
    pause = PAUSE_FIRST
    while True:
        got = yield Receive(count, block_ms)
        if not got.get("success"):
            log.warning(
                "serve: a receive failed (%s): %s; trying again in %.1f s",
                got.get("error_code"),
                got.get("error"),
                pause,
            )
            yield Pause(pause)
            pause = min(pause * 2, PAUSE_MOST)
            continue
        pause = PAUSE_FIRST
        handled: list[str] = []
        for message in got.get("messages", ()):
            try:
                outcome: Handled = yield Handle(message)
            except Stopping:  # the rest stay unacknowledged: delivered again, elsewhere
                break
            if message.get("reply_expected"):
                yield from _answer(message, outcome)
            elif outcome.error is None:
                handled.append(message["id"])
            else:
                log.warning(
                    "serve: the handler raised on message %s from %s (%s); it stays "
                    "unacknowledged and is delivered again",
                    message.get("id"),
                    message.get("from"),
                    error_text(outcome.error),
                )
        if handled:
            acked = yield Ack(handled)
            if not acked.get("success"):
                log.warning("serve: an ack failed: %s", acked.get("error"))


def _answer(message: dict[str, Any], outcome: Handled) -> Generator[Step, Any, None]:
    """Reply to a request with the handler's value or error; a value that cannot be stored
    exactly becomes an error reply saying so."""
    error = None if outcome.error is None else error_text(outcome.error)
    body = outcome.value if error is None else None
    done = yield Reply(message["id"], body, error)
    if (
        not done.get("success")
        and error is None
        and done.get("error_code")
        in (
            "serialization",
            "invalid_argument",
        )
    ):
        done = yield Reply(message["id"], None, f"the handler's reply: {done.get('error')}")
    if not done.get("success"):
        log.warning(
            "serve: the reply to request %s from %s failed (%s): %s",
            message.get("id"),
            message.get("from"),
            done.get("error_code"),
            done.get("error"),
        )


class HandlingSpans:
    """The span of each message served (:func:`roleredis.otel.handling`: a child of the
    sender's), current from its :class:`Handle` step through its :class:`Reply`, so the reply
    carries the handling's context back to the requester. The drivers call :meth:`before`
    each step and its outcome to :meth:`after`, and :meth:`close` when they stop. Nothing while
    tracing is off."""

    __slots__ = ("_id", "_open")

    def __init__(self) -> None:
        self._open: handling | None = None
        self._id: Any = None

    def before(self, step: Step) -> None:
        if isinstance(step, Reply) and step.id == self._id:
            return
        self.close()
        if isinstance(step, Handle):
            self._open = handling(step.message)
            self._open.__enter__()
            self._id = step.message.get("id")

    def after(self, outcome: Any) -> None:
        if self._open is not None and isinstance(outcome, Handled) and outcome.error:
            self._open.failed(outcome.error)

    def close(self) -> None:
        if self._open is not None:
            self._open.__exit__(None, None, None)
            self._open = None


def drive(loop: Generator[Step, Any, None], outcome: Any, stopped: bool) -> Step | None:
    """The next step of ``loop`` after ``outcome``; None when the drivers must stop: at a
    receive once ``stopped``. A handle step met once stopped is not carried out
    (:class:`Stopping` is thrown in instead)."""
    step = loop.send(outcome)
    while stopped and isinstance(step, Handle):
        step = loop.throw(Stopping())
    return None if stopped and isinstance(step, Receive) else step


class Keeping:
    """The messages of the last receive, kept while the loop works through them: touched
    every third of messaging.visibility_timeout (``redis_touch``, see
    :class:`~roleredis.core.holding.KeptMessages`) from the receive until the next one, so a
    long handler keeps its message, and the messages waiting behind it in the same receive
    are not claimed by another process meanwhile; no delivery is counted. Those acknowledged
    drop out of it. ``keep(ids)`` makes the keeper (sync or of the loop) and starts it."""

    def __init__(self, keep: Callable[[list[str]], Any]) -> None:
        self._keep = keep
        self._kept: Any = None

    def before(self, step: Step) -> None:
        if isinstance(step, Receive):
            self.close()

    def after(self, step: Step, outcome: Any) -> None:
        if isinstance(step, Receive) and outcome.get("success") and outcome.get("messages"):
            self._kept = self._keep([m["id"] for m in outcome["messages"]])

    def close(self) -> None:
        if self._kept is not None:
            self._kept.stop()
            self._kept = None
