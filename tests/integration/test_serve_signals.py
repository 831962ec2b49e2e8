"""Issue 21, item 4: ``serve`` in a process's main thread stops cleanly on SIGTERM and SIGINT:
the request it is handling is finished and answered, then the process exits 0 (no
KeyboardInterrupt traceback), and the previous signal handlers are back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from roleredis import redis_request

pytestmark = pytest.mark.backends("redis")

RESPONDER = """
import signal, sys, time
from pathlib import Path
from roleredis import serve

ready = Path(sys.argv[1])

def handler(message):
    if message["body"] == "slow":
        Path(str(ready) + ".handling").touch()
        time.sleep(1.0)
    return {"echo": message["body"]}

before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
ready.touch()
serve(handler, role="worker", block_ms=200)
after = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
print("stopped cleanly; handlers restored:", before == after, flush=True)
"""


def _start(tmp_path: Path, redis_url: str) -> tuple[subprocess.Popen[str], Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env["REDIS_URL"] = redis_url
    ready = tmp_path / "ready"
    process = subprocess.Popen(
        [sys.executable, "-c", RESPONDER, str(ready)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 20
    while not ready.exists():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline
        time.sleep(0.02)
    return process, ready


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_serve_after_the_request_in_hand_is_answered(
    sig: signal.Signals, tmp_path: Path, redis_url: str
) -> None:
    process, ready = _start(tmp_path, redis_url)
    try:
        assert redis_request("worker", "quick", timeout=15, role="planner")["reply"] == {
            "echo": "quick"
        }
        answers: list[dict[str, Any]] = []
        asking = threading.Thread(
            target=lambda: answers.append(redis_request("worker", "slow", timeout=15, role="p2"))
        )
        asking.start()
        handling = Path(str(ready) + ".handling")
        deadline = time.time() + 15
        while not handling.exists():
            assert time.time() < deadline
            time.sleep(0.01)
        process.send_signal(sig)  # while the handler sleeps
        out, err = process.communicate(timeout=15)
        asking.join(15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "stopped cleanly; handlers restored: True" in out
    (answer,) = answers
    assert answer["success"] is True and answer["reply"] == {"echo": "slow"}, answer
