"""The worker role's "model", scripted: take the mail, do the work, acknowledge it.

Like the planner, it never names its own role: its MCP server is the role.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


async def turn(call: Call, *, mail: bool) -> list[dict[str, Any]]:
    """Receive (waiting up to 2 s), record each task done in the role's own keys, ack."""
    if not mail:
        return [await call("redis_write", {"key": "status", "value": {"waiting": True}})]
    received = await call("redis_receive", {"count": 10, "block_ms": 2000})
    done = [received]
    for message in received.get("messages", []):
        body = message["body"]
        result = {"from": message["from"], "city": body.get("city"), "sky": "clear"}
        done.append(
            await call("redis_write", {"key": f"done:{message['msg_id']}", "value": result})
        )
    ids = [message["id"] for message in received.get("messages", [])]
    if ids:
        done.append(await call("redis_ack", {"ids": ids}))
    return done
