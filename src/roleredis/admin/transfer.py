"""Copying roles' keys from one deployment to another (``roleredis copy``), byte for byte.

Each key of a role in the source's own key layout (``{weather}:k`` in a Cluster with co-located
roles, else ``weather:k``; read from every primary of a Cluster) is read with DUMP and PTTL and
written on the target with RESTORE under the key of the target's layout, with the same
remaining time to live. A key of the other layout is not the role's at the source (``{beta}:x``
on one server is no key of beta's) and is not copied. Every type (string, hash, list, set,
sorted set, stream ...) travels as Redis's own serialization, so values are copied exactly.

- A role's mail and events travel too: its internal keys ``__roleredis__:{role}:...`` (the
  same name in every layout), its mailboxes (undelivered mail, and the consumer group with its
  pending entries: DUMP carries a stream's groups), its senders set, mail clock and dead
  letters (kind ``mail``) and its event logs (kind ``events``). The report counts per kind.
- A role's lease fence counters (``__roleredis__:{role}:fences``) are merged into the
  target's, field by field, keeping the higher (never lowered, even with ``replace``); held
  leases travel like other internal keys, with their remaining ttl.
- A role's key index is not copied. If the target's index of the role is trusted (the target
  keeps ``key_management.index``), each copied key is indexed there, its entry written before
  the key and again after (see roleredis.core.index), so the target lists and clears it.
- A key that exists at the target is skipped (RESTORE refuses it: BUSYKEY), unless
  ``replace`` (RESTORE ... REPLACE): so a copy that stopped is finished by running it again.
- Nothing is deleted or changed at the source.
- DUMP's payload carries the RDB version of the source: a target running an older Redis (a
  lower RDB version) refuses it; such a key is counted as failed, with the server's reason.
- Sealed values (encryption) are bound to the key as the role names it (``weather:k``), not
  to the physical key, so they open after a move between layouts.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..core.index import INDEX_NAME, NO_EXPIRY_SCORE, TRUST_MEMBER, now_ms
from ..foundation.config import Settings
from ..foundation.errors import RoleRedisError, scrub, translate
from ..foundation.keys import INTERNAL_PREFIX, Keyspace, escape_glob, validate_role

__all__ = ["BATCH", "KINDS", "CopyReport", "copy", "kind_of", "split_key", "target_key"]

#: what a copy counts apart: a role's own keys, its mail, its event logs, other internal keys
KINDS = ("keys", "mail", "events", "internal")
_INTERNAL = INTERNAL_PREFIX.encode("ascii")

#: keys read (DUMP + PTTL) and written (RESTORE) per round trip
BATCH = 500
#: how many failures a report keeps the text of
_KEPT_ERRORS = 20

#: ``progress(keys_done)``: called after each batch with how many keys it handled
ProgressFn = Callable[[int], object]


@dataclasses.dataclass
class CopyReport:
    """What a copy did: in total, per role and per kind (:data:`KINDS`); ``errors`` holds
    the first failures' texts; ``indexed`` the roles whose trusted index at the target got
    the copied keys."""

    copied: int = 0
    skipped: int = 0
    failed: int = 0
    roles: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    kinds: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    indexed: list[str] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)

    def _count(self, role: str, what: str, kind: str = "keys") -> None:
        setattr(self, what, getattr(self, what) + 1)
        for table, name in ((self.roles, role), (self.kinds, kind)):
            counts = table.setdefault(name, {"copied": 0, "skipped": 0, "failed": 0})
            counts[what] += 1

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def split_key(raw: bytes, hash_tag: bool = False) -> tuple[str, bytes] | None:
    """``(role, key)`` of a stored key in the layout ``hash_tag`` says (``{role}:k`` for a
    Cluster with co-located roles, else ``role:k``), or None if it is no role's key there.

    >>> split_key(b"weather:k"), split_key(b"{weather}:k"), split_key(b"{weather}:k", True)
    (('weather', b'k'), None, ('weather', b'k'))
    """
    if hash_tag:
        if raw[:1] != b"{":
            return None
        tag, sep, rest = raw[1:].partition(b"}:")
    else:
        tag, sep, rest = raw.partition(b":")
    if not sep or not rest:
        return None
    try:
        return validate_role(tag.decode("ascii")), rest
    except (UnicodeDecodeError, RoleRedisError):
        return None


def kind_of(raw: bytes) -> tuple[str, str] | None:
    """``(role, kind)`` of one of roleredis's internal keys (the same in every layout), None
    for any other key and for a role's key index (not copied: see the module doc).

    >>> kind_of(b"__roleredis__:{w}:mail:radar"), kind_of(b"__roleredis__:{w}:events:t")
    (('w', 'mail'), ('w', 'events'))
    >>> kind_of(b"__roleredis__:{w}:index"), kind_of(b"w:k")
    (None, None)
    """
    if not raw.startswith(_INTERNAL + b"{"):
        return None
    tag, sep, name = raw[len(_INTERNAL) + 1 :].partition(b"}:")
    if not sep or not name or name == INDEX_NAME.encode():
        return None
    try:
        role = validate_role(tag.decode("ascii"))
    except (UnicodeDecodeError, RoleRedisError):
        return None
    if name.startswith(b"events:"):
        return role, "events"
    if name.startswith(b"mail") or name in (b"senders", b"dead"):
        return role, "mail"
    return role, "internal"


def _place(raw: bytes, source_tagged: bool, target: Settings) -> tuple[str, str, bytes] | None:
    """``(role, kind, target key)`` of a source key, or None if it is no role's."""
    internal = kind_of(raw)
    if internal is not None:
        return internal[0], internal[1], raw  # internal keys carry the tag in every layout
    if raw.startswith(_INTERNAL):
        return None
    found = split_key(raw, source_tagged)
    if found is None:
        return None
    role, key = found
    return role, "keys", target_key(target, role, key)


def target_key(settings: Settings, role: str, key: bytes) -> bytes:
    """The physical key of ``role``'s ``key`` in the layout of ``settings``.

    >>> target_key(Settings(url="redis+cluster://127.0.0.1:7000"), "weather", b"k")
    b'{weather}:k'
    """
    return Keyspace(role, hash_tag=settings.hash_tag_roles).prefix.encode("ascii") + key


def _patterns(roles: Sequence[str] | None, tagged: bool) -> list[str]:
    """What to SCAN the source for: everything, or each role's keys in the source's layout
    and its internal keys."""
    if not roles:
        return ["*"]
    out = []
    for role in roles:
        out.append(escape_glob(f"{{{role}}}:" if tagged else f"{role}:") + "*")
        out.append(Keyspace(role).internal_pattern())
    return out


@contextlib.contextmanager
def _source_clients(settings: Settings) -> Iterator[list[Any]]:
    """A client per node that holds data: each Cluster primary, else the one server or the
    Sentinel primary."""
    from ..transport import connection

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
    from ..transport import connection

    wanted = [validate_role(role) for role in roles or ()]
    report = CopyReport()
    tagged = source.hash_tag_roles
    trusted: dict[str, bool] = {}  # per role: is its index at the target trusted
    try:
        writer = connection.admin_client(target)
        try:
            with _source_clients(source) as readers:
                if total is not None:
                    total(sum(int(reader.dbsize()) for reader in readers))
                for reader in readers:
                    for pattern in _patterns(wanted, tagged):
                        for batch in _batches(reader, pattern):
                            keys = []
                            for raw in batch:
                                placed = _place(raw, tagged, target)
                                if placed is not None and (not wanted or placed[0] in wanted):
                                    keys.append((raw, *placed))
                            if keys:
                                _copy_batch(reader, writer, keys, replace, report, trusted)
                            if progress is not None:
                                progress(len(batch))
        finally:
            connection.close_admin_client(writer)
    except RoleRedisError:
        raise
    except Exception as exc:
        raise translate(exc) from None
    report.indexed = sorted(role for role, yes in trusted.items() if yes)
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
    keys: list[tuple[bytes, str, str, bytes]],
    replace: bool,
    report: CopyReport,
    trusted: dict[str, bool],
) -> None:
    """Copy one batch: ``keys`` are ``(source key, role, kind, target key)``."""
    fences = [key for key in keys if key[0] == Keyspace(key[1]).fences().encode()]
    if fences:
        _merge_fences(reader, writer, fences, report)
        keys = [key for key in keys if key not in fences]
        if not keys:
            return
    read = reader.pipeline(transaction=False)
    for raw, *_ in keys:
        read.dump(raw)
        read.pttl(raw)
    replies = read.execute()
    restores = []
    entries: dict[str, list[Any]] = {}  # role -> ZADD GT arguments for its trusted index
    now = now_ms()
    for i, (_, role, kind, there) in enumerate(keys):
        data, pttl = replies[2 * i], int(replies[2 * i + 1])
        if data is None or pttl == -2:  # gone (expired or deleted) since the scan
            continue
        restores.append((role, kind, there, max(pttl, 0), data))
        if kind == "keys":
            score = NO_EXPIRY_SCORE if pttl < 0 else now + pttl
            member = there.split(b":", 1)[1]  # the role's key: after the target's prefix
            entries.setdefault(role, []).extend((score, member))
    if not restores:
        return
    _learn_trust(writer, [role for role in entries if role not in trusted], trusted)
    updates = [(role, args) for role, args in entries.items() if trusted[role]]
    _index(writer, updates)  # first: a copy that stops here leaves no key unlisted
    write = writer.pipeline(transaction=False)
    for _, _, there, ttl, data in restores:
        write.restore(there, ttl, data, replace=replace)
    outcomes = write.execute(raise_on_error=False)
    _index(writer, updates)  # again: an entry a delete at the target took meanwhile
    for (role, kind, *_), outcome in zip(restores, outcomes, strict=True):
        if not isinstance(outcome, Exception):
            report._count(role, "copied", kind)
        elif "BUSYKEY" in str(outcome):
            report._count(role, "skipped", kind)
        else:
            report._count(role, "failed", kind)
            if len(report.errors) < _KEPT_ERRORS:
                report.errors.append(f"{role}: {scrub(str(translate(outcome)))}")


def _merge_fences(
    reader: Any, writer: Any, keys: list[tuple[bytes, str, str, bytes]], report: CopyReport
) -> None:
    """A role's lease fence counters (see roleredis.core.leases), merged into the target's
    field by field: each raised to the source's if lower (HINCRBY by the difference: a grant at
    the target meanwhile only raises it more), never lowered, whatever ``replace`` says, so a
    copy never lets a fence repeat."""
    read = reader.pipeline(transaction=False)
    for raw, *_ in keys:
        read.hgetall(raw)
    sources = read.execute()
    have = writer.pipeline(transaction=False)
    for *_, there in keys:
        have.hgetall(there)
    targets = have.execute()
    raise_ = writer.pipeline(transaction=False)
    for (_, _, _, there), source, target in zip(keys, sources, targets, strict=True):
        for field, value in (source or {}).items():
            gap = int(value) - int((target or {}).get(field, 0))
            if gap > 0:
                raise_.hincrby(there, field, gap)
    raise_.execute()
    for _, role, kind, _ in keys:
        report._count(role, "copied", kind)


def _learn_trust(writer: Any, roles: list[str], trusted: dict[str, bool]) -> None:
    """Whether the target's index of each role is trusted (holds TRUST_MEMBER)."""
    if not roles:
        return
    ask = writer.pipeline(transaction=False)
    for role in roles:
        ask.zscore(Keyspace(role).internal_key(INDEX_NAME), TRUST_MEMBER)
    for role, score in zip(roles, ask.execute(), strict=True):
        trusted[role] = score is not None


def _index(writer: Any, updates: list[tuple[str, list[Any]]]) -> None:
    if not updates:
        return
    add = writer.pipeline(transaction=False)
    for role, args in updates:
        add.execute_command("ZADD", Keyspace(role).internal_key(INDEX_NAME), "GT", *args)
    add.execute()
