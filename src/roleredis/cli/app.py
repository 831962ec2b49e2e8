"""The ``roleredis`` command itself: the Typer app, its global options (--url, -v, --version),
how a command connects, and how a run ends: the one place that turns what happened into the
exit code and the one line on stderr (see :mod:`roleredis.cli` for the codes).

The commands live in the modules of their group and register themselves on :data:`app`.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

import typer
import typer.main
from rich.markup import escape

from .. import __version__, runtime
from ..foundation.config import Settings, is_configured, load_settings
from ..foundation.errors import RoleRedisError
from ..transport.connection import describe as where
from ..transport.connection import is_memory
from .output import console, error, note, say

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CliError",
    "JsonFlag",
    "KeyArg",
    "RoleArg",
    "app",
    "command",
    "connecting",
    "exit_code_for",
    "main",
    "source",
    "source_for_humans",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Ended by Ctrl-C (128 + SIGINT, as a shell reports it).
EXIT_INTERRUPTED = 130
#: error_code values that mean "fix the configuration" (exit 2) ...
_CONFIG_CODES = frozenset({"config", "disabled"})
#: ... and, for a command that takes arguments, "fix the command line" too.
_USAGE_CODES = _CONFIG_CODES | {"invalid_argument"}

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
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",  # help texts are escaped (see plain_help): nothing is markup
    context_settings={"help_option_names": ["-h", "--help"]},
)


class CliError(Exception):
    """A failure to report in one line: ``error: <message> [<error_code>]``.

    ``exit_code`` None leaves it to the policy (:func:`exit_code_for` of ``error_code``).
    """

    def __init__(self, message: str, exit_code: int | None = None, error_code: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.error_code = error_code


class State:
    """What this run has learnt: called bare, --url given, the command and role (for -v)."""

    bare: bool = False
    url_option: bool = False
    command: str | None = None
    role: str | None = None


log = logging.getLogger("roleredis.cli")


# --------------------------------------------------------------------------- how a run ends


def exit_code_for(error_code: str, *, takes_arguments: bool = True) -> int:
    """The exit code of a failure with roleredis's ``error_code``: 2 for what the user must fix
    in the command line or the configuration, else 1. A command that takes no arguments (the
    demo) can only have its configuration to fix: a refused argument there is its own failure.

    >>> exit_code_for("config"), exit_code_for("invalid_argument"), exit_code_for("connection")
    (2, 2, 1)
    >>> exit_code_for("invalid_argument", takes_arguments=False)
    1
    """
    usage = _USAGE_CODES if takes_arguments else _CONFIG_CODES
    return EXIT_USAGE if error_code in usage else EXIT_FAILED


def _usage_error(exc: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code of a command-line error, else None.

    Typer's command-line errors are click's (vendored by Typer 0.2x, so not importable as
    ``click``): they are known by what every one of them has, ``exit_code`` and
    ``format_message()``.
    """
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


def ended(exc: BaseException) -> int:
    """How a run that raised ``exc`` ends: its one line on stderr, and the exit code returned.

    The only place that decides: commands raise CliError or a RoleRedisError (typer.Exit
    only to pass on a code already decided, e.g. the benchmarks'), and never call sys.exit.
    """
    if isinstance(exc, CliError):
        error(str(exc), exc.error_code)
        return exc.exit_code if exc.exit_code is not None else exit_code_for(exc.error_code)
    if isinstance(exc, RoleRedisError):
        error(str(exc), exc.error_code)
        return exit_code_for(exc.error_code)
    if isinstance(exc, KeyboardInterrupt | typer.Abort):
        error("interrupted")
        return EXIT_INTERRUPTED
    if isinstance(exc, BrokenPipeError):
        # the reader went away (roleredis keys x | head): stop quietly
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILED
    usage = _usage_error(exc)
    if usage is not None:
        error(usage[0])
        return usage[1]
    error(f"unexpected {type(exc).__name__}: {exc} (a bug in roleredis? -v shows more)", "internal")
    if logging.getLogger("roleredis").isEnabledFor(logging.DEBUG):
        log.error("unexpected error", exc_info=exc)
    return EXIT_FAILED


def show_help(ctx: typer.Context) -> None:
    """A group called without a command (``roleredis``, ``roleredis acl``): its help on stdout,
    and exit 2, as for any incomplete command line."""
    text = ctx.get_help()
    if text.strip():  # (rich help is printed while it is made)
        console.out(text, highlight=False)
    raise typer.Exit(EXIT_USAGE)


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


def connecting(command: str, role: str | None = None, *, shared: bool = True) -> Settings:
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
        note(
            f"no Redis configured (REDIS_URL, REDIS_HOST/REDIS_PORT, ROLEREDIS_CONFIG or "
            f"./config.yaml): using the default {settings.host}:{settings.port}"
        )
    State.command, State.role = command, role
    log.info(
        "%s: Redis at %s (%s)%s",
        command,
        where(settings),
        source_for_humans(source(settings, "url" if settings.url else "host")),
        f", role {role}" if role is not None else "",
    )
    return settings


def _version(value: bool) -> None:
    if value:
        say(f"roleredis {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback(invoke_without_command=True)
def _options(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            metavar="URL",
            help="The Redis to use for this run (read as REDIS_URL): redis://host:port/db, "
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
    if ctx.invoked_subcommand is None:  # nothing set up, as for any incomplete command line
        if State.bare:
            show_help(ctx)
        ctx.fail("Missing command.")
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        logger = logging.getLogger("roleredis")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    if url is not None:
        if not url.strip():
            raise CliError("--url must not be empty", EXIT_USAGE, "config")
        State.url_option = True
        runtime.use_settings(_settings_with_url(url))


def _settings_with_url(url: str) -> Callable[[], Settings]:
    """The settings of a run given --url: those the environment and config file give, with
    REDIS_URL=``url`` (so use_env_overrides: false in the file still wins, as it does over
    the variable). Loaded on first use, so a bad value is reported by the command that
    connects (``health --json`` reports it in its result; ``bench`` never connects there).
    """
    environ = {**os.environ, "REDIS_URL": url}  # the process's own, read once, never written
    return lambda: load_settings(environ=environ)


def source(settings: Settings, name: str) -> str:
    """Where setting ``name`` of this run came from (``option:--url`` for the --url option)."""
    if name == "url" and State.url_option and settings.source("url") == "env:REDIS_URL":
        return "option:--url"
    return settings.source(name)


def source_for_humans(source: str) -> str:
    kind, _, detail = source.partition(":")
    return {"env": f"environment {detail}", "file": f"file {detail}", "option": detail}.get(
        kind, source
    )


# --------------------------------------------------------------------------- help text


def command() -> Any:
    """The click command of :data:`app`, its help made plain (see :func:`plain_help`)."""
    root = typer.main.get_command(app)
    plain_help(root)
    return root


def plain_help(command: Any, parent: Any = None) -> None:
    """Make the help of ``command`` and its subcommands read as written, everywhere at once:

    - docstrings and help= texts are paragraphs: their line breaks (kept by Typer after the
      first paragraph) are joined, so the terminal wraps them, not the source's width;
    - nothing in them is rich markup (``pip install "roleredis[mcp]"`` keeps its ``[mcp]``);
    - a flag shows no type (Typer 0.29 shows ``<bool>``), an option without a metavar shows
      its name in capitals (not ``<str>``, ``<list[str]>``, ``<int range>``), and an argument
      its name alone (not ``ROLE <str>``).
    """
    # as a run makes it: the help option's names (-h, --help) come from the context settings
    ctx = typer.Context(
        command, parent=parent, info_name=command.name, **(command.context_settings or {})
    )
    for name in ("help", "short_help", "epilog"):
        text = getattr(command, name, None)
        if text:
            setattr(command, name, escape(unwrap(text)))
    for param in command.get_params(ctx):  # the -h/--help option too
        if getattr(param, "help", None):
            param.help = escape(unwrap(param.help))
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
        elif param.metavar is None and param.name:
            param.metavar = param.name.upper()
        if param.param_type_name == "argument":  # its metavar is its name: no <str> after it
            param.display_type_rich = _no_type
    for child in getattr(command, "commands", {}).values():
        plain_help(child, ctx)


def _no_type(ctx: Any) -> None:
    """An argument's type, as shown in help (Typer 0.29 shows ``<str>``): none."""


_BULLETS = ("* ", "- ")


def unwrap(text: str) -> str:
    r"""``text`` with the line breaks inside each paragraph joined (a bullet line, and a
    paragraph marked ``\b`` as click does, keep theirs).

    >>> unwrap("One paragraph\n  on two lines.\n\n* a\n* b\n  more")
    'One paragraph on two lines.\n\n* a\n* b more'
    """
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.splitlines():
            line = line.strip()
            if lines and not line.startswith(_BULLETS):
                lines[-1] = f"{lines[-1]} {line}"
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------- entry point


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
            State.command or "roleredis",
            code,
            (time.perf_counter() - started) * 1000,
            f" (role {State.role})" if State.role is not None else "",
        )
    return code


def _main(args: list[str]) -> int:
    State.bare = not args
    run: Callable[..., Any] = command().main
    with _library_logs_quiet():
        try:
            returned = run(args=args, prog_name="roleredis", standalone_mode=False)
        except (Exception, KeyboardInterrupt) as exc:
            return ended(exc)
    return returned if isinstance(returned, int) else EXIT_OK
