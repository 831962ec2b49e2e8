"""The HTTP server's connection bounds (mcp_server.Gate, connection_limit): the connection
limit lowered to what the open-file limit leaves, and an event-loop error handler that never
raises, whatever the log handlers do. The server itself is driven in
tests/regressions/test_mcp_http_survives_idle_connections.py and tests/integration."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from collections.abc import Iterator

import pytest

from roleredis.faces.agents.mcp_server import Gate, connection_limit
from roleredis.foundation.errors import ConfigError


def limit_files(monkeypatch: pytest.MonkeyPatch, soft: int) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda what: (soft, resource.RLIM_INFINITY))


def test_the_connection_limit_is_mcp_max_connections_when_files_allow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit_files(monkeypatch, 1024)
    assert connection_limit(100, 10) == (100, None)


def test_the_connection_limit_is_lowered_to_what_the_open_file_limit_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limit_files(monkeypatch, 256)
    limit, why = connection_limit(1000, 10)
    assert limit == 256 - 10 - 32
    assert why is not None and "mcp.max_connections=1000" in why and "ulimit -n" in why


def test_too_few_files_for_any_client_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    limit_files(monkeypatch, 40)
    with pytest.raises(ConfigError, match=r"ulimit -n.*pool.max_connections"):
        connection_limit(100, 10)


class Failing(logging.Handler):
    """A log handler that fails as the SDK's rich one did with no descriptor left."""

    def emit(self, record: logging.LogRecord) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    def handleError(self, record: logging.LogRecord) -> None:  # logging's name
        raise OSError(errno.EMFILE, "Too many open files")


@pytest.fixture
def failing_logs() -> Iterator[None]:
    handler = Failing()
    for name in ("asyncio", "roleredis.mcp"):
        logging.getLogger(name).addHandler(handler)
    try:
        yield
    finally:
        for name in ("asyncio", "roleredis.mcp"):
            logging.getLogger(name).removeHandler(handler)


@pytest.mark.usefixtures("failing_logs")
def test_the_loop_error_handler_never_raises() -> None:
    gate = Gate(1.0, 10)
    loop = asyncio.new_event_loop()
    try:
        with socket.socket() as sock:
            out_of_files = OSError(errno.EMFILE, "Too many open files")
            gate.loop_error(loop, {"message": "accept", "exception": out_of_files, "socket": sock})
        gate.loop_error(loop, {"message": "something else", "exception": RuntimeError("x")})
    finally:
        loop.close()


def test_running_out_of_files_is_one_warning_now_and_then(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = Gate(1.0, 10)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.WARNING, "roleredis.mcp"), socket.socket() as sock:
            for _ in range(5):
                error = OSError(errno.EMFILE, "Too many open files")
                gate.loop_error(loop, {"message": "accept", "exception": error, "socket": sock})
    finally:
        loop.close()
    said = [r.getMessage() for r in caplog.records if r.name == "roleredis.mcp"]
    assert len(said) == 1 and "out of descriptors" in said[0], said
    assert "mcp.header_timeout" in said[0] and not caplog.records[0].exc_info
