"""The scripted "models" of the agents' example (roles/planner/agent.py, roles/worker/agent.py):
what each turn calls, given the results issue 12's mail tools and issue 21's request tools
return. Their run over MCP is
tests/integration/test_example_over_mcp.py."""

from __future__ import annotations

import asyncio
from typing import Any

from roleredis.demo.roles.planner import agent as planner
from roleredis.demo.roles.worker import agent as worker


class Model:
    """A stand-in MCP server: records each call, answers from ``answers`` by tool name."""

    def __init__(self, **answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, arguments))
        return {"success": True, **self.answers.get(name, {})}


def test_the_planner_notes_its_plan_and_mails_the_task() -> None:
    call = Model()
    asyncio.run(planner.turn(call, "worker"))
    assert call.calls == [
        ("redis_write", {"key": "status", "value": {"asked": "worker", **planner.TASK}}),
        ("redis_send", {"to_role": "worker", "message": planner.TASK}),
    ]


def test_the_planner_notes_the_answers_and_acks_them() -> None:
    answer = {"id": "worker/1-0", "msg_id": "c3", "from": "worker", "body": {"sky": "clear"}}
    call = Model(redis_receive={"messages": [answer], "count": 1})
    asyncio.run(planner.collect(call))
    assert call.calls == [
        ("redis_receive", {"count": 10, "block_ms": 2000}),
        ("redis_write", {"key": "status", "value": {"answers": [{"sky": "clear"}]}}),
        ("redis_ack", {"ids": ["worker/1-0"]}),
    ]


def test_the_worker_records_answers_and_acks_each_task() -> None:
    messages = [
        {"id": "1-0", "msg_id": "a1", "from": "planner", "body": planner.TASK, "deliveries": 1},
        {"id": "2-0", "msg_id": "b2", "from": "boss", "body": {"city": "Oslo"}, "deliveries": 2},
    ]
    call = Model(redis_receive={"messages": messages, "count": 2})
    asyncio.run(worker.turn(call))
    assert call.calls == [
        ("redis_receive", {"count": 10, "block_ms": 2000}),
        ("redis_write", {"key": "done:a1", "value": {"city": "Paris", "sky": "clear"}}),
        ("redis_send", {"to_role": "planner", "message": {"city": "Paris", "sky": "clear"}}),
        ("redis_write", {"key": "done:b2", "value": {"city": "Oslo", "sky": "clear"}}),
        ("redis_send", {"to_role": "boss", "message": {"city": "Oslo", "sky": "clear"}}),
        ("redis_ack", {"ids": ["1-0", "2-0"]}),
    ]


def test_nobody_acks_when_no_mail_came() -> None:
    for turn in (worker.turn, planner.collect, worker.answer):
        call = Model(redis_receive={"messages": [], "count": 0})
        asyncio.run(turn(call))
        assert [name for name, _ in call.calls] == ["redis_receive"]


def test_the_planner_asks_the_worker_and_waits() -> None:
    answer = {"reply": {"cities": worker.CITIES}, "from": "worker", "msg_id": "a1"}
    call = Model(redis_request=answer)
    got = asyncio.run(planner.ask(call, "worker"))
    assert call.calls == [
        ("redis_request", {"to_role": "worker", "body": planner.QUESTION, "timeout": 10})
    ]
    assert got["reply"] == {"cities": worker.CITIES} and got["from"] == "worker"


def test_the_worker_answers_requests_and_leaves_plain_mail() -> None:
    messages = [
        {"id": "planner/1-0", "from": "planner", "body": planner.QUESTION, "reply_expected": True},
        {"id": "boss/2-0", "from": "boss", "body": "fyi", "reply_expected": False},
    ]
    call = Model(redis_receive={"messages": messages, "count": 2})
    asyncio.run(worker.answer(call))
    assert call.calls == [
        ("redis_receive", {"count": 10, "block_ms": 5000}),
        ("redis_reply", {"id": "planner/1-0", "body": {"cities": worker.CITIES}}),
    ]
