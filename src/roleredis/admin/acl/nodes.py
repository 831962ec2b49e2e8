"""Every data node of the deployment, with an admin client each, and what a failed node means.

:func:`data_nodes` yields the nodes (the one server; a Cluster's primaries and replicas; the
Sentinel primary and its replicas), or only the connection given; a node's error is scrubbed of
secrets (:func:`node_error`); a call raises only when every node failed
(:func:`raise_if_all_failed`), or when any did for the functions that promise it
(:func:`raise_if_any_failed`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

from ... import runtime
from ...foundation.config import Settings
from ...foundation.errors import RoleRedisError, scrub, translate
from .reports import NodeResult

__all__ = ["data_nodes", "node_error", "raise_if_all_failed", "raise_if_any_failed"]


def _database(admin: Any) -> int:
    """The database the admin connection uses: role users get the same one."""
    kwargs = getattr(getattr(admin, "connection_pool", None), "connection_kwargs", None) or {}
    return int(kwargs.get("db") or 0)


@dataclasses.dataclass
class _Node:
    address: str
    kind: str
    client: Any
    db: int


@contextlib.contextmanager
def data_nodes(
    settings: Settings | None, client: Any
) -> Iterator[tuple[Settings | None, list[_Node]]]:
    """The admin clients of every data node (closed after), and the settings they come from.

    ``client`` given: that one connection only (as before nodes were known). One standalone
    server: the process's shared client (or one built from ``settings``).
    """
    from ...transport import connection

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


def node_error(exc: BaseException, hide: Sequence[str | None] = ()) -> tuple[RoleRedisError, str]:
    translated = translate(exc)
    return translated, scrub(str(translated), [s for s in hide if s])


def raise_if_all_failed(results: list[NodeResult], first: RoleRedisError | None) -> None:
    if first is not None and results and all(not node.ok for node in results):
        if len(results) == 1:
            raise first
        raise type(first)(f"every node failed; {results[0].address}: {results[0].error}")


def raise_if_any_failed(failed: list[NodeResult]) -> None:
    if failed:
        from ...foundation.errors import InternalError

        raise InternalError(
            "; ".join(f"{node.address} ({node.kind}): {node.error}" for node in failed)
        )
