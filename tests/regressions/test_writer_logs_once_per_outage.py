"""Issue 17, item 7: the writer logged the same "nothing accepts connections" line about 8 times
in one cluster failover: once per retry (backoff 0.05 s, 0.1 s, ... 2 s), and its "reachable
again" line did not say how long the outage lasted.

Now each outage is one line when it begins and one when it ends, with how long it lasted. Two
real outages of a standalone server (killed, then started again on its port) while writes are
queued: two of each line, and every write lands. (tests/faults/test_cluster_failover.py checks
the same in a cluster failover.)
"""

from __future__ import annotations

import logging
import re
import time

import pytest

from roleredis.foundation.config import load_settings
from roleredis.testing import RedisServer
from roleredis.transport.breaker import Breaker
from roleredis.transport.writer.thread import Writer

pytestmark = pytest.mark.real_server

OUTAGE = 2.5  # seconds: the writer retries about 7 times meanwhile


def test_each_outage_is_one_line_when_it_begins_and_one_when_it_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="roleredis.background")
    with RedisServer() as server:
        settings = load_settings(environ={"REDIS_URL": server.url})
        pauses: list[float] = []

        def pause(seconds: float) -> None:  # a retry after a failed send
            pauses.append(seconds)
            time.sleep(seconds)

        writer = Writer(settings, pause=pause, breaker=Breaker())
        try:
            writer.submit_write(("set", ("w:warm", b"0")))
            assert writer.flush(5)[0]
            for outage in range(2):
                server.kill()
                writer.submit_write(("set", (f"w:during{outage}", b"1")))
                time.sleep(OUTAGE)
                server.start()
                done, _, _, lost = writer.flush(15)
                assert (done, lost) == (True, 0)
            assert writer.stats()["written"] == 3
        finally:
            writer.close(1)
    assert len(pauses) >= 6, f"the writer retried only {len(pauses)} times in two outages"
    records = [r for r in caplog.records if r.name == "roleredis.background"]
    said = [r.getMessage() for r in records if r.levelno >= logging.INFO]
    refused = [m for m in said if "nothing accepts connections" in m]
    back = [m for m in said if "reachable again" in m]
    assert len(refused) == 2, said
    assert len(back) == 2, said
    for line in back:
        found = re.search(r"reachable again after (\d+\.\d) s", line)
        assert found is not None, line
        assert float(found.group(1)) >= OUTAGE - 0.5, line
