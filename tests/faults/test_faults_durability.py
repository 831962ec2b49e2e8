"""Issue 5, section 6: a server with appendonly yes is restarted; every acknowledged write stays.

Tried, on a server with ``appendonly yes`` (fsync always), in two rounds:
1. graceful: 300 ``redis_write`` (with and without TTL), one ``redis_write_many`` of 200,
   300 ``redis_write_async`` confirmed by ``redis_flush``, 50 ``RoleStore.write`` and 50
   ``roleredis.aio.redis_write``; then the server is restarted (SIGTERM, start again on the same
   port with the same data directory);
2. crash: the same again under new keys, and the server is SIGKILLed right after the last
   write returned success, then started again.
After each round the *same process* (its pool's connections died with the server) reads
everything back through roleredis.

Contract and what was lost: every write that returned success (or that a successful flush
covered) reads back with an equal value of the same type, and TTLs survive (a key written with
ttl 3600 still has one): zero lost, in both rounds. The first call after each restart succeeds
(a dead pooled connection is retried, not reported).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

import roleredis
from roleredis import aio
from roleredis.testing import RedisServer

from .test_faults_support import WriteConfig, own_server

ROLE = "durable"


@pytest.fixture
def durable(monkeypatch: pytest.MonkeyPatch, write_config: WriteConfig) -> Iterator[RedisServer]:
    yield from own_server(
        monkeypatch,
        write_config,
        {
            "connection": {"socket_connect_timeout": 2, "socket_timeout": 2},
            "async": {"drain_timeout": 2},
        },
        appendonly=True,
    )


def _value(tag: str, i: int) -> Any:
    kinds: list[Any] = [
        {"i": i, "tag": tag, "f": i / 7, "nested": [i, str(i), None, True]},
        f"{tag}-{i}",
        str(i),  # a str of digits stays a str
        i,
        i * 1.5,
        2**70 + i,
        [tag, i, {"x": [1.0]}],
        f"{tag}-{i}".encode(),
        None,
        False,
    ]
    return kinds[i % len(kinds)]


def _write_everything(tag: str) -> dict[str, Any]:
    """Every kind of write; returns key -> value of the ones that were acknowledged."""
    acknowledged: dict[str, Any] = {}
    for i in range(300):
        key, value = f"{tag}:w{i}", _value(tag, i)
        result = roleredis.redis_write(key, value, ttl=3600 if i % 2 else None, role=ROLE)
        assert result["success"] is True, result
        acknowledged[key] = value
    many = {f"{tag}:m{i}": _value(tag, i) for i in range(200)}
    result = roleredis.redis_write_many(many, role=ROLE)
    assert result["success"] is True, result
    acknowledged.update(many)
    queued = {f"{tag}:a{i}": _value(tag, i) for i in range(300)}
    for key, value in queued.items():
        assert roleredis.redis_write_async(key, value, role=ROLE)["success"] is True
    flushed = roleredis.redis_flush(timeout=10)
    assert flushed["success"] is True, flushed
    acknowledged.update(queued)
    store = roleredis.RoleStore(ROLE)
    for i in range(50):
        store.write(f"{tag}:s{i}", _value(tag, i))
        acknowledged[f"{tag}:s{i}"] = _value(tag, i)

    async def via_aio() -> None:
        for i in range(50):
            result = await aio.redis_write(f"{tag}:x{i}", _value(tag, i), role=ROLE)
            assert result["success"] is True, result
            acknowledged[f"{tag}:x{i}"] = _value(tag, i)

    asyncio.run(via_aio())
    return acknowledged


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _check_all(acknowledged: dict[str, Any], when: str) -> None:
    first = roleredis.redis_read(next(iter(acknowledged)), role=ROLE)
    assert first["success"] is True, f"{when}: the first call after the restart failed: {first}"
    got = roleredis.redis_read_many(list(acknowledged), role=ROLE)
    assert got["success"] is True, got
    missing = got["missing"]
    wrong = [
        (k, v, got["values"][k])
        for k, v in acknowledged.items()
        if k in got["values"] and not _same(v, got["values"][k])
    ]
    assert missing == [], f"{when}: {len(missing)} of {len(acknowledged)} lost, e.g. {missing[:5]}"
    assert wrong == [], f"{when}: {len(wrong)} came back different, e.g. {wrong[:3]}"
    with_ttl = roleredis.redis_read(next(k for k in acknowledged if k.endswith(":w1")), role=ROLE)
    assert 0 < with_ttl["ttl"] <= 3600, with_ttl
    without = roleredis.redis_read(next(k for k in acknowledged if k.endswith(":w0")), role=ROLE)
    assert without["ttl"] == -1, without


def test_appendonly_restart_keeps_every_acknowledged_write(durable: RedisServer) -> None:
    port = durable.port
    graceful = _write_everything("graceful")
    durable.restart()
    assert durable.port == port
    _check_all(graceful, "after a graceful restart")

    crash = _write_everything("crash")
    durable.kill()
    durable.start()
    assert durable.port == port
    _check_all(crash, "after SIGKILL and start")
    _check_all(graceful, "after SIGKILL and start (the first round)")
    assert roleredis.redis_get_keys("*", role=ROLE)["count"] == len(graceful) + len(crash)
    print(f"appendonly restarts: {len(graceful)} + {len(crash)} acknowledged writes, lost: 0")
