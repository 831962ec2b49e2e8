"""A channel deleted and made again by a send must not lose that send to a trim computed on
the old channel.

Found under load (``test_a_receiver_finds_a_deleted_channel_again[memory]``: ``[] ==
['after']``): the recipient acked "before", its ack found ``MINID <before>+1`` safe and left the
XTRIM for the store's next batch; the channel was deleted and "after" sent, and a new stream's
ids start again from the server's clock, so "after", sent in the same millisecond, got the id
of "before" (or a lower sequence) and the XTRIM that went with the next receive removed it
unread. The ack now reads the server's clock in its batch and trims at once when the MINID is
of that millisecond (``mail.ack``).

The server's clock is frozen here (the memory backend's, fakeredis, reads ``time.time``), so
every id is of one millisecond: the case that happened by chance, every time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from roleredis import RoleStore
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("memory")


def test_a_send_to_a_remade_channel_survives_the_trim(
    raw: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alpha, beta = RoleStore("alpha"), RoleStore("beta")
    channel = Keyspace("beta").mail_channel("alpha")
    frozen = time.time()
    monkeypatch.setattr(time, "time", lambda: frozen)
    for n in range(5):
        alpha.send("beta", f"before {n}")
        got = beta.receive(10)
        assert [m.body for m in got] == [f"before {n}"]
        beta.ack([m.id for m in got])
        raw.delete(channel)  # an administrator deletes the channel...
        alpha.send("beta", f"after {n}")  # ...and a send makes it again, same millisecond
        got = beta.receive(10)  # meets NOGROUP and finds the channel again
        got += beta.receive(10)
        assert [m.body for m in got] == [f"after {n}"]
        beta.ack([m.id for m in got])
        raw.delete(channel)
