"""Issue 21, item 6 (second half): requests between processes while a responder dies.

Two responder processes serve role "worker" (``roleredis.serve``); four requester processes
send requests to it: roles asker0 and asker1 one process each, and role "pair" in two
processes (two processes of one role must never see each other's replies). Each request
carries a token naming it; the handler sleeps a little (requests are in flight) and answers
with the token, its pid and the delivery count. A third of the way through, one responder is
told to stop inside its handler, with a request in hand, and is SIGKILLed there.

Contract:
- every request gets its own reply (its token; ``from`` "worker") or error_code "timeout":
  never another request's reply, never any other error;
- the request the killed responder held, and any it had received and not answered, come back
  to the survivor after messaging.visibility_timeout (a second delivery) or time out: none is
  answered by the dead one, none is lost unacknowledged;
- the survivor answers the rest: most requests succeed, and every requester's last one does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from roleredis import RoleStore

pytestmark = pytest.mark.backends("redis")

PER_REQUESTER = 40
TIMEOUT = 4.0
REQUESTERS = ("asker0", "asker1", "pair", "pair")

RESPONDER = """
import os, sys, time
import roleredis

log = open(sys.argv[1], "a", buffering=1)
hold = sys.argv[1] + ".hold"

def handle(message):
    token = message["body"]["token"]
    log.write(f"{token} {message['deliveries']}\\n")
    if os.path.exists(hold):  # told to die here, with this request in hand: say which
        with open(hold + "ing.tmp", "w") as held:
            held.write(token)
        os.rename(hold + "ing.tmp", hold + "ing")
        time.sleep(3600)
    time.sleep(0.02)  # some work: requests are in flight
    return {"token": token, "pid": os.getpid(), "deliveries": message["deliveries"]}

open(sys.argv[1] + ".ready", "w").close()
roleredis.serve(handle, role="worker", block_ms=200)
"""

REQUESTER = """
import json, os, sys, time
import roleredis

role, n, timeout, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
open(out + ".ready", "w").close()
while not os.path.exists(out + ".go"):
    time.sleep(0.01)
with open(out, "a", buffering=1) as results:
    for i in range(n):
        token = f"{role}:{os.getpid()}:{i}"
        result = roleredis.redis_request("worker", {"token": token}, timeout=timeout, role=role)
        results.write(json.dumps({"token": token, "result": result}) + "\\n")
"""


def _wait_for(paths: list[Path], what: str, deadline: float) -> None:
    while not all(path.exists() for path in paths):
        assert time.monotonic() < deadline, f"{what} did not start"
        time.sleep(0.02)


def _results(files: list[Path]) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in files
        if path.exists()
        for line in path.read_text().splitlines()
        if line
    ]


def test_responder_killed_mid_request_mixes_no_replies(
    tmp_path: Path, write_config: object, redis_url: str
) -> None:
    config = write_config({"messaging": {"visibility_timeout": 0.5}})  # type: ignore[operator]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=redis_url, ROLEREDIS_CONFIG=str(config))
    logs = [tmp_path / f"responder-{i}.log" for i in range(2)]
    outs = [tmp_path / f"requester-{i}.jsonl" for i in range(len(REQUESTERS))]
    processes: list[subprocess.Popen[bytes]] = []
    deadline = time.monotonic() + 60
    killed_at = None
    try:
        responders = [
            subprocess.Popen([sys.executable, "-c", RESPONDER, str(path)], env=env, cwd=tmp_path)
            for path in logs
        ]
        processes += responders
        requesters = [
            subprocess.Popen(
                [sys.executable, "-c", REQUESTER, role, str(PER_REQUESTER), str(TIMEOUT), str(out)],
                env=env,
                cwd=tmp_path,
            )
            for role, out in zip(REQUESTERS, outs, strict=True)
        ]
        processes += requesters
        _wait_for([Path(f"{p}.ready") for p in logs + outs], "the processes", deadline)
        for out in outs:
            Path(f"{out}.go").touch()
        victim, survivor = responders
        hold = Path(f"{logs[0]}.hold")
        holding = Path(f"{logs[0]}.holding")
        while any(p.poll() is None for p in requesters):
            assert time.monotonic() < deadline, "the requesters did not finish"
            if not hold.exists() and len(_results(outs)) >= len(outs) * PER_REQUESTER // 3:
                hold.touch()  # the victim stops in its next handler call, request in hand
            if killed_at is None and holding.exists():
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed_at = time.monotonic()
            time.sleep(0.02)
        assert [p.returncode for p in requesters] == [0] * len(requesters)
        assert survivor.poll() is None, "the survivor died"
        # nothing the victim received stays unacknowledged: the survivor claims it after
        # the visibility timeout and answers it, or acks it as past its deadline
        while True:
            status, _ = RoleStore("worker").mail_status()
            if all((s.unacked, s.pending) == (0, 0) for s in status):
                break
            assert time.monotonic() < deadline, f"requests left in the inbox: {status}"
            time.sleep(0.1)
    finally:
        for process in processes:
            process.kill()
            process.wait()
    assert killed_at is not None, "the victim never held a request"
    held = holding.read_text()

    results = _results(outs)
    assert len(results) == len(outs) * PER_REQUESTER
    assert len({r["token"] for r in results}) == len(results)
    answered: dict[str, dict[str, Any]] = {}
    timed_out: list[str] = []
    for record in results:
        token, result = record["token"], record["result"]
        if result["success"]:
            # its own reply, from the role that was asked, by one of the responders
            assert result["reply"]["token"] == token, record
            assert result["from"] == "worker", record
            assert result["reply"]["pid"] in (victim.pid, survivor.pid), record
            answered[token] = result["reply"]
        else:
            assert result["error_code"] == "timeout", record  # never any other failure
            timed_out.append(token)
    # the survivor answered the rest: most requests succeed, every requester's last one too
    assert len(answered) >= 0.9 * len(results), timed_out
    for role_out in outs:
        last = json.loads(role_out.read_text().splitlines()[-1])
        assert last["result"]["success"], last

    # what the victim held came back to the survivor (a second delivery) or timed out
    assert held in answered or held in timed_out
    if held in answered:
        assert answered[held]["pid"] == survivor.pid
        assert answered[held]["deliveries"] >= 2
    # the victim's log names every request it was handed; any it did not answer came back
    victim_saw = {line.split()[0] for line in logs[0].read_text().splitlines() if line}
    survivor_saw = [line.split() for line in logs[1].read_text().splitlines() if line]
    again = {token for token, deliveries in survivor_saw if int(deliveries) >= 2}
    for token in again:  # delivered again only because the victim had it
        assert token in answered or token in timed_out
        if token in answered:
            assert answered[token]["pid"] == survivor.pid
    assert held in victim_saw
    assert {t for t, reply in answered.items() if reply["pid"] == victim.pid} <= victim_saw
