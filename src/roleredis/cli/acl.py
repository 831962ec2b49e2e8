"""``roleredis acl``: per-role Redis ACL users (provision, revoke, list) and granted reads
(``acl grant READER --read OWNER:PATTERN``, ``acl revoke READER --read OWNER:PATTERN``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from .app import EXIT_FAILED, EXIT_USAGE, CliError, JsonFlag, RoleArg, app, connecting, show_help
from .output import console, emit_json, note, one_line, say

acl_app = typer.Typer(
    help="Per-role Redis ACL users: each may use only its own ROLE:* keys, on every node of a "
    "Cluster or Sentinel group (needs an admin connection: REDIS_USERNAME / REDIS_PASSWORD of a "
    "user allowed to manage ACLs).",
)
app.add_typer(acl_app, name="acl")


@acl_app.callback(invoke_without_command=True)
def _acl(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        show_help(ctx)


def _node_lines(nodes: Sequence[Any]) -> None:
    """One line per node (only when there is more than one server, or one failed)."""
    if len(nodes) < 2 and all(node.ok for node in nodes):
        return
    for node in nodes:
        what = node.outcome if node.ok else f"FAILED: {one_line(node.error or '')}"
        say(Text(f"  {node.address} ({node.kind}): {what}"))


def _fail_for_nodes(nodes: Sequence[Any], what: str) -> None:
    """Exit 1 naming every node that failed (after the rest was reported)."""
    failed = [node for node in nodes if not node.ok]
    if failed:
        named = "; ".join(f"{node.address} ({node.kind}): {node.error}" for node in failed)
        raise CliError(
            f"{what} failed on {len(failed)} of {len(nodes)} nodes: {named}; run the command "
            "again once they answer",
            EXIT_FAILED,
        )


@acl_app.command("provision")
def acl_provision(
    role: RoleArg,
    new_password: Annotated[
        bool,
        typer.Option(
            "--new-password",
            help="Give an existing user a new password on every node (the old one stops "
            "working at once).",
        ),
    ] = False,
    no_events: Annotated[
        bool,
        typer.Option(
            "--no-events",
            help="Do not let ROLE read other roles' events (it still publishes and reads its "
            "own); provisioning again without it lets it read them again.",
        ),
    ] = False,
    tracking: Annotated[
        bool,
        typer.Option(
            "--tracking",
            help="Let ROLE's local cache tiers be kept true by the server (CLIENT TRACKING, "
            "SUBSCRIBE to __redis__:invalidate). On Redis 7 CLIENT TRACKING also allows BCAST, "
            "which shows the user every key name changed on the node: grant it only where roles "
            "may see each other's key names. Without it the tiers follow the role's log.",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create the ACL user of ROLE on every node (printing its password once), or update its
    rules.

    ACL users are per node: in a Cluster or under Sentinel every primary and replica gets the
    user, with the same password (run it again after a node is replaced: the new node gets the
    password the others have). An existing user keeps its password (running roles stay logged
    in) and any other grants it has; only its command set and its own key pattern are brought
    up to date. --new-password replaces the password everywhere. In --json, "password" is
    null when it is unchanged, and "nodes" says what each node did. Exit 1 if a node failed.
    """
    from ..admin import acl

    settings = connecting("acl provision", role)
    creds = acl.provision(
        role,
        new_password=new_password,
        settings=settings,
        events=not no_events,
        tracking=tracking,
    )
    if as_json:
        emit_json(creds.as_dict())
        _fail_for_nodes(creds.nodes, "acl provision")
        return
    done = "created" if creds.created else "updated the rules of"
    count = sum(node.ok for node in creds.nodes)
    where_ = f" on {count} nodes" if len(creds.nodes) > 1 else ""
    pattern = acl.key_pattern(role, settings)
    say(f"{done} ACL user {creds.username}{where_}: it may use only the keys {pattern}")
    others = "may not read" if no_events else "may read"
    say(f"it publishes its own events and {others} other roles' events")
    if tracking:
        say("its local cache tiers may use client tracking (see the --tracking caveat)")
    _node_lines(creds.nodes)
    for what in creds.drift:
        note(f"the nodes disagreed: {what}")
    say(f"REDIS_USERNAME={creds.username}")
    if creds.password is None:
        say("password unchanged (--new-password sets a new one)")
    else:
        say(f"REDIS_PASSWORD={creds.password}")
        note("the password is shown only now: give both to the role's process")
    _fail_for_nodes(creds.nodes, "acl provision")


ReadOption = Annotated[
    list[str] | None,
    typer.Option(
        "--read",
        metavar="OWNER:PATTERN",
        help="OWNER's keys matching the glob PATTERN (e.g. alpha:shared:*); may be repeated.",
    ),
]


def _grants(reader: str, reads: list[str]) -> list[Any]:
    from ..foundation.sharing import parse_grant

    return [parse_grant(text, reader) for text in reads]


def _change_grants(reader: str, reads: list[str], adding: bool, as_json: bool) -> None:
    from ..admin import acl

    command = "acl grant" if adding else "acl revoke --read"
    grants = _grants(reader, reads)  # every OWNER:PATTERN checked before any node is touched
    settings = connecting(command, reader)
    change = acl.grant if adding else acl.revoke_grant
    done = [change(g.reader, g.owner, g.pattern, settings=settings) for g in grants]
    if as_json:
        emit_json([d.as_dict() for d in done])
    else:
        for d in done:
            outcomes = {node.outcome for node in d.nodes if node.ok}
            if adding:
                what = "already held" if outcomes == {"unchanged"} else "granted"
                say(Text(f"{what}: {reader} may read {d.owner}'s keys {d.pattern} ({d.rule})"))
            else:
                what = "had no such grant" if outcomes == {"absent"} else "revoked"
                say(Text(f"{what}: {reader} reading {d.owner}'s keys {d.pattern} ({d.rule})"))
            _node_lines(d.nodes)
            for what in d.drift:
                note(f"the nodes disagreed: {what}")
    for d in done:
        _fail_for_nodes(d.nodes, command)


ReaderArg = Annotated[
    str,
    typer.Argument(
        metavar="READER",
        help="The role given the read (it must have an ACL user: acl provision READER).",
        show_default=False,
    ),
]


@acl_app.command("grant")
def acl_grant(
    reader: ReaderArg,
    read: ReadOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Let READER's ACL user read (never write or delete) OWNER's keys matching PATTERN, on
    every node: adds the rule %R~OWNER:PATTERN ({OWNER}:PATTERN under cluster hash tags).
    READER must be provisioned; provisioning again keeps its grants. Exit 1 if a node failed,
    2 for a bad OWNER:PATTERN."""
    if not read:
        raise CliError("say what to grant: --read OWNER:PATTERN (e.g. alpha:shared:*)", EXIT_USAGE)
    _change_grants(reader, read, True, as_json)


@acl_app.command("revoke")
def acl_revoke(role: RoleArg, read: ReadOption = None, as_json: JsonFlag = False) -> None:
    """Delete the ACL user of ROLE on every node (and drop its connections); exit 0 also if it
    had none, 1 if a node failed. With --read OWNER:PATTERN: remove only that grant (the user
    and its other rules stay)."""
    from ..admin import acl

    if read:
        _change_grants(role, read, False, as_json)
        return
    settings = connecting("acl revoke", role)
    done = acl.revoke_report(role, settings=settings)
    if as_json:
        emit_json(done.as_dict())
    else:
        if done.deleted:
            say(f"deleted ACL user {done.username}")
        else:
            say(f"role {role} had no ACL user")
        _node_lines(done.nodes)
    _fail_for_nodes(done.nodes, "acl revoke")


@acl_app.command("list")
def acl_list(as_json: JsonFlag = False) -> None:
    """The roles that have an ACL user: user name, enabled, key patterns (never passwords),
    the reads granted to it (OWNER:PATTERN), on how many nodes, and drift between nodes (a
    user missing on a node, rules or password that differ). Exit 1 if a node failed."""
    from ..admin import acl

    settings = connecting("acl list")
    listing = acl.list_report(settings=settings)
    users = listing.users
    if as_json:
        emit_json(users)
    elif not users:
        note("no role has an ACL user (roleredis acl provision ROLE)")
    else:
        _print_users(users, several=len(listing.nodes) > 1)
        for what in listing.drift:  # whole lines, never cut by the table's width
            say(f"drift: {what}")
        if listing.drift:
            note("run 'roleredis acl provision ROLE' to even the nodes out")
    _fail_for_nodes(listing.nodes, "acl list")


def _print_users(users: list[dict[str, Any]], *, several: bool) -> None:
    """A table when it fits the terminal; else one block per user, each field on a line of
    its own, whole (a long role name is never cut, nor folded inside a narrow column)."""
    names = ("role", "user", "enabled", "keys", "reads", *(("nodes",) if several else ()))
    rows = [
        (
            user["role"],
            user["username"],
            "yes" if user["enabled"] else "no",
            " ".join(user["keys"]),
            " ".join(user["grants"]),
            *((f"{user['nodes']}/{user['nodes_total']}",) if several else ()),
        )
        for user in users
    ]
    table = Table()
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*map(Text, row))
    unbounded = console.options.update_width(1_000_000)
    if Measurement.get(console, unbounded, table).maximum <= console.width:
        console.print(table)
        return
    for row in rows:
        say(Text(f"role {row[0]}", style="bold"))
        for name, value in zip(names[1:], row[1:], strict=True):
            say(Text(f"  {name + ':':<8} {value or '-'}"))
