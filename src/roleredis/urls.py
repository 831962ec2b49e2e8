"""Redis URLs: which schemes roleredis takes, what a URL gives, and how to show one safely.

>>> redact_url("redis://user:pw@host:6379/0")
'redis://user:***@host:6379/0'
>>> url_parts("redis://example.com:6390/2")["db"]
2
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .errors import ConfigError

__all__ = ["REDACTED", "URL_SCHEMES", "redact_url", "url_parts"]

REDACTED = "***"
URL_SCHEMES = ("redis", "rediss", "unix", "memory")


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
