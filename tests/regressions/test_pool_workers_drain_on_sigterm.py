"""Issue 18, item 4: writes from a multiprocessing pool vanished.

``with Pool(2) as pool: pool.map(f, range(20))``, f calling redis_write_async: ``Pool.__exit__``
calls ``terminate()``, which SIGTERMs the workers, and a SIGTERM runs neither atexit nor
multiprocessing's finalizers: with the server slow during ``map``, 0 of 20 writes landed. Now a
pool worker (a daemonic child whose SIGTERM handler is the default) gets one when its writer
starts: it drains within async.drain_timeout, then ends as SIGTERM would. What it cannot send in
that time is counted and logged; a handler of the program's own is never replaced.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from roleredis.testing import RedisServer
from tests.faults.test_async_outage import child_env, talking_child

START_METHODS = ["fork", "spawn", "forkserver"]

PROGRAM = """
import multiprocessing
import os
import signal
import sys
import threading

from roleredis import redis_write_async


def write(i):
    result = redis_write_async(f"k{i}", i, role="pool")
    assert result["success"] is True, result
    return signal.getsignal(signal.SIGTERM) is own_handler


def write_in_a_thread(i):
    results = []
    worker = threading.Thread(target=lambda: results.append(redis_write_async("t", i, role="pool")))
    worker.start()
    worker.join()
    assert results[0]["success"] is True, results
    return signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def write_then_block(started):
    for i in range(20):
        write(i)
    # the kernel gives a SIGTERM to a thread that does not block it: never this one, which
    # Python's own handler would need
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    started.set()
    threading.Event().wait(60)  # not for ever: an orphan if the test fails


def fork_after_writing(i):
    write(i)
    watched = signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    pid = os.fork()
    if pid == 0:  # a child of the worker: no watcher of its own, so SIGTERM is the default
        default = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        os._exit(0 if default and signal.set_wakeup_fd(-1) == -1 else 1)
    return watched and os.waitpid(pid, 0)[1] == 0


def own_handler(signum, frame):
    raise SystemExit(0)


def install_own_handler():
    signal.signal(signal.SIGTERM, own_handler)


if __name__ == "__main__":
    multiprocessing.set_start_method(sys.argv[1])
    if sys.argv[2] == "own-handler":
        with multiprocessing.Pool(2, initializer=install_own_handler) as pool:
            kept = pool.map(write, range(4))
        print("kept", all(kept), flush=True)
        sys.exit(0)
    if sys.argv[2] == "forked":
        with multiprocessing.Pool(2) as pool:
            default = pool.map(fork_after_writing, range(2))
        print("default", all(default), flush=True)
        sys.exit(0)
    if sys.argv[2] == "thread":
        with multiprocessing.Pool(2) as pool:
            untouched = pool.map(write_in_a_thread, range(4))
        print("untouched", all(untouched), flush=True)
        sys.exit(0)
    if sys.argv[2] == "blocked":
        started = multiprocessing.Event()
        child = multiprocessing.Process(target=write_then_block, args=(started,), daemon=True)
        print("ready", flush=True)
        sys.stdin.readline()
        child.start()
        assert started.wait(30)
        print("mapped", flush=True)
        child.terminate()
        child.join()
        sys.exit(0)
    with multiprocessing.Pool(2) as pool:
        pool.map(abs, range(2))  # the workers are up (spawn takes a while)
        print("ready", flush=True)
        sys.stdin.readline()  # the test pauses the server meanwhile
        pool.map(write, range(20))
        print("mapped", flush=True)
    # Pool.__exit__ has terminated the workers
"""


def run_pool(
    tmp_path: Path,
    server: RedisServer,
    method: str,
    drain_timeout: float,
    resume_after: float,
    mode: str = "map",
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run PROGRAM with the server paused around ``map``, resumed ``resume_after`` s later."""
    script = tmp_path / "pool_program.py"
    script.write_text(PROGRAM, encoding="utf-8")
    env = child_env(server.url, {"async": {"drain_timeout": drain_timeout}}, tmp_path)
    args = [sys.executable, str(script), method, mode]
    try:
        with talking_child(args, env, tmp_path) as child:
            assert child.stdin is not None and child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            server.pause()
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "mapped"
            started = time.monotonic()
            time.sleep(resume_after)
            server.resume()
            stdout, stderr = child.communicate(timeout=60)
            elapsed = time.monotonic() - started
    finally:
        if server.paused:
            server.resume()
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr), elapsed


def landed(server: RedisServer) -> int:
    client = server.client()
    try:
        return sum(value is not None for value in client.mget([f"pool:k{i}" for i in range(20)]))
    finally:
        client.close()


@pytest.mark.parametrize("method", START_METHODS)
def test_every_write_of_a_pool_lands_though_the_server_was_paused_during_map(
    method: str, tmp_path: Path
) -> None:
    with RedisServer() as server:
        done, _ = run_pool(tmp_path, server, method, drain_timeout=5, resume_after=1.0)
        assert done.returncode == 0, done.stderr
        assert landed(server) == 20, done.stderr
    assert "gave up" not in done.stderr, done.stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_sigterm_drains_though_the_main_thread_cannot_take_it(
    method: str, tmp_path: Path
) -> None:
    """A daemonic child whose main thread sits in a lock with SIGTERM blocked (as a pool
    worker's may sit in the task queue's lock): the drain does not wait for Python's handler."""
    with RedisServer() as server:
        done, _ = run_pool(tmp_path, server, method, 5, resume_after=1.0, mode="blocked")
        assert done.returncode == 0, done.stderr
        assert landed(server) == 20, done.stderr


@pytest.mark.parametrize("method", START_METHODS)
def test_what_a_terminated_worker_cannot_send_is_counted_and_logged(
    method: str, tmp_path: Path
) -> None:
    with RedisServer() as server:
        # paused for longer than the drain: the workers give their writes up, and say so
        done, elapsed = run_pool(tmp_path, server, method, drain_timeout=1, resume_after=4.0)
        assert done.returncode == 0, done.stderr
        given_up = sum(
            int(n) for n in re.findall(r"gave up (\d+) fire-and-forget writes", done.stderr)
        )
        assert given_up + landed(server) == 20, done.stderr
        assert given_up > 0, done.stderr
    assert elapsed < 4.0 + 10, "Pool.__exit__ waited too long for its workers"


@pytest.mark.parametrize(
    ("method", "mode", "said"),
    [(method, "own-handler", "kept True") for method in START_METHODS]
    # Python lets only the main thread set a handler: a writer first started in another
    # thread of a worker leaves SIGTERM alone (and does not fail)
    + [("fork", "thread", "untouched True")]
    # a process forked by a worker has no watcher: its SIGTERM is the default again
    + [("fork", "forked", "default True")],
)
def test_a_workers_own_sigterm_handler_is_never_replaced(
    method: str, mode: str, said: str, tmp_path: Path
) -> None:
    script = tmp_path / "pool_program.py"
    script.write_text(PROGRAM, encoding="utf-8")
    with RedisServer() as server:
        done = subprocess.run(
            [sys.executable, str(script), method, mode],
            env=child_env(server.url, None, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == said, done.stderr
