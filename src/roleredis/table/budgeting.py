"""The budget rows' result dicts (``redis_take``, ``redis_report``, ``redis_give_back``) and
their counters per budget: takes granted and refused, seconds waited, debt charged; in
:func:`roleredis.table.metrics.snapshot` under ``budgets``. Counted from the results, success
or failure (the rows' ``finish``), so the tools and the ``budget()`` blocks count alike.

>>> reset_budget_metrics()
>>> _ = after_take({"success": False, "budget": "openai", "error_code": "timeout"})
>>> budget_counters()["openai"]["refused"]
1
"""

from __future__ import annotations

import threading
from typing import Any

from ..core.budgets import GivenBack, Reported, Taken
from ..foundation import lifecycle

__all__ = [
    "after_report",
    "after_take",
    "budget_counters",
    "given_back",
    "reported",
    "reset_budget_metrics",
    "taken",
]

Result = dict[str, Any]

_lock = threading.Lock()
_counts: dict[str, dict[str, float]] = {}


def _zero() -> dict[str, float]:
    return {"granted": 0, "refused": 0, "waited": 0.0, "debt": 0}


def _add(budget: Any, **amounts: float) -> None:
    if not isinstance(budget, str):
        return
    with _lock:
        counts = _counts.setdefault(budget, _zero())
        for name, amount in amounts.items():
            counts[name] += amount


def reset_budget_metrics(forked: bool = False) -> None:
    global _lock
    if forked:
        _lock = threading.Lock()
    _counts.clear()


lifecycle.on_reset(reset_budget_metrics)


def budget_counters() -> dict[str, dict[str, float]]:
    """Per budget: ``granted``, ``refused`` (takes that failed for want of room: timeout),
    ``waited`` (seconds, all granted takes together), ``debt`` (tokens reported beyond
    estimates)."""
    with _lock:
        return {name: dict(counts) for name, counts in _counts.items()}


def taken(t: Taken, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "budget": t.budget,
        "id": t.id,
        "tokens": t.tokens,
        "granted_at": t.granted_at,
        "waited": round(t.waited, 6),
        "place": t.place,
        "lease": t.lease,
        "message": f"budget {t.budget!r}: granted after {t.waited:.3f} s"
        + (" with a concurrency place" if t.place else ""),
    }


def after_take(result: Result) -> Result:
    if result.get("success"):
        _add(result.get("budget"), granted=1, waited=result.get("waited", 0.0))
    elif result.get("error_code") == "timeout":
        _add(result.get("budget"), refused=1)
    return result


def reported(r: Reported, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "budget": r.budget,
        "id": r.id,
        "actual": r.actual,
        "debt": r.debt,
        "at": r.at,
        "message": f"budget {r.budget!r}: {r.actual} tokens reported"
        + (f", {r.debt} charged as debt" if r.debt else ""),
    }


def after_report(result: Result) -> Result:
    if result.get("success") and result.get("debt"):
        _add(result.get("budget"), debt=result["debt"])
    return result


def given_back(g: GivenBack, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "budget": g.budget,
        "given_back": g.given_back,
        "at": g.at,
        "message": f"budget {g.budget!r}: place "
        + ("given back" if g.given_back else "had expired (its lease ran out)"),
    }
