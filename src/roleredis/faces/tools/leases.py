"""The lease tools: one holder of a name within a role at a time, with fencing tokens
(docs/leases.md). Part of :mod:`roleredis.tools`, which re-exports them: see its doc.
"""

from __future__ import annotations

from ...core.holding import Lease
from ...table import calls
from ...table.rows import ACQUIRE, RELEASE, RENEW
from . import Result, role_store

__all__ = ["lease", "redis_acquire", "redis_release", "redis_renew"]


def redis_acquire(
    name: str, ttl: float, *, wait: float = 0, role: str | None = None, replicas: int | None = None
) -> Result:
    """Take the role's lease ``name`` for ``ttl`` seconds: ``token`` (for renew and release)
    and ``fence``, which grows with every grant of the name. Held by another still after
    ``wait`` seconds: error_code ``held`` with ``retry_after``. ``replicas`` (default
    async.wait_replicas): replicas that must confirm the grant (WAIT after it).

    >>> got = redis_acquire("nightly-report", 30, role="reports")
    >>> got["success"], redis_acquire("nightly-report", 30, role="reports")["error_code"]
    (True, 'held')
    >>> redis_release("nightly-report", got["token"], role="reports")["released"]
    True
    """
    return calls.call(ACQUIRE, role_store, role, (name, ttl), {"wait": wait, "replicas": replicas})


def redis_renew(
    name: str, token: str, ttl: float, *, role: str | None = None, replicas: int | None = None
) -> Result:
    """Extend the lease ``name`` held with ``token`` to ``ttl`` seconds from now; error_code
    ``lost`` if the token no longer holds it (it expired, or another holder took it).

    >>> got = redis_acquire("sync", 10, role="reports")
    >>> redis_renew("sync", got["token"], 10, role="reports")["fence"] == got["fence"]
    True
    """
    return calls.call(RENEW, role_store, role, (name, token, ttl), {"replicas": replicas})


def redis_release(name: str, token: str, *, role: str | None = None) -> Result:
    """Give up the lease ``name`` held with ``token``; ``released`` False if it no longer held
    it (a lease taken since by another holder is left alone).

    >>> redis_release("sync", "not-the-token", role="reports")["released"]
    False
    """
    return calls.call(RELEASE, role_store, role, (name, token))


def lease(
    name: str,
    ttl: float = 30,
    *,
    wait: float = 0,
    role: str | None = None,
    replicas: int | None = None,
) -> Lease:
    """``with lease("nightly-report", ttl=30) as held:``: one holder of the name within the
    role at a time, renewed every third of ``ttl`` by the process's one keeper thread;
    ``held.fence``, ``held.lost``, ``held.check()``: see docs/leases.md. HeldError if
    another holds it still after ``wait`` seconds.

    >>> with lease("nightly-report", ttl=30, role="reports") as held:
    ...     held.check()
    ...     held.fence > 0
    True
    """
    return Lease(role_store(role, skip=-1), name, ttl, wait=wait, replicas=replicas)
