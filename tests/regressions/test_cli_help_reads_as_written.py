"""Issue 18, item 8: ``roleredis ... --help`` as a user reads it, for every command.

It wrapped raggedly (the docstrings' hard line breaks were kept after the first paragraph),
flags showed ``<bool>`` and options ``<list[str]>`` / ``<str>`` / ``<int range>``, ``acl grant``'s
usage said ``{ROLE}`` while its text spoke of READER, and ``mcp --help`` showed
``pip install "roleredis"`` (its ``[mcp]`` taken for rich markup).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from typing import Any

import typer.main

from roleredis.cli import app

from ..cli.conftest import Cli, environment

WIDTH = 80
#: Typer's type placeholders: <bool>, <str>, <int>, <float>, <list[str]>, <int range>, ...
TYPE_PLACEHOLDER = re.compile(r"<(bool|str|int|float|path|uuid|datetime|list\[|[a-z]+ range)")
BOX = ("╭", "│", "╰")


def command_paths() -> list[tuple[str, ...]]:
    def walk(command: Any, path: tuple[str, ...]) -> list[tuple[str, ...]]:
        children = getattr(command, "commands", {})
        return [path] + [p for name, c in children.items() for p in walk(c, (*path, name))]

    return walk(typer.main.get_command(app), ())


def paragraphs(text: str) -> list[list[str]]:
    """The help's free text (outside the panels), as paragraphs of stripped lines."""
    out: list[list[str]] = [[]]
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(BOX):
            if out[-1]:
                out.append([])
            continue
        out[-1].append(stripped)
    return [p for p in out if p]


def broken_short(text: str, width: int) -> list[str]:
    """Lines that end although the next line's first word would have fitted on them (rich
    pads the help by one column each side)."""
    found = []
    for paragraph in paragraphs(text):
        for line, following in itertools.pairwise(paragraph):
            if len(line) + 1 + len(following.split()[0]) <= width - 2:
                found.append(f"{line!r} before {following!r}")
    return found


#: Prints the help of each command path given (JSON on argv) as ``roleredis PATH --help``
#: does, each followed by a separator line: one process for them all.
HELPS = """
import json, sys
from roleredis.cli import main
for path in json.loads(sys.argv[1]):
    code = main([*path, "--help"])
    print(f"\\x00 exit {code}", flush=True)
"""


def helps(paths: list[tuple[str, ...]], width: int) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", HELPS, json.dumps(paths)],
        env=environment({"COLUMNS": str(width)}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stderr == "", done
    texts = done.stdout.split("\x00 exit 0\n")
    assert texts[-1] == "" and len(texts) == len(paths) + 1, done.stdout
    return texts[:-1]


def test_every_help_wraps_at_the_terminal_and_shows_no_python_types() -> None:
    paths = command_paths()
    assert len(paths) > 15 and ("acl", "grant") in paths and ("mcp",) in paths
    for path, text in zip(paths, helps(paths, WIDTH), strict=True):
        assert f"roleredis {' '.join(path)}".strip() in text, text
        assert max(map(len, text.splitlines())) <= WIDTH, text
        assert TYPE_PLACEHOLDER.search(text) is None, text
        assert broken_short(text, WIDTH) == [], (path, text)


def test_the_checks_see_what_was_wrong() -> None:
    """The checks above, on help as it used to be printed."""
    ragged = (
        " unless --no-auth is given on a loopback address. Needs the mcp extra:\n"
        ' pip install "roleredis".\n'
    )
    assert broken_short(ragged, WIDTH) != []
    assert broken_short(" one line that is long enough to end here, at the margin of\n two", 64)
    assert TYPE_PLACEHOLDER.search("│ --json   <bool>  Print") is not None
    assert TYPE_PLACEHOLDER.search("│ --read   <list[str]>") is not None
    assert TYPE_PLACEHOLDER.search("'Authorization: Bearer <token>'") is None


def test_mcp_help_shows_the_extra_to_install(cli: Cli) -> None:
    ran = cli("mcp", "--help", env={"COLUMNS": "200"})
    assert 'pip install "roleredis[mcp]"' in ran.stdout, ran.stdout


def test_acl_grant_usage_names_the_reader(cli: Cli) -> None:
    ran = cli("acl", "grant", "--help", env={"COLUMNS": "200"})
    usage = next(line for line in ran.stdout.splitlines() if "Usage:" in line)
    assert "READER" in usage and "ROLE" not in usage, usage
    assert "READER" in ran.stdout.split("Arguments")[1], ran.stdout
