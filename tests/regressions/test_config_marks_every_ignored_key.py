"""Issue 18, item 8: ``roleredis config`` marked decode_responses as ignored but not
retry_on_timeout, which roleredis ignores just the same. Every key of the guide's file that
has no effect is marked, with the reason, in the table and in --json."""

from __future__ import annotations

import pytest
from roleredis.settings import IGNORED

from ..cli.conftest import Cli, Job
from .conftest import cli

__all__ = ["cli"]

pytestmark = pytest.mark.backends("redis")


def test_every_ignored_key_is_marked(cli: Cli) -> None:
    assert set(IGNORED) == {"decode_responses", "retry_on_timeout"}
    shown, as_json = cli.many(Job(("config",), {"COLUMNS": "400"}), Job(("config", "--json")))
    assert shown.returncode == 0, shown
    rows = {line.split("│")[1].strip(): line for line in shown.lines if line.count("│") > 3}
    settings = as_json.json()["settings"]
    for name, why in IGNORED.items():
        assert f"(ignored: {why})" in rows[name], rows[name]
        assert settings[name]["ignored"] is True, settings[name]
    assert {name for name, item in settings.items() if item.get("ignored")} == set(IGNORED)
