"""Shared rate budgets, as defined: the ``budgets:`` section of config.yaml, parsed and checked,
and a budget's keys. I/O-free; :mod:`roleredis.core.budgets` enforces them on the server.

A budget is no role's: its keys are an internal family of their own,
``__roleredis__:budget:{<name>}:<part>`` (one Cluster slot per budget), which no role's ACL
patterns match (a role's are ``__roleredis__:{<role>}:*``, and every selector over other
roles' keys starts ``__roleredis__:{``). ``roleredis acl provision`` grants a listed role
these keys, and nothing of a budget it is not listed for::

    budgets:
      openai:
        rate: 500/min          # requests per period (N/s, N/min, N/h, or N/<seconds>s)
        tokens: 90000/min      # units per period (what take(tokens=) and report() count)
        concurrency: 8         # holders at once (a place is a lease: it expires if its holder dies)
        lease: 30              # seconds a place lasts unless renewed (its holder renews it)
        roles: [planner, worker]

>>> section = parse({"openai": {"rate": "100/s", "tokens": "5000/s", "roles": ["a"]}}, "x")
>>> section["openai"].rate, section["openai"].tokens
(Limit(amount=100, period_ms=1000), Limit(amount=5000, period_ms=1000))
>>> budget_key("openai", "log")
'__roleredis__:budget:{openai}:log'
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError, InvalidArgumentError
from .keys import INTERNAL_PREFIX, escape_glob, validate_role

__all__ = [
    "DEFAULT_LEASE",
    "PARTS",
    "Budget",
    "Limit",
    "budget_key",
    "budget_keys",
    "budget_pattern",
    "parse",
    "parse_budget",
    "parse_limit",
    "validate_budget_name",
]

#: The keys of a budget: its definition (a hash), its log of grants and debts (a sorted set,
#: score = server ms), its holders (token -> expiry ms), its waiters (id -> arrival ms) and
#: their liveness (id -> ms until which the waiter is taken as alive), and the running sums of
#: the log's windows (a hash the functions keep: see :mod:`roleredis.core.budget_library`).
PARTS = ("def", "log", "holders", "queue", "alive", "sums")
#: The seconds a concurrency place lasts unless its holder renews it.
DEFAULT_LEASE = 30.0
_UNITS = {"s": 1000, "sec": 1000, "second": 1000, "min": 60_000, "minute": 60_000, "h": 3_600_000}
_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(?:(\d+(?:\.\d+)?)\s*)?([a-z]+)\s*")
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_FIELDS = ("rate", "tokens", "concurrency", "lease", "roles")


def validate_budget_name(name: Any) -> str:
    """A budget's name: the topic rule (1-64 of ``[A-Za-z0-9_.-]``): it is part of keys that
    ACL patterns are written against, so no ``:``, braces or glob characters.

    >>> validate_budget_name("openai")
    'openai'
    """
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        raise InvalidArgumentError(
            f"invalid budget name {str(name)[:80]!r}: use 1-64 characters of A-Z a-z 0-9 _ . -"
        )
    return name


def budget_key(name: str, part: str) -> str:
    """The key of ``part`` (one of :data:`PARTS`) of budget ``name``."""
    return f"{INTERNAL_PREFIX}budget:{{{validate_budget_name(name)}}}:{part}"


def budget_keys(name: str) -> tuple[str, ...]:
    """The keys a take sends with FCALL (the definition is read by the function, not sent)."""
    return tuple(budget_key(name, part) for part in PARTS[1:])


def budget_pattern(name: str, part: str = "*") -> str:
    """The ACL pattern of a budget's keys (``part`` * for all)."""
    return escape_glob(f"{INTERNAL_PREFIX}budget:{{{validate_budget_name(name)}}}:") + part


@dataclasses.dataclass(frozen=True, slots=True)
class Limit:
    """``amount`` per ``period_ms`` milliseconds (a sliding window of that length)."""

    amount: int
    period_ms: int

    def __str__(self) -> str:
        for unit, ms in (("h", 3_600_000), ("min", 60_000), ("s", 1000)):
            if self.period_ms == ms:
                return f"{self.amount}/{unit}"
        return f"{self.amount}/{self.period_ms / 1000:g}s"


def parse_limit(value: Any, where: str) -> Limit:
    """``"100/s"``, ``"90000/min"``, ``"10/30s"`` (N per 30 s) or ``{"amount": N, "per": S}``.

    >>> parse_limit("10/30s", "x")
    Limit(amount=10, period_ms=30000)
    """
    if isinstance(value, Mapping) and set(value) == {"amount", "per"}:
        value = f"{value['amount']}/{value['per']}s"
    match = _LIMIT.fullmatch(value) if isinstance(value, str) else None
    unit = _UNITS.get(match.group(3)) if match else None
    if match is None or unit is None:
        raise ConfigError(
            f"{where} must be a limit like 100/s, 500/min, 1000/h or 10/30s, got {value!r}"
        )
    amount, count = int(match.group(1)), float(match.group(2) or 1)
    period_ms = round(count * unit)
    if amount < 1 or not 1 <= period_ms <= 86_400_000:
        raise ConfigError(f"{where}: the amount must be >= 1 and the period 1 ms to 24 h")
    return Limit(amount, period_ms)


@dataclasses.dataclass(frozen=True, slots=True)
class Budget:
    """One budget: its limits (None: not limited), its concurrency places (0: none), the
    seconds a place lasts unless renewed, and the roles that may draw on it."""

    name: str
    rate: Limit | None = None
    tokens: Limit | None = None
    concurrency: int = 0
    lease: float = DEFAULT_LEASE
    roles: tuple[str, ...] = ()

    def as_hash(self) -> dict[str, str]:
        """The definition as the server keeps it (the ``def`` hash the functions read)."""
        fields = {"concurrency": str(self.concurrency), "lease_ms": str(round(self.lease * 1000))}
        if self.rate is not None:
            fields |= {"rate": str(self.rate.amount), "rate_ms": str(self.rate.period_ms)}
        if self.tokens is not None:
            fields |= {"tokens": str(self.tokens.amount), "tokens_ms": str(self.tokens.period_ms)}
        fields["roles"] = ",".join(self.roles)
        return fields

    @classmethod
    def from_hash(cls, name: str, fields: Mapping[Any, Any]) -> Budget:
        got = {_text(k): _text(v) for k, v in fields.items()}

        def limit(amount: str, period: str) -> Limit | None:
            if amount not in got:
                return None
            return Limit(int(got[amount]), int(got[period]))

        return cls(
            name,
            limit("rate", "rate_ms"),
            limit("tokens", "tokens_ms"),
            int(got.get("concurrency", 0)),
            int(got.get("lease_ms", DEFAULT_LEASE * 1000)) / 1000,
            tuple(r for r in got.get("roles", "").split(",") if r),
        )

    def describe(self) -> dict[str, Any]:
        return {
            "rate": str(self.rate) if self.rate else None,
            "tokens": str(self.tokens) if self.tokens else None,
            "concurrency": self.concurrency or None,
            "lease": self.lease,
            "roles": list(self.roles),
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_budget(name: str, raw: Any, where: str) -> Budget:
    """One budget's mapping, checked; ConfigError naming the setting otherwise."""
    where = f"budgets.{name} in {where}"
    try:
        validate_budget_name(name)
    except InvalidArgumentError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping (rate, tokens, concurrency, lease, roles)")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown field {unknown[0]!r} (use {', '.join(_FIELDS)})")
    rate = parse_limit(raw["rate"], f"{where}.rate") if raw.get("rate") is not None else None
    tokens = (
        parse_limit(raw["tokens"], f"{where}.tokens") if raw.get("tokens") is not None else None
    )
    concurrency = raw.get("concurrency") or 0
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 0:
        raise ConfigError(f"{where}.concurrency must be a whole number >= 0, got {concurrency!r}")
    lease = raw.get("lease", DEFAULT_LEASE)
    if (
        isinstance(lease, bool)
        or not isinstance(lease, int | float)
        or not math.isfinite(lease)
        or not 0.1 <= lease <= 86_400
    ):
        raise ConfigError(f"{where}.lease must be seconds from 0.1 to 86400, got {lease!r}")
    if rate is None and tokens is None and not concurrency:
        raise ConfigError(f"{where} limits nothing: give rate, tokens or concurrency")
    roles = raw.get("roles")
    if not isinstance(roles, list) or not roles:
        raise ConfigError(f"{where}.roles must be a list of the roles that may draw on it")
    try:
        checked = tuple(dict.fromkeys(validate_role(r) for r in roles))
    except InvalidArgumentError as exc:
        raise ConfigError(f"{where}.roles: {exc}") from None
    return Budget(name, rate, tokens, concurrency, float(lease), checked)


def parse(section: Any, where: str) -> dict[str, Budget]:
    """The ``budgets:`` section: name -> :class:`Budget`."""
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"budgets in {where} must be a mapping of budget names")
    return {str(name): parse_budget(str(name), raw, where) for name, raw in section.items()}
