"""ClusterRoute.exchange without a cluster: a batch split per slot comes back as one reply per
command, in order, whatever the other commands of the batch were split into."""

from __future__ import annotations

from typing import Any

from roleredis.transport.cluster import ClusterRoute, drive, slot_of


class TwoNodes:
    """A stand-in ClusterClient: slots below 8192 on node "A", the others on "B"."""

    stale = False

    def for_slot(self, slot: int) -> str:
        return "A" if slot < 8192 else "B"

    def any_primary(self) -> str:
        return "A"

    def primaries(self) -> list[str]:
        return ["A", "B"]


def _keys_on_each_node(count: int) -> tuple[list[str], list[str]]:
    on_a, on_b = [], []
    n = 0
    while len(on_a) < count or len(on_b) < count:
        key = f"k{n}"
        (on_a if slot_of(key) < 8192 else on_b).append(key)
        n += 1
    return on_a[:count], on_b[:count]


def _run(commands: list[tuple[Any, ...]]) -> tuple[list[Any], list[tuple[str, list[Any]]]]:
    sent: list[tuple[str, list[Any]]] = []

    def send(node: str, batch: list[tuple[Any, ...]]) -> list[Any]:
        sent.append((node, batch))
        return [
            b"OK" if c[0] == "MSET" else (len(c) - 1 if c[0] == "UNLINK" else f"{node}:{c[1]}")
            for c in batch
        ]

    route = ClusterRoute(TwoNodes())  # type: ignore[arg-type]
    return drive(route.exchange(commands), send), sent


def test_two_msets_split_over_different_numbers_of_slots_keep_their_replies_apart() -> None:
    on_a, on_b = _keys_on_each_node(3)
    # the first MSET spans 3 slots, the second 1: each must take exactly its own pieces
    first = ("MSET", on_a[0], b"1", on_a[1], b"2", on_b[0], b"3")
    second = ("MSET", on_b[1], b"4")
    spread = {slot_of(k) for k in first[1::2]}
    replies, _ = _run([first, ("GET", on_a[2]), second, ("UNLINK", on_a[0], on_b[2])])
    assert len(spread) == 3
    assert replies == [b"OK", f"A:{on_a[2]}", b"OK", 2]


def test_many_split_commands_in_one_batch_each_get_one_reply() -> None:
    on_a, on_b = _keys_on_each_node(6)
    commands: list[tuple[Any, ...]] = []
    for n in range(1, 6):
        pairs: list[Any] = []
        for key in on_a[:n] + on_b[: 6 - n]:
            pairs += [key, b"v"]
        commands.append(("MSET", *pairs))
        commands.append(("UNLINK", *on_a[:n]))
    replies, _ = _run(commands)
    assert replies == [r for n in range(1, 6) for r in (b"OK", n)]
