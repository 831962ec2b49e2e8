"""The operation table and its call wrappers under the name callers knew before the table was
split: the rows live in :mod:`roleredis.table.rows` (what a row is:
:mod:`roleredis.table.operation`), the call wrappers in :mod:`roleredis.table.calls`. This
module only re-exports what it offered (its ``__all__``, and ``awaitable_twin``); new code
imports from the modules that own the names.
"""

from __future__ import annotations

from .calls import async_store, awaitable_twin, bind_async, call, call_async
from .operation import Operation
from .rows import TABLE, commands

__all__ = [
    "TABLE",
    "Operation",
    "async_store",
    "awaitable_twin",
    "bind_async",
    "call",
    "call_async",
    "commands",
]
