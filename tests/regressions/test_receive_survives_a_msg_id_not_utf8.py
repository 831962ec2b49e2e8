"""A message whose msg_id is not UTF-8 (written by raw commands: the sender's own user may
write its channel) made the whole receive fail (UnicodeDecodeError in its fast path), with
every other message of that read left pending until the visibility timeout. The slow path
already read such a msg_id with replacement characters; the fast path now does the same."""

from __future__ import annotations

from typing import Any

import pytest

from roleredis import redis_receive, redis_send
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory")


def test_a_msg_id_not_utf8_does_not_fail_the_receive(raw: Any) -> None:
    assert redis_send("beta", "first", role="alpha")["success"] is True
    channel = Keyspace("beta").mail_channel("alpha")
    ((_, fields),) = raw.xrange(channel)
    raw.xadd(channel, {b"m": b"\xff\xfe", b"t": fields[b"t"], b"b": fields[b"b"]})
    got = redis_receive(10, role="beta")
    assert got["success"] is True, got
    assert [m["body"] for m in got["messages"]] == ["first", "first"]
