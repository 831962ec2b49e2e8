"""The role inventory: every role in a database, with how many keys it has and their memory.

:func:`survey` is the operation, written without I/O like those of :mod:`roleredis.ops`: it
asks DBSIZE (for progress), then SCANs the whole keyspace (``ops.SCAN_COUNT`` a batch), asking
MEMORY USAGE of each new key in the same round trip as the next SCAN, and groups keys by the
part before the first ``:`` when that is a valid role name (else under ``(no role)``).
:func:`take` runs it through the sync executor, so it gets the same retries and circuit
breaker as every other call.

>>> op = survey()
>>> next(op)
[('dbsize', ()), ('scan', (0, '*', 1000))]
>>> for call in op.send([3, (0, [b"weather:a", b"weather:b", b"plain"])]):
...     print(call)
('memory_usage', (b'weather:a',))
('memory_usage', (b'weather:b',))
('memory_usage', (b'plain',))
>>> try:
...     op.send([56, 72, 48])
... except StopIteration as done:
...     done.value.roles["weather"], done.value.total
(RoleUsage(keys=2, memory_bytes=128), RoleUsage(keys=3, memory_bytes=176))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from .config import Settings
from .errors import InternalError, PermissionDeniedError, RoleRedisError
from .keys import validate_role
from .ops import SCAN_COUNT, Call, Op

__all__ = ["NO_ROLE", "Inventory", "RoleUsage", "role_of", "survey", "take"]

#: Where keys without a valid role prefix are counted.
NO_ROLE = "(no role)"
#: How many prefixes :func:`role_of` remembers (a keyspace of random prefixes must not grow it).
_KNOWN_PREFIXES = 100_000

#: ``progress(new_keys, dbsize)``: called after each SCAN batch.
ProgressFn = Callable[[int, int], object]


@dataclasses.dataclass(slots=True)
class RoleUsage:
    """How many keys a role has and their memory in bytes (0 when not measured)."""

    keys: int = 0
    memory_bytes: int = 0


@dataclasses.dataclass(slots=True)
class Inventory:
    """Every role found (``(no role)`` included when some keys have no valid prefix) and
    whether memory was measured (False when the server refuses MEMORY USAGE, e.g. the
    embedded backend or an ACL user without it)."""

    roles: dict[str, RoleUsage]
    memory_measured: bool

    @property
    def named(self) -> list[str]:
        """The roles found, sorted, without ``(no role)``."""
        return sorted(name for name in self.roles if name != NO_ROLE)

    @property
    def no_role(self) -> RoleUsage:
        return self.roles.get(NO_ROLE, RoleUsage())

    @property
    def total(self) -> RoleUsage:
        return RoleUsage(
            sum(u.keys for u in self.roles.values()),
            sum(u.memory_bytes for u in self.roles.values()),
        )


def role_of(full_key: bytes, known: dict[bytes, str]) -> str:
    """The role a stored key belongs to, or :data:`NO_ROLE`; ``known`` caches prefixes.

    >>> role_of(b"weather:a", {}), role_of(b"plain", {}), role_of(b"bad role:x", {})
    ('weather', '(no role)', '(no role)')
    """
    prefix, sep, _ = full_key.partition(b":")
    if not sep:
        return NO_ROLE
    name = known.get(prefix)
    if name is None:
        try:
            name = validate_role(prefix.decode("ascii"))
        except (UnicodeDecodeError, RoleRedisError):
            name = NO_ROLE
        if len(known) < _KNOWN_PREFIXES:
            known[prefix] = name
    return name


def _scan(cursor: int) -> Call:
    return ("scan", (cursor, "*", SCAN_COUNT))


def _as_bytes(key: Any) -> bytes:
    # a client made with decode_responses=True lists str keys
    return key if isinstance(key, bytes) else str(key).encode("utf-8", "surrogateescape")


def survey(progress: ProgressFn | None = None) -> Op[Inventory]:
    """The inventory of the whole database (see the module docstring).

    MEMORY USAGE that the server refuses (unknown command, or not allowed) stops measuring:
    the keys are still counted and ``memory_measured`` is False. Any other failure (the
    connection, a timeout) ends the operation with its error.
    """
    total, (cursor, batch) = yield [("dbsize", ()), _scan(0)]
    total = int(total)
    roles: dict[str, RoleUsage] = {}
    known: dict[bytes, str] = {}
    seen: set[bytes] = set()  # SCAN may return a key twice
    measure = True
    while True:
        fresh = [key for key in dict.fromkeys(map(_as_bytes, batch)) if key not in seen]
        seen.update(fresh)
        more = int(cursor) != 0
        next_scan = [_scan(int(cursor))] if more else []
        sizes: list[Any] = []
        replies: list[Any] = []
        if measure and fresh:
            try:
                replies = yield [*(("memory_usage", (key,)) for key in fresh), *next_scan]
                sizes, replies = replies[: len(fresh)], replies[len(fresh) :]
            except (InternalError, PermissionDeniedError):
                measure = False
                replies = (yield next_scan) if more else []
        elif more:
            replies = yield next_scan
        for i, key in enumerate(fresh):
            usage = roles.setdefault(role_of(key, known), RoleUsage())
            usage.keys += 1
            if measure:
                usage.memory_bytes += int(sizes[i] or 0)  # None: gone since the SCAN
        if progress is not None:
            progress(len(fresh), total)
        if not more:
            break
        cursor, batch = replies[-1]
    if not measure:
        for usage in roles.values():
            usage.memory_bytes = 0
    return Inventory(roles, measure)


def take(
    *,
    client: Any = None,
    settings: Settings | None = None,
    progress: ProgressFn | None = None,
) -> Inventory:
    """The inventory of the database ``client`` (default: the process's) is connected to.

    Runs :func:`survey` through the sync executor: failed connections are retried within
    socket_connect_timeout and counted by the process's circuit breaker, as every call is.

    >>> import roleredis
    >>> _ = roleredis.redis_write("forecast", "sunny", role="weather")
    >>> take().roles["weather"].keys
    1
    """
    from . import runtime
    from .connection import describe, uses_tls
    from .executor import SyncExecutor, drive

    current = runtime.enabled_settings(settings)
    run = SyncExecutor(
        client if client is not None else runtime.sync_client(),
        budget=current.socket_connect_timeout,
        breaker=runtime.breaker(),
        tls=uses_tls(current),
        address=describe(current),
    )
    return drive(survey(progress), run)
