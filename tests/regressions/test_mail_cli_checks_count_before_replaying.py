"""``roleredis mail ROLE --replay --count 0`` put every dead letter back in the inbox and only
then failed on the count (checked by the dead-letter listing after the replay): a command
reported as failed had changed the role's mail. The count is checked before anything runs."""

from __future__ import annotations

from typing import Any

from roleredis.foundation.keys import Keyspace

from ..cli.conftest import Cli


def test_a_bad_count_replays_nothing(cli: Cli, raw: Any) -> None:
    dead = Keyspace("beta").dead_letters()
    raw.xadd(dead, {"s": "alpha", "m": "x" * 32, "t": "0", "b": "1", "d": 5, "r": "max_deliveries"})
    refused = cli("mail", "beta", "--replay", "--count", "0")
    assert refused.returncode == 2, refused
    assert raw.xlen(dead) == 1
