"""``roleredis mcp --role planner`` over stdio, started exactly as an MCP client's
configuration starts it (``python -m roleredis mcp --role planner`` with REDIS_URL in its
environment), driven by the SDK's own client and by raw newline-delimited JSON-RPC (issue 13).

One server process per driver for the whole module; each test uses keys of its own.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

import roleredis
from roleredis.faces.agents import schemas as agent
from roleredis.testing import RedisServer

from .mcp_support import (
    ROLE,
    HeldClient,
    RawStdio,
    mail_and_events_round_trip,
    mcp_command,
    server_env,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sdk(redis_server: RedisServer) -> Iterator[HeldClient]:
    command = mcp_command("--role", ROLE)
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=server_env(redis_server)
    )
    held = HeldClient(lambda: Client(params))
    yield held
    held.close()


def data(result: Any) -> dict[str, Any]:
    """The tool's dict: the structured content, which the text content repeats as JSON."""
    assert result.structured_content == json.loads(result.content[0].text)
    assert result.is_error is not result.structured_content["success"]
    return result.structured_content  # type: ignore[no-any-return]


def test_the_tools_listed_are_the_agent_definitions(sdk: HeldClient) -> None:
    listed = sdk.run(sdk.client.list_tools()).tools
    assert [tool.name for tool in listed] == agent.available()
    for tool in listed:
        assert tool.input_schema == agent.input_schema(tool.name)
        assert tool.input_schema["additionalProperties"] is False
        assert "role" not in tool.input_schema["properties"]
        assert tool.description == agent.describe(tool.name)


def test_every_key_tool_round_trips(sdk: HeldClient, raw: redis.Redis) -> None:
    value = {"steps": [1, 2], "done": False, "why": None}
    written = data(sdk.call("redis_write", {"key": "stdio:plan", "value": value, "ttl": 60}))
    assert written["success"] and written["role"] == ROLE
    assert written["prefixed_key"] == "planner:stdio:plan"
    assert json.loads(raw.get("planner:stdio:plan") or b"null") == value
    assert data(sdk.call("redis_read", {"key": "stdio:plan"}))["value"] == value
    listed = data(sdk.call("redis_get_keys", {"pattern": "stdio:*"}))
    assert listed["keys"] == ["stdio:plan"] and listed["truncated"] is False
    assert data(sdk.call("redis_exists", {"key": "stdio:plan"}))["exists"] is True
    assert data(sdk.call("redis_delete", {"key": "stdio:plan"}))["deleted"] is True
    missing = sdk.call("redis_read", {"key": "stdio:plan"})
    assert missing.is_error and data(missing)["error_code"] == "not_found"


def test_mail_and_events_round_trip(sdk: HeldClient) -> None:
    mail_and_events_round_trip(lambda name, arguments: data(sdk.call(name, arguments)), "sdkpeer")


VALID = {
    "redis_write": {"key": "k", "value": 1},
    "redis_read": {"key": "k"},
    "redis_get_keys": {},
    "redis_delete": {"key": "k"},
    "redis_exists": {"key": "k"},
    "redis_send": {"to_role": "b", "message": "m"},
    "redis_receive": {},
    "redis_ack": {"ids": ["1-0"]},
    "redis_request": {"to_role": "b", "body": "q", "timeout": 1},
    "redis_reply": {"id": "b/1-0", "body": "a"},
    "redis_publish": {"topic": "t", "event": "e"},
    "redis_read_events": {"from_role": "b", "topic": "t"},
    "redis_touch": {"ids": ["b/1-0"]},
    "redis_acquire": {"name": "n", "ttl": 5},
    "redis_renew": {"name": "n", "token": "t", "ttl": 5},
    "redis_release": {"name": "n", "token": "t"},
}


def test_the_valid_examples_cover_every_agent_tool() -> None:
    assert set(VALID) == {tool.name for tool in agent.AGENT_TOOLS}


@pytest.mark.parametrize("name", agent.available())
@pytest.mark.parametrize("extra", [{"role": "intruder"}, {"prefix": "intruder:"}, {"Key": "k"}])
def test_undeclared_arguments_are_an_error_not_dropped(
    sdk: HeldClient, raw: redis.Redis, name: str, extra: dict[str, Any]
) -> None:
    result = sdk.call(name, {**VALID[name], **extra})
    assert result.is_error is True
    got = data(result)
    assert got["error_code"] == "invalid_argument"
    assert f"{next(iter(extra))!r} is not accepted" in got["error"]
    assert raw.keys("intruder:*") == [] and raw.keys("planner:*") == []


def test_the_model_cannot_choose_the_role(sdk: HeldClient, raw: redis.Redis) -> None:
    assert sdk.call("redis_write", {"key": "mine", "value": 1, "role": "owner"}).is_error
    assert raw.keys("owner:*") == []
    roleredis.redis_write("secret", "owner's", role="owner")
    for arguments in ({"key": "secret", "role": "owner"}, {"key": "../owner:secret"}):
        result = data(sdk.call("redis_read", arguments))
        assert "owner's" not in json.dumps(result)
    refused = data(sdk.call("redis_read", {"key": "secret", "from_role": "owner"}))
    assert refused["success"] is False and "owner's" not in json.dumps(refused)
    assert data(sdk.call("redis_get_keys", {"pattern": "*"}))["keys"] == []


@pytest.mark.parametrize(
    "arguments",
    [{"key": 1, "value": 1}, {"key": "k", "value": 1, "ttl": "soon"}, {"value": 1}, {}],
)
def test_wrong_types_and_missing_arguments_are_errors(
    sdk: HeldClient, arguments: dict[str, Any]
) -> None:
    result = sdk.call("redis_write", arguments)
    assert result.is_error and data(result)["error_code"] == "invalid_argument"


def test_a_bytes_value_comes_back_as_base64(sdk: HeldClient) -> None:
    roleredis.redis_write("blob", b"\x00\xff", role=ROLE)
    assert data(sdk.call("redis_read", {"key": "blob"}))["value"] == {"bytes_base64": "AP8="}


# --------------------------------------------------------------------------- raw JSON-RPC


@pytest.fixture(scope="module")
def raw_stdio(redis_server: RedisServer) -> Iterator[RawStdio]:
    server = RawStdio(mcp_command("--role", ROLE), server_env(redis_server))
    yield server
    if server.process.poll() is None:
        server.close()


def test_raw_json_rpc_lines_as_a_client_writes_them(raw_stdio: RawStdio) -> None:
    hello = raw_stdio.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "raw-test", "version": "1"},
        },
    )
    assert hello["result"]["serverInfo"]["name"] == "roleredis-planner"
    assert "tools" in hello["result"]["capabilities"]
    raw_stdio.notify("notifications/initialized")
    tools = raw_stdio.request("tools/list")["result"]["tools"]
    assert {t["name"]: t["inputSchema"] for t in tools} == {
        name: agent.input_schema(name) for name in agent.available()
    }
    wrote = raw_stdio.request(
        "tools/call",
        {"name": "redis_write", "arguments": {"key": "raw:k", "value": {"a": [1]}}},
    )["result"]
    assert wrote["isError"] is False and wrote["structuredContent"]["success"] is True
    read = raw_stdio.request("tools/call", {"name": "redis_read", "arguments": {"key": "raw:k"}})[
        "result"
    ]
    assert read["structuredContent"]["value"] == {"a": [1]}
    assert json.loads(read["content"][0]["text"])["value"] == {"a": [1]}
    extra = raw_stdio.request(
        "tools/call", {"name": "redis_read", "arguments": {"key": "raw:k", "role": "owner"}}
    )["result"]
    assert extra["isError"] is True
    assert extra["structuredContent"]["error_code"] == "invalid_argument"
    unknown = raw_stdio.request("tools/call", {"name": "redis_flush", "arguments": {}})
    assert unknown.get("result", {}).get("isError") is True or "error" in unknown

    def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = raw_stdio.request("tools/call", {"name": name, "arguments": arguments})
        got = result["result"]
        assert got["isError"] is not got["structuredContent"]["success"]
        return got["structuredContent"]  # type: ignore[no-any-return]

    mail_and_events_round_trip(call, "rawpeer")


def test_stdout_carries_only_json_rpc_and_the_server_ends_with_stdin(
    raw_stdio: RawStdio,
) -> None:
    raw_stdio.request("ping")
    assert raw_stdio.close() == 0
    assert raw_stdio.seen
    for line in raw_stdio.seen:
        assert json.loads(line)["jsonrpc"] == "2.0"
    assert "Traceback" not in raw_stdio.stderr()


def test_served_as_the_roles_acl_user_the_server_holds_the_line(
    redis_server: RedisServer, raw: redis.Redis
) -> None:
    """The server process connects as ``roleredis-planner`` (as the MCP page's configuration
    with REDIS_USERNAME / REDIS_PASSWORD): its tools work, what a model sends stays in the
    role's keys, now enforced by Redis itself, and from_role reads what the server grants."""
    creds = roleredis.admin.acl.provision(ROLE)
    roleredis.admin.acl.grant(ROLE, "owner", "shared:*")
    roleredis.redis_write("secret", "owner's", role="owner")
    roleredis.redis_write("shared:note", "for planner", role="owner")
    env = server_env(redis_server, REDIS_USERNAME=creds.username)
    env["REDIS_PASSWORD"] = creds.password or ""
    server = RawStdio(mcp_command("--role", ROLE), env)
    try:
        server.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "acl-test", "version": "1"},
            },
        )
        server.notify("notifications/initialized")

        def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
            result = server.request("tools/call", {"name": name, "arguments": arguments})
            return result["result"]["structuredContent"]  # type: ignore[no-any-return]

        assert call("redis_write", {"key": "acl:k", "value": 1})["success"] is True
        assert call("redis_read", {"key": "acl:k"})["value"] == 1
        assert call("redis_get_keys", {})["keys"] == ["acl:k"]
        for key in ("../owner:secret", "owner:secret"):
            assert "owner's" not in json.dumps(call("redis_read", {"key": key}))
        # from_role as this user: the server decides (the grant above, nothing more)
        granted = call("redis_read", {"key": "shared:note", "from_role": "owner"})
        assert granted["value"] == "for planner"
        refused = call("redis_read", {"key": "secret", "from_role": "owner"})
        assert refused["error_code"] == "permission" and "owner's" not in json.dumps(refused)
        assert server.close() == 0
    finally:
        if server.process.poll() is None:
            server.close()
        roleredis.admin.acl.revoke(ROLE)
    assert raw.get("planner:acl:k") == b"1"


MCP_PAGE = Path(__file__).resolve().parents[2] / "docs" / "agents" / "mcp.md"


def test_the_documented_configuration_starts_a_working_server(
    redis_server: RedisServer,
) -> None:
    """The MCP page's stdio entry, run as a client runs it: its command found on PATH (the
    ``roleredis`` script this installation made), its env with the URL of the test's server
    and only the few variables clients pass on (PATH, HOME)."""
    blocks = re.findall(r"```json\n(.*?)```", MCP_PAGE.read_text(encoding="utf-8"), re.S)
    (entry,) = [
        server
        for block in blocks
        for server in json.loads(block)["mcpServers"].values()
        if "command" in server
    ]
    scripts = str(Path(sys.executable).parent)
    env = {
        "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")]),
        "HOME": os.environ.get("HOME", "/"),
        **entry["env"],
        "REDIS_URL": redis_server.url,
    }
    server = RawStdio([entry["command"], *entry["args"]], env)
    try:
        hello = server.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "readme-config", "version": "1"},
            },
        )
        role = entry["args"][entry["args"].index("--role") + 1]
        assert hello["result"]["serverInfo"]["name"] == f"roleredis-{role}"
        server.notify("notifications/initialized")
        sent = server.request(
            "tools/call",
            {"name": "redis_send", "arguments": {"to_role": "readme", "message": "hello"}},
        )["result"]["structuredContent"]
        got = roleredis.redis_receive(role="readme")["messages"]
        assert [(m["from"], m["body"], m["id"]) for m in got] == [(role, "hello", sent["id"])]
        assert server.close() == 0
    finally:
        if server.process.poll() is None:
            server.close()
