"""Issue 8, item 13: a key another client wrote with bytes that are not UTF-8 is listed with
surrogate escapes ("bad\\udcff"); that listed name must read, expire-check and delete exactly
that key (sync, async, batch, and the command line), and nothing else."""

from __future__ import annotations

import asyncio

import pytest
import redis

import roleredis
from roleredis import aio
from roleredis.core import codec
from roleredis.core.store import RoleStore
from roleredis.foundation.keys import validate_key

from ..cli.conftest import Cli

pytestmark = pytest.mark.backends("redis", "memory")

RAW = b"weather:bad\xff\xfe key"
NEIGHBOUR = b"weather:bad\xef\xbf\xbd\xef\xbf\xbd key"  # the same name with U+FFFD: must survive


def _plant(raw: redis.Redis) -> str:
    raw.set(RAW, codec.encode({"from": "elsewhere"}))
    raw.set(NEIGHBOUR, codec.encode("replacement characters"))
    listed = RoleStore("weather").keys()
    (escaped,) = [key for key in listed if "\udcff" in key]
    assert escaped == "bad\udcff\udcfe key"
    return escaped


def test_a_listed_key_reads_and_deletes_as_listed(raw: redis.Redis) -> None:
    key = _plant(raw)
    store = RoleStore("weather")
    entry = store.read(key)
    assert entry.value == {"from": "elsewhere"} and entry.ttl == -1
    assert isinstance(entry.full_key, str) and entry.full_key == "weather:" + key
    assert store.exists(key) is True and store.ttl(key) == -1
    assert store.read_many([key]).values == {key: {"from": "elsewhere"}}

    result = roleredis.redis_read(key, role="weather")
    assert result["success"] is True and result["prefixed_key"] == "weather:" + key

    assert store.delete(key) is True
    assert raw.exists(RAW) == 0
    assert raw.get(NEIGHBOUR) is not None  # only that key went
    assert store.delete(key) is False


def test_writes_to_a_listed_name_land_on_the_same_bytes(raw: redis.Redis) -> None:
    key = _plant(raw)
    written = roleredis.redis_write(key, "new", role="weather", ttl=60)
    assert written["success"] is True and written["prefixed_key"] == "weather:" + key
    assert raw.get(RAW) == codec.encode("new")
    assert roleredis.redis_write_many({key: 1}, role="weather")["success"] is True
    assert raw.get(RAW) == codec.encode(1)
    assert sorted(raw.scan_iter(b"weather:*")) == sorted([RAW, NEIGHBOUR])


def test_async_reads_and_deletes_as_listed(raw: redis.Redis) -> None:
    key = _plant(raw)

    async def main() -> tuple[object, object, object]:
        store = aio.AsyncRoleStore("weather")
        try:
            value = (await store.read(key)).value
            many = (await store.read_many([key, "missing"])).values
            return value, many, await store.delete(key)
        finally:
            await aio.aclose()

    value, many, deleted = asyncio.run(main())
    assert value == {"from": "elsewhere"} and many == {key: {"from": "elsewhere"}}
    assert deleted is True and raw.exists(RAW) == 0 and raw.exists(NEIGHBOUR) == 1


@pytest.mark.real_server  # memory:// is per process: a command cannot see this test's data
def test_the_command_line_reads_and_deletes_the_listed_key(cli: Cli, raw: redis.Redis) -> None:
    key = _plant(raw)
    listed = cli("keys", "weather")
    assert listed.returncode == 0, listed
    assert "bad\\xff\\xfe key" in listed.lines, listed  # shown escaped, one line
    # argv is decoded with surrogateescape: the raw bytes on the command line are the key
    got = cli("get", "weather", key, "--json")
    assert got.returncode == 0 and got.json()["value"] == {"from": "elsewhere"}, got
    deleted = cli("del", "weather", key)
    assert deleted.returncode == 0 and deleted.lines == ["deleted weather:bad\\xff\\xfe key"]
    assert raw.exists(RAW) == 0 and raw.exists(NEIGHBOUR) == 1


@pytest.mark.parametrize("key", ["\ud800", "ok\udfff", "x\udc7f"])
def test_surrogates_that_stand_for_no_byte_are_still_refused(key: str) -> None:
    with pytest.raises(roleredis.InvalidArgumentError, match="surrogate"):
        validate_key(key)
