"""Security tests (issue 5, sections 2 and 3): TLS-only and password-protected redis-servers
started here, and certificates made here (:mod:`roleredis.testing.tls`).

Every test runs in the clean environment of ``roleredis_env`` (tests/conftest.py) and is marked
``integration``: it must never skip. A redis-server built without TLS fails the TLS tests with
the server's own startup error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from roleredis.testing import RedisServer
from roleredis.testing.server import free_port
from roleredis.testing.tls import TLSFiles, make_tls_files

_HERE = Path(__file__).parent


@pytest.fixture(autouse=True)
def _clean_roleredis(roleredis_env: object) -> None:
    """Autouse: a clean environment, tmp cwd, reset() around every test."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/security is marked ``integration`` (never skips)."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


class TLSRedisServer(RedisServer):
    """A redis-server that listens on TLS only (``--port 0 --tls-port N``).

    :class:`RedisServer` waits for readiness with a plain-TCP PING; this subclass only changes
    :meth:`ping` and :meth:`client` to speak TLS (with the test CA and, since the server may
    require one, the test client certificate). The TLS options go in ``extra_args``, which come
    last on the command line and so override RedisServer's ``--port``.
    """

    def __init__(
        self, tls: TLSFiles, *, auth_clients: str = "optional", check_hostname: bool = True
    ) -> None:
        port = free_port()
        self.tls = tls
        self.auth_clients = auth_clients
        self.check_hostname = check_hostname  # for ping() and client() (the test's own)
        super().__init__(
            port=port,
            extra_args=(
                "--port",
                "0",
                "--tls-port",
                str(port),
                "--tls-cert-file",
                str(tls.server_cert),
                "--tls-key-file",
                str(tls.server_key),
                "--tls-ca-cert-file",
                str(tls.ca_cert),
                "--tls-auth-clients",
                auth_clients,
            ),
        )

    def url_for(self, db: int = 0) -> str:
        """``rediss://127.0.0.1:PORT/db`` (so that :attr:`url` is a TLS URL too)."""
        return f"rediss://{self.host}:{self.port}/{db}"

    @property
    def tls_url(self) -> str:
        """``rediss://127.0.0.1:PORT/0``."""
        return self.url_for(0)

    def _ssl_kwargs(self) -> dict[str, object]:
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.tls.ca_cert),
            "ssl_certfile": str(self.tls.client_cert),
            "ssl_keyfile": str(self.tls.client_key),
            "ssl_check_hostname": self.check_hostname,
        }

    def ping(self, timeout: float = 1.0) -> bool:
        client = redis.Redis(
            host=self.host,
            port=self.port,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            **self._ssl_kwargs(),  # type: ignore[arg-type]
        )
        try:
            return bool(client.ping())
        finally:
            client.close()

    def client(self, db: int = 0, **kwargs: object) -> redis.Redis:
        return redis.Redis(
            host=self.host,
            port=self.port,
            db=db,
            **self._ssl_kwargs(),  # type: ignore[arg-type]
            **kwargs,  # type: ignore[arg-type]
        )

    def plain_port_refuses(self) -> bool:
        """True if nothing answers plain Redis on the TLS port (it is TLS-only)."""
        plain = redis.Redis(
            host=self.host,
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=0.3,
            retry=Retry(NoBackoff(), 0),
        )
        try:
            plain.ping()
        except redis.RedisError:
            return True
        finally:
            plain.close()
        return False


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A CA, a server certificate for 127.0.0.1/localhost, a client certificate, and an
    unrelated second CA, made once per session."""
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tls_files: TLSFiles) -> Iterator[TLSRedisServer]:
    """A TLS-only server; client certificates optional (``--tls-auth-clients optional``)."""
    server = TLSRedisServer(tls_files, auth_clients="optional")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def mtls_server(tls_files: TLSFiles) -> Iterator[TLSRedisServer]:
    """A TLS-only server that requires a client certificate (``--tls-auth-clients yes``)."""
    server = TLSRedisServer(tls_files, auth_clients="yes")
    server.start()
    try:
        yield server
    finally:
        server.stop()
