"""Issue 3, section 6: fork safety.

After os.fork() (multiprocessing, gunicorn) the child opens its own connections and starts its
own writer, and works; the parent keeps working, during and after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from roleredis import (
    aio,
    redis_flush,
    redis_health_check,
    redis_read,
    redis_write,
    redis_write_async,
    reset,
)
from roleredis.testing import RedisServer

WRITER_THREAD = "roleredis-writer"


@contextlib.contextmanager
def fork_allowed() -> Iterator[None]:
    # Python 3.12+ warns (DeprecationWarning) about fork() in a process with threads; with
    # filterwarnings=error that would end the test before it tests anything.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork.*")
        yield


def start_child(body: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """Fork; the child runs ``body`` and reports through a pipe and its exit code (0: ok).
    Returns (pid, read end of the pipe); see :func:`wait_child`. The child never returns into
    pytest."""
    read_end, write_end = os.pipe()
    with fork_allowed():
        pid = os.fork()
    if pid == 0:  # the child
        code = 2
        try:
            os.close(read_end)
            report = body()
            code = 0 if report.get("ok") else 1
            payload = json.dumps(report, default=repr).encode()
        except BaseException:
            payload = json.dumps({"ok": False, "traceback": traceback.format_exc()}).encode()
        try:
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        finally:
            os._exit(code)
    os.close(write_end)
    return pid, read_end


def wait_child(pid: int, read_end: int, timeout: float = 20.0) -> tuple[int, dict[str, Any]]:
    chunks = []
    deadline = time.monotonic() + timeout
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                chunks.append(pipe.read())
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"the forked child did not finish within {timeout} s")
            time.sleep(0.01)
    code = os.waitstatus_to_exitcode(status)
    text = b"".join(chunks).decode()
    return code, json.loads(text) if text else {}


class Busy:
    """The parent keeps writing (sync and fire-and-forget) from a thread while the child runs."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.count = 0
        self.failures: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        while not self.stop.is_set():
            n = self.count
            for result in (
                redis_write(f"sync{n}", n, role="parent"),
                redis_write_async(f"async{n}", n, role="parent"),
            ):
                if result["success"] is not True:
                    self.failures.append(result)
            self.count += 1
            time.sleep(0.001)

    def __enter__(self) -> Busy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def child_work() -> dict[str, Any]:
    report: dict[str, Any] = {"pid": os.getpid()}
    sync = [redis_write(f"sync{n}", {"n": n}, role="child") for n in range(50)]
    report["sync_ok"] = all(r["success"] is True for r in sync)
    reads = [redis_read(f"sync{n}", role="child")["value"] for n in range(50)]
    report["reads_ok"] = reads == [{"n": n} for n in range(50)]
    report["parent_key"] = redis_read("before_fork", role="parent").get("value")

    async def with_aio() -> Any:
        await aio.redis_write("aio", "from child", role="child")
        return (await aio.redis_read("aio", role="child"))["value"]

    report["aio"] = asyncio.run(with_aio())
    queued = [redis_write_async(f"async{n}", n, role="child") for n in range(500)]
    report["async_ok"] = all(r["success"] is True for r in queued)
    flushed = redis_flush(timeout=10)
    report["flush"] = flushed
    report["writer_threads"] = sum(1 for t in threading.enumerate() if t.name == WRITER_THREAD)
    report["background"] = redis_health_check(role="child").get("background")
    checks = {
        "sync writes": report["sync_ok"],
        "sync reads": report["reads_ok"],
        "reads the parent's key": report["parent_key"] == "yes",
        "aio": report["aio"] == "from child",
        "async writes queued": report["async_ok"],
        "flush succeeded": flushed["success"] is True,
        # the child's own writer: it counts the child's 500 writes, nothing of the parent's
        "own writer counts 500": (report["background"] or {}).get("written") == 500,
        "flush written <= 500": 0 <= flushed.get("written", -1) <= 500,
        "one writer thread": report["writer_threads"] == 1,
    }
    report["failed_checks"] = [name for name, ok in checks.items() if not ok]
    report["ok"] = not report["failed_checks"]
    return report


def test_forked_child_works_and_the_parent_keeps_working(raw: redis.Redis) -> None:
    # the parent has used everything before the fork: pool connections, writer, an aio loop
    assert redis_write("before_fork", "yes", role="parent")["success"] is True
    for n in range(100):
        redis_write_async(f"early{n}", n, role="parent")
    assert redis_flush(timeout=10)["success"] is True
    assert asyncio.run(aio.redis_read("before_fork", role="parent"))["value"] == "yes"
    parent_writer = [t for t in threading.enumerate() if t.name == WRITER_THREAD]

    with Busy() as busy:
        time.sleep(0.05)
        pid, pipe = start_child(child_work)
        code, report = wait_child(pid, pipe)
        time.sleep(0.05)
    assert code == 0, (report.get("failed_checks"), report)
    assert report["pid"] != os.getpid()
    assert report["background"]["written"] == 500, report  # the child's own writer

    # the parent, after
    assert busy.failures == []
    assert busy.count > 0
    assert redis_write("after_fork", 1, role="parent")["success"] is True
    assert redis_write_async("after_fork_async", 2, role="parent")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    assert [t for t in threading.enumerate() if t.name == WRITER_THREAD] == parent_writer
    assert asyncio.run(aio.redis_read("after_fork", role="parent"))["value"] == 1

    # both sets of keys are there
    child_keys = {k.decode() for k in raw.keys("child:*")}
    assert child_keys == {f"child:sync{n}" for n in range(50)} | {
        f"child:async{n}" for n in range(500)
    } | {"child:aio"}
    parent_keys = {k.decode() for k in raw.keys("parent:*")}
    for n in range(busy.count):
        assert f"parent:sync{n}" in parent_keys and f"parent:async{n}" in parent_keys, n
    assert {f"parent:early{n}" for n in range(100)} <= parent_keys
    assert {"parent:after_fork", "parent:after_fork_async", "parent:before_fork"} <= parent_keys


def test_writes_pending_at_fork_time_are_sent_once_by_the_parent_only(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> None:
    server = RedisServer().start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        write_config({"connection": {"socket_connect_timeout": 0.5, "socket_timeout": 1}})
        admin = server.client()
        assert redis_write_async("warm", 0, role="parent")["success"] is True
        assert redis_flush(timeout=10)["success"] is True
        # the server announces every key it sets (SET and MSET alike): count them per key
        admin.config_set("notify-keyspace-events", "E$")
        events = admin.pubsub()
        events.subscribe("__keyevent@0__:set")
        assert events.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
        for n in range(5000):  # many still queued when the fork happens
            redis_write_async(f"p{n}", n, role="parent")

        def child() -> dict[str, Any]:
            from roleredis.transport.writer import process as background

            for n in range(10):
                redis_write_async(f"c{n}", n, role="child")
            flushed = redis_flush(timeout=10)
            stats = background.stats()  # what redis_health_check() shows, without its probe
            return {
                "ok": flushed["success"] is True and stats["written"] == 10,
                "flush": flushed,
                "stats": stats,
            }

        pid, pipe = start_child(child)
        code, report = wait_child(pid, pipe)
        assert code == 0, report
        assert redis_flush(timeout=10)["success"] is True
        assert len(admin.keys("parent:p*")) == 5000
        assert len(admin.keys("child:c*")) == 10
        # every key was set exactly once: the child did not send the parent's queue again
        counts: dict[bytes, int] = {}
        while (message := events.get_message(timeout=1.0)) is not None:
            counts[message["data"]] = counts.get(message["data"], 0) + 1
        assert len(counts) == 5010, len(counts)
        assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
        events.close()
        admin.close()
    finally:
        reset()
        server.stop()


# --------------------------------------------------------------------------- multiprocessing


def _pool_task(n: int) -> dict[str, Any]:
    role = f"pool{n}"
    sync = redis_write("sync", {"task": n, "pid": os.getpid()}, role=role)
    read = redis_read("sync", role=role)
    queued = [redis_write_async(f"a{i}", i, role=role) for i in range(200)]
    flushed = redis_flush(timeout=10)
    return {
        "pid": os.getpid(),
        "ok": sync["success"] is True
        and read["value"] == {"task": n, "pid": os.getpid()}
        and all(q["success"] is True for q in queued)
        and flushed["success"] is True,
        "flush": flushed,
    }


def test_multiprocessing_fork_pool_of_two(raw: redis.Redis) -> None:
    assert redis_write("before", 1, role="parent")["success"] is True
    assert redis_write_async("before_async", 1, role="parent")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    context = multiprocessing.get_context("fork")
    with fork_allowed(), context.Pool(2) as pool:
        results = pool.map(_pool_task, range(6), chunksize=1)
        # the parent works while the pool is alive
        assert redis_write("during", 1, role="parent")["success"] is True
    assert all(r["ok"] for r in results), results
    pids = {r["pid"] for r in results}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2
    for n in range(6):
        assert len(raw.keys(f"pool{n}:*")) == 201
    assert redis_write_async("after", 1, role="parent")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    assert redis_read("after", role="parent")["value"] == 1
    assert redis_read("during", role="parent")["value"] == 1


def _process_without_flush(count: int) -> None:
    for i in range(count):
        redis_write_async(f"k{i}", i, role="mpexit")


def test_multiprocessing_child_that_exits_without_flush_loses_nothing(raw: redis.Redis) -> None:
    # A multiprocessing child ends with os._exit() after its own exit handlers, skipping
    # atexit: the pending fire-and-forget writes must be drained there too.
    assert redis_write_async("warm", 1, role="parent")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    context = multiprocessing.get_context("fork")
    with fork_allowed():
        process = context.Process(target=_process_without_flush, args=(10000,))
        process.start()
    process.join(30)
    assert process.exitcode == 0
    assert len(raw.keys("mpexit:*")) == 10000


def test_a_forked_child_makes_msg_ids_of_its_own() -> None:
    """A msg_id is a per-process random prefix and a counter: a child that went on with its
    parent's prefix and counter would give the parent's next ids to other messages (and a
    recipient drops the second as a duplicate). The prefix is made again in the child by the
    reset hook run after a fork, not by comparing the pid at each id."""
    from roleredis.core.mail import sending

    before = sending.new_msg_id()

    def body() -> dict[str, Any]:
        return {"ok": True, "ids": [sending.new_msg_id(), sending.new_msg_id()]}

    pid, read_end = start_child(body)
    code, report = wait_child(pid, read_end)
    assert code == 0, report
    after = sending.new_msg_id()
    child = report["ids"]
    assert child[0][:16] != before[:16]  # a new prefix in the child
    assert after[:16] == before[:16]  # the parent keeps its own and counts on
    assert int(after[16:], 16) == int(before[16:], 16) + 1
    assert len({before, after, *child}) == 4
