"""roleredis.admin.inventory.survey, driven by hand: the calls the role inventory makes and what it
makes of the replies, without a server (see the ops module docstring for the protocol)."""

from __future__ import annotations

from typing import Any

import pytest

from roleredis.admin import inventory
from roleredis.admin.inventory import NO_ROLE, RoleUsage
from roleredis.core import ops
from roleredis.foundation.errors import ConnectionFailedError, InternalError, PermissionDeniedError


def scan(cursor: int) -> ops.Call:
    return ("scan", (cursor, "*", ops.SCAN_COUNT))


def memory(*keys: bytes) -> list[ops.Call]:
    return [("memory_usage", (key,)) for key in keys]


def finish(op: ops.Op[inventory.Inventory], replies: list[Any]) -> inventory.Inventory:
    with pytest.raises(StopIteration) as done:
        op.send(replies)
    result: inventory.Inventory = done.value.value
    return result


def test_counts_keys_and_memory_per_role_in_one_round_trip_per_scan_batch() -> None:
    seen: list[tuple[int, int]] = []
    op = inventory.survey(progress=lambda new, total: seen.append((new, total)))
    assert next(op) == [("dbsize", ()), scan(0)]
    # the memory of this batch's keys travels with the next SCAN
    first = op.send([5, (17, [b"weather:a", b"timer:x", b"plain"])])
    assert first == [*memory(b"weather:a", b"timer:x", b"plain"), scan(17)]
    # a key SCAN returns again is not counted twice; a key gone since (None) weighs 0
    second = op.send([100, 50, 30, (0, [b"weather:a", b"weather:b", b"bad role:x"])])
    assert second == memory(b"weather:b", b"bad role:x")
    found = finish(op, [None, 7])
    assert found.memory_measured is True
    assert found.roles == {
        "weather": RoleUsage(2, 100),
        "timer": RoleUsage(1, 50),
        NO_ROLE: RoleUsage(2, 37),
    }
    assert found.named == ["timer", "weather"]
    assert found.no_role == RoleUsage(2, 37) and found.total == RoleUsage(5, 187)
    assert seen == [(3, 5), (2, 5)]


@pytest.mark.parametrize("refusal", [InternalError("unknown command"), PermissionDeniedError("")])
def test_memory_usage_refused_keys_still_counted(refusal: Exception) -> None:
    """No MEMORY USAGE (the embedded backend; an ACL user without it): the SCAN that rode
    along is sent again on its own, counting goes on, memory is not measured at all."""
    op = inventory.survey()
    next(op)
    op.send([3, (9, [b"weather:a"])])
    assert op.throw(refusal) == [scan(9)]
    found = finish(op, [(0, [b"weather:b", b"x"])])  # no MEMORY USAGE asked again
    assert found.memory_measured is False
    assert found.roles == {"weather": RoleUsage(2, 0), NO_ROLE: RoleUsage(1, 0)}


def test_memory_usage_refused_on_the_last_batch() -> None:
    op = inventory.survey()
    next(op)
    op.send([2, (5, [b"weather:a"])])
    assert op.send([40, (0, [b"weather:b"])]) == memory(b"weather:b")
    with pytest.raises(StopIteration) as done:
        op.throw(InternalError("ERR unknown command 'MEMORY'"))
    found: inventory.Inventory = done.value.value
    assert found.memory_measured is False
    assert found.roles == {"weather": RoleUsage(2, 0)}  # no half-measured numbers


def test_a_connection_failure_is_not_taken_for_a_missing_command() -> None:
    op = inventory.survey()
    next(op)
    op.send([1, (0, [b"weather:a"])])
    with pytest.raises(ConnectionFailedError):
        op.throw(ConnectionFailedError("gone"))


def test_empty_database_and_str_keys() -> None:
    op = inventory.survey()
    next(op)
    empty = finish(op, [0, (0, [])])
    assert empty.roles == {} and empty.total == RoleUsage() and empty.memory_measured
    op = inventory.survey()  # a client made with decode_responses=True lists str keys
    next(op)
    assert op.send([1, ("0", ["weather:é"])]) == memory("weather:é".encode())
    assert finish(op, [10]).roles == {"weather": RoleUsage(1, 10)}
