"""ClusterRoute without a cluster: where WAIT goes (issue 11 §4).

WAIT counts the replicas that acknowledged the writes of its own connection, so it must go to
the node (the pooled connection's node, in the same round trip) that carried the writes before
it, not to "any primary".
"""

from __future__ import annotations

from typing import Any

from roleredis.transport.cluster import ClusterClient, ClusterRoute, drive, slot_of


class _Node:
    def __init__(self, name: str) -> None:
        self.name = name


class _FakeClient(ClusterClient):
    """Slots below 8192 on node a, the rest on node b; a is the "any primary"."""

    def __init__(self) -> None:
        super().__init__(lambda: None, lambda host, port: None)
        self.a, self.b = _Node("a"), _Node("b")

    def for_slot(self, slot: int) -> Any:
        return self.a if slot < 8192 else self.b

    def primaries(self) -> list[Any]:
        return [self.a, self.b]


def _keys() -> tuple[str, str]:
    """A key on node a and one on node b."""
    on_a = next(f"k{i}" for i in range(1000) if slot_of(f"k{i}") < 8192)
    on_b = next(f"k{i}" for i in range(1000) if slot_of(f"k{i}") >= 8192)
    return on_a, on_b


def _run(commands: list[tuple[Any, ...]], counts: dict[str, int]) -> tuple[list[Any], list[Any]]:
    client = _FakeClient()
    sent: list[Any] = []

    def send(node: Any, batch: list[tuple[Any, ...]]) -> list[Any]:
        sent.append((node.name, [c[0] for c in batch]))
        return [counts[node.name] if c[0] == "WAIT" else b"OK" for c in batch]

    return drive(ClusterRoute(client).exchange(commands), send), sent


def test_wait_follows_the_node_of_the_write_before_it() -> None:
    _, on_b = _keys()
    replies, sent = _run([("SET", on_b, b"v"), ("WAIT", 1, 100)], {"a": 0, "b": 1})
    assert sent == [("b", ["SET", "WAIT"])]  # same node, same round trip, after the write
    assert replies == [b"OK", 1]


def test_wait_goes_to_every_node_that_carried_writes_and_says_the_fewest() -> None:
    on_a, on_b = _keys()
    replies, sent = _run(
        [("SET", on_a, b"v"), ("SET", on_b, b"v"), ("WAIT", 1, 100)], {"a": 1, "b": 0}
    )
    assert sorted(sent) == [("a", ["SET", "WAIT"]), ("b", ["SET", "WAIT"])]
    assert replies == [b"OK", b"OK", 0]


def test_a_wait_counts_only_the_writes_since_the_previous_wait() -> None:
    on_a, on_b = _keys()
    _, sent = _run(
        [("SET", on_a, b"v"), ("WAIT", 1, 100), ("SET", on_b, b"v"), ("WAIT", 1, 100)],
        {"a": 1, "b": 1},
    )
    assert sorted(sent) == [("a", ["SET", "WAIT"]), ("b", ["SET", "WAIT"])]


def test_a_wait_alone_goes_to_one_primary() -> None:
    replies, sent = _run([("WAIT", 0, 100)], {"a": 2, "b": 2})
    assert sent == [("a", ["WAIT"])]
    assert replies == [2]


class _Topology:
    """redis-py's RedisCluster as ClusterClient uses it: a slot map that may change."""

    def __init__(self) -> None:
        self.port = 7000
        self.lookups = 0
        outer = self

        class _Manager:
            def get_node_from_slot(self, slot: int) -> Any:
                outer.lookups += 1
                return type("N", (), {"host": "127.0.0.1", "port": outer.port})()

            def initialize(self) -> None:
                pass

        self.nodes_manager = _Manager()


def test_the_slot_map_is_looked_up_once_per_slot_until_it_is_asked_again() -> None:
    topology = _Topology()
    client = ClusterClient(lambda: topology, lambda host, port: (host, port))
    assert client.for_slot(5) == ("127.0.0.1", 7000)
    assert client.for_slot(5) == ("127.0.0.1", 7000)
    assert topology.lookups == 1
    topology.port = 7001  # a failover or resharding: MOVED makes the route refresh
    client.refresh()
    assert client.for_slot(5) == ("127.0.0.1", 7001)
    topology.port = 7002
    client.stale = True  # a connection failed: the next lookup asks again
    assert client.for_slot(5) == ("127.0.0.1", 7002)
