"""A role's key index: listing and clearing that cost O(the role's keys), not O(the keyspace).

With ``key_management.index`` on, every write and delete of a role also updates a sorted set
in the role's internal namespace, ``__roleredis__:{<role>}:index`` (see
:meth:`~roleredis.foundation.keys.Keyspace.internal_key`), in the same round trip:

- member: the role's key (without the prefix); score: its expiry in epoch milliseconds by the
  writer's clock, ``+inf`` for none. Scores are only ever raised (``ZADD GT``), so a score is
  never earlier than the key's real expiry (clocks within PRUNE_MARGIN_MS of each other).
- a write sends ``ZADD, SET, ZADD`` (a write_many, or the writer's run of SETs and MSETs of
  one role: one ZADD before all of them, one after); a delete ``ZREM`` then ``UNLINK``. The
  first ZADD makes a crash safe: a process killed part way through a batch has sent a prefix of
  it, so every SET that reached the server came after its key's entry. The second makes a
  concurrent delete safe: a ZREM that lands between the first ZADD and the SET is undone. So
  any interleaving of writes, deletes and crashes leaves every existing key indexed; the
  opposite mistakes (a member whose key is gone) are harmless, since a listing checks. In one
  round trip on one connection where the keys share the index's slot (every layout but a
  Cluster's spread one, ``Scope.index_apart``, where the last ZADD is a round trip of its
  own: the parts of a batch go to several nodes).
- trust: the index is used for listing and clearing only when it holds the member ``""``
  (TRUST_MEMBER, never a key: keys are non-empty), added when ``reindex`` completes or when a
  clear leaves the role empty. It lives inside the index, so an index that is deleted or
  evicted takes its trust with it and listing falls back to SCAN.
- a listing drops members expired more than PRUNE_MARGIN_MS ago (ZREMRANGEBYSCORE), then
  checks that each matching key exists (EXISTS, one round trip) and drops those that do not
  (a DEL by another client, eviction, a TTL set elsewhere): it never reports a missing key.

Patterns are matched as SCAN MATCH matches them, by :func:`~roleredis.foundation.glob.glob_match`
(Redis's own rule, applied to the same bytes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable
from typing import Any

from ..foundation.glob import glob_match
from ..foundation.keys import Keyspace, raw_key

__all__ = [
    "INDEX_NAME",
    "PRUNE_MARGIN_MS",
    "TRUST_MEMBER",
    "add_call",
    "clearing",
    "glob_match",
    "index_key",
    "listing",
    "now_ms",
    "reindexing",
    "remove_call",
    "score_for",
    "trust_call",
]

Call = tuple[str, tuple[Any, ...]]
Op = Generator[list[Call], list[Any], Any]

INDEX_NAME = "index"
#: The member that says the index is complete (not a key: keys are never empty).
TRUST_MEMBER = ""
#: Members are pruned by score only this long after their expiry: clocks of the processes
#: writing a role may differ by up to this much without a live key being dropped.
PRUNE_MARGIN_MS = 60_000
#: Members deleted per round trip by a clear through the index.
CLEAR_BATCH = 1000
NO_EXPIRY_SCORE = "+inf"


def now_ms() -> int:
    return int(time.time() * 1000)


def index_key(keyspace: Keyspace) -> str:
    """The Redis key of the role's index.

    >>> index_key(Keyspace("weather"))
    '__roleredis__:{weather}:index'
    """
    return keyspace.internal_key(INDEX_NAME)


def score_for(seconds: int | None, now: int | None = None) -> int | str:
    """The score of a key written with a TTL of ``seconds`` (None: no expiry)."""
    if seconds is None:
        return NO_EXPIRY_SCORE
    return (now_ms() if now is None else now) + seconds * 1000


def add_call(keyspace: Keyspace, entries: Iterable[tuple[int | str, str]]) -> Call:
    """``ZADD <index> GT score member ...``: scores only ever go up (see the module doc)."""
    args: list[Any] = [index_key(keyspace), "GT"]
    for score, member in entries:
        args += (score, member)
    return ("zadd", tuple(args))


def remove_call(keyspace: Keyspace, members: Iterable[str]) -> Call:
    return ("zrem", (index_key(keyspace), *members))


def trust_call(keyspace: Keyspace) -> Call:
    """Mark the index complete (after reindex, or a clear that left the role empty)."""
    return ("zadd", (index_key(keyspace), NO_EXPIRY_SCORE, TRUST_MEMBER))


def _text(member: Any) -> str:
    return member.decode("utf-8", "surrogateescape") if isinstance(member, bytes) else member


def listing(keyspace: Keyspace, match: str, first: list[Call]) -> Op:
    """The role's keys matching the SCAN pattern ``match``, sorted, from a trusted index;
    None (after one round trip: ``first`` plus ZSCORE) if the index is not trusted."""
    idx = index_key(keyspace)
    replies = yield [*first, ("zscore", (idx, TRUST_MEMBER))]
    if replies[-1] is None:
        return None
    cutoff = now_ms() - PRUNE_MARGIN_MS
    _, members = yield [("zremrangebyscore", (idx, "-inf", f"({cutoff}")), ("zrange", (idx, 0, -1))]
    pattern = raw_key(match)
    prefix = keyspace.prefix
    wanted: list[str] = []
    for member in members:
        key = _text(member)
        if key != TRUST_MEMBER and glob_match(pattern, raw_key(prefix + key)):
            wanted.append(key)
    if not wanted:
        return []
    found = yield [("exists", (prefix + key,)) for key in wanted]
    live = [key for key, count in zip(wanted, found, strict=True) if int(count)]
    stale = [key for key, count in zip(wanted, found, strict=True) if not int(count)]
    if stale:
        # ZREM, then look again: a key written between the EXISTS and the ZREM (its ZADD
        # removed by this ZREM) is put back, so no existing key is left out of the index
        replies = yield [remove_call(keyspace, stale), *(("exists", (prefix + k,)) for k in stale)]
        back = [key for key, count in zip(stale, replies[1:], strict=True) if int(count)]
        if back:
            yield [add_call(keyspace, ((NO_EXPIRY_SCORE, key) for key in back))]
    return sorted(live)


def clearing(
    keyspace: Keyspace, first: list[Call], progress: Callable[[int], object] | None = None
) -> Op:
    """Delete every key in a trusted index (ZREM then UNLINK, CLEAR_BATCH at a time); how
    many were deleted, or None (after one round trip) if the index is not trusted."""
    idx = index_key(keyspace)
    window = ("zrange", (idx, 0, CLEAR_BATCH - 1))
    replies = yield [*first, ("zscore", (idx, TRUST_MEMBER)), ("zcard", (idx,)), window]
    if replies[-3] is None:
        return None
    # keys written while this runs are deleted too, within a bounded number of rounds
    rounds = int(replies[-2]) // CLEAR_BATCH + 2
    members = replies[-1]
    deleted = 0
    while rounds:
        rounds -= 1
        keys = [key for key in map(_text, members) if key != TRUST_MEMBER]
        if not keys:
            break
        replies = yield [
            remove_call(keyspace, keys),
            ("unlink", tuple(keyspace.prefix + key for key in keys)),
            window,
        ]
        deleted += int(replies[1])
        if progress is not None:
            progress(int(replies[1]))
        members = replies[2]
    return deleted


def reindexing(
    keyspace: Keyspace,
    scan: Callable[[int], Call],
    first: list[Call],
    progress: Callable[[int], object] | None = None,
) -> Op:
    """SCAN the role's namespace, index every key with its real expiry (PTTL), then mark the
    index trusted; returns how many keys were indexed. ``progress(n)`` after each SCAN step
    with how many keys it indexed."""
    prefix = keyspace.prefix
    indexed = 0
    replies = yield [*first, scan(0)]
    while True:
        cursor, batch = replies[-1]
        keys = [key for key in (keyspace.strip(full) for full in batch) if key != TRUST_MEMBER]
        calls: list[Call] = []
        if keys:
            now = now_ms()
            ttls = yield [("pttl", (prefix + key,)) for key in keys]
            entries = [
                (NO_EXPIRY_SCORE if int(ms) == -1 else now + int(ms), key)
                for key, ms in zip(keys, ttls, strict=True)
                if int(ms) != -2  # gone since the SCAN
            ]
            if entries:
                calls.append(add_call(keyspace, entries))
                indexed += len(entries)
        if progress is not None:
            progress(len(keys))
        if int(cursor) == 0:
            calls.append(trust_call(keyspace))
            yield calls
            return indexed
        calls.append(scan(int(cursor)))
        replies = yield calls
