"""Copying roles' keys from one deployment to another (``roleredis copy``), byte for byte.

Each source key of a role (``weather:k`` or ``{weather}:k``: both layouts are read, from every
primary of a Cluster) is read with DUMP and PTTL and written on the target with RESTORE under
the key of the target's layout (``{weather}:k`` in a Cluster with co-located roles, else
``weather:k``), with the same remaining time to live. Every type (string, hash, list, set,
sorted set, stream ...) travels as Redis's own serialization, so values are copied exactly.

- A key that exists at the target is skipped (RESTORE refuses it: BUSYKEY), unless
  ``replace`` (RESTORE ... REPLACE): so a copy that stopped is finished by running it again.
- Nothing is deleted or changed at the source.
- DUMP's payload carries the RDB version of the source: a target running an older Redis (a
  lower RDB version) refuses it; such a key is counted as failed, with the server's reason.
- roleredis's internal keys (``__roleredis__:...``, a role's key index) are not copied: they
  are rebuilt at the target (``roleredis reindex ROLE``).
- Sealed values (encryption) are bound to the key as the role names it (``weather:k``), not
  to the physical key, so they open after a move between layouts.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .config import Settings
from .errors import RoleRedisError, scrub, translate
from .keys import Keyspace, escape_glob, validate_role

__all__ = ["BATCH", "CopyReport", "copy", "split_key", "target_key"]

#: keys read (DUMP + PTTL) and written (RESTORE) per round trip
BATCH = 500
#: how many failures a report keeps the text of
_KEPT_ERRORS = 20

#: ``progress(keys_done)``: called after each batch with how many keys it handled
ProgressFn = Callable[[int], object]


@dataclasses.dataclass
class CopyReport:
    """What a copy did: per role and in total; ``errors`` holds the first failures' texts."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0
    roles: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)

    def _count(self, role: str, what: str) -> None:
        setattr(self, what, getattr(self, what) + 1)
        counts = self.roles.setdefault(role, {"copied": 0, "skipped": 0, "failed": 0})
        counts[what] += 1

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_key(raw: bytes) -> tuple[str, bytes] | None:
    """``(role, key)`` of a stored key in either layout, or None if it is no role's.

    >>> split_key(b"weather:k"), split_key(b"{weather}:k"), split_key(b"plain")
    (('weather', b'k'), ('weather', b'k'), None)
    """
    if raw[:1] == b"{":
        tag, sep, rest = raw[1:].partition(b"}:")
    else:
        tag, sep, rest = raw.partition(b":")
    if not sep or not rest:
        return None
    try:
        return validate_role(tag.decode("ascii")), rest
    except (UnicodeDecodeError, RoleRedisError):
        return None


def target_key(settings: Settings, role: str, key: bytes) -> bytes:
    """The physical key of ``role``'s ``key`` in the layout of ``settings``.

    >>> target_key(Settings(url="redis+cluster://127.0.0.1:7000"), "weather", b"k")
    b'{weather}:k'
    """
    return Keyspace(role, hash_tag=settings.hash_tag_roles).prefix.encode("ascii") + key


def _patterns(roles: Sequence[str] | None) -> list[str]:
    if not roles:
        return ["*"]
    return [escape_glob(p) + "*" for role in roles for p in (f"{role}:", f"{{{role}}}:")]


@contextlib.contextmanager
def _source_clients(settings: Settings) -> Iterator[list[Any]]:
    """A client per node that holds data: each Cluster primary, else the one server or the
    Sentinel primary."""
    from . import connection

    topology = settings.topology()
    if topology is not None and topology.kind == "cluster":
        clients = [
            connection.node_client(settings, host, port)
            for host, port, kind in connection.node_addresses(settings)
            if kind == "primary"
        ]
        try:
            yield clients
        finally:
            for client in clients:
                client.close()
        return
    client = connection.build_client(settings)
    try:
        yield [client]
    finally:
        connection.close_client(client)


def copy(
    source: Settings,
    target: Settings,
    roles: Sequence[str] | None = None,
    *,
    replace: bool = False,
    progress: ProgressFn | None = None,
    total: Callable[[int], object] | None = None,
) -> CopyReport:
    """Copy the keys of ``roles`` (every role found when None) from ``source`` to ``target``.

    ``total(n)`` is told first how many keys the source holds (all of them: an upper bound
    when ``roles`` are given); ``progress(n)`` after each batch. Raises a RoleRedisError if a
    deployment cannot be reached or read; a key the target refuses is counted as failed.
    """
    from . import connection

    wanted = [validate_role(role) for role in roles or ()]
    report = CopyReport()
    try:
        writer = connection.admin_client(target)
        try:
            with _source_clients(source) as readers:
                if total is not None:
                    total(sum(int(reader.dbsize()) for reader in readers))
                for reader in readers:
                    for pattern in _patterns(wanted):
                        for batch in _batches(reader, pattern):
                            _copy_batch(reader, writer, target, batch, replace, report, wanted)
                            if progress is not None:
                                progress(len(batch))
        finally:
            connection.close_admin_client(writer)
    except RoleRedisError:
        raise
    except Exception as exc:
        raise translate(exc) from None
    return report


def _batches(reader: Any, pattern: str) -> Iterator[list[bytes]]:
    batch: list[bytes] = []
    for raw in reader.scan_iter(match=pattern, count=1000):
        batch.append(raw if isinstance(raw, bytes) else str(raw).encode())
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _copy_batch(
    reader: Any,
    writer: Any,
    target: Settings,
    batch: list[bytes],
    replace: bool,
    report: CopyReport,
    wanted: list[str],
) -> None:
    keys = []
    for raw in batch:
        found = split_key(raw)
        if found is not None and (not wanted or found[0] in wanted):
            keys.append((raw, *found))
    if not keys:
        return
    read = reader.pipeline(transaction=False)
    for raw, _, _ in keys:
        read.dump(raw)
        read.pttl(raw)
    replies = read.execute()
    write = writer.pipeline(transaction=False)
    sent = []
    for i, (_, role, key) in enumerate(keys):
        data, pttl = replies[2 * i], int(replies[2 * i + 1])
        if data is None or pttl == -2:  # gone (expired or deleted) since the scan
            continue
        write.restore(target_key(target, role, key), max(pttl, 0), data, replace=replace)
        sent.append(role)
    if not sent:
        return
    for role, outcome in zip(sent, write.execute(raise_on_error=False), strict=True):
        if not isinstance(outcome, Exception):
            report._count(role, "copied")
        elif "BUSYKEY" in str(outcome):
            report._count(role, "skipped")
        else:
            report._count(role, "failed")
            if len(report.errors) < _KEPT_ERRORS:
                report.errors.append(f"{role}: {scrub(str(translate(outcome)))}")
