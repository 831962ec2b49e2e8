"""The groups of :class:`~roleredis.foundation.settings.Settings`: one small value object per
concern (connection, TLS, pool, keys, writer, breaker, serialization, encryption, deployment,
messaging, MCP), each field with its default, its check and the name errors give, checked (and
normalized) on construction. ``GROUPS`` maps each group's name in ``Settings`` to its class.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from . import checks
from .errors import ConfigError
from .urls import REDACTED, redact_url

__all__ = [
    "GROUPS",
    "BreakerSettings",
    "CacheSettings",
    "ConnectionSettings",
    "DeploymentSettings",
    "EncryptionSettings",
    "KeySettings",
    "McpSettings",
    "MessagingSettings",
    "PoolSettings",
    "SerializationSettings",
    "TlsSettings",
    "TracingSettings",
    "WriterSettings",
    "setting",
]


def setting(default: Any, check: checks.Check, name: str, *, secret: bool = False) -> Any:
    """A field of a group: its default, its check, the name errors give, whether it is secret.

    ``name`` is the setting's path under ``redis:`` in config.yaml, or for a setting that is
    only read from the environment, its own name.
    """
    return dataclasses.field(
        default=default, repr=not secret, metadata={"check": check, "name": name, "secret": secret}
    )


@dataclasses.dataclass(frozen=True, repr=False)
class _Group:
    """A frozen group of settings whose fields are checked (and normalized) on construction."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            clean = f.metadata["check"](getattr(self, f.name), f.metadata["name"])
            object.__setattr__(self, f.name, clean)

    def as_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The group's values by field name; secrets as ``***`` unless ``redact=False``."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if redact:
            for f in dataclasses.fields(self):
                value = out[f.name]
                if f.metadata["secret"] and isinstance(value, tuple):
                    out[f.name] = tuple(REDACTED for _ in value)
                elif f.metadata["secret"] and value:
                    out[f.name] = REDACTED
                elif f.metadata["check"] is checks.redis_url and value:
                    out[f.name] = redact_url(value)
        return out

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"{type(self).__name__}({shown})"


@dataclasses.dataclass(frozen=True, repr=False)
class ConnectionSettings(_Group):
    """Where the server is and how long to wait for it (a URL wins over host, port and db)."""

    url: str | None = setting(None, checks.redis_url, "redis.url")
    host: str = setting("localhost", checks.text, "redis.connection.host")
    port: int = setting(6379, checks.whole(1, 65535), "redis.connection.port")
    db: int = setting(0, checks.whole(0), "redis.connection.db")
    username: str | None = setting(None, checks.optional_text, "redis.connection.username")
    password: str | None = setting(None, checks.optional_text, "password", secret=True)
    socket_connect_timeout: float = setting(
        5.0, checks.seconds, "redis.connection.socket_connect_timeout"
    )
    socket_timeout: float = setting(5.0, checks.seconds, "redis.connection.socket_timeout")
    #: accepted from the guide's file, no effect: see IGNORED
    retry_on_timeout: bool = setting(True, checks.boolean, "redis.connection.retry_on_timeout")
    #: accepted from the guide's file, no effect: see IGNORED
    decode_responses: bool = setting(True, checks.boolean, "redis.connection.decode_responses")


@dataclasses.dataclass(frozen=True, repr=False)
class TlsSettings(_Group):
    """TLS (``connection.ssl: true`` or a rediss:// URL): the files and how strictly to check."""

    enabled: bool = setting(False, checks.boolean, "redis.connection.ssl")
    ca_certs: str | None = setting(None, checks.optional_text, "redis.connection.ssl_ca_certs")
    certfile: str | None = setting(None, checks.optional_text, "redis.connection.ssl_certfile")
    keyfile: str | None = setting(None, checks.optional_text, "redis.connection.ssl_keyfile")
    cert_reqs: str = setting("required", checks.cert_reqs, "redis.connection.ssl_cert_reqs")
    check_hostname: bool = setting(True, checks.boolean, "redis.connection.ssl_check_hostname")


@dataclasses.dataclass(frozen=True, repr=False)
class PoolSettings(_Group):
    """The one shared, bounded, blocking pool: its size and how long a call waits for it."""

    max_connections: int = setting(10, checks.whole(1), "redis.pool.max_connections")
    timeout: float = setting(5.0, checks.seconds, "redis.pool.timeout")


@dataclasses.dataclass(frozen=True, repr=False)
class KeySettings(_Group):
    """Prefixes and TTLs: the role's prefix, the fallback role, the default and highest TTL."""

    auto_prefix: bool = setting(True, checks.boolean, "redis.key_management.auto_prefix")
    #: keep a per-role index of keys (roleredis.core.index): listing and clearing cost O(the role)
    index: bool = setting(False, checks.boolean, "redis.key_management.index")
    default_ttl: int | None = setting(None, checks.optional_ttl, "redis.key_management.default_ttl")
    max_ttl: int | None = setting(None, checks.optional_ttl, "redis.key_management.max_ttl")
    default_role: str = setting("unknown", checks.role_name, "redis.key_management.default_role")
    role: str | None = setting(None, checks.optional_role_name, "ROLEREDIS_ROLE")

    def __post_init__(self) -> None:
        super().__post_init__()
        low, high = self.default_ttl, self.max_ttl
        if low is not None and high is not None and low > high:
            raise ConfigError(
                f"key_management.default_ttl ({low}) is larger than "
                f"key_management.max_ttl ({high}); lower default_ttl or raise max_ttl"
            )


@dataclasses.dataclass(frozen=True, repr=False)
class WriterSettings(_Group):
    """The fire-and-forget writer: queue bound, exit drain, give-up age, batch size."""

    max_pending: int = setting(100_000, checks.whole(1), "redis.async.max_pending")
    drain_timeout: float = setting(5.0, checks.seconds, "redis.async.drain_timeout")
    max_age: float = setting(300.0, checks.seconds, "redis.async.max_age")
    batch_size: int = setting(5000, checks.whole(1), "redis.async.batch_size")
    #: after each batch, WAIT for this many replicas; only replicated writes count as written
    wait_replicas: int = setting(0, checks.whole(0, 100), "redis.async.wait_replicas")
    #: how long a WAIT (the writer's, or a sync write's replicas=N) waits for the replicas
    wait_timeout: float = setting(1.0, checks.seconds, "redis.async.wait_timeout")


@dataclasses.dataclass(frozen=True, repr=False)
class BreakerSettings(_Group):
    """The circuit breaker: failures in a row that open it, seconds before it tries again."""

    failures: int = setting(3, checks.whole(2), "redis.breaker.failures")
    cooldown: float = setting(2.0, checks.seconds, "redis.breaker.cooldown")


@dataclasses.dataclass(frozen=True, repr=False)
class SerializationSettings(_Group):
    """Stored values: from what size to compress (None: never), with what, and the largest."""

    compression_threshold: int | None = setting(
        None, checks.optional_size, "redis.serialization.compression_threshold"
    )
    compression: str = setting("auto", checks.compression, "redis.serialization.compression")
    max_value_bytes: int = setting(
        512 * 1024 * 1024, checks.whole(1), "redis.serialization.max_value_bytes"
    )


@dataclasses.dataclass(frozen=True, repr=False)
class EncryptionSettings(_Group):
    """Encryption at rest: which roles, and the keys (only ever from the environment)."""

    roles: tuple[str, ...] = setting((), checks.role_list, "redis.encryption.roles")
    key: str | None = setting(None, checks.optional_text, "ROLEREDIS_ENCRYPTION_KEY", secret=True)
    old_keys: tuple[str, ...] = setting(
        (), checks.key_list, "ROLEREDIS_ENCRYPTION_OLD_KEYS", secret=True
    )


@dataclasses.dataclass(frozen=True, repr=False)
class DeploymentSettings(_Group):
    """Cluster or Sentinel from config.yaml (a redis+cluster:// or redis+sentinel:// URL names
    the nodes instead); whether a role's keys share one cluster slot."""

    cluster_nodes: tuple[str, ...] = setting((), checks.node_list, "redis.cluster.startup_nodes")
    colocate_roles: bool = setting(True, checks.boolean, "redis.cluster.colocate_roles")
    sentinel_service: str | None = setting(
        None, checks.optional_text, "redis.sentinel.service_name"
    )
    sentinel_nodes: tuple[str, ...] = setting((), checks.node_list, "redis.sentinel.nodes")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.cluster_nodes and (self.sentinel_nodes or self.sentinel_service):
            raise ConfigError(
                "redis.cluster and redis.sentinel are both set; a deployment is one or the "
                "other: remove one of the two sections"
            )
        if bool(self.sentinel_nodes) != bool(self.sentinel_service):
            raise ConfigError(
                "redis.sentinel needs both service_name (the primary the sentinels watch) and "
                "nodes (the sentinels, host:port)"
            )


@dataclasses.dataclass(frozen=True, repr=False)
class MessagingSettings(_Group):
    """Mailboxes and events between roles (Redis Streams): when unacknowledged mail comes
    back, after how many deliveries it becomes a dead letter, and the bounds."""

    #: seconds after which a message received and not acknowledged is delivered again
    visibility_timeout: float = setting(30.0, checks.seconds, "redis.messaging.visibility_timeout")
    #: deliveries after which a message moves to the recipient's dead letters
    max_deliveries: int = setting(5, checks.whole(1), "redis.messaging.max_deliveries")
    #: unacknowledged messages one sender's channel to one recipient may hold
    max_length: int = setting(100_000, checks.whole(1), "redis.messaging.max_length")
    #: the largest encoded message body, in bytes
    max_message_bytes: int = setting(
        1024 * 1024, checks.whole(1), "redis.messaging.max_message_bytes"
    )
    #: events one topic of one role keeps (the oldest go first)
    max_events: int = setting(10_000, checks.whole(1), "redis.messaging.max_events")
    #: names of the role's senders set one receive checks, at most (any role may add names)
    senders_per_receive: int = setting(100, checks.whole(1), "redis.messaging.senders_per_receive")
    #: dead letters kept per sender (its oldest go first: one sender cannot evict another's)
    dead_letters_per_sender: int = setting(
        1000, checks.whole(1), "redis.messaging.dead_letters_per_sender"
    )


@dataclasses.dataclass(frozen=True, repr=False)
class McpSettings(_Group):
    """What a role's model may pass and get through the agent tools (``roleredis mcp``,
    :func:`roleredis.call_tool`): the largest value, message or event it may send, and the
    size past which a list in a result (keys, messages, events) is cut; and how the HTTP
    transport bounds its connections."""

    #: the largest value, message or event a model may send, as JSON, in bytes (the smallest
    #: of this, messaging.max_message_bytes and serialization.max_value_bytes applies)
    max_value_bytes: int = setting(1024 * 1024, checks.whole(1), "redis.mcp.max_value_bytes")
    #: a result larger than this, as JSON, in bytes, has its list cut (never a value)
    max_result_bytes: int = setting(1024 * 1024, checks.whole(1), "redis.mcp.max_result_bytes")
    #: ``roleredis mcp --transport http``: seconds a connection has to send a request's
    #: headers (from when it opens, and again after each response) before it is closed
    header_timeout: float = setting(10.0, checks.seconds, "redis.mcp.header_timeout")
    #: ``roleredis mcp --transport http``: connections served at once; one more is answered
    #: 503 and closed at once (lowered to what the process's open-file limit leaves)
    max_connections: int = setting(100, checks.whole(1), "redis.mcp.max_connections")


@dataclasses.dataclass(frozen=True, repr=False)
class TracingSettings(_Group):
    """What the OpenTelemetry spans of operations say and which calls make one (when the
    application uses OpenTelemetry: see ``roleredis.otel``)."""

    #: spans name the keys (and patterns, topics) an operation touches; off: only how many.
    #: Values are never in a span.
    key_names: bool = setting(False, checks.boolean, "redis.tracing.key_names")
    #: fire-and-forget calls (redis_write_async, ...) make a span each too; off: only the
    #: writer's batches do (a span per call costs the caller what fire and forget saves)
    fire_and_forget: bool = setting(False, checks.boolean, "redis.tracing.fire_and_forget")


@dataclasses.dataclass(frozen=True, repr=False)
class CacheSettings(_Group):
    """The ``@cached`` decorator (see ``roleredis.cached``): how long a caller that finds an
    entry being computed by another waits for it before it computes the entry itself."""

    #: seconds a caller waits for another's computation of a missing entry (longer than a
    #: typical computation); also the life of the lease that guards a computation
    wait: float = setting(10.0, checks.seconds, "redis.cache.wait")


GROUPS: dict[str, type[_Group]] = {
    "connection": ConnectionSettings,
    "tls": TlsSettings,
    "pool": PoolSettings,
    "keys": KeySettings,
    "writer": WriterSettings,
    "breaker": BreakerSettings,
    "serialization": SerializationSettings,
    "encryption": EncryptionSettings,
    "deployment": DeploymentSettings,
    "messaging": MessagingSettings,
    "mcp": McpSettings,
    "tracing": TracingSettings,
    "cache": CacheSettings,
}
