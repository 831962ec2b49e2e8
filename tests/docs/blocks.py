"""The code blocks of the README and of the documentation site (docs/), read once.

Conventions the pages follow (tests/docs/test_examples.py enforces them):

- a ```python block runs, in a fresh directory, against a throwaway redis-server (REDIS_URL);
  ``# > text`` lines after it are what it prints, all of it, line by line (the format
  pytest-examples and pydantic's docs use);
- a block whose first line is ``# in roles/<name>/<file>.py`` runs as that file, so the role is
  found from the path as in a real program; a block made of ``# roles/...py`` and
  ``# tests/...py`` parts is a small project, whose tests pytest runs;
- a ```bash block whose lines are all ``roleredis ...`` commands runs too, with ``bash -e``;
- ``<!-- example: cluster -->`` right before a block runs it against the session's Redis
  Cluster (3 primaries, 3 replicas) instead of a single server;
- ``<!-- example: syntax-only (why) -->`` right before a block means it needs what a test
  machine lacks (an API key, a server at a given address): it is only compiled (``bash -n``
  for shell), and the reason in parentheses is required.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)
MARKER = re.compile(r"<!--\s*example:(.*?)-->\s*\Z", re.DOTALL)
#: ``# > text``: a line the block prints (``#>`` as pytest-examples writes it, with the space
#: ruff's formatter puts after ``#``; it formats the pages' Python blocks too)
OUTPUT = re.compile(r"^\s*#\s?>(?: (?P<text>.*))?$")
SYNTAX_ONLY = re.compile(r"^\s*syntax-only\s*\((?P<why>[^)]*\S[^)]*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class Block:
    path: Path
    line: int
    language: str
    code: str
    #: the text of an ``<!-- example: ... -->`` comment right before the block, if any
    marker: str | None

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def syntax_only_reason(self) -> str | None:
        if self.marker is None:
            return None
        found = SYNTAX_ONLY.match(self.marker)
        return found["why"].strip() if found else None

    @property
    def on_cluster(self) -> bool:
        return self.marker == "cluster"

    @property
    def expected_output(self) -> list[str] | None:
        lines = [
            found["text"] or "" for found in map(OUTPUT.match, self.code.splitlines()) if found
        ]
        return lines or None

    @property
    def is_roleredis_commands(self) -> bool:
        commands = [
            line
            for line in self.code.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        return bool(commands) and all(line.startswith("roleredis ") for line in commands)


def pages() -> list[Path]:
    """The README, every page of the site, and BENCHMARKS.md (the site includes it)."""
    found = [ROOT / "README.md", ROOT / "BENCHMARKS.md"]
    found += sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
    return found


def blocks_of(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n")
        marker = MARKER.search(before)
        found.append(
            Block(
                path=path,
                line=text.count("\n", 0, match.start()) + 1,
                language=match[1],
                code=match[2],
                marker=marker[1].strip() if marker else None,
            )
        )
    return found


def all_blocks() -> list[Block]:
    return [block for path in pages() for block in blocks_of(path)]
