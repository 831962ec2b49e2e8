"""``roleredis roles``: every role in the database, with its key count and memory."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from .. import runtime
from ..connection import describe as where
from ..errors import RoleRedisError, map_redis_errors
from ..keys import validate_role
from .app import JsonFlag, app, connecting
from .output import Progress, console, emit_json, note, say, size

__all__ = ["NO_ROLE", "role_usage", "roles"]

SCAN_COUNT = 1000
NO_ROLE = "(no role)"


def _role_of(full_key: bytes, known: dict[bytes, str]) -> str:
    prefix, sep, _ = full_key.partition(b":")
    if not sep:
        return NO_ROLE
    name = known.get(prefix)
    if name is None:
        try:
            name = validate_role(prefix.decode("ascii"))
        except (UnicodeDecodeError, RoleRedisError):
            name = NO_ROLE
        if len(known) < 100_000:
            known[prefix] = name
    return name


def _memory_usage(client: Any, keys: list[bytes]) -> list[int | None] | None:
    """MEMORY USAGE of each key in one pipeline; None if the server does not have it."""
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key)
    replies = pipe.execute(raise_on_error=False)
    sizes: list[int | None] = []
    for reply in replies:
        if isinstance(reply, Exception):
            return None  # unknown command (e.g. the embedded backend), or refused by an ACL
        sizes.append(None if reply is None else int(reply))
    return sizes


def role_usage(client: Any) -> tuple[dict[str, list[int]], bool]:
    """``{role: [keys, bytes]}`` over the whole database, and whether memory was measured.

    SCAN (COUNT 1000) through every key, grouped by the part before the first ``:`` when it
    is a valid role name (else under ``(no role)``); MEMORY USAGE pipelined per SCAN batch.
    """
    usage: dict[str, list[int]] = {}
    known: dict[bytes, str] = {}
    seen: set[bytes] = set()  # SCAN may return a key twice
    measure = True
    with map_redis_errors():
        total = int(client.dbsize())
        with Progress("scanning", total) as progress:
            cursor = 0
            while True:
                cursor, batch = client.scan(cursor=cursor, count=SCAN_COUNT)
                fresh = [key for key in batch if key not in seen]
                seen.update(fresh)
                sizes = _memory_usage(client, fresh) if measure and fresh else None
                if fresh and sizes is None:
                    measure = False
                for i, key in enumerate(fresh):
                    row = usage.setdefault(_role_of(key, known), [0, 0])
                    row[0] += 1
                    if sizes is not None:
                        row[1] += sizes[i] or 0
                progress.advance(len(fresh))
                if int(cursor) == 0:
                    break
    return usage, measure


@app.command()
def roles(as_json: JsonFlag = False) -> None:
    """Every role in the database with its key count and memory (SCAN, MEMORY USAGE).

    Keys are grouped by the part before the first ':'; keys without a valid role prefix are
    counted under "(no role)". Memory is n/a where the server has no MEMORY USAGE.
    """
    settings = connecting("roles")
    usage, measured = role_usage(runtime.sync_client())
    names = sorted(name for name in usage if name != NO_ROLE)
    unassigned = usage.get(NO_ROLE, [0, 0])
    total_keys = sum(row[0] for row in usage.values())
    total_bytes = sum(row[1] for row in usage.values())

    def mem(n: int) -> int | None:
        return n if measured else None

    if not measured and total_keys:
        note("memory not measured: this server does not answer MEMORY USAGE")
    if as_json:
        emit_json(
            {
                "url": where(settings),
                "roles": [
                    {"role": name, "keys": usage[name][0], "memory_bytes": mem(usage[name][1])}
                    for name in names
                ],
                "no_role": {"keys": unassigned[0], "memory_bytes": mem(unassigned[1])},
                "total": {"keys": total_keys, "memory_bytes": mem(total_bytes)},
                "memory_measured": measured,
            }
        )
        return
    if not total_keys:
        say(f"no keys at {where(settings)}")
        return
    say(f"roles at {where(settings)}")
    table = Table()
    table.add_column("role")
    table.add_column("keys", justify="right")
    table.add_column("memory", justify="right")
    for name in names:
        table.add_row(Text(name), str(usage[name][0]), size(mem(usage[name][1])))
    if unassigned[0]:
        table.add_row(Text(NO_ROLE, style="dim"), str(unassigned[0]), size(mem(unassigned[1])))
    table.add_section()
    table.add_row(Text("total", style="bold"), str(total_keys), size(mem(total_bytes)))
    console.print(table)
