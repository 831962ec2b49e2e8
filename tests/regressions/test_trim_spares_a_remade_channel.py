"""A channel deleted and made again by a send must not lose that send to a trim computed on
the old channel.

Found under load (``test_a_receiver_finds_a_deleted_channel_again[memory]``: ``[] ==
['after']``): the recipient acked "before", its ack found ``MINID <before>+1`` safe and left the
XTRIM for the next batch; the channel was deleted and "after" sent, and a new stream's ids start
again from the clock, so "after" got the id of "before" (same millisecond) and the XTRIM that
went with the next receive removed it unread. Trims now stop at the start of the millisecond
(``mail._safe_minid``), which every entry of a remade channel is at or after.
"""

from __future__ import annotations

from typing import Any

import pytest

from roleredis import RoleStore
from roleredis.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory")


def test_a_send_to_a_remade_channel_survives_the_pending_trim(raw: Any) -> None:
    alpha, beta = RoleStore("alpha"), RoleStore("beta")
    channel = Keyspace("beta").mail_channel("alpha")
    alpha.send("beta", "warm up")  # the group is made and known
    for message in beta.receive(10):
        beta.ack([message.id])
    for n in range(20):
        alpha.send("beta", f"before {n}")
        (before,) = beta.receive(10)
        beta.ack([before.id])  # leaves a trim for the next batch
        entry = before.id.partition("/")[2]
        raw.delete(channel)
        # what a send in the same millisecond gives the remade channel: the old id again
        assert raw.xadd(channel, {"m": f"x{n}", "t": "0", "b": b'"after"'}, id=entry) is not None
        got = beta.receive(10)  # carries the trim, meets NOGROUP, finds the channel again
        got += beta.receive(10)
        assert [m.body for m in got] == ["after"], n
        beta.ack([m.id for m in got])
