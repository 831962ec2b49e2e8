"""``roleredis mcp --role planner --transport http``: streamable HTTP at /mcp behind a bearer
token (issue 13), driven by raw HTTP requests (httpx, with the Accept header clients send) and
by the SDK's client, with the token, without it and with a wrong one.

One token-protected server process for the module, and one ``--no-auth`` process on loopback.
"""

from __future__ import annotations

import builtins
import importlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
import redis
from mcp.shared.exceptions import MCPError

from roleredis.faces.agents import schemas as agent
from roleredis.testing import RedisServer
from roleredis.testing.server import free_port

from .mcp_support import (
    HEADERS,
    HELLO,
    ROLE,
    WAIT,
    HeldClient,
    http_client,
    http_server,
    mail_and_events_round_trip,
    mcp_config,
    server_env,
)

pytestmark = pytest.mark.integration

#: What anyio raises for errors in a task group (a builtin from Python 3.11, else the backport).
GROUP: type[BaseException] = getattr(builtins, "BaseExceptionGroup", None) or (
    importlib.import_module("exceptiongroup").BaseExceptionGroup
)

TOKEN = "test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def url(redis_server: RedisServer) -> Iterator[str]:
    port = free_port()
    with http_server(port, server_env(redis_server, ROLEREDIS_MCP_TOKEN=TOKEN)) as served:
        yield f"http://127.0.0.1:{port}/mcp"
    assert "Traceback" not in served.stderr
    assert TOKEN not in served.stderr and "wrong" not in served.stderr  # no token logged
    assert f"roleredis mcp: role {ROLE} at http://127.0.0.1:{port}/mcp" in served.stderr


def reply(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a response, sent as JSON or as one server-sent event."""
    assert response.status_code == 200, response.text
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:] for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])  # type: ignore[no-any-return]
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN],
)
def test_requests_without_the_right_token_get_401(url: str, authorization: str | None) -> None:
    headers = dict(HEADERS)
    if authorization is not None:
        headers["Authorization"] = authorization
    response = httpx.post(url, json=HELLO, headers=headers, timeout=WAIT)
    assert response.status_code == 401
    assert "invalid_token" in response.text


def test_raw_http_with_the_token_round_trips(url: str, raw: redis.Redis) -> None:
    headers = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(headers=headers, timeout=WAIT) as http:
        hello = http.post(url, json=HELLO)
        assert reply(hello)["result"]["serverInfo"]["name"] == "roleredis-planner"
        session = hello.headers.get("mcp-session-id")
        if session:
            http.headers["mcp-session-id"] = session
        assert http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        listed = reply(http.post(url, json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        assert [t["name"] for t in listed["result"]["tools"]] == agent.available()

        def call(ident: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            message = {
                "jsonrpc": "2.0",
                "id": ident,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments},
            }
            return reply(http.post(url, json=message))["result"]  # type: ignore[no-any-return]

        wrote = call(3, "redis_write", {"key": "http:raw", "value": [1, "two"]})
        assert wrote["isError"] is False
        assert json.loads(raw.get("planner:http:raw") or b"null") == [1, "two"]
        assert call(4, "redis_read", {"key": "http:raw"})["structuredContent"]["value"] == [
            1,
            "two",
        ]
        extra = call(5, "redis_write", {"key": "x", "value": 1, "role": "owner"})
        assert extra["isError"] is True and raw.keys("owner:*") == []
        ident = iter(range(6, 100))
        mail_and_events_round_trip(
            lambda name, arguments: call(next(ident), name, arguments)["structuredContent"],
            "httppeer",
        )


@pytest.fixture(scope="module")
def sdk(url: str) -> Iterator[HeldClient]:
    held = HeldClient(lambda: http_client(url, {"Authorization": f"Bearer {TOKEN}"}))
    yield held
    held.close()


def test_the_sdk_client_with_the_token_round_trips_every_tool(
    sdk: HeldClient, raw: redis.Redis
) -> None:
    listed = sdk.run(sdk.client.list_tools()).tools
    assert {tool.name: tool.input_schema for tool in listed} == {
        name: agent.input_schema(name) for name in agent.available()
    }
    write = sdk.call("redis_write", {"key": "http:sdk", "value": {"a": 1}, "ttl": 60})
    assert write.structured_content["prefixed_key"] == "planner:http:sdk"
    assert sdk.call("redis_read", {"key": "http:sdk"}).structured_content["value"] == {"a": 1}
    assert sdk.call("redis_get_keys", {}).structured_content["keys"] == ["http:sdk"]
    assert sdk.call("redis_exists", {"key": "http:sdk"}).structured_content["exists"] is True
    assert sdk.call("redis_delete", {"key": "http:sdk"}).structured_content["deleted"] is True
    assert raw.exists("planner:http:sdk") == 0
    refused = sdk.call("redis_get_keys", {"pattern": "*", "role": "owner"})
    assert refused.is_error and refused.structured_content["error_code"] == "invalid_argument"
    mail_and_events_round_trip(
        lambda name, arguments: sdk.call(name, arguments).structured_content, "sdkpeer"
    )


@pytest.mark.parametrize("token", [None, "wrong"])
def test_the_sdk_client_without_the_token_is_refused(url: str, token: str | None) -> None:
    statuses: list[int] = []

    async def record(response: httpx2.Response) -> None:
        statuses.append(response.status_code)

    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    with pytest.raises((MCPError, GROUP)):
        HeldClient(lambda: http_client(url, headers, {"response": [record]})).close()
    assert statuses and set(statuses) == {401}


def test_no_auth_on_loopback_serves_without_a_token(redis_server: RedisServer) -> None:
    port = free_port()
    with http_server(port, server_env(redis_server), "--no-auth", "--host", "127.0.0.1"):
        response = httpx.post(f"http://127.0.0.1:{port}/mcp", json=HELLO, headers=HEADERS)
        assert reply(response)["result"]["serverInfo"]["name"] == f"roleredis-{ROLE}"


def test_several_agents_share_one_server(sdk: HeldClient, url: str) -> None:
    other = HeldClient(lambda: http_client(url, {"Authorization": f"Bearer {TOKEN}"}))
    try:
        other.call("redis_write", {"key": "http:shared", "value": "from the second agent"})
        seen = sdk.call("redis_read", {"key": "http:shared"}).structured_content
        assert seen["value"] == "from the second agent"
        assert seen["prefixed_key"] == f"{ROLE}:http:shared"
    finally:
        other.close()


def test_a_live_sse_stream_outlives_the_header_timeout_and_gets_pings(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    """mcp.header_timeout closes connections that owe a request's headers, never one whose
    request runs: the SDK's GET stream of server messages lasts, kept alive by its pings."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    config = mcp_config(tmp_path, header_timeout=1)
    env = server_env(redis_server, ROLEREDIS_MCP_TOKEN=TOKEN, ROLEREDIS_CONFIG=config)
    headers = {**HEADERS, "Authorization": f"Bearer {TOKEN}"}
    with http_server(port, env), httpx.Client(headers=headers, timeout=WAIT) as http:
        hello = http.post(url, json=HELLO)
        assert reply(hello)["result"]["serverInfo"]["name"] == f"roleredis-{ROLE}"
        http.headers["mcp-session-id"] = hello.headers["mcp-session-id"]
        http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        started = time.monotonic()
        with http.stream("GET", url, headers={"Accept": "text/event-stream"}) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith(": ping"):
                    break
            else:
                raise AssertionError("the server closed the SSE stream")
            assert time.monotonic() - started > 1  # it outlived the header timeout
            call = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
            assert reply(http.post(url, json=call))["result"]["tools"]
