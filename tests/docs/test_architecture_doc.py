"""docs/architecture.md is the truth about the code as it stands: it names every module of the
package (a new room the map does not show fails here), and every module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "roleredis"
DOC = ROOT / "docs" / "architecture.md"

#: a path in backticks: ``core/ops.py``, ``cli/keys.py``, ``testing/``, ``tests/unit/test_ops.py``
NAMED = re.compile(r"`([A-Za-z0-9_./]+(?:\.py|/))`")


def _is_example(path: Path) -> bool:
    """The demo's role files (demo/roles/...) are example code, not rooms of the house."""
    parts = path.relative_to(PACKAGE).parts
    return parts[:2] == ("demo", "roles")


def modules() -> set[str]:
    """Every module as ``name.py`` / ``pkg/name.py`` and every subpackage as ``pkg/``,
    relative to src/roleredis; ``__init__.py`` and ``__main__.py`` of subpackages aside."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if _is_example(path):
            continue
        relative = path.relative_to(PACKAGE)
        if path.name == "__init__.py" and path.parent != PACKAGE:
            found.add(relative.parent.as_posix() + "/")
        elif path.name not in ("__init__.py", "__main__.py"):
            found.add(relative.as_posix())
    return found


def named(text: str) -> set[str]:
    return set(NAMED.findall(text))


def test_the_package_has_modules_to_find() -> None:
    found = modules()
    assert {"core/ops/", "table/rows.py", "cli/", "cli/app.py", "testing/plugin.py"} <= found


def test_every_module_is_on_the_map() -> None:
    missing = sorted(modules() - named(DOC.read_text(encoding="utf-8")))
    assert not missing, f"docs/architecture.md does not name: {missing}"


def test_every_module_on_the_map_exists() -> None:
    gone = sorted(
        name
        for name in named(DOC.read_text(encoding="utf-8"))
        if not (PACKAGE / name).exists() and not (ROOT / name).exists()
    )
    assert not gone, f"docs/architecture.md names paths that do not exist: {gone}"
