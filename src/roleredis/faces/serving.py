"""``serve(handler)``: the loop a responder would write itself (receive, call the handler,
reply or acknowledge), driven with the tools; :func:`roleredis.aio.serve` drives the same
steps (:mod:`roleredis.table.serving`) with their awaitable twins.

It stops cleanly when ``stop`` is set (a :class:`threading.Event`), and on SIGINT or SIGTERM
when it runs in the main thread (the previous handlers are put back when it returns): the
message being handled is finished and answered, the receive under way returns within
``block_ms``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from ..core.holding import KeptMessages
from ..table import roles
from ..table.serving import (
    Ack,
    Handle,
    Handled,
    HandlingSpans,
    Keeping,
    Pause,
    Receive,
    Reply,
    Step,
    drive,
    serving,
)
from . import tools

__all__ = ["STOP_SIGNALS", "serve", "stop_on_signals"]

#: The signals that stop a serve loop running in the main thread.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], object]) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM call ``stop`` instead of their handlers (only in
    the main thread, where Python runs signal handlers; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def serve(
    handler: Callable[[dict[str, Any]], Any],
    *,
    role: str | None = None,
    stop: threading.Event | None = None,
    count: int = 10,
    block_ms: int = 1000,
) -> None:
    """Serve the calling role's inbox with ``handler`` until ``stop`` is set (or SIGINT or
    SIGTERM in the main thread).

    ``handler(message)`` gets each message as :func:`~roleredis.tools.redis_receive` gives it.
    For a request (``message["reply_expected"]``) its return value is the reply and an
    exception it raises an error reply (type and message); the request is acknowledged with
    the reply. The messages of a receive are touched every third of
    messaging.visibility_timeout (``redis_touch``) until the next receive: a long handler
    keeps its message, and those waiting behind it stay this process's. Plain mail is
    acknowledged once handled; if the handler raises, the message
    stays unacknowledged (delivered again, a dead letter after messaging.max_deliveries).

    >>> import threading
    >>> done = threading.Event()
    >>> def square(message):
    ...     done.set()  # one request is enough for this example
    ...     return message["body"] ** 2
    >>> options = {"role": "maths", "stop": done}
    >>> server = threading.Thread(target=serve, args=(square,), kwargs=options)
    >>> server.start()
    >>> tools.redis_request("maths", 12, timeout=10, role="pupil")["reply"]
    144
    >>> server.join()
    """
    role = roles.current(role)  # resolved once, here: the loop's calls are the library's
    stopped = stop if stop is not None else threading.Event()
    loop = serving(count, block_ms)
    spans = HandlingSpans()
    keeping = Keeping(lambda ids: KeptMessages(tools.role_store(role), ids).start())
    with stop_on_signals(stopped.set):
        step: Step | None = next(loop)
        try:
            while step is not None and not (stopped.is_set() and isinstance(step, Receive)):
                spans.before(step)
                keeping.before(step)
                outcome = _carry_out(step, handler, role, stopped)
                keeping.after(step, outcome)
                spans.after(outcome)
                step = drive(loop, outcome, stopped.is_set())
        finally:
            keeping.close()
            spans.close()


def _carry_out(
    step: Any, handler: Callable[[dict[str, Any]], Any], role: str | None, stop: threading.Event
) -> Any:
    if isinstance(step, Receive):
        return tools.redis_receive(step.count, step.block_ms, role=role)
    if isinstance(step, Handle):
        try:
            return Handled(handler(step.message), None)
        except Exception as exc:  # the handler's failure is the outcome
            return Handled(None, exc)
    if isinstance(step, Reply):
        return tools.redis_reply(step.id, step.body, error=step.error, role=role)
    if isinstance(step, Ack):
        return tools.redis_ack(step.ids, role=role)
    if isinstance(step, Pause):
        stop.wait(step.seconds)
        return None
    raise TypeError(f"unknown serve step {step!r}")
