"""One role's keys: ``keys``, ``get``, ``set``, ``del``, ``ttl``, ``clear`` and ``reindex``."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated, Any

import typer
from rich.text import Text

from ..core.ops import SCAN_COUNT
from ..core.store import RoleStore
from ..transport.connection import describe as where
from .app import EXIT_FAILED, EXIT_USAGE, CliError, JsonFlag, KeyArg, RoleArg, app, connecting
from .output import (
    Progress,
    emit_json,
    err_console,
    note,
    say,
    shown,
    value_for_humans,
    value_for_json,
)


@app.command()
def keys(
    role: RoleArg,
    pattern: Annotated[
        str,
        typer.Argument(help="A glob (* ? [..]) matched against the keys without the prefix."),
    ] = "*",
    as_json: JsonFlag = False,
) -> None:
    """The role's keys matching PATTERN (without the role prefix), sorted, one per line."""
    connecting("keys", role)
    store = RoleStore(role)
    found = store.keys(pattern)
    if as_json:
        emit_json({"role": store.role, "pattern": pattern, "keys": found, "count": len(found)})
        return
    if not found:
        note(f"no keys of role {role} match {pattern!r}")
    for key in found:
        say(shown(key))


@app.command()
def get(role: RoleArg, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Print the value of ROLE:KEY as JSON (bytes as b'...'; base64 in --json).

    Exit 1 if the key does not exist. --json adds the remaining ttl (-1: never expires).
    """
    connecting("get", role)
    entry = RoleStore(role).read(key)
    if as_json:
        emit_json(
            {
                "role": role,
                "key": key,
                "prefixed_key": entry.full_key,
                "ttl": entry.ttl,
                **value_for_json(entry.value),
            }
        )
        return
    say(value_for_humans(entry.value))


_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is not a finite number")
    return number


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def parse_value(text: str) -> tuple[Any, str]:
    """VALUE as given on the command line: its JSON meaning if it is JSON, else the text.

    >>> parse_value('{"a": [1, 2.5]}')
    ({'a': [1, 2.5]}, 'json')
    >>> parse_value("hello world")
    ('hello world', 'text')
    >>> parse_value('"123"'), parse_value("123")
    (('123', 'json'), (123, 'json'))
    """
    try:
        return json.loads(text, parse_float=_finite, parse_constant=_refuse_constant), "json"
    except (ValueError, RecursionError):
        return text, "text"


@app.command("set")
def set_(
    role: RoleArg,
    key: KeyArg,
    value: Annotated[
        str,
        typer.Argument(
            metavar="VALUE",
            help='JSON (123, true, "text", {"a": 1}, [1, 2]); anything that is not JSON is '
            "stored as text. Put -- before a VALUE that starts with '-'.",
            show_default=False,
        ),
    ],
    ttl: Annotated[
        int | None,
        typer.Option(
            "--ttl",
            metavar="SECONDS",
            help="Expire after SECONDS; -1 for no expiry (default: key_management.default_ttl).",
            show_default=False,
        ),
    ] = None,
    text: Annotated[
        bool, typer.Option("--text", help="Store VALUE as text, without reading it as JSON.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Write VALUE under ROLE:KEY. VALUE is read as JSON if it is JSON, else taken as text.

    So 123 is stored as a number and "123" (with the quotes) or --text as text; hello (not
    JSON) is stored as the text hello. NaN and Infinity are not JSON: they are stored as text.
    """
    data, stored_as = (value, "text") if text else parse_value(value)
    connecting("set", role)
    store = RoleStore(role)
    written = store.write(key, data, ttl)
    if as_json:
        result: dict[str, Any] = {
            "role": store.role,
            "key": key,
            "prefixed_key": written.full_key,
            "ttl": written.ttl,
            "stored_as": stored_as,
            "size": written.size,
        }
        if written.warning:
            result["warning"] = written.warning
        emit_json(result)
    else:
        expiry = "no expiry" if written.ttl == -1 else f"ttl {written.ttl} s"
        kind = "text" if stored_as == "text" else f"JSON {_JSON_TYPES.get(type(data), 'value')}"
        say(f"wrote {shown(written.full_key)} ({kind}, {expiry})")
    if written.warning:
        note(f"warning: {written.warning}")


@app.command("del")
def delete(role: RoleArg, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Delete ROLE:KEY; exit 0 also when it did not exist.

    Prints "deleted ROLE:KEY", or "ROLE:KEY did not exist" (in --json: "deleted": false).
    """
    connecting("del", role)
    store = RoleStore(role)
    existed = store.delete(key)
    full = store.full_key(key)
    if as_json:
        emit_json({"role": store.role, "key": key, "prefixed_key": full, "deleted": existed})
    elif existed:
        say(f"deleted {shown(full)}")
    else:
        say(f"{shown(full)} did not exist")


@app.command()
def ttl(role: RoleArg, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Print the seconds ROLE:KEY has left; -1 if it never expires. Exit 1 if it is missing."""
    connecting("ttl", role)
    store = RoleStore(role)
    remaining = store.ttl(key)
    if as_json:
        emit_json(
            {"role": store.role, "key": key, "prefixed_key": store.full_key(key), "ttl": remaining}
        )
    else:
        say(str(remaining))


def _confirm(question: str) -> None:
    """Ask on stderr, read the answer from stdin; raise CliError unless it is yes."""
    stdin = sys.stdin
    interactive = stdin is not None and (stdin.isatty() or err_console.is_terminal)
    if interactive:
        err_console.print(Text(f"{question} [y/N] "), end="", soft_wrap=True)
    answer = stdin.readline() if stdin is not None else ""
    if not answer:  # end of input: nobody to ask
        if interactive:
            err_console.print()
        raise CliError(
            "refusing to delete without confirmation: no answer on stdin; pass --yes",
            EXIT_USAGE,
        )
    if answer.strip().lower() not in ("y", "yes"):
        raise CliError("not confirmed; nothing deleted", EXIT_FAILED)


def clear_role(store: RoleStore, total: int) -> int:
    """Delete every key of the role (the library's SCAN + UNLINK batches), with progress."""
    with Progress(f"clearing {store.role}", total) as progress:
        return store.clear(progress=progress.advance)


@app.command()
def clear(
    role: RoleArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete every key of ROLE and print how many. Asks first, unless --yes.

    The answer is read from stdin: "y" deletes; anything else exits 1 with nothing deleted;
    no answer at all (stdin closed or empty) exits 2: pass --yes in scripts.
    """
    connecting("clear", role)
    store = RoleStore(role)
    count = len(store.keys())
    if count and not yes:
        _confirm(f"Delete all {count} keys of role {role!r} at {where(store.settings)}?")
    deleted = clear_role(store, count) if count else 0
    if as_json:
        emit_json({"role": store.role, "deleted_count": deleted})
    elif deleted:
        say(f"deleted {deleted} keys of role {role}")
    else:
        say(f"role {role} has no keys; nothing deleted")


@app.command()
def reindex(role: RoleArg, as_json: JsonFlag = False) -> None:
    """Index every key of ROLE (SCAN of its namespace) so listing and clearing use the role's
    key index (key_management.index) from then on; keys other clients wrote are indexed too.
    """
    connecting("reindex", role)
    store = RoleStore(role)
    try:
        total = int(store.client.dbsize())
    except Exception:  # a role's ACL user may not run DBSIZE: no bar, the same reindex
        total = 0
    with Progress(f"reindexing {store.role}", total) as progress:
        # the bar counts the database's keys SCAN looked at (COUNT per step)
        indexed = store.reindex(progress=lambda _n: progress.advance(SCAN_COUNT))
    if as_json:
        emit_json({"role": store.role, "indexed_count": indexed})
    else:
        say(f"indexed {indexed} keys of role {role}")
