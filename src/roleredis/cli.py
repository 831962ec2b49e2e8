"""The ``roleredis`` command: see what each role stored, read and write its keys, run the demo.

Every subcommand takes ``--json`` (the result as JSON on stdout, nothing else there). Errors
are one line on stderr, ``error: <what went wrong> [<error_code>]``, never a traceback, and
stdout stays empty (``health --json`` still prints the failed check's result).

Exit codes:

* 0: done;
* 1: the operation failed: a missing key (``get``, ``ttl``), a server that does not answer, a
  server that refuses (authentication, ACL), ``clear`` not confirmed;
* 2: bad usage or configuration: an unknown option, a bad URL, ``REDIS_PORT=abc``, an invalid
  role name or key, a bad ``--ttl``, ``clear`` without ``--yes`` and no answer on stdin.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from rich.table import Table
from rich.text import Text

from . import __version__, runtime
from .config import Settings, is_configured
from .connection import describe as where
from .connection import is_memory
from .errors import (
    RoleRedisError,
    map_redis_errors,
    scrub,
)
from .keys import validate_role
from .store import RoleStore

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Above this many keys, ``roles`` and ``clear`` show a progress bar (when stderr is a terminal).
LARGE_KEYSPACE = 10_000
SCAN_COUNT = 1000
NO_ROLE = "(no role)"
#: error_code values that mean "fix the command line or the configuration".
_USAGE_CODES = frozenset({"config", "invalid_argument", "disabled"})

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

app = typer.Typer(
    name="roleredis",
    help=(
        "Look into what each role (agent) of a program stored in Redis: list roles and keys, "
        "read, write, delete, clear; check the server; run the demo and the benchmarks."
    ),
    epilog=(
        "Exit codes: 0 done; 1 the operation failed (missing key, server not answering, "
        "clear not confirmed); 2 bad usage or configuration (bad URL, REDIS_PORT=abc, invalid "
        "role name, bad --ttl). Settings come from config.yaml and REDIS_* variables: see "
        "'roleredis config'."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class CliError(Exception):
    """A failure to report in one line and exit with ``exit_code``."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, error_code: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.error_code = error_code


class _State:
    url_option: bool = False
    command: str | None = None
    role: str | None = None


log = logging.getLogger("roleredis.cli")


# --------------------------------------------------------------------------- output helpers


def exit_code_for(exc: RoleRedisError) -> int:
    """2 for what the user must fix in the command or configuration, else 1."""
    return EXIT_USAGE if exc.error_code in _USAGE_CODES else EXIT_FAILED


def _one_line(message: str) -> str:
    text = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    return text if len(text) <= 600 else text[:597] + "..."


def _error(message: str, error_code: str = "") -> None:
    line = Text("error: ", style="bold red")
    line.append(_one_line(scrub(message)) or "unknown error")
    if error_code:
        line.append(f" [{error_code}]", style="dim")
    err_console.print(line, soft_wrap=True)


def _note(message: str) -> None:
    err_console.print(Text(message, style="dim"), soft_wrap=True)


def _say(message: str | Text) -> None:
    """One line of human output on stdout (no markup: keys and values are printed as is)."""
    console.print(message if isinstance(message, Text) else Text(message), soft_wrap=True)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(text: str) -> str:
    r"""``text`` on one line, unambiguous: a backslash shows as ``\\``, a control or other
    unprintable character as ``\n``, ``\xNN`` (below 0x80) or ``\uNNNN``, and a byte that is
    not UTF-8 (a surrogate escape) as ``\xNN`` (0x80 and up).

    >>> print(_shown("x\r\nGET beta:x"), _shown("a\\b"), _shown("caf\udce9"), _shown("\x85"))
    x\r\nGET beta:x a\\b caf\xe9 \u0085
    """
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable():
            out.append(char)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
    return "".join(out)


def _emit_json(data: Any) -> None:
    console.out(json.dumps(data, indent=2, ensure_ascii=True, default=str), highlight=False)


def _value_for_json(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"value": base64.b64encode(value).decode("ascii"), "encoding": "base64"}
    return {"value": value, "encoding": "json"}


def _value_for_humans(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


class _Progress:
    """A progress bar on stderr, shown only for large jobs and only when stderr is a terminal."""

    def __init__(self, what: str, total: int) -> None:
        self._bar: Any = None
        self._task: Any = None
        if total > LARGE_KEYSPACE and err_console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._task = self._bar.add_task(what, total=total)

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.advance(self._task, n)


# --------------------------------------------------------------------------- shared options

JsonFlag = Annotated[
    bool,
    typer.Option("--json", help="Print the result as JSON on stdout (and nothing else there)."),
]
RoleArg = Annotated[
    str,
    typer.Argument(
        metavar="ROLE",
        help="The role (its keys are stored as ROLE:KEY): 1-64 of A-Z a-z 0-9 _ . -",
        show_default=False,
    ),
]
KeyArg = Annotated[
    str,
    typer.Argument(metavar="KEY", help="The key, without the role prefix.", show_default=False),
]


def _connecting(command: str, role: str | None = None, *, shared: bool = True) -> Settings:
    """The settings a command connects with; says (on stderr) when that is the built-in
    default address, and (with -v) where it connects and as which role.

    ``shared``: the command needs data that outlives its own process, which memory:// (an
    in-process backend) does not have: refused with exit 2 instead of an empty answer.
    """
    settings = runtime.enabled_settings()
    if shared and is_memory(settings):
        raise CliError(
            f"'roleredis {command}' cannot use {where(settings)}: memory:// is an in-process "
            "backend, and this command runs in a process of its own, which starts with an "
            "empty database that is gone when it ends. Give a redis:// URL (memory:// suits "
            "a program's own process, 'roleredis health' and 'roleredis demo')",
            EXIT_USAGE,
            "config",
        )
    if not is_configured(settings):
        _note(
            f"no Redis configured (REDIS_URL, REDIS_HOST/REDIS_PORT, ROLEREDIS_CONFIG or "
            f"./config.yaml): using the default {settings.host}:{settings.port}"
        )
    _State.command, _State.role = command, role
    log.info(
        "%s: Redis at %s (%s)%s",
        command,
        where(settings),
        _source_for_humans(_source(settings, "url" if settings.url else "host")),
        f", role {role}" if role is not None else "",
    )
    return settings


def _version(value: bool) -> None:
    if value:
        _say(f"roleredis {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _options(
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="The Redis to use for this run (sets REDIS_URL): redis://host:port/db, "
            "rediss://..., unix:///path, memory://",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log what roleredis does on stderr.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        logger = logging.getLogger("roleredis")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    if url is not None:
        if not url.strip():
            raise CliError("--url must not be empty", EXIT_USAGE, "config")
        os.environ["REDIS_URL"] = url
        _State.url_option = True
        runtime.reset()


# --------------------------------------------------------------------------- health


_HEALTH_FIELDS = (
    "success",
    "connected",
    "redis_version",
    "mode",
    "latency_ms",
    "used_memory_human",
    "role",
    "pool",
    "background",
    "metrics",
    "message",
)


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_inline(v)}" for k, v in value.items())
    return str(value)


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
    from . import metrics
    from .tools import redis_health_check

    with contextlib.suppress(RoleRedisError):  # a bad setting: the check itself reports it
        _connecting("health", role, shared=False)
    result = redis_health_check(role=role)
    result["metrics"] = metrics.summary()  # this process's calls (a role exports its own)
    if not result["success"]:
        code = result.get("error_code", "internal")
        if as_json:
            _emit_json(result)
        raise CliError(result["error"], EXIT_USAGE if code in _USAGE_CODES else EXIT_FAILED, code)
    if as_json:
        _emit_json(result)
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
        ("latency", f"{result['latency_ms']} ms"),
        ("memory used", str(result.get("used_memory_human") or "n/a")),
        ("probe role", str(result.get("role"))),
        (
            "pool",
            f"{pool.get('in_use', 0)} in use, {pool.get('idle', 0)} idle, "
            f"at most {pool.get('max', '?')}",
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
    _say(Text("connected", style="bold green"))
    console.print(table)


def _metrics_line(digest: dict[str, Any]) -> str:
    errors = ", ".join(f"{code} {n}" for code, n in digest["errors"].items()) or "no errors"
    parts = [f"{digest['calls']} calls, {errors}"]
    for operation, stats in digest["operations"].items():
        if stats["p50_ms"] is not None:
            parts.append(f"{operation} p50 <= {stats['p50_ms']:g} ms")
    return "; ".join(parts) + " (this process; long-running roles: metrics.register_prometheus)"


# --------------------------------------------------------------------------- roles


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
        with _Progress("scanning", total) as progress:
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
    settings = _connecting("roles")
    usage, measured = role_usage(runtime.sync_client())
    names = sorted(name for name in usage if name != NO_ROLE)
    unassigned = usage.get(NO_ROLE, [0, 0])
    total_keys = sum(row[0] for row in usage.values())
    total_bytes = sum(row[1] for row in usage.values())

    def mem(n: int) -> int | None:
        return n if measured else None

    if not measured and total_keys:
        _note("memory not measured: this server does not answer MEMORY USAGE")
    if as_json:
        _emit_json(
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
        _say(f"no keys at {where(settings)}")
        return
    _say(f"roles at {where(settings)}")
    table = Table()
    table.add_column("role")
    table.add_column("keys", justify="right")
    table.add_column("memory", justify="right")
    for name in names:
        table.add_row(Text(name), str(usage[name][0]), _size(mem(usage[name][1])))
    if unassigned[0]:
        table.add_row(Text(NO_ROLE, style="dim"), str(unassigned[0]), _size(mem(unassigned[1])))
    table.add_section()
    table.add_row(Text("total", style="bold"), str(total_keys), _size(mem(total_bytes)))
    console.print(table)


# --------------------------------------------------------------------------- one role's keys


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
    _connecting("keys", role)
    store = RoleStore(role)
    found = store.keys(pattern)
    if as_json:
        _emit_json({"role": store.role, "pattern": pattern, "keys": found, "count": len(found)})
        return
    if not found:
        _note(f"no keys of role {role} match {pattern!r}")
    for key in found:
        _say(_shown(key))


@app.command()
def get(role: RoleArg, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Print the value of ROLE:KEY as JSON (bytes as b'...'; base64 in --json).

    Exit 1 if the key does not exist. --json adds the remaining ttl (-1: never expires).
    """
    _connecting("get", role)
    entry = RoleStore(role).read(key)
    if as_json:
        _emit_json(
            {
                "role": role,
                "key": key,
                "prefixed_key": entry.full_key,
                "ttl": entry.ttl,
                **_value_for_json(entry.value),
            }
        )
        return
    _say(_value_for_humans(entry.value))


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
    _connecting("set", role)
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
        _emit_json(result)
    else:
        expiry = "no expiry" if written.ttl == -1 else f"ttl {written.ttl} s"
        kind = "text" if stored_as == "text" else f"JSON {_JSON_TYPES.get(type(data), 'value')}"
        _say(f"wrote {_shown(written.full_key)} ({kind}, {expiry})")
    if written.warning:
        _note(f"warning: {written.warning}")


@app.command("del")
def delete(role: RoleArg, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Delete ROLE:KEY; exit 0 also when it did not exist.

    Prints "deleted ROLE:KEY", or "ROLE:KEY did not exist" (in --json: "deleted": false).
    """
    _connecting("del", role)
    store = RoleStore(role)
    existed = store.delete(key)
    full = store.full_key(key)
    if as_json:
        _emit_json({"role": store.role, "key": key, "prefixed_key": full, "deleted": existed})
    elif existed:
        _say(f"deleted {_shown(full)}")
    else:
        _say(f"{_shown(full)} did not exist")


@app.command()
def ttl(role: RoleArg, key: KeyArg, as_json: JsonFlag = False) -> None:
    """Print the seconds ROLE:KEY has left; -1 if it never expires. Exit 1 if it is missing."""
    _connecting("ttl", role)
    store = RoleStore(role)
    remaining = store.ttl(key)
    if as_json:
        _emit_json(
            {"role": store.role, "key": key, "prefixed_key": store.full_key(key), "ttl": remaining}
        )
    else:
        _say(str(remaining))


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
    with _Progress(f"clearing {store.role}", total) as progress:
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
    _connecting("clear", role)
    store = RoleStore(role)
    count = len(store.keys())
    if count and not yes:
        _confirm(f"Delete all {count} keys of role {role!r} at {where(store.settings)}?")
    deleted = clear_role(store, count) if count else 0
    if as_json:
        _emit_json({"role": store.role, "deleted_count": deleted})
    elif deleted:
        _say(f"deleted {deleted} keys of role {role}")
    else:
        _say(f"role {role} has no keys; nothing deleted")


@app.command()
def reindex(role: RoleArg, as_json: JsonFlag = False) -> None:
    """Index every key of ROLE (SCAN of its namespace) so listing and clearing use the role's
    key index (key_management.index) from then on; keys other clients wrote are indexed too.
    """
    _connecting("reindex", role)
    store = RoleStore(role)
    try:
        total = int(store.client.dbsize())
    except Exception:  # a role's ACL user may not run DBSIZE: no bar, the same reindex
        total = 0
    with _Progress(f"reindexing {store.role}", total) as progress:
        # the bar counts the database's keys SCAN looked at (COUNT per step)
        indexed = store.reindex(progress=lambda _n: progress.advance(SCAN_COUNT))
    if as_json:
        _emit_json({"role": store.role, "indexed_count": indexed})
    else:
        _say(f"indexed {indexed} keys of role {role}")


# --------------------------------------------------------------------------- config


def _source(settings: Settings, name: str) -> str:
    if name == "url" and _State.url_option and settings.source("url") == "env:REDIS_URL":
        return "option:--url"
    return settings.source(name)


def _source_for_humans(source: str) -> str:
    kind, _, detail = source.partition(":")
    return {"env": f"environment {detail}", "file": f"file {detail}", "option": detail}.get(
        kind, source
    )


@app.command()
def config(as_json: JsonFlag = False) -> None:
    """The effective settings and where each came from (file, environment, --url, default).

    The password (and one in a URL) is shown as ***. Exit 2 if the settings are invalid.
    """
    settings = runtime.settings()
    values = settings.as_dict(redact=True)
    values.pop("config_path", None)
    shown: dict[str, dict[str, Any]] = {
        name: {"value": value, "source": _source(settings, name)} for name, value in values.items()
    }
    url_source = _source(settings, "url")
    if settings.url and not is_memory(settings):
        # host, port and db of a URL are what is used: the settings of those names are not
        address = settings.connection_info()
        for name in ("host", "port", "db"):
            shown[name]["used"] = address[name]
            shown[name]["used_from"] = url_source
    shown["decode_responses"]["ignored"] = True  # values are always read as bytes, then decoded
    if as_json:
        _emit_json(
            {"config_file": settings.config_path, "connects_to": where(settings), "settings": shown}
        )
        return
    _say(Text(f"connects to: {where(settings)}"))
    if not is_configured(settings):
        _say(Text("(nothing configured: the default localhost:6379)"))
    no_file = "none (no ROLEREDIS_CONFIG, no ./config.yaml)"
    _say(Text(f"config file: {settings.config_path or no_file}"))
    table = Table()
    table.add_column("setting")
    table.add_column("value")
    table.add_column("from")
    for name, item in shown.items():
        text, source = _config_value(item["value"]), item["source"]
        origin = _source_for_humans(source)
        if "used" in item:
            text = _config_value(item["used"])
            origin = f"the URL ({_source_for_humans(item['used_from'])})"
            if item["value"] != item["used"]:
                unused = f"{_config_value(item['value'])} ({_source_for_humans(source)})"
                origin += f"; {name} {unused} is not used"
        if item.get("ignored"):
            text += " (ignored: roleredis reads bytes and decodes values itself)"
        table.add_row(
            Text(name),
            Text(text),
            Text(origin, style="dim" if source == "default" and "used" not in item else ""),
        )
    console.print(table)


def _config_value(value: Any) -> str:
    return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


# --------------------------------------------------------------------------- acl

acl_app = typer.Typer(
    help="Per-role Redis ACL users: each may use only its own ROLE:* keys (needs an admin "
    "connection: REDIS_USERNAME / REDIS_PASSWORD of a user allowed to manage ACLs).",
    no_args_is_help=True,
)
app.add_typer(acl_app, name="acl")


def _node_lines(nodes: Sequence[Any]) -> None:
    """One line per node (only when there is more than one server, or one failed)."""
    if len(nodes) < 2 and all(node.ok for node in nodes):
        return
    for node in nodes:
        what = node.outcome if node.ok else f"FAILED: {_one_line(node.error or '')}"
        _say(Text(f"  {node.address} ({node.kind}): {what}"))


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
    from . import acl

    settings = _connecting("acl provision", role)
    creds = acl.provision(role, new_password=new_password, settings=settings)
    if as_json:
        _emit_json(creds.as_dict())
        _fail_for_nodes(creds.nodes, "acl provision")
        return
    done = "created" if creds.created else "updated the rules of"
    count = sum(node.ok for node in creds.nodes)
    where_ = f" on {count} nodes" if len(creds.nodes) > 1 else ""
    pattern = acl.key_pattern(role, settings)
    _say(f"{done} ACL user {creds.username}{where_}: it may use only the keys {pattern}")
    _node_lines(creds.nodes)
    for what in creds.drift:
        _note(f"the nodes disagreed: {what}")
    _say(f"REDIS_USERNAME={creds.username}")
    if creds.password is None:
        _say("password unchanged (--new-password sets a new one)")
    else:
        _say(f"REDIS_PASSWORD={creds.password}")
        _note("the password is shown only now: give both to the role's process")
    _fail_for_nodes(creds.nodes, "acl provision")


@acl_app.command("revoke")
def acl_revoke(role: RoleArg, as_json: JsonFlag = False) -> None:
    """Delete the ACL user of ROLE on every node (and drop its connections); exit 0 also if it
    had none, 1 if a node failed."""
    from . import acl

    settings = _connecting("acl revoke", role)
    done = acl.revoke_report(role, settings=settings)
    if as_json:
        _emit_json(done.as_dict())
    else:
        if done.deleted:
            _say(f"deleted ACL user {done.username}")
        else:
            _say(f"role {role} had no ACL user")
        _node_lines(done.nodes)
    _fail_for_nodes(done.nodes, "acl revoke")


@acl_app.command("list")
def acl_list(as_json: JsonFlag = False) -> None:
    """The roles that have an ACL user: user name, enabled, key patterns (never passwords),
    on how many nodes, and drift between nodes (a user missing on a node, rules or password
    that differ). Exit 1 if a node failed."""
    from . import acl

    settings = _connecting("acl list")
    listing = acl.list_report(settings=settings)
    users = listing.users
    if as_json:
        _emit_json(users)
    elif not users:
        _note("no role has an ACL user (roleredis acl provision ROLE)")
    else:
        several = len(listing.nodes) > 1
        table = Table()
        for column in ("role", "user", "enabled", "keys", *(("nodes",) if several else ())):
            table.add_column(column)
        for user in users:
            table.add_row(
                Text(user["role"]),
                Text(user["username"]),
                "yes" if user["enabled"] else "no",
                Text(" ".join(user["keys"])),
                *((f"{user['nodes']}/{user['nodes_total']}",) if several else ()),
            )
        console.print(table)
        for what in listing.drift:  # whole lines, never cut by the table's width
            _say(f"drift: {what}")
        if listing.drift:
            _note("run 'roleredis acl provision ROLE' to even the nodes out")
    _fail_for_nodes(listing.nodes, "acl list")


# --------------------------------------------------------------------------- copy


def _deployment(settings: Settings, url: str, what: str) -> Settings:
    try:
        chosen = settings.replace(url=url)
    except RoleRedisError as exc:
        raise CliError(f"{what}: {exc}", EXIT_USAGE, exc.error_code) from None
    if is_memory(chosen):
        raise CliError(f"{what}: memory:// is in-process; give a redis:// URL", EXIT_USAGE)
    return chosen


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
    """Copy roles' keys (every type, with their TTLs, byte for byte: DUMP/RESTORE) between
    deployments, converting the key layout (weather:k <-> {weather}:k in a Cluster).

    Keys that exist at the target are skipped unless --replace, so a run that stopped is
    finished by running it again; nothing is deleted from the source. Credentials go in each
    URL. Exit 1 if a key could not be copied (a target on an older Redis refuses newer DUMP
    payloads).
    """
    from . import transfer

    settings = _connecting("copy")
    for role in roles or ():
        validate_role(role)
    origin = _deployment(settings, source, "--from")
    destination = _deployment(settings, target, "--to")
    bar: list[_Progress] = []

    def total(n: int) -> None:
        bar.append(_Progress("copying", n).__enter__())

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
        _emit_json(report.as_dict())
    else:
        for role, counts in sorted(report.roles.items()):
            _say(
                f"{role}: {counts['copied']} copied, {counts['skipped']} skipped, "
                f"{counts['failed']} failed"
            )
        _say(
            f"copied {report.copied} keys, skipped {report.skipped} (already at the target"
            f"{'' if replace else '; --replace overwrites them'}), failed {report.failed}"
        )
    if report.failed:
        raise CliError(
            f"{report.failed} keys could not be copied: " + "; ".join(report.errors[:3]),
            EXIT_FAILED,
        )


# --------------------------------------------------------------------------- demo, bench


@app.command()
def demo(as_json: JsonFlag = False) -> None:
    """Run the example roles (weather, timer): both write the key "state" without colliding.

    On the configured Redis if it answers; otherwise (nothing configured, or not reachable) on
    a throwaway redis-server, or without redis-server on the embedded memory:// backend. The
    first line says which. On a configured server the roles are named
    roleredis-demo-<run id>.weather and .timer, so your own weather: and timer: keys are never
    touched. At the end it deletes, by name, the keys it wrote, and nothing else.
    """
    from .demo.roles.timer import lifecycle as timer
    from .demo.roles.weather import lifecycle as weather
    from .demo.runner import DemoFailed, backend, new_run_id, run

    logging.getLogger("roleredis.roles").setLevel(logging.ERROR)
    try:
        with backend(fallback_when_unreachable=True) as chosen:
            run_id = new_run_id() if chosen.shared else None
            if as_json:
                report = run(weather, timer, out=lambda line: None, run_id=run_id)
                _emit_json({"backend": chosen.as_dict(), **report})
            else:
                _say(chosen.describe())
                run(weather, timer, out=lambda line: _say(line), run_id=run_id)
    except DemoFailed as exc:
        # the demo takes no input: only a bad configuration is the user's to fix
        code = EXIT_USAGE if exc.error_code in ("config", "disabled") else EXIT_FAILED
        raise CliError(str(exc), code) from None


@app.command()
def bench(
    scale: Annotated[
        float, typer.Option("--scale", min=0.001, help="Work per benchmark (1.0 = full).")
    ] = 1.0,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Best of N rounds.")] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Run the benchmarks (roleredis against raw redis-py) on a throwaway redis-server.

    Needs the redis-server program; never touches a server you run (--url is ignored).
    """
    from . import bench as benchmarks
    from .testing import RedisServerError

    argv = ["--scale", repr(scale), "--rounds", str(rounds)] + (["--json"] if as_json else [])
    try:
        code = benchmarks.main(argv)
    except RedisServerError as exc:
        raise CliError(f"cannot run the benchmarks: {exc}", EXIT_FAILED) from None
    if code:
        raise typer.Exit(code)


# --------------------------------------------------------------------------- entry point


def _usage_error(exc: Exception) -> tuple[str, int] | None:
    """The one-line message and exit code of a Typer/Click usage error, else None."""
    exit_code = getattr(exc, "exit_code", None)
    format_message = getattr(exc, "format_message", None)
    if not isinstance(exit_code, int) or not callable(format_message):
        return None
    message = str(format_message())
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None)
    if path:
        message = f"{message.rstrip()} (see '{path} --help')"
    return message, exit_code


@contextlib.contextmanager
def _library_logs_quiet() -> Iterator[None]:
    """roleredis logs failures; the command reports them itself (use -v to see the logs)."""
    logger = logging.getLogger("roleredis")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


_VERBOSE = ("-v", "--verbose")


def _verbose_first(args: list[str]) -> list[str]:
    """-v / --verbose given after the subcommand (before any ``--``) moved to the front, where
    the option belongs: ``roleredis keys weather -v`` is ``roleredis -v keys weather``."""
    end = args.index("--") if "--" in args else len(args)
    if not any(arg in _VERBOSE for arg in args[1:end]):
        return args
    moved = [arg for arg in args[:end] if arg in _VERBOSE][:1]
    return moved + [arg for arg in args[:end] if arg not in _VERBOSE] + args[end:]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with ``argv`` (default: sys.argv[1:]) and return the exit code.

    With -v, says on stderr what the command did: where it connected (URL without password),
    as which role, its exit code and how long it took.
    """
    args = _verbose_first(list(sys.argv[1:] if argv is None else argv))
    started = time.perf_counter()
    code = _main(args)
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s: exit %d after %.1f ms%s",
            _State.command or "roleredis",
            code,
            (time.perf_counter() - started) * 1000,
            f" (role {_State.role})" if _State.role is not None else "",
        )
    return code


def _main(args: list[str]) -> int:
    command: Callable[..., Any] = typer.main.get_command(app).main
    with _library_logs_quiet():
        try:
            returned = command(args=args, prog_name="roleredis", standalone_mode=False)
        except CliError as exc:
            _error(str(exc), exc.error_code)
            return exc.exit_code
        except RoleRedisError as exc:
            _error(str(exc), exc.error_code)
            return exit_code_for(exc)
        except (KeyboardInterrupt, typer.Abort):
            _error("interrupted")
            return 130
        except BrokenPipeError:
            # the reader went away (roleredis keys x | head): stop quietly
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
            return EXIT_FAILED
        except Exception as exc:
            usage = _usage_error(exc)
            if usage is not None:
                if type(exc).__name__ == "NoArgsIsHelpError":  # bare `roleredis`: the help
                    help_text = str(getattr(exc, "format_message", lambda: "")())
                    if help_text.strip():  # (rich help is printed while it is made)
                        console.out(help_text, highlight=False)
                    return EXIT_USAGE
                _error(usage[0])
                return usage[1]
            _error(
                f"unexpected {type(exc).__name__}: {exc} (a bug in roleredis? -v shows more)",
                "internal",
            )
            if logging.getLogger("roleredis").isEnabledFor(logging.DEBUG):
                logging.getLogger("roleredis.cli").exception("unexpected error")
            return EXIT_FAILED
    return returned if isinstance(returned, int) else EXIT_OK
