"""Redis URLs: which schemes roleredis takes, what a URL gives, and how to show one safely.

>>> redact_url("redis://user:pw@host:6379/0")
'redis://user:***@host:6379/0'
>>> url_parts("redis://example.com:6390/2")["db"]
2
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ConfigError

__all__ = [
    "DEPLOYMENT_SCHEMES",
    "REDACTED",
    "URL_SCHEMES",
    "Deployment",
    "deployment_url",
    "parse_node",
    "redact_url",
    "url_parts",
]

REDACTED = "***"
#: schemes of one server
SERVER_SCHEMES = ("redis", "rediss", "unix", "memory")
#: schemes of a Redis Cluster (any of its nodes) and of a Sentinel-managed primary
DEPLOYMENT_SCHEMES = ("redis+cluster", "rediss+cluster", "redis+sentinel", "rediss+sentinel")
URL_SCHEMES = SERVER_SCHEMES + DEPLOYMENT_SCHEMES


def parse_node(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as a pair; ValueError saying what is wrong.

    >>> parse_node("127.0.0.1:7000")
    ('127.0.0.1', 7000)
    """
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host.strip("[]"), int(port)


class Deployment(NamedTuple):
    """What a ``redis+cluster://`` or ``redis+sentinel://`` URL says."""

    kind: str  # "cluster" or "sentinel"
    nodes: tuple[tuple[str, int], ...]
    service_name: str | None  # sentinel only
    db: int
    tls: bool
    username: str | None
    password: str | None


def deployment_url(url: str) -> Deployment | None:
    """The deployment a multi-node URL names; None for a single-server URL.

    ``redis+cluster://host:port[,host:port...]`` (any nodes of the cluster; db 0 only) and
    ``redis+sentinel://host:port[,host:port...]/service_name[/db]`` (the sentinels, and the
    primary they watch); ``rediss+`` for TLS. Credentials (``user:password@``) are the data
    nodes'. Raises ConfigError saying what is wrong.

    >>> d = deployment_url("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/cache/2")
    >>> d.kind, d.nodes, d.service_name, d.db
    ('sentinel', (('10.0.0.1', 26379), ('10.0.0.2', 26379)), 'cache', 2)
    """
    scheme, sep, rest = url.partition("://")
    if scheme not in DEPLOYMENT_SCHEMES:
        return None
    if not sep:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: expected {scheme}://...")
    base, _, kind = scheme.partition("+")
    location, _, query_text = rest.partition("?")
    netloc, _, path = location.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    query = dict(parse_qsl(query_text))
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    username = username or query.get("username")
    password = password or query.get("password")
    try:
        nodes = tuple(parse_node(h) for h in hosts.split(",") if h.strip())
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: {exc}") from None
    if not nodes:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: no host:port given")
    parts = [p for p in path.split("/") if p]
    service = None
    db_text = query.get("db")
    if kind == "sentinel":
        if not parts:
            raise ConfigError(
                f"invalid Redis URL {redact_url(url)!r}: name the service the sentinels watch "
                f"({scheme}://host:port,.../service_name[/db])"
            )
        service = unquote(parts[0])
        db_text = parts[1] if len(parts) > 1 else db_text
        extra = parts[2:]
    else:
        db_text = parts[0] if parts else db_text
        extra = parts[1:]
    if extra:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: unexpected /{'/'.join(extra)}")
    try:
        db = int(db_text) if db_text is not None else 0
    except ValueError:
        raise ConfigError(f"invalid Redis URL {redact_url(url)!r}: db must be a number") from None
    if kind == "cluster" and db != 0:
        raise ConfigError(
            f"invalid Redis URL {redact_url(url)!r}: a Redis Cluster has only database 0"
        )
    return Deployment(kind, nodes, service, db, base == "rediss", username, password)


def redact_url(url: str) -> str:
    """Hide the password of a Redis URL (in the user-info part or a ``password=`` query).

    >>> redact_url("redis://user:pw@host:6379/0")
    'redis://user:***@host:6379/0'
    >>> redact_url("unix:///tmp/redis.sock?db=1&password=pw")
    'unix:///tmp/redis.sock?db=1&password=***'
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparsable URL>"
    netloc, query = parts.netloc, parts.query
    if password is not None:
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


#: what a URL of each one-server scheme looks like, for the messages that refuse one
URL_SHAPES = {
    "redis": "redis://[[username]:password@]host[:port][/db], e.g. redis://localhost:6379/0",
    "rediss": "rediss://[[username]:password@]host[:port][/db], e.g. rediss://cache:6380/0",
    "unix": "unix:///path/to/redis.sock[?db=N], e.g. unix:///run/redis/redis.sock?db=0",
}


def url_parts(url: str) -> dict[str, Any]:
    """host, port, db, username and password as given by a Redis URL (None where absent).

    >>> url_parts("redis://example.com:6390/2")["port"]
    6390
    """
    deployment = deployment_url(url)
    if deployment is not None:  # several nodes: the first one stands for them
        first_host, first_port = deployment.nodes[0]
        return {
            "host": first_host,
            "port": first_port,
            "db": deployment.db,
            "username": deployment.username,
            "password": deployment.password,
        }
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL: {exc}") from None
    shape = URL_SHAPES.get(parts.scheme)
    expected = f" (expected {shape})" if shape else ""
    if parts.scheme in ("redis", "rediss") and not url[len(parts.scheme) + 1 :].startswith("//"):
        # redis:/localhost: urlsplit takes "localhost" for the path, i.e. the db
        raise ConfigError(
            f"invalid Redis URL {redact_url(url)!r}: '//' missing after '{parts.scheme}:'{expected}"
        )
    query = dict(parse_qsl(parts.query))
    db: Any = query.get("db")
    if db is None and parts.scheme != "unix" and parts.path.strip("/"):
        db = parts.path.strip("/")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"invalid Redis URL {redact_url(url)!r}: the port is not a number from 0 to "
            f"65535{expected}"
        ) from None
    try:
        db = int(db) if db is not None else None
    except ValueError:
        raise ConfigError(
            f"invalid Redis URL {redact_url(url)!r}: the db {db!r} is not a number{expected}"
        ) from None
    return {
        "host": parts.path if parts.scheme == "unix" else parts.hostname,
        "port": port,
        "db": db,
        "username": unquote(parts.username) if parts.username else query.get("username"),
        "password": unquote(parts.password) if parts.password else query.get("password"),
    }


def url_secrets(url: str) -> list[str]:
    """The password a URL holds, raw and as written (percent-encoded), in either place."""
    found: list[str | None] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    try:
        raw = parts.password
    except ValueError:
        raw = None
    found += [raw, unquote(raw) if raw else None]
    found += [v for k, v in parse_qsl(parts.query) if k == "password"]
    return [s for s in found if s]
