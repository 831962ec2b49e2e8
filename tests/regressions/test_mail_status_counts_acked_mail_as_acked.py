"""``roleredis mail ROLE`` counted acknowledged, not yet trimmed mail as unacknowledged.

Found by a user (issue 18, item 6): 3 sent, received and acked showed "3 unacknowledged": the
count was the channel's XLEN, and the trim after an ack rides with the recipient's next call.
Now it is the pending mail plus the entries after the group's last-delivered id.
"""

from __future__ import annotations

import pytest

from roleredis import RoleStore, redis_send

pytestmark = pytest.mark.backends("redis", "memory", "cluster")


def test_acked_mail_is_not_counted_unacknowledged(roleredis_env: object) -> None:
    beta = RoleStore("beta")
    for n in range(3):
        assert redis_send("beta", n, role="alpha")["success"] is True
    got = beta.receive(10)
    assert beta.ack([m.id for m in got]).acked == 3
    status, _ = RoleStore("beta").mail_status()  # a fresh store: as the command line runs
    assert [(s.sender, s.unacked, s.pending, s.more) for s in status] == [("alpha", 0, 0, False)]
    for n in range(2):
        redis_send("beta", n, role="alpha")
    beta.receive(1)  # one delivered (pending), one unread
    status, _ = RoleStore("beta").mail_status()
    assert [(s.unacked, s.pending) for s in status] == [(2, 1)]
