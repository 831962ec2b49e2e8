"""Issue 5, section 6: the server is SIGKILLed and restarted in the middle of a sync load.

Tried: 8 threads make sync ``redis_write`` calls (each its own keys, values that name the key)
against a server with appendonly yes (fsync always). After at least 400 successful writes the
server is SIGKILLed, stays dead for 1 s, and is started again on the same port with the same
data directory; the threads keep writing throughout, and for a while after.

Contract and what was lost:
- every call returns a result dict; none raises (zero exceptions);
- every failure is clean: ``success`` False with error_code ``connection`` (a server still
  replaying its append-only file answers LOADING, reported as ``overloaded``: allowed, and the
  message says so);
- every thread succeeds again after the restart (recovery, within a few seconds);
- every write that returned success is on the server afterwards, with its value: zero lost.
  (A write that reported failure may or may not have landed: it was not promised.)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import roleredis
from roleredis.testing import RedisServer

from .test_faults_support import WriteConfig, own_server, thread_baseline, threads_back_to

THREADS = 8
ROLE = "load"


@pytest.fixture
def durable(monkeypatch: pytest.MonkeyPatch, write_config: WriteConfig) -> Iterator[RedisServer]:
    yield from own_server(
        monkeypatch,
        write_config,
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
            "pool": {"max_connections": THREADS},
            "breaker": {"cooldown": 0.2},
        },
        appendonly=True,
    )


class Worker:
    def __init__(self, index: int, stop: threading.Event) -> None:
        self.index = index
        self.stop = stop
        self.succeeded: list[tuple[str, dict[str, int]]] = []
        self.failed: list[dict[str, Any]] = []
        self.raised: list[BaseException] = []
        self.success_times: list[float] = []
        self.thread = threading.Thread(target=self.run, name=f"load-{index}")

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            key = f"t{self.index}:{n}"
            value = {"t": self.index, "n": n}
            try:
                result = roleredis.redis_write(key, value, role=ROLE)
            except BaseException as exc:  # the contract: never
                self.raised.append(exc)
                return
            if result.get("success") is True:
                self.succeeded.append((key, value))
                self.success_times.append(time.monotonic())
            else:
                self.failed.append(result)
            n += 1


def test_sigkill_and_restart_mid_load_loses_no_acknowledged_write(durable: RedisServer) -> None:
    baseline = thread_baseline()
    stop = threading.Event()
    workers = [Worker(i, stop) for i in range(THREADS)]
    for w in workers:
        w.thread.start()
    try:
        deadline = time.monotonic() + 10
        while sum(len(w.succeeded) for w in workers) < 400 and time.monotonic() < deadline:
            time.sleep(0.01)
        before_kill = sum(len(w.succeeded) for w in workers)
        assert before_kill >= 400, "the load did not get going"
        durable.kill()
        killed_at = time.monotonic()
        time.sleep(1.0)
        failed_while_down = sum(len(w.failed) for w in workers)
        durable.start()
        restarted_at = time.monotonic()
        # recovery: every thread has a success after the restart
        recovered = False
        while time.monotonic() < restarted_at + 10:
            if all(w.success_times and w.success_times[-1] > restarted_at for w in workers):
                recovered = True
                break
            time.sleep(0.02)
        recovery_s = time.monotonic() - restarted_at
        time.sleep(0.3)  # some more load on the restarted server
    finally:
        stop.set()
        for w in workers:
            w.thread.join(10)
    assert all(not w.thread.is_alive() for w in workers), "a writer thread hung"
    raised = [exc for w in workers for exc in w.raised]
    assert raised == [], f"calls raised instead of returning a result: {raised[:3]}"
    assert recovered, "not every thread wrote successfully within 10 s of the restart"
    failures = [f for w in workers for f in w.failed]
    assert failed_while_down > 0, "no call failed while the server was dead: no fault injected"
    unclean = [
        f
        for f in failures
        if not (
            f.get("success") is False
            and (
                f.get("error_code") == "connection"
                or (f.get("error_code") == "overloaded" and "LOADING" in f.get("error", ""))
            )
            and isinstance(f.get("error"), str)
            and f["error"]
        )
    ]
    assert unclean == [], f"{len(unclean)} failures were not clean connection errors: {unclean[:3]}"
    # nothing that returned success is lost
    acknowledged = [kv for w in workers for kv in w.succeeded]
    client = durable.client()
    try:
        keys = [f"{ROLE}:{k}" for k, _ in acknowledged]
        stored: list[Any] = []
        for start in range(0, len(keys), 5000):
            stored += client.mget(keys[start : start + 5000])
    finally:
        client.close()
    lost = [
        (k, v, s)
        for (k, v), s in zip(acknowledged, stored, strict=True)
        if s is None or json.loads(s) != v
    ]
    assert lost == [], (
        f"{len(lost)} of {len(acknowledged)} acknowledged writes are missing or wrong after the "
        f"SIGKILL, e.g. {lost[:5]}"
    )
    assert roleredis.redis_health_check(role=ROLE)["connected"] is True
    assert threads_back_to(baseline), "threads were left behind"
    print(
        f"SIGKILL mid-load: {len(acknowledged)} acknowledged writes ({before_kill} before the "
        f"kill), {len(failures)} clean failures, recovery {recovery_s:.2f} s after the restart "
        f"({restarted_at - killed_at:.2f} s down); lost: 0"
    )
