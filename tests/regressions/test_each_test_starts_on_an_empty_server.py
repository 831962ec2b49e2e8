"""A test that writes to the session's servers without the ``roleredis_env`` fixture (through a
delay proxy, say: test_many's round-trip test left 500 ``w:k*`` keys with a TTL of 60 s) must
not leave its keys to the next test: test_index's listing, run next on the same worker, found
them (``['k0', 'k1', ...] != ['m1', 'm2', 'q', 't']``), and a cluster test counted 501 keys
for 500. Every test that takes the fixture starts on empty servers (FLUSHDB before as well as
after). The tests of this file run in order on one worker (``--dist loadfile``)."""

from __future__ import annotations

import pytest
import redis

from roleredis.testing import RedisServer
from roleredis.testing.cluster import RedisClusterProcesses


def test_a_test_leaves_keys_without_the_fixture(
    redis_server: RedisServer, redis_cluster: RedisClusterProcesses
) -> None:
    direct = redis_server.client()
    try:
        direct.set("w:left-behind", 1, ex=60)
    finally:
        direct.close()
    cluster = redis_cluster.client()
    try:
        cluster.set("{w}:left-behind", 1, ex=60)
        cluster.set("w:left-behind", 1, ex=60)
    finally:
        cluster.close()


@pytest.mark.backends("redis", "cluster", "cluster_spread")
def test_the_next_test_starts_on_empty_servers(raw: redis.Redis) -> None:
    assert raw.dbsize() == 0
