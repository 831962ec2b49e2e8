"""Issue 22, item 5: leases proven under faults. 3 processes x 4 threads contend for one lease
while the test SIGKILLs its holder's process at random moments (a new process takes its
place), against a fenced counter (a file under flock, apart from the server under test) that
refuses a write with a lower fence than one it accepted:

- no write with a lower fence is accepted after one with a higher fence, and, since every
  write follows ``held.check()``, none is even refused where no failover can lose data: a
  holder never believes it holds a lease granted since to another;
- fences never repeat, and each thread's grants have strictly increasing fences;
- a SIGKILLed holder blocks the others for at most its ttl: right after the kill, the lease
  key's remaining time on the server is at most the ttl (the server frees it then), and a
  grant to another process follows every kill.

20 s each: on one server, on a Cluster, under ACL users (the role's own user), on a
Sentinel-managed primary (with a failover during the run: grants wait for a replica, so no
fence repeats across it; a renewal that did not reach the replica may shorten a lease, so
refusals may happen there, and are what fences are for), and in 12 threads on the embedded
backend (memory:// lives in one process: there is no process to kill).
"""

from __future__ import annotations

import fcntl
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from roleredis import reset
from roleredis.admin import acl
from roleredis.testing import RedisServer
from roleredis.testing.cluster import SentinelGroup

TTL = 2.0
ROLE = "fenced"
LEASE = "__roleredis__:{fenced}:lease:job"

#: The fenced counter: an append-only log under an exclusive flock. ``G fence who`` a grant,
#: ``A fence who`` a write accepted, ``R fence who`` a write refused (lower than the highest
#: accepted). Used by the workers and by the in-process variant alike.
RESOURCE = """
import fcntl, os

class Fenced:
    def __init__(self, path):
        self.path = path

    def _locked(self, line_of):
        with open(self.path, "a+") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            try:
                log.seek(0)
                highest = 0
                for line in log.read().splitlines():
                    kind, fence, _ = line.split(" ", 2)
                    if kind == "A":
                        highest = max(highest, int(fence))
                line = line_of(highest)
                log.write(line + "\\n")
                log.flush()
                return line[0] == "A" or line[0] == "G"
            finally:
                fcntl.flock(log, fcntl.LOCK_UN)

    def granted(self, fence, who):
        self._locked(lambda highest: f"G {fence} {who}")

    def write(self, fence, who):
        return self._locked(lambda highest: f"{'A' if fence >= highest else 'R'} {fence} {who}")
"""

WORKER = (
    RESOURCE
    + """
import sys, threading, time
from roleredis import HeldError, LostError, RoleRedisError, lease

log_path, until, replicas, ttl = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(
    sys.argv[4]
)
fenced = Fenced(log_path)

def contend(n):
    who = f"{os.getpid()}.{n}"
    while time.time() < until:
        try:
            with lease("job", ttl=ttl, wait=1, role="fenced", replicas=replicas) as held:
                fenced.granted(held.fence, who)
                for _ in range(3):
                    held.check()
                    fenced.write(held.fence, who)
                    time.sleep(0.005)
        except (HeldError, LostError):
            continue
        except RoleRedisError as exc:  # a failover: try again
            print(who, exc, file=sys.stderr)
            time.sleep(0.05)

open(log_path + f".ready.{os.getpid()}", "w").close()
threads = [threading.Thread(target=contend, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""
)


def _lines(path: Path) -> list[tuple[str, int, str]]:
    with open(path, "a+") as log:
        fcntl.flock(log, fcntl.LOCK_SH)
        try:
            log.seek(0)
            text = log.read()
        finally:
            fcntl.flock(log, fcntl.LOCK_UN)
    found = []
    for line in text.splitlines():
        kind, fence, who = line.split(" ", 2)
        found.append((kind, int(fence), who))
    return found


def _check(lines: list[tuple[str, int, str]], *, refusals_allowed: bool) -> None:
    grants = [(fence, who) for kind, fence, who in lines if kind == "G"]
    accepted = [fence for kind, fence, _ in lines if kind == "A"]
    refused = [(fence, who) for kind, fence, who in lines if kind == "R"]
    assert len(grants) >= 20, f"too little contention to prove anything: {len(grants)} grants"
    assert accepted == sorted(accepted), "a lower fence was accepted after a higher one"
    fences = [fence for fence, _ in grants]
    assert len(set(fences)) == len(fences), "a fence was granted twice"
    by_thread: dict[str, list[int]] = {}
    for fence, who in grants:
        by_thread.setdefault(who, []).append(fence)
    for who, own in by_thread.items():
        assert own == sorted(set(own)), f"{who}'s fences did not strictly increase: {own}"
    if not refusals_allowed:
        assert refused == [], f"holders wrote after another was granted: {refused[:5]}"


class Contention:
    """The worker processes, started and killed by the test."""

    def __init__(self, tmp_path: Path, env: dict[str, str], seconds: float, replicas: int):
        self.log = tmp_path / "fenced.log"
        self.log.touch()
        self.env = env
        self.until = time.time() + seconds
        self.replicas = replicas
        self.workers: list[subprocess.Popen[bytes]] = []
        self.cwd = tmp_path

    def spawn(self) -> None:
        args = [sys.executable, "-c", WORKER, str(self.log), str(self.until), str(self.replicas)]
        args.append(str(TTL))
        with open(self.cwd / "workers.err", "ab") as err:  # failures ridden out, for a reader
            self.workers.append(subprocess.Popen(args, env=self.env, cwd=self.cwd, stderr=err))

    def holder(self) -> subprocess.Popen[bytes] | None:
        """The process of the last grant (the likely holder), if it is one of ours alive."""
        grants = [who for kind, _, who in _lines(self.log) if kind == "G"]
        if not grants:
            return None
        pid = int(grants[-1].split(".")[0])
        return next((w for w in self.workers if w.pid == pid and w.poll() is None), None)

    def kill_holders(self, ttl_ms_left: Any, kills: int) -> list[int]:
        """SIGKILL the holder's process ``kills`` times at random moments, a new process in
        its place each time; right after each kill, the lease's remaining time on the server
        (``ttl_ms_left()``) is at most the ttl. The number of lines logged at each kill."""
        marks = []
        for _ in range(kills):
            time.sleep(random.uniform(1.0, 2.0))
            victim = self.holder()
            if victim is None:
                continue
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            left = ttl_ms_left()
            assert left <= TTL * 1000, f"a killed holder's lease has {left} ms left"
            marks.append(len(_lines(self.log)))
            self.spawn()
        return marks

    def finish(self) -> list[tuple[str, int, str]]:
        for worker in self.workers:
            try:
                worker.wait(timeout=self.until - time.time() + 30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
                raise
        return _lines(self.log)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


@pytest.fixture
def contention(tmp_path: Path) -> Iterator[Any]:
    made: list[Contention] = []

    def make(url: str, seconds: float, replicas: int = 0, **env: str) -> Contention:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
        base.update(REDIS_URL=url, **env)
        run = Contention(tmp_path, base, seconds, replicas)
        for _ in range(3):
            run.spawn()
        made.append(run)
        return run

    yield make
    for run in made:
        run.stop()


def _after_every_kill(lines: list[tuple[str, int, str]], marks: list[int]) -> None:
    for mark in marks:
        assert any(kind == "G" for kind, _, _ in lines[mark:]), "no grant after a kill"


def test_standalone_20_seconds_with_holders_killed(
    contention: Any, redis_server: RedisServer, roleredis_env: Any
) -> None:
    raw = redis_server.client()
    try:
        run = contention(redis_server.url, 20)
        marks = run.kill_holders(lambda: raw.pttl(LEASE), kills=8)
        lines = run.finish()
        _check(lines, refusals_allowed=False)
        _after_every_kill(lines, marks)
        assert len(marks) >= 4
        assert int(raw.hget("__roleredis__:{fenced}:fences", "job")) >= max(
            fence for _, fence, _ in lines
        )
    finally:
        raw.close()


@pytest.mark.backends("cluster")
def test_cluster_20_seconds_with_holders_killed(
    contention: Any, backend: str, roleredis_env: Any, request: pytest.FixtureRequest
) -> None:
    cluster = request.getfixturevalue("redis_cluster")
    node = cluster.primary_for_key(LEASE).client()
    try:
        run = contention(cluster.url, 20)
        marks = run.kill_holders(lambda: node.pttl(LEASE), kills=8)
        lines = run.finish()
        _check(lines, refusals_allowed=False)
        _after_every_kill(lines, marks)
    finally:
        node.close()


def test_sentinel_20_seconds_across_a_failover(contention: Any, roleredis_env: Any) -> None:
    with SentinelGroup(replicas=2) as group:  # a replica left to confirm grants after it
        run = contention(group.url, 20, replicas=1)
        time.sleep(6)
        old = group.current_primary()
        old.kill()
        group.wait_for_failover(old)
        mark = len(_lines(run.log))
        lines = run.finish()
        _check(lines, refusals_allowed=True)
        _after_every_kill(lines, [mark])  # grants go on after the failover


def test_under_the_roles_acl_user_20_seconds(contention: Any, roleredis_env: Any) -> None:
    with RedisServer(password="admin-pw-f3nc3") as server:
        admin = redis.Redis.from_url(server.url, password="admin-pw-f3nc3")
        try:
            user = acl.provision(ROLE, client=admin)
            run = contention(
                server.url, 20, REDIS_USERNAME=user.username, REDIS_PASSWORD=str(user.password)
            )
            marks = run.kill_holders(lambda: admin.pttl(LEASE), kills=8)
            lines = run.finish()
            _check(lines, refusals_allowed=False)
            _after_every_kill(lines, marks)
        finally:
            admin.close()
            reset()


@pytest.mark.backends("memory")
def test_embedded_backend_threads_20_seconds(tmp_path: Path, roleredis_env: Any) -> None:
    """memory:// lives in one process: 12 threads of it contend (no process to kill)."""
    namespace: dict[str, Any] = {}
    exec(RESOURCE, namespace)
    fenced = namespace["Fenced"](str(tmp_path / "fenced.log"))
    (tmp_path / "fenced.log").touch()
    from roleredis import HeldError, LostError, lease

    until = time.monotonic() + 20

    def contend(n: int) -> None:
        while time.monotonic() < until:
            try:
                with lease("job", ttl=TTL, wait=1, role=ROLE) as held:
                    fenced.granted(held.fence, f"t.{n}")
                    for _ in range(3):
                        held.check()
                        fenced.write(held.fence, f"t.{n}")
            except (HeldError, LostError):
                continue

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _check(_lines(tmp_path / "fenced.log"), refusals_allowed=False)
