"""The private attributes roleredis relies on (roleredis.internals), checked against the
installed redis-py and Python. When one of these fails after an upgrade, the dependency changed
what roleredis.internals reads: fix that one function, nothing else."""

from __future__ import annotations

import asyncio
import queue
import select
import socket
import threading
from typing import Any

import pytest
import redis
import redis.asyncio

from roleredis.foundation import internals
from roleredis.testing import RedisServer
from roleredis.transport.fairqueue import FairQueue


def test_a_sync_connection_exposes_its_socket(redis_server: RedisServer) -> None:
    pool = redis.ConnectionPool(host=redis_server.host, port=redis_server.port)
    conn = pool.get_connection()
    try:
        assert conn._sock is None or isinstance(conn._sock, socket.socket)
        sock = internals.connected_socket(conn)
        assert isinstance(sock, socket.socket)
        assert internals.is_plain_socket(sock)
        assert sock is conn._sock
        sock.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert conn.read_response() in (b"PONG", "PONG")
    finally:
        pool.release(conn)
        pool.disconnect()


def test_shut_down_wakes_a_thread_blocked_reading_the_socket(redis_server: RedisServer) -> None:
    pool = redis.ConnectionPool(host=redis_server.host, port=redis_server.port)
    conn = pool.get_connection()
    got: list[bytes] = []
    try:
        sock = internals.connected_socket(conn)
        reader = threading.Thread(target=lambda: got.append(sock.recv(10)))
        reader.start()  # nothing was sent: it waits until the socket is shut down
        internals.shut_down(conn)
        reader.join(5)
        assert not reader.is_alive() and got == [b""]
        internals.shut_down(None)  # no connection, or no socket: nothing to do
    finally:
        conn.disconnect()
        pool.release(conn)
        pool.disconnect()


# roleredis's sync pools take FairQueue through redis-py's public queue_class parameter
QUEUES = pytest.mark.parametrize("queue_class", [queue.LifoQueue, FairQueue])


@QUEUES
def test_a_blocking_pool_reports_lent_and_idle_connections(
    redis_server: RedisServer, queue_class: type[queue.LifoQueue[Any]]
) -> None:
    pool = redis.BlockingConnectionPool(
        host=redis_server.host, port=redis_server.port, max_connections=4, queue_class=queue_class
    )
    try:
        assert internals.pool_counts(pool) == (0, 0)
        first, second = pool.get_connection(), pool.get_connection()
        assert internals.pool_counts(pool) == (2, 0)
        pool.release(first)
        assert internals.pool_counts(pool) == (1, 1)
        pool.release(second)
        assert internals.pool_counts(pool) == (0, 2)
    finally:
        pool.disconnect()


def test_an_asyncio_pool_reports_lent_and_idle_connections(redis_server: RedisServer) -> None:
    async def main() -> None:
        pool = redis.asyncio.ConnectionPool(host=redis_server.host, port=redis_server.port)
        try:
            assert internals.pool_counts(pool) == (0, 0)
            conn = await pool.get_connection()
            assert internals.pool_counts(pool) == (1, 0)
            await pool.release(conn)
            assert internals.pool_counts(pool) == (0, 1)
        finally:
            await pool.disconnect()

    asyncio.run(main())


def test_running_loop_is_none_outside_a_loop_and_the_loop_inside() -> None:
    assert internals.running_loop() is None

    async def main() -> bool:
        return internals.running_loop() is asyncio.get_running_loop()

    assert asyncio.run(main()) is True


def _small_pool(
    server: RedisServer, queue_class: type[queue.LifoQueue[Any]], size: int
) -> redis.BlockingConnectionPool:
    """A blocking pool of ``size`` connections that gives up waiting for one after 50 ms."""
    return redis.BlockingConnectionPool(
        host=server.host,
        port=server.port,
        max_connections=size,
        timeout=0.05,
        queue_class=queue_class,
    )


@QUEUES
def test_an_exhausted_blocking_pool_is_told_by_type(
    redis_server: RedisServer, queue_class: type[queue.LifoQueue[Any]]
) -> None:
    # redis-py says "no connection came free" only in an untyped ConnectionError's text;
    # internals.check_out is the one place that reads it and raises PoolExhausted instead
    pool = _small_pool(redis_server, queue_class, 1)
    held = pool.get_connection()
    try:
        try:
            internals.check_out(pool)
        except internals.PoolExhausted as exc:
            assert isinstance(exc, redis.ConnectionError)
            assert internals.pool_exhausted(exc)
        else:
            raise AssertionError("a second connection was lent from a pool of one")
    finally:
        pool.release(held)
        pool.disconnect()


def test_a_connected_asyncio_connection_exposes_its_stream_writer(
    redis_server: RedisServer,
) -> None:
    async def main() -> None:
        pool = redis.asyncio.ConnectionPool(host=redis_server.host, port=redis_server.port)
        conn = pool.make_connection()
        assert internals.stream_writer(conn) is None  # not connected yet
        await conn.connect()
        try:
            writer = internals.stream_writer(conn)
            assert isinstance(writer, asyncio.StreamWriter)
            writer.write(b"*1\r\n$4\r\nPING\r\n")
            await writer.drain()
            assert await conn.read_response() in (b"PONG", "PONG")
        finally:
            await conn.disconnect()
            await pool.disconnect()

    asyncio.run(main())


@QUEUES
def test_lend_and_give_back_keep_the_pools_books(
    redis_server: RedisServer, queue_class: type[queue.LifoQueue[Any]]
) -> None:
    # lend takes from the pool's queue (pool.pool), makes a connection in a free slot
    # (make_connection) and checks pool.pid / conn.pid as get_connection does: the counts the
    # health check reports stay right, and an exhausted pool is told by type
    pool = _small_pool(redis_server, queue_class, 2)
    try:
        first = internals.lend(pool)
        second = internals.lend(pool)
        assert internals.pool_counts(pool) == (2, 0)
        assert isinstance(internals.connected_socket(first), socket.socket)
        with pytest.raises(internals.PoolExhausted):
            internals.lend(pool)
        internals.give_back(pool, first)
        assert internals.pool_counts(pool) == (1, 1)
        assert internals.lend(pool) is first  # the idle one, not a new one
        internals.give_back(pool, first)
        internals.give_back(pool, second)
        assert internals.pool_counts(pool) == (0, 2)
    finally:
        pool.disconnect()


def test_lend_reconnects_a_connection_the_server_closed_while_idle(
    redis_server: RedisServer,
) -> None:
    # without the readability check, the next send on it would be taken for the server
    # closing the connection on purpose (see roleredis.transport.retry)
    pool = redis.BlockingConnectionPool(
        host=redis_server.host, port=redis_server.port, queue_class=FairQueue
    )
    admin = redis.Redis(host=redis_server.host, port=redis_server.port)
    try:
        conn = internals.lend(pool)
        sock = internals.connected_socket(conn)
        sock.sendall(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        client_id = conn.read_response()
        internals.give_back(pool, conn)
        assert admin.client_kill_filter(_id=client_id) == 1
        for _ in range(100):  # the server's close reaches the socket
            if conn._sock is not None and not select.select((conn._sock,), (), (), 0.01)[0]:
                continue
            break
        again = internals.lend(pool)
        assert again is conn
        fresh = internals.connected_socket(again)
        assert fresh is not sock
        fresh.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert again.read_response() in (b"PONG", "PONG")
        internals.give_back(pool, again)
    finally:
        admin.close()
        pool.disconnect()


def test_lend_takes_the_pools_own_way_for_any_other_pool(redis_server: RedisServer) -> None:
    pool = redis.ConnectionPool(host=redis_server.host, port=redis_server.port)
    try:
        conn = internals.lend(pool)
        assert internals.pool_counts(pool) == (1, 0)
        internals.give_back(pool, conn)
        assert internals.pool_counts(pool) == (0, 1)
    finally:
        pool.disconnect()
