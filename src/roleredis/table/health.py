"""The health check's row, its parts beyond the store's probe: the deployment (mode and data
nodes), this process's writer counters and breaker, and why a refused probe may have been
refused.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .. import runtime
from ..core import ops, results
from ..foundation.config import Settings
from ..foundation.errors import scrub
from ..transport.connection import node_addresses
from ..transport.writer import process as writer_process
from .operation import Args, Result, Store

__all__ = ["deployment_report", "health_result", "with_breaker"]


def health_result(
    outcome: tuple[ops.Health, dict[str, int], dict[str, Any]], store: Store, args: Args
) -> Result:
    report, pool, deployment = outcome
    return results.health(report, store.role, pool, **deployment, **_health_extras())


def deployment_report(settings: Settings) -> dict[str, Any]:
    """The health check's ``mode`` (standalone, cluster, sentinel or embedded: the deployment
    the settings name, which a Sentinel-managed primary's own INFO does not tell) and
    ``nodes``: each data node as ``{"host", "port", "role": primary|replica}`` (a cluster's
    and a Sentinel group's from :func:`~roleredis.transport.connection.node_addresses`, the one
    server
    for standalone, none for the in-process backend). Blocking I/O for cluster and sentinel
    (CLUSTER NODES, SENTINEL queries): the async face runs it in a thread."""
    mode = "embedded" if settings.mode == "memory" else settings.mode
    report: dict[str, Any] = {"mode": mode, "nodes": []}
    if mode == "embedded":
        return report
    try:
        found = node_addresses(settings)
    except Exception as exc:  # the probe answered: the check passes, saying what is unknown
        report["nodes_error"] = scrub(f"{type(exc).__name__}: {exc}")
        return report
    report["nodes"] = [{"host": host, "port": port, "role": role} for host, port, role in found]
    return report


def _health_extras() -> dict[str, Any]:
    """What a health report adds about this process: the writer's counters, the breaker."""
    return {"background": writer_process.stats(), "breaker": runtime.breaker().report()}


def with_breaker(result: Result) -> Result:
    """A failed health check still says what the breaker is doing (if settings are valid), and
    why a refused probe may have been refused."""
    if not result["success"]:
        with contextlib.suppress(Exception):
            result["breaker"] = runtime.breaker().report()
        with contextlib.suppress(Exception):
            _explain_refused_probe(result)
    return result


def _explain_refused_probe(result: Result) -> None:
    """An ACL user may touch its role's keys only: a probe refused while running as the default
    role (no role given, none detected) most likely just ran in the wrong namespace."""
    default_role = runtime.settings().default_role
    if result.get("error_code") == "permission" and result.get("role") == default_role:
        hint = (
            f"; the probe ran as role {default_role!r} (key_management.default_role): if this "
            "user may only use one role's keys, check as that role with --role ROLE or "
            "ROLEREDIS_ROLE (redis_health_check(role=...) in code)"
        )
        result["error"] = result["message"] = result["error"] + hint
