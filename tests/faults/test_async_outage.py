"""Issue 3, sections 3 and 8: fire-and-forget writes through real outages, and at exit.

- A server with appendonly yes is SIGKILLed for 2 s during async writes, then restarted on the
  same port: every write is there in the end.
- A process that makes 10000 async writes and exits without flush: all of them land.
- A process whose server is dead (or hung) exits within drain_timeout plus a little, and says
  how many writes it gave up.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from roleredis import redis_flush, redis_health_check, redis_read, redis_write_async, reset
from roleredis.testing import RedisServer
from roleredis.testing.server import free_port

ENV_VARS = (
    "ROLEREDIS_ROLE",
    "ROLEREDIS_CONFIG",
    "REDIS_URL",
    "REDIS_HOST",
    "REDIS_PORT",
    "REDIS_DB",
    "REDIS_PASSWORD",
    "REDIS_USERNAME",
)


@pytest.fixture
def durable_server(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> Iterator[RedisServer]:
    """appendonly yes (fsync always), on a fixed port so that a restart comes back on it."""
    server = RedisServer(port=free_port(), appendonly=True).start()
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config(
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
            "async": {"drain_timeout": 2},
        }
    )
    try:
        yield server
    finally:
        if server.paused:
            server.resume()
        if not server.running:
            server.start()
        reset()
        server.stop()


def test_every_async_write_survives_a_sigkill_of_the_server(durable_server: RedisServer) -> None:
    port = durable_server.port
    stop = threading.Event()
    written: list[int] = []
    failures: list[dict[str, Any]] = []

    def produce() -> None:
        n = 0
        while not stop.is_set():
            for result in (
                redis_write_async(f"k{n}", {"n": n}, role="durable"),
                redis_write_async("last", n, role="durable"),
            ):
                if result["success"] is not True:
                    failures.append(result)
            written.append(n)
            n += 1
            if n % 20 == 0:
                time.sleep(0.002)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(0.4)
        before_kill = len(written)
        durable_server.kill()
        time.sleep(2.0)
        during = len(written) - before_kill
        durable_server.start()
        assert durable_server.port == port
        time.sleep(0.4)
    finally:
        stop.set()
        producer.join(10)
    assert failures == [], failures[:3]
    assert before_kill > 0 and during > 0, "no writes were made during the outage"
    count = len(written)

    flushed = redis_flush(timeout=20)
    assert flushed["success"] is True, flushed
    assert flushed["pending"] == 0

    client = durable_server.client()
    try:
        keys = [f"durable:k{n}" for n in range(count)]
        values = []
        for start in range(0, count, 5000):
            values += client.mget(keys[start : start + 5000])
        missing = [k for k, v in zip(keys, values, strict=True) if v is None]
        assert missing == [], f"{len(missing)} of {count} writes are missing, e.g. {missing[:5]}"
        assert client.dbsize() == count + 1
    finally:
        client.close()
    wrong = [
        n
        for n in (0, before_kill, before_kill + during // 2, count - 1)
        if redis_read(f"k{n}", role="durable")["value"] != {"n": n}
    ]
    assert wrong == []
    assert redis_read("last", role="durable")["value"] == count - 1  # the order was kept
    background = redis_health_check(role="durable")["background"]
    assert background["given_up"] == 0
    assert background["pending"] == 0
    assert background["written"] >= 2 * count


# --------------------------------------------------------------------------- child processes


def child_env(url: str, config: dict[str, Any] | None, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["REDIS_URL"] = url
    env["PYTHONWARNINGS"] = "error::ResourceWarning"
    if config is not None:
        path = tmp_path / "child-config.yaml"
        path.write_text(yaml.safe_dump({"redis": config}), encoding="utf-8")
        env["ROLEREDIS_CONFIG"] = str(path)
    return env


@contextmanager
def talking_child(
    args: list[str], env: dict[str, str], cwd: Path
) -> Iterator[subprocess.Popen[str]]:
    """A child process with text pipes (stdin, stdout, stderr) to follow it step by step; killed
    if it still runs when the block ends."""
    child = subprocess.Popen(
        args,
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()


def run_child(
    source: str, env: dict[str, str], cwd: Path, timeout: float = 30
) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(source)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done, time.monotonic() - started


EXIT_WITHOUT_FLUSH = """
    from roleredis import redis_write_async
    for i in range(10000):
        result = redis_write_async(f"k{i}", {"i": i}, role="exiting")
        assert result["success"] is True, result
    # no redis_flush(): the interpreter exits with writes still queued
"""


def test_a_process_that_exits_without_flush_loses_no_write(tmp_path: Path) -> None:
    server = RedisServer().start()
    try:
        done, elapsed = run_child(
            EXIT_WITHOUT_FLUSH, child_env(server.url, None, tmp_path), tmp_path
        )
        assert done.returncode == 0, done.stderr
        client = server.client()
        try:
            keys = [f"exiting:k{i}" for i in range(10000)]
            values = client.mget(keys)
        finally:
            client.close()
        missing = [k for k, v in zip(keys, values, strict=True) if v is None]
        assert missing == [], f"{len(missing)} writes lost at exit, e.g. {missing[:5]}"
        assert values[1234] == b'{"i":1234}'
        assert elapsed < 15
    finally:
        server.stop()


GIVE_UP_AT_EXIT = """
    from roleredis import redis_write_async
    for i in range(137):
        result = redis_write_async(f"k{i}", i, role="doomed")
        assert result["success"] is True, result
"""


@pytest.mark.parametrize("outage", ["dead", "paused"])
def test_a_process_whose_server_is_down_exits_soon_and_says_what_it_gave_up(
    outage: str, tmp_path: Path
) -> None:
    server = RedisServer()
    if outage == "paused":
        server.start()
        server.pause()
    # with "dead" nothing listens on the port
    config = {
        "connection": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        "async": {"drain_timeout": 1},
    }
    try:
        done, elapsed = run_child(
            GIVE_UP_AT_EXIT, child_env(server.url, config, tmp_path), tmp_path, timeout=30
        )
    finally:
        if server.paused:
            server.resume()
        server.stop()
    assert elapsed < 1 + 4, f"the process took {elapsed:.1f} s to exit (drain_timeout 1)"
    assert done.returncode == 0, done.stderr
    lines = [
        line
        for line in done.stderr.splitlines()
        if re.search(r"\b137\b", line) and re.search(r"(give|gave|given)\s+up", line, re.I)
    ]
    assert lines, f"stderr does not say that 137 writes were given up:\n{done.stderr}"
