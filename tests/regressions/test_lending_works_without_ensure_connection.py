"""redis-py 8.1 (the lowest version roleredis allows) has no
``ConnectionPool.ensure_connection``: the lean checkout called it for every connection not on
a plain socket (fakeredis's, TLS), and every call on the embedded backend failed with an
AttributeError in the floor CI run. Without it, such a connection goes through the pool's
whole checkout."""

from __future__ import annotations

import sys
from typing import Any

import pytest
import redis

from roleredis import redis_read, redis_write, reset
from roleredis.foundation import internals

pytestmark = pytest.mark.backends("memory")


def test_calls_on_the_embedded_backend_without_ensure_connection(
    roleredis_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure = redis.ConnectionPool.ensure_connection

    def as_on_8_1(pool: Any, conn: Any) -> None:
        if sys._getframe(1).f_code is internals.lend.__code__:  # redis-py's own calls work
            raise AttributeError("'BlockingConnectionPool' has no attribute 'ensure_connection'")
        ensure(pool, conn)

    monkeypatch.setattr(redis.ConnectionPool, "ensure_connection", as_on_8_1)
    monkeypatch.setattr(internals, "_ENSURES", False, raising=False)  # as imported with 8.1
    reset()
    for i in range(3):  # the second and third reuse the connection the first made
        assert redis_write(f"k{i}", {"n": i}, role="w")["success"] is True
        assert redis_read(f"k{i}", role="w")["value"] == {"n": i}
