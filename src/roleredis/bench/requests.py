"""Request/reply between roles (issue 21): redis_request answered by ``serve`` in another
process, beside raw redis-py ping-pong over two lists doing the same work (the requester
LPUSHes the request, naming its own reply list, and BRPOPs that list; the responder BRPOPs
the request list and LPUSHes the answer), the same JSON payload both ways.

Every responder and every requester but the round trip's runs in a process of its own
(``python -c`` of :func:`child`; one line on stdout says it is ready, one on stdin starts it,
one on stdout gives its figures), so four requesters are not four threads behind one GIL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import redis

from .report import Row

__all__ = ["REQUESTERS", "child", "request_rows"]

#: Requester processes of the throughput rows (one responder process serves them).
REQUESTERS = 4
_VALUE = {"task": "forecast", "region": "north", "steps": [1, 2, 3]}
_WORKER = "bench_worker"
_RAW_REQUESTS = "raw:requests"
_TIMEOUT = 10.0


def request_rows(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """Round trip p50 and p99 (one requester in this process, one responder process), and
    requests per second of REQUESTERS requester processes against one responder process:
    roleredis (redis_request, serve) vs raw ping-pong over lists."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    r: Any = redis.Redis.from_url(url, socket_timeout=_TIMEOUT + 5, socket_connect_timeout=5.0)
    n = max(20, int(2000 * scale))
    k = max(20, int(1000 * scale))
    responders = [_start(url, "serve-ours"), _start(url, "serve-raw")]
    try:
        for responder in responders:
            _ready(responder)
        ours, raw = _round_trips(r, n, rounds)
        best_ours = best_raw = 0.0
        for _ in range(rounds):
            best_ours = max(best_ours, _throughput(url, "ask-ours", k))
            best_raw = max(best_raw, _throughput(url, "ask-raw", k))
    finally:
        for responder in responders:
            _stop(responder)
        r.unlink(_RAW_REQUESTS, *(f"raw:reply:{i}" for i in range(-1, REQUESTERS)))
        r.close()
        runtime.use_settings(None)
    return [
        Row(
            "request/reply round trip p50 (ms, ratio: ours/raw, lower is better): "
            "redis_request + serve vs raw LPUSH/BRPOP ping-pong",
            ours[0],
            raw[0],
            "<= 3",
            "ms",
        ),
        Row(
            "request/reply round trip p99 (ms, ratio: ours/raw, lower is better)",
            ours[1],
            raw[1],
            "measured",
            "ms",
        ),
        Row(
            f"requests/s, {REQUESTERS} requester processes and 1 responder process: "
            "redis_request + serve vs raw lists",
            best_ours,
            best_raw,
            "measured",
            "req/s",
        ),
    ]


def _round_trips(r: Any, n: int, rounds: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(p50, p99) in ms of each side, the best of ``rounds`` interleaved rounds of ``n``."""
    import roleredis

    def ours() -> None:
        result = roleredis.redis_request(_WORKER, _VALUE, timeout=_TIMEOUT, role="bench_asker")
        if not result["success"]:
            raise RuntimeError(f"redis_request failed: {result}")

    def raw() -> None:
        _raw_request(r, -1, 0)

    for _ in range(3):  # the responder finds the new sender (discovery), connections warm
        ours()
        raw()
    best: dict[str, tuple[float, float]] = {}
    for _ in range(rounds):
        for side, call in (("ours", ours), ("raw", raw)):
            p50, p99 = _percentiles(_timed(call, n))
            was = best.get(side, (float("inf"), float("inf")))
            best[side] = (min(was[0], p50), min(was[1], p99))
    return best["ours"], best["raw"]


def _timed(call: Callable[[], None], n: int) -> list[float]:
    took = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    return took


def _percentiles(took: list[float]) -> tuple[float, float]:
    """p50 and p99 of ``took`` (nearest rank).

    >>> _percentiles([float(i) for i in range(1, 101)])
    (50.0, 99.0)
    """
    ordered = sorted(took)

    def rank(p: int) -> float:
        return ordered[max(0, -(-len(ordered) * p // 100) - 1)]

    return rank(50), rank(99)


def _raw_request(r: Any, index: int, n: int) -> None:
    reply_to = f"raw:reply:{index}"
    r.lpush(_RAW_REQUESTS, json.dumps({"reply_to": reply_to, "id": n, "body": _VALUE}))
    got = r.brpop([reply_to], timeout=_TIMEOUT)
    if got is None or json.loads(got[1])["id"] != n:
        raise RuntimeError(f"raw ping-pong: no answer to request {n} on {reply_to}")


def _throughput(url: str, mode: str, k: int) -> float:
    """Requests/s of REQUESTERS requester processes of ``mode``, ``k`` requests each, from
    the first one's start to the last one's end."""
    askers = [_start(url, mode, str(i), str(k)) for i in range(REQUESTERS)]
    try:
        for asker in askers:
            _ready(asker)
        for asker in askers:
            assert asker.stdin is not None
            asker.stdin.write("go\n")
            asker.stdin.flush()
        spans: list[dict[str, float]] = [json.loads(_line(asker)) for asker in askers]
    finally:
        for asker in askers:
            _stop(asker)
    return REQUESTERS * k / (max(s["ended"] for s in spans) - min(s["started"] for s in spans))


def _start(url: str, mode: str, *args: str) -> subprocess.Popen[str]:
    code = "from roleredis.bench.requests import child; child()"
    return subprocess.Popen(
        [sys.executable, "-c", code, mode, url, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"a benchmark process exited (code {process.wait()}): {process.args!r}")
    return line


def _ready(process: subprocess.Popen[str]) -> None:
    if _line(process).strip() != "ready":
        raise RuntimeError(f"a benchmark process did not start: {process.args!r}")


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()  # serve stops on SIGTERM; the others just end
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def child(argv: list[str] | None = None) -> None:
    """A benchmark process: ``serve-ours URL``, ``serve-raw URL`` (a responder, until
    SIGTERM), ``ask-ours URL INDEX K``, ``ask-raw URL INDEX K`` (a requester: ready once warm,
    ``K`` requests once told to go, then its span as JSON)."""
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    mode, url, *rest = sys.argv[1:] if argv is None else argv
    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    r: Any = redis.Redis.from_url(url, socket_timeout=_TIMEOUT + 5, socket_connect_timeout=5.0)
    if mode == "serve-ours":
        print("ready", flush=True)
        roleredis.serve(lambda message: message["body"], role=_WORKER)
        return
    if mode == "serve-raw":
        print("ready", flush=True)
        while True:
            got = r.brpop([_RAW_REQUESTS], timeout=1)
            if got is not None:
                asked = json.loads(got[1])
                answer = {"id": asked["id"], "reply": asked["body"]}
                r.lpush(asked["reply_to"], json.dumps(answer))
    index, k = int(rest[0]), int(rest[1])
    role = f"bench_asker{index}"

    def ours(i: int) -> None:
        result = roleredis.redis_request(_WORKER, _VALUE, timeout=_TIMEOUT, role=role)
        if not result["success"]:
            raise RuntimeError(f"redis_request failed: {result}")

    call: Callable[[int], None] = (
        ours if mode == "ask-ours" else (lambda i: _raw_request(r, index, i))
    )
    for i in range(3):  # the responder finds this new sender (discovery), connections warm
        call(i)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    for i in range(k):
        call(i)
    print(json.dumps({"started": started, "ended": time.monotonic()}), flush=True)
