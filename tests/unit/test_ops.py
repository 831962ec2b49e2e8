"""roleredis.ops, driven by hand: the exact calls each operation makes, with fake replies.

Each operation is a generator: ``next(op)`` gives the first batch of calls, ``op.send(replies)``
the next one, and StopIteration carries the outcome (see the ops module docstring).
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterator
from typing import Any

import pytest

from roleredis.core import codec, ops
from roleredis.foundation.errors import (
    ConfigError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    SerializationError,
)
from roleredis.foundation.keys import Keyspace
from roleredis.transport.executor import drive, to_wire

FORBIDDEN = {"keys", "flushdb", "flushall", "del"}


def scope(role: str = "weather", **kw: Any) -> ops.Scope:
    auto_prefix = kw.pop("auto_prefix", True)
    return ops.Scope(Keyspace(role, auto_prefix=auto_prefix), **kw)


def probe(role: str = "weather") -> tuple[str, tuple[str]]:
    """The key-checked EXISTS that listing and clearing send first (Redis ACLs skip SCAN)."""
    return ("exists", (f"{role}:{ops.ACL_PROBE}",))


class Script:
    """Run an operation with scripted replies; record every batch it yields."""

    def __init__(self, op: Generator[list[Any], list[Any], Any]) -> None:
        self.op = op
        self.batches: list[list[Any]] = []

    def first(self) -> list[Any]:
        batch = next(self.op)
        self.batches.append(batch)
        return batch

    def send(self, replies: list[Any]) -> list[Any] | None:
        """Send replies; return the next batch, or None when the operation finished."""
        try:
            batch = self.op.send(replies)
        except StopIteration as done:
            self.result = done.value
            return None
        self.batches.append(batch)
        return batch

    def run(self, *replies: list[Any]) -> Any:
        self.first()
        for i, reply in enumerate(replies):
            nxt = self.send(reply)
            if nxt is None:
                assert i == len(replies) - 1, "operation finished before all replies were used"
                return self.result
        raise AssertionError(f"operation still running after {len(replies)} replies")

    def names(self) -> list[str]:
        return [name for batch in self.batches for name, _ in batch]


def finished_without_io(op: Generator[Any, Any, Any]) -> Any:
    with pytest.raises(StopIteration) as done:
        next(op)
    return done.value.value


# --------------------------------------------------------------------------- write


def test_write_without_ttl_is_plain_set() -> None:
    s = Script(ops.write(scope(), "forecast", {"sky": "clear"}))
    written = s.run([True])
    assert s.batches == [[("set", ("weather:forecast", b'{"sky":"clear"}'))]]
    assert written.key == "forecast"
    assert written.full_key == "weather:forecast"
    assert written.ttl == -1
    assert written.size == len(b'{"sky":"clear"}')
    assert written.warning is None


def test_write_with_ttl_sets_ex() -> None:
    s = Script(ops.write(scope(), "forecast", "sunny", 60))
    written = s.run([True])
    assert s.batches == [[("set", ("weather:forecast", b'"sunny"', 60))]]
    assert written.ttl == 60


def test_write_takes_default_ttl() -> None:
    s = Script(ops.write(scope(default_ttl=3600), "k", 1))
    assert s.run([b"OK"]).ttl == 3600
    assert s.batches == [[("set", ("weather:k", b"1", 3600))]]


def test_write_minus_one_means_no_ex_even_with_default() -> None:
    s = Script(ops.write(scope(default_ttl=3600), "k", 1, -1))
    assert s.run(["OK"]).ttl == -1
    assert s.batches == [[("set", ("weather:k", b"1"))]]


def test_write_above_max_ttl_lowered_with_warning() -> None:
    s = Script(ops.write(scope(max_ttl=100), "k", 1, 1000))
    written = s.run([True])
    assert s.batches == [[("set", ("weather:k", b"1", 100))]]
    assert written.ttl == 100
    assert written.warning and "max_ttl" in written.warning


def test_write_no_expiry_with_max_ttl_gets_max_ttl() -> None:
    s = Script(ops.write(scope(max_ttl=100), "k", 1, -1))
    written = s.run([True])
    assert s.batches == [[("set", ("weather:k", b"1", 100))]]
    assert written.ttl == 100
    assert written.warning


def test_write_encodes_with_codec() -> None:
    for value in ["123", 123, 1.0, True, None, b"hello", {"a": [1]}, 2**70]:
        s = Script(ops.write(scope(), "k", value))
        s.run([True])
        ((name, args),) = s.batches[0]
        assert name == "set"
        assert args[1] == codec.encode(value)


@pytest.mark.parametrize(
    ("key", "value", "ttl", "error"),
    [
        ("", 1, None, InvalidArgumentError),
        (1, 1, None, InvalidArgumentError),
        ("x" * 1025, 1, None, InvalidArgumentError),
        ("k", float("nan"), None, SerializationError),
        ("k", {1: 2}, None, SerializationError),
        ("k", 1, 0, InvalidArgumentError),
        ("k", 1, "60", InvalidArgumentError),
        ("k", 1, True, InvalidArgumentError),
    ],
)
def test_write_refuses_before_any_io(key: Any, value: Any, ttl: Any, error: type) -> None:
    with pytest.raises(error):
        next(ops.write(scope(), key, value, ttl))


@pytest.mark.parametrize("reply", [None, False, b"ERR", 0])
def test_write_unacknowledged_is_internal_error(reply: Any) -> None:
    op = ops.write(scope(), "k", 1)
    next(op)
    with pytest.raises(InternalError):
        op.send([reply])


def test_prepare_write_sends_nothing() -> None:
    prepared = ops.prepare_write(scope(), "k", [1], 5)
    assert prepared.call == ("set", ("weather:k", b"[1]", 5))
    assert prepared.written.full_key == "weather:k"
    assert prepared.written.ttl == 5


# --------------------------------------------------------------------------- read


def test_read_is_get_and_ttl_in_one_batch() -> None:
    s = Script(ops.read(scope(), "forecast"))
    entry = s.run([b'"sunny"', 60])
    assert s.batches == [[("get", ("weather:forecast",)), ("ttl", ("weather:forecast",))]]
    assert len(s.batches) == 1
    assert entry.value == "sunny"
    assert entry.ttl == 60
    assert entry.key == "forecast"
    assert entry.full_key == "weather:forecast"


def test_read_no_expiry_is_minus_one() -> None:
    assert Script(ops.read(scope(), "k")).run([b"1", -1]).ttl == -1


def test_read_key_expiring_between_get_and_ttl_is_not_negative() -> None:
    assert Script(ops.read(scope(), "k")).run([b"1", -2]).ttl == 0


def test_read_missing_is_not_found() -> None:
    op = ops.read(scope(), "forecast")
    next(op)
    with pytest.raises(NotFoundError) as info:
        op.send([None, -2])
    assert "forecast" in str(info.value)
    assert "weather" in str(info.value)


def test_read_keeps_types() -> None:
    for value in ["123", "null", True, 1.0, None, b"hello", {"n": [1, 2.5]}]:
        entry = Script(ops.read(scope(), "k")).run([codec.encode(value), 5])
        assert entry.value == value
        assert type(entry.value) is type(value)


def test_read_accepts_str_replies_from_decoding_clients() -> None:
    assert Script(ops.read(scope(), "k")).run(['{"a": 1}', 5]).value == {"a": 1}
    assert Script(ops.read(scope(), "k")).run(["plain text", 5]).value == "plain text"


def test_read_plain_text_written_by_another_client() -> None:
    assert Script(ops.read(scope(), "k")).run([b"hello there", -1]).value == "hello there"


def test_read_unknown_envelope_names_the_key() -> None:
    op = ops.read(scope(), "k")
    next(op)
    with pytest.raises(SerializationError, match="weather:k"):
        op.send([codec.ENVELOPE_MAGIC + b"?data", -1])


def test_read_refuses_bad_key_before_io() -> None:
    with pytest.raises(InvalidArgumentError):
        next(ops.read(scope(), ""))


# --------------------------------------------------------------------------- exists, delete


@pytest.mark.parametrize(("reply", "expected"), [(1, True), (0, False)])
def test_exists(reply: int, expected: bool) -> None:
    s = Script(ops.exists(scope(), "k"))
    assert s.run([reply]) is expected
    assert s.batches == [[("exists", ("weather:k",))]]


@pytest.mark.parametrize(("reply", "expected"), [(1, True), (0, False)])
def test_delete_uses_unlink(reply: int, expected: bool) -> None:
    s = Script(ops.delete(scope(), "k"))
    assert s.run([reply]) is expected
    assert s.batches == [[("unlink", ("weather:k",))]]


# --------------------------------------------------------------------------- list_keys


def test_list_keys_scans_until_cursor_zero_dedupes_and_strips() -> None:
    s = Script(ops.list_keys(scope(), "*"))
    keys = s.run(
        [(17, [b"weather:b", b"weather:a"])],
        [(23, [])],
        [(0, [b"weather:b", b"weather:c"])],  # SCAN may return a key twice
    )
    assert keys == ["a", "b", "c"]
    assert s.batches == [
        [probe(), ("scan", (0, "weather:*", ops.SCAN_COUNT))],
        [("scan", (17, "weather:*", ops.SCAN_COUNT))],
        [("scan", (23, "weather:*", ops.SCAN_COUNT))],
    ]
    assert not FORBIDDEN & set(s.names())


def test_list_keys_pattern_after_prefix() -> None:
    s = Script(ops.list_keys(scope(), "session:*"))
    assert s.run([(0, [b"weather:session:abc"])]) == ["session:abc"]
    assert s.batches[0] == [probe(), ("scan", (0, "weather:session:*", ops.SCAN_COUNT))]


def test_list_keys_accepts_str_and_bytes_cursor_and_keys() -> None:
    s = Script(ops.list_keys(scope(), "*"))
    assert s.run([(b"5", ["weather:x"])], [(b"0", [b"weather:y"])]) == ["x", "y"]


def test_list_keys_empty() -> None:
    assert Script(ops.list_keys(scope(), "*")).run([(0, [])]) == []


def test_list_keys_keeps_keys_containing_colons_and_unicode() -> None:
    s = Script(ops.list_keys(scope(), "*"))
    got = s.run([(0, [b"weather:a:b:c", "weather:ключ".encode()])])
    assert got == sorted(["a:b:c", "ключ"])


def test_list_keys_auto_prefix_false() -> None:
    s = Script(ops.list_keys(scope(auto_prefix=False), "*"))
    assert s.run([(0, [b"x", b"y"])]) == ["x", "y"]
    assert s.batches[0] == [("scan", (0, "*", ops.SCAN_COUNT))]


@pytest.mark.parametrize("pattern", ["", None, 5])
def test_list_keys_bad_pattern_before_io(pattern: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        next(ops.list_keys(scope(), pattern))


# --------------------------------------------------------------------------- clear


def test_clear_scans_and_unlinks_in_batches() -> None:
    s = Script(ops.clear(scope()))
    page1 = [f"weather:{i}".encode() for i in range(3)]
    page2 = [b"weather:x"]
    count = s.run(
        [(5, page1)],
        [3, (0, page2)],
        [1],
    )
    assert count == 4
    assert s.batches == [
        [probe(), ("scan", (0, "weather:*", ops.SCAN_COUNT))],
        [("unlink", tuple(page1)), ("scan", (5, "weather:*", ops.SCAN_COUNT))],
        [("unlink", tuple(page2))],
    ]
    assert not FORBIDDEN & set(s.names())


def test_clear_empty_role_is_one_scan() -> None:
    s = Script(ops.clear(scope()))
    assert s.run([(0, [])]) == 0
    assert s.batches == [[probe(), ("scan", (0, "weather:*", ops.SCAN_COUNT))]]


def test_clear_skips_unlink_for_empty_pages() -> None:
    s = Script(ops.clear(scope()))
    assert s.run([(9, [])], [(0, [b"weather:a"])], [1]) == 1
    assert s.batches[1] == [("scan", (9, "weather:*", ops.SCAN_COUNT))]
    assert s.batches[2] == [("unlink", (b"weather:a",))]


def test_clear_many_pages_never_one_giant_delete() -> None:
    pages = [[f"weather:{p}:{i}".encode() for i in range(1000)] for p in range(5)]
    op = ops.clear(scope())
    batch = next(op)
    batches = [batch]
    replies: list[Any] = [(1, pages[0])]
    page = 0
    try:
        while True:
            batch = op.send(replies)
            batches.append(batch)
            page += 1
            cursor = 0 if page == len(pages) - 1 else page + 1
            replies = [1000]
            if any(name == "scan" for name, _ in batch):
                replies.append((cursor, pages[page]))
    except StopIteration as done:
        total = done.value
    assert total == 5000
    unlinks = [args for b in batches for name, args in b if name == "unlink"]
    assert len(unlinks) == 5
    assert max(len(args) for args in unlinks) == 1000
    assert batches[0][0] == probe()
    assert all(name in {"scan", "unlink"} for b in batches[1:] for name, _ in b)


def test_clear_counts_what_unlink_reports() -> None:
    # keys may vanish (expire) between SCAN and UNLINK: count what was deleted
    s = Script(ops.clear(scope()))
    assert s.run([(0, [b"weather:a", b"weather:b"])], [1]) == 1


def test_clear_refused_without_auto_prefix() -> None:
    with pytest.raises(ConfigError, match="auto_prefix"):
        next(ops.clear(scope(auto_prefix=False)))


def test_clear_pattern_is_the_escaped_prefix() -> None:
    s = Script(ops.clear(ops.Scope(Keyspace("a*b"))))
    s.first()
    assert s.batches[0] == [probe("a*b"), ("scan", (0, "a\\*b:*", ops.SCAN_COUNT))]


# --------------------------------------------------------------------------- write_many


def test_write_many_is_one_batch() -> None:
    s = Script(ops.write_many(scope(), {"a": 1, "b": "2", "c": None}))
    result = s.run([True, True, True])
    assert s.batches == [
        [
            ("set", ("weather:a", b"1")),
            ("set", ("weather:b", b'"2"')),
            ("set", ("weather:c", b"null")),
        ]
    ]
    assert result.keys == ["a", "b", "c"]
    assert result.ttl == -1


def test_write_many_with_ttl() -> None:
    s = Script(ops.write_many(scope(), {"a": 1, "b": 2}, 60))
    result = s.run([True, True])
    assert all(args[2] == 60 for _, args in s.batches[0])
    assert result.ttl == 60


def test_write_many_lowered_ttl_warns() -> None:
    s = Script(ops.write_many(scope(max_ttl=10), {"a": 1}, 100))
    result = s.run([True])
    assert s.batches[0] == [("set", ("weather:a", b"1", 10))]
    assert result.ttl == 10
    assert result.warning


@pytest.mark.parametrize("count", [1, 10, 5000])
def test_write_many_one_batch_whatever_the_count(count: int) -> None:
    mapping = {f"k{i}": i for i in range(count)}
    s = Script(ops.write_many(scope(), mapping))
    s.run([True] * count)
    assert len(s.batches) == 1
    assert len(s.batches[0]) == count


def test_write_many_refuses_everything_if_one_value_is_invalid() -> None:
    op = ops.write_many(scope(), {"a": 1, "b": float("nan"), "c": 3})
    with pytest.raises(SerializationError) as info:
        next(op)  # nothing was yielded: no call was sent
    assert "'b'" in str(info.value)


def test_write_many_reports_the_first_invalid_item_in_order() -> None:
    # the values are checked all at once, then item by item to name the first bad one
    with pytest.raises(SerializationError, match="'b'"):
        next(ops.write_many(scope(), {"a": 1, "b": (1, 2), "": 3}))
    with pytest.raises(InvalidArgumentError, match="empty"):
        next(ops.write_many(scope(), {"a": 1, "": 3, "b": (1, 2)}))


def test_write_many_refuses_a_value_too_big_naming_its_key() -> None:
    big = scope(max_value_bytes=10)
    with pytest.raises(InvalidArgumentError, match="weather:b"):
        next(ops.write_many(big, {"a": [1], "b": list(range(20)), "c": "x" * 50}))
    with pytest.raises(InvalidArgumentError, match="weather:c"):
        next(ops.write_many(big, {"a": [1], "c": "x" * 50}))


def test_write_many_refuses_everything_if_one_key_is_invalid() -> None:
    with pytest.raises(InvalidArgumentError):
        next(ops.write_many(scope(), {"a": 1, "": 2}))
    with pytest.raises(InvalidArgumentError):
        next(ops.write_many(scope(), {"a": 1, 5: 2}))


def test_write_many_refuses_bad_ttl() -> None:
    with pytest.raises(InvalidArgumentError):
        next(ops.write_many(scope(), {"a": 1}, 0))


@pytest.mark.parametrize("mapping", [[("a", 1)], "ab", None, 5])
def test_write_many_needs_a_mapping(mapping: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="mapping"):
        next(ops.write_many(scope(), mapping))


def test_write_many_empty_sends_nothing() -> None:
    result = finished_without_io(ops.write_many(scope(), {}))
    assert result.keys == []


def test_write_many_unacknowledged() -> None:
    op = ops.write_many(scope(), {"a": 1, "b": 2})
    next(op)
    with pytest.raises(InternalError):
        op.send([True, None])


# --------------------------------------------------------------------------- read_many


def test_read_many_is_one_mget_and_dedupes() -> None:
    s = Script(ops.read_many(scope(), ["a", "b", "a", "c", "b"]))
    result = s.run([[b"1", None, b'"x"']])
    assert s.batches == [[("mget", (["weather:a", "weather:b", "weather:c"],))]]
    assert result.values == {"a": 1, "c": "x"}
    assert result.missing == ["b"]


def test_read_many_keeps_types_and_order() -> None:
    values = {"s": "123", "i": 123, "f": 1.0, "t": True, "n": None, "b": b"hi"}
    s = Script(ops.read_many(scope(), list(values)))
    result = s.run([[codec.encode(v) for v in values.values()]])
    assert list(result.values) == list(values)
    for k, v in values.items():
        assert result.values[k] == v and type(result.values[k]) is type(v)


def test_read_many_accepts_any_iterable() -> None:
    s = Script(ops.read_many(scope(), (k for k in ["a", "b"])))
    assert s.run([[None, None]]).missing == ["a", "b"]


def test_read_many_empty_sends_nothing() -> None:
    result = finished_without_io(ops.read_many(scope(), []))
    assert result.values == {} and result.missing == []


def test_read_many_a_str_is_refused_with_a_hint() -> None:
    with pytest.raises(InvalidArgumentError, match="list"):
        next(ops.read_many(scope(), "abc"))


@pytest.mark.parametrize("keys", [None, 5, b"ab"])
def test_read_many_needs_a_list(keys: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        next(ops.read_many(scope(), keys))


def test_read_many_invalid_key_before_io() -> None:
    with pytest.raises(InvalidArgumentError):
        next(ops.read_many(scope(), ["a", ""]))


# --------------------------------------------------------------------------- health


def _health_replies(batch: list[Any], got: Any = None) -> list[Any]:
    token = batch[0][1][1]
    return [True, token if got is None else got, 1]


_INFO_REPLIES = [
    {"redis_version": "7.2.4", "redis_mode": "standalone"},
    {"used_memory_human": "1.00M"},
]


def test_health_pings_then_probes_in_the_role_namespace() -> None:
    op = ops.health(scope())
    assert next(op) == [("ping", ())]
    batch = op.send([True])
    names = [name for name, _ in batch]
    assert names == ["set", "get", "unlink"]
    probe = batch[0][1][0]
    assert probe.startswith("weather:" + ops.HEALTH_PROBE)
    assert batch[0][1][2] > 0  # short-lived even if the unlink never runs
    assert batch[1] == ("get", (probe,))
    assert batch[2] == ("unlink", (probe,))
    # INFO goes in a batch of its own: a user that may not run it still passes the probe
    assert op.send(_health_replies(batch)) == [("info", ("server",)), ("info", ("memory",))]
    with pytest.raises(StopIteration) as done:
        op.send(_INFO_REPLIES)
    h = done.value.value
    assert h.redis_version == "7.2.4"
    assert h.mode == "standalone"
    assert h.used_memory_human == "1.00M"
    assert h.probe_key == probe
    assert h.latency_ms >= 0


def test_health_probe_keys_differ_between_calls() -> None:
    keys = set()
    for _ in range(5):
        op = ops.health(scope())
        next(op)
        keys.add(op.send([True])[0][1][0])
    assert len(keys) == 5


def test_health_mismatch_is_internal_error() -> None:
    op = ops.health(scope())
    next(op)
    batch = op.send([True])
    with pytest.raises(InternalError):
        op.send(_health_replies(batch, got=b"something else"))


def test_health_accepts_str_token_reply() -> None:
    op = ops.health(scope())
    next(op)
    batch = op.send([True])
    token = batch[0][1][1]
    op.send(_health_replies(batch, got=token.decode()))
    with pytest.raises(StopIteration):
        op.send(_INFO_REPLIES)


def test_health_without_info_permission_reports_an_unknown_version() -> None:
    op = ops.health(scope())
    next(op)
    op.send(_health_replies(op.send([True])))
    refused = PermissionDeniedError("Redis refused: no permissions to run the 'info' command")
    with pytest.raises(StopIteration) as done:
        op.throw(refused)
    h = done.value.value
    assert (h.redis_version, h.mode, h.used_memory_human) == ("unknown", "unknown", None)


# --------------------------------------------------------------------------- to_wire, drive


@pytest.mark.parametrize(
    ("call", "wire"),
    [
        (("set", ("k", b"v")), ("SET", "k", b"v")),
        (("set", ("k", b"v", 60)), ("SET", "k", b"v", "EX", 60)),
        (("get", ("k",)), ("GET", "k")),
        (("ttl", ("k",)), ("TTL", "k")),
        (("exists", ("k",)), ("EXISTS", "k")),
        (("unlink", ("a", "b", "c")), ("UNLINK", "a", "b", "c")),
        (("scan", (0, "weather:*", 1000)), ("SCAN", 0, "MATCH", "weather:*", "COUNT", 1000)),
        (("mget", (["a", "b"],)), ("MGET", "a", "b")),
        (("ping", ()), ("PING",)),
        (("info", ("server",)), ("INFO", "server")),
    ],
)
def test_to_wire(call: Any, wire: tuple[Any, ...]) -> None:
    assert to_wire(call) == wire


def test_to_wire_of_every_call_an_operation_makes() -> None:
    # every call the ops yield has a wire form that starts with its command name
    ops_and_replies: list[tuple[Any, list[list[Any]]]] = [
        (ops.write(scope(), "k", 1, 5), [[True]]),
        (ops.read(scope(), "k"), [[b"1", 5]]),
        (ops.read_many(scope(), ["a", "b"]), [[[None, None]]]),
        (ops.clear(scope()), [[(3, [b"weather:a"])], [1, (0, [])]]),
    ]
    for op, replies in ops_and_replies:
        s = Script(op)
        s.run(*replies)
        for batch in s.batches:
            for name, args in batch:
                wire = to_wire((name, args))
                assert wire[0] == name.upper()


def test_drive_runs_batches_through_run() -> None:
    seen: list[list[Any]] = []

    def run(batch: list[Any]) -> list[Any]:
        seen.append(batch)
        return [b'"v"', 7]

    entry = drive(ops.read(scope(), "k"), run)
    assert entry.value == "v" and entry.ttl == 7
    assert seen == [[("get", ("weather:k",)), ("ttl", ("weather:k",))]]


def test_drive_multi_round_operation() -> None:
    pages: Iterator[Any] = iter([[(4, [b"weather:a"])], [(0, [b"weather:b"])]])
    assert drive(ops.list_keys(scope(), "*"), lambda batch: next(pages)) == ["a", "b"]


def test_drive_operation_without_io() -> None:
    def run(batch: list[Any]) -> list[Any]:
        raise AssertionError("no I/O expected")

    assert drive(ops.read_many(scope(), []), run).values == {}


def test_drive_propagates_errors_from_run_and_from_the_op() -> None:
    def boom(batch: list[Any]) -> list[Any]:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        drive(ops.read(scope(), "k"), boom)
    with pytest.raises(NotFoundError):
        drive(ops.read(scope(), "k"), lambda batch: [None, -2])
    with pytest.raises(InvalidArgumentError):
        drive(ops.read(scope(), ""), boom)


def test_values_on_the_wire_are_json_text() -> None:
    s = Script(ops.write(scope(), "k", {"a": [1, "2"]}))
    s.run([True])
    assert json.loads(s.batches[0][0][1][1]) == {"a": [1, "2"]}
