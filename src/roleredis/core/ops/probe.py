"""The health check's operation: :func:`health` (PING, a probe key written, read back and
deleted in the role's namespace, then what INFO says).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import Mapping
from typing import Any

from ...foundation.errors import InternalError, PermissionDeniedError
from .scope import Op, Scope

__all__ = ["HEALTH_PROBE", "Health", "health"]

HEALTH_PROBE = "__roleredis_health__:"


@dataclasses.dataclass(frozen=True, slots=True)
class Health:
    latency_ms: float
    redis_version: str
    mode: str
    used_memory_human: str | None
    probe_key: str


def health(scope: Scope, embedded: str | None = None, token: bytes | None = None) -> Op[Health]:
    """PING, then write, read and delete a short-lived probe key in the role's namespace.

    Then INFO server and memory, in a batch of their own: a user that may not run INFO (a
    provisioned role's ACL user) gets a passing check with the version and mode "unknown".
    ``embedded`` names an in-process backend (which has no INFO): its version is reported.
    ``token`` is the probe's value (default: a random one); it must read back unchanged.
    """
    started = time.perf_counter()
    yield [("ping", ())]
    latency_ms = (time.perf_counter() - started) * 1000
    probe = scope.keyspace.full_key(HEALTH_PROBE + uuid.uuid4().hex)
    if token is None:
        token = uuid.uuid4().hex.encode()
    replies = yield [("set", (probe, token, 30)), ("get", (probe,)), ("unlink", (probe,))]
    got = replies[1]
    if got != token and got != token.decode():
        raise InternalError("health probe: the value read back differs from the one written")
    server: Mapping[str, Any] = {}
    memory: Mapping[str, Any] = {}
    unknown = embedded or "unknown"
    if embedded is None:
        # a user that may not run INFO (raised into this generator) gets what it may see
        with contextlib.suppress(PermissionDeniedError):
            server, memory = yield [("info", ("server",)), ("info", ("memory",))]
    return Health(
        latency_ms=round(latency_ms, 3),
        redis_version=str(server.get("redis_version", unknown)),
        mode=str(server.get("redis_mode", "embedded" if embedded else unknown)),
        used_memory_human=memory.get("used_memory_human"),
        probe_key=probe,
    )
