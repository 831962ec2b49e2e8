"""What a role's ACL user gets, and reading what a server says a user has.

The command set (:data:`COMMANDS`, plus SELECT for a database other than 0 and
:data:`CLUSTER_COMMANDS` in a Cluster), the key patterns (the role's own keys in the layout in
use, its internal keys, every role's events), the selectors for sending mail, and the user's
name; the patterns of grants. Parsing: ACL LIST lines (:func:`split_rules`), ACL GETUSER
replies (root key patterns, password hashes), a grant's rule back to ``OWNER:PATTERN``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...core.caching import COMMANDS as CACHE_COMMANDS
from ...core.caching import TRACKING_CHANNEL
from ...core.caching import TRACKING_COMMANDS as CACHE_TRACKING
from ...foundation.budgets import budget_pattern
from ...foundation.config import Settings
from ...foundation.errors import register_needed_commands
from ...foundation.keys import INTERNAL_PREFIX, Keyspace, escape_glob, validate_role
from ...foundation.sharing import validate_pattern
from ...table.rows import commands as face_commands

__all__ = [
    "ANNOUNCE_COMMANDS",
    "CLUSTER_COMMANDS",
    "COMMANDS",
    "EVENTS_PATTERN",
    "REPLY_COMMANDS",
    "SELECT",
    "SENDERS_PATTERN",
    "SEND_COMMANDS",
    "TRACKING_COMMANDS",
    "USER_PREFIX",
    "as_grant",
    "budget_rules",
    "channel_rules",
    "grant_pattern",
    "key_pattern",
    "password_hashes",
    "replying_pattern",
    "root_key_rules",
    "sending_pattern",
    "split_rules",
    "user_rules",
    "username_for",
    "withholding_events",
]

USER_PREFIX = "roleredis-"

#: What redis-py sends setting up a connection, and DEL (granted since the first release).
_CONNECTION = frozenset({"hello", "echo", "client|setname", "client|id", "ping", "del"})
#: What the operations of the face table send, and the connection set-up; nothing that reaches
#: other keys, nothing that shows other users' activity (no INFO: the health check does
#: without it).
#: The role's key index (key_management.index), on its internal keys only.
_INDEX = frozenset({"zadd", "zrem", "zrange", "zscore", "zcard", "zremrangebyscore", "pttl"})
#: ``roleredis mail ROLE`` (roleredis.core.mail.status): a channel's group, for its unread count.
_MAIL_STATUS = frozenset({"xinfo|groups", "hget"})
#: ``@cached`` (roleredis.core.caching): entries, tags and the invalidation log, all internal
#: keys of the role (GETEX for sliding entries, XREAD of its own log for local tiers).
COMMANDS = tuple(sorted(face_commands() | _CONNECTION | _INDEX | _MAIL_STATUS | CACHE_COMMANDS))
#: Granted only for a database other than 0: redis-py selects it on every connect.
SELECT = "select"
#: Granted only in a Cluster: what redis-py's cluster client sends to learn the command table
#: (COMMAND, which it asks on start) and the slots, and to follow a slot being moved (no key
#: access, no other user's activity).
CLUSTER_COMMANDS = (
    "command", "cluster|slots", "cluster|shards", "readonly", "readwrite", "asking",
)  # fmt: skip
#: Granted only with ``tracking``: a local tier kept true by the server's invalidation messages
#: (roleredis.core.localtier). Off by default: CLIENT TRACKING cannot be granted without its
#: BCAST mode, which on Redis 7 (before redis/redis#15371 made broadcasts check key
#: permissions) shows a user the name of every key changed on the node, other roles' too.
#: Without it the role's local tiers follow its invalidation log.
TRACKING_COMMANDS = tuple(sorted(CACHE_TRACKING - set(COMMANDS)))
register_needed_commands((*COMMANDS, SELECT, *CLUSTER_COMMANDS))


def username_for(role: str) -> str:
    """The ACL user name of ``role``.

    >>> username_for("weather")
    'roleredis-weather'
    """
    return USER_PREFIX + validate_role(role)


def key_pattern(role: str, settings: Settings | None = None) -> str:
    """The ACL key pattern of ``role``'s keys in the layout ``settings`` use.

    >>> key_pattern("weather")
    'weather:*'
    >>> key_pattern("weather", Settings(url="redis+cluster://127.0.0.1:7000"))
    '{weather}:*'
    """
    hash_tag = settings is not None and settings.hash_tag_roles
    return escape_glob(Keyspace(validate_role(role), hash_tag=hash_tag).prefix) + "*"


def grant_pattern(owner: str, pattern: str, settings: Settings | None = None) -> str:
    """The ACL key pattern of a grant on ``owner``'s keys matching ``pattern``, in the layout
    ``settings`` use: the glob ``pattern`` after the owner's (escaped) prefix.

    >>> grant_pattern("alpha", "shared:*")
    'alpha:shared:*'
    >>> grant_pattern("alpha", "shared:*", Settings(url="redis+cluster://127.0.0.1:7000"))
    '{alpha}:shared:*'
    """
    hash_tag = settings is not None and settings.hash_tag_roles
    prefix = Keyspace(validate_role(owner), hash_tag=hash_tag).prefix
    return escape_glob(prefix) + validate_pattern(pattern)


def as_grant(key_rule: str) -> str | None:
    """``OWNER:PATTERN`` for a root ``%R~`` rule of a grant (either layout), else None."""
    if not key_rule.startswith("%R~") or key_rule == f"%R~{EVENTS_PATTERN}":
        return None
    pattern = key_rule[3:]
    if pattern.startswith("{"):
        owner, close, rest = pattern[1:].partition("}:")
        return f"{owner}:{rest}" if close else None
    owner, colon, rest = pattern.partition(":")
    return f"{owner}:{rest}" if colon and not owner.startswith("__") else None


#: The commands of the sending selector: append to one's own channels, and see how full one is.
SEND_COMMANDS = ("xadd", "xlen")
#: The command of the senders selector: add one's name to a recipient's set of senders.
ANNOUNCE_COMMANDS = ("sadd",)


def sending_pattern(role: str) -> str:
    """The ACL key pattern of every channel of mail from ``role`` (to any role).

    >>> sending_pattern("alpha")
    '__roleredis__:{*}:mail:alpha'
    """
    return f"{INTERNAL_PREFIX}{{*}}:mail:{escape_glob(validate_role(role))}"


#: The command of the replying selector: append to a reply stream that exists (NOMKSTREAM).
REPLY_COMMANDS = ("xadd",)


def replying_pattern(role: str) -> str:
    """The ACL key pattern of every reply stream of answers from ``role`` (to any role's
    requests sent to it): see roleredis.core.mail.requesting.

    >>> replying_pattern("worker")
    '__roleredis__:{*}:reply:worker:*'
    """
    return f"{INTERNAL_PREFIX}{{*}}:reply:{escape_glob(validate_role(role))}:*"


#: The ACL key pattern of every role's set of senders.
SENDERS_PATTERN = f"{INTERNAL_PREFIX}{{*}}:senders"
#: The ACL key pattern of every role's event streams.
EVENTS_PATTERN = f"{INTERNAL_PREFIX}{{*}}:events:*"


def user_rules(
    role: str,
    db: int,
    settings: Settings | None = None,
    *,
    events: bool = True,
    tracking: bool = False,
) -> list[str]:
    """What provisioning owns: enabled, the command set, the role's own key patterns (its
    keys in the layout in use, and its internal keys: key index, inbox, dead letters, events,
    reply streams), reading every role's events, the selectors for sending mail and for
    answering requests; with ``tracking``, CLIENT TRACKING and SUBSCRIBE (see
    :data:`TRACKING_COMMANDS`; the channel is :func:`channel_rules`')."""
    cluster = settings is not None and settings.mode == "cluster"
    return [
        "on",
        f"~{key_pattern(role, settings)}",
        f"~{Keyspace(role).internal_pattern()}",
        *([f"%R~{EVENTS_PATTERN}"] if events else []),
        *budget_rules(role, settings),
        "-@all",
        *(f"+{command}" for command in COMMANDS),
        *([f"+{SELECT}"] if db else []),
        *((f"+{command}" for command in CLUSTER_COMMANDS) if cluster else ()),
        *((f"+{command}" for command in sorted(TRACKING_COMMANDS)) if tracking else ()),
        "clearselectors",
        _selector(sending_pattern(role), SEND_COMMANDS),
        _selector(SENDERS_PATTERN, ANNOUNCE_COMMANDS),
        _selector(replying_pattern(role), REPLY_COMMANDS),
    ]


def budget_rules(role: str, settings: Settings | None) -> list[str]:
    """The key rules of the budgets that list ``role`` (in the settings' ``budgets:``): each
    one's log, its sums, holders and waiters, and its definition read-only (the functions read it;
    only an administrator writes it). Nothing of a budget that does not list the role.

    >>> from roleredis.foundation.budgets import parse
    >>> s = Settings(budgets=parse({"ai": {"rate": "1/s", "roles": ["a"]}}, "x"))
    >>> budget_rules("a", s)[:2], budget_rules("b", s)
    (['%R~__roleredis__:budget:{ai}:def', '~__roleredis__:budget:{ai}:log'], [])
    """
    if settings is None:
        return []
    rules: list[str] = []
    for name, budget in sorted(settings.budgets.items()):
        if role in budget.roles:
            rules.append(f"%R~{budget_pattern(name, 'def')}")
            rules.extend(
                f"~{budget_pattern(name, part)}"
                for part in ("log", "holders", "queue", "alive", "sums")
            )
    return rules


def _selector(pattern: str, commands: Sequence[str]) -> str:
    """An ACL selector: write-only access to keys matching ``pattern``, with ``commands`` only."""
    return "(" + " ".join([f"%W~{pattern}", *(f"+{c}" for c in commands)]) + ")"


def split_rules(line: str) -> list[str]:
    """The rules of an ACL LIST line, each selector ``(...)`` kept as one rule.

    >>> split_rules("on ~a:* (%W~x +xadd) -@all")
    ['on', '~a:*', '(%W~x +xadd)', '-@all']
    """
    rules: list[str] = []
    depth = 0
    for word in line.split():
        if depth:
            rules[-1] += " " + word
        else:
            rules.append(word)
        depth += word.count("(") - word.count(")")
    return rules


def withholding_events(user: Any, rules: list[str]) -> list[str]:
    """``rules`` for an existing ``user`` that may read others' events and should no longer:
    its key patterns set anew (``resetkeys``), every grant but that one kept."""
    events = f"%R~{EVENTS_PATTERN}"
    patterns = root_key_rules(user)
    if events not in patterns:
        return rules
    kept = [p for p in patterns if p != events and p not in rules]
    return [rules[0], "resetkeys", *kept, *rules[1:]]


def _user(reply: Any) -> dict[Any, Any] | None:
    """An ACL GETUSER reply (a dict, or the flat list of RESP2) as a dict; None for no user."""
    if isinstance(reply, list | tuple):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    return reply if isinstance(reply, dict) else None


def _field(user: dict[Any, Any], name: str) -> Any:
    """Field ``name`` of a GETUSER reply (str or bytes keys, as the client decodes)."""
    return user.get(name, user.get(name.encode()))


def password_hashes(reply: Any) -> frozenset[str] | None:
    """The password hashes of an ACL GETUSER reply."""
    user = _user(reply)
    if user is None:
        return None
    found = _field(user, "passwords") or []
    return frozenset(h.decode() if isinstance(h, bytes) else str(h) for h in found)


def channel_rules(reply: Any, tracking: bool) -> list[str]:
    """The channel rules that give (``tracking``) or take back the one channel a tracking
    local tier listens on, keeping every other channel an ACL GETUSER ``reply`` shows (None:
    a new user, which has none).

    >>> channel_rules(None, True), channel_rules(None, False)
    (['&__redis__:invalidate'], [])
    >>> channel_rules([b"channels", b"&alerts &__redis__:invalidate"], False)
    ['resetchannels', '&alerts']
    """
    ours = f"&{TRACKING_CHANNEL}"
    user = _user(reply)
    found = None if user is None else _field(user, "channels")
    if isinstance(found, bytes):
        found = found.decode()
    had = found.split() if isinstance(found, str) else [_text(c) for c in found or ()]
    if (ours in had) == tracking:
        return []
    if tracking:
        return [ours]
    return ["resetchannels", *(c for c in had if c != ours)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def root_key_rules(reply: Any) -> list[str]:
    """The root key patterns of an ACL GETUSER reply (``~a:*``, ``%R~b:*``), selectors aside."""
    user = _user(reply)
    found = None if user is None else _field(user, "keys")
    if isinstance(found, bytes):
        found = found.decode()
    if isinstance(found, str):
        return found.split()
    return [k.decode() if isinstance(k, bytes) else str(k) for k in found or ()]
