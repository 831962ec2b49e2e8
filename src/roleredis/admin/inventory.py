"""The role inventory: every role in a database, with how many keys it has and their memory.

:func:`survey` is the operation, written without I/O like those of :mod:`roleredis.core.ops`: it
asks DBSIZE (for progress), then SCANs the whole keyspace (``ops.SCAN_COUNT`` a batch), asking
MEMORY USAGE of each new key in the same round trip as the next SCAN, and groups keys by the
part before the first ``:`` when that is a valid role name (``{role}:`` in a Cluster with
co-located roles: the deployment's own key layout; else under ``(no role)``). roleredis's
internal keys (``__roleredis__:{role}:...``: mail, events, the key index) are counted under
their role, apart (``internal_keys``, ``internal_memory_bytes``). :func:`take` runs it
through the sync executor, so it gets the same retries and circuit breaker as every other
call; on a Cluster it runs on each primary (MEMORY USAGE answers for the node's own keys) and
sums.

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
...     weather, total = done.value.roles["weather"], done.value.total
>>> (weather.keys, weather.memory_bytes), (total.keys, total.memory_bytes)
((2, 128), (3, 176))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..core.ops import SCAN_COUNT, Call, Op
from ..foundation.config import Settings
from ..foundation.errors import InternalError, PermissionDeniedError, RoleRedisError
from ..foundation.keys import INTERNAL_PREFIX, validate_role

__all__ = ["NO_ROLE", "Inventory", "RoleUsage", "owner_of", "role_of", "survey", "take"]

#: Where keys without a valid role prefix are counted.
NO_ROLE = "(no role)"
#: How many prefixes :func:`role_of` remembers (a keyspace of random prefixes must not grow it).
_KNOWN_PREFIXES = 100_000

#: ``progress(new_keys, dbsize)``: called after each SCAN batch.
ProgressFn = Callable[[int, int], object]


@dataclasses.dataclass(slots=True)
class RoleUsage:
    """How many keys a role has and their memory in bytes (0 when not measured); its internal
    keys (mail, events, index) apart."""

    keys: int = 0
    memory_bytes: int = 0
    internal_keys: int = 0
    internal_memory_bytes: int = 0

    def add(self, other: RoleUsage) -> None:
        self.keys += other.keys
        self.memory_bytes += other.memory_bytes
        self.internal_keys += other.internal_keys
        self.internal_memory_bytes += other.internal_memory_bytes


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
        total = RoleUsage()
        for usage in self.roles.values():
            total.add(usage)
        return total

    def merge(self, other: Inventory) -> None:
        """Add ``other`` (another node's) to this one."""
        for name, usage in other.roles.items():
            self.roles.setdefault(name, RoleUsage()).add(usage)
        self.memory_measured = self.memory_measured and other.memory_measured


def role_of(full_key: bytes, known: dict[bytes, str], hash_tag: bool = False) -> str:
    """The role a stored key belongs to in the key layout ``hash_tag`` says (``{role}:k``,
    else ``role:k``), or :data:`NO_ROLE`; ``known`` caches prefixes.

    >>> role_of(b"weather:a", {}), role_of(b"plain", {}), role_of(b"bad role:x", {})
    ('weather', '(no role)', '(no role)')
    >>> role_of(b"{weather}:a", {}), role_of(b"{weather}:a", {}, hash_tag=True)
    ('(no role)', 'weather')
    """
    prefix, sep, _ = full_key.partition(b"}:" if hash_tag else b":")
    if not sep or (hash_tag and prefix[:1] != b"{"):
        return NO_ROLE
    name = known.get(prefix)
    if name is None:
        try:
            name = validate_role(prefix[1:].decode("ascii") if hash_tag else prefix.decode("ascii"))
        except (UnicodeDecodeError, RoleRedisError):
            name = NO_ROLE
        if len(known) < _KNOWN_PREFIXES:
            known[prefix] = name
    return name


_INTERNAL = INTERNAL_PREFIX.encode("ascii")


def owner_of(full_key: bytes, known: dict[bytes, str], hash_tag: bool = False) -> tuple[str, bool]:
    """``(role, internal)``: the role of a key and whether it is one of roleredis's internal
    keys (``__roleredis__:{role}:...``, the same in every layout).

    >>> owner_of(b"__roleredis__:{weather}:mail:radar", {})
    ('weather', True)
    """
    if full_key.startswith(_INTERNAL):
        role = role_of(full_key[len(_INTERNAL) :], known, hash_tag=True)
        return role, role != NO_ROLE
    return role_of(full_key, known, hash_tag), False


def _scan(cursor: int) -> Call:
    return ("scan", (cursor, "*", SCAN_COUNT))


def _as_bytes(key: Any) -> bytes:
    # a client made with decode_responses=True lists str keys
    return key if isinstance(key, bytes) else str(key).encode("utf-8", "surrogateescape")


def survey(progress: ProgressFn | None = None, hash_tag: bool = False) -> Op[Inventory]:
    """The inventory of the whole database (see the module docstring).

    MEMORY USAGE that the server refuses (unknown command, or not allowed) stops measuring:
    the keys are still counted and ``memory_measured`` is False. Any other failure (the
    connection, a timeout) ends the operation with its error. ``hash_tag``: the deployment's
    roles are ``{role}:k`` (a Cluster with co-located roles).
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
            role, internal = owner_of(key, known, hash_tag)
            usage = roles.setdefault(role, RoleUsage())
            size = int(sizes[i] or 0) if measure else 0  # None: gone since the SCAN
            if internal:
                usage.internal_keys += 1
                usage.internal_memory_bytes += size
            else:
                usage.keys += 1
                usage.memory_bytes += size
        if progress is not None:
            progress(len(fresh), total)
        if not more:
            break
        cursor, batch = replies[-1]
    if not measure:
        for usage in roles.values():
            usage.memory_bytes = usage.internal_memory_bytes = 0
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
    from .. import runtime
    from ..transport import connection
    from ..transport.executor import SyncExecutor, drive

    current = runtime.enabled_settings(settings)
    hash_tag = current.hash_tag_roles

    def run_on(node: Any, report: ProgressFn | None) -> Inventory:
        run = SyncExecutor(
            node,
            budget=current.socket_connect_timeout,
            breaker=runtime.breaker(),
            tls=connection.uses_tls(current),
            address=connection.describe(current),
        )
        return drive(survey(report, hash_tag), run)

    topology = current.topology()
    if client is not None or topology is None or topology.kind != "cluster":
        return run_on(client if client is not None else runtime.sync_client(), progress)
    # a Cluster: each primary surveys its own keys (MEMORY USAGE is routed by no key)
    nodes = [
        connection.node_client(current, host, port)
        for host, port, kind in connection.node_addresses(current)
        if kind == "primary"
    ]
    try:
        grand = sum(int(node.dbsize()) for node in nodes)
        found = Inventory({}, True)
        for node in nodes:
            report = None if progress is None else _with_total(progress, grand)
            found.merge(run_on(node, report))
        return found
    finally:
        for node in nodes:
            node.close()


def _with_total(progress: ProgressFn, total: int) -> ProgressFn:
    return lambda new_keys, _node_keys: progress(new_keys, total)
