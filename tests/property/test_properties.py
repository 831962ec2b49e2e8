"""Issue 5, section 7: property-based tests (hypothesis) against the session's real server.

1. Round trip: for random valid role names, keys (unicode, colons, glob characters ``* ? [ ]
   \\``, up to the 1024-byte limit) and values (nested dicts and lists, unicode, big ints,
   floats, bytes, None, bools), a write then a read (redis_read, redis_read_many, RoleStore,
   AsyncRoleStore) gives back an equal value *of the same type*, recursively (in Python
   1 == 1.0 == True, so equality alone would prove nothing).
2. Isolation: for any two roles, including names that are prefixes of each other ("a", "a.b",
   "ab", "a-", "a_"), no operation of one (read, exists, get_keys with any pattern including
   glob characters and the other's keys, read_many, delete, clear) reads, lists or deletes the
   other's keys; the other's data stays byte-for-byte as it was.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from roleredis.aio import AsyncRoleStore

import roleredis
from roleredis.foundation.keys import MAX_KEY_BYTES, escape_glob

COMMON = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,  # no .hypothesis/ directory in the repository
)

# --------------------------------------------------------------------------- strategies

ROLE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
# role names starting with "__" are reserved for roleredis's internal keys (refused for users)
roles = st.text(alphabet=ROLE_CHARS, min_size=1, max_size=64).filter(
    lambda r: not r.startswith("__")
)
short_roles = st.text(alphabet=ROLE_CHARS, min_size=1, max_size=8).filter(
    lambda r: not r.startswith("__")
)


@st.composite
def role_pairs(draw: st.DrawFn) -> tuple[str, str]:
    """Two different roles, often one a prefix of the other ("a" and "a.b", "ab", "a-")."""
    base = draw(short_roles)
    kind = draw(st.sampled_from(["prefix", "prefix-reversed", "independent"]))
    if kind == "independent":
        other = draw(roles)
    else:
        suffix = draw(
            st.one_of(
                st.sampled_from([".b", "b", "-", "_", ".", "0", ".a.b", "-x"]),
                st.text(alphabet=ROLE_CHARS, min_size=1, max_size=5),
            )
        )
        other = (base + suffix)[:64]
    assume(other != base and not other.startswith("__"))
    return (base, other) if kind != "prefix-reversed" else (other, base)


GLOB = "*?[]\\^!-"


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


plain_keys = st.text(min_size=1, max_size=30)
glob_keys = st.text(alphabet=GLOB + ":ab", min_size=1, max_size=12)
colon_keys = st.lists(st.text(min_size=0, max_size=6), min_size=2, max_size=5).map(":".join)


@st.composite
def long_keys(draw: st.DrawFn) -> str:
    """Keys near the 1024-byte limit, with multi-byte characters."""
    unit = draw(st.sampled_from(["a", "é", "€", "𝄞", "*", ":", "\\"]))
    size = draw(st.integers(min_value=MAX_KEY_BYTES - 8, max_value=MAX_KEY_BYTES))
    key = unit * (size // _utf8_size(unit))
    return key + "x" * (size - _utf8_size(key))


keys: st.SearchStrategy[str] = st.one_of(plain_keys, glob_keys, colon_keys, long_keys()).filter(
    lambda k: 0 < _utf8_size(k) <= MAX_KEY_BYTES
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 0, -1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 1e16, 5e-324, 1.7976931348623157e308]),
    st.text(),
    st.sampled_from(["123", "null", "true", "1.0", '"quoted"', "", "\x00", "\xffrr"]),
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=25,
)
values = st.one_of(json_values, st.binary(max_size=200))


def same(a: Any, b: Any) -> bool:
    """Equal *and* of the same type, recursively."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and str(a) == str(b)  # also tells -0.0 from 0.0
    return bool(a == b)


# --------------------------------------------------------------------------- round trip


@settings(COMMON, max_examples=150)
@given(role=roles, key=keys, value=values)
def test_write_then_read_gives_the_same_value_and_type(
    raw: redis.Redis, role: str, key: str, value: Any
) -> None:
    raw.flushdb()
    written = roleredis.redis_write(key, value, role=role)
    assert written["success"] is True, written
    assert written["prefixed_key"] == f"{role}:{key}"
    got = roleredis.redis_read(key, role=role)
    assert got["success"] is True, got
    assert same(got["value"], value), (value, got["value"])
    many = roleredis.redis_read_many([key], role=role)
    assert many["success"] is True and many["missing"] == [], many
    assert same(many["values"][key], value), (value, many["values"][key])
    assert roleredis.redis_get_keys(escape_glob(key), role=role)["keys"] == [key]
    assert raw.exists(f"{role}:{key}".encode()) == 1


@settings(COMMON, max_examples=40)
@given(role=roles, mapping=st.dictionaries(keys, values, min_size=1, max_size=6))
def test_write_many_and_the_stores_round_trip(
    raw: redis.Redis, role: str, mapping: dict[str, Any]
) -> None:
    raw.flushdb()
    assert roleredis.redis_write_many(mapping, role=role)["success"] is True
    got = roleredis.redis_read_many(list(mapping), role=role)
    assert got["missing"] == [], got
    for key, value in mapping.items():
        assert same(got["values"][key], value), (key, value, got["values"][key])
    store = roleredis.RoleStore(role)
    for key, value in mapping.items():
        assert same(store.read(key).value, value)
    assert sorted(store.keys()) == sorted(mapping)

    async def via_aio() -> list[Any]:
        astore = AsyncRoleStore(role)
        for key, value in mapping.items():
            await astore.write(key, value)
        return [(await astore.read(key)).value for key in mapping]

    for (key, value), back in zip(mapping.items(), asyncio.run(via_aio()), strict=True):
        assert same(back, value), (key, value, back)


@settings(COMMON, max_examples=30)
@given(role=roles, key=keys, value=values)
def test_fire_and_forget_write_round_trips(
    raw: redis.Redis, role: str, key: str, value: Any
) -> None:
    raw.flushdb()
    assert roleredis.redis_write_async(key, value, role=role)["success"] is True
    assert roleredis.redis_flush(timeout=5)["success"] is True
    got = roleredis.redis_read(key, role=role)
    assert got["success"] is True, got
    assert same(got["value"], value), (value, got["value"])


@settings(COMMON, max_examples=30)
@given(role=roles, extra=st.integers(min_value=1, max_value=8), unit=st.sampled_from("aé€𝄞"))
def test_a_key_over_the_limit_is_refused_and_nothing_is_written(
    raw: redis.Redis, role: str, extra: int, unit: str
) -> None:
    raw.flushdb()
    size = MAX_KEY_BYTES + extra
    key = unit * (size // _utf8_size(unit) + 1)
    result = roleredis.redis_write(key, 1, role=role)
    assert result["success"] is False and result["error_code"] == "invalid_argument", result
    assert raw.dbsize() == 0


# --------------------------------------------------------------------------- isolation

patterns = st.one_of(
    st.just("*"),
    st.text(alphabet=GLOB + ":ab.", min_size=1, max_size=8),
    st.text(min_size=1, max_size=8),
)


def _snapshot(raw: redis.Redis, role: str, data: dict[str, Any]) -> dict[bytes, Any]:
    return {(k := f"{role}:{key}".encode()): raw.get(k) for key in data}


@settings(COMMON, max_examples=60)
@given(
    pair=role_pairs(),
    data_a=st.dictionaries(keys, values, max_size=5),
    data_b=st.dictionaries(keys, values, min_size=1, max_size=5),
    shared=st.dictionaries(keys, values, max_size=3),
    extra_patterns=st.lists(patterns, max_size=4),
)
def test_no_operation_of_one_role_touches_another_roles_keys(
    raw: redis.Redis,
    pair: tuple[str, str],
    data_a: dict[str, Any],
    data_b: dict[str, Any],
    shared: dict[str, Any],
    extra_patterns: list[str],
) -> None:
    """Role A acts on B's key names (some of which A also has: ``shared``); B is untouched."""
    raw.flushdb()
    a, b = pair
    data_a = {**data_a, **shared}
    data_b = {**data_b, **shared}
    for role, data in ((a, data_a), (b, data_b)):
        if data:
            assert roleredis.redis_write_many(data, role=role)["success"] is True
    before_b = _snapshot(raw, b, data_b)
    assert all(v is not None for v in before_b.values())
    model_a = dict(data_a)

    def b_untouched(after: str) -> None:
        assert _snapshot(raw, b, data_b) == before_b, f"B's data changed after A's {after}"
        assert raw.dbsize() == len(model_a) + len(data_b), f"unexpected keys after A's {after}"

    # reads and existence checks of B's key names see only A's own data
    for key in data_b:
        got = roleredis.redis_read(key, role=a)
        if key in model_a:
            assert got["success"] is True and same(got["value"], model_a[key]), got
        else:
            assert got["error_code"] == "not_found", got
        assert roleredis.redis_exists(key, role=a)["exists"] is (key in model_a)
    many = roleredis.redis_read_many(list(data_b), role=a)
    assert set(many["values"]) == {k for k in data_b if k in model_a}, many
    for key, value in many["values"].items():
        assert same(value, model_a[key])
    b_untouched("reads")

    # listing: any pattern, including B's keys (escaped or raw) and glob characters
    everything = roleredis.redis_get_keys("*", role=a)
    assert sorted(everything["keys"]) == sorted(model_a), everything
    for pattern in [*extra_patterns, *data_b, *(escape_glob(k) for k in data_b)]:
        listed = roleredis.redis_get_keys(pattern, role=a)
        assert listed["success"] is True, listed
        assert set(listed["keys"]) <= set(model_a), (pattern, listed["keys"])
    for key in data_b:
        exact = roleredis.redis_get_keys(escape_glob(key), role=a)["keys"]
        assert exact == ([key] if key in model_a else []), (key, exact)
    b_untouched("listing")

    # deletes of B's key names delete A's own key of that name, if any, and nothing else
    for key in data_b:
        deleted = roleredis.redis_delete(key, role=a)
        assert deleted["deleted"] is (key in model_a), deleted
        model_a.pop(key, None)
    b_untouched("deletes")

    # clearing A leaves B whole
    cleared = roleredis.redis_clear_role_data(a)
    assert cleared["success"] is True and cleared["deleted_count"] == len(model_a), cleared
    model_a.clear()
    b_untouched("clear")
    assert roleredis.redis_get_keys("*", role=a)["keys"] == []
    assert sorted(roleredis.redis_get_keys("*", role=b)["keys"]) == sorted(data_b)
