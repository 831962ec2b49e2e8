"""``roleredis roles``: every role in the database, with its key count and memory.

The counting is the library's (:func:`roleredis.admin.inventory.take`); this module shows it, with a
progress bar on a terminal for a large keyspace.
"""

from __future__ import annotations

import contextlib
from typing import Any

from rich.table import Table
from rich.text import Text

from ..admin import inventory
from ..admin.inventory import NO_ROLE, Inventory
from ..transport.connection import describe as where
from .app import JsonFlag, app, connecting
from .output import Progress, console, emit_json, note, say, size

__all__ = ["role_usage", "roles", "survey"]


def survey(client: Any = None) -> Inventory:
    """The inventory of the database, with a progress bar ("scanning") for a large one."""
    with contextlib.ExitStack() as stack:
        bar: list[Progress] = []

        def advance(new_keys: int, dbsize: int) -> None:
            if not bar:  # DBSIZE is known only once the operation has asked it
                bar.append(stack.enter_context(Progress("scanning", dbsize)))
            bar[0].advance(new_keys)

        return inventory.take(client=client, progress=advance)


def role_usage(client: Any) -> tuple[dict[str, list[int]], bool]:
    """``{role: [keys, bytes]}`` over the whole database of ``client``, and whether memory was
    measured (the shape this command has always had; see
    :class:`~roleredis.admin.inventory.Inventory`
    for the library's)."""
    found = survey(client)
    usage = {name: [row.keys, row.memory_bytes] for name, row in found.roles.items()}
    return usage, found.memory_measured


@app.command()
def roles(as_json: JsonFlag = False) -> None:
    """Every role in the database with its key count and memory (SCAN, MEMORY USAGE; on a
    Cluster, on each primary, summed).

    Keys are grouped by their role prefix in the deployment's key layout (weather:k, or
    {weather}:k in a Cluster with co-located roles); roleredis's own keys of a role (mail,
    events, its key index) are counted in the "internal" columns; keys without a valid role
    prefix are counted under "(no role)". Memory is n/a where the server has no MEMORY USAGE.
    """
    settings = connecting("roles")
    found = survey()
    measured = found.memory_measured
    total = found.total
    unassigned = found.no_role

    def mem(n: int) -> int | None:
        return n if measured else None

    def row_of(usage: inventory.RoleUsage) -> dict[str, Any]:
        return {
            "keys": usage.keys,
            "memory_bytes": mem(usage.memory_bytes),
            "internal_keys": usage.internal_keys,
            "internal_memory_bytes": mem(usage.internal_memory_bytes),
        }

    if not measured and total.keys + total.internal_keys:
        note("memory not measured: this server does not answer MEMORY USAGE")
    if as_json:
        emit_json(
            {
                "url": where(settings),
                "roles": [{"role": name, **row_of(found.roles[name])} for name in found.named],
                "no_role": row_of(unassigned),
                "total": row_of(total),
                "memory_measured": measured,
            }
        )
        return
    if not total.keys + total.internal_keys:
        say(f"no keys at {where(settings)}")
        return
    say(f"roles at {where(settings)}")
    table = Table()
    table.add_column("role")
    table.add_column("keys", justify="right")
    table.add_column("memory", justify="right")
    table.add_column("internal keys", justify="right")
    table.add_column("internal memory", justify="right")

    def cells(usage: inventory.RoleUsage) -> list[str]:
        return [
            str(usage.keys),
            size(mem(usage.memory_bytes)),
            str(usage.internal_keys),
            size(mem(usage.internal_memory_bytes)),
        ]

    for name in found.named:
        table.add_row(Text(name), *cells(found.roles[name]))
    if unassigned.keys:
        table.add_row(Text(NO_ROLE, style="dim"), *cells(unassigned))
    table.add_section()
    table.add_row(Text("total", style="bold"), *cells(total))
    console.print(table)
