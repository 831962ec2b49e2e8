"""Issue 2, section 6: configuration. ROLEREDIS_CONFIG, else ./config.yaml, else defaults;
environment overrides (REDIS_URL, REDIS_HOST, REDIS_PORT, REDIS_DB, REDIS_PASSWORD,
REDIS_USERNAME); no password in files; clear errors naming the bad setting; enabled: false;
one bounded, lazy pool; nothing at import; the password never shown."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import roleredis.tools as tools

import roleredis
from roleredis import (
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_read_many,
    redis_write,
    redis_write_many,
    reset,
)
from roleredis.testing import RedisServer

WriteConfig = Callable[..., Path]

PASSWORD = "pa55-w0rd-that-must-never-show"


def all_calls() -> dict[str, dict[str, Any]]:
    """Every public function once, as role "w"."""
    return {
        "write": redis_write("k", 1, role="w"),
        "read": redis_read("k", role="w"),
        "exists": redis_exists("k", role="w"),
        "delete": redis_delete("k", role="w"),
        "get_keys": redis_get_keys(role="w"),
        "health": redis_health_check(role="w"),
        "clear": redis_clear_role_data("w"),
        "write_many": redis_write_many({"a": 1}, role="w"),
        "read_many": redis_read_many(["a"], role="w"),
    }


def client_count(raw: redis.Redis) -> int:
    """Connections open on the server, not counting ``raw``'s own."""
    return len(raw.client_list()) - 1


def settle_clients(raw: redis.Redis, expected: int, timeout: float = 2.0) -> int:
    """Wait until the server has seen closed connections go (closing is asynchronous)."""
    deadline = time.monotonic() + timeout
    count = client_count(raw)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.01)
        count = client_count(raw)
    return count


# --------------------------------------------------------------------------- _get_redis_config


def test_get_redis_config_shows_env_settings_and_hides_the_password(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    monkeypatch.setenv("REDIS_DB", "3")
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    reset()
    config = tools._get_redis_config()
    assert config["host"] == "127.0.0.1"
    assert config["port"] == redis_server.port and type(config["port"]) is int
    assert config["db"] == 3 and type(config["db"]) is int
    assert config["password"] == PASSWORD
    for shown in (repr(config), str(config), f"{config}", "%s" % (config,)):  # noqa: UP031
        assert PASSWORD not in shown
        assert "***" in shown


def test_get_redis_config_reflects_redis_url(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url_for(4))
    reset()
    config = tools._get_redis_config()
    assert config["port"] == redis_server.port, config
    assert config["host"] == "127.0.0.1", config
    assert config["db"] == 4, config


def test_defaults_without_file_or_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL")
    reset()
    config = tools._get_redis_config()
    assert config["host"] == "localhost"
    assert config["port"] == 6379
    assert config["db"] == 0
    assert config["password"] is None


# --------------------------------------------------------------------------- sources


def test_env_host_port_db_are_used(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer, raw: redis.Redis
) -> None:
    monkeypatch.delenv("REDIS_URL")
    monkeypatch.setenv("REDIS_HOST", "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    monkeypatch.setenv("REDIS_DB", "5")
    reset()
    assert redis_write("k", "in db 5", role="w")["success"] is True
    db5 = redis_server.client(db=5)
    try:
        assert db5.get("w:k") == b'"in db 5"'
        db5.flushdb()
    finally:
        db5.close()
    assert raw.dbsize() == 0


def test_redis_url_db_is_used(
    redis_server: RedisServer, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url_for(2))
    reset()
    assert redis_write("k", 1, role="w")["success"] is True
    db2 = redis_server.client(db=2)
    try:
        assert db2.exists("w:k") == 1
        db2.flushdb()
    finally:
        db2.close()
    assert raw.dbsize() == 0


def _connection_yaml(port: int, db: int, extra: str = "") -> str:
    return f"redis:\n  connection:\n    host: 127.0.0.1\n    port: {port}\n    db: {db}\n" + extra


@pytest.fixture
def db_client(redis_server: RedisServer) -> Iterator[Callable[[int], redis.Redis]]:
    clients: list[redis.Redis] = []

    def make(db: int) -> redis.Redis:
        client = redis_server.client(db=db)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.flushdb()
        client.close()


def test_local_config_yaml_is_found(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    db_client: Callable[[int], redis.Redis],
) -> None:
    monkeypatch.delenv("REDIS_URL")
    Path("config.yaml").write_text(_connection_yaml(redis_server.port, 6), encoding="utf-8")
    reset()
    assert redis_write("k", 1, role="w")["success"] is True
    assert db_client(6).exists("w:k") == 1
    assert tools._get_redis_config()["db"] == 6


def test_roleredis_config_wins_over_local_config_yaml(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    write_config: WriteConfig,
    db_client: Callable[[int], redis.Redis],
) -> None:
    monkeypatch.delenv("REDIS_URL")
    Path("config.yaml").write_text(_connection_yaml(redis_server.port, 6), encoding="utf-8")
    write_config(_connection_yaml(redis_server.port, 7))
    assert redis_write("k", 1, role="w")["success"] is True
    assert db_client(7).exists("w:k") == 1
    assert db_client(6).exists("w:k") == 0


def test_env_overrides_the_file(
    monkeypatch: pytest.MonkeyPatch,
    redis_server: RedisServer,
    write_config: WriteConfig,
    db_client: Callable[[int], redis.Redis],
) -> None:
    monkeypatch.delenv("REDIS_URL")
    # the file points at a port where nothing listens, and db 8
    write_config(_connection_yaml(1, 8))
    monkeypatch.setenv("REDIS_PORT", str(redis_server.port))
    monkeypatch.setenv("REDIS_DB", "9")
    reset()
    assert redis_write("k", 1, role="w")["success"] is True
    assert db_client(9).exists("w:k") == 1


def test_use_env_overrides_false_ignores_env_connection_settings(
    redis_server: RedisServer,
    write_config: WriteConfig,
    db_client: Callable[[int], redis.Redis],
    raw: redis.Redis,
) -> None:
    # REDIS_URL (db 0) is set by the fixture; the file says db 10 and no env overrides.
    write_config(_connection_yaml(redis_server.port, 10, "  use_env_overrides: false\n"))
    assert redis_write("k", 1, role="w")["success"] is True
    assert db_client(10).exists("w:k") == 1
    assert raw.dbsize() == 0


def test_config_changes_are_picked_up_after_reset(
    redis_server: RedisServer,
    db_client: Callable[[int], redis.Redis],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert redis_write("k", 1, role="w")["success"] is True
    monkeypatch.setenv("REDIS_URL", redis_server.url_for(11))
    reset()
    assert redis_write("k2", 1, role="w")["success"] is True
    assert db_client(11).keys() == [b"w:k2"]


# --------------------------------------------------------------------------- passwords


@pytest.fixture(scope="module")
def locked_server() -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD) as server:
        admin = server.client()
        try:
            admin.acl_setuser(
                "alice", enabled=True, passwords=["+alice-pw"], keys=["*"], commands=["+@all"]
            )
        finally:
            admin.close()
        yield server


def test_password_from_env_works_and_is_never_shown(
    locked_server: RedisServer,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REDIS_URL", locked_server.url)
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    reset()
    try:
        results = all_calls()
        results["read_again"] = redis_read("a", role="w")
        config = tools._get_redis_config()
    finally:
        reset()
    for name, result in results.items():
        assert result["success"] is True, (name, result)
    assert results["read_again"]["value"] == 1
    assert config["password"] == PASSWORD
    for name, result in results.items():
        assert PASSWORD not in repr(result), name
    assert PASSWORD not in repr(config)
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    assert PASSWORD not in repr(roleredis.load_settings())
    assert PASSWORD not in str(roleredis.load_settings())
    for record in caplog.records:
        assert PASSWORD not in record.getMessage()
        assert PASSWORD not in repr(record.args)


def test_missing_or_wrong_password_is_permission(
    locked_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", locked_server.url)
    reset()
    try:
        missing = redis_write("k", 1, role="w")
        monkeypatch.setenv("REDIS_PASSWORD", "wrong-password")
        reset()
        wrong = redis_write("k", 1, role="w")
    finally:
        reset()
    for result in (missing, wrong):
        assert result["success"] is False, result
        assert result["error_code"] == "permission", result
        assert "wrong-password" not in repr(result)


def test_username_and_password_from_env(
    locked_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", locked_server.url)
    monkeypatch.setenv("REDIS_USERNAME", "alice")
    monkeypatch.setenv("REDIS_PASSWORD", "alice-pw")
    reset()
    try:
        result = redis_write("k", 1, role="w")
        whoami = redis_health_check(role="w")
    finally:
        reset()
    assert result["success"] is True, result
    assert whoami["success"] is True, whoami
    admin = locked_server.client()
    try:
        assert admin.exists("w:k") == 1
        admin.flushdb()
    finally:
        admin.close()


def test_password_in_env_redis_url_works_and_is_hidden(
    locked_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:{PASSWORD}@127.0.0.1:{locked_server.port}/0")
    reset()
    try:
        result = redis_write("k", 1, role="w")
        health = redis_health_check(role="w")
        config = tools._get_redis_config()
    finally:
        reset()
    assert result["success"] is True, result
    assert health["success"] is True, health
    for shown in (repr(result), repr(health), repr(config), str(config)):
        assert PASSWORD not in shown


def test_unix_socket_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    sock = tmp_path / "redis.sock"
    with RedisServer(extra_args=("--unixsocket", str(sock), "--unixsocketperm", "700")) as server:
        monkeypatch.setenv("REDIS_URL", f"unix://{sock}?db=3")
        reset()
        try:
            result = redis_write("k", "via unix socket", role="w")
            read = redis_read("k", role="w")
        finally:
            reset()
        db3 = server.client(db=3)
        try:
            assert db3.get("w:k") == b'"via unix socket"'
        finally:
            db3.close()
    assert result["success"] is True, result
    assert read["value"] == "via unix socket"


@pytest.mark.parametrize(
    "document",
    [
        {"connection": {"host": "127.0.0.1", "password": "in-the-file"}},
        {"password": "in-the-file"},
        {"url": "redis://:in-the-file@127.0.0.1:1/0"},
        {"url": "redis://127.0.0.1:1/0?password=in-the-file"},
    ],
    ids=["connection.password", "password", "url with password", "url query password"],
)
def test_password_in_the_file_is_refused(
    document: dict[str, Any], write_config: WriteConfig, raw: redis.Redis
) -> None:
    write_config(document)
    for name, result in all_calls().items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "config", (name, result)
        assert "REDIS_PASSWORD" in result["error"], (name, result)
        assert "in-the-file" not in repr(result)
    assert raw.dbsize() == 0


# --------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("REDIS_PORT", "abc"),
        ("REDIS_PORT", "70000"),
        ("REDIS_PORT", "-1"),
        ("REDIS_DB", "x"),
        ("REDIS_DB", "-1"),
        ("REDIS_URL", "http://127.0.0.1:6379/0"),
        ("REDIS_URL", "not a url"),
    ],
)
def test_bad_env_value_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    reset()
    for name, result in all_calls().items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "config", (name, result)
        assert var in result["error"], (name, result)
        assert "Traceback" not in result["error"]


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("redis:\n  connection:\n    hots: localhost\n", "hots"),
        ("redis:\n  colour: blue\n", "colour"),
        ("redis:\n  key_management:\n    default_ttl: -5\n", "default_ttl"),
        ("redis:\n  key_management:\n    max_ttl: 0\n", "max_ttl"),
        ("redis:\n  key_management:\n    default_ttl: soon\n", "default_ttl"),
        ("redis:\n  connection:\n    port: abc\n", "port"),
        ("redis:\n  connection:\n    socket_connect_timeout: -1\n", "socket_connect_timeout"),
        ("redis:\n  pool:\n    max_connections: 0\n", "max_connections"),
        ("redis:\n  enabled: maybe\n", "enabled"),
        ("redis:\n  key_management:\n    default_role: 'a:b'\n", "default_role"),
        ("redis: [1, 2]\n", "redis"),
        ("redis:\n  connection: {host: [unclosed\n", "yaml"),
    ],
    ids=[
        "unknown key",
        "unknown section",
        "negative default_ttl",
        "zero max_ttl",
        "text ttl",
        "text port",
        "negative timeout",
        "zero pool",
        "bad bool",
        "bad default role",
        "not a mapping",
        "bad yaml",
    ],
)
def test_bad_file_setting_is_a_config_error_naming_it(
    document: str, named: str, write_config: WriteConfig, raw: redis.Redis
) -> None:
    write_config(document)
    result = redis_write("k", 1, role="w")
    assert result["success"] is False, result
    assert result["error_code"] == "config", result
    assert named.lower() in result["error"].lower(), result
    assert "Traceback" not in result["error"]
    assert raw.dbsize() == 0


def test_roleredis_config_naming_a_missing_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROLEREDIS_CONFIG", "/nonexistent/roleredis.yaml")
    reset()
    result = redis_write("k", 1, role="w")
    assert result["error_code"] == "config"
    assert "ROLEREDIS_CONFIG" in result["error"]


def test_guide_config_yaml_is_accepted(
    write_config: WriteConfig, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The guide's example file, verbatim but for the address (its comments included).
    guide = (Path(__file__).parents[1] / "data" / "guide_config.yaml").read_text(encoding="utf-8")
    write_config(
        guide.replace('host: "localhost"', 'host: "127.0.0.1"').replace(
            "port: 6379", f"port: {redis_server.port}"
        )
    )
    monkeypatch.delenv("REDIS_URL")
    reset()
    result = redis_write("k", {"x": 1}, role="w")
    assert result["success"] is True, result
    assert result["ttl"] == 3600
    read = redis_read("k", role="w")
    assert read["value"] == {"x": 1}  # decode_responses: true must not break values


def test_config_file_with_other_sections_is_fine(write_config: WriteConfig) -> None:
    write_config("app:\n  name: demo\nlogging:\n  level: INFO\nredis:\n  enabled: true\n")
    assert redis_write("k", 1, role="w")["success"] is True


# --------------------------------------------------------------------------- enabled: false


def test_disabled_makes_every_call_return_disabled_at_once(
    write_config: WriteConfig, raw: redis.Redis
) -> None:
    write_config({"enabled": False})
    started = time.monotonic()
    results = all_calls()
    elapsed = time.monotonic() - started
    for name, result in results.items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "disabled", (name, result)
    assert elapsed < 0.5
    assert raw.dbsize() == 0
    assert settle_clients(raw, 0) == 0


def test_disabled_needs_no_server(
    write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    write_config({"enabled": False})
    assert redis_write("k", 1, role="w")["error_code"] == "disabled"
    assert redis_health_check(role="w")["error_code"] == "disabled"


# --------------------------------------------------------------------------- pool


def test_connections_open_lazily(raw: redis.Redis) -> None:
    reset()
    assert settle_clients(raw, 0) == 0
    tools._get_redis_config()
    time.sleep(0.05)
    assert client_count(raw) == 0
    redis_write("k", 1, role="w")
    assert client_count(raw) >= 1


def test_one_shared_pool_bounded_by_max_connections(
    write_config: WriteConfig, raw: redis.Redis
) -> None:
    write_config({"pool": {"max_connections": 2}})
    failures: list[Any] = []
    peak = 0
    stop = threading.Event()

    def worker(i: int) -> None:
        for n in range(40):
            role = f"r{i % 3}"
            result = redis_write(f"k{i}-{n}", n, role=role)
            if not result["success"]:
                failures.append(result)
            result = redis_read(f"k{i}-{n}", role=role)
            if not result["success"]:
                failures.append(result)

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, client_count(raw))
            time.sleep(0.002)

    assert settle_clients(raw, 0) == 0
    watcher = threading.Thread(target=watch)
    watcher.start()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    watcher.join()
    assert not failures, failures[:3]
    assert raw.dbsize() == 8 * 40
    assert 1 <= client_count(raw) <= 2
    assert peak <= 2, peak


# --------------------------------------------------------------------------- import


IMPORT_PROBE = r"""
import socket, threading, builtins, os
opened = []
real_open = builtins.open
def spy_open(file, *a, **k):
    opened.append(str(file))
    return real_open(file, *a, **k)
def no_connect(self, *a, **k):
    raise AssertionError("a socket was connected at import time")
socket.socket.connect = no_connect
socket.socket.connect_ex = no_connect
before = threading.active_count()
builtins.open = spy_open
import roleredis, roleredis.tools
builtins.open = real_open
assert threading.active_count() == before, "a thread was started at import time"
bad = [p for p in opened if p.endswith((".yaml", ".yml")) or "nonexistent" in p]
assert not bad, bad
print("IMPORT-OK")
"""


def test_import_opens_nothing_reads_nothing_starts_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("redis: [this is: not valid\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(
        REDIS_PORT="abc",
        REDIS_URL="redis://127.0.0.1:1/0",
        ROLEREDIS_CONFIG=str(tmp_path / "config.yaml"),
    )
    proc = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "IMPORT-OK" in proc.stdout
