"""The sync round trip's lane (roleredis.table.synclane, issue 26): redis_write and redis_read
with ``role=`` given give exactly the general call's result, metrics and stored value, and
everything the lane does not carry (a refused value, key or TTL, replicas, encryption, an
index, from_role, touch) gets the general call, before anything is sent.

Each case is compared with the general call (``calls.call`` with the row).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import roleredis
from roleredis.faces import tools
from roleredis.foundation.errors import PermissionDeniedError
from roleredis.table import calls, metrics, synclane
from roleredis.table.rows import READ, WRITE

WriteConfig = Callable[[dict[str, Any]], Path]  # the write_config fixture

pytestmark = [pytest.mark.integration, pytest.mark.backends("redis", "memory")]


class Level(enum.IntEnum):
    HIGH = 3


@pytest.fixture(autouse=True)
def _env(roleredis_env: Any) -> None:
    """A clean environment at the session's server (or the embedded backend)."""


def _general_write(key: Any, value: Any, ttl: Any = None, role: Any = "trip", **kw: Any) -> Any:
    options = {"encrypt": kw.get("encrypt"), "replicas": kw.get("replicas", 0)}
    return calls.call(WRITE, tools.role_store, role, (key, value, ttl), options)


def _general_read(key: Any, role: Any = "trip") -> Any:
    return calls.call(READ, tools.role_store, role, (key,), {"from_role": None, "touch": None})


def _count(operation: str, role: str) -> tuple[int, dict[str, int]]:
    stats = metrics.snapshot()["operations"].get(operation, {}).get(role)
    return (0, {}) if stats is None else (stats["count"], stats["errors"])


def test_the_lane_carries_a_plain_write_and_read(monkeypatch: pytest.MonkeyPatch) -> None:
    value = {"n": 1, "f": 2.5, "s": "x", "b": True, "none": None, "l": [1, "a"], "big": 2**70}
    roleredis.redis_write("warm", 1, role="trip")  # the lane's trip is made
    before = _count("write", "trip")[0], _count("read", "trip")[0]
    with monkeypatch.context() as patched:  # the lane carries both: no general call
        patched.setattr(calls, "call", lambda *a, **k: pytest.fail("the general call ran"))
        written = roleredis.redis_write("k", value, ttl=60, role="trip")
        read = roleredis.redis_read("k", role="trip")
        missing = roleredis.redis_read("nothing", role="trip")
    assert written == {
        "success": True,
        "key": "k",
        "prefixed_key": "trip:k",
        "role": "trip",
        "ttl": 60,
        "message": "Data written to trip:k",
    }
    assert written == _general_write("k", value, 60)
    assert read["value"] == value and type(read["value"]["big"]) is int
    assert type(read["value"]["f"]) is float
    assert {**read, "ttl": 0} == {**_general_read("k"), "ttl": 0}
    assert missing == _general_read("nothing")
    assert missing["error_code"] == "not_found" and missing["value"] is None
    count_w, count_r = _count("write", "trip")[0], _count("read", "trip")[0]
    assert (count_w - before[0], count_r - before[1]) == (2, 4)  # each: lane's + general's


@pytest.mark.parametrize(
    "value",
    [Level.HIGH, {"level": Level.HIGH}, float("nan"), {"t": (1, 2)}, {1: "int key"}, {"s": {1}}],
)
def test_what_json_cannot_carry_exactly_is_refused_as_by_the_general_call(value: Any) -> None:
    got = roleredis.redis_write("k", value, role="trip")
    assert got["success"] is False and got["error_code"] == "serialization", got
    assert got == _general_write("k", value)
    assert roleredis.redis_exists("k", role="trip")["exists"] is False


@pytest.mark.parametrize(
    ("key", "ttl", "role"),
    [
        ("", None, "trip"),
        (5, None, "trip"),
        ("k" * 1025, None, "trip"),
        ("k", 0, "trip"),
        ("k", 1.5, "trip"),
        ("k", None, "bad role"),
        ("k", None, ""),
    ],
)
def test_bad_keys_ttls_and_roles_get_the_general_calls_failure(
    key: Any, ttl: Any, role: Any
) -> None:
    roleredis.redis_write("warm", 1, role="trip")
    got = roleredis.redis_write(key, 1, ttl=ttl, role=role)
    assert got["success"] is False and got["error_code"] == "invalid_argument", got
    assert got == _general_write(key, 1, ttl, role)
    if ttl is None:
        read = roleredis.redis_read(key, role=role)
        assert read["error_code"] == "invalid_argument" and read == _general_read(key, role)


def test_what_the_lane_leaves_goes_through_the_general_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roleredis.redis_write("warm", 1, role="trip")
    ran: list[str] = []
    general = calls.call

    def counted(op: Any, *args: Any, **kw: Any) -> Any:
        ran.append(op.name)
        return general(op, *args, **kw)

    monkeypatch.setattr(calls, "call", counted)
    assert roleredis.redis_write("k", "x" * 10, role="trip")["success"]  # str: the lane
    assert roleredis.redis_write("clé", "été", role="trip")["success"]
    assert roleredis.redis_write("k", 1, role="trip", replicas=0)["success"]
    assert roleredis.redis_read("clé", role="trip")["value"] == "été"
    assert 58 <= roleredis.redis_read("k", role="trip", touch=60)["ttl"] <= 60
    assert roleredis.redis_read("k", role="trip", from_role="trip")["value"] == 1
    assert ran == ["write", "read", "read", "read"]


def test_a_server_error_after_the_send_is_the_general_calls_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roleredis.redis_write("warm", 1, role="trip")
    trip = synclane._trips["trip"]

    def refused(batch: Any) -> Any:
        raise PermissionDeniedError("NOPERM refused")

    monkeypatch.setattr(trip, "send", refused)
    before, errors_before = _count("write", "trip")
    got = roleredis.redis_write("k", 1, role="trip")
    assert got["success"] is False and got["error_code"] == "permission"
    assert got["prefixed_key"] == "trip:k" and got["role"] == "trip"
    count, errors = _count("write", "trip")
    assert count - before == 1 and errors["permission"] - errors_before.get("permission", 0) == 1
    read = roleredis.redis_read("k", role="trip")
    assert read["error_code"] == "permission" and "value" not in read


def test_max_ttl_lowers_and_warns_on_the_lane(write_config: WriteConfig) -> None:
    write_config({"key_management": {"max_ttl": 100, "default_ttl": 50}})
    default = roleredis.redis_write("d", 1, role="trip")
    assert default["ttl"] == 50 and "warning" not in default
    longer = roleredis.redis_write("l", 1, ttl=1000, role="trip")
    assert longer["ttl"] == 100 and "max_ttl" in longer["warning"]
    assert longer == _general_write("l", 1, 1000)
    assert 0 < roleredis.redis_read("l", role="trip")["ttl"] <= 100


def test_a_value_over_max_value_bytes_is_refused(write_config: WriteConfig) -> None:
    write_config({"serialization": {"max_value_bytes": 64}})
    got = roleredis.redis_write("k", {"x": "y" * 100}, role="trip")
    assert got["error_code"] == "invalid_argument" and "max_value_bytes" in got["error"]
    assert got == _general_write("k", {"x": "y" * 100})
    assert roleredis.redis_write("k", {"x": 1}, role="trip")["success"] is True


def test_an_indexed_role_gets_its_index_entry(write_config: WriteConfig) -> None:
    write_config({"key_management": {"index": True}})
    for i in range(3):
        assert roleredis.redis_write(f"k{i}", i, ttl=60, role="trip")["success"]
    assert sorted(roleredis.redis_get_keys(role="trip")["keys"]) == ["k0", "k1", "k2"]


def test_without_a_prefix_the_internal_keys_stay_out_of_reach(write_config: WriteConfig) -> None:
    write_config({"key_management": {"auto_prefix": False}})
    got = roleredis.redis_write("__roleredis__:{trip}:index", 1, role="trip")
    assert got["error_code"] == "invalid_argument", got
    assert roleredis.redis_write("plain", 1, role="trip")["prefixed_key"] == "plain"
