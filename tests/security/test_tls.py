"""Issue 5, section 2: TLS (rediss://) with certificate verification and client certificates.

Every test starts from a TLS-only redis-server (``--port 0 --tls-port N``, see conftest.py)
whose certificates were made in this session by :mod:`roleredis.testing.tls`: nothing here can
succeed over plain TCP. Shown:

- every tool, RoleStore, the fire-and-forget writer and roleredis.aio work over TLS, configured
  either by ``REDIS_URL=rediss://...`` plus ``redis.connection.ssl_ca_certs`` in the YAML, or by
  the YAML ``ssl: true`` with host and port;
- a wrong CA (an unrelated one, or none: the system store) is refused: error_code connection,
  a message about certificate verification, no traceback anywhere;
- a server that requires client certificates works with ``ssl_certfile`` / ``ssl_keyfile`` and
  refuses clearly without them, or with a certificate from another CA.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import roleredis
from roleredis import aio
from roleredis.testing.tls import TLSFiles, issue_certificate, make_ca

from .conftest import TLSRedisServer
from .operations import failures, run_aio, run_sync

WriteConfig = Callable[[Any], Path]
VALUE = {"sky": "clear", "n": [1, 2.5, None, True], "text": "über ✓"}
EXPECTED_FAILURES = {"read_missing"}  # not_found, by design
# The refusal tests look at what each TLS handshake says, so every call must really attempt
# one: the circuit breaker (which turns calls away after a few failures) is kept out of the way
# there, and tested for its own messages in test_the_breaker_still_says_why_tls_is_refused.
NO_BREAKER = {"breaker": {"failures": 1000}}


def _configure(
    server: TLSRedisServer,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    *,
    ca: Path | None,
    client_cert: tuple[Path, Path] | None = None,
    extra: dict[str, Any] | None = None,
    connect_timeout: float = 2.0,
) -> None:
    connection: dict[str, Any] = {"socket_connect_timeout": connect_timeout, "socket_timeout": 2}
    if ca is not None:
        connection["ssl_ca_certs"] = str(ca)
    if client_cert is not None:
        connection["ssl_certfile"] = str(client_cert[0])
        connection["ssl_keyfile"] = str(client_cert[1])
    if how == "url":
        monkeypatch.setenv("REDIS_URL", server.tls_url)
    else:
        monkeypatch.delenv("REDIS_URL", raising=False)
        host = "127.0.0.1" if how == "host-ip" else "localhost"
        connection.update(host=host, port=server.port, db=0, ssl=True)
    extra = dict(extra or {})
    connection.update(extra.pop("connection", {}))
    config: dict[str, Any] = {"connection": connection, "async": {"drain_timeout": 1}, **extra}
    write_config(config)


def _assert_all_succeeded(results: dict[str, Any]) -> None:
    bad = {k: v for k, v in failures(results).items() if k not in EXPECTED_FAILURES}
    assert bad == {}, f"operations failed over TLS: {bad}"
    assert results["read_missing"]["error_code"] == "not_found"


def _assert_no_traceback(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    out, err = capfd.readouterr()
    for where, text in (("logs", caplog.text), ("stdout", out), ("stderr", err)):
        assert "Traceback" not in text, f"a traceback in the {where}:\n{text}"


@pytest.mark.parametrize("how", ["url", "host-ip", "host-localhost"])
def test_every_sync_operation_works_over_tls(
    tls_server: TLSRedisServer,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    """rediss:// + ssl_ca_certs (or ssl: true + host/port): every operation succeeds."""
    assert tls_server.plain_port_refuses(), "the test server must speak TLS only"
    _configure(tls_server, write_config, monkeypatch, how, ca=tls_server.tls.ca_cert)
    results = run_sync("tls", VALUE)
    _assert_all_succeeded(results)
    assert results["read"]["value"] == VALUE
    assert results["read_after_async"]["value"] == VALUE
    assert results["read_async_callback"]["value"] == VALUE
    assert results["read_many"]["values"] == {"m1": VALUE, "m2": [VALUE]}
    assert results["get_keys"]["keys"] == ["k1", "k2"]
    assert results["health"]["connected"] is True
    assert results["clear"]["deleted_count"] >= 4
    # what the tools wrote is really on the TLS server
    roleredis.redis_write("check", "on the TLS server", role="tls")
    client = tls_server.client()
    try:
        assert client.get("tls:check") == b'"on the TLS server"'
        client.delete("tls:check")
    finally:
        client.close()


@pytest.mark.parametrize("how", ["url", "host-ip"])
def test_every_aio_operation_works_over_tls(
    tls_server: TLSRedisServer,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    _configure(tls_server, write_config, monkeypatch, how, ca=tls_server.tls.ca_cert)
    results = run_aio("tls_aio", VALUE)
    _assert_all_succeeded(results)
    assert results["read"]["value"] == VALUE
    assert results["store.read"].value == VALUE
    assert results["health"]["connected"] is True


def test_async_writer_works_over_tls(
    tls_server: TLSRedisServer, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1000 fire-and-forget writes over rediss:// all land."""
    _configure(tls_server, write_config, monkeypatch, "url", ca=tls_server.tls.ca_cert)
    for i in range(1000):
        assert roleredis.redis_write_async(f"w{i}", i, role="tls_writer")["success"] is True
    flushed = roleredis.redis_flush(timeout=10)
    assert flushed["success"] is True, flushed
    client = tls_server.client()
    try:
        values = client.mget([f"tls_writer:w{i}" for i in range(1000)])
        assert values == [str(i).encode() for i in range(1000)]
    finally:
        client.close()
    assert roleredis.redis_clear_role_data("tls_writer")["deleted_count"] == 1000


def _assert_refused(result: Any, *words: str) -> None:
    assert isinstance(result, dict), result
    assert result["success"] is False, result
    assert result["error_code"] == "connection", result
    text = result["error"].lower()
    assert any(w in text for w in words), f"the message does not say why: {result['error']!r}"


@pytest.mark.parametrize("ca", ["unrelated", "system"])
def test_a_wrong_ca_is_refused_clearly(
    tls_server: TLSRedisServer,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    ca: str,
) -> None:
    """An unrelated CA, or none (the system store, which does not know the test CA)."""
    caplog.set_level(logging.DEBUG)
    ca_path = tls_server.tls.other_ca_cert if ca == "unrelated" else None
    _configure(
        tls_server,
        write_config,
        monkeypatch,
        "url",
        ca=ca_path,
        connect_timeout=0.3,
        extra=NO_BREAKER,
    )
    checks: dict[str, Any] = {
        "write": roleredis.redis_write("k", 1, role="tls"),
        "read": roleredis.redis_read("k", role="tls"),
        "exists": roleredis.redis_exists("k", role="tls"),
        "get_keys": roleredis.redis_get_keys(role="tls"),
        "delete": roleredis.redis_delete("k", role="tls"),
        "read_many": roleredis.redis_read_many(["k"], role="tls"),
        "write_many": roleredis.redis_write_many({"k": 1}, role="tls"),
        "clear": roleredis.redis_clear_role_data("tls"),
        "health": roleredis.redis_health_check(role="tls"),
    }

    async def via_aio() -> list[dict[str, Any]]:
        return [
            await aio.redis_write("k", 1, role="tls"),
            await aio.redis_read("k", role="tls"),
            await aio.redis_health_check(role="tls"),
        ]

    import asyncio

    for i, result in enumerate(asyncio.run(via_aio())):
        checks[f"aio[{i}]"] = result
    for name, result in checks.items():
        _assert_refused(result, "certificate verif")
        assert "certificate verify failed" in result["error"].lower(), (name, result)
    assert checks["health"]["connected"] is False
    # the typed core raises ConnectionFailedError, with the same clear message
    with pytest.raises(roleredis.ConnectionFailedError, match=r"(?i)certificate verify failed"):
        roleredis.RoleStore("tls").read("k")
    _assert_no_traceback(caplog, capfd)


def test_every_operation_works_with_a_required_client_certificate(
    mtls_server: TLSRedisServer, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = mtls_server.tls
    for how in ("url", "host-ip"):
        _configure(
            mtls_server,
            write_config,
            monkeypatch,
            how,
            ca=tls.ca_cert,
            client_cert=(tls.client_cert, tls.client_key),
        )
        _assert_all_succeeded(run_sync("mtls", VALUE))
        _assert_all_succeeded(run_aio("mtls", VALUE))
        roleredis.reset()


@pytest.mark.parametrize("client_cert", ["none", "unrelated-ca"])
def test_a_missing_or_foreign_client_certificate_is_refused_clearly(
    mtls_server: TLSRedisServer,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    client_cert: str,
) -> None:
    """The server requires a client certificate: without one (or with one from another CA)
    every call fails with error_code connection and a message that names the certificate."""
    caplog.set_level(logging.DEBUG)
    tls = mtls_server.tls
    cert = None if client_cert == "none" else (tls.other_client_cert, tls.other_client_key)
    _configure(
        mtls_server,
        write_config,
        monkeypatch,
        "url",
        ca=tls.ca_cert,
        client_cert=cert,
        connect_timeout=0.3,
        extra=NO_BREAKER,
    )
    results: dict[str, Any] = {}
    for attempt in range(3):  # each attempt opens a new connection (the last one was dropped)
        results[f"write{attempt}"] = roleredis.redis_write("k", 1, role="mtls")
        results[f"read{attempt}"] = roleredis.redis_read("k", role="mtls")
    results["health"] = roleredis.redis_health_check(role="mtls")

    async def via_aio() -> dict[str, Any]:
        return await aio.redis_read("k", role="mtls")

    import asyncio

    results["aio"] = asyncio.run(via_aio())
    unclear = {}
    for name, result in results.items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "connection", (name, result)
        text = result["error"].lower()
        if "certificate" not in text and "unknown ca" not in text:
            unclear[name] = result["error"]
    assert unclear == {}, (
        f"messages that do not say the client certificate is the problem: {unclear}"
    )
    _assert_no_traceback(caplog, capfd)
    client = mtls_server.client()
    try:
        assert client.exists("mtls:k") == 0, "a refused write must not land"
    finally:
        client.close()


def test_the_breaker_still_says_why_tls_is_refused(
    tls_server: TLSRedisServer, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the circuit breaker on (its defaults), a TLS refusal repeated until the breaker
    opens: the calls it turns away must still say what is wrong (certificate verification),
    not only that Redis is "unreachable" (it is reachable; it refuses our trust settings)."""
    _configure(
        tls_server,
        write_config,
        monkeypatch,
        "url",
        ca=tls_server.tls.other_ca_cert,
        connect_timeout=0.3,
    )
    results = [roleredis.redis_read("k", role="tls") for _ in range(8)]
    for result in results:
        assert result["success"] is False and result["error_code"] == "connection", result
    assert "certificate verify failed" in results[0]["error"].lower(), results[0]
    turned_away = [r["error"] for r in results if "breaker" in r["error"]]
    assert turned_away, "the breaker never opened (expected after a few failures)"
    unclear = [e for e in turned_away if "certificate" not in e.lower()]
    assert unclear == [], (
        "the breaker's fail-fast message hides the cause of the failures: " + unclear[0]
    )


@pytest.fixture(scope="module")
def wrong_host_server(
    tls_files: TLSFiles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TLSRedisServer]:
    """A TLS-only server whose certificate (from a CA the client trusts) names another host."""
    ca = make_ca("wrong-host CA")
    directory = tmp_path_factory.mktemp("wrong-host")
    cert = issue_certificate(ca, "elsewhere", hosts=("elsewhere.invalid",), server=True)
    ca.write(directory / "ca.crt", directory / "ca.key")
    cert.write(directory / "server.crt", directory / "server.key")
    files = dataclasses.replace(
        tls_files,
        ca_cert=directory / "ca.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
    )
    server = TLSRedisServer(files, auth_clients="no", check_hostname=False)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_hostname_verification_and_its_switches(
    wrong_host_server: TLSRedisServer,
    write_config: WriteConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The certificate is valid but names another host: refused by default (hostname
    mismatch); accepted with ``ssl_check_hostname: false``; accepted without any CA with
    ``ssl_cert_reqs: none`` (encrypted, not verified: the operator's explicit choice)."""
    ca = wrong_host_server.tls.ca_cert
    _configure(
        wrong_host_server,
        write_config,
        monkeypatch,
        "url",
        ca=ca,
        connect_timeout=0.3,
        extra=NO_BREAKER,
    )
    refused = roleredis.redis_write("k", 1, role="tls")
    _assert_refused(refused, "mismatch", "hostname", "certificate verif")
    _configure(
        wrong_host_server,
        write_config,
        monkeypatch,
        "url",
        ca=ca,
        extra={"connection": {"ssl_check_hostname": False}},
    )
    assert roleredis.redis_write("k", 1, role="tls")["success"] is True
    assert roleredis.redis_read("k", role="tls")["value"] == 1
    _configure(
        wrong_host_server,
        write_config,
        monkeypatch,
        "host-ip",
        ca=None,
        extra={"connection": {"ssl_cert_reqs": "none", "ssl_check_hostname": False}},
    )
    assert roleredis.redis_read("k", role="tls")["value"] == 1
    assert roleredis.redis_clear_role_data("tls")["deleted_count"] == 1
