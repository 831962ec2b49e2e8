"""Issue 12, item 5: 10,000 messages consumed by 3 processes of one role, one SIGKILLed midway:
every message is processed at least once, none is lost (the killed process's unacknowledged
mail comes back to the others after the visibility timeout)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roleredis import RoleStore, redis_flush, redis_send_async

pytestmark = pytest.mark.backends("redis")

MESSAGES = 10_000

WORKER = """
import os, sys, time
from roleredis import redis_ack, redis_receive

out = open(sys.argv[1], "a", buffering=1)
hold = sys.argv[1] + ".hold"
open(sys.argv[1] + ".ready", "w").close()
while True:
    got = redis_receive(50, 200, role="worker")
    if not got["success"]:
        print(got, file=sys.stderr)
        continue
    if got["messages"]:
        bodies = [str(m["body"]) for m in got["messages"]]
        out.write("".join(f"{m['body']} {m['deliveries']}\\n" for m in got["messages"]))
        if os.path.exists(hold):  # told to stop here, with this mail in hand: say which
            with open(hold + "ing.tmp", "w") as held:
                held.write(" ".join(bodies))
            os.rename(hold + "ing.tmp", hold + "ing")
            time.sleep(3600)
        time.sleep(0.01)  # some work
        redis_ack([m["id"] for m in got["messages"]], role="worker")
"""


def _processed(files: list[Path]) -> list[int]:
    seen: list[int] = []
    for path in files:
        if path.exists():
            seen += [int(line.split()[0]) for line in path.read_text().splitlines() if line]
    return seen


def test_three_consumers_one_killed_lose_nothing(
    tmp_path: Path, write_config: object, redis_url: str
) -> None:
    config = write_config({"messaging": {"visibility_timeout": 0.5}})  # type: ignore[operator]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=redis_url, ROLEREDIS_CONFIG=str(config))
    files = [tmp_path / f"worker-{i}.txt" for i in range(3)]
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path)], env=env, cwd=tmp_path)
        for path in files
    ]
    victim: int | None = None
    held: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not all(Path(f"{path}.ready").exists() for path in files):
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.02)
        for n in range(MESSAGES):
            assert redis_send_async("worker", n, role="producer")["success"] is True
        assert redis_flush(timeout=30)["lost"] == 0
        while time.monotonic() < deadline:
            if victim is None:
                counts = [len(_processed([path])) for path in files]
                if max(counts) >= 300:
                    victim = counts.index(max(counts))
                    Path(f"{files[victim]}.hold").touch()  # stop with mail in hand
            elif not held and Path(f"{files[victim]}.holding").exists():
                held = {int(b) for b in Path(f"{files[victim]}.holding").read_text().split()}
                workers[victim].send_signal(signal.SIGKILL)
                workers[victim].wait()
            elif held:
                status, _ = RoleStore("worker").mail_status()
                if [(s.unacked, s.pending) for s in status] == [(0, 0)]:
                    break  # every message acknowledged
            time.sleep(0.05)
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    assert victim is not None and held, "no worker was killed with mail in hand"
    assert set(_processed(files)) == set(range(MESSAGES))  # none lost
    # each message was first delivered to one process only
    firsts = [
        int(body)
        for path in files
        for body, deliveries in (line.split() for line in path.read_text().splitlines() if line)
        if deliveries == "1"
    ]
    assert sorted(firsts) == list(range(MESSAGES))
    survivors = [path for i, path in enumerate(files) if i != victim]
    again = {
        int(body): int(deliveries)
        for path in survivors
        for body, deliveries in (line.split() for line in path.read_text().splitlines() if line)
        if int(body) in held
    }
    # what the killed one held came back to the others, as a second delivery
    assert set(again) == held
    assert set(again.values()) == {2}
