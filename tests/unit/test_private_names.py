"""Issue 19, item 3: no module reaches into another's private names (a rule the import
contracts cannot say). A name with one leading underscore that a module of roleredis defines
(a function, a class attribute or method, an attribute set on ``self``, a slot) is used only
by that module; redis-py's and asyncio's privates are touched only in
``foundation/internals.py`` (see tests/integration/test_internals_contract.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import roleredis

SOURCE = Path(roleredis.__file__).parent
#: the guide's original module's hooks, looked up by name in faces/tools/ itself
HOOKS = {"_get_calling_role", "_get_redis_client", "_get_redis_config"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def defined(tree: ast.AST) -> set[str]:
    """The private names a module defines."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names.add(node.value)  # __slots__ entries, dataclass fields by name
    return {name for name in names if _private(name)}


def reached(tree: ast.AST) -> list[tuple[int, str]]:
    """``something._name`` where something is not the module's own ``self`` or ``cls``."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            found.append((node.lineno, node.attr))
    return found


def offences(modules: dict[str, ast.AST]) -> list[str]:
    own = {path: defined(tree) for path, tree in modules.items()}
    others: dict[str, set[str]] = {}
    for path in modules:
        others[path] = set().union(*(names for p, names in own.items() if p != path))
    return [
        f"{path}:{line}: .{name}"
        for path, tree in modules.items()
        for line, name in reached(tree)
        if name in others[path] and name not in own[path] and name not in HOOKS
    ]


def _modules() -> dict[str, ast.AST]:
    return {
        path.relative_to(SOURCE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(SOURCE.rglob("*.py"))
        if "demo/roles" not in path.as_posix()
    }


def test_no_module_reaches_into_another_modules_private_names() -> None:
    assert offences(_modules()) == []


def test_the_check_finds_a_reach() -> None:
    modules = {
        "store.py": ast.parse("class Store:\n    def __init__(self):\n        self._run = 1\n"),
        "face.py": ast.parse("def f(store):\n    return store._run\n"),
    }
    assert offences(modules) == ["face.py:2: ._run"]
