"""Where a single call's time goes (issue 26, item 3): the calling thread's CPU time
(``time.thread_time``) per redis_write and per redis_read, layer by layer, each layer called
on its own so that each row includes the ones above it:

1. the hand-written round trip on a held socket (hiredis pack, sendall, recv, hiredis Reader):
   the floor;
2. roleredis's exchange on a held connection (``executor.roundtrip``);
3. plus the checkout and return of a pooled connection (``executor.send_packed``);
4. plus the runner: breaker, ``to_wire``, reply callbacks (``RoleStore.send_batch``);
5. plus the operation: key, TTL and exactness checks, encoding or decoding, the generator
   (``RoleStore.write`` / ``read``);
6. plus the call: role, store, metrics, tracing gate, the result dict (the tool). With
   ``role=`` given the tool takes the sync lane (:mod:`roleredis.table.synclane`), which runs
   the operation's steps without its generator and the store method: this row may come out
   at or below the one above it.

Run it pinned (``taskset -c 0 roleredis bench --profile``): CPU time is what the library
spends; wall time on a shared machine is mostly the scheduler's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import hiredis

from .limits import pack
from .report import Row

__all__ = ["profile_rows"]


def _cpu(fn: Callable[[], Any], n: int) -> float:
    """The calling thread's CPU microseconds per call of ``fn`` over ``n`` calls."""
    for _ in range(min(500, n)):
        fn()
    started = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - started) / n * 1e6


def profile_rows(value: Any, *, calls: int = 20_000) -> list[Row]:
    """The layers of one redis_write and one redis_read (role "bench", key ``s1``) against the
    server roleredis points at, in CPU us per call."""
    import roleredis
    from roleredis import runtime

    from ..core import codec, ops
    from ..foundation.internals import connected_socket
    from ..table import metrics
    from ..transport.executor import roundtrip, send_packed

    roleredis.redis_write("s1", value, role="bench")
    client = runtime.sync_client()
    pool = client.connection_pool
    store = roleredis.tools.role_store("bench")
    data = codec.encode(value)
    key = store.full_key("s1")
    set_call: tuple[Any, ...] = ("SET", key, data)
    read_calls: list[tuple[Any, ...]] = [("GET", key), ("TTL", key)]
    conn = pool.get_connection()
    try:
        sock = connected_socket(conn)
        reader = hiredis.Reader()

        def hand(packed: bytes, replies: int) -> Callable[[], None]:
            def run() -> None:
                sock.sendall(packed)
                got = 0
                while got < replies:
                    if reader.gets() is False:
                        reader.feed(sock.recv(1 << 16))
                    else:
                        got += 1

            return run

        write_layers = [
            ("hand: pack, sendall, recv, parse", hand(pack(set_call), 1)),
            ("roundtrip on a held connection", lambda: roundtrip(conn, [set_call])),
        ]
        read_packed = b"".join(pack(c) for c in read_calls)
        read_layers = [
            ("hand: pack, sendall, recv, parse", hand(read_packed, 2)),
            ("roundtrip on a held connection", lambda: roundtrip(conn, read_calls)),
        ]
        figures = [(f"write: {name}", _cpu(fn, calls)) for name, fn in write_layers]
        figures += [(f"read: {name}", _cpu(fn, calls)) for name, fn in read_layers]
    finally:
        pool.release(conn)
    scope = store.scope
    figures += [
        ("write: + checkout and return", _cpu(lambda: send_packed(client, [set_call]), calls)),
        (
            "write: + runner (breaker, to_wire, callbacks)",
            _cpu(lambda: store.send_batch([("set", (key, data))]), calls),
        ),
        (
            "write: + operation (checks, encoding, generator)",
            _cpu(lambda: store.write("s1", value), calls),
        ),
        (
            "write: + call (role, store, metrics, result): redis_write",
            _cpu(lambda: roleredis.redis_write("s1", value, role="bench"), calls),
        ),
        ("read: + checkout and return", _cpu(lambda: send_packed(client, read_calls), calls)),
        (
            "read: + runner (breaker, to_wire, callbacks)",
            _cpu(lambda: store.send_batch([("get", (key,)), ("ttl", (key,))]), calls),
        ),
        (
            "read: + operation (checks, decoding, generator)",
            _cpu(lambda: store.read("s1"), calls),
        ),
        (
            "read: + call (role, store, metrics, result): redis_read",
            _cpu(lambda: roleredis.redis_read("s1", role="bench"), calls),
        ),
        (
            "alone: prepare_write (key, TTL, exactness, encoding)",
            _cpu(lambda: ops.prepare_write(scope, "s1", value, None), calls * 5),
        ),
        ("alone: codec.encode", _cpu(lambda: codec.encode(value), calls * 5)),
        ("alone: codec.decode", _cpu(lambda: codec.decode(data), calls * 5)),
        (
            "alone: role and store look-up",
            _cpu(lambda: roleredis.tools.role_store("bench"), calls * 5),
        ),
        (
            "alone: metrics.record",
            _cpu(lambda: metrics.record("write", "bench", 1e-5), calls * 5),
        ),
    ]
    return [
        Row(f"profile, CPU per call: {name}", us, None, "measured", "us/call")
        for name, us in figures
    ]
