"""The example program, examples/agents/main.py, run as a user runs it (issue 2, section 10).

Two roles (weather, timer) write the same key name without passing role=; the test checks the
program's output and, through keyspace notifications on the throwaway server, exactly which
Redis keys it wrote and that it deleted every one of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from roleredis.testing import free_port

MAIN = Path(__file__).resolve().parents[2] / "examples" / "agents" / "main.py"
PROBE = "weather:__roleredis_health__:"
EXPECTED_KEYS = {"weather:state", "weather:forecast:paris", "timer:state", "timer:alarm:tea"}
# On a configured server the example's roles are named roleredis-demo-<run id>.<role>
RUN_PREFIX = re.compile(r"wrote 'state' as (roleredis-demo-[0-9a-f]{8}\.)weather:state ")


def run_example(**env_changes: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)  # the clean environment of roleredis_env: REDIS_URL at the server
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(
        [sys.executable, str(MAIN)],
        cwd=os.getcwd(),  # a fresh tmp dir: no stray config.yaml
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


class KeyEvents:
    """Keyspace notifications of db 0: which keys were set and which were deleted."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pubsub = client.pubsub()
        self.pubsub.psubscribe("__keyevent@0__:*")
        self.pubsub.get_message(timeout=2)  # the psubscribe confirmation
        self.by_event: dict[str, list[str]] = {}

    def collect(self) -> dict[str, list[str]]:
        while True:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if message is None:
                return self.by_event
            event = message["channel"].decode().rsplit(":", 1)[1]
            self.by_event.setdefault(event, []).append(message["data"].decode())

    def close(self) -> None:
        self.pubsub.close()


@pytest.fixture
def key_events(raw: redis.Redis) -> Iterator[KeyEvents]:
    previous = raw.config_get("notify-keyspace-events")["notify-keyspace-events"]
    raw.config_set("notify-keyspace-events", "Eg$")  # key events: generic and string commands
    events = KeyEvents(raw)
    try:
        yield events
    finally:
        events.close()
        raw.config_set("notify-keyspace-events", previous)


def test_example_runs_and_roles_do_not_collide(
    redis_url: str,
    raw: redis.Redis,
    key_events: KeyEvents,
    commandstats: Callable[[], dict[str, int]],
) -> None:
    proc = run_example()
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no warning (e.g. "using the default role"), no traceback
    lines = proc.stdout.splitlines()
    found = RUN_PREFIX.search(proc.stdout)
    assert found is not None, proc.stdout  # a configured server: role names of its own
    run = found.group(1)
    out = [line.replace(run, "") for line in lines]  # the lines as on a server of its own

    assert out[0].startswith("Redis ") and " is up, " in out[0]
    # the same key name, two prefixes, one per role
    assert "wrote 'state' as weather:state (ttl 600 s)" in out
    assert "wrote 'state' as timer:state (ttl 180 s)" in out
    # each role reads back its own value
    assert "weather reads state: {'last_city': 'Paris'}" in out
    assert "timer reads state:   {'running': ['tea']}" in out
    # each role lists only its own keys, without the prefix
    assert "weather has 2 keys: forecast:paris, state" in out
    assert "timer has 2 keys: alarm:tea, state" in out
    # what is stored under which prefixed key
    stored = out[out.index("stored in Redis:") + 1 : -2]
    assert len(stored) == 4
    assert "  weather:forecast:paris = {'sky': 'clear', 'high_c': 21.5}" in stored
    assert "  weather:state = {'last_city': 'Paris'}" in stored
    assert "  timer:state = {'running': ['tea']}" in stored
    assert any(line.startswith("  timer:alarm:tea = {'ends_at': ") for line in stored)
    # and it deleted what it wrote
    assert out[-2:] == ["deleted what weather wrote: 2 keys", "deleted what timer wrote: 2 keys"]

    # What Redis saw: exactly these keys written (plus the health probe), every one deleted.
    events = key_events.collect()
    written = set(events.get("set", []))
    probes = {k for k in written if k.startswith(run + PROBE)}
    assert len(probes) == 1
    assert written - probes == {run + key for key in EXPECTED_KEYS}
    assert written <= set(events.get("del", []))  # UNLINK reports as "del"
    assert raw.dbsize() == 0

    # SCAN, never KEYS; nothing wiped wholesale
    stats = commandstats()
    assert "scan" in stats
    for forbidden in ("keys", "flushdb", "flushall"):
        assert forbidden not in stats


def test_example_leaves_other_data_alone(redis_url: str, raw: redis.Redis) -> None:
    # keys of another role, and keys that merely look alike, survive the example's clear
    bystanders = {"news:state": b"1", "weatherman:state": b"2", "timers:x": b"3", "state": b"4"}
    raw.mset(bystanders)
    proc = run_example()
    assert proc.returncode == 0, proc.stderr
    assert {k.decode() for k in raw.scan_iter(count=1000)} == set(bystanders)
    for key, value in bystanders.items():
        assert raw.get(key) == value


def test_example_reports_unreachable_redis_in_one_line(redis_url: str) -> None:
    port = free_port()  # nothing listens here
    started = time.monotonic()
    proc = run_example(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: Redis is not reachable: ")
    assert str(port) in lines[0]
    assert "Traceback" not in proc.stderr
    assert elapsed < 15


def test_example_reports_bad_configuration_in_one_line(redis_url: str) -> None:
    proc = run_example(REDIS_URL=None, REDIS_PORT="abc")
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "REDIS_PORT" in lines[0]
