"""roleredis.core.codec: values come back exactly as written (issue 2, section 4)."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import math
import uuid
from collections import OrderedDict
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roleredis.core import codec
from roleredis.core.codec import ENVELOPE_MAGIC, decode, encode
from roleredis.foundation.errors import RoleRedisError, SerializationError


def same_types(a: Any, b: Any, path: str = "value") -> None:
    """Assert ``a`` and ``b`` are equal AND of identical types all the way down.

    ``1 == 1.0 == True`` in Python, so equality alone would let a bool come back as an int.
    """
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys differ (or their order)"
        for k in a:
            assert type(k) is str, f"{path}: key {k!r} is not a str"
            same_types(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            same_types(x, y, f"{path}[{i}]")
    elif isinstance(a, float):
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{path}: {a!r} != {b!r}"
        assert math.copysign(1.0, a) == math.copysign(1.0, b), f"{path}: sign of zero lost"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def roundtrip(value: Any) -> Any:
    data = encode(value)
    assert type(data) is bytes
    back = decode(data)
    same_types(value, back)
    return back


def test_same_types_helper_catches_what_equality_misses() -> None:
    assert 1 == 1.0 == True
    for a, b in [(1, 1.0), (1, True), ([1], [1.0]), ({"a": 0}, {"a": False}), ("1", 1)]:
        with pytest.raises(AssertionError):
            same_types(a, b)
    same_types({"a": [1, 2.0, None]}, {"a": [1, 2.0, None]})


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "value",
    [
        "",
        "hello",
        "123",
        "-1.5",
        "null",
        "true",
        "false",
        "[1, 2]",
        '{"a": 1}',
        '"quoted"',
        "NaN",
        " 123 ",
        0,
        1,
        -1,
        123,
        2**63 - 1,
        -(2**63),
        2**63,
        2**64 - 1,
        2**64,
        -(2**63) - 1,
        2**100,
        -(2**100),
        10**300,
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1e16,
        1e-300,
        1.7976931348623157e308,
        5e-324,
        True,
        False,
        None,
        [],
        {},
        [1, 2.0, "3", None, True],
        {"user_id": 123, "login_time": "2024-01-01", "permissions": ["read", "write"]},
        {"a": {"b": {"c": [1, {"d": [None, False, 1.0]}]}}},
        [[[[[]]]]],
        {"": ""},
        {"1": 1, "1.0": 1.0, "true": True, "null": None},
        "héllo wörld ☀ 天気 🌦",
        {"ключ": "значение", "🔑": ["😀"]},
        "\x00\x01\n\t",
        "\u2028\u2029",
        {"big": 2**70, "small": 1, "f": 2.5, "s": "x", "n": None},
        [2**64, [2**65, {"x": -(2**80)}]],
        "12345678901234567890",  # a str made of many digits stays a str
        ["12345678901234567890", 1.5],
        "\ufeffBOM",
    ],
)
def test_roundtrip_keeps_type_and_value(value: Any) -> None:
    roundtrip(value)


def test_str_that_looks_like_json_stays_str() -> None:
    assert roundtrip("123") == "123"
    assert roundtrip("null") == "null"
    assert roundtrip("True") == "True"
    assert roundtrip("1.0") == "1.0"


def test_scalars_keep_their_exact_type() -> None:
    assert roundtrip(True) is True
    assert roundtrip(False) is False
    assert roundtrip(None) is None
    assert type(roundtrip(1.0)) is float
    assert type(roundtrip(1)) is int


def test_stored_as_json_text_other_clients_can_read() -> None:
    value = {"sky": "clear", "temp": 21.5, "ok": True, "n": None, "list": [1, "2"]}
    assert json.loads(encode(value)) == value
    assert json.loads(encode("123")) == "123"
    assert json.loads(encode(2**70)) == 2**70
    assert encode("héllo").decode("utf-8") == '"héllo"'


def test_dict_key_order_is_kept() -> None:
    value = {"z": 1, "a": 2, "m": 3}
    assert list(roundtrip(value)) == ["z", "a", "m"]


# --------------------------------------------------------------------------- bytes


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"hello",
        b'"hello"',
        b"123",
        b"null",
        b'{"a": 1}',
        b"[1, 2]",
        b"\xff\xfe\x00\x01",
        ENVELOPE_MAGIC,
        ENVELOPE_MAGIC + b"b" + b"nested envelope",
        bytes(range(256)),
        b"\x00" * 1000,
    ],
)
def test_bytes_roundtrip_as_bytes(value: bytes) -> None:
    back = roundtrip(value)
    assert type(back) is bytes
    assert back == value


def test_bytes_are_not_confused_with_text() -> None:
    assert decode(encode(b"hello")) == b"hello"
    assert decode(encode("hello")) == "hello"
    assert encode(b"hello") != encode("hello")
    assert encode(b"123") != encode(123)


def test_envelope_can_never_start_json_text() -> None:
    # 0xFF is not valid UTF-8, so no JSON text (UTF-8) can begin with the envelope magic.
    assert ENVELOPE_MAGIC[0] == 0xFF
    with pytest.raises(UnicodeDecodeError):
        ENVELOPE_MAGIC.decode("utf-8")
    assert encode(b"x").startswith(ENVELOPE_MAGIC)
    for value in ["\xff", "ÿrr", {"a": "\xffrr"}]:
        assert not encode(value).startswith(ENVELOPE_MAGIC)
        roundtrip(value)


def test_unknown_envelope_kind_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="envelope"):
        decode(ENVELOPE_MAGIC + b"z" + b"payload")
    with pytest.raises(SerializationError):
        decode(ENVELOPE_MAGIC)
    assert SerializationError("x").error_code == "serialization"


# --------------------------------------------------------------------------- other clients


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (b"plain text from another client", "plain text from another client"),
        (b"hello world", "hello world"),
        (b"", ""),
        (b"True", "True"),  # Python's str(True), as the guide's implementation stored it
        (b"None", "None"),
        (b"{'a': 1}", "{'a': 1}"),  # Python repr, not JSON
        (b"NaN", "NaN"),
        (b"Infinity", "Infinity"),
        (b"-Infinity", "-Infinity"),
        (b"[1, 2", "[1, 2"),
        ("héllo".encode(), "héllo"),
        ("天気".encode(), "天気"),
    ],
)
def test_plain_text_from_another_client_decodes_as_str(stored: bytes, expected: str) -> None:
    back = decode(stored)
    assert type(back) is str
    assert back == expected


@pytest.mark.parametrize("stored", [b"\xff\xfe\xfd", b"\x80abc", b"caf\xe9", b"\xc3\x28"])
def test_non_utf8_from_another_client_decodes_as_bytes(stored: bytes) -> None:
    back = decode(stored)
    assert type(back) is bytes
    assert back == stored


def test_json_written_by_another_client_is_decoded() -> None:
    assert decode(b'{"a": [1, 2.5, null, true]}') == {"a": [1, 2.5, None, True]}
    assert decode(b"123") == 123
    assert type(decode(b"1.0")) is float
    assert decode(b'"text"') == "text"
    assert decode(b"123456789012345678901234567890") == 123456789012345678901234567890


@pytest.mark.parametrize("stored", [b"1e400", b"-1e400", b"12345678901234567890e400"])
def test_decode_never_returns_a_non_finite_float(stored: bytes) -> None:
    """JSON text from another client whose number overflows comes back as the text (str), the
    same way whichever parser handles it; never as inf, which encode would refuse."""
    back = decode(stored)
    assert not (isinstance(back, float) and not math.isfinite(back)), back
    assert back == stored.decode()


# --------------------------------------------------------------------------- refusals


def _refused(value: Any) -> str:
    with pytest.raises(SerializationError) as info:
        encode(value)
    assert isinstance(info.value, RoleRedisError)
    assert info.value.error_code == "serialization"
    return str(info.value)


class StrSub(str):
    pass


class IntSub(int):
    pass


class DictSub(dict):  # type: ignore[type-arg]
    pass


class ListSub(list):  # type: ignore[type-arg]
    pass


class FloatSub(float):
    pass


class Plain:
    pass


@pytest.mark.parametrize(
    ("value", "where", "what"),
    [
        (float("nan"), "value", "nan"),
        (float("inf"), "value", "inf"),
        (float("-inf"), "value", "-inf"),
        ({"a": float("nan")}, "value['a']", "nan"),
        ([1, [2, float("inf")]], "value[1][1]", "inf"),
        ({"x": {"y": [float("-inf")]}}, "value['x']['y'][0]", "-inf"),
        ((1, 2), "value", "tuple"),
        ({"a": (1, 2)}, "value['a']", "tuple"),
        ({1, 2}, "value", "set"),
        ([frozenset()], "value[0]", "frozenset"),
        ({1: "a"}, "value", "int"),
        ({"a": {2: "b"}}, "value['a']", "int"),
        ({None: 1}, "value", "NoneType"),
        ({(1, 2): 1}, "value", "tuple"),
        ({b"k": 1}, "value", "bytes"),
        (Plain(), "value", "Plain"),
        ([object()], "value[0]", "object"),
        (datetime.datetime(2024, 1, 1), "value", "datetime"),
        ({"t": datetime.date(2024, 1, 1)}, "value['t']", "date"),
        (decimal.Decimal("1.5"), "value", "Decimal"),
        (StrSub("x"), "value", "str"),
        (IntSub(1), "value", "int"),
        (FloatSub(1.0), "value", "float"),
        (DictSub(a=1), "value", "dict"),
        (ListSub([1]), "value", "list"),
        (OrderedDict(a=1), "value", "OrderedDict"),
        ({"s": StrSub("x")}, "value['s']", "str"),
        ([b"hello"], "value[0]", "bytes"),
        ({"data": b""}, "value['data']", "bytes"),
        (bytearray(b"x"), "value", "bytearray"),
        (memoryview(b"x"), "value", "memoryview"),
        (1 + 2j, "value", "complex"),
    ],
)
def test_refusals_say_what_and_where(value: Any, where: str, what: str) -> None:
    message = _refused(value)
    assert message.startswith(where + ":") or message.startswith(where + " "), message
    assert what in message, message


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Mode(str, enum.Enum):
    FAST = "fast"


@pytest.mark.parametrize(
    ("value", "where", "what"),
    [
        # orjson would encode these (as their value, a str, a list): refused before it runs
        (Colour.RED, "value", "Colour"),
        ({"c": [Colour.RED]}, "value['c'][0]", "Colour"),
        ({"id": uuid.UUID(int=1)}, "value['id']", "UUID"),
        # an IntEnum member equals its value: an equality check after a round trip misses it
        (Level.HIGH, "value", "Level"),
        ({"l": [1, Level.HIGH]}, "value['l'][1]", "Level"),
        ({"m": Mode.FAST}, "value['m']", "Mode"),
        ([{"t": (1,)}], "value[0]['t']", "tuple"),
    ],
)
def test_what_orjson_would_encode_inexactly_is_refused(value: Any, where: str, what: str) -> None:
    message = _refused(value)
    assert message.startswith(where + ":"), message
    assert what in message, message


def test_int_dict_keys_refused_rather_than_turned_into_strings() -> None:
    # pitfall: "JSON turns int dict keys into strings" (aiocache #441)
    message = _refused({1: "one", 2: "two"})
    # the key's type, not its repr: a key may hold a secret (tests/security/test_secrets.py)
    assert "a dict key is a int" in message
    assert "use str keys" in message


def test_bool_inside_dict_key_position_refused() -> None:
    _refused({True: 1})


def test_self_reference_refused() -> None:
    a: list[Any] = []
    a.append(a)
    message = _refused(a)
    assert "value" in message
    d: dict[str, Any] = {}
    d["self"] = d
    _refused(d)


def test_deep_nesting_refused_not_crashing() -> None:
    deep: list[Any] = []
    node = deep
    for _ in range(5000):
        child: list[Any] = []
        node.append(child)
        node = child
    message = _refused(deep)
    assert "nest" in message


def test_moderate_nesting_roundtrips() -> None:
    value: Any = "leaf"
    for i in range(50):
        value = {"k": [value, i]}
    roundtrip(value)


def test_lone_surrogate_refused() -> None:
    _refused("\ud800")
    _refused({"a": "\udfff"})
    _refused({"\ud800": 1})


def test_lone_surrogate_refused_also_next_to_a_big_int() -> None:
    """A big int switches the encoder to the stdlib json path; refusal must stay the same."""
    _refused(["\ud800", 2**70])


def test_huge_int_beyond_str_conversion_limit_is_refused_or_roundtrips() -> None:
    """Python refuses int->str beyond 4300 digits; that must surface as SerializationError
    (or the value must round-trip), never as a bare ValueError."""
    value = 10**5000
    try:
        data = encode(value)
    except SerializationError:
        return
    assert decode(data) == value


def test_refusal_is_atomic_nothing_half_encoded() -> None:
    with pytest.raises(SerializationError):
        encode({"ok": 1, "bad": float("nan")})


# --------------------------------------------------------------------------- properties

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_property_json_values_roundtrip_with_identical_types(value: Any) -> None:
    roundtrip(value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=512))
def test_property_bytes_roundtrip_as_bytes(value: bytes) -> None:
    back = decode(encode(value))
    assert type(back) is bytes
    assert back == value


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_property_text_roundtrips_as_str(value: str) -> None:
    assert roundtrip(value) == value


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_property_decode_of_foreign_bytes_never_crashes(data: bytes) -> None:
    """Whatever another client stored, decode returns a value (or, for a roleredis envelope of
    an unknown kind, a SerializationError): never any other exception."""
    try:
        back = decode(data)
    except SerializationError:
        assert data.startswith(ENVELOPE_MAGIC)
        return
    assert type(back) in (str, bytes, int, float, bool, type(None), list, dict)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_property_plain_text_from_other_clients_is_str_unless_json(text: str) -> None:
    back = decode(text.encode("utf-8"))
    try:
        parsed = json.loads(text)
    except ValueError:
        assert back == text
        assert type(back) is str
    else:
        if isinstance(parsed, float) and not math.isfinite(parsed):
            return  # NaN/Infinity literals: covered by the parametrized tests
        assert back in (parsed, text)


def test_module_exports() -> None:
    assert set(codec.__all__) == {
        "ENCODED_AS_IS",
        "ENVELOPE_MAGIC",
        "Codec",
        "decode",
        "encode",
        "json_data",
        "json_size",
        "jsonable",
        "plain_values",
    }


# ------------------------------------------------- dict keys: refused by orjson, named by us


@pytest.mark.parametrize(
    ("value", "where", "what"),
    [
        ({StrSub("k"): 1}, "value", "a dict key is a StrSub"),
        ({"a": [{"b": {1.5: "x"}}]}, "value['a'][0]['b']", "a dict key is a float"),
        ({True: 1, "n": 2**70}, "value", "a dict key is a bool"),  # the json.dumps path
        ([2**70, {"k": {None: 1}}], "value[1]['k']", "a dict key is a NoneType"),
    ],
)
def test_a_key_that_is_not_exactly_a_str_is_refused_where_it_is(
    value: Any, where: str, what: str
) -> None:
    message = _refused(value)
    assert message.startswith(where + ":"), message
    assert what in message, message


def test_orjson_refuses_every_key_that_is_not_exactly_a_str() -> None:
    """The walk leaves dict keys to orjson (it refuses them with these options) and looks for
    the culprit only then: this fails loudly the day orjson accepts one."""
    for key in (StrSub("k"), 1, 1.5, True, None, Level.HIGH, Mode.FAST, (1,)):
        with pytest.raises(TypeError):
            orjson.dumps({key: 1}, option=codec._ORJSON_OPTIONS)


def test_a_bad_value_under_a_key_is_named_by_its_key() -> None:
    shared = float("nan")
    assert _refused({"a": 1, "b": shared, "c": shared}).startswith("value['b']:")
    assert _refused({"x": [1, {"y": (1,)}]}).startswith("value['x'][1]['y']:")


_MANY = [
    b'{"a":[1,2.5,"x"]}',
    None,
    b"null",
    b"plain text from another client",
    b"\xc3\xa9t\xc3\xa9",
    b"\xfe not utf-8",
    b"NaN",
    b"1e400",
    b"123456789012345678",  # 18 digits: still orjson's
    b"",
    b'"123"',
]


def test_plain_values_decodes_each_as_decode_does() -> None:
    got = codec.plain_values(_MANY)
    assert got is not None
    for data, value in zip(_MANY, got, strict=True):
        if data is None:
            assert value is None
        else:
            expected = codec.decode(data)
            assert type(value) is type(expected)
            assert value == expected or (value != value and expected != expected)


@pytest.mark.parametrize(
    "odd",
    [
        b"1234567890123456789",  # a run of 19 digits: maybe beyond 64 bits
        b'{"n":[12345678901234567890123]}',
        codec.encode(b"bytes in an envelope"),
        b"\xff anything with 0xff",
        "a str reply",
    ],
)
def test_plain_values_leaves_the_odd_ones_to_decode(odd: Any) -> None:
    assert codec.plain_values([b"1", odd, None]) is None


def test_no_run_of_digits_spans_two_values() -> None:
    # 10 + 9 digits in two values: no value holds 19
    assert codec.plain_values([b"1234567890", b"123456789"]) == [1234567890, 123456789]
