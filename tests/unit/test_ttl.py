"""roleredis.foundation.ttl.apply_ttl: what expiry a write gets (issue 2, section 5)."""

from __future__ import annotations

from typing import Any

import pytest

from roleredis.foundation.errors import InvalidArgumentError
from roleredis.foundation.ttl import NO_EXPIRY, apply_ttl


@pytest.mark.parametrize(
    ("ttl", "default_ttl", "max_ttl", "seconds"),
    [
        (None, None, None, None),  # no default: no expiry
        (None, 3600, None, 3600),  # default applies
        (None, 3600, 86400, 3600),
        (None, 86400, 86400, 86400),  # default equal to max: no warning
        (60, None, None, 60),  # positive: as given
        (60, 3600, 86400, 60),  # explicit beats default
        (1, None, None, 1),
        (86400, None, 86400, 86400),  # exactly max: no warning
        (-1, None, None, None),  # no expiry
        (-1, 3600, None, None),  # -1 beats default_ttl
        (10**9, None, None, 10**9),  # no max: as given
    ],
)
def test_applied_without_warning(
    ttl: Any, default_ttl: int | None, max_ttl: int | None, seconds: int | None
) -> None:
    assert apply_ttl(ttl, default_ttl=default_ttl, max_ttl=max_ttl) == (seconds, None)


@pytest.mark.parametrize(
    ("ttl", "default_ttl", "max_ttl", "asked"),
    [
        (100_000, None, 86400, "100000"),  # above max: lowered
        (86401, 3600, 86400, "86401"),
        (-1, None, 86400, "no expiry"),  # no expiry with max_ttl: max_ttl
        (-1, 3600, 86400, "no expiry"),
        (None, None, 86400, "no expiry"),  # no default, max set: max
    ],
)
def test_lowered_to_max_ttl_with_warning(
    ttl: Any, default_ttl: int | None, max_ttl: int, asked: str
) -> None:
    seconds, warning = apply_ttl(ttl, default_ttl=default_ttl, max_ttl=max_ttl)
    assert seconds == max_ttl
    assert warning is not None
    assert "max_ttl" in warning
    assert str(max_ttl) in warning
    assert asked in warning


@pytest.mark.parametrize(
    "ttl",
    [0, -5, -2, -(10**9), True, False, 1.5, 60.0, "60", b"60", [60], {"ttl": 60}, float("nan")],
)
def test_invalid_ttls_refused(ttl: Any) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        apply_ttl(ttl, default_ttl=3600, max_ttl=86400)
    assert info.value.error_code == "invalid_argument"
    assert "ttl" in str(info.value)


def test_refusal_message_says_what_is_allowed() -> None:
    with pytest.raises(InvalidArgumentError, match="-1"):
        apply_ttl(0, default_ttl=None, max_ttl=None)
    with pytest.raises(InvalidArgumentError, match="bool"):
        apply_ttl(True, default_ttl=None, max_ttl=None)
    with pytest.raises(InvalidArgumentError, match="str"):
        apply_ttl("60", default_ttl=None, max_ttl=None)


def test_int_subclass_refused_bool_first() -> None:
    # bool is an int subclass: ttl=True must not mean one second
    with pytest.raises(InvalidArgumentError):
        apply_ttl(True, default_ttl=None, max_ttl=None)


def test_no_expiry_constant_is_redis_minus_one() -> None:
    assert NO_EXPIRY == -1
