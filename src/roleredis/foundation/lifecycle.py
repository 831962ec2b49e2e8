"""The reset hooks: what each module forgets on :func:`roleredis.reset` and in a forked child.

A module that keeps per-process state (a client cache, a lock, a writer thread) registers a
hook here at import, whatever its layer: :mod:`roleredis.runtime` runs them all on ``reset()``
(``hook(False)``) and after a fork (``hook(True)``: every lock a parent thread may have held
is replaced). Kept in the foundation so that the runners of :mod:`roleredis.transport`
register theirs without importing the runtime above them.

>>> forgotten = []
>>> on_reset(forgotten.append)
>>> hooks()[-1] == forgotten.append
True
>>> _hooks.remove(forgotten.append)
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["hooks", "on_reset"]

_hooks: list[Callable[[bool], None]] = []


def on_reset(hook: Callable[[bool], None]) -> None:
    """Call ``hook(forked)`` on :func:`roleredis.reset` (False) and in a forked child (True)."""
    _hooks.append(hook)


def hooks() -> list[Callable[[bool], None]]:
    """The hooks registered so far, in the order they were registered (a copy)."""
    return list(_hooks)
