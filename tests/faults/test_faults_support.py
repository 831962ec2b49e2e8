"""Helpers shared by the tests/faults/test_faults_*.py files (issue 5, section 6); no tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import roleredis
from roleredis.testing import RedisServer
from roleredis.testing.server import free_port

WriteConfig = Callable[[Any], Path]


def own_server(
    monkeypatch: pytest.MonkeyPatch,
    write_config: WriteConfig,
    config: dict[str, Any],
    *,
    appendonly: bool = False,
) -> Iterator[RedisServer]:
    """A redis-server of the test's own (it is killed / paused), on a fixed port so that a
    restart comes back on it; REDIS_URL at it and ``config`` as the redis: section."""
    server = RedisServer(port=free_port(), appendonly=appendonly).start()
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config(config)
    try:
        yield server
    finally:
        if server.paused:
            server.resume()
        roleredis.reset()
        server.stop()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def other_clients(server: RedisServer) -> int:
    """How many client connections the server has, besides the one asking."""
    client = server.client(socket_timeout=2)
    try:
        me = client.client_id()
        return sum(1 for c in client.client_list() if int(c["id"]) != me)
    finally:
        client.close()


def thread_baseline() -> int:
    """threading.active_count() now (the caller checks it is back to this afterwards)."""
    return threading.active_count()


def threads_back_to(baseline: int, timeout: float = 3.0) -> bool:
    return wait_until(lambda: threading.active_count() <= baseline, timeout)


def describe_threads() -> str:
    return ", ".join(sorted(t.name for t in threading.enumerate()))
