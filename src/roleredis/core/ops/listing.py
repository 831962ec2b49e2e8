"""The operations over every key of a role: :func:`list_keys` (its own, or another role's that
it may read), :func:`clear` and :func:`reindex`; with SCAN in steps (never KEYS), or through
the role's key index when it is on and trusted (:mod:`roleredis.core.index`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ...foundation import sharing
from ...foundation.batch import READABLE, Call
from ...foundation.errors import ConfigError, PermissionDeniedError
from .. import index
from .scope import Op, Scope, reading

__all__ = ["ACL_PROBE", "SCAN_COUNT", "clear", "list_keys", "reindex"]

SCAN_COUNT = 1000
#: A key in the namespace that listing and clearing touch first with a key-checked command
#: (EXISTS): Redis ACLs do not check SCAN, but they refuse this for another role's namespace.
ACL_PROBE = "__roleredis_acl_probe__"


def _acl_check(scope: Scope) -> list[Call]:
    """A key-checked command in the role's namespace, sent before SCAN (see ACL_PROBE)."""
    if not scope.keyspace.auto_prefix:
        return []
    return [("exists", (scope.keyspace.full_key(ACL_PROBE),))]


def _scan(cursor: int, match: str) -> Call:
    return ("scan", (cursor, match, SCAN_COUNT))


def list_keys(scope: Scope, pattern: str = "*", *, from_role: str | None = None) -> Op[list[str]]:
    """The role's keys matching ``pattern`` (a glob applied after the role prefix), without
    the prefix, sorted: from the role's index when it is on and trusted, else with SCAN
    (never KEYS).

    ``from_role``: that role's keys which this role may read (see :func:`_list_granted`).
    """
    granted = reading(scope, from_role)
    if granted is not scope:
        return (yield from _list_granted(granted, pattern))
    match = scope.keyspace.scan_pattern(pattern)
    strip = scope.keyspace.strip
    seen: dict[str, None] = {}
    cursor = 0
    calls = [*_acl_check(scope), _scan(cursor, match)]
    if scope.index:
        listed = yield from index.listing(scope.keyspace, match, _acl_check(scope))
        if listed is not None:
            return list(listed)
        calls = [_scan(cursor, match)]
    while True:
        (cursor, batch) = (yield calls)[-1]
        calls = [_scan(cursor, match)]
        for full in batch:
            seen[strip(full)] = None
        if int(cursor) == 0:
            return sorted(seen)


def _literal_prefix(pattern: str) -> str:
    """What every key matching the glob ``pattern`` starts with.

    >>> _literal_prefix("shared:*"), _literal_prefix("a?c")
    ('shared:', 'a')
    """
    for i, c in enumerate(pattern):
        if c in "*?[\\":
            return pattern[:i]
    return pattern


def _refused(reply: Any) -> bool:
    """Whether a READABLE call's reply is the server's refusal (the runners turn it into a
    PermissionDeniedError); any other error reply is raised."""
    if isinstance(reply, PermissionDeniedError):
        return True
    if isinstance(reply, Exception):
        raise reply
    return False


def _list_granted(scope: Scope, pattern: str) -> Op[list[str]]:
    """The owner's keys matching ``pattern`` that the reader may read, sorted.

    Redis does not check key patterns for SCAN, so a scan alone would show a reader every key
    name of the owner. The keys each SCAN step finds are asked with one key-checked EXISTS
    (READABLE, sent with the next SCAN step: no round trip of its own); if the server refuses
    it, one more round trip asks key by key, and only the keys the reader may read are kept.
    The sharing section (when there is one) is applied first. A first READABLE probe of a key
    under the pattern's literal prefix tells whether the reader holds a grant there: a
    listing that finds no readable key is ``permission`` unless that probe passed (an empty,
    granted part of the namespace).
    """
    keyspace = scope.keyspace
    match = keyspace.scan_pattern(pattern)
    reader = scope.reader or scope.role
    patterns = None if scope.sharing is None else scope.sharing.patterns(reader, scope.role)
    if patterns == ():
        raise PermissionDeniedError(sharing.refusal(reader, scope.role))
    probe = keyspace.full_key(_literal_prefix(pattern) + ACL_PROBE)
    replies = yield [(READABLE, (probe,)), _scan(0, match)]
    granted = not _refused(replies[0])
    strip = keyspace.strip
    kept: dict[str, None] = {}
    while True:
        cursor, batch = replies[-1]
        asked = [f for f in batch if patterns is None or sharing.matches(patterns, strip(f))]
        calls: list[Call] = [(READABLE, tuple(asked))] if asked else []
        if int(cursor) != 0:
            calls.append(_scan(cursor, match))
        if not calls:
            break
        replies = yield calls
        if asked and not _refused(replies[0]):
            kept.update(dict.fromkeys(map(strip, asked)))
        elif asked:  # some are not granted: which?
            each = yield [(READABLE, (full,)) for full in asked]
            for full, reply in zip(asked, each, strict=True):
                if not _refused(reply) and reply:
                    kept[strip(full)] = None
        if int(cursor) == 0:
            break
    if not kept and not granted:
        raise PermissionDeniedError(
            f"role {reader!r} may read no key of role {scope.role!r} matching {pattern!r} "
            f"(grant it: roleredis acl grant {reader} --read {scope.role}:PATTERN)"
        )
    return sorted(kept)


def clear(scope: Scope, progress: Callable[[int], object] | None = None) -> Op[int]:
    """Delete every key of the role with SCAN + UNLINK in batches; returns how many.

    With the index on: through the index when it is trusted; else SCAN as above, removing
    each batch from the index too, and the index is trusted afterwards (the role is empty).
    ``progress(n)`` is called after each batch with how many it deleted.
    """
    if not scope.keyspace.auto_prefix:
        raise ConfigError(
            "key_management.auto_prefix is false, so roles share one namespace and clearing "
            "a role would clear every key in the database; refused"
        )
    match = scope.keyspace.everything()
    deleted = 0
    first = [*_acl_check(scope), _scan(0, match)]
    if scope.index:
        cleared = yield from index.clearing(scope.keyspace, _acl_check(scope), progress)
        if cleared is not None:
            return int(cleared)
        first = [_scan(0, match)]
    (cursor, batch) = (yield first)[-1]
    while batch or int(cursor) != 0:
        calls: list[Call] = []
        if batch and scope.index:  # ZREM first, then UNLINK: see roleredis.core.index
            calls.append(index.remove_call(scope.keyspace, map(scope.keyspace.strip, batch)))
        if batch:
            calls.append(("unlink", tuple(batch)))
        if int(cursor) != 0:
            calls.append(_scan(cursor, match))
        replies = yield calls
        if batch:
            count = int(replies[1 if scope.index else 0])
            deleted += count
            if progress is not None:
                progress(count)
        if int(cursor) == 0:
            break
        cursor, batch = replies[-1]
    if scope.index:
        yield [index.trust_call(scope.keyspace)]
    return deleted


def reindex(scope: Scope, progress: Callable[[int], object] | None = None) -> Op[int]:
    """Index every key in the role's namespace (SCAN, with each key's real expiry), then
    trust the index; returns how many keys were indexed. Keys other clients wrote into the
    namespace are indexed too. ``progress(n)``: after each SCAN step, the keys it indexed."""
    if not scope.keyspace.auto_prefix:
        raise ConfigError(
            "key_management.auto_prefix is false, so roles share one namespace and have no "
            "index of their own; nothing to reindex"
        )
    match = scope.keyspace.everything()
    count = yield from index.reindexing(
        scope.keyspace, lambda cursor: _scan(cursor, match), _acl_check(scope), progress
    )
    return int(count)
