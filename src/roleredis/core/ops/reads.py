"""The operations that read a role's keys, its own or (``from_role``) another role's that it
may read: :func:`read`, :func:`read_many`, :func:`exists`, :func:`remaining_ttl`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from ...foundation.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    SerializationError,
)
from ...foundation.ttl import NO_EXPIRY
from ..codec import plain_values
from .scope import Op, Scope, as_reader, granted, reading

__all__ = ["Entry", "ReadMany", "entry_of", "exists", "read", "read_many", "remaining_ttl"]


@dataclasses.dataclass(slots=True)
class Entry:
    """A value read back: ``ttl`` is the remaining seconds, -1 if the key never expires."""

    key: str
    full_key: str
    value: Any
    ttl: int


@dataclasses.dataclass(frozen=True, slots=True)
class ReadMany:
    values: dict[str, Any]
    missing: list[str]


def _remaining(ttl_reply: Any) -> int:
    ttl = int(ttl_reply)
    return NO_EXPIRY if ttl == -1 else max(ttl, 0)


def read(
    scope: Scope, key: str, *, from_role: str | None = None, touch: int | None = None
) -> Op[Entry]:
    """The value and remaining TTL of ``key``; raises NotFoundError if it is missing.

    ``from_role``: read that role's ``key`` instead, as this role (a granted read).
    ``touch``: renew the key's TTL to ``touch`` seconds (the TTL policy applies: max_ttl
    caps it) in the same round trip (GETEX ... EX); refused with ``from_role`` (a granted
    reader may not write).

    >>> from roleredis.core.ops import Scope, read
    >>> from roleredis.foundation.keys import Keyspace
    >>> next(read(Scope(Keyspace("w")), "k", touch=60))
    [('getex', ('w:k', 'EX', 60)), ('ttl', ('w:k',))]
    """
    get: tuple[str, tuple[Any, ...]]
    if touch is not None:
        if from_role is not None and from_role != scope.role:
            raise PermissionDeniedError(
                f"touch renews the key's TTL, a write: a read of {from_role}'s keys may not "
                "touch them (a granted reader may only read)"
            )
        seconds, _ = scope.ttl(touch)
        if seconds is None or touch == NO_EXPIRY:
            raise InvalidArgumentError(
                f"touch must be a positive whole number of seconds, got {touch!r}"
            )
    if from_role is not None:
        scope = reading(scope, from_role)
    full = scope.keyspace.full_key(key)
    get = ("get", (full,)) if touch is None else ("getex", (full, "EX", seconds))
    if scope.reader is None:  # the role's own key (most reads): nothing granted to check
        data, ttl = yield [get, ("ttl", (full,))]
    else:
        granted(scope, (key,))
        data, ttl = yield from as_reader(scope, [key], [get, ("ttl", (full,))])
    return entry_of(scope, key, full, data, ttl)


def entry_of(scope: Scope, key: str, full: str, data: Any, ttl: Any) -> Entry:
    """The reply step of :func:`read`: the :class:`Entry` of ``key`` (stored as ``full``) from
    the replies of its GET and TTL; NotFoundError if it is missing. Shared with the sync
    call's lane (:mod:`roleredis.table.synclane`)."""
    if data is None:
        raise NotFoundError(f"key {key!r} not found for role {scope.role!r}")
    return Entry(key, full, _decode(scope, data, full), _remaining(ttl))


def _decode(scope: Scope, data: Any, full_key: str) -> Any:
    if type(data) is not bytes and isinstance(data, str):  # decode_responses=True
        data = data.encode("utf-8")
    try:
        # what a sealed value is bound to differs from the key only under hash tags
        binding = scope.binding(full_key) if scope.keyspace.hash_tag else full_key
        return scope.codec.decode(data, binding)
    except SerializationError as exc:
        raise SerializationError(f"{full_key!r}: {exc}") from None


def remaining_ttl(scope: Scope, key: str) -> Op[int]:
    """Seconds ``key`` has left, -1 if it never expires; NotFoundError if it is missing."""
    full = scope.keyspace.full_key(key)
    (remaining,) = yield [("ttl", (full,))]
    if int(remaining) == -2:
        raise NotFoundError(f"key {key!r} not found for role {scope.role!r}")
    return int(remaining)


def exists(scope: Scope, key: str, *, from_role: str | None = None) -> Op[bool]:
    """Whether ``key`` exists (``from_role``: that role's ``key``, a granted read)."""
    scope = reading(scope, from_role)
    full = scope.keyspace.full_key(key)
    granted(scope, (key,))
    (count,) = yield from as_reader(scope, [key], [("exists", (full,))])
    return bool(count)


def read_many(scope: Scope, keys: Iterable[str], *, from_role: str | None = None) -> Op[ReadMany]:
    """Read ``keys`` with one MGET; missing keys are listed in ``missing``, not errors.

    ``from_role``: that role's keys (a granted read: all of them must be granted).
    """
    scope = reading(scope, from_role)
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        raise InvalidArgumentError(
            f"keys must be a list of str, got {type(keys).__name__}"
            + (" (wrap a single key in a list)" if isinstance(keys, str) else "")
        )
    wanted = list(dict.fromkeys(keys))
    fulls = scope.keyspace.full_keys(wanted)
    if not fulls:
        return ReadMany({}, [])
    if scope.reader is None:  # the role's own keys: nothing granted to check
        (datas,) = yield [("mget", (fulls,))]
    else:
        granted(scope, wanted)
        (datas,) = yield from as_reader(scope, wanted, [("mget", (fulls,))])
    values: dict[str, Any] = {}
    missing: list[str] = []
    # plain JSON or text (most reads): checked once for all of them; what a hash tag changes
    # is only what a sealed value (an envelope) is bound to
    plain = plain_values(datas)
    if plain is not None:
        for key, data, value in zip(wanted, datas, plain, strict=True):
            if data is None:
                missing.append(key)
            else:
                values[key] = value
        return ReadMany(values, missing)
    # _decode's steps, inline for the common case (bytes, no hash tag): once per key
    decode = scope.codec.decode
    tagged = scope.keyspace.hash_tag
    for key, full, data in zip(wanted, fulls, datas, strict=True):
        if data is None:
            missing.append(key)
        elif tagged or type(data) is not bytes:
            values[key] = _decode(scope, data, full)
        else:
            try:
                values[key] = decode(data, full)
            except SerializationError as exc:
                raise SerializationError(f"{full!r}: {exc}") from None
    return ReadMany(values, missing)
