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


def test_every_node_of_each_kind_of_deployment_is_found() -> None:
    from roleredis.foundation.config import load_settings
    from roleredis.transport.connection import node_addresses, node_client

    with RedisClusterProcesses() as cluster:
        settings = load_settings(environ={"REDIS_URL": cluster.url}, read_file=False)
        found = node_addresses(settings)
        assert sorted(port for _, port, _ in found) == sorted(n.port for n in cluster.nodes)
        assert [kind for *_, kind in found].count("replica") == 3
        client = node_client(settings, *found[-1][:2])
        try:
            assert client.ping()
        finally:
            client.close()
    with SentinelGroup() as group:
        settings = load_settings(environ={"REDIS_URL": group.url}, read_file=False)
        assert node_addresses(settings) == [
            ("127.0.0.1", group.primary.port, "primary"),
            ("127.0.0.1", group.replicas[0].port, "replica"),
        ]


def test_the_slot_map_internals_roleredis_reads() -> None:
    """roleredis.foundation.internals.refresh_slots / slot_owner against a real cluster: the day
    redis-py
    renames RedisCluster.nodes_manager or its methods, this fails by name."""
    from roleredis.foundation import internals
    from roleredis.transport.cluster import slot_of

    with RedisClusterProcesses() as cluster:
        client = cluster.client()
        try:
            internals.refresh_slots(client)
            slot = slot_of("{weather}:k")
            assert internals.slot_owner(client, slot) == (
                "127.0.0.1",
                cluster.primary_for_key("{weather}:k").port,
            )
        finally:
            client.close()
