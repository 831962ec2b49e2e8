"""A batch of calls made on a stand-in client: a Mock, or anything that is not redis-py's.

Code written for the guide's original module tests itself by patching ``_get_redis_client`` with
a ``Mock`` and asserting the calls the original made. Such a client gets those calls here,
where the difference is harmless: ``setex(key, ttl, value)`` for a write with a TTL,
``set(key, value)`` without one, ``delete`` instead of UNLINK, ``scan(cursor, match=, count=)``
with keywords, and JSON text formatted as ``json.dumps`` formats it. Its replies may be str as
well as bytes; a write is acknowledged by any truthy reply, as the original took it.

Genuine redis-py clients never come here: :class:`~roleredis.transport.executor.SyncExecutor`
sends them
the batch packed on one connection. The operations (:mod:`roleredis.core.ops`) stay the same for
both; only the way their calls are made differs.

>>> from unittest.mock import Mock
>>> client = Mock()
>>> send_calls(client, [("set", ("weather:k", b'{"a":1}', 60))])[0] is True
True
>>> client.setex.call_args
call('weather:k', 60, '{"a": 1}')
"""

from __future__ import annotations

import json
from typing import Any

from ..foundation.batch import Lenient
from ..foundation.errors import refusal

__all__ = ["as_text", "send_calls"]

Call = tuple[str, tuple[Any, ...]]


def as_text(data: Any) -> Any:
    """Stored JSON bytes as the text ``json.dumps`` gives, other UTF-8 as text; envelopes
    (bytes, never UTF-8) stay bytes.

    >>> as_text(b'{"user_id":123,"name":"test"}')
    '{"user_id": 123, "name": "test"}'
    >>> as_text(b'"test_value"')
    '"test_value"'
    """
    if not isinstance(data, bytes):
        return data
    # an envelope starts with 0xff (codec.ENVELOPE_MAGIC): neither JSON nor UTF-8, it stays bytes
    try:
        return json.dumps(json.loads(data))
    except (ValueError, RecursionError):  # not JSON (the health probe's value): text as it is
        pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _acknowledged(reply: Any) -> Any:
    # a Mock's unset return value is a Mock: the original took any truthy reply as success
    return True if reply else reply


def _call(client: Any, name: str, args: tuple[Any, ...]) -> Any:
    if name == "set":
        if len(args) == 3:
            key, data, seconds = args
            return _acknowledged(client.setex(key, seconds, as_text(data)))
        return _acknowledged(client.set(args[0], as_text(args[1])))
    if name == "unlink":
        return client.delete(*args)
    if name == "readable":  # roleredis.foundation.batch.READABLE: a key-checked EXISTS
        return client.exists(*args)
    if name == "scan":
        cursor, match, count = args
        return client.scan(cursor, match=match, count=count)
    return getattr(client, name)(*args)


def send_calls(client: Any, batch: list[Call]) -> list[Any]:
    """Make each call of ``batch`` on ``client``, one by one; return the replies in order."""
    replies: list[Any] = []
    for name, args in batch:
        if type(name) is Lenient:
            try:
                replies.append(_call(client, name, args))
            except Exception as exc:  # its error is its reply
                replies.append(refusal(exc))
        else:
            replies.append(_call(client, name, args))
    return replies
