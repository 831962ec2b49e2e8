"""The writer's log of a refused write gives the size of what was written: for a queued send
it gave the size of the XADD's second argument (the ``*`` of its id), "1 bytes", whatever the
message, so a send refused for its size (over proto-max-bulk-len) did not say so."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from roleredis import redis_flush, redis_send_async, tools
from roleredis.core import mail
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("memory")


def test_a_refused_send_is_logged_with_its_bodys_size(
    raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    mail.mailbox(tools.role_store("alpha").scope).clock = lambda: 0.0  # the length stays fresh
    assert redis_send_async("beta", 1, role="alpha")["success"] is True
    assert redis_flush(timeout=10)["lost"] == 0
    channel = Keyspace("beta").mail_channel("alpha")
    raw.delete(channel)
    raw.set(channel, "not a stream")  # XADD will be refused (WRONGTYPE)
    with caplog.at_level(logging.ERROR, logger="roleredis"):
        assert redis_send_async("beta", "x" * 5000, role="alpha")["success"] is True
        assert redis_flush(timeout=10)["lost"] == 1
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    sizes = [int(n) for line in logged for n in re.findall(r"(\d+) bytes\)", line)]
    assert sizes and sizes[0] >= 5000, logged
