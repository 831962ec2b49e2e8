"""The planner role's "model", scripted: the tool calls a model would make in its turns.

It never names its own role: its MCP server (``roleredis mcp --role planner``) is the role.
``call(name, arguments)`` sends one tool call to that server and returns the tool's dict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
TASK = {"task": "forecast", "city": "Paris"}
#: What the planner asks the worker, and waits for the answer to.
QUESTION = {"question": "which cities can you forecast?"}


async def turn(call: Call, peer: str) -> list[dict[str, Any]]:
    """Note the plan in the role's own keys, then mail the task to ``peer``."""
    return [
        await call("redis_write", {"key": "status", "value": {"asked": peer, **TASK}}),
        await call("redis_send", {"to_role": peer, "message": TASK}),
    ]


async def collect(call: Call) -> list[dict[str, Any]]:
    """Receive the answers (waiting up to 2 s), note them in the role's own keys, ack them."""
    received = await call("redis_receive", {"count": 10, "block_ms": 2000})
    done = [received]
    answers = [m["body"] for m in received.get("messages", [])]
    if answers:
        done.append(await call("redis_write", {"key": "status", "value": {"answers": answers}}))
        done.append(await call("redis_ack", {"ids": [m["id"] for m in received["messages"]]}))
    return done


async def ask(call: Call, peer: str) -> dict[str, Any]:
    """Ask ``peer`` a question and wait (up to 10 s) for its answer: the result's ``reply``,
    and ``from``, the role that answered, as the server vouches."""
    return await call("redis_request", {"to_role": peer, "body": QUESTION, "timeout": 10})
