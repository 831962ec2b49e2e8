"""``roleredis mcp --transport http`` could be knocked over by connections that send nothing
(issue 17, item 4): they were never closed, so under ``ulimit -n 256`` 320 idle sockets used
up the process's descriptors; asyncio's accept loop logged the EMFILE through the SDK's rich
log handler, which imports a module (a file to open) to show the traceback, and that error
ended the process. Agents holding the token could not reconnect.

Now a connection that has not sent a request's headers within mcp.header_timeout is closed
(also between requests, however slowly it sends bytes), connections past mcp.max_connections
are answered 503 and closed at once, and running out of descriptors only pauses accepting.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from roleredis.testing import RedisServer
from roleredis.testing.server import free_port

from ..integration.mcp_support import (
    HEADERS,
    HELLO,
    ROLE,
    WAIT,
    http_server,
    mcp_config,
    server_env,
)

pytestmark = pytest.mark.integration

TOKEN = "idle-test-token-0123456789"
AUTHORIZED = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}


def configured(redis_server: RedisServer, tmp_path: Path, **mcp: object) -> dict[str, str]:
    """The server's environment: the token, and a config file with ``mcp`` settings."""
    config = mcp_config(tmp_path, **mcp)
    return server_env(redis_server, ROLEREDIS_MCP_TOKEN=TOKEN, ROLEREDIS_CONFIG=config)


def initialize(url: str) -> httpx.Response:
    """An authorized client's first request, retried while the server does not accept (it
    pauses accepting for a moment after running out of descriptors)."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return httpx.post(url, json=HELLO, headers=AUTHORIZED, timeout=WAIT)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def idle_sockets(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections to the server that send nothing, closed when the block ends."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            opened.append(socket.create_connection(("127.0.0.1", port), WAIT))
        yield opened
    finally:
        for sock in opened:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closes ``sock`` (within WAIT); whatever it sends first is read."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


def test_320_idle_sockets_under_ulimit_256_leave_the_server_up(
    redis_server: RedisServer,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    env = server_env(redis_server, ROLEREDIS_MCP_TOKEN=TOKEN)
    with http_server(port, env, open_files=256) as served:
        with idle_sockets(port, 320):
            time.sleep(3)  # the server accepts them, runs out of descriptors, and retries
            assert served.process.poll() is None, "the server exited"
        response = initialize(url)
        assert response.status_code == 200, response.text
        assert f"roleredis-{ROLE}" in response.text
        assert served.process.poll() is None
    assert "Traceback" not in served.stderr and "error:" not in served.stderr


def test_connections_that_send_no_request_are_closed_after_the_header_timeout(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    with http_server(port, configured(redis_server, tmp_path, header_timeout=1)) as served:
        with idle_sockets(port, 3) as (silent, partial, dribbling):
            partial.sendall(b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
            # a request answered, then the next one sent a byte at a time: uvicorn's own
            # keep-alive timer stops at the first byte, the header timeout does not
            dribbling.sendall(b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            dribbling.settimeout(WAIT)
            assert dribbling.recv(65536).startswith(b"HTTP/1.1 404")
            for byte in b"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1\r\n":
                try:
                    dribbling.sendall(bytes([byte]))
                except OSError:
                    break  # closed by the server
                time.sleep(0.5)
            assert closed_by_server(silent)
            assert closed_by_server(partial)
            assert closed_by_server(dribbling)
        assert initialize(f"http://127.0.0.1:{port}/mcp").status_code == 200
        assert served.process.poll() is None


def test_connections_past_max_connections_get_503_at_once(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with http_server(port, configured(redis_server, tmp_path, max_connections=3)) as served:
        with idle_sockets(port, 2), httpx.Client(headers=AUTHORIZED, timeout=WAIT) as one:
            assert one.post(url, json=HELLO).status_code == 200  # the third: served
            with idle_sockets(port, 1) as (fourth,):
                fourth.settimeout(WAIT)
                assert fourth.recv(65536).startswith(b"HTTP/1.1 503 ")
                assert closed_by_server(fourth)
            # the connection kept open by the client is still served
            assert one.post(url, json=HELLO).status_code == 200
        assert initialize(url).status_code == 200
        assert served.process.poll() is None
    assert "mcp.max_connections" in served.stderr
