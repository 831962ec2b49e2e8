"""Issue 24, items 2 and 3, across processes: 50 threads in 3 processes miss one key at once
and a 200 ms function runs once; with ``stale``, no caller waits for the refresh; a change in
one process reaches another's local tier within 100 ms; a local hit sends nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from roleredis import acting_as, metrics

pytestmark = pytest.mark.backends("redis", "sentinel", "cluster")

MODULE = """
import os, time
from roleredis import cached

COUNT = os.environ["CACHE_TEST_COUNT"]

def _count():
    with open(COUNT, "a") as out:
        out.write("x\\n")

@cached(ttl=60)
def slow(n):
    _count()
    time.sleep(0.2)
    return {"n": n}

@cached(ttl=0.3, stale=60)
def stale(n):
    _count()
    deadline = time.monotonic() + 30
    while os.path.exists(COUNT + ".hold") and time.monotonic() < deadline:
        time.sleep(0.005)  # a refresh held until the test lets it go
    return _value() if os.path.exists(COUNT + ".value") else "old"

def _value():
    with open(COUNT + ".value") as source:
        return source.read()

@cached(ttl=60, local=16)
def tiered(name):
    return _value()
"""

CHILD = """
import os, sys, threading, time
sys.path.insert(0, sys.argv[1])
import cachemod
from roleredis import acting_as

go = sys.argv[2]
what = sys.argv[3]
out = open(sys.argv[4], "a", buffering=1)

def call():
    with acting_as("stampede"):
        while not os.path.exists(go):
            time.sleep(0.001)
        t0 = time.monotonic()
        value = getattr(cachemod, what)(7)
        out.write(f"{time.monotonic() - t0:.4f} {value}\\n")

threads = [threading.Thread(target=call) for _ in range(int(sys.argv[5]))]
for t in threads: t.start()
for t in threads: t.join()
"""

WATCHER = """
import sys, time
sys.path.insert(0, sys.argv[1])
import cachemod
from roleredis import acting_as, metrics

with acting_as("stampede"):
    first = cachemod.tiered("x")
    while metrics.snapshot()["cache"].get("stampede", {}).get("local_hits", 0) == 0:
        cachemod.tiered("x")
        time.sleep(0.005)
    print("ready", first, flush=True)
    want = sys.stdin.readline().strip()
    while cachemod.tiered("x") != want:
        pass
    print(f"seen {time.monotonic():.6f}", flush=True)
"""


@pytest.fixture
def module(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    (tmp_path / "cachemod.py").write_text(MODULE)
    count = tmp_path / "count"
    monkeypatch.setenv("CACHE_TEST_COUNT", str(count))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cachemod", raising=False)  # this test's own
    yield {**os.environ, "CACHE_TEST_COUNT": str(count)}
    sys.modules.pop("cachemod", None)


def _children(
    tmp_path: Path,
    env: dict[str, str],
    what: str,
    threads: list[int],
    answered: Callable[[], None] = lambda: None,
) -> list[str]:
    """Run ``what(7)`` in ``threads`` threads of each child process, all at once; call
    ``answered`` once every thread has its answer (before the children may exit)."""
    go = tmp_path / f"go-{what}"
    out = tmp_path / f"out-{what}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(tmp_path), str(go), what, str(out), str(n)],
            env=env,
        )
        for n in threads
    ]
    time.sleep(1.0)  # every child imported roleredis and waits for the go
    go.touch()
    deadline = time.monotonic() + 60
    while (len(out.read_text().splitlines()) if out.exists() else 0) < sum(threads):
        assert time.monotonic() < deadline, "the callers did not all answer"
        assert all(proc.poll() in (None, 0) for proc in procs)
        time.sleep(0.01)
    answered()
    for proc in procs:
        assert proc.wait(60) == 0
    return out.read_text().splitlines()


def _computed(tmp_path: Path) -> int:
    count = tmp_path / "count"
    return len(count.read_text().splitlines()) if count.exists() else 0


def test_fifty_threads_in_three_processes_compute_once(
    tmp_path: Path, module: dict[str, str]
) -> None:
    lines = _children(tmp_path, module, "slow", [17, 17, 16])
    assert len(lines) == 50
    assert {line.split(" ", 1)[1] for line in lines} == {"{'n': 7}"}
    assert _computed(tmp_path) == 1  # it ran once


def test_with_stale_no_caller_waits_for_the_refresh(tmp_path: Path, module: dict[str, str]) -> None:
    import cachemod  # type: ignore[import-not-found]

    with acting_as("stampede"):
        assert cachemod.stale(7) == "old"
    (tmp_path / "count.value").write_text("new")
    hold = tmp_path / "count.hold"
    hold.touch()  # a refresh now waits until every caller has its answer
    time.sleep(0.35)  # the entry is past its ttl, within its stale time
    lines = _children(tmp_path, module, "stale", [17, 17, 16], answered=hold.unlink)
    # served stale, and nobody waited for the refresh: it could not end before they answered
    assert {line.split(" ", 1)[1] for line in lines} == {"old"}
    deadline = time.monotonic() + 10
    with acting_as("stampede"):
        while cachemod.stale(7) != "new":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    # the first computation, then one refresh for all 50 callers of 3 processes (a child may
    # end before its refresh is done: then another process's caller refreshes later)
    assert 2 <= _computed(tmp_path) <= 4


def _seen_within(tmp_path: Path, env: dict[str, str], value: str) -> float:
    """Start a process that keeps ``tiered("x")`` in its local tier, change it here, and
    return how long the other process took to see the change."""
    import cachemod

    with subprocess.Popen(
        [sys.executable, "-c", WATCHER, str(tmp_path)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as watcher:
        try:
            assert watcher.stdout is not None and watcher.stdin is not None
            ready = watcher.stdout.readline().split()
            assert ready[0] == "ready", ready
            (tmp_path / "count.value").write_text(value)
            watcher.stdin.write(value + "\n")
            watcher.stdin.flush()
            time.sleep(0.2)  # the watcher spins on its local tier (a hit each time)
            with acting_as("stampede"):
                changed = time.monotonic()
                assert cachemod.tiered.cache.refresh("x") == value
            seen = watcher.stdout.readline().split()
            assert seen[0] == "seen", seen
            assert watcher.wait(10) == 0
            return float(seen[1]) - changed
        finally:
            if watcher.poll() is None:
                watcher.kill()


def test_a_change_in_one_process_reaches_anothers_local_tier_within_100ms(
    tmp_path: Path, module: dict[str, str]
) -> None:
    (tmp_path / "count.value").write_text("v0")
    elapsed = _seen_within(tmp_path, module, "v1")
    if elapsed >= 0.1:  # once more if the machine was busy (the bound is the issue's)
        elapsed = _seen_within(tmp_path, module, "v2")
    assert 0 <= elapsed < 0.1, elapsed


@pytest.mark.backends("redis")
def test_a_local_hit_sends_nothing(
    tmp_path: Path, module: dict[str, str], raw: redis.Redis
) -> None:
    import cachemod

    (tmp_path / "count.value").write_text("v")
    metrics.reset_metrics()
    with acting_as("stampede"):
        cachemod.tiered("x")
        deadline = time.monotonic() + 10
        while metrics.snapshot()["cache"]["stampede"]["local_hits"] == 0:
            assert time.monotonic() < deadline
            cachemod.tiered("x")
        before = raw.info("commandstats")
        for _ in range(1000):
            assert cachemod.tiered("x") == "v"
        after = raw.info("commandstats")
    assert metrics.snapshot()["cache"]["stampede"]["local_hits"] >= 1000
    for command in ("get", "getex", "pttl", "exists", "set", "fcall"):
        name = f"cmdstat_{command}"
        assert before.get(name, {}).get("calls") == after.get(name, {}).get("calls"), command
