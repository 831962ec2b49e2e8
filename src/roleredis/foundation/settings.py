"""Settings as small value objects, each validated on construction.

:class:`Settings` is made of one group per concern (:class:`ConnectionSettings`,
:class:`TlsSettings`, :class:`PoolSettings`, :class:`KeySettings`, :class:`WriterSettings`,
:class:`BreakerSettings`, :class:`SerializationSettings`, :class:`EncryptionSettings`,
:class:`DeploymentSettings`, :class:`MessagingSettings`, :class:`McpSettings`,
:class:`TracingSettings`, :class:`CacheSettings`, defined in
:mod:`roleredis.foundation.setting_groups` and exposed here) plus where the values came from.
A bad value is refused where it is given, with a
:class:`~roleredis.foundation.errors.ConfigError` that names the setting;
:mod:`roleredis.foundation.config` reads the file and the environment into these objects with
the very same checks.

The flat names of earlier versions (``settings.port``, ``settings.async_max_pending``) still
read, and still construct and replace: ``Settings(port=6390)``, ``settings.replace(port=1)``.

>>> s = Settings(port="6390")
>>> s.port, s.connection.port
(6390, 6390)
>>> try:
...     Settings(port="x")
... except ConfigError as exc:
...     print(exc)
invalid setting redis.connection.port: expected a whole number, got 'x'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar, overload
from urllib.parse import urlsplit

from . import checks
from .budgets import Budget
from .budgets import parse as parse_budgets
from .errors import ConfigError
from .setting_groups import (
    GROUPS,
    BreakerSettings,
    CacheSettings,
    ConnectionSettings,
    DeploymentSettings,
    EncryptionSettings,
    KeySettings,
    McpSettings,
    MessagingSettings,
    PoolSettings,
    SerializationSettings,
    TlsSettings,
    TracingSettings,
    WriterSettings,
    setting,
)
from .sharing import Sharing
from .sharing import parse as parse_sharing
from .urls import (
    REDACTED,
    Deployment,
    deployment_url,
    parse_node,
    redact_url,
    url_parts,
    url_secrets,
)

__all__ = [
    "IGNORED",
    "REDACTED",
    "BreakerSettings",
    "CacheSettings",
    "ConnectionSettings",
    "DeploymentSettings",
    "EncryptionSettings",
    "KeySettings",
    "McpSettings",
    "MessagingSettings",
    "PoolSettings",
    "RedactedDict",
    "SerializationSettings",
    "Settings",
    "TlsSettings",
    "TracingSettings",
    "WriterSettings",
    "is_configured",
    "setting",
]

#: Settings of the guide's config.yaml that are accepted and have no effect, and why.
IGNORED = {
    "decode_responses": "roleredis reads bytes and decodes values itself",
    "retry_on_timeout": "roleredis never retries a timed-out command (a slow server would "
    "only get slower); refused connections are retried within socket_connect_timeout",
}


T = TypeVar("T")


class Flat(Generic[T]):
    """A flat, read-only name of earlier versions for one field of a group."""

    def __init__(self, group: str, field: str) -> None:
        self.group, self.field = group, field

    @overload
    def __get__(self, obj: None, owner: type) -> Flat[T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object, owner: type) -> Any:
        if obj is None:
            return self
        return getattr(getattr(obj, self.group), self.field)


@dataclasses.dataclass(frozen=True, init=False)
class Settings:
    """Validated roleredis settings: one value object per concern, and where each value came from.

    Usually made by :func:`roleredis.foundation.config.load_settings`. Constructed directly, it
    takes the
    groups (``Settings(pool=PoolSettings(max_connections=4))``) or the flat names
    (``Settings(max_connections=4)``); a bad value raises :class:`ConfigError` naming it.
    Secrets are kept out of ``repr()``; :meth:`source` says where each value came from.
    """

    enabled: bool
    connection: ConnectionSettings
    tls: TlsSettings
    pool: PoolSettings
    keys: KeySettings
    writer: WriterSettings
    breaker: BreakerSettings
    serialization: SerializationSettings
    encryption: EncryptionSettings
    deployment: DeploymentSettings
    messaging: MessagingSettings
    mcp: McpSettings
    tracing: TracingSettings
    cache: CacheSettings
    use_env_overrides: bool
    config_path: str | None
    #: whether the config file read (config_path) had a ``redis:`` section; a file without one
    #: (only the application's own sections) does not point roleredis at a Redis
    config_has_redis: bool
    sources: Mapping[str, str] = dataclasses.field(repr=False, compare=False)
    #: the top-level ``sharing:`` section of config.yaml (granted reads checked in the
    #: library, see :mod:`roleredis.foundation.sharing`); None when there is none
    sharing: Sharing | None = None
    #: the top-level ``budgets:`` section of config.yaml (shared rate budgets, written to Redis
    #: by ``roleredis budget set``: see :mod:`roleredis.foundation.budgets`); name -> Budget
    budgets: Mapping[str, Budget] = dataclasses.field(default_factory=dict, compare=False)

    #: the flat names, in the order as_dict() and ``roleredis config`` show them
    FLAT: ClassVar[dict[str, Flat[Any]]]

    url = Flat[str | None]("connection", "url")
    host = Flat[str]("connection", "host")
    port = Flat[int]("connection", "port")
    db = Flat[int]("connection", "db")
    username = Flat[str | None]("connection", "username")
    password = Flat[str | None]("connection", "password")
    socket_connect_timeout = Flat[float]("connection", "socket_connect_timeout")
    socket_timeout = Flat[float]("connection", "socket_timeout")
    retry_on_timeout = Flat[bool]("connection", "retry_on_timeout")
    decode_responses = Flat[bool]("connection", "decode_responses")
    ssl = Flat[bool]("tls", "enabled")
    ssl_ca_certs = Flat[str | None]("tls", "ca_certs")
    ssl_certfile = Flat[str | None]("tls", "certfile")
    ssl_keyfile = Flat[str | None]("tls", "keyfile")
    ssl_cert_reqs = Flat[str]("tls", "cert_reqs")
    ssl_check_hostname = Flat[bool]("tls", "check_hostname")
    max_connections = Flat[int]("pool", "max_connections")
    pool_timeout = Flat[float]("pool", "timeout")
    auto_prefix = Flat[bool]("keys", "auto_prefix")
    index = Flat[bool]("keys", "index")
    default_ttl = Flat[int | None]("keys", "default_ttl")
    max_ttl = Flat[int | None]("keys", "max_ttl")
    default_role = Flat[str]("keys", "default_role")
    role = Flat[str | None]("keys", "role")
    async_max_pending = Flat[int]("writer", "max_pending")
    async_drain_timeout = Flat[float]("writer", "drain_timeout")
    async_max_age = Flat[float]("writer", "max_age")
    async_batch_size = Flat[int]("writer", "batch_size")
    async_wait_replicas = Flat[int]("writer", "wait_replicas")
    async_wait_timeout = Flat[float]("writer", "wait_timeout")
    breaker_failures = Flat[int]("breaker", "failures")
    breaker_cooldown = Flat[float]("breaker", "cooldown")
    compression_threshold = Flat[int | None]("serialization", "compression_threshold")
    compression = Flat[str]("serialization", "compression")
    max_value_bytes = Flat[int]("serialization", "max_value_bytes")
    encrypt_roles = Flat[tuple[str, ...]]("encryption", "roles")
    encryption_key = Flat[str | None]("encryption", "key")
    encryption_old_keys = Flat[tuple[str, ...]]("encryption", "old_keys")
    cluster_nodes = Flat[tuple[str, ...]]("deployment", "cluster_nodes")
    colocate_roles = Flat[bool]("deployment", "colocate_roles")
    sentinel_service = Flat[str | None]("deployment", "sentinel_service")
    sentinel_nodes = Flat[tuple[str, ...]]("deployment", "sentinel_nodes")
    visibility_timeout = Flat[float]("messaging", "visibility_timeout")
    max_deliveries = Flat[int]("messaging", "max_deliveries")
    max_length = Flat[int]("messaging", "max_length")
    max_message_bytes = Flat[int]("messaging", "max_message_bytes")
    max_events = Flat[int]("messaging", "max_events")
    senders_per_receive = Flat[int]("messaging", "senders_per_receive")
    dead_letters_per_sender = Flat[int]("messaging", "dead_letters_per_sender")
    mcp_max_value_bytes = Flat[int]("mcp", "max_value_bytes")
    mcp_max_result_bytes = Flat[int]("mcp", "max_result_bytes")
    mcp_header_timeout = Flat[float]("mcp", "header_timeout")
    mcp_max_connections = Flat[int]("mcp", "max_connections")
    tracing_key_names = Flat[bool]("tracing", "key_names")
    tracing_fire_and_forget = Flat[bool]("tracing", "fire_and_forget")
    cache_wait = Flat[float]("cache", "wait")

    def __init__(
        self,
        *,
        enabled: Any = True,
        connection: ConnectionSettings | None = None,
        tls: TlsSettings | None = None,
        pool: PoolSettings | None = None,
        keys: KeySettings | None = None,
        writer: WriterSettings | None = None,
        breaker: BreakerSettings | None = None,
        serialization: SerializationSettings | None = None,
        encryption: EncryptionSettings | None = None,
        deployment: DeploymentSettings | None = None,
        messaging: MessagingSettings | None = None,
        mcp: McpSettings | None = None,
        tracing: TracingSettings | None = None,
        cache: CacheSettings | None = None,
        use_env_overrides: Any = True,
        config_path: str | None = None,
        config_has_redis: bool | None = None,
        sources: Mapping[str, str] | None = None,
        sharing: Sharing | Mapping[str, Any] | None = None,
        budgets: Mapping[str, Any] | None = None,
        **flat: Any,
    ) -> None:
        groups = (
            connection,
            tls,
            pool,
            keys,
            writer,
            breaker,
            serialization,
            encryption,
            deployment,
            messaging,
            mcp,
            tracing,
            cache,
        )
        given: dict[str, Any] = dict(zip(GROUPS, groups, strict=True))
        changes: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
        for name, value in flat.items():
            if name not in self.FLAT:
                close = checks.closest(name, [*self.FLAT, *GROUPS])
                hint = f"; did you mean {' or '.join(close)}?" if close else ""
                raise TypeError(f"Settings() got an unexpected keyword argument {name!r}{hint}")
            where = self.FLAT[name]
            changes[where.group][where.field] = value
        for group, kind in GROUPS.items():
            current = given[group]
            if current is not None and not isinstance(current, kind):
                raise ConfigError(f"invalid setting {group}: expected {kind.__name__}")
            if current is None:
                current = kind(**changes[group])
            elif changes[group]:
                current = dataclasses.replace(current, **changes[group])
            object.__setattr__(self, group, current)
        object.__setattr__(self, "enabled", checks.boolean(enabled, "redis.enabled"))
        object.__setattr__(
            self,
            "use_env_overrides",
            checks.boolean(use_env_overrides, "redis.use_env_overrides"),
        )
        object.__setattr__(self, "config_path", config_path)
        if config_has_redis is None:  # made by hand: a file named is taken as roleredis's own
            config_has_redis = config_path is not None
        object.__setattr__(self, "config_has_redis", bool(config_has_redis))
        object.__setattr__(self, "sources", dict(sources or {}))
        if sharing is not None and not isinstance(sharing, Sharing):
            sharing = parse_sharing(sharing, "sharing")
        object.__setattr__(self, "sharing", sharing)
        if budgets and not all(isinstance(b, Budget) for b in budgets.values()):
            budgets = parse_budgets(budgets, "budgets")
        object.__setattr__(self, "budgets", dict(budgets or {}))

    @property
    def mode(self) -> str:
        """``standalone``, ``cluster``, ``sentinel`` or ``memory`` (the embedded backend)."""
        found = self.topology()
        if found is not None:
            return found.kind
        return "memory" if (self.url or "").startswith("memory:") else "standalone"

    @property
    def hash_tag_roles(self) -> bool:
        """Whether a role's keys are ``{role}:key`` (a Cluster with colocate_roles, and
        auto_prefix on) rather than ``role:key``: the layout ACL key patterns and copies use."""
        return self.mode == "cluster" and self.colocate_roles and self.auto_prefix

    def topology(self) -> Deployment | None:
        """The Cluster or Sentinel deployment in use (from the URL, else from config.yaml);
        None for one server. A URL wins over the file, as the environment does elsewhere."""
        if self.url:
            return deployment_url(self.url)
        d = self.deployment
        if d.cluster_nodes:
            nodes = tuple(parse_node(n) for n in d.cluster_nodes)
            return Deployment("cluster", nodes, None, 0, self.ssl, self.username, self.password)
        if d.sentinel_nodes:
            nodes = tuple(parse_node(n) for n in d.sentinel_nodes)
            service = d.sentinel_service
            return Deployment("sentinel", nodes, service, self.db, self.ssl, None, None)
        return None

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` (flat names or groups), checked like a new one.

        >>> Settings().replace(async_max_pending=10).writer.max_pending
        10
        """
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"Settings({fields})"

    def source(self, name: str) -> str:
        """Where setting ``name`` came from: ``default``, ``file:<path>`` or ``env:<VAR>``."""
        return self.sources.get(name, "default")

    def as_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The settings by flat name; secrets are ``***`` unless ``redact=False``."""
        out: dict[str, Any] = {"enabled": self.enabled}
        shown = {group: getattr(self, group).as_dict(redact=redact) for group in GROUPS}
        for name, where in self.FLAT.items():
            out[name] = shown[where.group][where.field]
        out["use_env_overrides"] = self.use_env_overrides
        out["config_path"] = self.config_path
        return out

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a message: the password (given or in the URL, raw and as
        written in the URL), the encryption keys."""
        found = [self.password, self.encryption_key, *self.encryption_old_keys]
        if self.url:
            found += url_secrets(self.url)
        return tuple(dict.fromkeys(s for s in found if s))

    def connection_info(self) -> RedactedDict:
        """The guide's ``_get_redis_config()`` mapping: host, port, db, password (real), ...

        With a URL, host, port, db and the credentials are those the URL gives (the
        REDIS_PASSWORD / REDIS_USERNAME variables fill in what it leaves out).
        """
        address: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "db": self.db,
            "username": self.username,
            "password": self.password,
        }
        if self.url:
            from_url = url_parts(self.url)
            address.update(
                host=from_url["host"],
                port=from_url["port"] if from_url["port"] is not None else 6379,
                db=from_url["db"] if from_url["db"] is not None else 0,
                username=from_url["username"] or self.username,
                password=from_url["password"] or self.password,
            )
            if urlsplit(self.url).scheme == "unix":
                address["port"] = None
        return RedactedDict(
            **address,
            url=redact_url(self.url) if self.url else None,
            socket_connect_timeout=self.socket_connect_timeout,
            socket_timeout=self.socket_timeout,
            max_connections=self.max_connections,
            enabled=self.enabled,
            auto_prefix=self.auto_prefix,
            default_ttl=self.default_ttl,
            max_ttl=self.max_ttl,
        )


Settings.FLAT = {name: value for name, value in vars(Settings).items() if isinstance(value, Flat)}


def flat_field(name: str) -> dataclasses.Field[Any]:
    """The group field behind flat name ``name`` (its metadata holds the check and the name)."""
    where = Settings.FLAT[name]
    fields = {f.name: f for f in dataclasses.fields(GROUPS[where.group])}
    return fields[where.field]


class RedactedDict(dict[str, Any]):
    """A dict whose repr and str show the password as ``***`` (the real value stays inside)."""

    def __repr__(self) -> str:
        shown = {k: (REDACTED if k == "password" and v else v) for k, v in self.items()}
        return repr(shown)

    __str__ = __repr__


def is_configured(settings: Settings) -> bool:
    """Whether the user pointed roleredis at a Redis (else the built-in localhost default): a
    config file with a ``redis:`` section, or an address from the environment or an option."""
    if settings.config_path is not None and settings.config_has_redis:
        return True
    return any(settings.source(name) != "default" for name in ("url", "host", "port", "db"))
