"""Issue 8, item 10: key names print escaped on the command line: a key "x\\r\\nGET beta:x"
is one line, not two; a backslash is escaped too, so the output is unambiguous. --json stays
the exact key."""

from __future__ import annotations

import redis

from ..cli.conftest import Cli

KEYS = {
    "x\r\nGET beta:x": "x\\r\\nGET beta:x",
    "bell\x07\x1b[31m": "bell\\x07\\x1b[31m",
    "back\\nslash": "back\\\\nslash",  # a real backslash: not the same as a newline
    "del\x7f": "del\\x7f",
    "c1\x85": "c1\\u0085",
    "bidi\u202eevil": "bidi\\u202eevil",
    "plain é": "plain é",
}


def test_keys_and_written_lines_are_escaped(cli: Cli, raw: redis.Redis) -> None:
    raw.set(b"weather:bytes\xff", b"1")
    for key in KEYS:
        written = cli("set", "weather", key, "1")
        assert written.returncode == 0, written
        assert written.lines == [f"wrote weather:{KEYS[key]} (JSON number, no expiry)"]
    listed = cli("keys", "weather")
    assert listed.returncode == 0, listed
    assert sorted(listed.lines) == sorted([*KEYS.values(), "bytes\\xff"])
    deleted = cli("del", "weather", "x\r\nGET beta:x")
    assert deleted.lines == ["deleted weather:x\\r\\nGET beta:x"], deleted


def test_json_keeps_the_exact_key(cli: Cli) -> None:
    for key in KEYS:
        assert cli("set", "weather", key, "1").returncode == 0
    listed = cli("keys", "weather", "--json")
    assert sorted(listed.json()["keys"]) == sorted(KEYS)
