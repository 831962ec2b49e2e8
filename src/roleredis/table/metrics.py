"""Metrics: per operation and role, counts, errors by error_code and latency histograms; the
fire-and-forget queue; pool usage. Kept in-process, read with :func:`snapshot`, exported to
Prometheus with :func:`register_prometheus` when prometheus-client is installed.

Recording happens in one place (the call wrappers of :mod:`roleredis.table.calls`, shared by every
face) and takes no lock: each thread counts in its own table (a dict lookup, three additions,
a bisect), and :func:`snapshot` folds the threads' tables together.

>>> from roleredis import redis_write
>>> _ = redis_write("k", 1, role="metrics_demo")
>>> snapshot()["operations"]["write"]["metrics_demo"]["count"] >= 1
True
"""

from __future__ import annotations

import bisect
import threading
from typing import Any

from .. import runtime
from . import cachestats
from .budgeting import budget_counters

__all__ = [
    "BUCKETS",
    "record",
    "register_prometheus",
    "reset_metrics",
    "snapshot",
    "summary",
]

#: Upper bounds of the latency histogram buckets, in seconds (the last bucket is +Inf).
BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
)  # fmt: skip
_FIRST = BUCKETS[0]


class _Stats:
    __slots__ = ("buckets", "errors", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.buckets = [0] * (len(BUCKETS) + 1)  # the count is their sum
        self.errors: dict[str, int] = {}


Table = dict[tuple[str, str], _Stats]

_lock = threading.Lock()  # guards _tables and _retired, never a thread's own counting
_tables: list[tuple[threading.Thread, Table]] = []  # each counting thread's own table
_retired: Table = {}  # the counts of threads that have ended
_local = threading.local()


def _after_fork(forked: bool) -> None:
    # A parent thread may have held the lock at fork time; and the counts are the parent's
    # (a forked worker reports its own calls, not its parent's again).
    global _lock, _tables, _retired, _local
    if forked:
        _lock = threading.Lock()
        _tables = []
        _retired = {}
        _local = threading.local()


runtime.on_reset(_after_fork)


def _own_table() -> Table:
    """This thread's table, made on its first call (the tables of ended threads are folded
    into one then, so a program that starts a thread per task keeps a bounded number)."""
    table: Table = {}
    with _lock:
        _retire_ended()
        _tables.append((threading.current_thread(), table))
    _local.table = table
    return table


def _retire_ended() -> None:
    """Fold the tables of threads that have ended into _retired (under _lock)."""
    for entry in [entry for entry in _tables if not entry[0].is_alive()]:
        _tables.remove(entry)
        _add(_retired, entry[1])


def _add(into: Table, table: Table) -> None:
    for key, stats in table.copy().items():  # the owning thread may add a key meanwhile
        mine = into.get(key)
        if mine is None:
            mine = into[key] = _Stats()
        mine.total += stats.total
        for i, n in enumerate(list(stats.buckets)):
            mine.buckets[i] += n
        for code, n in stats.errors.copy().items():
            mine.errors[code] = mine.errors.get(code, 0) + n


def record(operation: str, role: str | None, seconds: float, error_code: str | None = None) -> None:
    """Count one call of ``operation`` by ``role`` that took ``seconds`` (in this thread's own
    table: no lock)."""
    try:
        table: Table = _local.table
    except AttributeError:
        table = _own_table()
    key = (operation, role or "(none)")
    stats = table.get(key)
    if stats is None:
        stats = table[key] = _Stats()
    stats.total += seconds
    # most calls (every fire-and-forget one) fall in the first bucket: no bisect for them
    stats.buckets[0 if seconds <= _FIRST else bisect.bisect_left(BUCKETS, seconds)] += 1
    if error_code is not None:
        stats.errors[error_code] = stats.errors.get(error_code, 0) + 1


def reset_metrics() -> None:
    """Forget every count (for tests and long-running processes that scrape deltas)."""
    with _lock:
        _retired.clear()
        for _, table in _tables:
            table.clear()
    cachestats.reset()


def _fold() -> Table:
    """Every thread's counts, added up. A call being counted while this runs shows in full in
    the next scrape (counts are the sums of the buckets, so each scrape is consistent)."""
    folded: Table = {}
    with _lock:
        _retire_ended()
        _add(folded, _retired)
        for _, table in _tables:
            _add(folded, table)
    return folded


def snapshot() -> dict[str, Any]:
    """Everything recorded so far, as plain data.

    ``operations[op][role]`` has ``count``, ``errors`` ({error_code: n}) and ``latency``
    (``buckets`` {upper bound: cumulative count}, ``sum`` seconds, ``count``); ``background``
    has the fire-and-forget writer's counters (``pending`` is the queue depth); ``pool`` the
    shared sync pool's usage, if it has been made.
    """
    from ..core.store import pool_usage
    from ..transport.writer import process as writer_process

    operations: dict[str, dict[str, Any]] = {}
    for (operation, role), stats in _fold().items():
        buckets, total, errors, count = stats.buckets, stats.total, stats.errors, sum(stats.buckets)
        cumulative, running = {}, 0
        for bound, n in zip((*BUCKETS, float("inf")), buckets, strict=True):
            running += n
            cumulative[bound] = running
        operations.setdefault(operation, {})[role] = {
            "count": count,
            "errors": errors,
            "latency": {"buckets": cumulative, "sum": total, "count": count},
        }
    client = runtime.current_client()
    return {
        "operations": operations,
        "background": writer_process.stats(),
        "pool": pool_usage(client, runtime.settings()) if client is not None else None,
        "budgets": budget_counters(),
        "cache": cachestats.snapshot(),
    }


def summary() -> dict[str, Any]:
    """A short digest of :func:`snapshot`: calls and errors in all, and per operation the
    count and the latency below which half and 99% of the calls finished (bucket bounds).

    >>> summary()["calls"] >= 0
    True
    """
    data = snapshot()
    calls = 0
    errors: dict[str, int] = {}
    operations: dict[str, dict[str, Any]] = {}
    for operation, roles in data["operations"].items():
        merged = [0] * (len(BUCKETS) + 1)
        count = 0
        for stats in roles.values():
            count += stats["count"]
            for code, n in stats["errors"].items():
                errors[code] = errors.get(code, 0) + n
            for i, cumulative in enumerate(stats["latency"]["buckets"].values()):
                merged[i] += cumulative
        calls += count
        operations[operation] = {
            "count": count,
            "p50_ms": _quantile_ms(merged, count, 0.5),
            "p99_ms": _quantile_ms(merged, count, 0.99),
        }
    return {
        "calls": calls,
        "errors": errors,
        "operations": operations,
        "queue_depth": data["background"]["pending"],
    }


def _quantile_ms(cumulative: list[int], count: int, q: float) -> float | None:
    for bound, seen in zip((*BUCKETS, float("inf")), cumulative, strict=True):
        if count and seen >= q * count:
            return None if bound == float("inf") else bound * 1000
    return None


def register_prometheus(registry: Any = None) -> Any:
    """Expose :func:`snapshot` to Prometheus (needs ``pip install roleredis[prometheus]``).

    Returns the collector; ``registry`` defaults to prometheus_client's global REGISTRY.
    """
    try:
        from prometheus_client import REGISTRY
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
    except ImportError:
        from ..foundation.errors import ConfigError

        raise ConfigError(
            "Prometheus export needs prometheus-client: pip install 'roleredis[prometheus]'"
        ) from None

    class Collector:
        def collect(self) -> Any:
            data = snapshot()
            calls = CounterMetricFamily(
                "roleredis_operations", "roleredis calls", labels=["operation", "role"]
            )
            errors = CounterMetricFamily(
                "roleredis_errors",
                "roleredis failed calls",
                labels=["operation", "role", "error_code"],
            )
            latency = HistogramMetricFamily(
                "roleredis_latency_seconds",
                "roleredis call latency",
                labels=["operation", "role"],
            )
            for operation, roles in data["operations"].items():
                for role, stats in roles.items():
                    calls.add_metric([operation, role], stats["count"])
                    for code, n in stats["errors"].items():
                        errors.add_metric([operation, role, code], n)
                    buckets = [
                        ("+Inf" if bound == float("inf") else repr(bound), n)
                        for bound, n in stats["latency"]["buckets"].items()
                    ]
                    latency.add_metric([operation, role], buckets, stats["latency"]["sum"])
            yield calls
            yield errors
            yield latency
            background = GaugeMetricFamily(
                "roleredis_background", "fire-and-forget writer", labels=["what"]
            )
            for what, n in data["background"].items():
                background.add_metric([what], n)
            yield background
            if data["pool"] is not None:
                pool = GaugeMetricFamily("roleredis_pool", "connection pool", labels=["what"])
                for what, n in data["pool"].items():
                    pool.add_metric([what], n)
                yield pool

    collector = Collector()
    (registry if registry is not None else REGISTRY).register(collector)
    return collector
