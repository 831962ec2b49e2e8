"""Names added to a recipient's senders set must not make it create a stream or a group each.

Found by an attacker's run (issue 17, item 1): any role may SADD names to another's senders
set; 100,000 made-up names made the recipient create a stream and a group per name (XGROUP
CREATE ... MKSTREAM, one round trip each: 4.5 s for its first receive, 51 MB of empty
streams). Now a receive checks at most ``messaging.senders_per_receive`` names, in one round
trip, never with MKSTREAM, and removes the names that have no channel.
"""

from __future__ import annotations

from typing import Any

import pytest

from roleredis import redis_receive, redis_send
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory", "cluster")


def test_fake_names_get_no_stream_and_leave_the_set(raw: Any, write_config: Any) -> None:
    write_config({"messaging": {"senders_per_receive": 50}})
    senders = Keyspace("beta").mail_senders()
    fakes = [f"fake{n}" for n in range(400)]
    raw.sadd(senders, *fakes)
    assert redis_send("beta", "real", role="alpha")["success"] is True
    got: list[Any] = []
    for _ in range(30):  # 401 names, 50 a receive: a pass takes about 9 receives
        result = redis_receive(10, role="beta")
        assert result["success"] is True, result
        got += result["messages"]
        if got and len(raw.smembers(senders)) == 1:
            break
    assert [m["body"] for m in got] == ["real"]
    assert raw.exists(*(Keyspace("beta").mail_channel(name) for name in fakes)) == 0
    assert raw.smembers(senders) == {b"alpha"}  # the fakes are gone, the real sender stays
