"""The library never writes os.environ (issue 10 §3).

The demo used to point roleredis at its own server by writing REDIS_URL and ROLEREDIS_CONFIG
into the environment and putting them back afterwards: every other thread of the program, and
every subprocess it started meanwhile, saw the demo's server. Settings are handed down as
values (``runtime.use_settings``) instead; this scan fails on any module that writes the
environment again.
"""

from __future__ import annotations

import ast
from pathlib import Path

import roleredis

SOURCE = Path(roleredis.__file__).parent
WRITING_METHODS = {"pop", "popitem", "update", "setdefault", "clear", "__setitem__", "__delitem__"}
WRITING_FUNCTIONS = {"putenv", "unsetenv"}
# none left: the cli package hands --url down with runtime.use_settings
KNOWN_EXCEPTIONS: set[str] = set()


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or ``environ`` (as imported with ``from os import environ``)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ" and isinstance(node.value, ast.Name) and node.value.id == "os"
    return isinstance(node, ast.Name) and node.id == "environ"


def environment_writes(source: str) -> list[int]:
    """The line numbers at which ``source`` writes the process environment."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        if any(isinstance(t, ast.Subscript) and _is_environ(t.value) for t in targets):
            lines.append(node.lineno)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if func.attr in WRITING_METHODS and _is_environ(func.value):
                lines.append(node.lineno)
            if (
                func.attr in WRITING_FUNCTIONS
                and isinstance(func.value, ast.Name)
                and func.value.id == "os"
            ):
                lines.append(node.lineno)
    return sorted(lines)


def test_the_scan_finds_every_kind_of_write() -> None:
    source = (
        "import os\nfrom os import environ\n"
        "os.environ['A'] = '1'\n"
        "os.environ.pop('A', None)\n"
        "os.environ.update(A='1')\n"
        "os.environ.setdefault('A', '1')\n"
        "os.putenv('A', '1')\n"
        "del os.environ['A']\n"
        "environ['A'] = '1'\n"
        "x = os.environ.get('A')\n"  # reading is not writing
    )
    assert environment_writes(source) == [3, 4, 5, 6, 7, 8, 9]


def test_no_module_writes_the_environment() -> None:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE).as_posix()
        if relative in KNOWN_EXCEPTIONS:
            continue
        for line in environment_writes(path.read_text(encoding="utf-8")):
            found.append(f"{relative}:{line}")
    assert found == [], "the library writes os.environ (hand settings down instead): " + ", ".join(
        found
    )


def test_the_known_exception_still_exists() -> None:
    # when cli.py is gone (the cli package), KNOWN_EXCEPTIONS must go with it
    for relative in KNOWN_EXCEPTIONS:
        assert (SOURCE / relative).is_file(), f"drop {relative} from KNOWN_EXCEPTIONS"
