"""The fire-and-forget fast lane (roleredis.table.fastlane, issue 26): what it queues is
exactly what the general call would, and everything it does not carry (a refused value, key or
TTL, an encrypted or compressed role, an index, a full queue; for a send: a bad recipient or
message, a channel whose length must be asked, a full channel) gets the general call's result,
metrics and log.

The lane's promise is one of sameness: each case is compared with the general call
(``calls.call`` with the row), and stored values are read back with their types.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import roleredis
from roleredis.faces import tools
from roleredis.foundation.keys import Keyspace
from roleredis.table import calls, fastlane, metrics
from roleredis.table.rows import SEND_ASYNC, WRITE_ASYNC

WriteConfig = Callable[[dict[str, Any]], Path]  # the write_config fixture

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


def _count(role: str, operation: str = "write_async") -> tuple[int, dict[str, int]]:
    stats = metrics.snapshot()["operations"].get(operation, {}).get(role)
    return (0, {}) if stats is None else (stats["count"], stats["errors"])


def _refused_alike(operation: str, lane: Callable[[], Any], general: Callable[[], Any]) -> None:
    """The lane's call is refused (serialization) exactly as the general call is, and each is
    counted once with its error_code; nothing is lost."""
    before, errors_before = _count("lane", operation)
    got = lane()
    assert got["success"] is False and got["error_code"] == "serialization", got
    assert got == general()
    count, errors = _count("lane", operation)
    assert count - before == 2
    assert errors["serialization"] - errors_before.get("serialization", 0) == 2
    assert roleredis.redis_flush(timeout=10)["lost"] == 0


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
    _refused_alike(
        "write_async",
        lambda: roleredis.redis_write_async("k", value, role="lane"),
        lambda: _general("k", value),
    )
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


def test_max_ttl_lowers_and_warns_on_the_lane(write_config: WriteConfig) -> None:
    write_config({"key_management": {"max_ttl": 100, "default_ttl": 50}})
    default = roleredis.redis_write_async("d", 1, role="lane")
    assert default["ttl"] == 50 and "warning" not in default
    longer = roleredis.redis_write_async("l", 1, ttl=1000, role="lane")
    assert longer["ttl"] == 100 and "max_ttl" in longer["warning"]
    assert longer == _general("l", 1, 1000)
    forever = roleredis.redis_write_async("f", 1, ttl=-1, role="lane")
    assert forever["ttl"] == 100 and "no expiry" in forever["warning"]
    roleredis.redis_flush(timeout=10)
    assert 0 < roleredis.redis_read("f", role="lane")["ttl"] <= 100


def test_a_value_over_max_value_bytes_is_refused(write_config: WriteConfig) -> None:
    write_config({"serialization": {"max_value_bytes": 64}})
    got = roleredis.redis_write_async("k", {"x": "y" * 100}, role="lane")
    assert got["error_code"] == "invalid_argument" and "max_value_bytes" in got["error"]
    assert roleredis.redis_write_async("k", {"x": 1}, role="lane")["success"] is True


def test_without_a_prefix_the_internal_keys_stay_out_of_reach(write_config: WriteConfig) -> None:
    write_config({"key_management": {"auto_prefix": False}})
    got = roleredis.redis_write_async("__roleredis__:{lane}:index", 1, role="lane")
    assert got["error_code"] == "invalid_argument", got
    assert roleredis.redis_write_async("plain", 1, role="lane")["prefixed_key"] == "plain"


def test_an_indexed_role_gets_its_index_entry(write_config: WriteConfig) -> None:
    write_config({"key_management": {"index": True}})
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


# --- redis_send_async ---------------------------------------------------------------------


def _general_send(to: Any, message: Any, role: Any = "lane") -> Any:
    return calls.call(SEND_ASYNC, tools.role_store, role, (to, message))


def _without_id(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("msg_id", "message")}


def _received(role: str) -> list[Any]:
    got = roleredis.redis_receive(100, 200, role=role)
    assert got["success"] is True, got
    roleredis.redis_ack([m["id"] for m in got["messages"]], role=role)
    return [(m["from"], m["body"]) for m in got["messages"]]


def test_the_lane_carries_a_send_and_its_body_keeps_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = {"n": 1, "f": 2.5, "none": None, "l": [1, "a"], "big": 2**70}
    # the first send to a recipient asks the channel's length: the general call
    first = roleredis.redis_send_async("inbox", "first", role="lane")
    assert first["success"] is True, first
    before, _ = _count("lane", "send_async")
    with monkeypatch.context() as patched:  # the lane carries the next: no general call
        patched.setattr(calls, "call", lambda *a, **k: pytest.fail("the general call ran"))
        result = roleredis.redis_send_async("inbox", body, role="lane")
    msg_id = result["msg_id"]
    assert result == {
        "success": True,
        "to": "inbox",
        "from": "lane",
        "msg_id": msg_id,
        "async": True,
        "message": f"Message {msg_id} from lane to inbox queued (fire and forget)",
    }
    assert _count("lane", "send_async")[0] - before == 1  # counted by the lane
    general = _general_send("inbox", "third")
    assert _without_id(result) == _without_id(general)
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    got = _received("inbox")
    assert got == [("lane", "first"), ("lane", body), ("lane", "third")]
    assert type(got[1][1]["big"]) is int and type(got[1][1]["f"]) is float


@pytest.mark.parametrize("message", INEXACT)
def test_a_message_json_cannot_carry_exactly_is_refused_as_by_the_general_call(
    message: Any,
) -> None:
    assert roleredis.redis_send_async("inbox", "warm", role="lane")["success"] is True
    _refused_alike(
        "send_async",
        lambda: roleredis.redis_send_async("inbox", message, role="lane"),
        lambda: _general_send("inbox", message),
    )
    assert _received("inbox") == [("lane", "warm")]


@pytest.mark.parametrize("to", ["", 5, None, "bad role", "a:b", "x" * 200])
def test_bad_recipients_get_the_general_calls_failure(to: Any) -> None:
    assert roleredis.redis_send_async("inbox", "warm", role="lane")["success"] is True
    got = roleredis.redis_send_async(to, 1, role="lane")
    assert got["success"] is False and got["error_code"] == "invalid_argument", got
    assert got == _general_send(to, 1)


def test_a_full_channel_is_refused_by_the_lane_as_by_the_general_call(
    write_config: WriteConfig,
) -> None:
    write_config({"messaging": {"max_length": 3}})
    for n in range(3):  # the first asks the length (general), the next two take the lane
        assert roleredis.redis_send_async("inbox", n, role="lane")["success"] is True
    # full by what this process counted: the lane leaves it to the general call, which asks
    # (XLEN: what the server holds, so the queued sends are flushed first)
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    refused = roleredis.redis_send_async("inbox", 3, role="lane")
    assert refused["success"] is False and refused["error_code"] == "overloaded", refused
    assert "messaging.max_length" in refused["error"]
    assert _without_id(refused) == _without_id(_general_send("inbox", 3))
    assert [body for _, body in _received("inbox")] == [0, 1, 2]


def test_the_announce_is_sent_when_the_lane_leaves_a_send_to_the_general_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lane prepares a send (which marks the recipient announced) before it knows whether
    the channel's length must be asked; leaving it to the general call undoes that mark, so the
    general call's send carries the announce (SADD), which is how the recipient finds the
    channel."""
    store = tools.role_store("lane")
    from roleredis.core.mail import mailbox

    box = mailbox(store.scope)
    assert roleredis.redis_send_async("inbox", "first", role="lane")["success"] is True
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    assert _received("inbox") == [("lane", "first")]
    route = box.routes["inbox"]
    route.announced_at = None  # the announce is due again, and the length must be asked
    route.checked_at = None
    with monkeypatch.context() as patched:
        seen: list[Any] = []
        real = calls.call
        patched.setattr(calls, "call", lambda *a, **k: seen.append(a[0]) or real(*a, **k))
        assert roleredis.redis_send_async("inbox", "second", role="lane")["success"] is True
    assert seen == [SEND_ASYNC]  # the general call made this one
    assert route.announced_at is not None
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    senders = Keyspace("inbox").mail_senders()
    raw = store.client
    assert raw.sismember(senders, "lane")
    assert _received("inbox") == [("lane", "second")]


def test_a_full_queue_refuses_a_send_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    assert roleredis.redis_send_async("inbox", "warm", role="lane")["success"] is True
    writer = roleredis.runtime.writer()
    monkeypatch.setattr(writer, "max_pending", 0)
    got = roleredis.redis_send_async("inbox", 1, role="lane")
    assert got["success"] is False and got["error_code"] == "overloaded", got
    assert _without_id(got) == _without_id(_general_send("inbox", 1))
    monkeypatch.undo()
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    assert _received("inbox") == [("lane", "warm")]


def test_the_send_lane_logs_what_the_general_call_logs(caplog: pytest.LogCaptureFixture) -> None:
    assert roleredis.redis_send_async("inbox", "warm", role="lane")["success"] is True
    with caplog.at_level(logging.DEBUG, logger="roleredis.tools"):
        roleredis.redis_send_async("inbox", 1, role="lane")  # the lane
        _general_send("inbox", 2)
    lines = [r.getMessage() for r in caplog.records if "send_async ok" in r.getMessage()]
    assert len(lines) == 2
    assert all(line.startswith("send_async ok role=lane key=None in ") for line in lines)
    roleredis.redis_flush(timeout=10)


def test_a_patched_hook_or_no_role_sends_through_the_general_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert roleredis.redis_send_async("inbox", "warm", role="lane")["success"] is True
    seen: list[Any] = []
    real = calls.call
    monkeypatch.setattr(calls, "call", lambda *a, **k: seen.append(a[0]) or real(*a, **k))
    with roleredis.acting_as("lane"):
        assert roleredis.redis_send_async("inbox", 1)["from"] == "lane"
    assert seen == [SEND_ASYNC]
    monkeypatch.setattr(tools, "REDIS_AVAILABLE", False)
    assert roleredis.redis_send_async("inbox", 1, role="lane")["error_code"] == "disabled"
    monkeypatch.undo()
    roleredis.redis_flush(timeout=10)
