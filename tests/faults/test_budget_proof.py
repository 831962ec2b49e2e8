"""Issue 23, item 4: a shared budget proven across processes. 3 processes x 4 threads draw on
``rate: 100/s``, ``tokens: 5000/s`` (estimates, then actual uses up to 15 above or 10 below),
``concurrency: 4`` for 30 s, and every grant, report and give-back is checked with the server
times the budget functions return (docs/budgets.md, "The guarantee"):

- no window of 1 s holds more than 100 grants;
- every window ending at a grant holds at most 5,000 tokens: grants (at their actual use, or
  estimate if higher) and the debt reported before that grant; a window holds more only by
  debt reported after its last grant (tokens already spent cannot be refused);
- never more than 4 places held at once;
- throughput within 10% of the limit: at least 2,700 grants in the 30 s.

And a SIGKILLed holder's place comes back within its lease: the next holder's grant follows
the kill by at most the lease (plus the waiter's polling, 10 ms at most).
"""

from __future__ import annotations

import bisect
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from roleredis import RoleStore, redis_give_back, redis_take
from roleredis.core import budgets
from roleredis.foundation.budgets import parse

pytestmark = pytest.mark.backends("redis")

SECONDS = 30
US = 1_000_000


def _define(name: str, **fields: Any) -> None:
    store = RoleStore("admin")
    store.run(budgets.define(store.scope, parse({name: {**fields, "roles": ["w"]}}, "t")[name]))


WORKER = """
import json, random, sys, threading, time
from roleredis import redis_take, redis_report, redis_give_back
end = time.monotonic() + float(sys.argv[1])
lock, rows = threading.Lock(), []

def work():
    while time.monotonic() < end:
        est = random.randint(20, 60)
        got = redis_take("proof", est, timeout=30, role="w")
        assert got["success"], got
        time.sleep(random.uniform(0.002, 0.02))
        actual = max(0, est + random.randint(-10, 15))
        rep = redis_report("proof", got["id"], actual, role="w")
        back = redis_give_back("proof", got["place"], role="w")
        assert rep["success"] and back["success"] and back["given_back"], (rep, back)
        with lock:
            rows.append([got["granted_at"], est, actual, rep["at"], back["at"]])

threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(rows))
"""


def _us(seconds: float) -> int:
    return round(seconds * US)


def test_three_processes_of_four_threads_never_exceed_the_budget(roleredis_env: Any) -> None:
    import json

    _define("proof", rate="100/s", tokens="5000/s", concurrency=4, lease=30)
    env = {**os.environ, "REDIS_URL": roleredis_env.url}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(SECONDS)], env=env, stdout=subprocess.PIPE
        )
        for _ in range(3)
    ]
    rows = []
    for proc in procs:
        out, _ = proc.communicate(timeout=SECONDS + 60)
        assert proc.returncode == 0
        rows.extend(json.loads(out))
    grants = sorted(_us(r[0]) for r in rows)
    # requests: the 101st grant after any grant comes at least a whole second later
    assert all(grants[i + 100] - grants[i] >= US for i in range(len(grants) - 100))
    # tokens: events (time, tokens, is_debt)
    events = sorted(
        [(_us(g), min(e, a), False) for g, e, a, _, _ in rows]
        + [(_us(r), a - e, True) for g, e, a, r, _ in rows if a > e]
    )
    times = [t for t, _, _ in events]
    worst = 0
    for end, _, is_debt in events:
        if is_debt:
            continue
        start = bisect.bisect_right(times, end - US)  # the window (end - 1 s, end]
        stop = bisect.bisect_right(times, end)
        charged = sum(n for _, n, _ in events[start:stop])
        worst = max(worst, charged)
        assert charged <= 5000, (end, charged)
    over = 0
    for i, (t0, _, _) in enumerate(events):  # any window [t0, t0 + 1 s)
        stop = bisect.bisect_left(times, t0 + US)
        inside = events[i:stop]
        last_grant = max((t for t, _, d in inside if not d), default=t0)
        late_debt = sum(n for t, n, d in inside if d and t > last_grant)
        total = sum(n for _, n, _ in inside)
        assert total <= 5000 + late_debt
        over = max(over, total - 5000)
    # concurrency: at each grant, the places granted before it and not yet given back
    spans = sorted((_us(g), _us(b)) for g, _, _, _, b in rows)
    for g, _ in spans:
        assert sum(1 for s, b in spans if s <= g < b) <= 4
    assert len(grants) >= 0.9 * 100 * SECONDS, len(grants)
    print(f"grants {len(grants)}, worst token window {worst}, most over by late debt {over}")


HOLDER = """
import sys, time
from roleredis import budget
with budget("kill", role="w").take(timeout=10) as t:
    print(t.granted_at, flush=True)
    time.sleep(600)
"""


def test_a_killed_holders_place_comes_back_within_its_lease(roleredis_env: Any) -> None:
    lease = 1.0
    _define("kill", concurrency=1, lease=lease)
    env = {**os.environ, "REDIS_URL": roleredis_env.url}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], env=env, stdout=subprocess.PIPE)
    assert holder.stdout is not None
    granted = float(holder.stdout.readline())
    time.sleep(lease * 2)  # renewed by its keeper meanwhile: still held
    assert redis_take("kill", role="w")["error_code"] == "timeout"
    store = RoleStore("w")
    before = store.run(budgets.status(store.scope, "kill")).now
    holder.send_signal(signal.SIGKILL)
    holder.wait(10)
    holder.stdout.close()
    after = store.run(budgets.status(store.scope, "kill")).now
    got = redis_take("kill", role="w", timeout=10)
    assert got["success"], got
    assert granted < before
    # the place came back at most a lease after the kill (+ the waiter's polling)
    assert got["granted_at"] - before <= lease + 0.1 + (after - before)
    redis_give_back("kill", got["place"], role="w")
