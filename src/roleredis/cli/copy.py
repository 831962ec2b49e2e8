"""``roleredis copy``: roles' keys from one deployment to another (DUMP/RESTORE, with TTLs,
converting the key layout); see :mod:`roleredis.admin.transfer`."""

from __future__ import annotations

from typing import Annotated

import typer

from ..foundation.config import Settings
from ..foundation.errors import RoleRedisError
from ..foundation.keys import validate_role
from ..transport.connection import is_memory
from .app import EXIT_FAILED, EXIT_USAGE, CliError, JsonFlag, State, app
from .output import Progress, emit_json, say


def _deployment(settings: Settings, url: str, what: str) -> Settings:
    try:
        chosen = settings.replace(url=url)
    except RoleRedisError as exc:
        raise CliError(f"{what}: {exc}", EXIT_USAGE, exc.error_code) from None
    if is_memory(chosen):
        raise CliError(f"{what}: memory:// is in-process; give a redis:// URL", EXIT_USAGE)
    return chosen


_KIND_NAMES = {
    "keys": "role keys",
    "mail": "mail (mailboxes with pending state, senders, dead letters)",
    "events": "event logs",
    "internal": "other internal keys",
}


@app.command("copy")
def copy_(
    source: Annotated[
        str, typer.Option("--from", help="The deployment to copy from (any roleredis URL).")
    ],
    target: Annotated[str, typer.Option("--to", help="The deployment to copy to.")],
    roles: Annotated[
        list[str] | None,
        typer.Option("--role", help="A role to copy (repeat it); default: every role found."),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite keys that exist at the target.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Copy roles' keys (every type, with their TTLs, byte for byte: DUMP/RESTORE), mail
    (undelivered and pending included) and event logs between deployments, converting the key
    layout (weather:k <-> {weather}:k in a Cluster). Only keys in the source's own layout are
    a role's. A role whose index is trusted at the target gets the copied keys indexed.

    Keys that exist at the target are skipped unless --replace, so a run that stopped is
    finished by running it again; nothing is deleted from the source. Credentials go in each
    URL. Exit 1 if a key could not be copied (a target on an older Redis refuses newer DUMP
    payloads).
    """
    from .. import runtime
    from ..admin import transfer

    # the base settings only (options such as TLS and the key layout): copy connects to the
    # two URLs it is given, never to a configured or default server
    settings = runtime.enabled_settings()
    State.command = "copy"
    for role in roles or ():
        validate_role(role)
    origin = _deployment(settings, source, "--from")
    destination = _deployment(settings, target, "--to")
    bar: list[Progress] = []

    def total(n: int) -> None:
        bar.append(Progress("copying", n).__enter__())

    try:
        report = transfer.copy(
            origin,
            destination,
            roles,
            replace=replace,
            total=total,
            progress=lambda n: bar[0].advance(n) if bar else None,
        )
    finally:
        if bar:
            bar[0].__exit__()
    if as_json:
        emit_json(report.as_dict())
    else:
        for role, counts in sorted(report.roles.items()):
            say(
                f"{role}: {counts['copied']} copied, {counts['skipped']} skipped, "
                f"{counts['failed']} failed"
            )
        for kind in transfer.KINDS:
            if kind in report.kinds:
                done = report.kinds[kind]
                say(
                    f"{_KIND_NAMES[kind]}: {done['copied']} copied, {done['skipped']} "
                    f"skipped, {done['failed']} failed"
                )
        say(
            f"copied {report.copied} keys, skipped {report.skipped} (already at the target"
            f"{'' if replace else '; --replace overwrites them'}), failed {report.failed}"
        )
        if report.indexed:
            say("indexed at the target (its index is trusted): " + ", ".join(report.indexed))
    if report.failed:
        raise CliError(
            f"{report.failed} keys could not be copied: " + "; ".join(report.errors[:3]),
            EXIT_FAILED,
        )
