"""Issue 8, item 8: errors that say how to fix them.

Each failure is produced for real (a password-protected server, a closed port, an ACL user, a
TLS port and a plain one, an HTTP server) and its message must name the fix: the variable to
set, the address tried, the option to pass.
"""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import roleredis
from roleredis.testing import RedisServer
from roleredis.testing.server import free_port
from roleredis.testing.tls import TLSFiles, make_tls_files

from ..cli.conftest import run_cli

PASSWORD = "fix-me-Pa55word-91"
pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _env(roleredis_env: Any) -> None:
    """A clean environment; each test points REDIS_URL where it needs."""


def _use(monkeypatch: pytest.MonkeyPatch, url: str, **env: str) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    roleredis.reset()


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: dict[str, Any]) -> None:
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump({"redis": config}))
    monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
    roleredis.reset()


@pytest.fixture(scope="module")
def protected() -> Iterator[RedisServer]:
    server = RedisServer(password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- authentication -----------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?protocol=3"])  # RESP3: "HELLO must be called with ..."
def test_a_missing_password_names_redis_password(
    protected: RedisServer, monkeypatch: pytest.MonkeyPatch, query: str
) -> None:
    _use(monkeypatch, protected.url + query)
    result = roleredis.redis_write("k", 1, role="r")
    assert result["error_code"] == "permission", result
    assert "REDIS_PASSWORD" in result["error"] and "REDIS_USERNAME" in result["error"]
    ran = run_cli("get", "r", "k", env={"REDIS_URL": protected.url + query})
    assert ran.returncode == 1 and "REDIS_PASSWORD" in ran.stderr, str(ran)


def test_a_wrong_password_says_to_check_it(
    protected: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, protected.url, REDIS_PASSWORD="not-the-password")
    result = roleredis.redis_read("k", role="r")
    assert result["error_code"] == "permission", result
    assert "REDIS_PASSWORD" in result["error"]
    assert "not-the-password" not in result["error"]


def test_a_wrong_password_on_the_fire_and_forget_path_is_an_authentication_failure(
    protected: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    _config(tmp_path, monkeypatch, {"async": {"max_age": 0.5, "drain_timeout": 1}})
    _use(monkeypatch, protected.url, REDIS_PASSWORD="not-the-password")
    assert roleredis.redis_write_async("k", 1, role="r")["success"]
    flushed = roleredis.redis_flush(timeout=10)
    assert (flushed["success"], flushed["lost"]) == (True, 1), flushed  # given up at max_age
    messages = [r.getMessage() for r in caplog.records if r.name == "roleredis.background"]
    assert any("authentication failed" in m and "REDIS_PASSWORD" in m for m in messages), messages
    assert not any("unreachable" in m for m in messages), messages
    assert any("gave up 1" in m for m in messages), messages


# --- where it connects ---------------------------------------------------------------------


def test_connection_refused_says_where_and_how_to_change_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    _use(monkeypatch, url)
    result = roleredis.redis_write("k", 1, role="r")
    assert result["error_code"] == "connection", result
    for needle in (url, "REDIS_URL", "roleredis config"):
        assert needle in result["error"], result
    ran = run_cli("health", env={"REDIS_URL": url})
    assert ran.returncode == 1, str(ran)
    assert url in ran.stderr and "REDIS_URL" in ran.stderr, str(ran)


# --- ACL: the health probe's role ------------------------------------------------------------


def test_health_as_a_role_user_suggests_the_role(
    protected: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = protected.client(protocol=2)
    try:
        admin.acl_setuser(
            "weather",
            enabled=True,
            passwords=[f"+{PASSWORD}-w"],
            keys=["weather:*"],
            commands=["+@all"],
        )
        env = {"REDIS_USERNAME": "weather", "REDIS_PASSWORD": f"{PASSWORD}-w"}
        _use(monkeypatch, protected.url, **env)
        refused = roleredis.redis_health_check()
        assert refused["error_code"] == "permission", refused
        assert refused["role"] == "unknown"
        for needle in ("'unknown'", "--role", "ROLEREDIS_ROLE"):
            assert needle in refused["error"], refused
        assert roleredis.redis_health_check(role="weather")["success"]
        ran = run_cli("health", env={"REDIS_URL": protected.url, **env})
        assert ran.returncode == 1 and "--role" in ran.stderr, str(ran)
        ok = run_cli("health", "--role", "weather", env={"REDIS_URL": protected.url, **env})
        assert ok.returncode == 0, str(ok)
    finally:
        admin.acl_deluser("weather")
        admin.close()


# --- TLS on one side only ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def two_ports(tls_files: TLSFiles) -> Iterator[tuple[RedisServer, int]]:
    """A server with a plain port (``.port``) and a TLS one (the int)."""
    tls_port = free_port()
    server = RedisServer(
        extra_args=(
            "--tls-port", str(tls_port),
            "--tls-cert-file", str(tls_files.server_cert),
            "--tls-key-file", str(tls_files.server_key),
            "--tls-ca-cert-file", str(tls_files.ca_cert),
            "--tls-auth-clients", "optional",
        )
    )  # fmt: skip
    server.start()
    try:
        yield server, tls_port
    finally:
        server.stop()


def test_a_tls_client_on_a_plain_port_hears_tls_is_mismatched(
    two_ports: tuple[RedisServer, int],
    tls_files: TLSFiles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server, _ = two_ports
    connection = {"ssl_ca_certs": str(tls_files.ca_cert), "socket_connect_timeout": 1}
    _config(tmp_path, monkeypatch, {"connection": connection})
    _use(monkeypatch, f"rediss://127.0.0.1:{server.port}/0")
    result = roleredis.redis_write("k", 1, role="r")
    assert result["error_code"] == "connection", result
    assert "TLS is likely mismatched" in result["error"] and "redis://" in result["error"]


def test_a_plain_client_on_a_tls_port_hears_tls_is_mismatched(
    two_ports: tuple[RedisServer, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tls_port = two_ports
    _use(monkeypatch, f"redis://127.0.0.1:{tls_port}/0")
    result = roleredis.redis_write("k", 1, role="r")
    assert result["error_code"] == "connection", result
    assert "TLS is likely mismatched" in result["error"] and "rediss://" in result["error"]


# --- not Redis at all ---------------------------------------------------------------------


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("password", [None, "pw-for-http"])
def test_an_http_server_does_not_speak_the_redis_protocol(
    http_port: int,
    password: str | None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="roleredis")
    _config(tmp_path, monkeypatch, {"async": {"max_age": 0.5, "drain_timeout": 1}})
    url = f"redis://127.0.0.1:{http_port}/0"
    _use(monkeypatch, url, **({"REDIS_PASSWORD": password} if password else {}))
    result = roleredis.redis_write("k", 1, role="r")
    assert result["error_code"] == "connection", result
    assert "does not speak the Redis protocol" in result["error"] and url in result["error"]
    assert roleredis.redis_write_async("k", 1, role="r")["success"]
    assert roleredis.redis_write_async("j", 2, role="r")["success"]
    flushed = roleredis.redis_flush(timeout=10)
    assert flushed["lost"] == 2, flushed
    writer_logs = [r for r in caplog.records if r.name == "roleredis.background"]
    assert writer_logs and not any(r.exc_info for r in writer_logs)
    assert any("does not speak the Redis protocol" in r.getMessage() for r in writer_logs)
    assert not any("unexpected error" in r.getMessage() for r in writer_logs)
