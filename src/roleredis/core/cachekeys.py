"""What names a cache entry, without I/O: the canonical form of a call's arguments, and the
internal keys of a role's cache (its entries, its tags, its invalidation log) and the lease
name that guards an entry's computation.

Canonical means two calls share an entry exactly when their arguments are the same values of
the same types: ``f(1)``, ``f(1.0)`` and ``f(True)`` are three entries, a tuple is not a list,
an ``IntEnum`` member is not its int, NaN is not None. Arguments are bound to the function's
signature with defaults applied first (by the decorator), so ``f(1, b=2)`` and
``f(a=1, b=2)`` are one call. What has no canonical form (an object, a set, a dict with
non-str keys, NaN) raises :class:`Uncanonical`: such a call is not cached.

>>> canonical({"a": 1, "b": (1.0, True)})
b'{"d":{"a":1,"b":{"t":[1.0,true]}}}'
>>> canonical(1) != canonical(1.0) != canonical(True)
True
>>> ks = Keyspace("weather")
>>> entry_key(ks, "app.forecast", b'{"d":{"city":"Oslo"}}')[:50]
'__roleredis__:{weather}:cache:app.forecast:a2c562a'
>>> tag_key(ks, "user:42")
'__roleredis__:{weather}:cachetag:ad51f94d8846fc38df4923ff8a14e80e'
"""

from __future__ import annotations

import base64
import enum
import hashlib
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

from ..foundation.errors import InvalidArgumentError
from ..foundation.keys import Keyspace

__all__ = [
    "Uncanonical",
    "canonical",
    "canonical_arguments",
    "entry_key",
    "entry_namer",
    "entry_prefix",
    "function_id",
    "is_entry",
    "lease_name",
    "log_key",
    "safe_name",
    "tag_key",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
#: The longest function name kept readable in an entry key (the rest is in the hash).
_NAME_CHARS = 48
_SCALARS = (str, int, float, bool, type(None))


class Uncanonical(Exception):
    """The arguments have no canonical form: the call is not cached."""


def _typed(value: Any) -> Any:
    """``value`` as a JSON tree in which every object is a type tag: ``{"d": dict}``,
    ``{"t": tuple}``, ``{"e": enum member}``, ``{"y": bytes}``; lists and scalars as they are
    (JSON tells 1, 1.0, true and "1" apart)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise Uncanonical("a NaN or infinite float")
        return value
    if kind is list:
        return [_typed(v) for v in value]
    if kind is tuple:
        return {"t": [_typed(v) for v in value]}
    if kind is dict:
        out = {}
        for k, v in value.items():
            if type(k) is not str:
                raise Uncanonical(f"a dict key of type {type(k).__name__}")
            out[k] = _typed(v)
        return {"d": out}
    if isinstance(value, enum.Enum):
        return {"e": f"{kind.__module__}.{kind.__qualname__}.{value.name}"}
    if kind is bytes:
        return {"y": base64.b64encode(value).decode("ascii")}
    raise Uncanonical(f"a {kind.__name__}")


def canonical(value: Any) -> bytes:
    """The canonical JSON of ``value`` (sorted keys, type-tagged); Uncanonical if it has none."""
    try:
        return orjson.dumps(_typed(value), option=orjson.OPT_SORT_KEYS)
    except RecursionError:
        raise Uncanonical("arguments nested too deeply") from None
    except orjson.JSONEncodeError as exc:  # an int over 64 bits
        raise Uncanonical(str(exc)) from None


def canonical_arguments(arguments: dict[str, Any]) -> bytes:
    """The canonical JSON of a call's bound arguments (name -> value, in the signature's
    order): the top level needs no type tag (it is always the arguments), the values do.

    >>> canonical_arguments({"a": 1, "b": [1, (2,)]})
    b'{"a":1,"b":[1,{"t":[2]}]}'
    """
    out = arguments  # as it is while every value is a str, int or bool (the usual call)
    for value in arguments.values():
        kind = type(value)
        if not (kind is str or kind is int or kind is bool):
            out = {
                name: value
                if (kind := type(value)) is str or kind is int or kind is bool
                else _typed(value)
                for name, value in arguments.items()
            }
            break
    try:
        return orjson.dumps(out, option=orjson.OPT_SORT_KEYS)
    except RecursionError:
        raise Uncanonical("arguments nested too deeply") from None
    except orjson.JSONEncodeError as exc:
        raise Uncanonical(str(exc)) from None


def function_id(func: Any) -> str:
    """``module.qualname`` of a function (what its entries are named by)."""
    module = getattr(func, "__module__", None) or "?"
    return f"{module}.{getattr(func, '__qualname__', getattr(func, '__name__', '?'))}"


def safe_name(name: str) -> str:
    """``name`` with only ``[A-Za-z0-9_.-]`` (others as ``_``), at most 48 characters: the
    readable part of an entry key, which never holds a ``{``, ``}``, ``:`` or glob character
    of the caller's choosing (the hash holds the rest).

    >>> safe_name("app.Service.<locals>.load")
    'app.Service._locals_.load'
    """
    return _UNSAFE.sub("_", name)[-_NAME_CHARS:]


def _digest(*parts: bytes) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.hexdigest()


def entry_prefix(keyspace: Keyspace) -> str:
    """Every cache entry key of the role starts with this."""
    return keyspace.internal_key("cache:")


def entry_key(keyspace: Keyspace, func_id: str, args: bytes) -> str:
    """The key of the entry of ``func_id`` called with canonical ``args``:
    ``__roleredis__:{role}:cache:<name>:<hash>`` (the role's slot in a Cluster, internal:
    never in the role's key listing or index). Always hashed: a fixed length whatever the
    arguments, and nothing of theirs in a key name."""
    return entry_namer(keyspace, func_id)(args)


def entry_namer(keyspace: Keyspace, func_id: str) -> Callable[[bytes], str]:
    """:func:`entry_key` for one role and function, made once: the key's prefix and the hash
    of the function's name are computed here, so each call hashes only its arguments.

    >>> name = entry_namer(Keyspace("weather"), "app.forecast")
    >>> name(b"{}") == entry_key(Keyspace("weather"), "app.forecast", b"{}")
    True
    """
    prefix = f"{entry_prefix(keyspace)}{safe_name(func_id)}:"
    named = func_id.encode()
    seeded = hashlib.blake2b(digest_size=16)  # as _digest(func_id, args): lengths, then parts
    seeded.update(len(named).to_bytes(4, "big"))
    seeded.update(named)
    copy = seeded.copy

    def name(args: bytes) -> str:
        h = copy()
        h.update(len(args).to_bytes(4, "big"))
        h.update(args)
        return prefix + h.hexdigest()

    return name


def tag_key(keyspace: Keyspace, tag: Any) -> str:
    """The sorted set of the role's entries tagged ``tag`` (a non-empty str): member an entry
    key, score the time (ms) after which it has surely expired."""
    if not isinstance(tag, str) or not tag or len(tag) > 1024:
        raise InvalidArgumentError(f"a cache tag must be a str of 1-1024 characters, got {tag!r}")
    return keyspace.internal_key("cachetag:" + _digest(tag.encode("utf-8", "surrogatepass")))


def log_key(keyspace: Keyspace) -> str:
    """The role's cache invalidation log: a stream of the entry keys written or dropped, which
    every process of the role that keeps a local tier follows."""
    return keyspace.internal_key("cachelog")


def lease_name(key: str) -> str:
    """The lease that guards the computation of the entry ``key`` (a valid lease name).

    >>> lease_name("__roleredis__:{w}:cache:f:abc")[:6]
    'cache.'
    """
    return "cache." + _digest(key.encode())


def is_entry(keyspace: Keyspace, key: Any) -> bool:
    """Whether ``key`` (str or bytes, as a reply gives it) names one of the role's entries."""
    text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
    return isinstance(text, str) and text.startswith(entry_prefix(keyspace))
