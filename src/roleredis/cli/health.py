"""``roleredis health``: PING and a probe of the server, with what this process knows about it."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from .. import runtime
from ..foundation.errors import RoleRedisError
from ..transport.connection import describe as where
from .app import CliError, JsonFlag, app, connecting
from .output import console, emit_json, say

_HEALTH_FIELDS = (
    "success",
    "connected",
    "redis_version",
    "mode",
    "nodes",
    "latency_ms",
    "used_memory_human",
    "role",
    "pool",
    "background",
    "metrics",
    "message",
)


#: What a value the check did not give (None) shows as.
MISSING = "-"


def _inline(value: Any) -> str:
    """A value of the check's result on one line: a dict as ``name value, ...`` without its
    None entries, None as ``-``, never Python's ``None``.

    >>> _inline({"state": "closed", "consecutive_failures": 0, "open_since": None})
    'state closed, consecutive failures 0'
    >>> _inline(None), _inline({"last_error": None})
    ('-', '-')
    """
    if isinstance(value, dict):
        shown = [f"{k.replace('_', ' ')} {_inline(v)}" for k, v in value.items() if v is not None]
        return ", ".join(shown) or MISSING
    return MISSING if value is None else str(value)


@app.command()
def health(
    role: Annotated[
        str | None,
        typer.Option(
            "--role",
            help="Role whose namespace the write/read/delete probe uses "
            "(default: ROLEREDIS_ROLE, else key_management.default_role).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the server: PING and a write/read/delete probe; version, latency, pool.

    Exit 1 if Redis does not answer. With --json the check's result is printed even then.
    """
    from ..faces.tools import redis_health_check
    from ..table import metrics

    with contextlib.suppress(RoleRedisError):  # a bad setting: the check itself reports it
        connecting("health", role, shared=False)
    result = redis_health_check(role=role)
    result["metrics"] = metrics.summary()  # this process's calls (a role exports its own)
    if not result["success"]:
        code = result.get("error_code", "internal")
        if as_json:
            emit_json(result)
        raise CliError(result["error"], error_code=code)
    if as_json:
        emit_json(result)
        return
    settings = runtime.settings()
    pool = result.get("pool", {})
    background = result.get("background", {})
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    server = f"Redis {result['redis_version']} ({result['mode']})"
    if result["mode"] == "embedded":
        server = f"{result['redis_version']} (embedded, in this process)"
    rows: list[tuple[str, str]] = [
        ("server", f"{server} at {where(settings)}"),
        ("nodes", _nodes_line(result)),
        ("latency", f"{result['latency_ms']} ms"),
        ("memory used", _inline(result.get("used_memory_human") or "n/a")),
        ("probe role", _inline(result.get("role"))),
        (
            "pool",
            f"{pool.get('in_use', 0)} in use, {pool.get('idle', 0)} idle, "
            f"at most {_inline(pool.get('max'))}",
        ),
        (
            "background",
            f"{background.get('pending', 0)} pending, {background.get('written', 0)} written, "
            f"{background.get('given_up', 0)} given up, {background.get('failed', 0)} failed "
            "(this process)",
        ),
        ("metrics", _metrics_line(result["metrics"])),
    ]
    for name, value in result.items():
        if name not in _HEALTH_FIELDS:
            rows.append((name.replace("_", " "), _inline(value)))
    for name, text in rows:
        table.add_row(Text(name), Text(text))
    say(Text("connected", style="bold green"))
    console.print(table)


def _nodes_line(result: dict[str, Any]) -> str:
    """One ``127.0.0.1:7000 primary`` line per data node (the in-process backend has none)."""
    nodes = result.get("nodes") or []
    if not nodes:
        return "none (in this process)" if result["mode"] == "embedded" else "unknown"
    return "\n".join(f"{n['host']}:{n['port']} {n['role']}" for n in nodes)


def _metrics_line(digest: dict[str, Any]) -> str:
    errors = ", ".join(f"{code} {n}" for code, n in digest["errors"].items()) or "no errors"
    parts = [f"{digest['calls']} calls, {errors}"]
    for operation, stats in digest["operations"].items():
        if stats["p50_ms"] is not None:
            parts.append(f"{operation} p50 <= {stats['p50_ms']:g} ms")
    return "; ".join(parts) + " (this process; long-running roles: metrics.register_prometheus)"
