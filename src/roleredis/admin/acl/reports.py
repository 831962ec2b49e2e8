"""What each node did, and the reports of provisioning, revoking, listing and grants.

Every function of :mod:`roleredis.admin.acl` acts on every data node and reports each node's
outcome (:class:`NodeResult`); a report's :attr:`PerNode.failed` lists the nodes that failed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Credentials", "Granted", "NodeResult", "PerNode", "Revoked", "UserListing"]


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


class PerNode:
    """What each node did (``nodes``), and those that failed."""

    nodes: tuple[NodeResult, ...]

    @property
    def failed(self) -> list[NodeResult]:
        return [node for node in self.nodes if not node.ok]


@dataclasses.dataclass(frozen=True)
class Credentials(PerNode):
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
class Revoked(PerNode):
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
class UserListing(PerNode):
    """The provisioned users merged over the nodes, and each node's outcome. Each user says on
    how many nodes it exists and how the nodes disagree about it (``drift``)."""

    users: list[dict[str, Any]]
    nodes: tuple[NodeResult, ...]

    @property
    def drift(self) -> list[str]:
        return [f"{user['username']}: {what}" for user in self.users for what in user["drift"]]

    def as_dict(self) -> dict[str, Any]:
        return {"users": self.users, "nodes": [node.as_dict() for node in self.nodes]}


@dataclasses.dataclass(frozen=True)
class Granted(PerNode):
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
