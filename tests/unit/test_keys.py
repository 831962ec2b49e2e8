"""roleredis.foundation.keys: role names, key rules, and the role prefix."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

import pytest

from roleredis.foundation.errors import InvalidArgumentError
from roleredis.foundation.keys import (
    MAX_KEY_BYTES,
    Keyspace,
    escape_glob,
    validate_key,
    validate_role,
)

# --------------------------------------------------------------------------- role names


@pytest.mark.parametrize(
    "role",
    [
        "weather",
        "timer",
        "a",
        "A",
        "0",
        "my_role",
        "my-role",
        "v1.2",
        "x" * 64,
        "_",
        "-",
        ".",
        "Role_With.Mixed-Chars09",
    ],
)
def test_valid_role_names(role: str) -> None:
    assert validate_role(role) == role


@pytest.mark.parametrize(
    ("role", "why"),
    [
        ("", "empty"),
        ("x" * 65, "65 characters"),
        ("weather:forecast", "':'"),
        (":", "':'"),
        ("a*", "'*'"),
        ("a?", "'?'"),
        ("a[b]", "'['"),
        ("my role", "' '"),
        (" weather", "' '"),
        ("weather\n", "'\\n'"),
        ("a/b", "'/'"),
        ("a\\b", "'\\\\'"),
        ("{weather}", "'{'"),
        ("météo", "'é'"),
        ("天気", "'天'"),
    ],
)
def test_invalid_role_names_refused_with_reason(role: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        validate_role(role)
    message = str(info.value)
    assert why in message, message
    assert info.value.error_code == "invalid_argument"


@pytest.mark.parametrize("role", [None, 1, b"weather", ["weather"], 1.5])
def test_non_str_role_refused(role: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="role must be a str"):
        validate_role(role)


def test_invalid_role_is_also_a_value_error() -> None:
    # callers catching ValueError keep working
    with pytest.raises(ValueError):
        validate_role("a:b")


def test_overlong_role_message_is_truncated() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        validate_role("x" * 10_000)
    assert len(str(info.value)) < 400


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key",
    [
        "k",
        "forecast",
        "user:123",
        "session:*",
        "a b",
        "ключ",
        "🔑",
        "x" * MAX_KEY_BYTES,
        "é" * (MAX_KEY_BYTES // 2),
        "€" * (MAX_KEY_BYTES // 3),
        "🔑" * (MAX_KEY_BYTES // 4),
        "\x00",
        ":",
        "weather:forecast",
    ],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


def test_key_limit_counts_utf8_bytes_not_characters() -> None:
    assert MAX_KEY_BYTES == 1024
    validate_key("x" * 1024)
    with pytest.raises(InvalidArgumentError, match="1025 bytes"):
        validate_key("x" * 1025)
    # 2-byte characters: 512 of them are 1024 bytes, one more ASCII char is 1025
    validate_key("é" * 512)
    with pytest.raises(InvalidArgumentError, match="1025 bytes"):
        validate_key("é" * 512 + "x")
    # 3-byte: 341 * 3 = 1023, + 1 ASCII = 1024 ok, + 2 = 1025 refused
    validate_key("€" * 341 + "x")
    with pytest.raises(InvalidArgumentError, match="1025 bytes"):
        validate_key("€" * 341 + "xx")
    # 4-byte: 256 * 4 = 1024 (only 256 characters, far below 1024 characters)
    validate_key("🔑" * 256)
    with pytest.raises(InvalidArgumentError, match="1028 bytes"):
        validate_key("🔑" * 257)


def test_empty_key_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="empty"):
        validate_key("")


@pytest.mark.parametrize("key", [None, 1, b"key", ["k"], 1.5, True])
def test_non_str_key_refused(key: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="key must be a str"):
        validate_key(key)


@pytest.mark.parametrize("key", ["\ud800", "ok\udfff", "\udc7fabc"])
def test_lone_surrogate_key_refused(key: str) -> None:
    with pytest.raises(InvalidArgumentError, match="surrogate"):
        validate_key(key)


# --------------------------------------------------------------------------- Keyspace


def test_full_key_prefixes_with_role() -> None:
    assert Keyspace("weather").full_key("forecast") == "weather:forecast"
    assert Keyspace("timer").full_key("forecast") == "timer:forecast"
    assert Keyspace("weather").full_key("session:abc") == "weather:session:abc"
    assert Keyspace("weather").prefix == "weather:"
    assert Keyspace("weather").role == "weather"


def test_full_key_validates_key() -> None:
    with pytest.raises(InvalidArgumentError):
        Keyspace("weather").full_key("")
    with pytest.raises(InvalidArgumentError):
        Keyspace("weather").full_key(123)
    with pytest.raises(InvalidArgumentError):
        Keyspace("weather").full_key("x" * 1025)


def test_strip_removes_prefix_from_bytes_and_str() -> None:
    ks = Keyspace("weather")
    assert ks.strip(b"weather:forecast") == "forecast"
    assert ks.strip("weather:forecast") == "forecast"  # noqa: B005 (Keyspace.strip)
    assert ks.strip("weather:session:1") == "session:1"  # noqa: B005
    assert ks.strip("weather:ключ".encode()) == "ключ"


def test_strip_roundtrips_full_key() -> None:
    ks = Keyspace("r.1-x_")
    for key in ["a", "a:b:c", "ключ", "*", "[x]"]:
        assert ks.strip(ks.full_key(key)) == key
        assert ks.strip(ks.full_key(key).encode()) == key


def test_scan_pattern_keeps_pattern_glob_after_prefix() -> None:
    ks = Keyspace("weather")
    assert ks.scan_pattern("*") == "weather:*"
    assert ks.scan_pattern("session:*") == "weather:session:*"
    assert ks.scan_pattern("a?[bc]") == "weather:a?[bc]"
    assert ks.everything() == "weather:*"


@pytest.mark.parametrize("pattern", ["", None, 1, b"*"])
def test_scan_pattern_refuses_bad_patterns(pattern: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        Keyspace("weather").scan_pattern(pattern)


def test_escape_glob() -> None:
    assert escape_glob("plain") == "plain"
    assert escape_glob("a*b") == "a\\*b"
    assert escape_glob("a?b") == "a\\?b"
    assert escape_glob("[x]") == "\\[x\\]"
    assert escape_glob("back\\slash") == "back\\\\slash"
    assert escape_glob("weather.v1-a_b:") == "weather.v1-a_b:"


def _redis_glob_match(pattern: str, text: str) -> bool:
    """Redis's MATCH semantics for what we generate: \\x escapes, * ? [..] are globs."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out += re.escape(pattern[i + 1])
            i += 2
            continue
        if c == "*":
            out += ".*"
        elif c == "?":
            out += "."
        elif c == "[":
            end = pattern.index("]", i)
            out += "[" + pattern[i + 1 : end] + "]"
            i = end + 1
            continue
        else:
            out += re.escape(c)
        i += 1
    return re.fullmatch(out, text, re.S) is not None


def test_prefix_is_glob_escaped_so_no_role_reaches_another() -> None:
    # Valid role names contain no glob characters, but the prefix is escaped regardless:
    # a Keyspace built with an odd name must still only match its own keys.
    ks = Keyspace("a*")
    pattern = ks.everything()
    assert pattern == "a\\*:*"
    assert _redis_glob_match(pattern, "a*:x")
    assert not _redis_glob_match(pattern, "abc:x")
    assert not _redis_glob_match(pattern, "a:x")
    ks2 = Keyspace("r?")
    assert not _redis_glob_match(ks2.scan_pattern("*"), "rx:key")
    assert _redis_glob_match(ks2.scan_pattern("*"), "r?:key")


def test_role_pattern_never_matches_longer_role_names() -> None:
    # "weather:*" must not match "weatherman:..." and the role "w" must not see "weather:..."
    assert not fnmatch.fnmatchcase("weatherman:x", Keyspace("weather").everything())
    assert not _redis_glob_match(Keyspace("w").everything(), "weather:x")
    assert _redis_glob_match(Keyspace("weather").everything(), "weather:x")


def test_auto_prefix_false_stores_keys_as_given() -> None:
    ks = Keyspace("weather", auto_prefix=False)
    assert ks.prefix == ""
    assert ks.full_key("forecast") == "forecast"
    assert ks.strip(b"forecast") == "forecast"
    assert ks.scan_pattern("session:*") == "session:*"
    assert ks.everything() == "*"
    assert ks.auto_prefix is False
    with pytest.raises(InvalidArgumentError):
        ks.full_key("")
