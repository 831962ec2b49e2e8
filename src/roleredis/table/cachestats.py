"""The cache's counters per role: ``hits`` (served from Redis, fresh), ``local_hits`` (from
the process's local tier: nothing sent), ``misses`` (computed by this caller), ``waits``
(computed by another caller, waited for), ``stale`` (served stale while refreshed),
``refreshes``, ``alone`` (computed without the lease after waiting past cache.wait),
``unstored`` (results that could not be cached exactly), ``failures`` (Redis failed: computed
without the cache) and ``invalidations`` (entries and tags invalidated). Counted per thread
without a lock, like :mod:`roleredis.table.metrics` (whose ``snapshot()["cache"]`` they are).

>>> count("demo", "hits"); snapshot()["demo"]["hits"] >= 1
True
"""

from __future__ import annotations

import threading

from ..foundation import lifecycle

__all__ = ["FIELDS", "count", "reset", "snapshot"]

FIELDS = (
    "hits",
    "local_hits",
    "misses",
    "waits",
    "stale",
    "refreshes",
    "alone",
    "unstored",
    "failures",
    "invalidations",
)
Table = dict[tuple[str, str], int]

_lock = threading.Lock()
_tables: list[tuple[threading.Thread, Table]] = []
_retired: Table = {}
_local = threading.local()


def _own() -> Table:
    table: Table = {}
    with _lock:
        for thread, ended in [t for t in _tables if not t[0].is_alive()]:
            _tables.remove((thread, ended))
            _add(_retired, ended)
        _tables.append((threading.current_thread(), table))
    _local.table = table
    return table


def _add(into: Table, table: Table) -> None:
    for key, n in table.copy().items():
        into[key] = into.get(key, 0) + n


def count(role: str, what: str, n: int = 1) -> None:
    """Count ``n`` of ``what`` (one of FIELDS) for ``role``, in this thread's own table."""
    try:
        table: Table = _local.table
    except AttributeError:
        table = _own()
    key = (role, what)
    table[key] = table.get(key, 0) + n


def snapshot() -> dict[str, dict[str, int]]:
    """role -> every field's count so far (every thread's, added up)."""
    folded: Table = {}
    with _lock:
        _add(folded, _retired)
        for _, table in _tables:
            _add(folded, table)
    out: dict[str, dict[str, int]] = {}
    for (role, what), n in folded.items():
        out.setdefault(role, dict.fromkeys(FIELDS, 0))[what] = n
    return out


def reset(forked: bool = False) -> None:
    """Forget every count (and, in a forked child, the parent's threads and lock)."""
    global _lock, _tables, _retired, _local
    if forked:
        _lock = threading.Lock()
        _tables, _retired, _local = [], {}, threading.local()
        return
    with _lock:
        _retired.clear()
        for _, table in _tables:
            table.clear()


lifecycle.on_reset(lambda forked: reset(True) if forked else None)
