"""Issue 8, item 4: a process exiting while its server hangs gives up its queued writes within
drain_timeout plus about a second, and says how many.

Before the fix, with the server SIGSTOPped, a process that queued 1,000 writes took 9.6 s to exit
(drain_timeout 5) and the writes vanished with no count and no log line: the writer was stuck in
a socket read when the exit join gave up. Now the closing thread accounts for what the writer
holds and what is queued, and shuts the writer's socket down.
"""

from __future__ import annotations

import re
import sys
import textwrap
import time
from pathlib import Path

from roleredis.testing import RedisServer
from tests.faults.test_async_outage import child_env, talking_child

DRAIN_TIMEOUT = 2.0  # below socket_timeout (5 s, the default): the writer is stuck in a read

CHILD = """
    import sys
    from roleredis import redis_flush, redis_write_async

    assert redis_write_async("warm", 0, role="stuck")["success"] is True
    assert redis_flush(timeout=5)["success"] is True  # the writer is connected
    print("ready", flush=True)
    sys.stdin.readline()  # the test pauses the server meanwhile
    for i in range(1000):
        assert redis_write_async(f"k{i}", i, role="stuck")["success"] is True
    print("queued", flush=True)
    # the interpreter exits here: atexit drains for drain_timeout, then gives up
"""


def test_exit_on_a_hung_server_is_bounded_and_counts_every_write(tmp_path: Path) -> None:
    env = child_env("", {"async": {"drain_timeout": DRAIN_TIMEOUT}}, tmp_path)
    with RedisServer() as server:
        env["REDIS_URL"] = server.url
        args = [sys.executable, "-c", textwrap.dedent(CHILD)]
        try:
            with talking_child(args, env, tmp_path) as child:
                assert child.stdin is not None and child.stdout is not None
                assert child.stdout.readline().strip() == "ready"
                server.pause()
                child.stdin.write("go\n")
                child.stdin.flush()
                assert child.stdout.readline().strip() == "queued"
                started = time.monotonic()
                _, stderr = child.communicate(timeout=30)
                elapsed = time.monotonic() - started
        finally:
            server.resume()
    assert child.returncode == 0, stderr
    assert elapsed < DRAIN_TIMEOUT + 1.5, f"exit took {elapsed:.1f} s (drain_timeout 2)"
    assert re.search(r"gave up 1000 (fire-and-forget )?writes", stderr), stderr
