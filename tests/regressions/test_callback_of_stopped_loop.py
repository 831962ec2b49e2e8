"""Issue 8, item 6: redis_read_async from an event loop that stops (but is not closed) before
the reply comes: the callback still runs (on the writer thread, as for a closed loop), and a
line says so. Before the fix it was handed to the stopped loop and never ran, silently.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from roleredis import redis_flush, redis_read_async, redis_write
from tests.conftest import RoleredisEnv


def test_the_callback_of_a_stopped_loop_runs_on_the_writer_thread(
    roleredis_env: RoleredisEnv, caplog: pytest.LogCaptureFixture
) -> None:
    assert redis_write("k", {"v": 1}, role="looper")["success"] is True
    got: list[tuple[dict[str, Any], str]] = []

    def callback(result: dict[str, Any]) -> None:
        got.append((result, threading.current_thread().name))

    async def queue_read() -> dict[str, Any]:
        return redis_read_async("k", callback=callback, role="looper")

    loop = asyncio.new_event_loop()
    try:
        # the server is paused so that the reply comes after the loop has stopped, surely
        roleredis_env.server.pause()
        try:
            queued = loop.run_until_complete(queue_read())
        finally:
            roleredis_env.server.resume()
        assert queued["success"] is True, queued
        assert not loop.is_running() and not loop.is_closed()
        with caplog.at_level(logging.WARNING, logger="roleredis.background"):
            assert redis_flush(timeout=10)["success"] is True
        assert [(r["value"], thread) for r, thread in got] == [({"v": 1}, "roleredis-writer")]
        assert "event loop" in caplog.text and "writer thread" in caplog.text
    finally:
        loop.close()
