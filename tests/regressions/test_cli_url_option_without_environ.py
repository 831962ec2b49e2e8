"""Issue 10 item 3: no write to os.environ anywhere in the library. ``roleredis --url URL``
used to set REDIS_URL in its own environment; it now hands the settings down with
runtime.use_settings, with the precedence and provenance REDIS_URL has."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from roleredis import runtime
from roleredis.cli import main
from roleredis.testing import free_port

from ..cli.conftest import Cli


@pytest.fixture
def in_process(roleredis_env: object) -> Iterator[None]:
    yield
    runtime.use_settings(None)


def test_url_option_leaves_the_environment_alone(
    in_process: None, capsys: pytest.CaptureFixture[str]
) -> None:
    before = dict(os.environ)
    assert main(["--url", "memory://", "config", "--json"]) == 0
    assert dict(os.environ) == before
    body = json.loads(capsys.readouterr().out)
    assert body["settings"]["url"] == {"value": "memory://", "source": "option:--url"}
    assert body["connects_to"] == "memory://"


def test_url_option_is_read_as_redis_url_would_be(cli: Cli, write_config: object) -> None:
    """use_env_overrides: false in the config file wins over REDIS_URL, and so over --url."""
    assert callable(write_config)
    path = write_config({"url": "redis://db.example:6390/0", "use_env_overrides": False})
    shown = cli("--url", "memory://", "config", "--json")
    assert shown.returncode == 0, shown
    assert shown.json()["settings"]["url"] == {
        "value": "redis://db.example:6390/0",
        "source": f"file:{path}",
    }


def test_a_bad_url_option_is_reported_where_settings_are_needed(cli: Cli) -> None:
    """Loaded on first use, as the environment is: health --json still reports it in its
    result, and bench (which never uses --url) does not trip over it."""
    health = cli("--url", "http://x", "health", "--json")
    assert health.returncode == 2 and health.json()["error_code"] == "config", health
    assert "not a Redis URL" in health.stderr
    bench = cli("--url", "http://x", "bench", "--help")
    assert bench.returncode == 0, bench


def test_demo_with_an_unreachable_url_option_runs_on_a_server_of_its_own(cli: Cli) -> None:
    """The demo puts its own server in place of --url's settings and back (runtime.overridden
    gives back the loader --url installed)."""
    ran = cli("--url", f"redis://127.0.0.1:{free_port()}/0", "demo")
    assert ran.returncode == 0, ran
    assert "throwaway redis-server" in ran.stdout
