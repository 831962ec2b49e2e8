"""Issue 18, item 2: a mistyped section was silent. A config.yaml whose section is ``reddis:``
was ignored (every call went to the default address) and even the "no Redis configured" notice
was suppressed, because a file existed. Now a section named like ``redis`` holding roleredis's
own settings, in a file without ``redis:``, is a ``config`` error that names it; an
application's own sections keep working; a file without ``redis:`` configures nothing (the
notice is back) and ``roleredis config`` says so; an unknown name under ``redis:`` gets the
closest names, not the whole list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from roleredis import redis_read, redis_write
from roleredis.foundation.config import load_settings
from roleredis.foundation.errors import ConfigError

from ..cli.conftest import Cli, assert_error
from .conftest import cli

__all__ = ["cli"]

pytestmark = pytest.mark.backends("redis")

WriteConfig = Callable[[str], Path]


@pytest.mark.parametrize("name", ["reddis", "Redis", "rediss", "redis_"])
def test_a_misspelt_redis_section_is_a_config_error(
    write_config: WriteConfig, raw: redis.Redis, name: str
) -> None:
    # REDIS_URL points at the test's server: before, the write landed there, the file's
    # default_ttl silently unused
    path = write_config(
        f"{name}:\n  key_management: {{default_ttl: 60}}\n  pool: {{max_connections: 4}}\n"
    )
    result = redis_write("k", 1, role="weather")
    assert result["success"] is False and result["error_code"] == "config", result
    for needle in (str(path), repr(name), "did you mean 'redis'", "key_management"):
        assert needle in result["error"], result
    assert raw.dbsize() == 0


def test_the_applications_own_sections_keep_working(
    write_config: WriteConfig, raw: redis.Redis
) -> None:
    write_config(
        "app: {name: demo}\n"
        "redis_cache: {host: cache.internal, port: 6380, ttl: 30, enabled: true}\n"
        "redis2: {url: 'redis://other:6379/0', enabled: false}\n"
        "redis:\n  key_management: {default_ttl: 60}\n"
    )
    assert redis_write("k", 1, role="weather")["success"] is True
    assert redis_read("k", role="weather")["value"] == 1
    assert 0 < raw.ttl("weather:k") <= 60
    # without a redis: section, an app's sections near the name are still not roleredis's
    write_config("redis_cache: {host: cache.internal, ttl: 30}\nrediss: {host: h, port: 1}\n")
    assert redis_write("k2", 2, role="weather")["success"] is True
    assert raw.ttl("weather:k2") == -1


def test_an_unknown_name_under_redis_gets_the_closest_names(tmp_path: Path) -> None:
    cases = {
        "connection: {hots: db.internal}": "did you mean redis.connection.host?",
        "conection: {host: db.internal}": "did you mean redis.connection?",
        # the closest first (mcp.max_connections is a candidate too, and comes second)
        "max_connections: 4": "did you mean redis.pool.max_connections",
        "key_management: {default_tll: 60}": "did you mean redis.key_management.default_ttl?",
    }
    path = tmp_path / "config.yaml"
    for line, hint in cases.items():
        path.write_text(f"redis:\n  {line}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_settings(environ={}, path=path)
        message = str(info.value)
        assert hint in message, message
        # not the list of every setting (it was 1,100 characters)
        assert "serialization.compression_threshold" not in message and len(message) < 300


def test_a_file_without_redis_configures_nothing(cli: Cli, tmp_path: Path) -> None:
    app_only = tmp_path / "app.yaml"
    app_only.write_text("app: {name: demo}\nredis_cache: {host: h, ttl: 30}\n", encoding="utf-8")
    env = {"REDIS_URL": None, "ROLEREDIS_CONFIG": str(app_only)}
    # an invalid key is refused before any connection: nothing is sent to localhost:6379
    ran = cli("get", "weather", "", env=env)
    assert ran.returncode == 2, ran
    note = ran.stderr.splitlines()[0]
    assert "no Redis configured" in note and "localhost:6379" in note, ran
    shown = cli("config", env=env)
    assert f"config file: {app_only} (no redis: section" in shown.stdout, shown
    assert cli("config", "--json", env=env).json()["config_file_has_redis"] is False
    with_redis = tmp_path / "with.yaml"
    with_redis.write_text("redis:\n  connection: {port: 6390}\n", encoding="utf-8")
    as_json = cli("config", "--json", env={**env, "ROLEREDIS_CONFIG": str(with_redis)}).json()
    assert as_json["config_file"] == str(with_redis) and as_json["config_file_has_redis"] is True


def test_roleredis_config_names_the_misspelt_section(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("reddis:\n  connection: {port: 6390}\n", encoding="utf-8")
    ran = cli("config", env={"ROLEREDIS_CONFIG": str(path)})
    assert_error(ran, 2, "'reddis'", "did you mean 'redis'", "[config]")
