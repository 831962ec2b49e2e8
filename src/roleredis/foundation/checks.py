"""The checks of single settings: each takes ``(value, where)`` and returns the clean value.

One set, used twice with the same meaning: the value objects of :mod:`roleredis.settings` run
them on construction (``where`` is the setting's name), and the loader of
:mod:`roleredis.foundation.config` runs the same function on each value it reads (``where`` then
says
which file or environment variable the value came from).

>>> whole(1, 65535)("6390", "REDIS_PORT (environment)")
6390
>>> try:
...     whole(1, 65535)("x", "redis.connection.port")
... except ConfigError as exc:
...     print(exc)
invalid setting redis.connection.port: expected a whole number, got 'x'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, InvalidArgumentError
from .ttl import MAX_TTL
from .urls import URL_SCHEMES, deployment_url, parse_node, redact_url, url_parts

Check = Callable[[Any, str], Any]


def closest(given: str, known: Iterable[str]) -> list[str]:
    """The known names most like ``given``, for a "did you mean": at most three, each about as
    close as the best; a dotted name also matches by its last part (the right name in the
    wrong place: ``max_connections`` for ``pool.max_connections``).

    >>> closest("connection.hots", ["connection.host", "connection.port", "pool.timeout"])
    ['connection.host']
    >>> closest("max_connections", ["pool.max_connections", "connection"])
    ['pool.max_connections']
    """
    leaf = given.rsplit(".", 1)[-1]

    def likeness(name: str) -> float:
        whole = difflib.SequenceMatcher(None, given, name).ratio()
        return max(whole, difflib.SequenceMatcher(None, leaf, name.rsplit(".", 1)[-1]).ratio())

    scored = sorted(((likeness(name), name) for name in set(known)), reverse=True)
    if not scored:
        return []
    best = scored[0][0]
    return [name for score, name in scored if score >= max(0.6, best - 0.05)][:3]


def fail(where: str, what: str) -> ConfigError:
    return ConfigError(f"invalid setting {where}: {what}")


def boolean(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise fail(where, f"expected true or false, got {value!r}")


def whole(low: int, high: int | None = None) -> Callable[[Any, str], int]:
    """A whole number from ``low`` to ``high`` (text of one is taken: environment values)."""

    def check(value: Any, where: str) -> int:
        if isinstance(value, bool):
            raise fail(where, f"expected a whole number, got {value!r}")
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise fail(where, f"expected a whole number, got {value!r}") from None
        if not isinstance(value, int):
            raise fail(where, f"expected a whole number, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise fail(where, f"must be {bound}, got {value}")
        return value

    return check


def optional_ttl(value: Any, where: str) -> int | None:
    if value is None:
        return None
    return whole(1, MAX_TTL)(value, where)  # a longer one Redis would refuse at every write


def seconds(value: Any, where: str) -> float:
    if isinstance(value, bool):
        raise fail(where, f"expected a number of seconds, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise fail(where, f"expected a number of seconds, got {value!r}") from None
    if not number > 0 or number == float("inf"):
        raise fail(where, f"must be a positive number of seconds, got {value!r}")
    return number


def text(value: Any, where: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise fail(where, f"expected a non-empty text, got {value!r}")
    return str(value)


def optional_text(value: Any, where: str) -> str | None:
    return None if value is None else text(value, where)


def redis_url(value: Any, where: str) -> str | None:
    if value is None:
        return None
    given = text(value, where)
    try:
        scheme = urlsplit(given).scheme
    except ValueError as exc:
        raise fail(where, f"not a valid URL ({exc})") from None
    if scheme not in URL_SCHEMES:
        raise fail(
            where,
            f"{redact_url(given)!r} is not a Redis URL; it must start with "
            + ", ".join(f"{s}://" for s in URL_SCHEMES),
        )
    if scheme != "memory":
        try:
            deployment_url(given)
            url_parts(given)
        except ConfigError as exc:
            raise fail(where, str(exc)) from None
    return given


def node_list(value: Any, where: str) -> tuple[str, ...]:
    """Nodes as ``host:port`` texts (a list of them, or of {host, port} mappings, or one
    comma-separated text); normalized to ``host:port``."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise fail(where, f"expected a list of host:port, got {value!r}")
    nodes = []
    for item in items:
        if isinstance(item, dict) and set(item) == {"host", "port"}:
            item = f"{item['host']}:{item['port']}"
        try:
            host, port = parse_node(str(item))
        except ValueError as exc:
            raise fail(where, str(exc)) from None
        nodes.append(f"{host}:{port}")
    return tuple(nodes)


def cert_reqs(value: Any, where: str) -> str:
    given = text(value, where).lower()
    if given not in ("required", "optional", "none"):
        raise fail(where, f"expected required, optional or none, got {value!r}")
    return given


def role_name(value: Any, where: str) -> str:
    from .keys import validate_role

    try:
        return validate_role(value)
    except InvalidArgumentError as exc:
        raise fail(where, str(exc)) from None


def optional_role_name(value: Any, where: str) -> str | None:
    return None if value is None else role_name(value, where)


def optional_size(value: Any, where: str) -> int | None:
    return None if value is None else whole(0)(value, where)


def compression(value: Any, where: str) -> str:
    given = text(value, where).lower()
    if given not in ("auto", "zlib", "zstd"):
        raise fail(where, f"expected auto, zlib or zstd, got {value!r}")
    return given


def role_list(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise fail(where, f"expected a list of role names, got {value!r}")
    return tuple(role_name(item, where) for item in value)


def key_list(value: Any, where: str) -> tuple[str, ...]:
    """Keys given as one comma-separated text (the environment) or as a sequence of texts."""
    parts = value if isinstance(value, list | tuple) else str(value).split(",")
    keys = []
    for part in parts:
        if not isinstance(part, str):
            raise fail(where, "expected texts (the keys are not shown)")
        if part.strip():
            keys.append(part.strip())
    return tuple(keys)


def env_role(value: Any, where: str) -> str:
    """ROLEREDIS_ROLE: a bad one is the caller's ``invalid_argument`` (the role of a call)."""
    from .keys import validate_role

    try:
        return validate_role(value)
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{where}: {exc}") from None
