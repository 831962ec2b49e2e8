"""Read grants between roles: :func:`grant` adds the root rule ``%R~<owner prefix><pattern>``
to the reader's user on every node, :func:`revoke_grant` takes it away (rewriting the user's
root key patterns without it); each node reports granted, unchanged, revoked or absent.
"""

from __future__ import annotations

from typing import Any

from ...foundation.config import Settings
from ...foundation.errors import InvalidArgumentError, NotFoundError, RoleRedisError
from ...foundation.keys import validate_role
from .nodes import data_nodes, node_error, raise_if_all_failed
from .reports import Granted, NodeResult
from .rules import grant_pattern, root_key_rules, username_for

__all__ = ["grant", "revoke_grant"]


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
    with data_nodes(settings, client) as (used, nodes):
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
                rules = root_key_rules(user)
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
                err, text = node_error(exc)
                first = first or err
                results.append(NodeResult(node.address, node.kind, error=text))
                continue
            results.append(NodeResult(node.address, node.kind, outcome=outcome))
    if first is None and results and all(not node.ok for node in results):
        first = NotFoundError(results[0].error or "")
    raise_if_all_failed(results, first)
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
