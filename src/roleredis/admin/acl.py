"""Isolation the server enforces: one Redis ACL user per role, allowed only its own keys.

``provision("weather")`` creates the user ``roleredis-weather``, which may use only the
commands the tools send, and only on keys matching ``weather:*`` and its internal keys
``__roleredis__:{weather}:*`` (its key index). A role process that connects
with that pair (REDIS_USERNAME / REDIS_PASSWORD) gets ``permission`` for anything of another
role's, and so does a raw redis-py command. The admin connection uses the usual settings (an
admin's REDIS_USERNAME / REDIS_PASSWORD).

Provisioning a user that exists updates in place what provisioning owns (enabled, the
command set, the role's own key pattern) and keeps the rest: its password (unless
``new_password=True``), other key patterns granted to it (``%R~other:*``) and its channels.
Provisioning owns the user's selectors (it clears and sets them). So a new version of these
rules reaches running roles without locking them out.

Talking between roles is enforced by the same user (see :meth:`Keyspace.mail_channel`):

- the role's own keys and internal keys (its inbox channels, its dead letters, its events):
  every command the tools send;
- ``(%W~__roleredis__:{*}:mail:<role> +xadd +xlen)``: a selector that lets it append to its
  own sending channels to any role, and nothing else there (no XTRIM, XDEL, DEL or XGROUP:
  mail it sent is the recipient's to consume);
- ``(%W~__roleredis__:{*}:senders +sadd)``: add its name to a recipient's set of senders,
  never read or remove from it;
- ``%R~__roleredis__:{*}:events:*``: read every role's events (``events=False`` withholds it,
  and takes it back from a user that had it; the role still publishes and reads its own, which
  are its internal keys).

Role names and topics never hold ``:``, ``{`` or ``}``, so each internal key has exactly one
``}``, right after its role: a pattern ending in ``}:mail:alpha`` matches only the channels
of mail from ``alpha``.

A role user may not run INFO (it shows every user's command counts and failed logins) and may
run SELECT only when the configured database is not 0 (redis-py sends SELECT on connect for
any other), so it cannot write its prefix into other databases.

Granted reads (:func:`grant`, :func:`revoke_grant`): ``grant("beta", "alpha", "shared:*")``
adds the root rule ``%R~alpha:shared:*`` (``%R~{alpha}:shared:*`` under cluster hash tags) to
beta's user on every node: beta may then read, never write or delete, alpha's keys that match.
Provisioning keeps grants (it resets key patterns only to take back reading others' events,
and then sets the grants again); :func:`list_report` shows each user's grants as
``OWNER:PATTERN``. Redis has no rule that removes one key pattern, so
revoking one rewrites the user's root patterns without it (``resetkeys`` and the rest, in one
ACL SETUSER per node; selectors are untouched).

Redis does not check key patterns for SCAN, so a user with raw access can still see other
roles' key *names* (never their values) with a raw SCAN or KEYS-free listing. roleredis's own
listing and clearing first touch the requested namespace with a key-checked command, so they
refuse another role's namespace with ``permission`` before scanning it.

ACL users are per node: Redis neither replicates them nor spreads them over a Cluster. So
every function here acts on every data node of the deployment (:func:`connection.node_addresses`:
the one server; a Cluster's primaries and replicas; the Sentinel primary and its replicas), or
a failover would promote a replica where the role has no user. Each reports every node's
outcome (:class:`NodeResult`); a node that failed does not stop the others. The same password
is set on every node; a node that lacks the user (one replaced since) gets the password hash
the other nodes agree on (``#<sha256>``), so provisioning again after a node is replaced does
not change the password. The key pattern is that of the layout in use: ``{role}:*`` in a Cluster
with roles co-located (``redis.cluster.colocate_roles``), else ``role:*``; a Cluster user may
also run what a cluster client sends on connect (COMMAND, CLUSTER SLOTS/SHARDS,
READONLY, ASKING).
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator, Sequence
from typing import Any

from .. import runtime
from ..foundation.config import Settings
from ..foundation.errors import (
    InvalidArgumentError,
    NotFoundError,
    RoleRedisError,
    register_needed_commands,
    scrub,
    translate,
)
from ..foundation.keys import INTERNAL_PREFIX, Keyspace, escape_glob, validate_role
from ..foundation.sharing import validate_pattern
from ..table.rows import commands as face_commands

__all__ = [
    "CLUSTER_COMMANDS",
    "COMMANDS",
    "EVENTS_PATTERN",
    "SELECT",
    "SENDERS_PATTERN",
    "USER_PREFIX",
    "Credentials",
    "Granted",
    "NodeResult",
    "Revoked",
    "UserListing",
    "grant",
    "grant_pattern",
    "key_pattern",
    "list_report",
    "list_users",
    "provision",
    "revoke",
    "revoke_grant",
    "revoke_report",
    "sending_pattern",
    "split_rules",
    "username_for",
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
_MAIL_STATUS = frozenset({"xinfo|groups"})
COMMANDS = tuple(sorted(face_commands() | _CONNECTION | _INDEX | _MAIL_STATUS))
#: Granted only for a database other than 0: redis-py selects it on every connect.
SELECT = "select"
#: Granted only in a Cluster: what redis-py's cluster client sends to learn the command table
#: (COMMAND, which it asks on start) and the slots, and to follow a slot being moved (no key
#: access, no other user's activity).
CLUSTER_COMMANDS = (
    "command", "cluster|slots", "cluster|shards", "readonly", "readwrite", "asking",
)  # fmt: skip
register_needed_commands((*COMMANDS, SELECT, *CLUSTER_COMMANDS))


@dataclasses.dataclass(frozen=True)
class NodeResult:
    """What one node did: ``error`` (scrubbed of secrets) is None when it did what was asked;
    ``outcome`` says what that was: created, updated, deleted, absent or listed."""

    address: str
    kind: str  # primary, replica or server (one standalone server)
    outcome: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "ok": self.ok,
            "outcome": self.outcome,
            "error": self.error,
        }


class _PerNode:
    """What each node did (``nodes``), and those that failed."""

    nodes: tuple[NodeResult, ...]

    @property
    def failed(self) -> list[NodeResult]:
        return [node for node in self.nodes if not node.ok]


@dataclasses.dataclass(frozen=True)
class Credentials(_PerNode):
    """A provisioned role's login: give it to that role's process as REDIS_USERNAME /
    REDIS_PASSWORD. The password is shown once; repr() hides it. ``nodes`` says what each node
    did: check :attr:`failed` (provisioning goes on past a failed node, so that the password
    set on the others is not lost)."""

    role: str
    username: str
    #: None when an existing user kept its password (Redis keeps only its hash).
    password: str | None = dataclasses.field(repr=False)
    #: Whether the user was made now (False: an existing user's rules were updated).
    created: bool = True
    nodes: tuple[NodeResult, ...] = ()
    #: how the nodes disagreed before (a user missing on some, passwords that differ)
    drift: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "username": self.username,
            "password": self.password,
            "created": self.created,
            "nodes": [node.as_dict() for node in self.nodes],
            "drift": list(self.drift),
        }


@dataclasses.dataclass(frozen=True)
class Revoked(_PerNode):
    """The user of ``role`` deleted on each node (``deleted``: it existed on at least one)."""

    role: str
    username: str
    deleted: bool
    nodes: tuple[NodeResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "username": self.username,
            "deleted": self.deleted,
            "nodes": [node.as_dict() for node in self.nodes],
        }


@dataclasses.dataclass(frozen=True)
class UserListing(_PerNode):
    """The provisioned users merged over the nodes, and each node's outcome. Each user says on
    how many nodes it exists and how the nodes disagree about it (``drift``)."""

    users: list[dict[str, Any]]
    nodes: tuple[NodeResult, ...]

    @property
    def drift(self) -> list[str]:
        return [f"{user['username']}: {what}" for user in self.users for what in user["drift"]]

    def as_dict(self) -> dict[str, Any]:
        return {"users": self.users, "nodes": [node.as_dict() for node in self.nodes]}


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


def _as_grant(key_rule: str) -> str | None:
    """``OWNER:PATTERN`` for a root ``%R~`` rule of a grant (either layout), else None."""
    if not key_rule.startswith("%R~") or key_rule == f"%R~{EVENTS_PATTERN}":
        return None
    pattern = key_rule[3:]
    if pattern.startswith("{"):
        owner, close, rest = pattern[1:].partition("}:")
        return f"{owner}:{rest}" if close else None
    owner, colon, rest = pattern.partition(":")
    return f"{owner}:{rest}" if colon and not owner.startswith("__") else None


def _database(admin: Any) -> int:
    """The database the admin connection uses: role users get the same one."""
    kwargs = getattr(getattr(admin, "connection_pool", None), "connection_kwargs", None) or {}
    return int(kwargs.get("db") or 0)


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


#: The ACL key pattern of every role's set of senders.
SENDERS_PATTERN = f"{INTERNAL_PREFIX}{{*}}:senders"
#: The ACL key pattern of every role's event streams.
EVENTS_PATTERN = f"{INTERNAL_PREFIX}{{*}}:events:*"


def _rules(
    role: str, db: int, settings: Settings | None = None, *, events: bool = True
) -> list[str]:
    """What provisioning owns: enabled, the command set, the role's own key patterns (its
    keys in the layout in use, and its internal keys: key index, inbox, dead letters, events),
    reading every role's events, and the selectors for sending mail."""
    cluster = settings is not None and settings.mode == "cluster"
    return [
        "on",
        f"~{key_pattern(role, settings)}",
        f"~{Keyspace(role).internal_pattern()}",
        *([f"%R~{EVENTS_PATTERN}"] if events else []),
        "-@all",
        *(f"+{command}" for command in COMMANDS),
        *([f"+{SELECT}"] if db else []),
        *((f"+{command}" for command in CLUSTER_COMMANDS) if cluster else ()),
        "clearselectors",
        _selector(sending_pattern(role), SEND_COMMANDS),
        _selector(SENDERS_PATTERN, ANNOUNCE_COMMANDS),
    ]


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


@dataclasses.dataclass
class _Node:
    address: str
    kind: str
    client: Any
    db: int


@contextlib.contextmanager
def _nodes(settings: Settings | None, client: Any) -> Iterator[tuple[Settings | None, list[_Node]]]:
    """The admin clients of every data node (closed after), and the settings they come from.

    ``client`` given: that one connection only (as before nodes were known). One standalone
    server: the process's shared client (or one built from ``settings``).
    """
    from ..transport import connection

    if client is not None:
        yield settings, [_Node("the server", "server", client, _database(client))]
        return
    given = settings
    settings = runtime.enabled_settings(settings)
    topology = settings.topology()
    if topology is None:
        single = runtime.sync_client() if given is None else connection.build_client(settings)
        try:
            node = _Node(connection.describe(settings), "server", single, _database(single))
            yield settings, [node]
        finally:
            if given is not None:
                connection.close_client(single)
        return
    try:
        addresses = connection.node_addresses(settings)
    except Exception as exc:
        raise translate(exc) from None
    opened = [
        _Node(f"{host}:{port}", kind, connection.node_client(settings, host, port), topology.db)
        for host, port, kind in addresses
    ]
    try:
        yield settings, opened
    finally:
        for node in opened:
            with contextlib.suppress(Exception):
                node.client.close()


def _error(exc: BaseException, hide: Sequence[str | None] = ()) -> tuple[RoleRedisError, str]:
    translated = translate(exc)
    return translated, scrub(str(translated), [s for s in hide if s])


def _raise_if_all_failed(results: list[NodeResult], first: RoleRedisError | None) -> None:
    if first is not None and results and all(not node.ok for node in results):
        if len(results) == 1:
            raise first
        raise type(first)(f"every node failed; {results[0].address}: {results[0].error}")


def _withholding_events(user: Any, rules: list[str]) -> list[str]:
    """``rules`` for an existing ``user`` that may read others' events and should no longer:
    its key patterns set anew (``resetkeys``), every grant but that one kept."""
    events = f"%R~{EVENTS_PATTERN}"
    patterns = _root_key_rules(user)
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


def _hashes(reply: Any) -> frozenset[str] | None:
    """The password hashes of an ACL GETUSER reply."""
    user = _user(reply)
    if user is None:
        return None
    found = _field(user, "passwords") or []
    return frozenset(h.decode() if isinstance(h, bytes) else str(h) for h in found)


def provision(
    role: str,
    *,
    client: Any = None,
    new_password: bool = False,
    db: int | None = None,
    settings: Settings | None = None,
    events: bool = True,
) -> Credentials:
    """Create the ACL user of ``role`` on every node, or update the rules of the one it has.

    ``events=False`` withholds reading other roles' events (and takes it back from a user
    provisioned with it); the role still publishes and reads its own. Provisioning again
    without it gives it back: the rule is provisioning's, like the command set.

    A new user gets a new password (returned, shown once), the same on every node. An existing
    user keeps its password (``password`` is None in the result) and every grant provisioning
    does not own; a node that lacks it gets the password hash the other nodes have. If the
    nodes' passwords differ, each keeps its own, a node without the user fails, and
    ``drift`` says so: ``new_password=True`` sets one new password everywhere (the old ones
    stop working at once). ``db`` (default: the deployment's database) decides whether SELECT
    is allowed. ``settings`` default to the process's; ``client`` limits the work to one
    connection.

    Raises PermissionDeniedError (or the error of the kind that happened) if every node
    failed; otherwise check :attr:`Credentials.failed`.
    """
    username = username_for(role)
    with _nodes(settings, client) as (used, nodes):
        results: dict[int, NodeResult] = {}
        first: RoleRedisError | None = None
        users: dict[int, Any] = {}
        for i, node in enumerate(nodes):
            try:
                users[i] = node.client.execute_command("ACL", "GETUSER", username)
            except Exception as exc:
                err, text = _error(exc)
                first = first or err
                results[i] = NodeResult(node.address, node.kind, error=text)
        present = {i: _hashes(user) for i, user in users.items() if user is not None}
        distinct = set(present.values())
        drift: list[str] = []
        missing = [nodes[i].address for i in users if i not in present]
        if present and missing:
            drift.append("missing on " + ", ".join(missing))
        if len(distinct) > 1:
            drift.append("the password differs between nodes")
        password = None
        if new_password or not present:
            password = secrets.token_urlsafe(32)
        for i, user in users.items():
            node = nodes[i]
            rules = _rules(role, node.db if db is None else db, used, events=events)
            if user is not None and not events:
                rules = _withholding_events(user, rules)
            if password is not None:
                rules[:0] = ["resetpass", f">{password}"]
            elif user is None:
                if len(distinct) > 1:
                    results[i] = NodeResult(
                        node.address,
                        node.kind,
                        error="the user is missing here and its password differs between the "
                        "other nodes: provision with --new-password to set one everywhere",
                    )
                    continue
                (hashes,) = distinct
                rules[:0] = ["resetpass", *(f"#{h}" for h in sorted(hashes or ()))]
            if user is None:
                rules[:0] = ["reset", "resetchannels"]
            try:
                node.client.execute_command("ACL", "SETUSER", username, *rules)
            except Exception as exc:
                err, text = _error(exc, [password])
                first = first or err
                results[i] = NodeResult(node.address, node.kind, error=text)
                continue
            outcome = "created" if user is None else "updated"
            results[i] = NodeResult(node.address, node.kind, outcome=outcome)
    ordered = [results[i] for i in range(len(nodes))]
    _raise_if_all_failed(ordered, first)
    return Credentials(
        role,
        username,
        password,
        created=not present,
        nodes=tuple(ordered),
        drift=tuple(drift),
    )


def revoke_report(role: str, *, client: Any = None, settings: Settings | None = None) -> Revoked:
    """Delete the ACL user of ``role`` on every node (and drop its connections there).

    Raises the error of the kind that happened if every node failed; otherwise check
    :attr:`Revoked.failed`.
    """
    username = username_for(role)
    results: list[NodeResult] = []
    first: RoleRedisError | None = None
    deleted = False
    with _nodes(settings, client) as (_, nodes):
        for node in nodes:
            try:
                count = int(node.client.execute_command("ACL", "DELUSER", username))
            except Exception as exc:
                err, text = _error(exc)
                first = first or err
                results.append(NodeResult(node.address, node.kind, error=text))
                continue
            deleted = deleted or count > 0
            outcome = "deleted" if count else "absent"
            results.append(NodeResult(node.address, node.kind, outcome=outcome))
    _raise_if_all_failed(results, first)
    return Revoked(role, username, deleted, tuple(results))


def revoke(role: str, *, client: Any = None, settings: Settings | None = None) -> bool:
    """Delete the ACL user of ``role`` on every node; False if no node had it.

    Raises if any node failed (:func:`revoke_report` says which, and goes on past them).
    """
    done = revoke_report(role, client=client, settings=settings)
    _raise_if_any_failed(done.failed)
    return done.deleted


def _raise_if_any_failed(failed: list[NodeResult]) -> None:
    if failed:
        from ..foundation.errors import InternalError

        raise InternalError(
            "; ".join(f"{node.address} ({node.kind}): {node.error}" for node in failed)
        )


def _parse(raw_line: Any) -> tuple[str, list[str]] | None:
    line = raw_line.decode() if isinstance(raw_line, bytes) else str(raw_line)
    parts = split_rules(line)
    if len(parts) < 2 or not parts[1].startswith(USER_PREFIX):
        return None
    return parts[1], parts[2:]


def _describe(username: str, rules: list[str]) -> dict[str, Any]:
    return {
        "role": username[len(USER_PREFIX) :],
        "username": username,
        "enabled": "on" in rules,
        "keys": [p[1:] for p in rules if p.startswith("~")],
        "grants": [g for g in map(_as_grant, rules) if g is not None],
        "reads_events": f"%R~{EVENTS_PATTERN}" in rules,
        "commands": " ".join(sorted(p for p in rules if p[:1] in "+-" and p != "-@all")),
    }


def list_report(*, client: Any = None, settings: Settings | None = None) -> UserListing:
    """The provisioned roles over every node: role, username, enabled, key patterns, commands
    (as the first node that has the user says: a primary), ``nodes`` (how many have it, of
    ``nodes_total``) and ``drift`` (missing on a node, rules or password that differ).
    Never a password or its hash."""
    results: list[NodeResult] = []
    first: RoleRedisError | None = None
    seen: dict[str, dict[str, list[str]]] = {}  # username -> node address -> rules
    answered: list[str] = []
    with _nodes(settings, client) as (_, nodes):
        for node in nodes:
            try:
                lines = node.client.execute_command("ACL", "LIST")
            except Exception as exc:
                err, text = _error(exc)
                first = first or err
                results.append(NodeResult(node.address, node.kind, error=text))
                continue
            answered.append(node.address)
            results.append(NodeResult(node.address, node.kind, outcome="listed"))
            for raw_line in lines:
                parsed = _parse(raw_line)
                if parsed is not None:
                    seen.setdefault(parsed[0], {})[node.address] = parsed[1]
    _raise_if_all_failed(results, first)
    users = []
    for username, by_node in seen.items():
        reference_address, reference = next(iter(by_node.items()))
        user = _describe(username, reference)
        user["nodes"] = len(by_node)
        user["nodes_total"] = len(nodes)
        user["drift"] = _drift(by_node, answered, reference_address)
        users.append(user)
    return UserListing(sorted(users, key=lambda user: user["role"]), tuple(results))


def _drift(by_node: dict[str, list[str]], answered: list[str], reference: str) -> list[str]:
    def split(rules: list[str]) -> tuple[list[str], set[str]]:
        # the order of +commands differs between nodes (each keeps a hash table), inside
        # selectors too: compare sorted
        kept = (_normal_selector(r) for r in rules if r[:1] != "#")
        return sorted(kept), {r for r in rules if r[:1] == "#"}

    drift = []
    missing = [address for address in answered if address not in by_node]
    if missing:
        drift.append("missing on " + ", ".join(missing))
    rules, hashes = split(by_node[reference])
    other_rules = [a for a, r in by_node.items() if split(r)[0] != rules]
    if other_rules:
        drift.append(f"rules differ from {reference} on " + ", ".join(other_rules))
    other_passwords = [a for a, r in by_node.items() if split(r)[1] != hashes]
    if other_passwords:
        drift.append(f"password differs from {reference} on " + ", ".join(other_passwords))
    return drift


def _normal_selector(rule: str) -> str:
    if not rule.startswith("("):
        return rule
    return "(" + " ".join(sorted(rule[1:-1].split())) + ")"


def list_users(*, client: Any = None, settings: Settings | None = None) -> list[dict[str, Any]]:
    """The provisioned roles (see :func:`list_report`); raises if any node failed."""
    listing = list_report(client=client, settings=settings)
    _raise_if_any_failed(listing.failed)
    return listing.users


# --- granted reads ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Granted(_PerNode):
    """A grant added (:func:`grant`) or removed (:func:`revoke_grant`) on each node: ``rule``
    is the ACL rule (``%R~alpha:shared:*``); each node's outcome is granted, revoked,
    unchanged (it had it already) or absent (it had no such grant). ``drift``: how the nodes
    disagreed before (the grant on some nodes only)."""

    reader: str
    owner: str
    pattern: str
    rule: str
    nodes: tuple[NodeResult, ...]

    @property
    def drift(self) -> list[str]:
        changed = [n.address for n in self.nodes if n.outcome in ("granted", "revoked")]
        kept = [n.address for n in self.nodes if n.outcome in ("unchanged", "absent")]
        if not changed or not kept:
            return []
        if any(n.outcome == "granted" for n in self.nodes):
            return ["the grant was missing on " + ", ".join(changed)]
        return ["the grant was held only on " + ", ".join(changed)]

    def as_dict(self) -> dict[str, Any]:
        return {
            "reader": self.reader,
            "owner": self.owner,
            "pattern": self.pattern,
            "rule": self.rule,
            "nodes": [node.as_dict() for node in self.nodes],
            "drift": self.drift,
        }


def _root_key_rules(reply: Any) -> list[str]:
    """The root key patterns of an ACL GETUSER reply (``~a:*``, ``%R~b:*``), selectors aside."""
    user = _user(reply)
    found = None if user is None else _field(user, "keys")
    if isinstance(found, bytes):
        found = found.decode()
    if isinstance(found, str):
        return found.split()
    return [k.decode() if isinstance(k, bytes) else str(k) for k in found or ()]


def _change_grant(
    reader: str,
    owner: str,
    pattern: str,
    adding: bool,
    client: Any,
    settings: Settings | None,
) -> Granted:
    username = username_for(reader)
    results: list[NodeResult] = []
    first: RoleRedisError | None = None
    with _nodes(settings, client) as (used, nodes):
        rule = "%R~" + grant_pattern(owner, pattern, used)
        for node in nodes:
            try:
                user = node.client.execute_command("ACL", "GETUSER", username)
                if user is None:
                    results.append(
                        NodeResult(
                            node.address,
                            node.kind,
                            error=f"no ACL user {username} here: run 'roleredis acl provision "
                            f"{reader}' first",
                        )
                    )
                    continue
                rules = _root_key_rules(user)
                if adding and rule in rules:
                    outcome = "unchanged"
                elif adding:
                    node.client.execute_command("ACL", "SETUSER", username, rule)
                    outcome = "granted"
                elif rule not in rules:
                    outcome = "absent"
                else:
                    kept = [r for r in rules if r != rule]
                    node.client.execute_command("ACL", "SETUSER", username, "resetkeys", *kept)
                    outcome = "revoked"
            except Exception as exc:
                err, text = _error(exc)
                first = first or err
                results.append(NodeResult(node.address, node.kind, error=text))
                continue
            results.append(NodeResult(node.address, node.kind, outcome=outcome))
    if first is None and results and all(not node.ok for node in results):
        first = NotFoundError(results[0].error or "")
    _raise_if_all_failed(results, first)
    return Granted(reader, owner, pattern, rule, tuple(results))


def grant(
    reader: str,
    owner: str,
    pattern: str,
    *,
    client: Any = None,
    settings: Settings | None = None,
) -> Granted:
    """Let ``reader``'s ACL user read (never write) ``owner``'s keys matching ``pattern``, on
    every node: the root rule ``%R~<owner prefix><pattern>`` in the layout in use.

    The reader must be provisioned (a node without its user fails). Raises
    InvalidArgumentError for a bad role or pattern (empty, whitespace, parentheses), the
    error of the kind that happened if every node failed; otherwise check
    :attr:`Granted.failed`.
    """
    if validate_role(reader) == validate_role(owner):
        raise InvalidArgumentError(f"role {reader!r} reads its own keys already; nothing to grant")
    return _change_grant(reader, owner, pattern, True, client, settings)


def revoke_grant(
    reader: str,
    owner: str,
    pattern: str,
    *,
    client: Any = None,
    settings: Settings | None = None,
) -> Granted:
    """Remove the grant :func:`grant` added (the same ``owner`` and ``pattern``) on every node;
    the user and its other rules stay. A node without that grant reports ``absent``."""
    validate_role(reader)
    return _change_grant(reader, owner, pattern, False, client, settings)
