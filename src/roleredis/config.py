"""Settings: the guide's config.yaml layout plus environment overrides, validated once.

Where settings come from, highest first:

1. environment: ``REDIS_URL``, ``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``, ``REDIS_USERNAME``
   (only while ``use_env_overrides`` is true, the default) and ``REDIS_PASSWORD`` (always: the
   password is never read from a file);
2. the ``redis:`` section of the YAML file named by ``ROLEREDIS_CONFIG``, else ``./config.yaml``;
3. built-in defaults (localhost:6379, db 0, no TTLs).

>>> s = load_settings(environ={"REDIS_PORT": "6390", "REDIS_PASSWORD": "s3cret"})
>>> s.port, s.source("port")
(6390, 'env:REDIS_PORT')
>>> "s3cret" in repr(s)
False
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

from .errors import ConfigError, InvalidArgumentError
from .ttl import MAX_TTL

__all__ = ["REDACTED", "RedactedDict", "Settings", "load_settings"]

REDACTED = "***"
URL_SCHEMES = ("redis", "rediss", "unix", "memory")


class RedactedDict(dict[str, Any]):
    """A dict whose repr and str show the password as ``***`` (the real value stays inside)."""

    def __repr__(self) -> str:
        shown = {k: (REDACTED if k == "password" and v else v) for k, v in self.items()}
        return repr(shown)

    __str__ = __repr__


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated roleredis settings. Build them with :func:`load_settings`.

    The password is kept out of ``repr()``; ``sources`` says where each value came from.
    """

    enabled: bool = True
    url: str | None = None
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    socket_connect_timeout: float = 5.0
    socket_timeout: float = 5.0
    retry_on_timeout: bool = True
    decode_responses: bool = True
    ssl: bool = False
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_cert_reqs: str = "required"
    ssl_check_hostname: bool = True
    max_connections: int = 10
    pool_timeout: float = 5.0
    auto_prefix: bool = True
    #: keep a per-role index of keys (roleredis.index): listing and clearing cost O(the role)
    index: bool = False
    default_ttl: int | None = None
    max_ttl: int | None = None
    default_role: str = "unknown"
    role: str | None = None
    async_max_pending: int = 100_000
    async_drain_timeout: float = 5.0
    async_max_age: float = 300.0
    async_batch_size: int = 5000
    breaker_failures: int = 3
    breaker_cooldown: float = 2.0
    compression_threshold: int | None = None
    compression: str = "auto"
    max_value_bytes: int = 512 * 1024 * 1024
    encrypt_roles: tuple[str, ...] = ()
    encryption_key: str | None = dataclasses.field(default=None, repr=False)
    encryption_old_keys: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    use_env_overrides: bool = True
    config_path: str | None = None
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items())
        return f"Settings({fields})"

    def source(self, name: str) -> str:
        """Where setting ``name`` came from: ``default``, ``file:<path>`` or ``env:<VAR>``."""
        return self.sources.get(name, "default")

    def as_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The settings as a plain dict; the password is ``***`` unless ``redact=False``."""
        out = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("sources",)
        }
        if redact:
            if out["password"]:
                out["password"] = REDACTED
            if out["encryption_key"]:
                out["encryption_key"] = REDACTED
            out["encryption_old_keys"] = tuple(REDACTED for _ in out["encryption_old_keys"])
            if out["url"]:
                out["url"] = redact_url(out["url"])
        return out

    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a message: the password (given or in the URL, raw and as
        written in the URL), the encryption keys."""
        found = [self.password, self.encryption_key, *self.encryption_old_keys]
        if self.url:
            with contextlib.suppress(ValueError):
                raw = urlsplit(self.url).password
                found += [raw, unquote(raw) if raw else None]
            with contextlib.suppress(ValueError):
                found += [v for k, v in parse_qsl(urlsplit(self.url).query) if k == "password"]
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


def is_configured(settings: Settings) -> bool:
    """Whether the user pointed roleredis at a Redis (else the built-in localhost default)."""
    if settings.config_path is not None:
        return True
    return any(settings.source(name) != "default" for name in ("url", "host", "port", "db"))


def redact_url(url: str) -> str:
    """Hide the password of a Redis URL (in the user-info part or a ``password=`` query).

    >>> redact_url("redis://user:pw@host:6379/0")
    'redis://user:***@host:6379/0'
    >>> redact_url("unix:///tmp/redis.sock?db=1&password=pw")
    'unix:///tmp/redis.sock?db=1&password=***'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    netloc, query = parts.netloc, parts.query
    if parts.password is not None:
        netloc = f"{parts.username or ''}:{REDACTED}@{netloc.rsplit('@', 1)[1]}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(name == "password" for name, _ in pairs):
            query = "&".join(
                f"{name}={REDACTED if name == 'password' else value}" for name, value in pairs
            )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    rebuilt = parts._replace(netloc=netloc, query=query).geturl()
    if not netloc and url.startswith(f"{parts.scheme}://"):  # geturl() drops an empty "//"
        rebuilt = f"{parts.scheme}://" + rebuilt[len(parts.scheme) + 1 :]
    return rebuilt


def url_parts(url: str) -> dict[str, Any]:
    """host, port, db, username and password as given by a Redis URL (None where absent).

    >>> url_parts("redis://example.com:6390/2")["port"]
    6390
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL: {exc}") from None
    query = dict(parse_qsl(parts.query))
    db: Any = query.get("db")
    if db is None and parts.scheme != "unix" and parts.path.strip("/"):
        db = parts.path.strip("/")
    try:
        port = parts.port
        db = int(db) if db is not None else None
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: {exc}") from None
    return {
        "host": parts.path if parts.scheme == "unix" else parts.hostname,
        "port": port,
        "db": db,
        "username": unquote(parts.username) if parts.username else query.get("username"),
        "password": unquote(parts.password) if parts.password else query.get("password"),
    }


# --- validators: each takes (value, where) and returns the clean value or raises ConfigError ---


def _fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"invalid setting {where}: {what}")


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise _fail(where, f"expected true or false, got {value!r}")


def _int(low: int, high: int | None = None) -> Callable[[Any, str], int]:
    def check(value: Any, where: str) -> int:
        if isinstance(value, bool):
            raise _fail(where, f"expected a whole number, got {value!r}")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise _fail(where, f"expected a whole number, got {value!r}") from None
        if not isinstance(value, int):
            raise _fail(where, f"expected a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise _fail(where, f"must be {bound}, got {value}")
        return value

    return check


def _optional_ttl(value: Any, where: str) -> int | None:
    if value is None:
        return None
    return _int(1, MAX_TTL)(value, where)  # a longer one Redis would refuse at every write


def _positive_float(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise _fail(where, f"expected a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(where, f"expected a number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise _fail(where, f"must be a positive number of seconds, got {value!r}")
    return number


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise _fail(where, f"expected a non-empty text, got {value!r}")
    return str(value)


def _optional_text(value: Any, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _url(value: Any, where: str) -> str | None:
    if value is None:
        return None
    text = _text(value, where)
    try:
        scheme = urlsplit(text).scheme
    except ValueError as exc:
        raise _fail(where, f"not a valid URL ({exc})") from None
    if scheme not in URL_SCHEMES:
        raise _fail(
            where,
            f"{redact_url(text)!r} is not a Redis URL; it must start with "
            + ", ".join(f"{s}://" for s in URL_SCHEMES),
        )
    if scheme != "memory":
        try:
            url_parts(text)
        except ConfigError as exc:
            raise _fail(where, str(exc)) from None
    return text


def _cert_reqs(value: Any, where: str) -> str:
    text = _text(value, where).lower()
    if text not in ("required", "optional", "none"):
        raise _fail(where, f"expected required, optional or none, got {value!r}")
    return text


def _role_name(value: Any, where: str) -> str:
    from .keys import validate_role

    try:
        return validate_role(value)
    except InvalidArgumentError as exc:
        raise _fail(where, str(exc)) from None


def _optional_size(value: Any, where: str) -> int | None:
    return None if value is None else _int(0)(value, where)


def _compression(value: Any, where: str) -> str:
    text = _text(value, where).lower()
    if text not in ("auto", "zlib", "zstd"):
        raise _fail(where, f"expected auto, zlib or zstd, got {value!r}")
    return text


def _role_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str) or not isinstance(value, list):
        raise _fail(where, f"expected a list of role names, got {value!r}")
    return tuple(_role_name(item, where) for item in value)


def _key_list(value: Any, where: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _env_role(value: Any, where: str) -> str:
    from .keys import validate_role

    try:
        return validate_role(value)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{where}: {exc}") from None


# YAML path under `redis:` -> (Settings field, validator)
_FILE_SCHEMA: dict[str, tuple[str, Callable[[Any, str], Any]]] = {
    "enabled": ("enabled", _bool),
    "url": ("url", _url),
    "use_env_overrides": ("use_env_overrides", _bool),
    "connection.host": ("host", _text),
    "connection.port": ("port", _int(1, 65535)),
    "connection.db": ("db", _int(0)),
    "connection.username": ("username", _optional_text),
    "connection.socket_connect_timeout": ("socket_connect_timeout", _positive_float),
    "connection.socket_timeout": ("socket_timeout", _positive_float),
    "connection.retry_on_timeout": ("retry_on_timeout", _bool),
    "connection.decode_responses": ("decode_responses", _bool),
    "connection.ssl": ("ssl", _bool),
    "connection.ssl_ca_certs": ("ssl_ca_certs", _optional_text),
    "connection.ssl_certfile": ("ssl_certfile", _optional_text),
    "connection.ssl_keyfile": ("ssl_keyfile", _optional_text),
    "connection.ssl_cert_reqs": ("ssl_cert_reqs", _cert_reqs),
    "connection.ssl_check_hostname": ("ssl_check_hostname", _bool),
    "pool.max_connections": ("max_connections", _int(1)),
    "pool.timeout": ("pool_timeout", _positive_float),
    "pool.retry_on_timeout": ("retry_on_timeout", _bool),
    "key_management.auto_prefix": ("auto_prefix", _bool),
    "key_management.index": ("index", _bool),
    "key_management.default_ttl": ("default_ttl", _optional_ttl),
    "key_management.max_ttl": ("max_ttl", _optional_ttl),
    "key_management.default_role": ("default_role", _role_name),
    "async.max_pending": ("async_max_pending", _int(1)),
    "async.drain_timeout": ("async_drain_timeout", _positive_float),
    "async.max_age": ("async_max_age", _positive_float),
    "async.batch_size": ("async_batch_size", _int(1)),
    "breaker.failures": ("breaker_failures", _int(2)),
    "breaker.cooldown": ("breaker_cooldown", _positive_float),
    "serialization.compression_threshold": ("compression_threshold", _optional_size),
    "serialization.compression": ("compression", _compression),
    "serialization.max_value_bytes": ("max_value_bytes", _int(1)),
    "encryption.roles": ("encrypt_roles", _role_list),
}
_SECTIONS = {path.split(".", 1)[0] for path in _FILE_SCHEMA if "." in path}
_SECRET_FILE_KEYS = (
    "password",
    "connection.password",
    "pool.password",
    "encryption.key",
    "encryption.old_keys",
)

# environment variable -> (Settings field, validator, needs use_env_overrides)
_ENV_SCHEMA: dict[str, tuple[str, Callable[[Any, str], Any], bool]] = {
    "REDIS_URL": ("url", _url, True),
    "REDIS_HOST": ("host", _text, True),
    "REDIS_PORT": ("port", _int(1, 65535), True),
    "REDIS_DB": ("db", _int(0), True),
    "REDIS_USERNAME": ("username", _optional_text, True),
    "REDIS_PASSWORD": ("password", _optional_text, False),
    "ROLEREDIS_ROLE": ("role", _env_role, False),
    "ROLEREDIS_ENCRYPTION_KEY": ("encryption_key", _optional_text, False),
    "ROLEREDIS_ENCRYPTION_OLD_KEYS": ("encryption_old_keys", _key_list, False),
}


def _walk(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if value is None and str(key) in _SECTIONS and not prefix:
            continue  # a section whose lines are all commented out
        if isinstance(value, Mapping) and str(key) in _SECTIONS and not prefix:
            yield from _walk(value, f"{path}.")
        else:
            yield path, value


def _find_config_file(environ: Mapping[str, str]) -> Path | None:
    named = environ.get("ROLEREDIS_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(
                f"ROLEREDIS_CONFIG names {named!r}, which is not a readable file; "
                "fix the path or unset ROLEREDIS_CONFIG"
            )
        return path
    local = Path("config.yaml")
    return local if local.is_file() else None


def _read_file_section(path: Path) -> Mapping[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping with a 'redis:' section")
    section = document.get("redis", {})
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"config file {path}: 'redis' must be a mapping of settings")
    return section


def load_settings(
    environ: Mapping[str, str] | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    read_file: bool = True,
) -> Settings:
    """Read, merge and validate settings; raises :class:`ConfigError` naming the bad setting.

    ``environ`` defaults to ``os.environ``; ``path`` to ``ROLEREDIS_CONFIG`` or ./config.yaml;
    ``read_file=False`` reads no file at all.

    >>> load_settings(environ={}).host
    'localhost'
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    file_path = None
    if read_file:
        file_path = Path(path) if path is not None else _find_config_file(env)

    if file_path is not None:
        section = _read_file_section(file_path)
        for dotted, raw in _walk(section):
            where = f"redis.{dotted} in {file_path}"
            if dotted in _SECRET_FILE_KEYS:
                what, variable = (
                    ("an encryption key", "ROLEREDIS_ENCRYPTION_KEY / _OLD_KEYS")
                    if dotted.startswith("encryption.")
                    else ("a password", "REDIS_PASSWORD")
                )
                raise ConfigError(
                    f"{where}: {what} must not be stored in a config file; "
                    f"remove it and set the {variable} environment variable instead"
                )
            if dotted not in _FILE_SCHEMA:
                known = ", ".join(sorted(_FILE_SCHEMA))
                raise ConfigError(f"unknown setting redis.{dotted} in {file_path}; known: {known}")
            name, check = _FILE_SCHEMA[dotted]
            values[name] = check(raw, where)
            sources[name] = f"file:{file_path}"
            if name == "url" and values[name] and url_parts(values[name])["password"]:
                raise ConfigError(
                    f"{where} contains a password; a password must not be stored in a config "
                    "file: remove it from the URL and set REDIS_PASSWORD instead"
                )

    use_env = values.get("use_env_overrides", True)
    for var, (name, check, needs_overrides) in _ENV_SCHEMA.items():
        raw_env = env.get(var)
        if raw_env is None or raw_env == "" or (needs_overrides and not use_env):
            continue
        values[name] = check(raw_env, f"{var} (environment)")
        sources[name] = f"env:{var}"

    default_ttl, max_ttl = values.get("default_ttl"), values.get("max_ttl")
    if default_ttl is not None and max_ttl is not None and default_ttl > max_ttl:
        raise ConfigError(
            f"key_management.default_ttl ({default_ttl}) is larger than "
            f"key_management.max_ttl ({max_ttl}); lower default_ttl or raise max_ttl"
        )
    return Settings(
        **values,
        config_path=str(file_path) if file_path is not None else None,
        sources=sources,
    )
