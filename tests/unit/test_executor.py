"""roleredis.transport.executor: how batches reach Redis, and the one place where retries live."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any
from unittest.mock import Mock

import hiredis
import pytest
import redis
import redis.exceptions as rex

from roleredis.core import ops
from roleredis.foundation import errors
from roleredis.foundation.keys import Keyspace
from roleredis.transport import executor
from roleredis.transport.executor import SyncExecutor, drive, roundtrip


class FakeClient:
    """A client that is not a redis.Redis: the executor calls its methods one by one."""

    def __init__(self, failures: list[BaseException] | None = None) -> None:
        self.failures = list(failures or [])
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.attempts = 0

    def __getattr__(self, name: str) -> Any:
        def method(*args: Any) -> Any:
            self.attempts += 1
            if self.failures:
                raise self.failures.pop(0)
            self.calls.append((name, args))
            return {"get": b'"v"', "ttl": 9, "set": True}.get(name, 1)

        return method


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(executor.time, "sleep", slept.append)
    return slept


def _scope() -> ops.Scope:
    return ops.Scope(Keyspace("weather"))


def test_plain_client_gets_method_calls(sleeps: list[float]) -> None:
    client = FakeClient()
    run = SyncExecutor(client)
    entry = drive(ops.read(_scope(), "k"), run)
    assert entry.value == "v" and entry.ttl == 9
    assert client.calls == [("get", ("weather:k",)), ("ttl", ("weather:k",))]
    assert sleeps == []


def test_redis_client_takes_the_fast_path_others_do_not() -> None:
    client = redis.Redis(host="127.0.0.1", port=1)  # opens nothing
    try:
        assert SyncExecutor(client).native is True
    finally:
        client.close()
    assert SyncExecutor(FakeClient()).native is False
    # a Mock made with spec=redis.Redis passes isinstance, yet has no pool to pack commands on
    assert SyncExecutor(Mock(spec=redis.Redis)).native is False


def test_connection_failure_is_retried(sleeps: list[float]) -> None:
    client = FakeClient([rex.ConnectionError("refused")])
    run = SyncExecutor(client, budget=5.0)
    assert run([("set", ("weather:k", b"1"))]) == [True]
    assert client.attempts == 2
    assert len(sleeps) == 1


def test_connection_failure_gives_up_after_the_backoff(sleeps: list[float]) -> None:
    client = FakeClient([rex.ConnectionError("refused")] * 100)
    with pytest.raises(errors.ConnectionFailedError) as info:
        SyncExecutor(client, budget=60.0)([("get", ("k",))])
    assert client.attempts == 1 + len(executor._BACKOFF)
    # exponential backoff with jitter: each delay is between half and all of its step
    assert len(sleeps) == len(executor._BACKOFF)
    for slept, step in zip(sleeps, executor._BACKOFF, strict=True):
        assert step / 2 <= slept <= step
    assert isinstance(info.value.__cause__, rex.ConnectionError)


def test_retries_stay_within_the_budget(sleeps: list[float]) -> None:
    client = FakeClient([rex.ConnectionError("refused")] * 100)
    with pytest.raises(errors.ConnectionFailedError):
        SyncExecutor(client, budget=0.01)([("get", ("k",))])
    assert client.attempts == 1  # the first delay would already exceed the budget
    assert sum(sleeps) < 0.01


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (rex.TimeoutError("Timeout reading from socket"), errors.TimeoutError),
        (rex.AuthenticationError("invalid password"), errors.PermissionDeniedError),
        (rex.ConnectionError("No connection available."), errors.OverloadedError),
        (rex.ResponseError("WRONGTYPE Operation against a key"), errors.SerializationError),
        (rex.ResponseError("OOM command not allowed"), errors.OverloadedError),
        (RuntimeError("bug"), errors.InternalError),
    ],
)
def test_not_retried(sleeps: list[float], exc: BaseException, error: type) -> None:
    client = FakeClient([exc, exc, exc])
    with pytest.raises(error):
        SyncExecutor(client, budget=60.0)([("get", ("k",))])
    assert client.attempts == 1
    assert sleeps == []


def test_retryable() -> None:
    assert executor.retryable(rex.ConnectionError("refused"))
    assert not executor.retryable(rex.AuthenticationError("no"))
    assert not executor.retryable(rex.TimeoutError("slow"))
    assert not executor.retryable(rex.ConnectionError("No connection available."))
    assert not executor.retryable(ValueError())


# --------------------------------------------------------------------------- roundtrip


class FakeConn:
    def __init__(self, sock: socket.socket | None) -> None:
        self._sock = sock
        self.connected = 0

    def connect(self) -> None:
        raise AssertionError("already connected")


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(2)
    b.settimeout(2)
    yield a, b
    a.close()
    b.close()


def _serve(
    peer: socket.socket, expect: bytes, chunks: list[bytes], close: bool = False
) -> threading.Thread:
    got = bytearray()

    def run() -> None:
        while len(got) < len(expect):
            data = peer.recv(65536)
            if not data:
                return
            got.extend(data)
        for chunk in chunks:
            peer.sendall(chunk)
        if close:
            peer.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, daemon=True)
    thread.got = got  # type: ignore[attr-defined]
    thread.start()
    return thread


def test_roundtrip_sends_one_write_and_reads_every_reply(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    mine, peer = pair
    commands = [("SET", "k", b"v", "EX", 60), ("GET", "k"), ("TTL", "k")]
    packed = b"".join(hiredis.pack_command(c) for c in commands)
    # replies split at awkward places: the reader must reassemble them
    thread = _serve(peer, packed, [b"+O", b"K\r\n$1\r", b"\nv\r\n:6", b"0\r\n"])
    replies = roundtrip(FakeConn(mine), commands)
    thread.join(2)
    assert bytes(thread.got) == packed  # type: ignore[attr-defined]
    assert replies == [b"OK", b"v", 60]


def test_roundtrip_error_reply_stays_in_the_list(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    mine, peer = pair
    commands = [("GET", "k"), ("GET", "j")]
    packed = b"".join(hiredis.pack_command(c) for c in commands)
    _serve(peer, packed, [b"-WRONGTYPE Operation against a key\r\n$-1\r\n"])
    replies = roundtrip(FakeConn(mine), commands)
    assert isinstance(replies[0], hiredis.ReplyError)
    assert "WRONGTYPE" in str(replies[0])
    assert replies[1] is None


def test_roundtrip_connection_closed_midway(pair: tuple[socket.socket, socket.socket]) -> None:
    mine, peer = pair
    commands = [("GET", "k"), ("GET", "j")]
    packed = b"".join(hiredis.pack_command(c) for c in commands)
    _serve(peer, packed, [b"$1\r\nv\r\n"], close=True)
    with pytest.raises(rex.ConnectionError):
        roundtrip(FakeConn(mine), commands)


def test_roundtrip_timeout(pair: tuple[socket.socket, socket.socket]) -> None:
    mine, _peer = pair
    mine.settimeout(0.05)
    with pytest.raises(rex.TimeoutError):
        roundtrip(FakeConn(mine), [("GET", "k")])


def test_runs_of_plain_sets_are_merged_and_their_reply_spread() -> None:
    from roleredis.foundation.batch import lenient
    from roleredis.transport.cluster import ClusterRoute
    from roleredis.transport.connection import Route
    from roleredis.transport.merging import merged_sets, spread

    sets = [("set", (f"k{i}", b"1")) for i in range(5)]
    batch = [("zadd", ("i", 1, "a")), *sets, ("set", ("t", b"1", 60)), ("wait", (1, 10))]
    calls, runs = merged_sets(batch, Route(None))
    assert calls == [
        ("zadd", ("i", 1, "a")),
        ("mset", ("k0", b"1", "k1", b"1", "k2", b"1", "k3", b"1", "k4", b"1")),
        ("set", ("t", b"1", 60)),
        ("wait", (1, 10)),
    ]
    assert runs == [1, 5, 1, 1]
    assert spread([1, True, True, 2], runs) == [1, True, True, True, True, True, True, 2]
    # a short run, a lenient SET (its error is its reply), a Cluster: nothing merged
    short = [*sets[:3], ("get", ("k",))]
    assert merged_sets(short, Route(None)) == (short, None)
    lenient_sets = [lenient("set", *args) for _, args in sets]
    assert merged_sets(lenient_sets, Route(None))[1] is None
    assert merged_sets(sets, ClusterRoute.__new__(ClusterRoute))[1] is None


class _Sock:
    """A socket that answers every send with ``answer``."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def sendall(self, data: bytes) -> None:
        pass

    def recv(self, size: int) -> bytes:
        return self.answer


def test_a_reader_left_with_bytes_is_not_reused() -> None:
    from roleredis.transport import executor as ex

    ex._READERS.clear()
    assert ex._exchange(_Sock(b"+OK\r\n"), [("PING",)]) == [b"OK"]
    assert len(ex._READERS) == 1  # clean: kept for the next exchange
    kept = ex._READERS[0]
    # one reply more than asked for: its reader must not carry it into another exchange
    assert ex._exchange(_Sock(b"+OK\r\n+STRAY\r\n"), [("PING",)]) == [b"OK"]
    assert ex._READERS == []
    assert ex._exchange(_Sock(b"+PONG\r\n"), [("PING",)]) == [b"PONG"]
    assert ex._READERS and ex._READERS[0] is not kept
