"""Role names, key rules, and the role prefix: what a role's keys look like inside Redis.

>>> ks = Keyspace("weather")
>>> ks.full_key("forecast")
'weather:forecast'
>>> ks.scan_pattern("session:*")
'weather:session:*'
>>> ks.strip(b"weather:forecast")
'forecast'
>>> ks.internal_key("index")
'__roleredis__:{weather}:index'
>>> ks.mail_channel("radar")  # mail from radar to weather
'__roleredis__:{weather}:mail:radar'
>>> ks.event_stream("alerts")
'__roleredis__:{weather}:events:alerts'
>>> ks.lease("nightly-report"), ks.fences()
('__roleredis__:{weather}:lease:nightly-report', '__roleredis__:{weather}:fences')
"""

from __future__ import annotations

import re
from typing import Any

from .errors import InvalidArgumentError

__all__ = [
    "INTERNAL_PREFIX",
    "MAX_KEY_BYTES",
    "Keyspace",
    "escape_glob",
    "raw_key",
    "validate_key",
    "validate_lease_name",
    "validate_role",
    "validate_topic",
]

MAX_KEY_BYTES = 1024
MAX_ROLE_LENGTH = 64
_ROLE_RE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
#: Where roleredis keeps its own keys (a role's key index, mail, events): role names may not
#: start with ``__``, and a role's keys always start with ``<role>:`` (or ``{<role>}:``), so no
#: user key can land here. Each internal key carries the role's hash tag (``{weather}``) so it
#: sits in the role's Cluster slot in both key layouts.
INTERNAL_PREFIX = "__roleredis__:"
RESERVED_ROLE_PREFIX = "__"
_known_roles: set[str] = set()  # names already validated: the check is on every call


def validate_role(role: Any) -> str:
    """Return ``role`` if it is a valid role name, else raise :class:`InvalidArgumentError`.

    Role names are 1-64 characters of ``[A-Za-z0-9_.-]``: no ``:`` (which would let one role
    reach into another's keys), no glob characters, no spaces; names starting with ``__`` are
    reserved for roleredis's internal keys (see INTERNAL_PREFIX).

    >>> validate_role("weather")
    'weather'
    """
    if type(role) is str and role in _known_roles:
        return role
    if not isinstance(role, str):
        raise InvalidArgumentError(f"role must be a str, got {type(role).__name__}")
    if _ROLE_RE.fullmatch(role) is None:
        if not role:
            why = "it is empty"
        elif len(role) > MAX_ROLE_LENGTH:
            why = f"it is {len(role)} characters long (at most {MAX_ROLE_LENGTH})"
        else:
            bad = sorted({c for c in role if _ROLE_RE.fullmatch(c) is None})
            why = "it contains " + ", ".join(repr(c) for c in bad)
        raise InvalidArgumentError(
            f"invalid role name {role[:80]!r}: {why}; use 1-64 characters of A-Z a-z 0-9 _ . -"
        )
    if role.startswith(RESERVED_ROLE_PREFIX):
        raise InvalidArgumentError(
            f"invalid role name {role!r}: names starting with '__' are reserved for "
            "roleredis's internal keys; pick another name"
        )
    if len(_known_roles) < 10_000:
        _known_roles.add(role)
    return role


def validate_topic(topic: Any) -> str:
    """Return ``topic`` if it is a valid event topic, else raise :class:`InvalidArgumentError`.

    A topic is part of an internal key (``__roleredis__:{role}:events:<topic>``) that other
    roles' ACL patterns are written against, so it follows the role-name rule: 1-64 characters
    of ``[A-Za-z0-9_.-]`` (no ``:``, ``{``, ``}`` or glob characters that could make a role's
    own event stream match another role's sending pattern).

    >>> validate_topic("alerts.v1")
    'alerts.v1'
    """
    return _short_name(topic, "topic")


def validate_lease_name(name: Any) -> str:
    """Return ``name`` if it is a valid lease name, else raise :class:`InvalidArgumentError`.

    A lease name is part of an internal key (``__roleredis__:{role}:lease:<name>``) and a
    field of the role's fence counters, so it follows the topic rule: 1-64 characters of
    ``[A-Za-z0-9_.-]``.

    >>> validate_lease_name("nightly-report")
    'nightly-report'
    """
    return _short_name(name, "lease name")


def _short_name(value: Any, what: str) -> str:
    """``value`` if it is 1-64 characters of ``[A-Za-z0-9_.-]``, else InvalidArgumentError."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f"{what} must be a str, got {type(value).__name__}")
    if _ROLE_RE.fullmatch(value) is None:
        raise InvalidArgumentError(
            f"invalid {what} {value[:80]!r}: use 1-64 characters of A-Z a-z 0-9 _ . -"
        )
    return value


def validate_key(key: Any) -> str:
    """Return ``key`` if it is a valid key (a non-empty str of at most 1024 UTF-8 bytes).

    A key may hold surrogate escapes (U+DC80-U+DCFF, as ``bytes.decode("utf-8",
    "surrogateescape")`` makes them): they stand for bytes that are not UTF-8, so that a key
    another client wrote with such bytes can be read and deleted by the name listing gives.
    Any other lone surrogate is refused.

    >>> validate_key("user:42")
    'user:42'
    """
    if not isinstance(key, str):
        raise InvalidArgumentError(f"key must be a str, got {type(key).__name__}")
    if not key:
        raise InvalidArgumentError("key must not be empty")
    if key.isascii():
        size = len(key)
    else:
        try:
            size = len(raw_key(key))
        except UnicodeEncodeError:
            raise InvalidArgumentError(
                "key is not valid UTF-8 text (a lone surrogate that is not an escaped byte)"
            ) from None
    if size > MAX_KEY_BYTES:
        raise InvalidArgumentError(
            f"key is {size} bytes in UTF-8; at most {MAX_KEY_BYTES} are allowed"
        )
    return key


def raw_key(text: str) -> bytes:
    """The bytes Redis stores for ``text``: UTF-8, with surrogate escapes turned back into the
    bytes they stand for (the inverse of :meth:`Keyspace.strip`).

    >>> raw_key("caf\\udce9")
    b'caf\\xe9'
    """
    return text.encode("utf-8", "surrogateescape")


def escape_glob(text: str) -> str:
    r"""Escape the characters SCAN's MATCH treats as glob syntax.

    >>> escape_glob("a*b")
    'a\\*b'
    """
    return _GLOB_SPECIAL.sub(r"\\\1", text)


class Keyspace:
    """The prefix of one role, and the conversions between a role's keys and Redis keys."""

    __slots__ = ("auto_prefix", "hash_tag", "logical_prefix", "prefix", "role")

    def __init__(self, role: str, *, auto_prefix: bool = True, hash_tag: bool = False) -> None:
        self.role = role
        self.auto_prefix = auto_prefix
        #: in a Redis Cluster with roles co-located, the role is a hash tag (``{weather}:k``),
        #: so all of a role's keys share one slot: batches go to one node, MSET works, and a
        #: listing scans one node. ``{alpha}:`` never matches ``{alphabet}:``.
        self.hash_tag = hash_tag and auto_prefix
        #: the prefix as the role names its keys, whatever the layout (``weather:``)
        self.logical_prefix = f"{role}:" if auto_prefix else ""
        self.prefix = f"{{{role}}}:" if self.hash_tag else self.logical_prefix

    def full_key(self, key: Any) -> str:
        """The Redis key for ``key`` (validated).

        Without a prefix (auto_prefix false) a key may not reach into roleredis's internal
        keys: those are never written by a user-level call.
        """
        if not self.prefix and isinstance(key, str) and key.startswith(INTERNAL_PREFIX):
            raise InvalidArgumentError(
                f"keys starting with {INTERNAL_PREFIX!r} are reserved for roleredis's internal keys"
            )
        return self.prefix + validate_key(key)

    def full_keys(self, keys: list[Any]) -> list[str]:
        """:meth:`full_key` of each of ``keys``: the checks :func:`validate_key` makes, taken
        in one loop for the common keys (ASCII str, at most MAX_KEY_BYTES), each other key
        through :meth:`full_key` itself.

        >>> Keyspace("weather").full_keys(["a", "b"])
        ['weather:a', 'weather:b']
        """
        prefix = self.prefix
        if not prefix:
            return [self.full_key(key) for key in keys]
        return [
            prefix + key
            if type(key) is str and key and len(key) <= MAX_KEY_BYTES and key.isascii()
            else self.full_key(key)
            for key in keys
        ]

    def logical_key(self, key: str) -> str:
        """``<role>:<key>``, the same in every layout: what a sealed value is bound to, so that
        it still opens after its key moves to another layout (``{role}:<key>``)."""
        return self.logical_prefix + key

    def internal_key(self, name: str) -> str:
        """The Redis key of the role's internal key ``name`` (its key index, mailbox, ...).

        ``__roleredis__:{<role>}:<name>``: where no user key can land (roles never start
        with ``__``), in the role's Cluster slot (hash tag) whatever the key layout, and the
        same with or without auto_prefix.
        """
        return f"{INTERNAL_PREFIX}{{{self.role}}}:{name}"

    # --- inter-role communication: every name below is fixed, or a validated role or topic,
    # so no internal key holds a '{', '}' or ':' the role chose (see admin/acl/rules.py's patterns).

    def mail_channel(self, sender: str) -> str:
        """The stream of mail from ``sender`` to this role: in this role's slot, written (XADD
        only) by ``sender``'s ACL user, read and acknowledged by this role's.

        The sender is authenticated by the key, never by a field of the message.
        """
        return self.internal_key("mail:" + validate_role(sender))

    def mail_senders(self) -> str:
        """The set of roles that have sent this role mail: a sender adds itself (SADD only), so
        the recipient learns of a new channel without scanning the keyspace."""
        return self.internal_key("senders")

    def dead_letters(self) -> str:
        """The stream of this role's mail that was delivered too often without an ack."""
        return self.internal_key("dead")

    def reply_key(self, responder: str, request_id: str) -> str:
        """The stream a reply from ``responder`` to this role's request ``request_id`` goes
        to: made (empty) by this role before it sends the request, appended to (XADD
        NOMKSTREAM only) by ``responder``'s ACL user, whose selector allows it
        ``:reply:<itself>:*`` keys only: the responder is authenticated by the key.
        ``request_id`` is the request's msg_id (checked by the caller: see
        roleredis.core.mail.requesting)."""
        return self.internal_key(f"reply:{validate_role(responder)}:{request_id}")

    def event_stream(self, topic: str) -> str:
        """This role's event log for ``topic``: written by this role only, read by every role."""
        return self.internal_key("events:" + validate_topic(topic))

    def lease(self, name: str) -> str:
        """The key of this role's lease ``name`` while it is held (``<token> <fence>``, expiring
        with the lease): written only through the lease functions (see core/leases.py)."""
        return self.internal_key("lease:" + validate_lease_name(name))

    def fences(self) -> str:
        """This role's fence counters: a hash of lease name -> the last fence granted, which
        never expires (a lease key's expiry must not reset its fence)."""
        return self.internal_key("fences")

    def internal_pattern(self) -> str:
        """The ACL key pattern of all of the role's internal keys."""
        return escape_glob(f"{INTERNAL_PREFIX}{{{self.role}}}:") + "*"

    def strip(self, full: bytes | str) -> str:
        """The role's key for a Redis key returned by SCAN."""
        text = full.decode("utf-8", "surrogateescape") if isinstance(full, bytes) else full
        return text[len(self.prefix) :]

    def scan_pattern(self, pattern: Any) -> str:
        """A SCAN MATCH pattern that can only match this role's keys.

        The prefix is glob-escaped; ``pattern`` keeps its glob meaning, but only after it.
        """
        if not isinstance(pattern, str):
            raise InvalidArgumentError(f"pattern must be a str, got {type(pattern).__name__}")
        if not pattern:
            raise InvalidArgumentError("pattern must not be empty; use '*' for all keys")
        return escape_glob(self.prefix) + pattern

    def everything(self) -> str:
        """The SCAN pattern for all of this role's keys."""
        return escape_glob(self.prefix) + "*"
