"""The fire-and-forget write's fast lane (roleredis.table.fastlane, issue 26): what it queues
is exactly what the general call would, and everything it does not carry (a refused value,
key or TTL, an encrypted or compressed role, an index, a full queue) gets the general call's
result, metrics and log.

The lane's promise is one of sameness: each case is compared with the general call
(``calls.call`` with the row), and stored values are read back with their types.
"""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

import roleredis
from roleredis.faces import tools
from roleredis.table import calls, fastlane, metrics
from roleredis.table.rows import WRITE_ASYNC

pytestmark = [pytest.mark.integration, pytest.mark.backends("redis", "memory")]


class Level(enum.IntEnum):
    HIGH = 3


class Colour(enum.Enum):
    RED = "red"


@pytest.fixture(autouse=True)
def _env(roleredis_env: Any) -> None:
    """A clean environment at the session's server (or the embedded backend)."""


def _general(key: Any, value: Any, ttl: Any = None, role: Any = "lane", **kw: Any) -> Any:
    return calls.call(
        WRITE_ASYNC, tools.role_store, role, (key, value, ttl), {"encrypt": kw.get("encrypt")}
    )


def _count(role: str) -> tuple[int, dict[str, int]]:
    stats = metrics.snapshot()["operations"].get("write_async", {}).get(role)
    return (0, {}) if stats is None else (stats["count"], stats["errors"])


def test_the_lane_carries_a_plain_write_and_keeps_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = {"n": 1, "f": 2.5, "s": "x", "b": True, "none": None, "l": [1, "a"], "big": 2**70}
    roleredis.redis_write_async("warm", 1, role="lane")  # the lane is made
    with monkeypatch.context() as patched:  # the lane carries it: no general call
        patched.setattr(calls, "call", lambda *a, **k: pytest.fail("the general call ran"))
        result = roleredis.redis_write_async("k", value, ttl=60, role="lane")
    assert result == {
        "success": True,
        "key": "k",
        "prefixed_key": "lane:k",
        "role": "lane",
        "ttl": 60,
        "async": True,
        "message": "Write to lane:k started (fire and forget)",
    }
    assert result == _general("k", value, 60)
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    read = roleredis.redis_read("k", role="lane")
    assert read["value"] == value
    assert type(read["value"]["big"]) is int and type(read["value"]["f"]) is float


INEXACT = [
    Level.HIGH,
    {"level": Level.HIGH},
    {"c": Colour.RED},
    float("nan"),
    {"x": float("nan")},
    {"x": float("inf")},
    [1, float("-inf")],
    (1, 2),
    {"t": (1, 2)},
    {"l": [{"t": (1,)}]},
    {1: "int key"},
    {"s": {1, 2}},
    # a list of plain leaves is checked in the dict's loop: what follows them is still seen
    {"tags": ["a", None, Level.HIGH]},
    {"tags": ["a", True, float("nan")]},
    {"tags": ["a", (1,)]},
    {"tags": ["a", ["b", Colour.RED]]},
]


@pytest.mark.parametrize("value", INEXACT)
def test_what_json_cannot_carry_exactly_is_refused_as_by_the_general_call(value: Any) -> None:
    before, errors_before = _count("lane")
    got = roleredis.redis_write_async("k", value, role="lane")
    assert got["success"] is False and got["error_code"] == "serialization", got
    assert got == _general("k", value)
    count, errors = _count("lane")
    assert (
        count - before == 2 and errors["serialization"] - errors_before.get("serialization", 0) == 2
    )
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    assert roleredis.redis_exists("k", role="lane")["exists"] is False


@pytest.mark.parametrize(
    ("key", "ttl", "role"),
    [
        ("", None, "lane"),
        (5, None, "lane"),
        ("k" * 1025, None, "lane"),
        ("\ud800", None, "lane"),
        ("k", 0, "lane"),
        ("k", 1.5, "lane"),
        ("k", True, "lane"),
        ("k", None, "bad role"),
        ("k", None, "a:b"),
        ("k", None, ""),
    ],
)
def test_bad_keys_ttls_and_roles_get_the_general_calls_failure(
    key: Any, ttl: Any, role: Any
) -> None:
    roleredis.redis_write_async("warm", 1, role="lane")  # the lane exists
    got = roleredis.redis_write_async(key, 1, ttl=ttl, role=role)
    assert got["success"] is False and got["error_code"] == "invalid_argument", got
    assert got == _general(key, 1, ttl, role)


def test_non_ascii_keys_and_str_values_go_through_the_scope_as_before() -> None:
    for key, value in (("clé", "été"), ("k", "x" * 100), ("bytes", b"\x00\xff")):
        assert roleredis.redis_write_async(key, value, role="lane") == _general(key, value)
    roleredis.redis_flush(timeout=10)
    assert roleredis.redis_read("clé", role="lane")["value"] == "été"
    assert roleredis.redis_read("bytes", role="lane")["value"] == b"\x00\xff"


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **redis: Any) -> None:
    path = tmp_path / "lane.yaml"
    path.write_text(yaml.safe_dump({"redis": redis}))
    monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
    roleredis.reset()


def test_max_ttl_lowers_and_warns_on_the_lane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, key_management={"max_ttl": 100, "default_ttl": 50})
    default = roleredis.redis_write_async("d", 1, role="lane")
    assert default["ttl"] == 50 and "warning" not in default
    longer = roleredis.redis_write_async("l", 1, ttl=1000, role="lane")
    assert longer["ttl"] == 100 and "max_ttl" in longer["warning"]
    assert longer == _general("l", 1, 1000)
    forever = roleredis.redis_write_async("f", 1, ttl=-1, role="lane")
    assert forever["ttl"] == 100 and "no expiry" in forever["warning"]
    roleredis.redis_flush(timeout=10)
    assert 0 < roleredis.redis_read("f", role="lane")["ttl"] <= 100


def test_a_value_over_max_value_bytes_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, serialization={"max_value_bytes": 64})
    got = roleredis.redis_write_async("k", {"x": "y" * 100}, role="lane")
    assert got["error_code"] == "invalid_argument" and "max_value_bytes" in got["error"]
    assert roleredis.redis_write_async("k", {"x": 1}, role="lane")["success"] is True


def test_without_a_prefix_the_internal_keys_stay_out_of_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, key_management={"auto_prefix": False})
    got = roleredis.redis_write_async("__roleredis__:{lane}:index", 1, role="lane")
    assert got["error_code"] == "invalid_argument", got
    assert roleredis.redis_write_async("plain", 1, role="lane")["prefixed_key"] == "plain"


def test_an_indexed_role_gets_its_index_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, key_management={"index": True})
    for i in range(3):
        assert roleredis.redis_write_async(f"k{i}", i, ttl=60, role="lane")["success"]
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    assert sorted(roleredis.redis_get_keys(role="lane")["keys"]) == ["k0", "k1", "k2"]


def test_a_full_queue_is_overloaded_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roleredis.redis_write_async("warm", 1, role="lane")
    writer = roleredis.runtime.writer()
    monkeypatch.setattr(writer, "max_pending", 0)
    got = roleredis.redis_write_async("k", 1, role="lane")
    assert got["success"] is False and got["error_code"] == "overloaded", got


def test_a_patched_client_hook_or_no_role_takes_the_general_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[Any] = []
    real = tools.role_store

    def spy(role: Any, skip: int = 0) -> Any:
        seen.append(role)
        return real(role, skip + 1)

    monkeypatch.setattr(tools, "role_store", spy)
    with roleredis.acting_as("lane"):
        assert roleredis.redis_write_async("k", 1)["role"] == "lane"
    assert seen == [None]
    monkeypatch.setattr(tools, "REDIS_AVAILABLE", False)
    assert roleredis.redis_write_async("k", 1, role="lane")["error_code"] == "disabled"


def test_the_lane_logs_what_the_general_call_logs(caplog: pytest.LogCaptureFixture) -> None:
    roleredis.redis_write_async("warm", 1, role="lane")
    with caplog.at_level(logging.DEBUG, logger="roleredis.tools"):
        roleredis.redis_write_async("k", 1, role="lane")
    assert any("write_async ok role=lane key='k'" in r.getMessage() for r in caplog.records)


def test_a_reset_forgets_the_lanes() -> None:
    roleredis.redis_write_async("k", 1, role="lane")
    assert "lane" in fastlane._lanes
    roleredis.reset()
    assert not fastlane._lanes


@pytest.mark.real_server
def test_a_pending_write_through_the_lane_holds_at_most_600_bytes(redis_server: Any) -> None:
    """Issue 26: memory per pending write stays at most 600 B (a 108-byte value, the server
    paused; the bench's row, on a server of its own)."""
    from roleredis.bench.fire_and_forget import pending_write_memory

    row = pending_write_memory(5000)
    assert row.ours <= 600, row


def test_the_bench_row_of_the_callers_cpu_measures_the_lane() -> None:
    from roleredis.bench.fire_and_forget import caller_cpu_row
    from roleredis.bench.report import interleaved

    row = caller_cpu_row(200, rounds=3)
    assert (row.unit, row.target, row.raw) == ("us/call", "<= 3", None) and row.ours > 0
    assert roleredis.redis_read("c199", role="bench")["value"] == {
        "a": 1,
        "b": "x",
        "c": 2.5,
        "d": True,
    }
    ours, limit = interleaved(10, lambda: None, lambda: None, 3)
    assert ours > 0 and limit > 0
