"""The budget tools: shared rate budgets that every role and process listed on them draws on
together (docs/budgets.md): ``redis_take``, ``redis_report``, ``redis_give_back`` and
``budget(name)``, whose ``take()`` is a block (``with`` here, ``async with`` from
:func:`roleredis.aio.budget`). Part of :mod:`roleredis.tools`, which re-exports them.

A block's calls are the tools' calls (the table's rows: spans, metrics, logs), raising the
error of a failed result instead of returning it; its concurrency place is renewed by the
process's keeper thread (or the loop's keeper task) and given back on leaving.
"""

from __future__ import annotations

import logging
import os
import time
from types import TracebackType
from typing import Any

from ...core.keeping import keeper, loop_keeper
from ...foundation.errors import InternalError, RoleRedisError
from ...table import calls
from ...table.rows import GIVE_BACK, REPORT, TAKE
from . import Result, role_store

__all__ = [
    "Budget",
    "Drawing",
    "budget",
    "raise_failure",
    "redis_give_back",
    "redis_report",
    "redis_take",
]

log = logging.getLogger("roleredis.budgets")

#: Renew a place at this share of its lease.
EVERY = 1 / 3
_ERRORS: dict[str, type[RoleRedisError]] = {}


def raise_failure(result: Result) -> Result:
    """``result`` if it succeeded; else raise the error it reports (its error_code's class)."""
    if result["success"]:
        return result
    if not _ERRORS:
        todo = [RoleRedisError]
        while todo:
            cls = todo.pop()
            _ERRORS.setdefault(cls.error_code, cls)
            todo.extend(cls.__subclasses__())
    error = _ERRORS.get(result["error_code"], InternalError)(result["error"])
    raise error.with_context(**{k: result[k] for k in ("budget", "retry_after") if k in result})


def redis_take(
    budget: str, tokens: int = 0, *, timeout: float = 0, role: str | None = None
) -> Result:
    """Draw one request and ``tokens`` (an estimate) on the shared ``budget``, waiting up to
    ``timeout`` seconds for room: ``id`` (for redis_report), ``granted_at`` (server time),
    ``waited``, ``place`` (a concurrency place to give back, or None) and its ``lease``. No
    room in time: error_code ``timeout`` (at once when the window shows it cannot come in
    time), with ``retry_after``.

    >>> got = redis_take("doc-llm", 10, role="planner")
    >>> got["success"], got["tokens"]
    (True, 10)
    >>> redis_report("doc-llm", got["id"], 12, role="planner")["debt"]
    2
    >>> redis_give_back("doc-llm", got["place"], role="planner")["given_back"]
    True
    """
    return calls.call(TAKE, role_store, role, (budget, tokens), {"timeout": timeout})


def redis_report(budget: str, id: str, actual: int, *, role: str | None = None) -> Result:
    """Report the ``actual`` tokens of the take ``id``: fewer than estimated lowers it, more
    is charged as ``debt`` now (later takes wait for it to leave the window)."""
    return calls.call(REPORT, role_store, role, (budget, id, actual))


def redis_give_back(budget: str, place: str, *, role: str | None = None) -> Result:
    """Give back the concurrency ``place`` a take returned (``given_back`` False: its lease
    had run out)."""
    return calls.call(GIVE_BACK, role_store, role, (budget, place))


class _Place:
    """A concurrency place kept by a keeper: renewed every third of its lease; ``lost`` once
    a renewal finds it expired (or none succeeded within the lease)."""

    def __init__(self, store: Any, budget: str, place: str, lease: float, sent_at: float) -> None:
        self.store, self.budget, self.place, self.lease = store, budget, place, lease
        self.valid_until = sent_at + lease * 0.99
        self.due = sent_at + lease * EVERY
        self.lost = False
        self.kept_by: Any = None

    def _kept(self, renewed: bool | None, sent_at: float) -> None:
        if renewed:
            self.valid_until = sent_at + self.lease * 0.99
            self.due = sent_at + self.lease * EVERY
            return
        if renewed is False or time.monotonic() >= self.valid_until:
            self.lost = True
            log.warning("budget %r: a concurrency place was lost (its lease ran out)", self.budget)
            self.kept_by.discard(self)
        else:
            self.due = time.monotonic() + min(1.0, self.lease * 0.1)

    def keep(self) -> None:
        sent_at = time.monotonic()
        try:
            renewed: bool | None = self.store.renew_place(self.budget, self.place)
        except RoleRedisError:
            renewed = None
        self._kept(renewed, sent_at)

    async def akeep(self) -> None:
        sent_at = time.monotonic()
        try:
            renewed: bool | None = await self.store.renew_place(self.budget, self.place)
        except RoleRedisError:
            renewed = None
        self._kept(renewed, sent_at)


class Drawing:
    """One take of a budget, as a block: ``with budget("openai").take(tokens=500) as t:``.
    Entering waits for room (:class:`~roleredis.foundation.errors.TimeoutError` if none comes
    within ``timeout``); ``t.report(actual)`` charges what was really used; leaving gives the
    concurrency place back. ``granted_at`` (server seconds), ``waited``, ``id``, ``tokens``,
    ``place``, ``debt``, ``lost`` (the place's lease ran out while held)."""

    def __init__(self, owner: Budget, tokens: int, timeout: float) -> None:
        self._owner = owner
        self._args = (owner.name, tokens)
        self._timeout = timeout
        self._pid = os.getpid()
        self._place: _Place | None = None
        self.result: Result = {}
        self.debt = 0

    def __getattr__(self, name: str) -> Any:
        if name in ("id", "tokens", "granted_at", "waited", "place", "lease"):
            return self.result.get(name)
        raise AttributeError(name)

    @property
    def lost(self) -> bool:
        return self._place is not None and self._place.lost

    def _entered(self, result: Result, kept_by: Any) -> Drawing:
        self.result = raise_failure(result)
        if result["place"]:
            self._place = _Place(
                self._owner.store, self._owner.name, result["place"], result["lease"],
                time.monotonic() - 0.001,
            )  # fmt: skip
            self._place.kept_by = kept_by
            kept_by.add(self._place)
        return self

    def _leaving(self) -> _Place | None:
        place, self._place = self._place, None
        if place is not None:
            place.kept_by.discard(place)
        return place if os.getpid() == self._pid else None

    def _reported(self, result: Result) -> int:
        self.debt += raise_failure(result)["debt"]
        return self.debt

    # sync
    def __enter__(self) -> Drawing:
        owner = self._owner
        result = calls.call(TAKE, role_store, owner.role, self._args, {"timeout": self._timeout})
        return self._entered(result, keeper())

    def report(self, actual: int) -> int:
        """Charge ``actual`` tokens for this take (instead of the estimate); returns the debt."""
        owner = self._owner
        return self._reported(
            calls.call(REPORT, role_store, owner.role, (owner.name, self.id, actual))
        )

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        place = self._leaving()
        if place is not None:
            got = calls.call(GIVE_BACK, role_store, self._owner.role, (place.budget, place.place))
            if not got["success"]:
                log.warning("budget %r: giving a place back failed: %s", place.budget, got["error"])

    # async
    async def __aenter__(self) -> Drawing:
        owner = self._owner
        result = await calls.call_async(TAKE, owner.role, self._args, {"timeout": self._timeout})
        return self._entered(result, loop_keeper())

    async def areport(self, actual: int) -> int:
        """:meth:`report` for asyncio code."""
        owner = self._owner
        result = await calls.call_async(REPORT, owner.role, (owner.name, self.id, actual))
        return self._reported(result)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        place = self._leaving()
        if place is not None:
            got = await calls.call_async(GIVE_BACK, self._owner.role, (place.budget, place.place))
            if not got["success"]:
                log.warning("budget %r: giving a place back failed: %s", place.budget, got["error"])


class Budget:
    """A shared budget as a role draws on it: :meth:`take` makes a :class:`Drawing` block."""

    def __init__(self, name: str, store: Any) -> None:
        self.name = name
        self.store = store
        self.role: str = store.role

    def take(self, tokens: int = 0, *, timeout: float = 30) -> Drawing:
        """A block that draws one request and ``tokens`` (an estimate) on entering, waiting
        up to ``timeout`` seconds for room."""
        return Drawing(self, tokens, timeout)


def budget(name: str, *, role: str | None = None) -> Budget:
    """The shared budget ``name`` for the calling role (docs/budgets.md)::

        with budget("openai").take(tokens=estimate, timeout=30) as t:
            answer = call_the_model()
            t.report(answer.tokens_used)

    >>> with budget("doc-llm", role="planner").take(tokens=10) as t:
    ...     t.report(8)
    0
    """
    return Budget(name, role_store(role, skip=-1))
