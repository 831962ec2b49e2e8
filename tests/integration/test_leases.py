"""Issue 22, items 1, 2 and 4: leases with fencing tokens, renewed in the background, and
messages kept while a handler runs. One body per test over one server, the embedded backend
(fakeredis with lupa), a Sentinel-managed primary and a Cluster (a role's lease keys share
its slot)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

from roleredis import (
    HeldError,
    LostError,
    RoleStore,
    aio,
    lease,
    redis_acquire,
    redis_receive,
    redis_release,
    redis_renew,
    redis_send,
    redis_touch,
)
from roleredis.core import leases

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster")

LEASE = "__roleredis__:{reports}:lease:nightly"
FENCES = "__roleredis__:{reports}:fences"


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds (a bound on a wait, not a timed assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_one_holder_at_a_time_and_fences_grow(raw: redis.Redis) -> None:
    first = redis_acquire("nightly", 30, role="reports")
    assert first["success"] is True, first
    assert first["name"] == "nightly" and first["role"] == "reports" and first["ttl"] == 30
    assert first["fence"] == 1 and len(first["token"]) == 32
    held = redis_acquire("nightly", 30, role="reports")
    assert held["success"] is False and held["error_code"] == "held", held
    assert held["name"] == "nightly" and 29 < held["retry_after"] <= 30
    other_role = redis_acquire("nightly", 30, role="audit")  # a lease is the role's own
    assert other_role["success"] is True and other_role["fence"] == 1
    assert redis_release("nightly", first["token"], role="reports")["released"] is True
    second = redis_acquire("nightly", 30, role="reports")
    assert second["success"] is True and second["fence"] == 2, second
    assert second["token"] != first["token"]
    # the old token can neither renew nor release the new grant
    assert redis_renew("nightly", first["token"], 30, role="reports")["error_code"] == "lost"
    assert redis_release("nightly", first["token"], role="reports")["released"] is False
    assert raw.exists(LEASE) == 1 and int(raw.hget(FENCES, "nightly")) == 2


def test_expiry_frees_the_lease_and_never_resets_its_fence(raw: redis.Redis) -> None:
    first = redis_acquire("nightly", 0.2, role="reports")
    assert 0 < raw.pttl(LEASE) <= 200
    until(lambda: raw.exists(LEASE) == 0)  # the server expired it
    assert redis_renew("nightly", first["token"], 5, role="reports")["error_code"] == "lost"
    again = redis_acquire("nightly", 5, role="reports")
    assert again["fence"] == first["fence"] + 1, again
    assert raw.ttl(FENCES) == -1  # the counters never expire


def test_renew_extends_from_now(raw: redis.Redis) -> None:
    got = redis_acquire("nightly", 1, role="reports")
    renewed = redis_renew("nightly", got["token"], 60, role="reports")
    assert renewed["success"] is True and renewed["fence"] == got["fence"], renewed
    assert 59_000 < raw.pttl(LEASE) <= 60_000


def test_a_waiting_acquire_gets_the_lease_when_its_holder_lets_go() -> None:
    first = redis_acquire("nightly", 30, role="reports")
    timer = threading.Timer(0.2, redis_release, ("nightly", first["token"]), {"role": "reports"})
    timer.start()
    try:
        second = redis_acquire("nightly", 30, wait=10, role="reports")
    finally:
        timer.join()
    assert second["success"] is True and second["fence"] == first["fence"] + 1, second


def test_bad_arguments_are_refused_before_anything_is_sent() -> None:
    for name in ("", "a:b", "x" * 65, "{x}", 3):
        assert redis_acquire(name, 5, role="reports")["error_code"] == "invalid_argument"
    for ttl in (0, -1, float("nan"), True, "5", leases.MAX_TTL * 2):
        assert redis_acquire("n", ttl, role="reports")["error_code"] == "invalid_argument"
    assert redis_acquire("n", 5, wait=-1, role="reports")["error_code"] == "invalid_argument"
    assert redis_renew("n", "", 5, role="reports")["error_code"] == "invalid_argument"
    assert redis_release("n", "a b", role="reports")["error_code"] == "invalid_argument"


def test_the_library_loads_the_functions_when_the_server_has_none(
    raw: redis.Redis, backend: str, request: pytest.FixtureRequest
) -> None:
    _delete_library(raw, backend, request)
    got = redis_acquire("nightly", 30, role="reports")
    assert got["success"] is True, got
    assert redis_release("nightly", got["token"], role="reports")["released"] is True


def _delete_library(raw: redis.Redis, backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "cluster":
        cluster = request.getfixturevalue("redis_cluster")
        for node in cluster.nodes:
            client = node.client()
            try:
                if client.execute_command("ROLE")[0] in (b"master", "master"):
                    client.execute_command("FUNCTION", "FLUSH")
            finally:
                client.close()
        return
    if backend == "sentinel":
        primary = request.getfixturevalue("sentinel_group").current_primary().client()
        try:
            primary.execute_command("FUNCTION", "FLUSH")
        finally:
            primary.close()
        return
    raw.execute_command("FUNCTION", "FLUSH")


def test_a_held_lease_is_renewed_in_the_background(raw: redis.Redis) -> None:
    with (
        lease("nightly", ttl=1, role="reports") as held,
        lease("hourly", ttl=1, role="reports"),
        lease("nightly", ttl=1, role="audit"),
    ):
        keepers = [t for t in threading.enumerate() if t.name == "roleredis-keeper"]
        assert len(keepers) == 1  # one renewal thread per process, not one per lease
        started = time.monotonic()
        assert held.fence >= 1 and not held.lost
        time.sleep(2.2)  # over twice the ttl: only renewals keep it
        held.check()
        assert raw.exists(LEASE) == 1 and 0 < raw.pttl(LEASE) <= 1000
        assert held.valid_for > 0 and time.monotonic() - started > 2
        again = redis_acquire("nightly", 5, role="reports")
        assert again["error_code"] == "held"
    assert raw.exists(LEASE) == 0  # released on leaving


def test_a_lease_taken_from_its_holder_is_lost_for_good(
    raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis.leases")
    with lease("nightly", ttl=0.6, role="reports") as held:
        raw.delete(LEASE)  # as if it expired
        thief = redis_acquire("nightly", 30, role="reports")
        assert thief["fence"] == held.fence + 1
        until(lambda: held.lost)
        with pytest.raises(LostError) as lost:
            held.check()
        assert lost.value.error_code == "lost"
        assert "nightly" in caplog.text and "lost" in caplog.text
    # leaving did not release the thief's grant, nor did a renewal take it back
    assert raw.get(LEASE) == f"{thief['token']} {thief['fence']}".encode()


def test_entering_a_held_lease_raises_held_after_wait() -> None:
    got = redis_acquire("nightly", 30, role="reports")
    with pytest.raises(HeldError) as held, lease("nightly", ttl=5, role="reports"):
        pass
    assert held.value.context["name"] == "nightly" and held.value.error_code == "held"
    redis_release("nightly", got["token"], role="reports")
    with lease("nightly", ttl=5, wait=1, role="reports") as mine:
        assert mine.fence == got["fence"] + 1


def test_asyncio_lease_and_tools(raw: redis.Redis) -> None:
    async def main() -> tuple[int, bool, dict[str, Any]]:
        async with aio.lease("nightly", ttl=1, role="reports") as held:
            await asyncio.sleep(2.2)  # renewed by the loop's keeper task
            held.check()
            other = await aio.redis_acquire("nightly", 1, role="reports")
            return held.fence, held.lost, other

    fence, lost, other = asyncio.run(main())
    assert fence >= 1 and lost is False and other["error_code"] == "held"
    assert raw.exists(LEASE) == 0
    got = asyncio.run(aio.redis_acquire("nightly", 5, role="reports"))
    assert got["fence"] == fence + 1


@pytest.mark.backends("redis", "sentinel")  # memory:// is per process; a cluster adds nothing
def test_a_forked_child_does_not_hold_its_parents_lease(raw: redis.Redis) -> None:
    block = lease("nightly", ttl=5, role="reports")
    held = block.__enter__()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 9
        try:
            code = 1 if held.lost else 2
            block.__exit__(None, None, None)  # leaving the block in the child: no release
            with lease("other", ttl=5, role="reports") as own:  # its own leases work
                code += 0 if own.fence == 1 and not own.lost else 4
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    try:
        assert os.read(read, 1) == b"\x01"
    finally:
        os.close(read)
    assert not held.lost and raw.exists(LEASE) == 1  # the child did not release it
    held.check()
    block.__exit__(None, None, None)
    assert raw.exists(LEASE) == 0


def test_touch_restarts_the_visibility_timeout_without_a_delivery(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"messaging": {"visibility_timeout": 0.6}})
    assert redis_send("reports", {"job": 1}, role="planner")["success"]
    got = redis_receive(role="reports")["messages"]
    assert [m["deliveries"] for m in got] == [1]
    ids = [m["id"] for m in got]
    store = RoleStore("reports")
    from roleredis.core.holding import KeptMessages

    with KeptMessages(store, ids):
        time.sleep(1.5)  # over twice the visibility timeout: only touches keep it
        assert redis_receive(role="reports")["messages"] == []
    touched = redis_touch([*ids, "planner/1-0"], role="reports")
    assert touched["touched"] == 1 and touched["ids"] == ids, touched
    assert touched["missing"] == ["planner/1-0"]
    time.sleep(0.7)
    again = redis_receive(role="reports")["messages"]
    assert [(m["id"], m["deliveries"]) for m in again] == [(ids[0], 2)]  # no delivery counted
