"""Issue 17, item 5: a process killed in the middle of a write never hides keys from a trusted
key index.

Before the fix a write sent SET then ZADD (and write_many its SETs then one ZADD, the writer
its MSET runs then one ZADD): a process SIGKILLed part way through a batch had sent the SETs
but not the ZADD, and with the index trusted those keys were never listed by redis_get_keys
nor deleted by redis_clear_role_data (4,968 of them after 8 kills of write_many). The index
entry now goes first (ZADD, SET, ZADD): every key that exists after any number of kills is
listed and cleared, on every deployment and both Cluster layouts.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import redis

from roleredis import redis_clear_role_data, redis_get_keys

pytestmark = pytest.mark.backends("redis", "sentinel", "cluster", "cluster_spread")

KILLS = 8
ROLE = "w"

# the child: writes new keys (4 KB each) until killed; a line on stdout once writing started
CHILD = """
import sys
from roleredis import redis_flush, redis_write_async, redis_write_many
mode, run = sys.argv[1], sys.argv[2]
value = "x" * 4096
n = 0
while True:
    if mode == "many":
        result = redis_write_many({f"{run}-{n}-{i}": value for i in range(3000)}, role="w")
        assert result["success"] is True, result
    else:  # the writer's batches: MSET runs of writes without a TTL, SETs with one
        for i in range(500):
            ttl = 3600 if i % 2 else None
            redis_write_async(f"{run}-{n}-{i}", value, ttl=ttl, role="w")
        redis_flush(30)
    if n == 0:
        print("writing", flush=True)
    n += 1
"""


def _kill_mid_write(mode: str, run: int) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode, str(run)],
        stdout=subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n", "the child did not start writing"
        time.sleep(random.uniform(0.0, 0.3))
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()


def _existing(raw: redis.Redis) -> set[str]:
    return {key.decode()[len(ROLE) + 1 :] for key in raw.keys(f"{ROLE}:*")}


@pytest.mark.parametrize("mode", ["many", "async"])
def test_keys_written_by_a_killed_process_are_listed_and_cleared(
    raw: redis.Redis, write_config: Callable[..., object], mode: str
) -> None:
    write_config({"key_management": {"index": True}})
    assert redis_clear_role_data(role=ROLE)["success"] is True  # an empty role: index trusted
    for run in range(KILLS):
        _kill_mid_write(mode, run)
    existing = _existing(raw)
    assert existing, "no key was written before the kills"
    listed = redis_get_keys(role=ROLE)
    assert listed["success"] is True, listed
    hidden = existing - set(listed["keys"])
    assert not hidden, f"{len(hidden)} of {len(existing)} keys are not listed"
    cleared = redis_clear_role_data(role=ROLE)
    assert cleared["success"] is True, cleared
    left = _existing(raw)
    assert not left, f"{len(left)} keys left after clearing"
