"""Request and reply between two roles' models over MCP (issue 21): ``roleredis mcp --role
planner`` and ``roleredis mcp --role worker`` as two server processes, the planner's model
asking with redis_request (it blocks until the answer: in a thread of its own) while the
worker's model receives the request and answers with redis_reply. ``from`` in the planner's
result is the worker, as the server vouches: also with each server process connected as its
role's own ACL user, where only the worker's user can write the answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters

import roleredis
from roleredis.testing import RedisServer

from .mcp_support import ROLE, WAIT, HeldClient, RawStdio, mcp_command, server_env

pytestmark = pytest.mark.integration

WORKER = "worker"
Call = Callable[[str, dict[str, Any]], dict[str, Any]]


def started(server: RawStdio) -> Call:
    """The server initialized; its tool calls' structured content."""
    server.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "requests-test", "version": "1"},
        },
    )
    server.notify("notifications/initialized")
    lock = threading.Lock()  # one exchange at a time on the pipes

    def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        with lock:
            got = server.request("tools/call", {"name": name, "arguments": arguments})["result"]
        assert got["isError"] is not got["structuredContent"]["success"]
        return got["structuredContent"]  # type: ignore[no-any-return]

    return call


@pytest.fixture
def servers(redis_server: RedisServer) -> Iterator[tuple[HeldClient, Call]]:
    """The planner's server driven by the SDK's client, the worker's by raw JSON-RPC."""
    command = mcp_command("--role", ROLE)
    params = StdioServerParameters(
        command=command[0], args=command[1:], env=server_env(redis_server)
    )
    planner = HeldClient(lambda: Client(params))
    worker = RawStdio(mcp_command("--role", WORKER), server_env(redis_server))
    try:
        yield planner, started(worker)
    finally:
        planner.close()
        worker.close()


def data(result: Any) -> dict[str, Any]:
    assert result.structured_content == json.loads(result.content[0].text)
    assert result.is_error is not result.structured_content["success"]
    return result.structured_content  # type: ignore[no-any-return]


def ask_meanwhile(ask: Call, arguments: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    """``ask("redis_request", arguments)`` started in a thread; the function that gives its
    result once it has returned."""
    out: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: out.append(ask("redis_request", arguments)))
    thread.start()

    def result() -> dict[str, Any]:
        thread.join(WAIT)
        assert out, "redis_request did not return"
        return out[0]

    return result


def answer_one(worker: Call) -> dict[str, Any]:
    """The worker's model: receive the request, answer it; the request it got."""
    got = worker("redis_receive", {"block_ms": 10_000})
    (request,) = got["messages"]
    assert request["reply_expected"] is True and isinstance(request["deadline"], float)
    body = {"answer": len(request["body"]["question"])}
    replied = worker("redis_reply", {"id": request["id"], "body": body})
    assert replied["success"] and replied["delivered"] is True and replied["to"] == ROLE
    return request  # type: ignore[no-any-return]


def test_the_planners_model_asks_and_the_workers_model_answers(
    servers: tuple[HeldClient, Call],
) -> None:
    planner, worker = servers

    def ask(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return data(planner.call(name, arguments))

    result = ask_meanwhile(ask, {"to_role": WORKER, "body": {"question": "four"}, "timeout": 20})
    request = answer_one(worker)
    assert request["from"] == ROLE and request["body"] == {"question": "four"}
    answer = result()
    assert answer["success"] is True, answer
    assert answer["reply"] == {"answer": 4} and answer["from"] == WORKER
    assert answer["msg_id"] == request["msg_id"]


def test_over_mcp_a_role_or_a_long_timeout_is_an_error(
    servers: tuple[HeldClient, Call],
) -> None:
    planner, worker = servers
    for arguments, said in (
        ({"to_role": WORKER, "body": 1, "role": WORKER}, "'role' is not accepted"),
        ({"to_role": WORKER, "body": 1, "timeout": 61}, "timeout must be at most 60, got 61"),
        ({"to_role": WORKER, "body": 1, "timeout": "1"}, "timeout must be a number"),
    ):
        result = planner.call("redis_request", arguments)
        assert result.is_error is True
        refused = data(result)
        assert refused["error_code"] == "invalid_argument" and said in refused["error"]
    reply = worker("redis_reply", {"id": f"{ROLE}/1-0", "body": 1, "role": ROLE})
    assert reply["error_code"] == "invalid_argument" and "'role' is not accepted" in reply["error"]
    assert worker("redis_receive", {})["messages"] == []


def test_as_each_roles_acl_user_the_server_vouches_for_who_answered(
    redis_server: RedisServer,
) -> None:
    users = {role: roleredis.admin.acl.provision(role) for role in (ROLE, WORKER)}
    processes: list[RawStdio] = []
    try:
        calls: dict[str, Call] = {}
        for role, creds in users.items():
            env = server_env(redis_server, REDIS_USERNAME=creds.username)
            env["REDIS_PASSWORD"] = creds.password or ""
            processes.append(RawStdio(mcp_command("--role", role), env))
            calls[role] = started(processes[-1])
        result = ask_meanwhile(
            calls[ROLE], {"to_role": WORKER, "body": {"question": "acl"}, "timeout": 20}
        )
        request = answer_one(calls[WORKER])
        answer = result()
        assert answer["success"] is True, answer
        assert answer["reply"] == {"answer": 3} and answer["from"] == WORKER
        assert answer["msg_id"] == request["msg_id"]
        for process in processes:
            assert process.close() == 0
    finally:
        for process in processes:
            if process.process.poll() is None:
                process.close()
        for role in users:
            roleredis.admin.acl.revoke(role)
