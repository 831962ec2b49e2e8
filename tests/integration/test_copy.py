"""Issue 11 §5: `roleredis copy` moves roles' keys of every type with their TTLs between
deployments, standalone -> Cluster (co-located layout {role}:k) -> standalone, byte for byte;
existing keys are skipped unless --replace (so a second run copies nothing); the source is
untouched; a sealed value still opens after its key changed layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis.admin import transfer
from roleredis.core import ops
from roleredis.core.codec import Codec
from roleredis.core.crypto import Keyring, generate_key
from roleredis.foundation.config import Settings, load_settings
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer
from roleredis.testing.cluster import RedisClusterProcesses

KEY = generate_key()


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses() as started:
        yield started


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisServer, RedisServer]]:
    with RedisServer() as first, RedisServer() as second:
        yield first, second


def _settings(url: str) -> Settings:
    return load_settings(environ={"REDIS_URL": url}, read_file=False)


def _fill(client: redis.Redis) -> None:
    """One key of every type for role weather (some with a TTL), two for timer, and one key
    that is no role's."""
    client.set("weather:string", b"\x00\xffbytes", ex=600)
    client.hset("weather:hash", mapping={"a": "1", "b": "2"})
    client.rpush("weather:list", "x", "y", "x")
    client.sadd("weather:set", "p", "q")
    client.zadd("weather:zset", {"m": 1.5, "n": -2})
    client.expire("weather:zset", 900)
    client.xadd("weather:stream", {"f": "v"}, id="1-1")
    client.xadd("weather:stream", {"f": "w"}, id="2-1")
    client.set("timer:a", "1")
    client.set("timer:b", "2", px=300_000)
    client.set("plain", "not a role's")
    sealed = Codec(keyring=Keyring(KEY), encrypt=True).encode({"token": "s3cret"}, "weather:sealed")
    client.set("weather:sealed", sealed)


def _content(client: Any, key: bytes) -> Any:
    """The exact value of ``key`` by its type (DUMP's bytes are not comparable for a set or a
    hash in a hash table: their order depends on the table's history)."""
    kind = client.type(key)
    read = {
        b"string": lambda: client.get(key),
        b"hash": lambda: client.hgetall(key),
        b"list": lambda: client.lrange(key, 0, -1),
        b"set": lambda: client.smembers(key),
        b"zset": lambda: client.zrange(key, 0, -1, withscores=True),
        b"stream": lambda: client.xrange(key),
        b"none": lambda: None,
    }[kind]
    return kind, read()


def _snapshot(client: Any, keys: list[bytes]) -> dict[bytes, tuple[Any, int]]:
    """The exact value and the remaining TTL, in seconds, of each key."""
    return {key: (_content(client, key), _seconds(client.pttl(key))) for key in keys}


def _seconds(pttl: int) -> int:
    return pttl if pttl < 0 else round(pttl / 1000)


def _read_sealed(client: Any, hash_tag: bool) -> Any:
    """ops.read of the sealed value, driven on ``client`` as the runners drive it."""
    scope = ops.Scope(
        Keyspace("weather", hash_tag=hash_tag), codec=Codec(keyring=Keyring(KEY), encrypt=True)
    )
    op = ops.read(scope, "sealed")
    calls = next(op)
    try:
        op.send([getattr(client, name)(*args) for name, args in calls])
    except StopIteration as done:
        return done.value.value
    raise AssertionError("read asked for more")


WEATHER = [b"string", b"hash", b"list", b"set", b"zset", b"stream", b"sealed"]


def test_round_trip_standalone_cluster_standalone(
    cluster: RedisClusterProcesses, servers: tuple[RedisServer, RedisServer]
) -> None:
    first, second = servers
    source = first.client()
    grid = cluster.client()
    back = second.client()
    try:
        _fill(source)
        keys = [b"weather:" + k for k in WEATHER] + [b"timer:a", b"timer:b", b"plain"]
        before = _snapshot(source, keys)
        taken = time.monotonic()

        progressed: list[int] = []
        totals: list[int] = []
        report = transfer.copy(
            _settings(first.url),
            _settings(cluster.url),
            progress=progressed.append,
            total=totals.append,
        )
        assert (report.copied, report.skipped, report.failed) == (9, 0, 0), report
        assert report.roles == {
            "timer": {"copied": 2, "skipped": 0, "failed": 0},
            "weather": {"copied": 7, "skipped": 0, "failed": 0},
        }
        assert totals == [10] and sum(progressed) >= 9
        assert _snapshot(source, keys) == before  # the source is untouched

        # at the cluster: the co-located layout, the same bytes and TTLs
        moved = {b"{weather}:" + k: b"weather:" + k for k in WEATHER}
        moved |= {b"{timer}:a": b"timer:a", b"{timer}:b": b"timer:b"}
        there = _snapshot(grid, list(moved))
        for new, old in moved.items():
            assert there[new][0] == before[old][0], new
            assert abs(there[new][1] - before[old][1]) <= 1, (new, there[new], before[old])
        assert grid.exists("plain", "weather:string") == 0
        assert grid.xrange("{weather}:stream") == [
            (b"1-1", {b"f": b"v"}),
            (b"2-1", {b"f": b"w"}),
        ]
        assert grid.zrange("{weather}:zset", 0, -1, withscores=True) == [(b"n", -2), (b"m", 1.5)]
        # the sealed value opens under its new physical key, read as the tools read it
        assert _read_sealed(grid, hash_tag=True) == {"token": "s3cret"}

        # a second run copies nothing and skips everything
        again = transfer.copy(_settings(first.url), _settings(cluster.url))
        assert (again.copied, again.skipped, again.failed) == (0, 9, 0)

        # a changed key at the target is kept ... unless --replace
        grid.set("{weather}:string", b"changed")
        kept = transfer.copy(_settings(first.url), _settings(cluster.url), ["weather"])
        assert (kept.copied, kept.skipped) == (0, 7) and set(kept.roles) == {"weather"}
        assert grid.get("{weather}:string") == b"changed"
        replaced = transfer.copy(
            _settings(first.url), _settings(cluster.url), ["weather"], replace=True
        )
        assert (replaced.copied, replaced.skipped) == (7, 0)
        assert _content(grid, b"{weather}:string") == before[b"weather:string"][0]
        assert 598 <= grid.ttl("{weather}:string") <= 600

        # and back to a standalone server, by the command line
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
        env["REDIS_URL"] = second.url
        cli = [sys.executable, "-m", "roleredis", "copy", "--from", cluster.url, "--to", second.url]
        done = subprocess.run(
            [*cli, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        counts = json.loads(done.stdout)
        assert (counts["copied"], counts["skipped"], counts["failed"]) == (9, 0, 0)
        home = _snapshot(back, [k for k in keys if k != b"plain"])
        for key, (data, ttl) in home.items():
            assert data == before[key][0], key
            # kept within a second, besides the time this test has taken since
            slack = 1 + round(time.monotonic() - taken)
            assert before[key][1] - slack <= ttl <= before[key][1], (key, ttl, before[key])
        assert back.exists("plain") == 0
        assert _read_sealed(back, hash_tag=False) == {"token": "s3cret"}

        rerun = subprocess.run(
            [*cli, "--role", "timer"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr
        assert "timer: 0 copied, 2 skipped, 0 failed" in rerun.stdout
        assert "copied 0 keys, skipped 2" in rerun.stdout
    finally:
        for client in (source, grid, back):
            client.close()


def test_values_sealed_today_still_open() -> None:
    """The binding is the key as the role names it: in the plain layout that is the physical
    key, as it was, so values sealed before this change open unchanged."""
    codec = Codec(keyring=Keyring(KEY), encrypt=True)
    old = codec.encode("v", "weather:k")  # how a value was sealed: bound to the physical key
    plain = ops.Scope(Keyspace("weather"), codec=codec)
    tagged = ops.Scope(Keyspace("weather", hash_tag=True), codec=codec)
    assert plain.binding("weather:k") == "weather:k"
    assert tagged.binding("{weather}:k") == "weather:k"
    assert codec.decode(old, tagged.binding("{weather}:k")) == "v"
    assert codec.decode(old, plain.binding("weather:k")) == "v"


def test_split_and_target_keys() -> None:
    assert transfer.split_key(b"{weather}:a:b", hash_tag=True) == ("weather", b"a:b")
    assert transfer.split_key(b"{weather}:a:b") is None  # not the layout of one server
    assert transfer.split_key(b"weather:a:b", hash_tag=True) is None
    assert transfer.kind_of(b"__roleredis__:{weather}:index") is None
    assert transfer.split_key(b"{bad role}:k", hash_tag=True) is None
    assert transfer.target_key(_settings("redis://127.0.0.1:1/0"), "w", b"k") == b"w:k"


def test_copy_carries_fence_counters_and_never_lowers_them(
    servers: tuple[RedisServer, RedisServer],
) -> None:
    """Issue 22, item 3: the fence counters go with a copy, merged field by field into the
    target's, keeping the higher (with --replace too): a copy never lets a fence repeat."""
    source, target = servers
    fences = Keyspace("reports").fences()
    src, dst = source.client(), target.client()
    try:
        for client in (src, dst):
            client.flushdb()
        src.hset(fences, mapping={"nightly": 41, "hourly": 3})
        src.set(Keyspace("reports").lease("nightly"), "tok 41", px=60_000)
        dst.hset(fences, mapping={"hourly": 9})
        for replace in (False, True):
            report = transfer.copy(
                _settings(source.url), _settings(target.url), ["reports"], replace=replace
            )
            assert not report.errors
            assert dst.hgetall(fences) == {b"nightly": b"41", b"hourly": b"9"}
            assert dst.ttl(fences) == -1
        assert dst.get(Keyspace("reports").lease("nightly")) == b"tok 41"
        assert 0 < dst.pttl(Keyspace("reports").lease("nightly")) <= 60_000
    finally:
        for client in (src, dst):
            client.flushdb()
            client.close()
