"""The asyncio face: ``await``-able versions of every tool, on redis.asyncio, and AsyncRoleStore.

The operations are the same generators the sync path runs (:mod:`roleredis.core.ops`); only the
I/O differs. The functions resolve the calling role when they are called, like the sync ones,
and return the coroutine to await: so ``asyncio.gather(redis_write(...))`` written in
``roles/timer/`` writes under ``timer:`` although the coroutine runs later in a task. (On
Python 3.12 and later they are marked so that ``inspect.iscoroutinefunction`` is true.)

Each event loop gets its own client, closed when ``asyncio.run()`` shuts the loop
down, so running several loops (one after another, or at once in several threads) never meets
"attached to a different loop" or "Event loop is closed".

>>> import asyncio
>>> from roleredis import aio
>>> async def main():
...     await aio.redis_write("forecast", {"sky": "clear"}, role="weather")
...     return (await aio.redis_read("forecast", role="weather"))["value"]
>>> asyncio.run(main())
{'sky': 'clear'}
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from ..core import events, results
from ..core.holding import AsyncKeptMessages, AsyncLease
from ..core.store import AsyncRoleStore, Following
from ..table import calls, roles, rows
from ..table.serving import (
    Ack,
    Handle,
    Handled,
    HandlingSpans,
    Keeping,
    Receive,
    Reply,
    Step,
    drive,
    serving,
)
from ..transport.aexecutor import aclose
from . import tools
from .agents.calls import acall_tool
from .serving import STOP_SIGNALS
from .tools import redis_flush, redis_read_async, redis_send_async, redis_write_async
from .tools.budgets import Budget

__all__ = [
    "AsyncRoleStore",
    "Following",
    "aclose",
    "budget",
    "call_tool",
    "follow_events",
    "lease",
    "redis_ack",
    "redis_acquire",
    "redis_clear_role_data",
    "redis_dead_letters",
    "redis_delete",
    "redis_exists",
    "redis_flush",
    "redis_get_keys",
    "redis_give_back",
    "redis_health_check",
    "redis_publish",
    "redis_read",
    "redis_read_async",
    "redis_read_events",
    "redis_read_many",
    "redis_receive",
    "redis_release",
    "redis_renew",
    "redis_replay_dead_letters",
    "redis_reply",
    "redis_report",
    "redis_request",
    "redis_send",
    "redis_send_async",
    "redis_take",
    "redis_touch",
    "redis_write",
    "redis_write_async",
    "redis_write_many",
    "serve",
]

T = TypeVar("T")
Result = dict[str, Any]
Call = tuple[str, tuple[Any, ...]]


# --- the face: the table bound to awaitable functions, with the sync tools' signatures --------

# the twins say they are of the public path, roleredis.aio (this module's alias)
PUBLIC_PATH = "roleredis.aio"

redis_write = calls.bind_async(rows.WRITE, tools.redis_write, PUBLIC_PATH)
redis_read = calls.bind_async(rows.READ, tools.redis_read, PUBLIC_PATH)
redis_get_keys = calls.bind_async(rows.GET_KEYS, tools.redis_get_keys, PUBLIC_PATH)
redis_delete = calls.bind_async(rows.DELETE, tools.redis_delete, PUBLIC_PATH)
redis_exists = calls.bind_async(rows.EXISTS, tools.redis_exists, PUBLIC_PATH)
redis_health_check = calls.bind_async(rows.HEALTH_CHECK, tools.redis_health_check, PUBLIC_PATH)
redis_clear_role_data = calls.bind_async(
    rows.CLEAR_ROLE_DATA, tools.redis_clear_role_data, PUBLIC_PATH
)
redis_write_many = calls.bind_async(rows.WRITE_MANY, tools.redis_write_many, PUBLIC_PATH)
redis_read_many = calls.bind_async(rows.READ_MANY, tools.redis_read_many, PUBLIC_PATH)
redis_publish = calls.bind_async(rows.PUBLISH, tools.redis_publish, PUBLIC_PATH)
redis_read_events = calls.bind_async(rows.READ_EVENTS, tools.redis_read_events, PUBLIC_PATH)


def call_tool(name: str, arguments: Any = None, *, role: str) -> Coroutine[Any, Any, Result]:
    """:func:`roleredis.call_tool` on this face: the coroutine to await; it never raises. The
    tool runs as this module's function of its name."""
    return acall_tool(name, arguments, role=role, functions=sys.modules[__name__])


# --- following a role's events ----------------------------------------------------------------


def follow_events(
    from_role: str, topic: str, *, after: str = "$", role: str | None = None
) -> Following[Result]:
    """An endless async iterator over ``from_role``'s events on ``topic`` published after
    ``after`` (default "$": from now on), each as :func:`redis_read_events` gives them (id,
    from, topic, event, at), in order, none missed between reads.

    It is also an async context manager, and that is the safe way to follow "from now on":
    ``async with follow_events(...) as events:`` resolves ``"$"`` to the newest event's id
    on entering, before the block goes on, so an event published right after is seen. Plain
    iteration resolves ``"$"`` at the first ``anext``: events published between this call and
    then are not seen. Leaving the block (or ``await events.aclose()``) stops following.

    It rides out failures that pass (the server unreachable or slow) and goes on from where it
    was; it raises what will not pass, being an iterator and not a result: the typed
    :class:`~roleredis.foundation.errors.RoleRedisError` (``PermissionDeniedError`` for a role
    whose user may not read others' events, ``InvalidArgumentError`` at once, in this call, for
    a bad role, topic or ``after``). See :meth:`AsyncRoleStore.follow_events`.

    >>> import asyncio
    >>> async def next_two():
    ...     async with follow_events("weather", "rain", role="radar") as rain:
    ...         for n in (1, 2):  # published after "$" was resolved: both seen
    ...             await redis_publish("rain", {"mm": n}, role="weather")
    ...         return [(await anext(rain))["event"] for _ in range(2)]
    >>> asyncio.run(next_two())
    [{'mm': 1}, {'mm': 2}]
    """
    events.validate_follow(from_role, topic, after)
    store = calls.async_store(role, skip=1)  # the role of this function's caller
    return Following(store, from_role, topic, after, results.event)


redis_send = calls.bind_async(rows.SEND, tools.redis_send, PUBLIC_PATH)
redis_receive = calls.bind_async(rows.RECEIVE, tools.redis_receive, PUBLIC_PATH)
redis_ack = calls.bind_async(rows.ACK, tools.redis_ack, PUBLIC_PATH)
redis_request = calls.bind_async(rows.REQUEST, tools.redis_request, PUBLIC_PATH)
redis_reply = calls.bind_async(rows.REPLY, tools.redis_reply, PUBLIC_PATH)


async def serve(
    handler: Callable[[dict[str, Any]], Any],
    *,
    role: str | None = None,
    stop: asyncio.Event | None = None,
    count: int = 10,
    block_ms: int = 1000,
) -> None:
    """Serve the calling role's inbox with ``handler`` (a coroutine function, or a plain one)
    until ``stop`` is set, or SIGINT or SIGTERM when the loop runs in the main thread: the
    steps of :func:`roleredis.serve` (:mod:`roleredis.table.serving`), with awaitable calls.

    >>> import asyncio
    >>> async def main():
    ...     stop = asyncio.Event()
    ...     async def double(message):
    ...         stop.set()  # one request is enough for this example
    ...         return message["body"] * 2
    ...     server = asyncio.create_task(serve(double, role="maths", stop=stop))
    ...     answer = await redis_request("maths", 21, timeout=10, role="pupil")
    ...     await server
    ...     return answer["reply"]
    >>> asyncio.run(main())
    42
    """
    role = roles.current(role)
    stopped = stop if stop is not None else asyncio.Event()
    loop = serving(count, block_ms)
    spans = HandlingSpans()
    keeping = Keeping(lambda ids: AsyncKeptMessages(calls.async_store(role), ids).start())
    with _stop_on_signals(stopped.set):
        step: Step | None = next(loop)
        try:
            while step is not None and not (stopped.is_set() and isinstance(step, Receive)):
                spans.before(step)
                keeping.before(step)
                outcome = await _carry_out(step, handler, role, stopped)
                keeping.after(step, outcome)
                spans.after(outcome)
                step = drive(loop, outcome, stopped.is_set())
        finally:
            keeping.close()
            spans.close()


async def _carry_out(
    step: Step, handler: Callable[[dict[str, Any]], Any], role: str, stop: asyncio.Event
) -> Any:
    if isinstance(step, Receive):
        return await redis_receive(step.count, step.block_ms, role=role)
    if isinstance(step, Handle):
        try:
            value = handler(step.message)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:  # the handler's failure is the outcome
            return Handled(None, exc)
        return Handled(value, None)
    if isinstance(step, Reply):
        return await redis_reply(step.id, step.body, error=step.error, role=role)
    if isinstance(step, Ack):
        return await redis_ack(step.ids, role=role)
    with contextlib.suppress(TimeoutError):  # a Pause: wait, or less if stopped
        await asyncio.wait_for(stop.wait(), step.seconds)
    return None


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], object]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``stop`` on the running loop while in the block (main thread
    only, where asyncio takes signal handlers)."""
    loop = asyncio.get_running_loop()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)


redis_dead_letters = calls.bind_async(rows.DEAD_LETTERS, tools.redis_dead_letters, PUBLIC_PATH)
redis_replay_dead_letters = calls.bind_async(
    rows.REPLAY_DEAD_LETTERS, tools.redis_replay_dead_letters, PUBLIC_PATH
)
redis_touch = calls.bind_async(rows.TOUCH, tools.redis_touch, PUBLIC_PATH)
redis_acquire = calls.bind_async(rows.ACQUIRE, tools.redis_acquire, PUBLIC_PATH)
redis_renew = calls.bind_async(rows.RENEW, tools.redis_renew, PUBLIC_PATH)
redis_release = calls.bind_async(rows.RELEASE, tools.redis_release, PUBLIC_PATH)
redis_take = calls.bind_async(rows.TAKE, tools.redis_take, PUBLIC_PATH)
redis_report = calls.bind_async(rows.REPORT, tools.redis_report, PUBLIC_PATH)
redis_give_back = calls.bind_async(rows.GIVE_BACK, tools.redis_give_back, PUBLIC_PATH)


def budget(name: str, *, role: str | None = None) -> Budget:
    """``async with budget("openai").take(tokens=500, timeout=30) as t:``:
    :func:`roleredis.tools.budget` for asyncio code (``await t.areport(actual)``), its
    concurrency place renewed by the running loop's keeper task (see docs/budgets.md).

    >>> import asyncio
    >>> async def ask():
    ...     async with budget("doc-llm", role="planner").take(tokens=10) as t:
    ...         return await t.areport(15)
    >>> asyncio.run(ask())
    5
    """
    return Budget(name, calls.async_store(role, skip=1))


def lease(
    name: str,
    ttl: float = 30,
    *,
    wait: float = 0,
    role: str | None = None,
    replicas: int | None = None,
) -> AsyncLease:
    """``async with lease("nightly-report", ttl=30) as held:``: :func:`roleredis.tools.lease`
    for asyncio code, renewed by the running loop's one keeper task (see docs/leases.md).

    >>> import asyncio
    >>> async def report():
    ...     async with lease("nightly-report", ttl=30, role="reports") as held:
    ...         return held.fence > 0 and not held.lost
    >>> asyncio.run(report())
    True
    """
    store = calls.async_store(role, skip=1)  # the role of this function's caller
    return AsyncLease(store, name, ttl, wait=wait, replicas=replicas)
