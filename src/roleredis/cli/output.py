"""What the command prints: one console for stdout and one for stderr, key names escaped onto
one line, JSON, sizes, notes, the one-line error, and the progress bar of long jobs.

Human output is printed without rich markup (keys and values are shown as they are); --json
output is the JSON document alone on stdout.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from rich.console import Console
from rich.text import Text

from ..foundation.errors import scrub

__all__ = [
    "LARGE_KEYSPACE",
    "Progress",
    "console",
    "counted",
    "emit_json",
    "err_console",
    "error",
    "note",
    "say",
    "shown",
    "size",
    "value_for_humans",
    "value_for_json",
]

#: Above this many keys, ``roles`` and ``clear`` show a progress bar (when stderr is a terminal).
LARGE_KEYSPACE = 10_000

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def counted(n: int, one: str, many: str) -> str:
    """``n`` with the word for one or for many.

    >>> counted(1, "delivery", "deliveries"), counted(2, "delivery", "deliveries")
    ('1 delivery', '2 deliveries')
    """
    return f"{n} {one if n == 1 else many}"


def one_line(message: str) -> str:
    text = " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
    return text if len(text) <= 600 else text[:597] + "..."


def error(message: str, error_code: str = "") -> None:
    """The one ``error: <message> [<error_code>]`` line on stderr (secrets scrubbed)."""
    line = Text("error: ", style="bold red")
    line.append(one_line(scrub(message)) or "unknown error")
    if error_code:
        line.append(f" [{error_code}]", style="dim")
    err_console.print(line, soft_wrap=True)


def note(message: str) -> None:
    """A remark for the user on stderr (stdout stays the result alone)."""
    err_console.print(Text(message, style="dim"), soft_wrap=True)


def say(message: str | Text) -> None:
    """One line of human output on stdout (no markup: keys and values are printed as is)."""
    console.print(message if isinstance(message, Text) else Text(message), soft_wrap=True)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(text: str) -> str:
    r"""``text`` on one line, unambiguous: a backslash shows as ``\\``, a control or other
    unprintable character as ``\n``, ``\xNN`` (below 0x80) or ``\uNNNN``, and a byte that is
    not UTF-8 (a surrogate escape) as ``\xNN`` (0x80 and up).

    >>> print(shown("x\r\nGET beta:x"), shown("a\\b"), shown("caf\udce9"), shown("\x85"))
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


def emit_json(data: Any) -> None:
    """``data`` as the JSON document on stdout (ASCII only: any key or value survives)."""
    console.out(json.dumps(data, indent=2, ensure_ascii=True, default=str), highlight=False)


def value_for_json(value: Any) -> dict[str, Any]:
    if isinstance(value, bytes):
        return {"value": base64.b64encode(value).decode("ascii"), "encoding": "base64"}
    return {"value": value, "encoding": "json"}


def value_for_humans(value: Any) -> str:
    if isinstance(value, bytes):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def size(n: int | None) -> str:
    """A byte count for humans; ``n/a`` for None (not measured).

    >>> size(None), size(512), size(1536)
    ('n/a', '512 B', '1.5 KiB')
    """
    if n is None:
        return "n/a"
    scaled = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if scaled < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{n} B"  # pragma: no cover


class Progress:
    """A progress bar on stderr, shown only for large jobs and only when stderr is a terminal."""

    def __init__(self, what: str, total: int) -> None:
        self._bar: Any = None
        self._task: Any = None
        if total > LARGE_KEYSPACE and err_console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                transient=True,
            )
            self._task = self._bar.add_task(what, total=total)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, n: int) -> None:
        if self._bar is not None and n:
            self._bar.advance(self._task, n)
