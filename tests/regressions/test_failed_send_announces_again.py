"""A send that failed before its announce (the SADD of the sender to the recipient's senders
set) went out must not keep the next sends from announcing: ``prepare_send`` marked the sender
announced before anything was sent, so when the first send to a recipient failed (here its
XLEN, on a key that is no stream), the sends after it, for ANNOUNCE_EVERY seconds, went
without the SADD and the recipient did not know the channel was there: mail sent, never
received. Both the direct send and the fire-and-forget one (whose XLEN runs in the caller)."""

from __future__ import annotations

from typing import Any

import pytest

from roleredis import redis_flush, redis_receive, redis_send, redis_send_async, tools
from roleredis.core import mail
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory")


@pytest.mark.parametrize("send", [redis_send, redis_send_async])
def test_a_send_after_a_failed_first_send_is_received(raw: Any, send: Any) -> None:
    # the clock stands still: every send is within ANNOUNCE_EVERY of the failed one
    mail.mailbox(tools.role_store("alpha").scope).clock = lambda: 0.0
    channel = Keyspace("beta").mail_channel("alpha")
    raw.set(channel, "not a stream")  # the XLEN before the first send is refused
    failed = send("beta", "lost?", role="alpha")
    assert failed["success"] is False, failed
    raw.delete(channel)
    assert send("beta", "second", role="alpha")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    got = redis_receive(10, role="beta")
    assert [m["body"] for m in got["messages"]] == ["second"], got
