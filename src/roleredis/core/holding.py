"""Holding: a lease held and renewed in the background (:class:`Held`, made by the context
managers :class:`Lease` and :class:`AsyncLease`), and messages kept while a handler runs
(:class:`KeptMessages`, made by :func:`keeping_messages` / :func:`akeeping_messages`).

Renewals and touches are items of the process's one keeper thread, or of the running loop's
one keeper task (:mod:`roleredis.core.keeping`): not a thread per lease.

A lease is renewed every third of its ttl. It is valid until the send time of its last
successful grant or renewal plus its ttl, less a margin for clock drift (``DRIFT`` of the ttl
and 2 ms): a renewal that fails for a passing reason (the server unreachable, a failover) is
tried again until then, and one that has not succeeded by then, or that the server answers
with "not this token's", loses the lease: ``held.lost`` turns true, a warning is logged on
``roleredis.leases``, ``held.check()`` raises :class:`~roleredis.foundation.errors.LostError`,
and it is never renewed again. A forked child does not hold its parent's leases: there they
are lost, and leaving the block does not release them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ..foundation.errors import LostError, RoleRedisError
from . import leases
from .keeping import keeper, loop_keeper
from .mail.common import id_list

if TYPE_CHECKING:
    from .store import AsyncRoleStore, RoleStore

__all__ = [
    "DRIFT",
    "AsyncKeptMessages",
    "AsyncLease",
    "Held",
    "KeptMessages",
    "Lease",
]

log = logging.getLogger("roleredis.leases")

#: The share of a ttl by which the holder's clock may run apart from the server's.
DRIFT = 0.01
_MARGIN = 0.002
#: Renew (and touch) at this share of the ttl (of the visibility timeout).
EVERY = 1 / 3
#: After a failed renewal, try again after this share of what is left of the lease, at most
#: RETRY_AT_MOST seconds and at least RETRY_AT_LEAST.
RETRY_AT_MOST = 1.0
RETRY_AT_LEAST = 0.01


class Held:
    """A lease this holder holds: ``name``, ``fence`` (grows with every grant of the name:
    pass it to what the lease protects, which refuses a lower one), ``token``, ``ttl``,
    ``role``; ``lost`` and :meth:`check`. Made by :class:`Lease` / :class:`AsyncLease`."""

    __slots__ = (
        "_clock",
        "_keeper",
        "_pid",
        "_replicas",
        "_store",
        "_valid_until",
        "_why",
        "due",
        "fence",
        "name",
        "role",
        "token",
        "ttl",
    )

    def __init__(
        self,
        store: RoleStore | AsyncRoleStore,
        granted: leases.Granted,
        replicas: int | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store: Any = store
        self._keeper: Any = None  # the keeper renewing it (a thread's or a loop's)
        self._replicas = replicas
        self._clock = clock
        self._pid = os.getpid()
        self._why: str | None = None
        self.name = granted.name
        self.token = granted.token
        self.fence = granted.fence
        self.ttl = granted.ttl
        self.role = store.role
        self._valid_until = 0.0
        self.due = 0.0
        self._renewed(granted.sent_at)

    def __repr__(self) -> str:
        state = "lost" if self.lost else "held"
        return f"<Held lease {self.name!r} of {self.role} fence={self.fence} {state}>"

    @property
    def valid_for(self) -> float:
        """Seconds the lease is surely still held (0 once lost)."""
        return 0.0 if self.lost else max(0.0, self._valid_until - self._clock())

    @property
    def lost(self) -> bool:
        """True once the lease is no longer surely this holder's (then for good)."""
        if self._why is None:
            if os.getpid() != self._pid:
                self._why = "held by the parent process (this is a forked child)"
            elif self._clock() >= self._valid_until:
                self._lose("its ttl ran out before a renewal succeeded (renewal came too late)")
        return self._why is not None

    def check(self) -> None:
        """Raise :class:`~roleredis.foundation.errors.LostError` if the lease is lost."""
        if self.lost:
            raise LostError(f"lease {self.name!r} of role {self.role} is lost: {self._why}")

    def _renewed(self, sent_at: float) -> None:
        self._valid_until = sent_at + self.ttl * (1 - DRIFT) - _MARGIN
        self.due = sent_at + self.ttl * EVERY

    def _lose(self, why: str) -> None:
        if self._why is not None:
            return
        self._why = why
        if os.getpid() == self._pid:
            log.warning(
                "lease %r of role %s (fence %d) lost: %s", self.name, self.role, self.fence, why
            )

    def _failed(self, exc: RoleRedisError) -> None:
        if isinstance(exc, LostError):
            self._lose("a renewal found it no longer held with this token (expired or taken)")
            return
        left = self._valid_until - self._clock()
        if left <= 0:
            self._lose(f"renewals failed until its ttl ran out: {exc}")
            return
        self.due = self._clock() + max(RETRY_AT_LEAST, min(RETRY_AT_MOST, left * EVERY))
        log.info("lease %r of role %s: renewal failed, trying again: %s", self.name, self.role, exc)

    def keep(self) -> None:
        """Renew now (the keeper thread calls it when due)."""
        if self.lost:
            self._keeper.discard(self)  # never renewed again
            return
        sent_at = self._clock()
        try:
            self._store.renew(self.name, self.token, self.ttl, replicas=self._replicas)
        except RoleRedisError as exc:
            self._failed(exc)
        else:
            self._renewed(sent_at)

    async def akeep(self) -> None:
        """Renew now (the loop's keeper task awaits it when due)."""
        if self.lost:
            self._keeper.discard(self)  # never renewed again
            return
        sent_at = self._clock()
        try:
            await self._store.renew(self.name, self.token, self.ttl, replicas=self._replicas)
        except RoleRedisError as exc:
            self._failed(exc)
        else:
            self._renewed(sent_at)

    def _mine(self) -> bool:
        """Whether leaving the block should release it (not in a forked child)."""
        return os.getpid() == self._pid


class _Block:
    """What :class:`Lease` and :class:`AsyncLease` share: the arguments, checked at once, and
    the held lease between entering and leaving."""

    def __init__(
        self,
        store: Any,
        name: str,
        ttl: float = 30,
        *,
        wait: float = 0,
        replicas: int | None = None,
    ) -> None:
        leases.ttl_ms(ttl)
        self._store = store
        self._args = (name, ttl)
        self._wait = wait
        self._replicas = replicas
        self.held: Held | None = None

    def _hold(self, granted: leases.Granted, kept_by: Any) -> Held:
        held = self.held = Held(self._store, granted, self._replicas)
        held._keeper = kept_by
        kept_by.add(held)
        return held

    def _leave(self) -> Held | None:
        """Stop renewing; the lease to release, unless it is a forked child's parent's."""
        held, self.held = self.held, None
        if held is None or not held._mine():
            # in a forked child the keeper it was added to is the parent's: its lock may be
            # held by a thread that does not exist here (it would never be let go), and the
            # child's own keeper never had it
            return None
        held._keeper.discard(held)
        return held

    @staticmethod
    def _release_failed(held: Held, failed: RoleRedisError) -> None:
        log.warning("lease %r: release failed (it expires with its ttl): %s", held.name, failed)


class Lease(_Block):
    """``with Lease(store, "nightly-report", ttl=30) as held:``: take the lease (waiting up to
    ``wait`` seconds for its holder to let go), keep it renewed on the process's keeper
    thread while the block runs, release it on leaving. Raises
    :class:`~roleredis.foundation.errors.HeldError` if it stays held by another."""

    def __enter__(self) -> Held:
        granted = self._store.acquire(*self._args, wait=self._wait, replicas=self._replicas)
        return self._hold(granted, keeper())

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        held = self._leave()
        if held is not None:
            try:
                self._store.release(held.name, held.token)
            except RoleRedisError as failed:
                self._release_failed(held, failed)


class AsyncLease(_Block):
    """``async with AsyncLease(store, "nightly-report", ttl=30) as held:``: as :class:`Lease`,
    renewed by the running loop's keeper task."""

    async def __aenter__(self) -> Held:
        granted = await self._store.acquire(*self._args, wait=self._wait, replicas=self._replicas)
        return self._hold(granted, loop_keeper())

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        held = self._leave()
        if held is not None:
            try:
                await self._store.release(held.name, held.token)
            except RoleRedisError as failed:
                self._release_failed(held, failed)


class KeptMessages:
    """Received messages kept while their handler runs: touched (``redis_touch``) every third
    of messaging.visibility_timeout, so no other process of the role receives them again, and
    no delivery is counted. A context manager (``with KeptMessages(store, [message_id]):``);
    or :meth:`start` and :meth:`stop`. A touch that fails is logged and tried again at the
    next third; messages no longer pending (acknowledged) are dropped from it."""

    def __init__(self, store: Any, ids: Iterable[str]) -> None:
        self._store = store
        self.ids = id_list(ids, "ids")
        self.every = store.scope.messaging.visibility_timeout * EVERY
        self.due = 0.0

    def keep(self) -> None:
        try:
            touched = self._store.touch(self.ids)
        except RoleRedisError as exc:
            log.warning("keeping messages %s: touch failed: %s", self.ids[:3], exc)
        else:
            self._kept(touched.missing)

    async def akeep(self) -> None:
        try:
            touched = await self._store.touch(self.ids)
        except RoleRedisError as exc:
            log.warning("keeping messages %s: touch failed: %s", self.ids[:3], exc)
        else:
            self._kept(touched.missing)

    def _kept(self, missing: list[str]) -> None:
        if missing:
            self.ids = [i for i in self.ids if i not in set(missing)]
        self.due = time.monotonic() + self.every

    def start(self) -> KeptMessages:
        self.due = time.monotonic() + self.every
        keeper().add(self)
        return self

    def stop(self) -> None:
        keeper().discard(self)

    def __enter__(self) -> KeptMessages:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class AsyncKeptMessages(KeptMessages):
    """:class:`KeptMessages` on the running loop's keeper task (``async with``)."""

    def start(self) -> AsyncKeptMessages:
        self.due = time.monotonic() + self.every
        loop_keeper().add(self)
        return self

    def stop(self) -> None:
        loop_keeper().discard(self)

    async def __aenter__(self) -> AsyncKeptMessages:
        return self.start()

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
