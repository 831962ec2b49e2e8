"""Leases: one holder of a name within a role at a time, and a fence that grows with every grant.

Each of :func:`acquire`, :func:`renew` and :func:`release` is one atomic step on the server: a
function of the Redis Function library :data:`LIBRARY` (:data:`SOURCE`), called with FCALL,
never EVAL. Its keys come only through FCALL's key list, both in the role's slot:

- the lease, ``__roleredis__:{role}:lease:<name>``: a string ``<token> <fence>`` while the
  lease is held, which the server expires with the lease (``SET ... PX ttl``), so a holder
  that dies blocks the others for at most its ttl;
- the role's fence counters, ``__roleredis__:{role}:fences``: a hash of lease name -> the
  last fence granted, which never expires (the lease key's expiry must not reset a fence).

A grant is ``HINCRBY`` of the name's counter and ``SET`` of the lease with the new fence, in
the function: fences never repeat while the server keeps its data. A role's ACL user may call
FCALL (and the commands the functions run, on its own keys: the server checks both), never
EVAL nor FUNCTION LOAD: an administrator loads the library (``roleredis acl provision``);
the library loads it itself when FCALL answers that it is missing and the user may (a server
without ACL users). WAIT is refused inside functions, so ``replicas`` (default
async.wait_replicas) sends WAIT after the FCALL, in the same round trip.

>>> from roleredis.foundation.keys import Keyspace
>>> from roleredis.core.ops import Scope
>>> op = release(Scope(Keyspace("w")), "nightly", "t0ken")
>>> next(op)
[('fcall', ('roleredis_lease_1_release', 1, '__roleredis__:{w}:lease:nightly', 't0ken'))]
"""

from __future__ import annotations

import dataclasses
import math
import random
import secrets
import time
from typing import Any

from ..foundation.batch import Call, Pause
from ..foundation.errors import (
    ConfigError,
    HeldError,
    InvalidArgumentError,
    LostError,
    PermissionDeniedError,
    RoleRedisError,
    TimeoutError,
)
from .ops import Op, Scope
from .ops.writes import replica_count, wait_call

__all__ = [
    "FUNCTIONS",
    "LIBRARY",
    "MAX_TTL",
    "MIN_TTL",
    "SOURCE",
    "Granted",
    "Released",
    "Renewed",
    "acquire",
    "load_call",
    "release",
    "renew",
    "ttl_ms",
]

#: The version of the functions' behaviour: a new one is a new library beside the old (its
#: own function names), so processes of two versions each call their own during an upgrade.
VERSION = 1
LIBRARY = f"roleredis_lease_{VERSION}"
_ACQUIRE = f"{LIBRARY}_acquire"
_RENEW = f"{LIBRARY}_renew"
_RELEASE = f"{LIBRARY}_release"
FUNCTIONS = (_ACQUIRE, _RENEW, _RELEASE)

SOURCE = f"""#!lua name={LIBRARY}
-- roleredis leases (see roleredis/core/leases.py). KEYS[1]: the lease, "<token> <fence>",
-- expiring with the lease; KEYS[2]: the role's fence counters (a hash that never expires).

local function parts(value)
  local at = string.find(value, ' ', 1, true)
  if not at then return nil, nil end
  return string.sub(value, 1, at - 1), tonumber(string.sub(value, at + 1))
end

-- ARGV: name, token, ttl ms. {{1, fence}}: granted (or granted before to this token: a retried
-- acquire keeps its grant); {{0, ms its holder has left (-1: none set)}}: held by another.
redis.register_function('{_ACQUIRE}', function(keys, args)
  local value = redis.call('GET', keys[1])
  if value then
    local token, fence = parts(value)
    if token ~= args[2] or not fence then
      return {{0, redis.call('PTTL', keys[1])}}
    end
    redis.call('SET', keys[1], value, 'PX', args[3])
    return {{1, fence}}
  end
  local fence = redis.call('HINCRBY', keys[2], args[1], 1)
  redis.call('SET', keys[1], args[2] .. ' ' .. fence, 'PX', args[3])
  return {{1, fence}}
end)

-- ARGV: token, ttl ms. {{1, fence}}: renewed; {{0}}: not this token's (expired, released, taken).
redis.register_function('{_RENEW}', function(keys, args)
  local value = redis.call('GET', keys[1])
  if value then
    local token, fence = parts(value)
    if token == args[1] and fence then
      redis.call('SET', keys[1], value, 'PX', args[2])
      return {{1, fence}}
    end
  end
  return {{0}}
end)

-- ARGV: token. 1: released; 0: not this token's.
redis.register_function('{_RELEASE}', function(keys, args)
  local value = redis.call('GET', keys[1])
  if value then
    local token = parts(value)
    if token == args[1] then
      redis.call('DEL', keys[1])
      return 1
    end
  end
  return 0
end)
"""

#: The shortest and longest lease, seconds.
MIN_TTL = 0.01
MAX_TTL = 7 * 24 * 3600.0
#: How long a waiting acquire sleeps between tries, at first and at most (with jitter).
FIRST_PAUSE = 0.01
LAST_PAUSE = 0.25
#: Tokens are random hex of this many bytes (the holder's proof; never logged).
_TOKEN_BYTES = 16


@dataclasses.dataclass(frozen=True, slots=True)
class Granted:
    """A lease granted: ``token`` proves the holder (for renew and release), ``fence`` grows
    with every grant of the name, ``ttl`` the seconds it lasts unless renewed, ``sent_at``
    the caller's monotonic clock when the granting call was sent (the lease is valid until
    ``sent_at + ttl`` at least)."""

    name: str
    token: str
    fence: int
    ttl: float
    full_key: str
    sent_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Renewed:
    name: str
    fence: int
    ttl: float


@dataclasses.dataclass(frozen=True, slots=True)
class Released:
    """``released`` False: the token no longer held the lease (expired, or taken since)."""

    name: str
    released: bool


def ttl_ms(ttl: Any, what: str = "ttl") -> int:
    """``ttl`` (seconds, int or float, MIN_TTL..MAX_TTL) in milliseconds; invalid_argument
    otherwise.

    >>> ttl_ms(30), ttl_ms(0.5)
    (30000, 500)
    """
    if (
        isinstance(ttl, bool)
        or not isinstance(ttl, int | float)
        or not math.isfinite(ttl)
        or not MIN_TTL <= ttl <= MAX_TTL
    ):
        raise InvalidArgumentError(
            f"{what} must be seconds from {MIN_TTL:g} to {MAX_TTL:g} (a lease always expires), "
            f"got {ttl!r}"
        )
    return max(1, round(ttl * 1000))


def _seconds(ms: int) -> float:
    """``ms`` in seconds, a whole number when it is one (``ttl`` 10 comes back as 10)."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


def _wait(wait: Any) -> float:
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= MAX_TTL:
        raise InvalidArgumentError(f"wait must be seconds >= 0 (0: do not wait), got {wait!r}")
    return float(wait)


def _token(token: Any) -> str:
    if not isinstance(token, str) or not 0 < len(token) <= 128 or " " in token:
        raise InvalidArgumentError(
            "token must be the str redis_acquire returned (1-128 characters, no space), got "
            + (f"a {type(token).__name__}" if not isinstance(token, str) else f"{len(token)} chars")
        )
    return token


def load_call() -> Call:
    """The call that loads (or replaces) the library: an administrator's, or a user's that may
    (a Cluster sends it to every primary)."""
    return ("function", ("LOAD", "REPLACE", SOURCE))


def _missing(exc: RoleRedisError) -> bool:
    """Whether FCALL failed because the server has no such function (Redis says "Function not
    found"; a new server, a FLUSHALL ... FUNCTION FLUSH, or a replaced node)."""
    return "function not found" in str(exc).lower()


def _no_functions(exc: RoleRedisError) -> bool:
    """Whether the server does not know FCALL at all (before Redis 7.0; fakeredis without lupa)."""
    return "unknown command 'fcall'" in str(exc).lower()


def _fcall(
    scope: Scope, function: str, keys: tuple[str, ...], args: tuple[Any, ...], replicas: int
) -> Op[list[Any]]:
    """FCALL ``function`` (WAIT after it for ``replicas``); loads the library once if the
    server has not got it."""
    batch: list[Call] = [
        ("fcall", (function, len(keys), *keys, *args)),
        *wait_call(scope, replicas),
    ]
    try:
        return (yield batch)
    except RoleRedisError as exc:
        if _no_functions(exc):
            raise ConfigError(
                "this server has no Redis Functions, which leases need: Redis 7.0 or later "
                "(the embedded memory:// backend needs fakeredis's lua extra: pip install "
                f"'fakeredis[lua]') ({exc})"
            ) from exc
        if not _missing(exc):
            raise
    try:
        yield [load_call()]
    except PermissionDeniedError as exc:
        raise PermissionDeniedError(
            f"the server has no roleredis lease functions ({LIBRARY}) and {scope.role}'s user "
            "may not load them (FUNCTION LOAD is an administrator's): run `roleredis acl "
            f"provision {scope.role}` (it loads them on every primary) ({exc})"
        ) from exc
    return (yield batch)


def _replicas(scope: Scope, replicas: Any) -> int:
    return scope.wait_replicas if replicas is None else replica_count(replicas)


def _short(scope: Scope, replies: list[Any], replicas: int) -> int | None:
    """How many replicas WAIT counted, if fewer than ``replicas``; else None."""
    if not replicas:
        return None
    reached = int(replies[-1])
    return reached if reached < replicas else None


def acquire(
    scope: Scope, name: str, ttl: float, *, wait: float = 0, replicas: int | None = None
) -> Op[Granted]:
    """Take the lease ``name`` of the role for ``ttl`` seconds: :class:`Granted` (its token
    and fence), or, if another holds it still after ``wait`` seconds of trying,
    :class:`~roleredis.foundation.errors.HeldError` (``held``, with ``retry_after``).

    ``replicas`` (default async.wait_replicas): a grant that fewer replicas confirmed within
    async.wait_timeout is released again and fails with ``timeout`` (a failover could lose
    its fence).
    """
    key = scope.keyspace.lease(name)
    fences = scope.keyspace.fences()
    ms = ttl_ms(ttl)
    deadline = time.monotonic() + _wait(wait)
    count = _replicas(scope, replicas)
    token = secrets.token_hex(_TOKEN_BYTES)
    pause = FIRST_PAUSE
    while True:
        sent_at = time.monotonic()
        replies = yield from _fcall(scope, _ACQUIRE, (key, fences), (name, token, ms), count)
        got = replies[0]
        if int(got[0]):
            short = _short(scope, replies, count)
            if short is not None:
                yield [("fcall", (_RELEASE, 1, key, token))]
                raise TimeoutError(
                    f"lease {name!r} was granted on the primary but only {short} of {count} "
                    f"replicas confirmed it within async.wait_timeout ({scope.wait_timeout:g} "
                    "s): released again (a failover could have lost its fence); try again, or "
                    "check the replicas (INFO replication)"
                )
            return Granted(name, token, int(got[1]), _seconds(ms), key, sent_at)
        left = int(got[1])
        now = time.monotonic()
        if now >= deadline:
            after = round(left / 1000, 3) if left >= 0 else None
            raise HeldError(
                f"lease {name!r} of role {scope.role} is held by another holder"
                + (f" for {after:g} s more unless it renews" if after is not None else ""),
                name=name,
                retry_after=after,
            )
        yield Pause(min(pause * random.uniform(0.5, 1.0), deadline - now))
        pause = min(pause * 2, LAST_PAUSE)


def renew(
    scope: Scope, name: str, token: str, ttl: float, *, replicas: int | None = None
) -> Op[Renewed]:
    """Extend the lease ``name`` held with ``token`` to ``ttl`` seconds from now;
    :class:`~roleredis.foundation.errors.LostError` (``lost``) if the token no longer holds
    it (it expired, was released, or another holder took it since). ``replicas``: as for
    :func:`acquire` (fewer is ``timeout``; the renewal may be tried again)."""
    key = scope.keyspace.lease(name)
    ms = ttl_ms(ttl)
    count = _replicas(scope, replicas)
    replies = yield from _fcall(scope, _RENEW, (key,), (_token(token), ms), count)
    got = replies[0]
    if not int(got[0]):
        raise LostError(
            f"lease {name!r} of role {scope.role} is no longer held with this token: it "
            "expired (a renewal failed or came too late), was released, or another holder "
            "took it"
        )
    short = _short(scope, replies, count)
    if short is not None:
        raise TimeoutError(
            f"the renewal of lease {name!r} reached only {short} of {count} replicas within "
            f"async.wait_timeout ({scope.wait_timeout:g} s)"
        )
    return Renewed(name, int(got[1]), _seconds(ms))


def release(scope: Scope, name: str, token: str) -> Op[Released]:
    """Give the lease ``name`` up if ``token`` still holds it (``released`` says whether it
    did: a lease that expired or was taken since is left to its holder)."""
    key = scope.keyspace.lease(name)
    replies = yield from _fcall(scope, _RELEASE, (key,), (_token(token),), 0)
    return Released(name, bool(int(replies[0])))
