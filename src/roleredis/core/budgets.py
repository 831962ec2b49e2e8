"""Shared rate budgets: requests, tokens and concurrency that every role and process listed on a
budget draws on together (docs/budgets.md). I/O-free generators like :mod:`roleredis.core.leases`.

Each step is one FCALL of the Redis Function library :data:`LIBRARY` (:data:`SOURCE`), on the
budget's keys (:func:`roleredis.foundation.budgets.budget_keys`, one Cluster slot), with the
server's clock (TIME, in microseconds, inside the function): the definition is read by the
function from the budget's ``def`` hash (an administrator writes it: ``roleredis budget set``),
so every process enforces the same limits whatever its own config file says.

- **take**: from the log of grants and debts in the window ``(now - period, now]`` (a sliding
  log, exact: a token bucket would allow twice the rate in a window), the requests and tokens
  of the window plus this one must fit the limits, a concurrency place must be free, and no
  earlier live waiter may be queued (waiters are served in arrival order). Granted: the grant
  is logged at ``now`` and ``now`` is returned. Refused: the earliest server time at which the
  window will have room (exact, from the oldest entries leaving it); if that is past the
  caller's timeout it fails at once, else the caller is queued and waits.
- **report**: the actual tokens of a grant. Fewer than the estimate: the grant's entry is
  lowered. More: the difference is logged as debt at the report's time (tokens spent cannot be
  refused; later takes wait for it to leave the window).
- **give back**: a concurrency place returned; a place is a lease: its holder renews it
  (:func:`renew_place`, by the process's keeper) and it expires if its holder dies.

>>> from roleredis.foundation.keys import Keyspace
>>> from roleredis.core.ops import Scope
>>> next(give_back(Scope(Keyspace("w")), "openai", "p1"))[0][1][:3]
('roleredis_budget_3_give_back', 1, '__roleredis__:budget:{openai}:holders')
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import random
import re
import secrets
import time
from typing import Any

from ..foundation.batch import Call, Pause
from ..foundation.budgets import Budget, budget_key, budget_keys, validate_budget_name
from ..foundation.errors import (
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RoleRedisError,
    TimeoutError,
)
from .budget_library import FUNCTIONS, LIBRARY, OLD_LIBRARIES, SOURCE
from .ops import Op, Scope

__all__ = [
    "LIBRARY",
    "OLD_LIBRARIES",
    "SOURCE",
    "GivenBack",
    "Reported",
    "Status",
    "Taken",
    "define",
    "give_back",
    "leave",
    "load_call",
    "renew_place",
    "report",
    "show",
    "status",
    "take",
]

_TAKE = FUNCTIONS["take"]
_REPORT = FUNCTIONS["report"]
_GIVE_BACK = FUNCTIONS["give_back"]
_RENEW = FUNCTIONS["renew"]
_LEAVE = FUNCTIONS["leave"]
_STATUS = FUNCTIONS["status"]

#: How long a waiter behind others (or for a concurrency place) sleeps between tries, at first
#: and at most (with jitter); a waiter for the window sleeps until the window has room.
FIRST_PAUSE = 0.001
LAST_PAUSE = 0.01
_ID = re.compile(r"[0-9a-f]{16}-(\d{1,12})")


@dataclasses.dataclass(frozen=True, slots=True)
class Taken:
    """A take granted: ``id`` (for :func:`report`), ``tokens`` (the estimate charged),
    ``granted_at`` (server time, seconds since the epoch, microsecond precision), ``waited``
    (seconds the caller waited), ``place`` (the concurrency place's token, or None) and its
    ``lease`` (seconds it lasts unless renewed), ``sent_at`` (the caller's monotonic clock
    when the granting call was sent)."""

    budget: str
    id: str
    tokens: int
    granted_at: float
    waited: float
    place: str | None
    lease: float
    sent_at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Reported:
    """``debt``: tokens charged beyond the estimate (0 when the estimate covered it), at
    ``at`` (server seconds)."""

    budget: str
    id: str
    actual: int
    debt: int
    at: float


@dataclasses.dataclass(frozen=True, slots=True)
class GivenBack:
    """``given_back`` False: the place had expired (its lease ran out) before."""

    budget: str
    given_back: bool
    at: float


@dataclasses.dataclass(frozen=True, slots=True)
class Status:
    """A budget's definition and its use in the current windows (server time ``now``)."""

    budget: Budget
    now: float
    requests: int
    tokens: int
    debt: int
    holders: int
    waiters: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget.name,
            **self.budget.describe(),
            "now": self.now,
            "requests": self.requests,
            "tokens_used": self.tokens,
            "debt": self.debt,
            "holders": self.holders,
            "waiters": self.waiters,
        }


def load_call() -> Call:
    """The call that loads (or replaces) the library (an administrator's)."""
    return ("function", ("LOAD", "REPLACE", SOURCE))


@functools.lru_cache(maxsize=256)
def _keys(name: str) -> tuple[str, ...]:
    """A take's keys: log, holders, queue, alive, sums (built once per budget name)."""
    return budget_keys(name)


def _fcall(scope: Scope, function: str, keys: tuple[str, ...], args: tuple[Any, ...]) -> Op[Any]:
    """FCALL ``function``; loads the library once if the server has not got it."""
    batch: list[Call] = [("fcall", (function, len(keys), *keys, *args))]
    try:
        return (yield batch)[0]
    except RoleRedisError as exc:
        text = str(exc).lower()
        if "unknown command 'fcall'" in text:
            raise ConfigError(
                "this server has no Redis Functions, which budgets need: Redis 7.0 or later "
                "(memory:// needs fakeredis's lua extra: pip install 'fakeredis[lua]') "
                f"({exc})"
            ) from exc
        if "function not found" not in text:
            raise
    try:
        yield [load_call()]
    except PermissionDeniedError as exc:
        raise PermissionDeniedError(
            f"the server has no roleredis budget functions ({LIBRARY}) and {scope.role}'s user "
            "may not load them: run `roleredis acl provision` (it loads them on every primary) "
            f"({exc})"
        ) from exc
    return (yield batch)[0]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _seconds(us: Any) -> float:
    return int(_text(us)) / 1_000_000


def _count(tokens: Any) -> int:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 0 <= tokens <= 10**12:
        raise InvalidArgumentError(
            f"tokens must be a whole number from 0 to 10**12, got {tokens!r}"
        )
    return tokens


def _timeout(timeout: Any) -> float:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 <= timeout <= 86_400
    ):
        raise InvalidArgumentError(f"timeout must be seconds from 0 to 86400, got {timeout!r}")
    return float(timeout)


def _undefined(name: str) -> NotFoundError:
    return NotFoundError(
        f"budget {name!r} is not defined on this server: define it in config.yaml's budgets "
        "section and run `roleredis budget set`"
    )


def take(scope: Scope, budget: str, tokens: int = 0, *, timeout: float = 0) -> Op[Taken]:
    """Draw one request and ``tokens`` (an estimate; :func:`report` the actual) on ``budget``,
    and a concurrency place if it has them, waiting up to ``timeout`` seconds for room:
    :class:`Taken`. A wait that the window shows cannot end in time fails at once with
    ``timeout``; behind other waiters or for a place, when the timeout is reached."""
    name = validate_budget_name(budget)
    need = _count(tokens)
    started = time.monotonic()
    deadline = started + _timeout(timeout)
    keys = _keys(name)
    token = secrets.token_hex(20)  # one draw for both
    grant, place = f"{token[:16]}-{need}", token[16:]
    pause = FIRST_PAUSE
    queued = 0
    try:
        while True:
            left = deadline - time.monotonic()
            sent_at = time.monotonic()
            got = yield from _fcall(
                scope,
                _TAKE,
                keys,
                (grant, need, place, max(0, int(left * 1000)) if timeout else -1),
            )
            code = int(got[0])
            if code == 1:
                held = _text(got[2]) or None
                return Taken(
                    name, grant, need, _seconds(got[1]), sent_at - started, held,
                    int(got[3]) / 1000, sent_at,
                )  # fmt: skip
            if code == -1:
                raise _undefined(name)
            if code == -2:
                raise InvalidArgumentError(
                    f"tokens={need} is more than budget {name!r} allows in a whole window "
                    f"({int(got[1])}): it could never be granted"
                )
            earliest, now, reason, queued = got[1], got[2], _text(got[3]), int(got[4])
            room = _seconds(earliest) - _seconds(now)
            left = deadline - time.monotonic()
            if not queued or left <= 0:
                raise TimeoutError(
                    f"budget {name!r} has no room within {timeout:g} s ({reason}: "
                    + (f"room in {room:.3f} s)" if room > 0 else "others first)")
                ).with_context(budget=name, retry_after=round(room, 3))
            if room > 0:
                sleep = room if reason in ("rate", "tokens") else min(room, pause)
            else:
                sleep = pause * random.uniform(0.5, 1.0)
                pause = min(pause * 2, LAST_PAUSE)
            yield Pause(min(sleep, left))
    except GeneratorExit:
        raise  # closed by its driver (interrupted): the queue forgets it once it goes stale
    except BaseException:
        if queued:  # a waiter that gives up (or fails) leaves the queue
            with contextlib.suppress(RoleRedisError):
                yield [("fcall", (_LEAVE, 2, keys[2], keys[3], grant))]
        raise


def report(scope: Scope, budget: str, id: str, actual: int) -> Op[Reported]:
    """The actual tokens of the grant ``id`` (from :func:`take`): fewer than its estimate
    lowers the grant; more charges the excess as debt now, which later takes wait for."""
    name = validate_budget_name(budget)
    match = _ID.fullmatch(id) if isinstance(id, str) else None
    if match is None:
        raise InvalidArgumentError(f"id must be the id redis_take returned, got {str(id)[:40]!r}")
    got = yield from _fcall(
        scope,
        _REPORT,
        _keys(name)[::4],  # log, sums
        (id, int(match.group(1)), _count(actual)),
    )
    return Reported(name, id, actual, int(got[1]), _seconds(got[0]))


def give_back(scope: Scope, budget: str, place: str) -> Op[GivenBack]:
    """Return the concurrency place ``place`` (from :func:`take`)."""
    name = validate_budget_name(budget)
    got = yield from _fcall(scope, _GIVE_BACK, (budget_key(name, "holders"),), (_place(place),))
    return GivenBack(name, bool(int(got[0])), _seconds(got[1]))


def renew_place(scope: Scope, budget: str, place: str) -> Op[bool]:
    """Renew the place for the budget's lease; False if it had expired."""
    name = validate_budget_name(budget)
    got = yield from _fcall(scope, _RENEW, (budget_key(name, "holders"),), (_place(place),))
    return bool(int(got))


def leave(scope: Scope, budget: str, id: str) -> Op[None]:
    keys = _keys(validate_budget_name(budget))
    yield from _fcall(scope, _LEAVE, keys[2:], (id,))


def _place(place: Any) -> str:
    if not isinstance(place, str) or not 0 < len(place) <= 64 or " " in place:
        raise InvalidArgumentError("place must be the place token redis_take returned")
    return place


def define(scope: Scope, budget: Budget) -> Op[Budget]:
    """Write ``budget``'s definition (an administrator's: listed roles only read it), and
    delete the running sums, which keep a copy of it: the next take reads the new one."""
    key = budget_key(budget.name, "def")
    fields = (x for kv in budget.as_hash().items() for x in kv)
    yield [
        ("unlink", (key,)),
        ("hset", (key, *fields)),
        ("unlink", (budget_key(budget.name, "sums"),)),
    ]
    return budget


def show(scope: Scope, budget: str) -> Op[Budget]:
    """The definition of ``budget`` as the server has it; not_found if it has none."""
    name = validate_budget_name(budget)
    (fields,) = yield [("hgetall", (budget_key(name, "def"),))]
    if not fields:
        raise _undefined(name)
    return Budget.from_hash(name, fields)


def status(scope: Scope, budget: str) -> Op[Status]:
    """``budget``'s definition and its use now: requests and tokens in the current windows,
    debt, holders, waiters."""
    found = yield from show(scope, budget)
    got = yield from _fcall(scope, _STATUS, _keys(found.name)[:4], ())
    now, req, tok, debt, holders, waiters = got
    return Status(found, _seconds(now), int(req), int(tok), int(debt), int(holders), int(waiters))
