"""Issue 18, item 8: ``roleredis health`` printed Python's ``None`` (the breaker's
``open_since None, last_error None``). A value the check did not give is left out of its row,
or shown as ``-``; no command's human output says ``None``."""

from __future__ import annotations

import re

import roleredis

from ..cli.conftest import Cli

NONE = re.compile(r"\bNone\b")


def test_health_rows_have_no_none(cli: Cli) -> None:
    ran = cli("health", env={"COLUMNS": "200"})
    assert ran.returncode == 0, ran
    rows = {line.split("  ")[0]: line for line in ran.stdout.splitlines()[1:] if line[:1] != " "}
    assert "breaker" in rows, ran.stdout  # the row that said "open_since None"
    assert rows["breaker"].split()[1:] == ["state", "closed,", "consecutive", "failures", "0"]
    assert NONE.search(ran.stdout) is None, ran.stdout


def test_human_output_of_the_commands_has_no_none(cli: Cli) -> None:
    roleredis.redis_write("k", None, role="weather")  # a value that is null
    roleredis.redis_send("weather", {"x": None}, role="timer")
    runs = cli.many(
        ("health",),
        ("roles",),
        ("keys", "weather"),
        ("set", "weather", "n", "null"),
        ("ttl", "weather", "k"),
        ("del", "weather", "gone"),
        ("mail", "weather"),
        ("config",),
    )
    for ran in runs:
        assert ran.returncode == 0, ran
        assert NONE.search(ran.stdout) is None, ran
    assert cli("get", "weather", "k").stdout == "null\n"
