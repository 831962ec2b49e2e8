"""Request and reply as a model makes them (issue 21): the agent tools redis_request and
redis_reply through ``roleredis.call_tool`` and ``roleredis.aio.call_tool``, two roles' models
at once (a request blocks until its answer, so the asking role runs in a thread or a task of
its own), and what a model may not pass: a ``role``, a timeout over 60 or not a number, a body
over the size limit. Over MCP: tests/integration/test_mcp_requests.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import roleredis
from roleredis import aio

pytestmark = [pytest.mark.integration, pytest.mark.backends("redis", "memory")]

ASKER = "planner"
ANSWERER = "worker"
#: How long a test waits for the other role's model (not a timing assertion: a bound on a hang).
WAIT_MS = 10_000


def as_role(role: str) -> Callable[[str, Any], dict[str, Any]]:
    """What ``role``'s model calls: its tools, the role given by the program."""
    return lambda name, arguments: roleredis.call_tool(name, arguments, role=role)


class Asking(threading.Thread):
    """The asking role's model calling redis_request in a thread of its own (it blocks until
    the answer); ``result`` once joined."""

    def __init__(self, arguments: Any) -> None:
        super().__init__(daemon=True)
        self.arguments = arguments
        self.result: dict[str, Any] = {}

    def run(self) -> None:
        self.result = as_role(ASKER)("redis_request", self.arguments)

    def answer(self) -> dict[str, Any]:
        self.join(WAIT_MS / 1000 * 3)
        assert not self.is_alive(), "redis_request did not return"
        return self.result


def the_request(role: str = ANSWERER) -> dict[str, Any]:
    """The one message ``role``'s model receives (waiting for it)."""
    got = as_role(role)("redis_receive", {"block_ms": WAIT_MS})
    assert got["success"] and got["count"] == 1, got
    return got["messages"][0]  # type: ignore[no-any-return]


def test_a_request_answered_by_another_roles_model_names_it() -> None:
    asking = Asking('{"to_role": "worker", "body": {"question": "how many?"}, "timeout": 20}')
    asking.start()
    request = the_request()
    assert request["reply_expected"] is True and request["from"] == ASKER
    assert request["body"] == {"question": "how many?"}
    assert isinstance(request["deadline"], float)
    replied = as_role(ANSWERER)("redis_reply", {"id": request["id"], "body": {"answer": 3}})
    assert replied["success"] and replied["delivered"] is True and replied["to"] == ASKER
    answer = asking.answer()
    assert answer["success"] is True, answer
    assert answer["reply"] == {"answer": 3} and answer["from"] == ANSWERER
    assert answer["msg_id"] == request["msg_id"] == replied["msg_id"]
    # redis_reply acknowledged it: nothing comes back
    assert as_role(ANSWERER)("redis_receive", {})["messages"] == []


def test_an_error_reply_reaches_the_asking_model_as_responder_error() -> None:
    asking = Asking({"to_role": ANSWERER, "body": "divide by zero", "timeout": 20})
    asking.start()
    request = the_request()
    both = as_role(ANSWERER)("redis_reply", {"id": request["id"], "body": 1, "error": "no"})
    assert both["error_code"] == "invalid_argument"  # one or the other: the request stays
    replied = as_role(ANSWERER)(
        "redis_reply", {"id": request["id"], "error": "I cannot divide by zero"}
    )
    assert replied["success"] and replied["delivered"] is True
    answer = asking.answer()
    assert answer["success"] is False and answer["error_code"] == "responder_error"
    assert answer["reply_error"] == "I cannot divide by zero" and answer["reply"] is None


def test_the_asyncio_face_answers_with_two_models_at_once() -> None:
    async def asker() -> dict[str, Any]:
        return await aio.call_tool(
            "redis_request", {"to_role": ANSWERER, "body": [1, 2], "timeout": 20}, role=ASKER
        )

    async def answerer() -> tuple[dict[str, Any], dict[str, Any]]:
        got = await aio.call_tool("redis_receive", {"block_ms": WAIT_MS}, role=ANSWERER)
        (request,) = got["messages"]
        body = {"sum": sum(request["body"])}
        replied = await aio.call_tool(
            "redis_reply", {"id": request["id"], "body": body}, role=ANSWERER
        )
        return request, replied

    async def both() -> tuple[dict[str, Any], tuple[dict[str, Any], dict[str, Any]]]:
        return await asyncio.gather(asker(), answerer())

    answer, (request, replied) = asyncio.run(both())
    assert request["reply_expected"] is True and request["from"] == ASKER
    assert replied["delivered"] is True
    assert answer["success"] and answer["reply"] == {"sum": 3} and answer["from"] == ANSWERER


def test_no_answer_in_time_is_timeout_and_the_late_reply_is_not_delivered() -> None:
    answer = as_role(ASKER)("redis_request", {"to_role": ANSWERER, "body": 1, "timeout": 0.2})
    assert answer["success"] is False and answer["error_code"] == "timeout"
    # the request past its deadline is never handed to the answering model
    assert as_role(ANSWERER)("redis_receive", {})["messages"] == []


@pytest.mark.parametrize(
    ("tool", "arguments", "said"),
    [
        ("redis_request", {"to_role": ANSWERER, "body": 1, "role": "boss"}, "'role' is not"),
        ("redis_request", {"to_role": ANSWERER, "body": 1, "timeout": 61}, "at most 60, got 61"),
        ("redis_request", {"to_role": ANSWERER, "body": 1, "timeout": 3600}, "at most 60"),
        ("redis_request", {"to_role": ANSWERER, "body": 1, "timeout": 0}, "more than 0"),
        ("redis_request", {"to_role": ANSWERER, "body": 1, "timeout": -1}, "more than 0"),
        (
            "redis_request",
            {"to_role": ANSWERER, "body": 1, "timeout": "soon"},
            "timeout must be a number, got a string",
        ),
        (
            "redis_request",
            {"to_role": ANSWERER, "body": 1, "timeout": True},
            "timeout must be a number, got a boolean",
        ),
        ("redis_request", '{"to_role": "worker", "body": 1, "timeout": NaN}', "timeout must be"),
        ("redis_request", {"body": 1}, "missing required argument 'to_role'"),
        ("redis_request", {"to_role": ANSWERER}, "missing required argument 'body'"),
        ("redis_reply", {"id": "planner/1-0", "body": 1, "role": "boss"}, "'role' is not"),
        ("redis_reply", {"id": "planner/1-0", "error": "x" * 1001}, "at most 1000 characters"),
        ("redis_reply", {"id": "planner/1-0", "error": ""}, "error must not be empty"),
        ("redis_reply", {"body": 1}, "missing required argument 'id'"),
    ],
)
def test_what_a_model_may_not_pass_is_refused_before_anything_is_sent(
    tool: str, arguments: Any, said: str
) -> None:
    refused = as_role(ASKER)(tool, arguments)
    assert refused["success"] is False and refused["error_code"] == "invalid_argument"
    assert said in refused["error"], refused["error"]
    assert as_role(ANSWERER)("redis_receive", {})["messages"] == []


def test_a_request_over_the_size_limit_is_refused_and_not_sent(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"mcp": {"max_value_bytes": 1000}})
    refused = as_role(ASKER)("redis_request", {"to_role": ANSWERER, "body": "x" * 1000})
    assert refused["error_code"] == "invalid_argument"
    assert "the body is 1002 bytes as JSON, over the limit of 1000 bytes" in refused["error"]
    assert as_role(ANSWERER)("redis_receive", {})["messages"] == []


def test_a_reply_over_the_size_limit_is_refused_and_the_request_can_still_be_answered(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"mcp": {"max_value_bytes": 1000}})
    asking = Asking({"to_role": ANSWERER, "body": "a long answer, please", "timeout": 20})
    asking.start()
    request = the_request()
    too_big = as_role(ANSWERER)("redis_reply", {"id": request["id"], "body": "x" * 1000})
    assert too_big["error_code"] == "invalid_argument"
    assert "over the limit of 1000 bytes (mcp.max_value_bytes)" in too_big["error"]
    fits = as_role(ANSWERER)("redis_reply", {"id": request["id"], "body": "x" * 900})
    assert fits["success"] and fits["delivered"] is True
    assert asking.answer()["reply"] == "x" * 900


def test_replying_to_plain_mail_is_refused_and_redis_ack_takes_it() -> None:
    sent = as_role(ASKER)("redis_send", {"to_role": ANSWERER, "message": "fyi"})
    (mail,) = as_role(ANSWERER)("redis_receive", {})["messages"]
    assert mail["id"] == sent["id"] and mail["reply_expected"] is False
    refused = as_role(ANSWERER)("redis_reply", {"id": mail["id"], "body": "thanks"})
    assert refused["error_code"] == "invalid_argument" and "redis_ack" in refused["error"]
    assert as_role(ANSWERER)("redis_ack", {"ids": [mail["id"]]})["acked"] == 1
