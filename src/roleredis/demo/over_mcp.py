"""Two roles, each served over MCP by a ``roleredis mcp`` process of its own, exchanging a
message and a request (``roleredis demo --mcp``, ``examples/agents/over_mcp.py``).

Each role's "model" is scripted (``roles/planner/agent.py``, ``roles/worker/agent.py``): a
turn is the tool calls a model would make, sent with the MCP SDK's client to the role's own
server, started as an MCP client's configuration starts it
(``python -m roleredis mcp --role planner`` with ``REDIS_URL`` in its environment). The planner
notes its plan and mails the task to the worker; the worker receives it, records the result
in its own keys, mails it back and acknowledges the task; the planner receives the answer,
notes it and acknowledges it. Then the planner asks the worker a question with
``redis_request`` while, at the same time (the request waits for its answer), the worker
receives it (``reply_expected``) and answers with ``redis_reply``; the planner's result holds
the answer and ``from: worker``, the role the server vouches for. Neither model ever names a
role for itself.

It always runs on a throwaway redis-server (the two servers are processes of their own, so the
in-process backend cannot serve them), never on a server you configured. Needs the ``mcp``
extra and the ``redis-server`` program.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from .runner import DemoFailed

__all__ = ["main", "run"]

PLANNER, WORKER = "planner", "worker"

Out = Callable[[str], None]
Call = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _short(value: Any, limit: int = 70) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _caller(client: Any, role: str, out: Out, log: list[dict[str, Any]]) -> Call:
    """``call(name, arguments)``: one tool call to ``role``'s server, printed and logged;
    a failed call stops the demo with the tool's error."""

    async def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result = await client.call_tool(name, arguments)
        data: dict[str, Any] = result.structured_content or {}
        log.append({"role": role, "tool": name, "arguments": arguments, "result": data})
        if result.is_error or not data.get("success"):
            code = data.get("error_code", "internal")
            raise DemoFailed(f"{role}: {name} failed: {data.get('error', data)} [{code}]", code)
        shown = {k: v for k, v in data.items() if k not in ("success", "message", "role")}
        out(f"{role:>7} -> {name}({_short(arguments, 50)}): {_short(shown)}")
        return data

    return call


async def _exchange(url: str, planner: ModuleType, worker: ModuleType, out: Out) -> dict[str, Any]:
    from mcp.client.client import Client
    from mcp.client.stdio import StdioServerParameters

    def server(role: str) -> Any:
        return Client(
            StdioServerParameters(
                command=sys.executable,
                args=["-m", "roleredis", "mcp", "--role", role],
                env={"REDIS_URL": url},
            )
        )

    log: list[dict[str, Any]] = []
    async with server(PLANNER) as as_planner, server(WORKER) as as_worker:
        offered = [tool.name for tool in (await as_planner.list_tools()).tools]
        out(f"planner and worker: each served by its own 'roleredis mcp' process ({url})")
        out(f"tools offered to each model: {', '.join(offered)}")
        as_the_planner = _caller(as_planner, PLANNER, out, log)
        await planner.turn(as_the_planner, WORKER)
        await worker.turn(_caller(as_worker, WORKER, out, log))
        await planner.collect(as_the_planner)
        # the two turns at once: a request waits for its answer. What each printed is shown
        # after both, the answering role's first: the order in which they happened
        said: dict[str, list[str]] = {PLANNER: [], WORKER: []}
        called: dict[str, list[dict[str, Any]]] = {PLANNER: [], WORKER: []}
        await asyncio.gather(
            planner.ask(
                _caller(as_planner, PLANNER, said[PLANNER].append, called[PLANNER]), WORKER
            ),
            worker.answer(_caller(as_worker, WORKER, said[WORKER].append, called[WORKER])),
        )
        for role in (WORKER, PLANNER):
            for line in said[role]:
                out(line)
            log.extend(called[role])
    return {"url": url, "tools": offered, "calls": log}


def run(planner: ModuleType, worker: ModuleType, out: Out = print) -> dict[str, Any]:
    """Start a throwaway redis-server, run the exchange over MCP, stop the server; return
    what happened (``calls``: each role's tool calls and results; ``lines``: what it printed
    through ``out``). Raises DemoFailed."""
    lines: list[str] = []

    def printed(line: str) -> None:
        lines.append(line)
        out(line)

    return {**_run(planner, worker, printed), "lines": lines}


def _run(planner: ModuleType, worker: ModuleType, out: Out) -> dict[str, Any]:
    from ..testing import RedisServer, RedisServerError

    try:
        import mcp  # noqa: F401
    except ImportError:
        raise DemoFailed(
            'the MCP demo needs the MCP SDK: pip install "roleredis[mcp]"', "config"
        ) from None
    try:
        redis_server = RedisServer().start()
    except RedisServerError as exc:
        raise DemoFailed(
            f"the MCP demo needs a throwaway redis-server: {str(exc).splitlines()[0]}",
            "connection",
        ) from None
    try:
        return asyncio.run(_exchange(redis_server.url, planner, worker, out))
    finally:
        redis_server.stop()


def main(planner: ModuleType, worker: ModuleType, argv: list[str] | None = None) -> int:
    """Run it as a program: 0 done, 1 with one error line on stderr. ``--json``: print the
    report of :func:`run` as JSON instead of the lines."""
    as_json = "--json" in (sys.argv[1:] if argv is None else argv)
    try:
        report = run(planner, worker, out=(lambda line: None) if as_json else print)
        if as_json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
    except DemoFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
