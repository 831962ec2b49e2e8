"""The throwaway Cluster and Sentinel deployments (roleredis.testing.cluster) behave like the
real thing: data is served, a killed primary is replaced, replicated data survives."""

from __future__ import annotations

from roleredis.testing.cluster import RedisClusterProcesses, SentinelGroup, cluster_port


def test_cluster_ports_leave_room_for_the_bus() -> None:
    port = cluster_port()
    assert port <= 55535
    assert port != 6379


def test_a_cluster_fails_over_and_keeps_replicated_data() -> None:
    with RedisClusterProcesses() as cluster:
        roles = cluster.roles()
        assert sorted(roles.values()) == ["master"] * 3 + ["slave"] * 3
        victim = cluster.primary_for_key("{weather}:k")
        direct = victim.client()
        try:  # WAIT counts what this connection wrote: write and wait on the same one
            direct.set("{weather}:k", b"v")
            assert direct.wait(1, 10_000) == 1  # replicated before the kill
        finally:
            direct.close()
        victim.kill()
        cluster.wait_for_failover(victim)
        client = cluster.client()
        try:
            assert client.get("{weather}:k") == b"v"
            assert cluster.primary_for_key("{weather}:k") is not victim
        finally:
            client.close()


def test_sentinels_promote_the_replica() -> None:
    with SentinelGroup() as group:
        assert group.url.startswith("redis+sentinel://127.0.0.1:")
        old = group.current_primary()
        client = old.client()
        try:
            client.set("k", b"v")
            client.wait(1, 2000)
        finally:
            client.close()
        old.kill()
        new = group.wait_for_failover(old)
        assert new is not old
        client = new.client()
        try:
            assert client.get("k") == b"v"
        finally:
            client.close()
