"""The worker role's "model", scripted: take the mail, do the work, answer, acknowledge; and
answer the questions asked with redis_request.

Like the planner, it never names its own role: its MCP server is the role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
#: The cities the worker says it can forecast, when asked.
CITIES = ["Paris", "Oslo"]


async def turn(call: Call) -> list[dict[str, Any]]:
    """Receive (waiting up to 2 s); for each task, record the result in the role's own keys
    and mail it back to the sender; then ack them all."""
    received = await call("redis_receive", {"count": 10, "block_ms": 2000})
    done = [received]
    for message in received.get("messages", []):
        body = message["body"]
        result = {"city": body.get("city"), "sky": "clear"}
        key = f"done:{message['msg_id']}"
        done.append(await call("redis_write", {"key": key, "value": result}))
        done.append(await call("redis_send", {"to_role": message["from"], "message": result}))
    ids = [message["id"] for message in received.get("messages", [])]
    if ids:
        done.append(await call("redis_ack", {"ids": ids}))
    return done


async def answer(call: Call) -> list[dict[str, Any]]:
    """Receive (waiting up to 5 s) and answer each request (``reply_expected``) with
    redis_reply, which acknowledges it too; plain mail is left for the next turn."""
    received = await call("redis_receive", {"count": 10, "block_ms": 5000})
    done = [received]
    for message in received.get("messages", []):
        if message.get("reply_expected"):
            body = {"cities": CITIES}
            done.append(await call("redis_reply", {"id": message["id"], "body": body}))
    return done
