"""Every operation on a role's namespace, written once, without I/O (sans-I/O).

An operation is a generator: it validates and encodes in the caller, yields a batch of redis-py
calls (``("get", (key,))`` is ``client.get(key)``), receives their replies, and returns a typed
outcome. A sync driver (:mod:`roleredis.core.store`), an async one (:mod:`roleredis.aio`) and the
background writer run the same generators, so the logic exists once.

The operations by family:

- ``scope.py``: ``Scope`` (what an operation knows of its role), the ``Op`` type, ``reading``
  (the owner's scope for a granted read) and the checks of a granted read
- ``writes.py``: ``write``, ``write_many``, ``delete``, ``prepare_write`` (for fire-and-forget)
- ``reads.py``: ``read``, ``read_many``, ``exists``, ``remaining_ttl``
- ``listing.py``: ``list_keys`` (its own keys, or those it may read of another role),
  ``clear``, ``reindex``
- ``probe.py``: ``health``, the health check's probe

This package re-exports them, and the batch types of :mod:`roleredis.foundation.batch` that
operations yield (``Batch``, ``Call``, ``READABLE``, ``Lenient`` / ``lenient``), so that
callers name them ``ops.read``, ``ops.Scope``, ``ops.Batch``.

>>> from roleredis.foundation.keys import Keyspace
>>> scope = Scope(Keyspace("weather"))
>>> op = read(scope, "forecast")
>>> next(op)
[('get', ('weather:forecast',)), ('ttl', ('weather:forecast',))]
>>> try:
...     op.send([b'"sunny"', 60])
... except StopIteration as done:
...     done.value.value, done.value.ttl
('sunny', 60)
"""

from __future__ import annotations

from ...foundation.batch import READABLE, Batch, Call, Lenient, Pause, lenient
from .listing import ACL_PROBE, SCAN_COUNT, clear, list_keys, reindex
from .probe import HEALTH_PROBE, Health, health
from .reads import Entry, ReadMany, entry_of, exists, read, read_many, remaining_ttl
from .scope import Op, Scope, reading
from .writes import (
    PreparedWrite,
    Written,
    WrittenMany,
    acknowledge,
    delete,
    prepare_write,
    write,
    write_many,
)

__all__ = [
    "ACL_PROBE",
    "HEALTH_PROBE",
    "READABLE",
    "SCAN_COUNT",
    "Batch",
    "Call",
    "Entry",
    "Health",
    "Lenient",
    "Op",
    "Pause",
    "PreparedWrite",
    "ReadMany",
    "Scope",
    "Written",
    "WrittenMany",
    "acknowledge",
    "clear",
    "delete",
    "entry_of",
    "exists",
    "health",
    "lenient",
    "list_keys",
    "prepare_write",
    "read",
    "read_many",
    "reading",
    "reindex",
    "remaining_ttl",
    "write",
    "write_many",
]
