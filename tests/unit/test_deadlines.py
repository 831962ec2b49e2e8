"""Issue 21, item 3: a request's deadline is measured on the server's clock: the entry id's
time plus the timeout, against the server's now as learned from an XADD id (at most every
SKEW_EVERY seconds), never this host's clock alone."""

from __future__ import annotations

import time

from roleredis.core import ops
from roleredis.core.mail import mailbox
from roleredis.core.mail.deadlines import (
    SKEW_EVERY,
    deadline_ms,
    request_deadline,
    server_now,
)
from roleredis.foundation.keys import Keyspace


def test_a_deadline_is_the_entry_time_plus_the_timeout() -> None:
    assert request_deadline("1700000000000-7", 1500) == 1700000001.5
    assert deadline_ms(b"1500") == 1500
    for bad in (b"0", b"-1", b"1.5", b"86400001", b"", b"9" * 13, "1500", None):
        assert deadline_ms(bad) is None, bad


def test_now_is_the_servers_clock_learned_at_most_every_few_seconds() -> None:
    scope = ops.Scope(Keyspace("worker"))
    box = mailbox(scope)
    ticks = [100.0]
    box.clock = lambda: ticks[0]
    op = server_now(scope, box)
    (call,) = next(op)
    assert call[1][0] == "__roleredis__:{worker}:mail-clock"
    server_ms = int((time.time() + 3600) * 1000)  # the server is an hour ahead of this host
    try:
        op.send([f"{server_ms}-0".encode()])
    except StopIteration as done:
        now = done.value
    assert abs(now - (time.time() + 3600)) < 1
    # within SKEW_EVERY: no round trip, the difference learned is used
    ticks[0] += SKEW_EVERY / 2
    again = server_now(scope, box)
    try:
        next(again)
        raise AssertionError("a round trip was made")
    except StopIteration as done:
        assert abs(done.value - (time.time() + 3600)) < 1
    # past it: learned again
    ticks[0] += SKEW_EVERY
    assert next(server_now(scope, box))[0][0] == "xadd"


def test_a_failed_clock_read_falls_back_to_this_hosts_clock() -> None:
    scope = ops.Scope(Keyspace("worker"))
    box = mailbox(scope)
    op = server_now(scope, box)
    next(op)
    try:
        op.send([RuntimeError("NOPERM")])
    except StopIteration as done:
        assert abs(done.value - time.time()) < 1
    assert box.skew is None
