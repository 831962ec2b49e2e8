"""Values to bytes and back, exactly: what goes in comes out with the same type and value.

Values are stored as JSON text so that other clients can read them. Only what JSON carries
exactly is accepted: ``str``, ``int``, ``float`` (finite), ``bool``, ``None``, and ``dict`` (with
``str`` keys) and ``list`` of those. ``bytes`` are stored inside a small envelope that JSON text
can never start with (its first byte, 0xFF, is not valid UTF-8), so they come back as bytes.

>>> decode(encode("123"))
'123'
>>> decode(encode({"n": 1.0, "ok": True}))
{'n': 1.0, 'ok': True}
>>> decode(encode(b"hello"))
b'hello'
>>> decode(b"plain text from another client")
'plain text from another client'
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from typing import Any

import orjson

from ..foundation.errors import SerializationError
from ..foundation.keys import raw_key
from .crypto import Keyring

__all__ = [
    "ENCODED_AS_IS",
    "ENVELOPE_MAGIC",
    "Codec",
    "decode",
    "encode",
    "json_data",
    "json_size",
    "jsonable",
    "plain_values",
]

#: Stored values that start with these bytes are envelopes, not JSON text.
ENVELOPE_MAGIC = b"\xffrr"
_BYTES_HEADER = ENVELOPE_MAGIC + b"b"
_ZLIB_HEADER = ENVELOPE_MAGIC + b"z"
_ZSTD_HEADER = ENVELOPE_MAGIC + b"s"
_SEALED_HEADER = ENVELOPE_MAGIC + b"e"
_LONG_RUN = 19  # digits: an integer this long may be beyond 64 bits
_LONG_DIGITS = re.compile(rb"\d{%d}" % _LONG_RUN)
_DIGITS = b"0123456789"
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class _Refused(Exception):
    def __init__(self, what: str) -> None:
        self.what = what
        self.path: list[str] = []


_HINTS: dict[type, str] = {
    tuple: "convert it to a list",
    set: "convert it to a list",
    frozenset: "convert it to a list",
    bytearray: "convert it to bytes (only at the top level)",
    memoryview: "convert it to bytes (only at the top level)",
}


def _describe(value: Any) -> str:
    kind = type(value)
    hint = _HINTS.get(kind)
    if hint is None:
        for base in (str, int, float, dict, list):
            if isinstance(value, base):
                hint = f"it is a subclass of {base.__name__}; convert it to a plain {base.__name__}"
                break
    if kind is bytes:
        hint = "bytes are supported only as the whole value, not inside a dict or list"
    name = (
        f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__
    )
    return f"{name} cannot be stored exactly as JSON" + (f" ({hint})" if hint else "")


def _bad_float(value: float) -> _Refused:
    return _Refused(f"the float {value!r} has no JSON form (NaN and infinity are refused)")


#: leaves JSON carries exactly as they are (a float needs a look at its value; an int of any
#: size is exact: one beyond 64 bits, which orjson refuses, is written by json instead)
_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _check(value: Any) -> None:
    """Walk ``value``; raise _Refused for what JSON cannot carry.

    Scalars are checked inline, without a call per leaf: this walk runs on every write (a
    dict's and a list's loops are apart, one set look-up passes str, int, bool and None).
    ``x - x != 0.0`` is true only for NaN and the infinities; anything but a plain leaf or a
    finite float is looked at by the recursive call, which refuses it or walks it. Dict keys
    are not looked at here (a dict's values are walked without its keys): orjson refuses a key
    that is not exactly a str itself, and :func:`encode` then finds which with
    :func:`_check_keys`, as it does before json.dumps (which would turn such a key into text).
    """
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return
    if kind is float:
        if value - value != 0.0:
            raise _bad_float(value)
        return
    if kind is dict:
        for v in value.values():
            t = type(v)
            if t in _PLAIN_LEAVES or (t is float and v - v == 0.0):
                continue
            if t is list:  # a list of plain leaves (tags, names, numbers): no call for it
                for leaf in v:
                    if type(leaf) not in _PLAIN_LEAVES:
                        break
                else:
                    continue
            try:
                _check(v)
            except _Refused as exc:  # (its key found again: only a refusal pays for it)
                exc.path.append(f"[{next(k for k, x in value.items() if x is v)!r}]")
                raise
        return
    if kind is list:
        for i, v in enumerate(value):
            t = type(v)
            if t in _PLAIN_LEAVES or (t is float and v - v == 0.0):
                continue
            try:
                _check(v)
            except _Refused as exc:
                exc.path.append(f"[{i!r}]")
                raise
        return
    raise _Refused(_describe(value))


def _check_keys(value: Any) -> None:
    """Raise _Refused for a dict key in ``value`` (which :func:`_check` passed: dicts, lists
    and leaves) that is not exactly a str: JSON keys are text, so it would come back as one."""
    kind = type(value)
    if kind is dict:
        for k in value:
            if type(k) is not str:
                raise _Refused(  # the key's type, never its repr: it may hold a secret
                    f"a dict key is a {type(k).__name__}; JSON keys are text, so it would "
                    "come back as a str: use str keys"
                )
        inside: Any = value.items()
    elif kind is list:
        inside = enumerate(value)
    else:
        return
    for where, v in inside:
        if type(v) is dict or type(v) is list:
            try:
                _check_keys(v)
            except _Refused as exc:
                exc.path.append(f"[{where!r}]")
                raise


def _refusal(exc: _Refused) -> SerializationError:
    return SerializationError("value" + "".join(reversed(exc.path)) + f": {exc.what}")


def _big_int_in(value: Any) -> bool:
    """Whether ``value`` (one :func:`_check` passed) holds an int beyond 64 bits: only asked
    when orjson refused it."""
    kind = type(value)
    if kind is int:
        return not _INT64_MIN <= value <= _INT64_MAX
    if kind is dict or kind is list:  # a loop, not any(): one frame a level, as _check
        for v in value.values() if kind is dict else value:
            if _big_int_in(v):
                return True
    return False


#: the types of value a caller may hand to :func:`encode` without a size floor first
#: (:func:`size_floor` knows nothing of them before encoding); a str or bytes value may be huge
ENCODED_AS_IS = frozenset({dict, list, int, float, bool, type(None)})


def encode(value: Any) -> bytes:
    """Serialize ``value``; raise :class:`SerializationError` saying what and where if it can't.

    >>> encode({"a": [1, 2]})
    b'{"a":[1,2]}'
    """
    if type(value) is bytes:
        return _BYTES_HEADER + value
    try:
        _check(value)
    except _Refused as exc:
        raise _refusal(exc) from None
    except RecursionError:
        raise SerializationError(
            "value is nested too deeply (or contains itself) to be stored as JSON"
        ) from None
    try:
        # orjson >= 3.12 returns its whole working buffer (4 KiB at least) with only the
        # length shortened (orjson #483, Home Assistant #181240): a value kept pending in the
        # writer's queue would hold 4 KiB for 100 bytes. Copy it into a right-sized object:
        # a join of two parts always copies (``bytes(data)`` and ``data[:]`` return the same
        # object) and costs half a memoryview's ``tobytes``.
        return b"".join((orjson.dumps(value, option=_ORJSON_OPTIONS), b""))
    except (TypeError, orjson.JSONEncodeError) as exc:
        # The walk accepts only what orjson encodes but a dict key that is not exactly a str
        # (orjson refuses those: which one, where?), integers beyond 64 bits, text that is not
        # UTF-8 (lone surrogates) and nesting deeper than orjson allows.
        try:
            _check_keys(value)  # before json.dumps, which would turn such a key into text
        except _Refused as refused:
            raise _refusal(refused) from None
        if _big_int_in(value):  # integers beyond 64 bits: json writes them exactly
            try:
                text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
                return text.encode("utf-8")
            except ValueError as error:  # over Python's int-to-text limit, a lone surrogate
                raise SerializationError(f"value cannot be stored as JSON: {error}") from None
        raise SerializationError(f"value cannot be stored as JSON: {exc}") from None


def size_floor(value: Any) -> int:
    """A cheap lower bound of ``len(encode(value))``, found without encoding: a str's JSON is
    at least its length plus two quotes (each character one UTF-8 byte or more), bytes are
    their length plus the envelope's header; 0 for anything else.

    >>> size_floor("abc") <= len(encode("abc")), size_floor(b"ab") == len(encode(b"ab"))
    (True, True)
    """
    if type(value) is bytes:
        return len(_BYTES_HEADER) + len(value)
    if type(value) is str:
        return len(value) + 2
    return 0


def jsonable(value: Any) -> Any:
    """``json.dumps``'s ``default`` for results sent to clients that take JSON only (MCP,
    function calling): bytes become ``{"bytes_base64": ...}``.

    >>> json.dumps({"value": b"\\x00"}, default=jsonable)
    '{"value": {"bytes_base64": "AA=="}}'
    """
    if isinstance(value, bytes | bytearray):  # a value stored as bytes by the Python API
        return {"bytes_base64": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_data(value: Any) -> Any:
    """``value`` as plain JSON data, bytes as ``{"bytes_base64": ...}`` (see :func:`jsonable`).

    >>> json_data({"value": b"\\x00"})
    {'value': {'bytes_base64': 'AA=='}}
    """
    return json.loads(json.dumps(value, default=jsonable))


def json_size(value: Any) -> int:
    """The bytes of ``value`` as compact UTF-8 JSON, as a JSON-only client gets it (bytes as
    base64: see :func:`jsonable`); what mcp.max_value_bytes and mcp.max_result_bytes measure.

    >>> json_size({"a": [1, 2]}), json_size(b"abc")
    (11, 23)
    """
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=jsonable)
    return len(text.encode("utf-8", "surrogatepass"))


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    number = float(text)
    if number - number != 0.0:  # "1e400" is not a float we wrote: read the text as text
        raise ValueError(text)
    return number


def decode(data: bytes) -> Any:
    """Turn stored bytes back into the value; text that is not JSON comes back as str.

    >>> decode(b'"123"'), decode(b"123")
    ('123', 123)
    """
    if data[:3] == ENVELOPE_MAGIC:
        if data[:4] == _BYTES_HEADER:
            return data[4:]
        raise SerializationError(
            f"stored value has an envelope of kind {data[3:4]!r} that this version of "
            "roleredis does not know"
        )
    return _plain(data)


def _plain(data: bytes) -> Any:
    """:func:`decode` of ``data`` that is no envelope."""
    # fewer than 19 digits in all (a C count, most values) cannot hold a run of 19: the
    # search for one costs as much as orjson's parse
    if (
        len(data) - len(data.translate(None, _DIGITS)) < _LONG_RUN
        or _LONG_DIGITS.search(data) is None
    ):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    else:  # integers beyond 64 bits: orjson would turn them into floats
        try:
            return json.loads(data, parse_constant=_no_constants, parse_float=_finite_float)
        except ValueError:
            pass
    return _text(data)


#: every digit as "0", every other byte as "." (a run of digits becomes a run of "0")
_DIGIT_MARKS = bytes(48 if 48 <= b <= 57 else 46 for b in range(256))
_MARKED_RUN = b"0" * _LONG_RUN


def plain_values(datas: list[Any]) -> list[Any] | None:
    """:func:`decode` of each of ``datas`` (None, a missing key's, stays None), checked once for
    all of them instead of once each: None unless they are all bytes without an envelope
    (no 0xFF byte anywhere) and without a run of 19 digits (then the caller decodes each).

    >>> plain_values([b'{"a":1}', None, b"text", b"12"])
    [{'a': 1}, None, 'text', 12]
    >>> plain_values([b"1" * 19]) is None
    True
    """
    try:
        joined = b"\n".join(filter(None, datas))  # b"\n": no run spans two values
    except TypeError:  # a str (decode_responses=True): each on its own
        return None
    if b"\xff" in joined or _MARKED_RUN in joined.translate(_DIGIT_MARKS):
        return None
    loads = orjson.loads
    out: list[Any] = []
    for data in datas:
        if data is None:
            out.append(None)
            continue
        try:
            out.append(loads(data))
        except orjson.JSONDecodeError:  # text from another client: _plain's fallback
            out.append(_text(data))
    return out


def _text(data: bytes) -> Any:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


class Codec:
    """Values to stored bytes for one role: plain JSON (or the bytes envelope), then, when
    configured, compressed above a size and sealed (AES-GCM) inside further envelopes.

    Plain values stay plain JSON text; reading peels whatever envelopes a value has, whatever
    the current settings (a value sealed with an old key opens with ROLEREDIS_ENCRYPTION_OLD_KEYS).

    >>> c = Codec(compression_threshold=64)
    >>> stored = c.encode("x" * 1000, "r:k")
    >>> len(stored) < 100, c.decode(stored, "r:k") == "x" * 1000
    (True, True)
    """

    __slots__ = ("_zstd", "compression_threshold", "encrypt", "keyring")

    def __init__(
        self,
        *,
        compression_threshold: int | None = None,
        compression: str = "auto",
        keyring: Keyring | None = None,
        encrypt: bool = False,
    ) -> None:
        self.compression_threshold = compression_threshold
        self.keyring = keyring
        self.encrypt = encrypt
        self._zstd: Any = None
        if compression in ("auto", "zstd"):
            try:
                import zstandard  # type: ignore[import-not-found,unused-ignore]

                self._zstd = zstandard
            except ImportError:
                if compression == "zstd":
                    from ..foundation.errors import ConfigError

                    raise ConfigError(
                        "serialization.compression is zstd but the zstandard package is not "
                        "installed: pip install zstandard, or use zlib"
                    ) from None

    def encode(self, value: Any, full_key: str, encrypt: bool | None = None) -> bytes:
        """Stored bytes for ``value`` under ``full_key`` (the key is bound into a seal)."""
        data = encode(value)
        threshold = self.compression_threshold
        if threshold is not None and len(data) > threshold:
            if self._zstd is not None:
                packed = _ZSTD_HEADER + self._zstd.ZstdCompressor().compress(data)
            else:
                packed = _ZLIB_HEADER + zlib.compress(data)
            if len(packed) < len(data):
                data = packed
        if self.encrypt if encrypt is None else encrypt:
            if self.keyring is None or not self.keyring.can_seal:
                from ..foundation.errors import ConfigError

                raise ConfigError(
                    "encryption was asked for but ROLEREDIS_ENCRYPTION_KEY is not set; set it "
                    "to a key from roleredis.core.crypto.generate_key()"
                )
            data = _SEALED_HEADER + self.keyring.seal(data, raw_key(full_key))
        return data

    def stored_floor(self, value: Any) -> int:
        """A lower bound of the stored size of ``value``, without encoding it: compression may
        shrink a value (then 0: nothing is known before compressing), sealing only grows it.

        >>> Codec().stored_floor("x" * 100), Codec(compression_threshold=64).stored_floor("x")
        (102, 0)
        """
        return 0 if self.compression_threshold is not None else size_floor(value)

    def decode(self, data: bytes, full_key: str) -> Any:
        """The value of stored ``data``; SerializationError if an envelope does not open."""
        if not data.startswith(ENVELOPE_MAGIC):  # JSON or text (most values): no envelope
            return _plain(data)
        header = data[:4]
        if header == _SEALED_HEADER:
            if self.keyring is None:
                raise SerializationError(
                    "the value is encrypted; set ROLEREDIS_ENCRYPTION_KEY (or "
                    "ROLEREDIS_ENCRYPTION_OLD_KEYS) to the key it was written with"
                )
            data = self.keyring.open(data[4:], raw_key(full_key))
            header = data[:4]
        try:
            if header == _ZLIB_HEADER:
                data = zlib.decompress(data[4:])
            elif header == _ZSTD_HEADER:
                if self._zstd is None:
                    raise SerializationError(
                        "the value is zstd-compressed; install zstandard to read it"
                    )
                data = self._zstd.ZstdDecompressor().decompress(data[4:])
        except (zlib.error, ValueError) as exc:
            raise SerializationError(f"the compressed value is damaged: {exc}") from None
        except Exception as exc:  # zstandard.ZstdError
            if type(exc).__module__.startswith("zstandard"):
                raise SerializationError(f"the compressed value is damaged: {exc}") from None
            raise
        return decode(data)
