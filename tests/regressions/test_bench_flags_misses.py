"""Issue 18, item 8: ``roleredis bench`` printed each target beside its figure and left the
reader to compare: a missed target (fire-and-forget at 5x against ">= 15") looked like the
rest. Each row with a bound for a target now says met or MISSED (target and figure), the
table ends with the count of misses, and --json gives ``met`` per row and ``missed``."""

from __future__ import annotations

import pytest

from roleredis.bench.report import Row, render, summary

from ..cli.conftest import Cli

ROWS = [
    Row("ratio met", 30.0, 2.0, ">= 15"),  # 15x
    Row("ratio missed", 10.0, 2.0, ">= 15"),  # 5x
    Row("caller time", 6.4, None, "<= 5", "us/call"),
    Row("memory", 417.0, None, "<= 600", "bytes"),
    Row("listing", 25.0, 3.0, "< 20 ms", "ms"),  # about the roleredis figure, not the ratio
    Row("informational", 1.0, None, "measured", "bytes"),
    Row("metrics", 0.3, None, "a few % of a call", "us/call"),
]


def test_each_row_says_whether_it_met_its_target() -> None:
    assert [row.met for row in ROWS] == [True, False, False, True, False, None, None]
    assert [row.verdict for row in ROWS] == [
        "met",
        "MISSED (target >= 15x, got 5.00x)",
        "MISSED (target <= 5 us/call, got 6.40 us/call)",
        "met",
        "MISSED (target < 20 ms, got 25.00 ms)",
        "",
        "",
    ]
    assert ROWS[1].as_dict()["met"] is False and ROWS[5].as_dict()["met"] is None


def test_the_table_marks_every_miss_and_counts_them() -> None:
    table = render(ROWS).splitlines()
    assert table[0].endswith("| target | verdict |")
    by_name = {line.split(" | ")[0].lstrip("| "): line for line in table[2:] if line}
    for row in ROWS:
        shown = f"**{row.verdict}**" if row.met is False else row.verdict
        assert by_name[row.name].endswith(f" | {row.target} | {shown} |")
    assert table[-1] == "missed 3 of 5 targets: ratio missed; caller time; listing"
    assert summary(ROWS[:1]) == "met every target (1 checked)"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_real_run_flags_what_it_missed(cli: Cli, as_json: bool) -> None:
    ran = cli("bench", "--scale", "0.01", "--rounds", "1", *(["--json"] if as_json else []))
    assert ran.returncode == 0, ran
    if as_json:
        body = ran.json()
        rows = [
            Row(r["name"], r["roleredis"], r["raw"], r["target"], r["unit"])
            for r in body["results"]
        ]
        assert [r["met"] for r in body["results"]] == [row.met for row in rows]
        assert body["missed"] == [row.name for row in rows if row.met is False]
        assert sum(row.met is not None for row in rows) >= 10
        return
    lines = [line for line in ran.stdout.splitlines() if line.startswith("| ")][2:]
    assert len(lines) >= 10
    for line in lines:
        verdict = line.rstrip(" |").rsplit(" | ", 1)[1]
        target = line.split(" | ")[-2]
        if target.startswith((">", "<")):
            assert verdict == "met" or verdict.startswith("**MISSED (target "), line
    missed = sum("MISSED" in line for line in lines)
    last = ran.stdout.splitlines()[-1]
    assert last.startswith(f"missed {missed} of") if missed else last.startswith("met every"), last
