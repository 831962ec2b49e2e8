"""What the sending library checks, the recipient checks again: a sender's own commands can
write anything into its channel.

Found by an attacker's run (issue 17, item 3): raw XADDs by a sender delivered a 5 MB body
through max_message_bytes 10,000 and ``t=nan`` into results (not valid JSON), and 2,000
malformed entries into the recipient's dead letters (unbounded). Now an oversize body or a
malformed entry (a non-finite sent_at included) is never mail: it goes to the sender's dead
letters with its reason (an oversize body as a stub with its size), a sender's dead letters
are bounded (``messaging.dead_letters_per_sender``, its oldest first, so it cannot evict
another's), and fields roleredis does not know are ignored.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from roleredis import RoleStore, redis_dead_letters, redis_receive, redis_send
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory", "cluster")


def test_oversize_and_malformed_entries_are_dead_letters_never_mail(
    raw: Any, write_config: Any
) -> None:
    write_config({"messaging": {"max_message_bytes": 1000, "dead_letters_per_sender": 5}})
    assert redis_send("beta", "first", role="alpha")["success"] is True
    assert redis_receive(10, role="beta")["count"] == 1
    channel = Keyspace("beta").mail_channel("alpha")
    raw.xadd(channel, {"m": "big", "t": "1", "b": '"' + "x" * 5000 + '"'})
    raw.xadd(channel, {"m": "nan", "t": "nan", "b": '"nan"'})
    raw.xadd(channel, {"m": "inf", "t": "inf", "b": '"inf"'})
    raw.xadd(channel, {"m": "no body", "t": "1"})
    raw.xadd(channel, {"m": "later", "t": "2", "b": '"fine"', "v": "2", "x": "y" * 100})
    got = redis_receive(10, role="beta")
    assert got["success"] is True, got
    assert [(m["msg_id"], m["body"]) for m in got["messages"]] == [("later", "fine")]
    json.dumps(got, allow_nan=False)
    dead = redis_dead_letters(role="beta")
    json.dumps(dead, allow_nan=False)
    letters = {d["msg_id"]: d for d in dead["messages"]}
    assert {k: letters[k]["reason"] for k in letters} == {
        "big": "oversize",
        "nan": "malformed",
        "inf": "malformed",
        "no body": "malformed",
    }
    assert letters["big"]["body"] is None and letters["big"]["size"] == 5002  # a stub
    stored = raw.xrange(Keyspace("beta").dead_letters() + ":alpha")
    assert all(len(fields.get(b"b", b"")) <= 1000 for _, fields in stored)


def test_one_sender_cannot_evict_the_dead_letters_of_another(raw: Any, write_config: Any) -> None:
    write_config({"messaging": {"dead_letters_per_sender": 5}})
    for sender in ("alpha", "carol"):
        assert redis_send("beta", "hello", role=sender)["success"] is True
    assert redis_receive(10, role="beta")["count"] == 2
    raw.xadd(Keyspace("beta").mail_channel("carol"), {"m": "carol's bad one", "t": "x"})
    flood = Keyspace("beta").mail_channel("alpha")
    for n in range(40):
        raw.xadd(flood, {"m": f"bad {n}"})
    beta = RoleStore("beta")
    for _ in range(10):
        if not beta.receive(100):
            break
    letters = beta.dead_letters(count=1000)
    assert [d.msg_id for d in letters if d.sender == "carol"] == ["carol's bad one"]
    assert [d.msg_id for d in letters if d.sender == "alpha"] == [f"bad {n}" for n in range(35, 40)]
    dropped = raw.hgetall(Keyspace("beta").internal_key("dead-dropped"))
    assert dropped == {b"alpha": b"35"}
    _, total = beta.mail_status()
    assert total == 6
