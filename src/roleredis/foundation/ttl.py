"""The TTL policy: what expiry a write gets, from its ``ttl`` argument and the settings.

>>> apply_ttl(None, default_ttl=3600, max_ttl=86400)
(3600, None)
>>> apply_ttl(-1, default_ttl=None, max_ttl=None)
(None, None)
>>> apply_ttl(100000, default_ttl=None, max_ttl=86400)[0]
86400
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidArgumentError

__all__ = ["MAX_TTL", "NO_EXPIRY", "apply_ttl"]

#: What results show as ``ttl`` for a key that never expires (as Redis's TTL command does).
NO_EXPIRY = -1

#: The longest TTL roleredis accepts: 10**15 s (about 31.7 million years). Redis refuses an
#: expiry whose milliseconds from the epoch overflow a 64-bit integer (on Redis 7.0,
#: ``SET k v EX 9223372034854775`` is already refused, ``EX 10**15`` is kept exactly); a round
#: bound far below that works on every server, now and in every year to come.
MAX_TTL = 10**15


def apply_ttl(
    ttl: Any, *, default_ttl: int | None, max_ttl: int | None
) -> tuple[int | None, str | None]:
    """Return ``(seconds or None for no expiry, warning or None)``; refuse invalid TTLs.

    ``None`` takes ``default_ttl``; ``-1`` asks for no expiry; a positive int up to
    :data:`MAX_TTL` is used as given (a longer one is refused before max_ttl is applied).
    Anything above ``max_ttl`` (no expiry included) is lowered to ``max_ttl``, with a warning.
    """
    if ttl is None:
        seconds = default_ttl
    elif type(ttl) is not int:
        raise InvalidArgumentError(
            f"ttl must be a whole number of seconds (or -1 for no expiry), "
            f"got {type(ttl).__name__} {ttl!r}"
        )
    elif ttl == NO_EXPIRY:
        seconds = None
    elif ttl <= 0:
        raise InvalidArgumentError(
            f"ttl must be a positive number of seconds, or -1 for no expiry; got {ttl}"
        )
    elif ttl > MAX_TTL:
        raise InvalidArgumentError(
            f"ttl {ttl} is longer than Redis accepts; at most {MAX_TTL} seconds "
            "(about 31 million years), or -1 for no expiry"
        )
    else:
        seconds = ttl
    if max_ttl is not None and (seconds is None or seconds > max_ttl):
        asked = "no expiry" if seconds is None else f"ttl {seconds}"
        return max_ttl, f"{asked} was lowered to max_ttl {max_ttl} (key_management.max_ttl)"
    return seconds, None
