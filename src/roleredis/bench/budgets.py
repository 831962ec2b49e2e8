"""Budgets: ``redis_take`` + ``redis_report`` of a shared budget (requests and tokens, a 1 s
sliding window), beside a raw redis-py fixed-window counter the usual way (``INCR`` +
``EXPIRE``): two round trips each (issue 23: at most 2x the raw pair's time). A take's cost
does not grow with the takes of the window (the functions keep running sums): the row says
how many the window held, to show it."""

from __future__ import annotations

from typing import Any

from .report import Row, interleaved


def budget_rows(r: Any, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """The take + report rows, with a 10 ms and a 1 s window (the role "bench", budget
    ``bench-llm``; raw key ``raw:count``)."""
    import roleredis

    n = max(200, int(3000 * scale))
    store = roleredis.RoleStore("bench")
    return [_row(store, r, n, rounds, period) for period in ("0.01s", "s")]


def _row(store: Any, r: Any, n: int, rounds: int, period: str) -> Row:
    import roleredis
    from roleredis.core import budgets
    from roleredis.foundation.budgets import parse

    limits = {"rate": f"1000000/{period}", "tokens": f"1000000000/{period}", "roles": ["bench"]}
    store.run(budgets.define(store.scope, parse({"bench-llm": limits}, "bench")["bench-llm"]))
    roleredis.redis_take("bench-llm", 1, role="bench")  # loads the functions if missing

    def ours() -> None:
        for _ in range(n):
            got = roleredis.redis_take("bench-llm", 100, role="bench")
            roleredis.redis_report("bench-llm", got["id"], 120, role="bench")

    def raw() -> None:
        for _ in range(n):
            r.incr("raw:count")
            r.expire("raw:count", 1)

    figures = interleaved(n, ours, raw, rounds)
    held = store.run(budgets.status(store.scope, "bench-llm")).requests
    return Row(
        f"budget ({period} window, ~{held} takes in it): redis_take + redis_report vs INCR + "
        "EXPIRE",
        *figures,
        ">= 0.5",
        "pairs/s",
    )
