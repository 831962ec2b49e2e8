"""Issue 2, section 4: values come back exactly as written (type and value), stored as JSON
text other clients can read; bytes as bytes in an envelope; what JSON cannot carry exactly is
refused with serialization; values written by other clients read back as str (or bytes)."""

from __future__ import annotations

import collections
import datetime
import decimal
import enum
import json
import math
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roleredis import redis_read, redis_read_many, redis_write, redis_write_many

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")


def same(a: Any, b: Any) -> bool:
    """Equal in value *and* type, all the way down (1 != 1.0 != True here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    return bool(a == b)


ROUND_TRIP = [
    "123",
    "null",
    "true",
    "1.0",
    "[1, 2]",
    '{"a": 1}',
    '"quoted"',
    "",
    " ",
    "plain text",
    "ünïcødé ✓ 中文 🚀",
    "nul\x00byte",
    "line\nbreak\ttab",
    True,
    False,
    None,
    0,
    1,
    -7,
    2**53 + 1,
    2**63 - 1,
    -(2**63),
    2**64,
    10**30,
    -(10**40),
    1.0,
    0.0,
    -0.0,
    0.1,
    1e300,
    -2.5e-300,
    {},
    [],
    {"a": 1, "b": [1, 2.0, None, True, "x"], "c": {"d": {"e": []}}},
    [1, "1", 1.0, True, None, [], {}],
    {"": "empty key", "1": "str key that looks like int", "null": None},
    [[[[["deep"]]]]],
    b"hello",
    b"",
    b"\xff\xfe\x00\x01",
    b'"json text"',
    b"123",
    b"\xffrrb looks like an envelope",
]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=[repr(v)[:40] for v in ROUND_TRIP])
def test_values_round_trip_with_type_intact(value: Any) -> None:
    written = redis_write("v", value, role="weather")
    assert written["success"] is True, written
    read = redis_read("v", role="weather")
    assert read["success"] is True, read
    assert same(read["value"], value), (value, read["value"])


def test_str_123_and_null_are_not_reinterpreted() -> None:
    # The original implementation wrote with str() and read with json.loads.
    redis_write("a", "123", role="w")
    redis_write("b", "null", role="w")
    redis_write("c", True, role="w")
    redis_write("d", None, role="w")
    redis_write("e", 1.0, role="w")
    assert redis_read("a", role="w")["value"] == "123"
    assert type(redis_read("a", role="w")["value"]) is str
    assert redis_read("b", role="w")["value"] == "null"
    assert redis_read("c", role="w")["value"] is True
    d = redis_read("d", role="w")
    assert d["success"] is True and d["value"] is None
    assert type(redis_read("e", role="w")["value"]) is float


def test_values_are_stored_as_json_text_other_clients_can_read(raw: redis.Redis) -> None:
    document = {"temp": 21.5, "sky": "clear", "hours": [1, 2], "ok": True, "none": None}
    redis_write("doc", document, role="weather")
    redis_write("s", "123", role="weather")
    redis_write("i", 123, role="weather")
    redis_write("t", True, role="weather")
    redis_write("n", None, role="weather")
    redis_write("u", "ünï", role="weather")
    assert json.loads(raw.get("weather:doc")) == document
    assert json.loads(raw.get("weather:s")) == "123"
    assert json.loads(raw.get("weather:i")) == 123
    assert json.loads(raw.get("weather:t")) is True
    assert json.loads(raw.get("weather:n")) is None
    assert json.loads(raw.get("weather:u").decode("utf-8")) == "ünï"


def test_bytes_are_kept_apart_from_text(raw: redis.Redis) -> None:
    redis_write("b", b"hello", role="w")
    redis_write("s", "hello", role="w")
    stored = raw.get("w:b")
    assert stored != b"hello"
    assert stored != raw.get("w:s")
    with pytest.raises((UnicodeDecodeError, json.JSONDecodeError)):
        json.loads(stored.decode("utf-8"))  # JSON text can never start like an envelope
    assert redis_read("b", role="w")["value"] == b"hello"
    assert redis_read("s", role="w")["value"] == "hello"


def test_large_values_round_trip() -> None:
    big_text = "x" * (2 * 1024 * 1024)
    big_bytes = bytes(range(256)) * 4096
    big_list = list(range(100_000))
    for key, value in (("t", big_text), ("b", big_bytes), ("l", big_list)):
        assert redis_write(key, value, role="w")["success"] is True
        assert same(redis_read(key, role="w")["value"], value)


# --------------------------------------------------------------------------- refused


class MyStr(str):
    pass


class MyInt(int):
    pass


class Color(enum.IntEnum):
    RED = 1


class Obj:
    pass


REFUSED: list[tuple[str, Any, tuple[str, ...]]] = [
    ("tuple", (1, 2), ("tuple",)),
    ("set", {1, 2}, ("set",)),
    ("frozenset", frozenset({1}), ("frozenset",)),
    # a refused dict key is named by its type, never by its repr (it may hold a secret)
    ("int dict key", {1: "a"}, ("dict key is a int",)),
    ("None dict key", {None: "a"}, ("dict key is a NoneType",)),
    ("tuple dict key", {(1, 2): "a"}, ("dict key is a tuple",)),
    ("nan", float("nan"), ("nan",)),
    ("inf", float("inf"), ("inf",)),
    ("-inf", float("-inf"), ("inf",)),
    ("object", Obj(), ("Obj",)),
    ("datetime", datetime.datetime(2024, 1, 1), ("datetime",)),
    ("date", datetime.date(2024, 1, 1), ("date",)),
    ("decimal", decimal.Decimal("1.5"), ("Decimal",)),
    ("complex", 1j, ("complex",)),
    ("str subclass", MyStr("x"), ("MyStr",)),
    ("int subclass", MyInt(3), ("MyInt",)),
    ("IntEnum", Color.RED, ("Color",)),
    ("OrderedDict", collections.OrderedDict(a=1), ("OrderedDict",)),
    ("defaultdict", collections.defaultdict(int, a=1), ("defaultdict",)),
    ("bytearray", bytearray(b"x"), ("bytearray",)),
    ("bytes inside a list", [b"x"], ("bytes",)),
    ("function", len, ()),
]


@pytest.mark.parametrize(("label", "value", "mentions"), REFUSED, ids=[r[0] for r in REFUSED])
def test_values_json_cannot_carry_exactly_are_refused(
    label: str, value: Any, mentions: tuple[str, ...], raw: redis.Redis
) -> None:
    raw.set("w:k", b'"previous"')
    result = redis_write("k", value, role="w")
    assert result["success"] is False, result
    assert result["error_code"] == "serialization", result
    for word in mentions:
        assert word.lower() in result["error"].lower(), (word, result["error"])
    assert raw.get("w:k") == b'"previous"', "a refused write must not touch the stored value"


@pytest.mark.parametrize(
    ("value", "where", "what"),
    [
        ({"outer_key": [0, {"inner_key": float("nan")}]}, ("outer_key", "inner_key"), "nan"),
        ({"readings": [1, 2, {3, 4}]}, ("readings", "2"), "set"),
        ([{"ok": 1}, {"when": datetime.date(2024, 1, 1)}], ("1", "when"), "date"),
        ({"nested": {5: "int key"}}, ("nested", "dict key is a int"), "key"),
    ],
)
def test_refusal_says_what_and_where(value: Any, where: tuple[str, ...], what: str) -> None:
    result = redis_write("k", value, role="w")
    assert result["error_code"] == "serialization"
    for part in where:
        assert part in result["error"], (part, result["error"])
    assert what in result["error"].lower(), result["error"]


def test_self_containing_value_is_refused_not_crashing() -> None:
    loop: list[Any] = []
    loop.append(loop)
    result = redis_write("k", loop, role="w")
    assert result["success"] is False
    assert result["error_code"] == "serialization"


# --------------------------------------------------------------------------- other clients


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (b"hello world", "hello world"),
        (b"{not json", "{not json"),
        (b"it's plain", "it's plain"),
        ("ünï plain".encode(), "ünï plain"),
        (b"", ""),
        (b"\xff\xfe\x00binary", b"\xff\xfe\x00binary"),
        (b"\x80abc", b"\x80abc"),
        (b'{"a": 1}', {"a": 1}),
        (b'"text"', "text"),
    ],
)
def test_values_written_by_other_clients_read_back(
    raw: redis.Redis, stored: bytes, expected: Any
) -> None:
    raw.set("weather:foreign", stored)
    result = redis_read("foreign", role="weather")
    assert result["success"] is True, result
    assert same(result["value"], expected), (stored, result["value"])


def test_read_many_reads_foreign_values_too(raw: redis.Redis) -> None:
    raw.set("w:plain", b"plain text")
    raw.set("w:bin", b"\xff\x00")
    result = redis_read_many(["plain", "bin"], role="w")
    assert result["success"] is True
    assert result["values"] == {"plain": "plain text", "bin": b"\xff\x00"}


# --------------------------------------------------------------------------- many


def test_write_many_read_many_round_trip_types() -> None:
    values = {f"k{i}": v for i, v in enumerate(ROUND_TRIP)}
    assert redis_write_many(values, role="w")["written"] == len(values)
    result = redis_read_many(list(values), role="w")
    assert result["missing"] == []
    for key, value in values.items():
        assert same(result["values"][key], value), (key, value, result["values"][key])


def test_write_many_refuses_all_if_one_value_is_bad(raw: redis.Redis) -> None:
    result = redis_write_many({"good": 1, "bad": {1, 2}, "good2": 2}, role="w")
    assert result["success"] is False
    assert result["error_code"] == "serialization"
    assert "bad" in result["error"]
    assert raw.dbsize() == 0


# --------------------------------------------------------------------------- property

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=json_values | st.binary())
def test_property_any_supported_value_round_trips(value: Any) -> None:
    written = redis_write("prop", value, role="prop")
    assert written["success"] is True, written
    read = redis_read("prop", role="prop")
    assert read["success"] is True, read
    assert same(read["value"], value)
