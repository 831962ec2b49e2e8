"""A publisher's own XADD into its events stream must never fail a reader's read.

Found by an attacker's run (issue 17, item 3): an entry without the ``event`` field, or one
that does not decode, made ``redis_read_events`` fail, and a follower with it. Now such an
entry is given with the others, its ``event`` None and an ``error`` saying why, and read past;
the result stays strict JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from roleredis import redis_publish, redis_read_events
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory", "cluster")


def test_a_malformed_event_is_told_and_read_past(raw: Any) -> None:
    stream = Keyspace("weather").event_stream("alerts")
    raw.xadd(stream, {"t": "nan", "other": "1"})
    raw.xadd(stream, {"event": b"\xffrrQ?"})
    assert redis_publish("alerts", {"level": 1}, role="weather")["success"] is True
    got = redis_read_events("weather", "alerts", role="radar")
    assert got["success"] is True, got
    assert [e["event"] for e in got["events"]] == [None, None, {"level": 1}]
    assert ["error" in e for e in got["events"]] == [True, True, False]
    json.dumps(got, allow_nan=False)
