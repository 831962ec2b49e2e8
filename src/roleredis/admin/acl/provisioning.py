"""Provisioning, revoking and listing roles' ACL users on every node.

:func:`provision` creates or updates a role's user with the rules of :mod:`.rules` (keeping its
password and grants), :func:`revoke` deletes it, :func:`list_users` merges the users over the
nodes and says how the nodes disagree (drift). The ``*_report`` variants report every node and
raise only if all failed.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Any

import redis

from ...core import budgets, leases
from ...foundation.config import Settings
from ...foundation.errors import RoleRedisError
from .nodes import data_nodes, node_error, raise_if_all_failed, raise_if_any_failed
from .reports import Credentials, NodeResult, Revoked, UserListing
from .rules import (
    EVENTS_PATTERN,
    USER_PREFIX,
    as_grant,
    channel_rules,
    password_hashes,
    split_rules,
    user_rules,
    username_for,
    withholding_events,
)

__all__ = [
    "list_report",
    "list_users",
    "load_functions",
    "provision",
    "revoke",
    "revoke_report",
]


def load_functions(client: Any) -> None:
    """Load (or replace) the lease and budget functions (:data:`roleredis.core.leases.LIBRARY`,
    :data:`roleredis.core.budgets.LIBRARY`) on the
    node of ``client``, a primary: role users may call them (FCALL) but never load them.
    Replicas get them by replication. Budget libraries of an earlier data layout are deleted:
    a process still calling them fails (and says to provision) instead of keeping the log
    without the sums."""
    for library in (leases, budgets):
        name, args = library.load_call()
        client.execute_command(name.upper(), *args)
    for old in budgets.OLD_LIBRARIES:
        with contextlib.suppress(redis.exceptions.ResponseError):  # not loaded
            client.execute_command("FUNCTION", "DELETE", old)


def provision(
    role: str,
    *,
    client: Any = None,
    new_password: bool = False,
    db: int | None = None,
    settings: Settings | None = None,
    events: bool = True,
    tracking: bool = False,
) -> Credentials:
    """Create the ACL user of ``role`` on every node, or update the rules of the one it has.

    ``events=False`` withholds reading other roles' events (and takes it back from a user
    provisioned with it); the role still publishes and reads its own. Provisioning again
    without it gives it back: the rule is provisioning's, like the command set.
    ``tracking=True`` lets the role's local cache tiers be kept true by the server (CLIENT
    TRACKING, SUBSCRIBE to ``__redis__:invalidate`` only); provisioning again without it takes
    it back. It is off by default: on Redis 7 a user who may run CLIENT TRACKING may also ask
    for BCAST, which shows it the name of every key changed on the node (see
    ``rules.TRACKING_COMMANDS``); without it the tiers follow the role's invalidation log.

    A new user gets a new password (returned, shown once), the same on every node. An existing
    user keeps its password (``password`` is None in the result) and every grant provisioning
    does not own; a node that lacks it gets the password hash the other nodes have. If the
    nodes' passwords differ, each keeps its own, a node without the user fails, and
    ``drift`` says so: ``new_password=True`` sets one new password everywhere (the old ones
    stop working at once). The lease functions (FCALL) are loaded on every primary. ``db``
    (default: the deployment's database) decides whether SELECT
    is allowed. ``settings`` default to the process's; ``client`` limits the work to one
    connection.

    Raises PermissionDeniedError (or the error of the kind that happened) if every node
    failed; otherwise check :attr:`Credentials.failed`.
    """
    username = username_for(role)
    with data_nodes(settings, client) as (used, nodes):
        results: dict[int, NodeResult] = {}
        first: RoleRedisError | None = None
        users: dict[int, Any] = {}
        for i, node in enumerate(nodes):
            try:
                users[i] = node.client.execute_command("ACL", "GETUSER", username)
            except Exception as exc:
                err, text = node_error(exc)
                first = first or err
                results[i] = NodeResult(node.address, node.kind, error=text)
        present = {i: password_hashes(user) for i, user in users.items() if user is not None}
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
            rules = user_rules(
                role, node.db if db is None else db, used, events=events, tracking=tracking
            )
            if user is not None and not events:
                rules = withholding_events(user, rules)
            rules += channel_rules(user, tracking)
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
                if node.kind != "replica":
                    load_functions(node.client)
            except Exception as exc:
                err, text = node_error(exc, [password])
                first = first or err
                results[i] = NodeResult(node.address, node.kind, error=text)
                continue
            outcome = "created" if user is None else "updated"
            results[i] = NodeResult(node.address, node.kind, outcome=outcome)
    ordered = [results[i] for i in range(len(nodes))]
    raise_if_all_failed(ordered, first)
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
    with data_nodes(settings, client) as (_, nodes):
        for node in nodes:
            try:
                count = int(node.client.execute_command("ACL", "DELUSER", username))
            except Exception as exc:
                err, text = node_error(exc)
                first = first or err
                results.append(NodeResult(node.address, node.kind, error=text))
                continue
            deleted = deleted or count > 0
            outcome = "deleted" if count else "absent"
            results.append(NodeResult(node.address, node.kind, outcome=outcome))
    raise_if_all_failed(results, first)
    return Revoked(role, username, deleted, tuple(results))


def revoke(role: str, *, client: Any = None, settings: Settings | None = None) -> bool:
    """Delete the ACL user of ``role`` on every node; False if no node had it.

    Raises if any node failed (:func:`revoke_report` says which, and goes on past them).
    """
    done = revoke_report(role, client=client, settings=settings)
    raise_if_any_failed(done.failed)
    return done.deleted


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
        "grants": [g for g in map(as_grant, rules) if g is not None],
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
    with data_nodes(settings, client) as (_, nodes):
        for node in nodes:
            try:
                lines = node.client.execute_command("ACL", "LIST")
            except Exception as exc:
                err, text = node_error(exc)
                first = first or err
                results.append(NodeResult(node.address, node.kind, error=text))
                continue
            answered.append(node.address)
            results.append(NodeResult(node.address, node.kind, outcome="listed"))
            for raw_line in lines:
                parsed = _parse(raw_line)
                if parsed is not None:
                    seen.setdefault(parsed[0], {})[node.address] = parsed[1]
    raise_if_all_failed(results, first)
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
    raise_if_any_failed(listing.failed)
    return listing.users
