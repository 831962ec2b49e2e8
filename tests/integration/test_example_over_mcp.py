"""The agents' example (issues 13 and 21): two roles, each served by its own ``roleredis mcp``
process, exchanging messages and a request answered by the other role's model, run as a user
runs it (``examples/agents/over_mcp.py``, and ``roleredis demo --mcp --json`` for what each
model called and got back).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from roleredis.demo.roles.planner.agent import QUESTION, TASK
from roleredis.demo.roles.worker.agent import CITIES
from roleredis.faces.agents import schemas as agent

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agents" / "over_mcp.py"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), env=dict(os.environ), capture_output=True, text=True, timeout=120
    )


def calls(report: dict[str, Any], role: str, tool: str) -> list[dict[str, Any]]:
    return [c for c in report["calls"] if (c["role"], c["tool"]) == (role, tool)]


def test_the_example_exchanges_a_message_each_model_as_its_own_role() -> None:
    """One run (each run starts a redis-server and two MCP server processes): the lines it
    prints without --json are in the report's "lines"."""
    done = run(sys.executable, str(EXAMPLE), "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    assert report["tools"] == agent.available()
    lines = report["lines"]
    assert lines[0].startswith("planner and worker: each served by its own 'roleredis mcp'")
    assert lines[1] == "tools offered to each model: " + ", ".join(agent.available())
    said = [line.split("(")[0].strip() for line in lines[2:]]
    for role in ("planner", "worker"):
        for call in report["calls"]:
            assert "role" not in call["arguments"]
            if call["role"] == role:  # the results that name a role name the caller's
                assert call["result"].get("role", role) == role
        status = calls(report, role, "redis_write")[0]["result"]
        assert status["prefixed_key"] == f"{role}:" + status["key"]
    assert said == [
        "planner -> redis_write",
        "planner -> redis_send",
        "worker -> redis_receive",
        "worker -> redis_write",
        "worker -> redis_send",
        "worker -> redis_ack",
        "planner -> redis_receive",
        "planner -> redis_write",
        "planner -> redis_ack",
        "worker -> redis_receive",
        "worker -> redis_reply",
        "planner -> redis_request",
    ]
    assert lines[-1].startswith(
        'planner -> redis_request({"to_role": "worker", "body": {"question": '
    )
    assert f'{{"reply": {{"cities": {json.dumps(CITIES)}}}, "from": "worker"' in lines[-1]
    sent = calls(report, "planner", "redis_send")[0]["result"]
    (received,) = calls(report, "worker", "redis_receive")[0]["result"]["messages"]
    assert sent["from"] == "planner" and sent["to"] == "worker"
    assert received["msg_id"] == sent["msg_id"] and received["from"] == "planner"
    assert received["id"] == sent["id"] and received["body"] == TASK
    assert calls(report, "worker", "redis_ack")[0]["result"]["acked"] == 1
    answer = calls(report, "worker", "redis_send")[0]["result"]
    (got,) = calls(report, "planner", "redis_receive")[0]["result"]["messages"]
    assert (got["from"], got["msg_id"]) == ("worker", answer["msg_id"])
    assert got["body"] == {"city": TASK["city"], "sky": "clear"}
    status = calls(report, "planner", "redis_write")[1]["result"]
    assert (
        status["key"] == "status"
        and calls(report, "planner", "redis_ack")[0]["result"]["acked"] == 1
    )
    the_request(report)


def the_request(report: dict[str, Any]) -> None:
    """The planner's question, received by the worker's model as a request and answered by
    it: the planner's result names the worker, as the server vouches."""
    (asked,) = calls(report, "planner", "redis_request")
    assert asked["arguments"] == {"to_role": "worker", "body": QUESTION, "timeout": 10}
    (request,) = calls(report, "worker", "redis_receive")[1]["result"]["messages"]
    assert request["reply_expected"] is True and request["from"] == "planner"
    assert request["body"] == QUESTION and isinstance(request["deadline"], float)
    (replied,) = calls(report, "worker", "redis_reply")
    assert replied["arguments"] == {"id": request["id"], "body": {"cities": CITIES}}
    assert replied["result"]["delivered"] is True and replied["result"]["to"] == "planner"
    answer = asked["result"]
    assert answer["reply"] == {"cities": CITIES} and answer["from"] == "worker"
    assert answer["msg_id"] == request["msg_id"] == replied["result"]["msg_id"]


def test_roleredis_demo_mcp_runs_the_same_exchange() -> None:
    done = run(sys.executable, "-m", "roleredis", "demo", "--mcp", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert [(c["role"], c["tool"]) for c in report["calls"]][-6:] == [
        ("planner", "redis_receive"),
        ("planner", "redis_write"),
        ("planner", "redis_ack"),
        ("worker", "redis_receive"),
        ("worker", "redis_reply"),
        ("planner", "redis_request"),
    ]
    (got,) = calls(report, "planner", "redis_receive")[0]["result"]["messages"]
    assert got["from"] == "worker" and got["body"]["city"] == TASK["city"]
    the_request(report)
