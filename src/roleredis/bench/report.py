"""Measuring and reporting: a benchmark's :class:`Row` (its figures, its target and whether the
run met it), the best-of-N timers every family uses (:func:`rate`, :func:`pair`), the machine
line, and the output (a Markdown table with a verdict per row, or JSON)."""

from __future__ import annotations

import json
import operator
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis

#: A target that can be checked: ``>= 15`` (a ratio, or the plain figure of a row without a
#: raw side), ``<= 5`` (in the row's unit), ``< 20 ms`` (the roleredis figure, in that unit).
_TARGET = re.compile(r"^\s*(>=|<=|>|<)\s*([0-9]+(?:\.[0-9]+)?)\s*(\S+)?\s*$")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


@dataclass
class Row:
    name: str
    ours: float  # operations per second
    raw: float | None  # operations per second, or None for a plain measurement
    #: ``>= 15`` etc. (see :data:`_TARGET`); anything else ("measured", "a few % of a call")
    #: is shown, not checked
    target: str
    unit: str = "ops/s"

    @property
    def ratio(self) -> float | None:
        return self.ours / self.raw if self.raw else None

    def _checked(self) -> tuple[float, str, float, str] | None:
        """(the figure the target is about, the comparison, the bound, its unit), or None
        for a target that is not a bound."""
        found = _TARGET.match(self.target)
        if found is None:
            return None
        op, bound, unit = found.group(1), float(found.group(2)), found.group(3)
        if unit is None and self.ratio is not None:
            return self.ratio, op, bound, "x"
        return self.ours, op, bound, f" {unit or self.unit}"

    @property
    def met(self) -> bool | None:
        """Whether the row meets its target; None for a target that is not a bound.

        >>> Row("f", 30.0, 2.0, ">= 15").met, Row("f", 20.0, 2.0, ">= 15").met
        (True, False)
        >>> Row("caller", 15.3, None, "<= 5", "us/call").met, Row("m", 1.0, None, "measured").met
        (False, None)
        """
        checked = self._checked()
        if checked is None:
            return None
        figure, op, bound, _ = checked
        return _COMPARE[op](figure, bound)

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED (target >= 15x, got 10.00x)``, or "" (nothing to check)."""
        checked = self._checked()
        if checked is None:
            return ""
        figure, op, bound, unit = checked
        if _COMPARE[op](figure, bound):
            return "met"
        return f"MISSED (target {op} {bound:g}{unit}, got {figure:,.2f}{unit})"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "roleredis": round(self.ours, 2),
            "raw": round(self.raw, 2) if self.raw else None,
            "ratio": round(self.ratio, 3) if self.ratio else None,
            "target": self.target,
            "unit": self.unit,
            "met": self.met,
        }


def rate(n: int, fn: Callable[[], Any], rounds: int) -> float:
    """Best of ``rounds`` runs of ``fn`` (which does ``n`` operations), in operations/s."""
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return n / best


def pair(
    n: int, ours: Callable[[], Any], raw: Callable[[], Any], rounds: int
) -> tuple[float, float]:
    # interleave so both see the same machine state
    a, b = [], []
    for _ in range(rounds):
        a.append(rate(n, ours, 1))
        b.append(rate(n, raw, 1))
    return max(a), max(b)


def interleaved(
    n: int, ours: Callable[[], Any], limit: Callable[[], Any], rounds: int
) -> tuple[float, float]:
    """The median rates (operations/s) of ``ours`` and ``limit`` (each doing ``n``
    operations) over ``rounds`` interleaved rounds (at least 5): what issue 26's targets
    are stated in; on a loaded machine a best-of figure rewards the luckiest round.

    >>> ours, limit = interleaved(1, lambda: None, lambda: None, 1)
    >>> ours > 0 and limit > 0
    True
    """
    a, b = [], []
    for _ in range(max(5, rounds)):
        a.append(rate(n, ours, 1))
        b.append(rate(n, limit, 1))
    return statistics.median(a), statistics.median(b)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    server = redis.__version__
    return (
        f"{os.cpu_count()} cores, {cpu}; Python {platform.python_version()}, "
        f"redis-py {server}, {platform.system()} {platform.release()}"
    )


def render(rows: list[Row]) -> str:
    """The rows as a Markdown table, each checked target marked met or MISSED, and a last
    line that counts the misses."""
    lines = [
        "| benchmark | roleredis | raw redis-py | ratio | target | verdict |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        raw = ""
        if row.raw:
            raw = f"{row.raw:,.2f} {row.unit}" if row.unit == "ms" else f"{row.raw:,.0f} {row.unit}"
        ratio = f"{row.ratio:.2f}x" if row.ratio else ""
        ours = (
            f"{row.ours:,.2f} {row.unit}"
            if row.unit in ("us/call", "ms")
            else f"{row.ours:,.0f} {row.unit}"
        )
        verdict = f"**{row.verdict}**" if row.met is False else row.verdict
        lines.append(f"| {row.name} | {ours} | {raw} | {ratio} | {row.target} | {verdict} |")
    lines.append("")
    lines.append(summary(rows))
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """How many checked targets the run missed, and which.

    >>> summary([Row("a", 2.0, 1.0, ">= 1.5"), Row("b", 1.0, 1.0, ">= 1.5")])
    'missed 1 of 2 targets: b'
    >>> summary([Row("a", 2.0, 1.0, ">= 1.5"), Row("m", 1.0, None, "measured")])
    'met every target (1 checked)'
    """
    checked = [row for row in rows if row.met is not None]
    missed = [row.name for row in checked if row.met is False]
    if not missed:
        return f"met every target ({len(checked)} checked)"
    return f"missed {len(missed)} of {len(checked)} targets: {'; '.join(missed)}"


def print_rows(rows: list[Row], server_version: str, *, as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                {
                    "machine": machine(),
                    "redis_server": server_version,
                    "results": [row.as_dict() for row in rows],
                    "missed": [row.name for row in rows if row.met is False],
                },
                indent=2,
            )
        )
    else:
        print(f"machine: {machine()}; redis-server {server_version}\n")
        print(render(rows))
