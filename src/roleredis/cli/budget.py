"""``roleredis budget set/show/status``: shared rate budgets (docs/budgets.md).

``set`` writes the definitions of config.yaml's ``budgets:`` section (all, or those named) to
Redis, where every process's takes read them, whatever its own file says; ``show`` prints the
definitions Redis has; ``status`` the use of a budget now (requests and tokens in the current
windows, debt, holders, waiters). Run as an administrator (a role's user may read a budget
that lists it, never write one).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..core import budgets
from ..core.store import RoleStore
from .app import EXIT_USAGE, CliError, JsonFlag, app, connecting, show_help
from .output import emit_json, say

__all__ = ["budget_set", "budget_show", "budget_status"]

budget_app = typer.Typer(
    help="Shared rate budgets: requests, tokens and concurrency that every role and process "
    "listed on a budget draws on together (config.yaml's budgets: section, written to Redis)."
)
app.add_typer(budget_app, name="budget")

NamesArg = Annotated[
    list[str] | None,
    typer.Argument(metavar="[NAME]...", help="Budgets (default: every one).", show_default=False),
]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The budget.", show_default=False)]
#: The role the commands' store runs under: budgets are no role's (messages only).
_ADMIN = "budget-admin"


@budget_app.callback(invoke_without_command=True)
def _budget(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        show_help(ctx)


def _line(name: str, fields: dict[str, Any]) -> str:
    limits = ", ".join(
        f"{what} {fields[what]}" for what in ("rate", "tokens", "concurrency") if fields[what]
    )
    return f"{name}: {limits}; lease {fields['lease']:g} s; roles {', '.join(fields['roles'])}"


@budget_app.command("set")
def budget_set(names: NamesArg = None, as_json: JsonFlag = False) -> None:
    """Write the budgets of config.yaml (all, or NAME...) to Redis."""
    settings = connecting("budget set")
    defined = settings.budgets
    if not defined:
        raise CliError(
            "config.yaml has no budgets: section (see docs/budgets.md)", EXIT_USAGE, "config"
        )
    unknown = [n for n in names or () if n not in defined]
    if unknown:
        raise CliError(
            f"no budget {unknown[0]!r} in config.yaml (it has {', '.join(sorted(defined))})",
            EXIT_USAGE,
            "invalid_argument",
        )
    store = RoleStore(_ADMIN)
    written = [store.run(budgets.define(store.scope, defined[n])) for n in names or sorted(defined)]
    if as_json:
        emit_json({"written": {b.name: b.describe() for b in written}})
        return
    for b in written:
        say("set " + _line(b.name, b.describe()))


@budget_app.command("show")
def budget_show(names: NamesArg = None, as_json: JsonFlag = False) -> None:
    """Show the definitions Redis has (of NAME..., or of every budget in config.yaml)."""
    settings = connecting("budget show")
    store = RoleStore(_ADMIN)
    wanted = names or sorted(settings.budgets)
    if not wanted:
        raise CliError("name the budgets to show (config.yaml has none)", EXIT_USAGE, "config")
    found = {n: store.run(budgets.show(store.scope, n)).describe() for n in wanted}
    if as_json:
        emit_json({"budgets": found})
        return
    for name, fields in found.items():
        say(_line(name, fields))


@budget_app.command("status")
def budget_status(name: NameArg, as_json: JsonFlag = False) -> None:
    """Show the use of budget NAME now: requests and tokens in the current windows, debt,
    holders of concurrency places, waiters."""
    connecting("budget status")
    store = RoleStore(_ADMIN)
    now = store.run(budgets.status(store.scope, name))
    if as_json:
        emit_json(now.as_dict())
        return
    b = now.budget
    say(_line(b.name, b.describe()))
    if b.rate:
        say(
            f"  requests in the last {b.rate.period_ms / 1000:g} s: {now.requests} "
            f"of {b.rate.amount}"
        )
    if b.tokens:
        say(
            f"  tokens in the last {b.tokens.period_ms / 1000:g} s: {now.tokens} "
            f"+ {now.debt} debt of {b.tokens.amount}"
        )
    if b.concurrency:
        say(f"  holders: {now.holders} of {b.concurrency}")
    say(f"  waiters: {now.waiters}")
