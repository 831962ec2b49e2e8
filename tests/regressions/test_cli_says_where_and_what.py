"""Issue 8, item 10: the command says where it connects and what it did. memory:// is refused
(exit 2, saying why) by commands that need data from another process; `config` shows the host
and port a URL really gives and marks decode_responses as ignored; with nothing configured a
command says it uses the default localhost:6379; -v shows URL (redacted), role and timing."""

from __future__ import annotations

import pytest

from roleredis.testing import RedisServer

from ..cli.conftest import Cli, Job, assert_error

PASSWORD = "pw-0f9e-secret"


def test_memory_url_is_refused_where_a_separate_process_cannot_work(cli: Cli) -> None:
    commands = [
        ("keys", "weather"),
        ("get", "weather", "k"),
        ("set", "weather", "k", "1"),
        ("del", "weather", "k"),
        ("ttl", "weather", "k"),
        ("roles",),
        ("clear", "weather", "--yes"),
        ("acl", "provision", "weather"),
        ("acl", "revoke", "weather"),
        ("acl", "list"),
    ]
    ran = cli.many(*(Job(("--url", "memory://", *args)) for args in commands))
    for result in ran:
        assert_error(result, 2, "memory://", "in-process", "[config]")
    health = cli("--url", "memory://", "health", "--json")
    assert health.returncode == 0 and health.json()["mode"] == "embedded", health


def test_config_shows_what_the_url_gives(cli: Cli) -> None:
    url = "redis://db.example:6390/3"
    wide = {"COLUMNS": "250"}  # one table row per line
    shown, as_json = cli.many(
        Job(("--url", url, "config"), wide), Job(("--url", url, "config", "--json"))
    )
    assert shown.returncode == 0, shown
    rows = {line.split("│")[1].strip(): line for line in shown.lines if line.count("│") > 3}
    assert "db.example" in rows["host"] and "localhost" in rows["host"]  # used; not used
    assert "6390" in rows["port"] and "ignored" in rows["decode_responses"]
    settings = as_json.json()["settings"]
    assert settings["host"]["used"] == "db.example" and settings["port"]["used"] == 6390
    assert settings["db"]["used"] == 3 and settings["port"]["used_from"] == "option:--url"
    assert settings["decode_responses"]["ignored"] is True


def test_nothing_configured_says_it_uses_the_default(cli: Cli) -> None:
    # an invalid key is refused before any connection: nothing is sent to localhost:6379
    ran = cli("get", "weather", "", env={"REDIS_URL": None})
    assert ran.returncode == 2, ran
    note, error = ran.stderr.splitlines()
    assert "no Redis configured" in note and "localhost:6379" in note
    assert error.startswith("error: key must not be empty")
    configured = cli("get", "weather", "")
    assert "no Redis configured" not in configured.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_shows_url_role_and_timing(cli: Cli, where: str) -> None:
    with RedisServer(password=PASSWORD) as server:
        url = server.url.replace("redis://", f"redis://:{PASSWORD}@")
        args = ("--url", url, "keys", "weather")
        ran = cli(*(("-v", *args) if where == "before" else (*args, "-v")))
    assert ran.returncode == 0, ran
    assert PASSWORD not in ran.stderr
    lines = ran.stderr.splitlines()
    assert any("keys: Redis at redis://:***@" in line and "role weather" in line for line in lines)
    assert any("keys: exit 0 after " in line and " ms" in line for line in lines), ran
