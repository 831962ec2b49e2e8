"""roleredis.core.leases, holding and keeping as pure logic (issue 22): the calls a lease
operation yields, how it reads replies, waits, loads the functions, and how a held lease
decides it is lost. Against servers: tests/integration/test_leases.py."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from roleredis.core import holding, keeping, leases
from roleredis.core.ops import Pause, Scope
from roleredis.foundation.errors import (
    ConfigError,
    HeldError,
    InternalError,
    LostError,
    PermissionDeniedError,
    TimeoutError,
)
from roleredis.foundation.keys import Keyspace

KEY = "__roleredis__:{w}:lease:n"
FENCES = "__roleredis__:{w}:fences"


def scope(**kwargs: Any) -> Scope:
    return Scope(Keyspace("w"), **kwargs)


def test_acquire_is_one_fcall_with_the_role_keys_only() -> None:
    op = leases.acquire(scope(), "n", 2.5)
    (call,) = next(op)
    name, (function, numkeys, key, fences, lease_name, token, ms) = call
    assert (name, function, numkeys) == ("fcall", "roleredis_lease_1_acquire", 2)
    assert (key, fences, lease_name, ms) == (KEY, FENCES, "n", 2500) and len(token) == 32
    with pytest.raises(StopIteration) as done:
        op.send([[1, 7]])
    granted = done.value.value
    assert (granted.fence, granted.ttl, granted.token, granted.full_key) == (7, 2.5, token, KEY)


def test_a_held_lease_without_wait_raises_held_with_retry_after() -> None:
    op = leases.acquire(scope(), "n", 5)
    next(op)
    with pytest.raises(HeldError) as held:
        op.send([[0, 1234]])
    assert held.value.context == {"name": "n", "retry_after": 1.234}


def test_a_waiting_acquire_pauses_and_tries_again_with_the_same_token() -> None:
    op = leases.acquire(scope(), "n", 5, wait=30)
    first = next(op)
    pause = op.send([[0, 5000]])
    assert type(pause) is Pause and 0 < pause.wait <= leases.FIRST_PAUSE
    again = op.send([])
    assert again == first  # same token: a grant lost in a reply is the same grant
    with pytest.raises(StopIteration):
        op.send([[1, 3]])


def test_replicas_wait_after_the_call_and_a_short_grant_is_released() -> None:
    op = leases.acquire(scope(wait_timeout=0.5), "n", 5, replicas=2)
    batch = next(op)
    assert batch[1] == ("wait", (2, 500))
    release = op.send([[1, 4], 1])
    assert release[0][1][0] == "roleredis_lease_1_release"
    with pytest.raises(TimeoutError, match="1 of 2 replicas"):
        op.send([1])


def test_async_wait_replicas_is_the_default() -> None:
    assert next(leases.renew(scope(wait_replicas=1), "n", "tok", 5))[1][0] == "wait"
    assert len(next(leases.renew(scope(wait_replicas=1), "n", "tok", 5, replicas=0))) == 1


def test_renew_of_a_token_that_no_longer_holds_it_is_lost() -> None:
    op = leases.renew(scope(), "n", "tok", 5)
    assert next(op) == [("fcall", ("roleredis_lease_1_renew", 1, KEY, "tok", 5000))]
    with pytest.raises(LostError):
        op.send([[0]])


def test_a_missing_library_is_loaded_once_then_the_call_is_sent_again() -> None:
    op = leases.release(scope(), "n", "tok")
    call = next(op)
    load = op.throw(InternalError("Redis error: Function not found"))
    assert load == [leases.load_call()] and leases.LIBRARY in load[0][1][2]
    assert op.send(["roleredis_lease_1"]) == call
    with pytest.raises(StopIteration) as done:
        op.send([1])
    assert done.value.value.released is True


def test_a_user_that_may_not_load_is_told_to_run_acl_provision() -> None:
    op = leases.release(scope(), "n", "tok")
    next(op)
    op.throw(InternalError("Redis error: Function not found"))
    with pytest.raises(PermissionDeniedError, match="roleredis acl provision w"):
        op.throw(PermissionDeniedError("NOPERM function|load"))


def test_a_server_without_functions_says_what_is_needed() -> None:
    op = leases.release(scope(), "n", "tok")
    next(op)
    with pytest.raises(ConfigError, match=r"Redis 7\.0 .*fakeredis\[lua\]"):
        op.throw(InternalError("Redis error: unknown command 'fcall', with args beginning"))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Store:
    role = "w"

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.renewals = 0

    def renew(self, name: str, token: str, ttl: float, *, replicas: int | None) -> None:
        self.renewals += 1
        if self.fail is not None:
            raise self.fail


class Keeper:
    def discard(self, item: Any) -> None:
        self.discarded = item


def held(store: Store, clock: Clock, ttl: float = 3.0) -> holding.Held:
    granted = leases.Granted("n", "tok", 5, ttl, KEY, clock.now)
    found = holding.Held(store, granted, None, clock)  # type: ignore[arg-type]
    found._keeper = Keeper()
    return found


def test_renewed_every_third_and_valid_for_the_ttl_less_drift() -> None:
    clock = Clock()
    lease = held(Store(), clock)
    assert lease.due == pytest.approx(101.0)
    assert lease.valid_for == pytest.approx(3 * (1 - holding.DRIFT) - 0.002)
    clock.now = 101.0
    lease.keep()
    assert lease.due == pytest.approx(102.0) and not lease.lost


def test_passing_failures_are_retried_until_the_ttl_runs_out() -> None:
    clock = Clock()
    store = Store(fail=TimeoutError("slow"))
    lease = held(store, clock)
    clock.now = 101.0
    lease.keep()
    assert not lease.lost and 101.0 < lease.due < 102.0  # tried again before the next third
    clock.now = 103.0  # past the ttl: no renewal succeeded in time
    assert lease.lost
    with pytest.raises(LostError, match="too late"):
        lease.check()
    renewals = store.renewals
    lease.keep()
    assert store.renewals == renewals  # never renewed again
    assert lease._keeper.discarded is lease


def test_a_refused_renewal_loses_the_lease_at_once() -> None:
    clock = Clock()
    lease = held(Store(fail=LostError("taken")), clock)
    clock.now = 101.0
    lease.keep()
    assert lease.lost and lease.valid_for == 0


def test_a_forked_child_sees_its_parents_lease_lost() -> None:
    lease = held(Store(), Clock())
    lease._pid = os.getpid() + 1  # as a child sees what its parent made
    assert lease.lost and not lease._mine()


def test_the_keeper_runs_due_items_and_ends_its_thread_when_none_is_left() -> None:
    keeper = keeping.Keeper()
    ran = threading.Event()

    class Item:
        due = 0.0

        def keep(self) -> None:
            keeper.discard(self)
            ran.set()

    keeper.add(Item())
    assert ran.wait(5)
    thread = keeper._thread
    if thread is not None:
        thread.join(5)
    assert len(keeper) == 0 and keeper._thread is None


@pytest.mark.parametrize("ttl", [leases.MIN_TTL, 1, 2.5, leases.MAX_TTL])
def test_ttl_in_milliseconds(ttl: float) -> None:
    assert leases.ttl_ms(ttl) == round(ttl * 1000)
