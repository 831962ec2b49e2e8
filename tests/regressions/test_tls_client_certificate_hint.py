"""A server that requires a client certificate, and the client gives none: the error must say
so (connection.ssl_certfile / ssl_keyfile). The hint was keyed on redis-py's wording; redis-py
8.2's asyncio client says "Connection closed by the server before write" instead, and the hint
was gone. It is now derived from the exception types under the error (a TLS alert or EOF, a
reset, or redis-py's own "closed" error with no OS error under it), whatever the wording."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.exceptions as rex
import yaml

import roleredis
from roleredis import aio
from roleredis.foundation.errors import translate
from roleredis.testing.tls import make_tls_files

from ..security.conftest import TLSRedisServer

HINT = "client certificate (connection.ssl_certfile / ssl_keyfile)"
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSRedisServer]:
    server = TLSRedisServer(make_tls_files(tmp_path_factory.mktemp("tls")), auth_clients="yes")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_missing_client_certificate_gets_the_hint_sync_and_aio(
    mtls: TLSRedisServer, roleredis_env: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "connection": {
            "ssl_ca_certs": str(mtls.tls.ca_cert),
            "socket_connect_timeout": 1,
            "socket_timeout": 1,
        },
        "breaker": {"failures": 1000},  # every call makes its own TLS attempt
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"redis": config}))
    monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
    monkeypatch.setenv("REDIS_URL", mtls.tls_url)
    roleredis.reset()

    async def via_aio() -> list[dict[str, Any]]:
        return [
            await aio.redis_write("k", 1, role="mtls"),
            await aio.redis_read("k", role="mtls"),
            await aio.redis_read("k", role="mtls"),
        ]

    results = [
        roleredis.redis_write("k", 1, role="mtls"),
        roleredis.redis_read("k", role="mtls"),
        roleredis.redis_health_check(role="mtls"),
        *asyncio.run(via_aio()),
    ]
    for result in results:
        assert result["error_code"] == "connection", result
        assert HINT in result["error"], result


def _raised_under(cause: BaseException | None, text: str) -> rex.ConnectionError:
    """redis-py's ConnectionError with ``text``, raised while handling ``cause``."""
    try:
        try:
            if cause is not None:
                raise cause
        finally:
            raise rex.ConnectionError(text)
    except rex.ConnectionError as exc:
        return exc


@pytest.mark.parametrize(
    "cause",
    [
        None,  # redis-py's own "closed" error: the transport was already closing
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"),
        ssl.SSLError(1, "[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] certificate required"),
        ConnectionResetError(104, "Connection reset by peer"),
        BrokenPipeError(32, "Broken pipe"),
    ],
)
def test_the_hint_does_not_depend_on_the_wording(cause: BaseException | None) -> None:
    error = translate(_raised_under(cause, "words redis-py never used"), tls=True)
    assert error.error_code == "connection" and HINT in str(error), str(error)


@pytest.mark.parametrize(
    "cause",
    [
        ConnectionRefusedError(111, "Connection refused"),  # no connection was made
        ssl.SSLCertVerificationError(1, "certificate verify failed"),  # the server's cert
    ],
)
def test_no_client_certificate_hint_where_no_server_ended_it(cause: BaseException) -> None:
    assert HINT not in str(translate(_raised_under(cause, "closed"), tls=True))


def test_no_client_certificate_hint_without_tls_or_on_a_timeout() -> None:
    assert HINT not in str(translate(_raised_under(None, "closed"), tls=False))
    assert HINT not in str(translate(rex.TimeoutError("Timeout reading"), tls=True))
