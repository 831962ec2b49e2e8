"""``roleredis acl``: per-role Redis ACL users (provision, revoke, list)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from .app import JsonFlag, RoleArg, app, connecting, show_help
from .output import console, emit_json, note, say

acl_app = typer.Typer(
    help="Per-role Redis ACL users: each may use only its own ROLE:* keys (needs an admin "
    "connection: REDIS_USERNAME / REDIS_PASSWORD of a user allowed to manage ACLs).",
)
app.add_typer(acl_app, name="acl")


@acl_app.callback(invoke_without_command=True)
def _acl(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        show_help(ctx)


@acl_app.command("provision")
def acl_provision(
    role: RoleArg,
    new_password: Annotated[
        bool,
        typer.Option(
            "--new-password",
            help="Give an existing user a new password (the old one stops working at once).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create the ACL user of ROLE (printing its password once), or update its rules.

    An existing user keeps its password (running roles stay logged in) and any other grants
    it has; only its command set and its own key pattern are brought up to date.
    --new-password replaces the password. In --json, "password" is null when it is unchanged.
    """
    from .. import acl

    connecting("acl provision", role)
    creds = acl.provision(role, new_password=new_password)
    if as_json:
        emit_json(creds.as_dict())
        return
    done = "created" if creds.created else "updated the rules of"
    say(f"{done} ACL user {creds.username}: it may use only the keys {role}:*")
    say(f"REDIS_USERNAME={creds.username}")
    if creds.password is None:
        say("password unchanged (--new-password sets a new one)")
        return
    say(f"REDIS_PASSWORD={creds.password}")
    note("the password is shown only now: give both to the role's process")


@acl_app.command("revoke")
def acl_revoke(role: RoleArg, as_json: JsonFlag = False) -> None:
    """Delete the ACL user of ROLE (and drop its connections); exit 0 also if it had none."""
    from .. import acl

    connecting("acl revoke", role)
    deleted = acl.revoke(role)
    if as_json:
        emit_json({"role": role, "username": acl.username_for(role), "deleted": deleted})
    elif deleted:
        say(f"deleted ACL user {acl.username_for(role)}")
    else:
        say(f"role {role} had no ACL user")


@acl_app.command("list")
def acl_list(as_json: JsonFlag = False) -> None:
    """The roles that have an ACL user: user name, enabled, key patterns (never passwords)."""
    from .. import acl

    connecting("acl list")
    users = acl.list_users()
    if as_json:
        emit_json(users)
        return
    if not users:
        note("no role has an ACL user (roleredis acl provision ROLE)")
        return
    table = Table()
    for column in ("role", "user", "enabled", "keys"):
        table.add_column(column)
    for user in users:
        table.add_row(
            Text(user["role"]),
            Text(user["username"]),
            "yes" if user["enabled"] else "no",
            Text(" ".join(user["keys"])),
        )
    console.print(table)
