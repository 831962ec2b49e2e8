"""Redis's glob rules in Python: :func:`glob_match` is Redis's own ``stringmatchlen`` rule for
rule (``*``, ``?``, ``[..]``, ``[^..]``, ranges, ``\\`` escapes, and its handling of malformed
patterns), applied to the same bytes: the key index lists what SCAN MATCH would, and the
sharing section's grants match as the server's ACL patterns do.

>>> glob_match(b"weather:s[d-f]*", b"weather:session:1")
True
>>> glob_match(b"weather:\\\\*", b"weather:x")
False
"""

from __future__ import annotations

from typing import Any

__all__ = ["glob_match"]


def glob_match(pattern: bytes, string: bytes) -> bool:
    """Whether SCAN MATCH ``pattern`` matches ``string``: Redis's ``stringmatchlen``
    (util.c, case-sensitive), including its reading of malformed patterns (a lone ``[``, a
    trailing ``\\``, ``[a-]``). Its recursion is replaced by the equivalent backtracking to
    the last ``*`` (each other token matches exactly one byte). Like Redis, an empty string
    matches only the empty pattern.
    """
    if not string:
        return not pattern
    tokens = _tokens(pattern)
    n, m = len(tokens), len(string)
    t = s = 0
    star_t = star_s = -1
    while s < m:
        if t < n:
            token = tokens[t]
            if token is _STAR:
                star_t, star_s = t, s
                t += 1
                continue
            if _one(token, string[s]):
                t += 1
                s += 1
                continue
        if star_t < 0:
            return False
        star_s += 1
        t, s = star_t + 1, star_s
    while t < n and tokens[t] is _STAR:
        t += 1
    return t == n


_STAR = object()
_ANY = object()
# a token: _STAR, _ANY, an int (one literal byte), or (negated, literals, ranges) for [...]
_Class = tuple[bool, frozenset[int], tuple[tuple[int, int], ...]]


def _signed(byte: int) -> int:
    """A byte as C's (signed) char: Redis compares range bounds that way."""
    return byte - 256 if byte > 127 else byte


def _one(token: Any, byte: int) -> bool:
    if token is _ANY:
        return True
    if type(token) is int:
        return token == byte
    negated, literals, ranges = token
    c = _signed(byte)
    hit = byte in literals or any(lo <= c <= hi for lo, hi in ranges)
    return bool(hit != negated)


def _tokens(pattern: bytes) -> list[Any]:
    """The pattern read as stringmatchlen reads it (which never depends on the string)."""
    out: list[Any] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # *
            while i + 1 < n and pattern[i + 1] == 0x2A:
                i += 1
            out.append(_STAR)
        elif c == 0x3F:  # ?
            out.append(_ANY)
        elif c == 0x5B:  # [
            i += 1
            negated = i < n and pattern[i] == 0x5E  # ^
            if negated:
                i += 1
            literals: set[int] = set()
            ranges: list[tuple[int, int]] = []
            while True:
                left = n - i
                if left >= 2 and pattern[i] == 0x5C:  # \x escaped
                    i += 1
                    literals.add(pattern[i])
                elif left and pattern[i] == 0x5D:  # ]
                    break
                elif left == 0:  # unterminated: the class ends with the pattern
                    i -= 1
                    break
                elif left >= 3 and pattern[i + 1] == 0x2D:  # a-z
                    lo, hi = _signed(pattern[i]), _signed(pattern[i + 2])
                    ranges.append((min(lo, hi), max(lo, hi)))
                    i += 2
                else:
                    literals.add(pattern[i])
                i += 1
            out.append((negated, frozenset(literals), tuple(ranges)))
        elif c == 0x5C and i + 1 < n:  # \x
            i += 1
            out.append(pattern[i])
        else:
            out.append(c)
        i += 1
    return out
