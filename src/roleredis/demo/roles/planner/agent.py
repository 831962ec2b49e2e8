"""The planner role's "model", scripted: the tool calls a model would make in one turn.

It never names its own role: its MCP server (``roleredis mcp --role planner``) is the role.
``call(name, arguments)`` sends one tool call to that server and returns the tool's dict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
TASK = {"task": "forecast", "city": "Paris"}


async def turn(call: Call, peer: str, *, mail: bool) -> list[dict[str, Any]]:
    """Note the plan in the role's own keys, then ask ``peer`` to do it (with mail)."""
    done = [await call("redis_write", {"key": "status", "value": {"asked": peer, **TASK}})]
    if mail:
        done.append(await call("redis_send", {"to_role": peer, "message": TASK}))
    return done
