"""Granted reads between roles, checked in the library: the ``sharing:`` section of config.yaml.

With ACL users (``roleredis acl grant READER --read OWNER:PATTERN``) the server decides what a
role may read of another's. Without them, an optional top-level section of config.yaml applies
the same grants in the library, so that a role reading what it was not granted fails in
development as it would in production::

    sharing:
      beta:                       # the reader
        read: ["alpha:shared:*"]  # OWNER:PATTERN, a glob on OWNER's keys (as Redis matches)

It is not a security boundary: any process can read the file, change it, or talk to Redis
directly. It catches mistakes. With no section at all (and no ACL users), reads with
``from_role`` are allowed.

A pattern is a glob over the owner's key as the owner names it (``shared:x``), with Redis's
own rules (:func:`roleredis.foundation.glob.glob_match`); an ACL grant is the same glob after the
owner's prefix (``%R~alpha:shared:*``). Everything here is I/O-free.

>>> policy = parse({"beta": {"read": ["alpha:shared:*"]}}, "sharing")
>>> policy.patterns("beta", "alpha")
('shared:*',)
>>> policy.allows("beta", "alpha", "shared:x"), policy.allows("beta", "alpha", "private")
(True, False)
"""

from __future__ import annotations

import dataclasses
import os.path
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ConfigError, InvalidArgumentError
from .glob import glob_match
from .keys import escape_glob, raw_key, validate_role

__all__ = [
    "Grant",
    "Sharing",
    "acl_refusal",
    "allows",
    "configured",
    "matches",
    "parse",
    "parse_grant",
    "refusal",
    "validate_pattern",
]

#: What a pattern may not hold: whitespace splits ACL rules, parentheses open selectors, and a
#: control character (NUL and the rest) is no part of a key name anyone types.
_FORBIDDEN = re.compile(r"[\s()\x00-\x1f\x7f-\x9f]")


def validate_pattern(pattern: Any) -> str:
    """Return ``pattern`` if it may follow an owner's prefix in a grant, else raise
    :class:`InvalidArgumentError` saying what is wrong.

    >>> validate_pattern("shared:*")
    'shared:*'
    """
    if not isinstance(pattern, str):
        raise InvalidArgumentError(f"pattern must be a str, got {type(pattern).__name__}")
    if not pattern:
        raise InvalidArgumentError("the pattern is empty; use '*' for every key of the owner")
    bad = _FORBIDDEN.search(pattern)
    if bad is not None:
        char = bad.group()
        if char.isspace():
            what = "whitespace"
        elif char.isprintable():
            what = repr(char)
        else:
            what = f"a control character (U+{ord(char):04X})"
        raise InvalidArgumentError(
            f"pattern {pattern[:80]!r} holds {what}, which an ACL rule cannot carry; "
            "use a glob without spaces, parentheses or control characters"
        )
    return pattern


@dataclasses.dataclass(frozen=True, slots=True)
class Grant:
    """``reader`` may read ``owner``'s keys matching ``pattern`` (without the owner's prefix)."""

    reader: str
    owner: str
    pattern: str

    def __str__(self) -> str:
        return f"{self.owner}:{self.pattern}"


def parse_grant(text: Any, reader: str) -> Grant:
    """``OWNER:PATTERN`` as given on the command line or in the sharing section.

    >>> parse_grant("alpha:shared:*", "beta")
    Grant(reader='beta', owner='alpha', pattern='shared:*')
    """
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"a grant must be a str OWNER:PATTERN, got {type(text).__name__}"
        )
    owner, colon, pattern = text.partition(":")
    if not colon:
        raise InvalidArgumentError(
            f"grant {text[:80]!r} has no ':': write OWNER:PATTERN, e.g. alpha:shared:*"
        )
    return Grant(validate_role(reader), validate_role(owner), validate_pattern(pattern))


@dataclasses.dataclass(frozen=True, slots=True)
class Sharing:
    """The grants of a sharing section."""

    grants: tuple[Grant, ...] = ()

    def patterns(self, reader: str, owner: str) -> tuple[str, ...]:
        """The patterns ``reader`` holds on ``owner``'s keys (empty: none)."""
        return tuple(g.pattern for g in self.grants if g.reader == reader and g.owner == owner)

    def allows(self, reader: str, owner: str, key: str) -> bool:
        """Whether ``reader`` may read ``owner``'s ``key`` (a role may read its own)."""
        return reader == owner or matches(self.patterns(reader, owner), key)


def matches(patterns: Iterable[str], key: str) -> bool:
    """Whether ``key`` matches one of ``patterns`` (Redis's glob rules).

    >>> matches(["shared:*", "public"], "shared:1"), matches(["s?"], "sxy")
    (True, False)
    """
    data = raw_key(key)
    return any(glob_match(raw_key(pattern), data) for pattern in patterns)


def parse(section: Any, where: str) -> Sharing:
    """The sharing section ``section`` (reader -> ``{read: [OWNER:PATTERN, ...]}``), checked;
    :class:`ConfigError` names the entry that is wrong (``where``: the file, for messages)."""
    if section is None:
        return Sharing()
    if not isinstance(section, Mapping):
        raise ConfigError(
            f"{where}: 'sharing' must map each reader role to {{read: [OWNER:PATTERN, ...]}}"
        )
    grants: list[Grant] = []
    for reader, entry in section.items():
        at = f"{where}: sharing.{reader}"
        try:
            validate_role(reader)
        except InvalidArgumentError as exc:
            raise ConfigError(f"{at}: {exc}") from None
        if entry is None:
            continue
        if not isinstance(entry, Mapping) or set(entry) - {"read"}:
            raise ConfigError(f"{at}: write {{read: [OWNER:PATTERN, ...]}} (only 'read' is known)")
        reads = entry.get("read") or []
        if isinstance(reads, str) or not isinstance(reads, list):
            raise ConfigError(f"{at}.read: must be a list of OWNER:PATTERN, got {reads!r}")
        for i, text in enumerate(reads):
            try:
                grants.append(parse_grant(text, reader))
            except InvalidArgumentError as exc:
                raise ConfigError(f"{at}.read[{i}] ({text!r}): {exc}") from None
    return Sharing(tuple(grants))


def configured(settings: Any) -> bool:
    """Whether ``settings`` (a :class:`~roleredis.foundation.config.Settings`) have a sharing
    section.

    >>> from roleredis.foundation.config import Settings
    >>> configured(Settings()), configured(Settings(sharing={"beta": {"read": ["alpha:*"]}}))
    (False, True)
    """
    return getattr(settings, "sharing", None) is not None


def allows(settings: Any, reader: str, owner: str, key: str) -> bool:
    """Whether the sharing section of ``settings`` lets ``reader`` read ``owner``'s ``key``;
    True when there is no section (nothing is checked in the library then).

    >>> from roleredis.foundation.config import Settings
    >>> s = Settings(sharing={"beta": {"read": ["alpha:shared:*"]}})
    >>> allows(s, "beta", "alpha", "shared:1"), allows(s, "beta", "alpha", "x")
    (True, False)
    """
    policy: Sharing | None = getattr(settings, "sharing", None)
    return policy is None or policy.allows(reader, owner, key)


def refusal(reader: str, owner: str, key: str | None = None) -> str:
    """The message of a read the sharing section does not grant (``key`` None: a listing)."""
    what = f"{owner}'s key {key!r}" if key is not None else f"any key of {owner}"
    example = f"{owner}:{key}" if key is not None else f"{owner}:*"
    return (
        f"role {reader!r} has no grant to read {what}: add {example!r} (or a pattern that "
        f"matches it) to sharing: {reader}: read: in config.yaml"
    )


def acl_refusal(reader: str, owner: str, keys: Iterable[str], detail: str) -> str:
    """The message of a granted read the server's ACL refused (``detail``: the server's
    refusal): which grant is missing and the command that adds it.

    >>> print(acl_refusal("beta", "alpha", ["report"], "NOPERM ...").split(": ", 1)[1][:64])
    an admin can allow it with `roleredis acl grant beta --read alph
    """
    wanted = list(keys)
    if len(wanted) == 1:
        what, pattern = f"key {wanted[0]!r} of role {owner!r}", escape_glob(wanted[0])
    else:
        shown = ", ".join(repr(k) for k in wanted[:3]) + (", ..." if len(wanted) > 3 else "")
        prefix = os.path.commonprefix(wanted)  # noqa: RUF071 (a key prefix, not a path)
        what = f"keys {shown} of role {owner!r}"
        pattern = escape_glob(prefix) + "*" if prefix else "PATTERN"
    line = f"roleredis acl grant {shlex.quote(reader)} --read {shlex.quote(f'{owner}:{pattern}')}"
    return (
        f"role {reader!r} has no grant to read {what}: an admin can allow it with `{line}` "
        f"(or a pattern that matches it) ({detail})"
    )
