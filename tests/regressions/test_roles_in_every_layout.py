"""Issue 18, item 6 (second bullet): `roleredis roles` in every deployment and key layout.

Before the fix, on a Cluster with co-located roles every key was shown under "(no role)"
(``{weather}:k`` was read as the prefix ``{weather}``) and memory as not measured (MEMORY USAGE
was routed by the word USAGE, and refused); on a single server mail and event streams
(``__roleredis__:{role}:...``) were "(no role)". Now keys are counted under their role in the
deployment's layout, internal keys under their role in columns of their own, and memory is
asked of each Cluster primary for its own keys and summed.
"""

from __future__ import annotations

import json

import pytest

from roleredis import redis_publish, redis_receive, redis_send, redis_write, redis_write_many
from roleredis.admin import inventory
from tests.cli.conftest import Cli

pytestmark = pytest.mark.backends("redis", "sentinel", "cluster", "cluster_spread")


def test_keys_and_internal_keys_under_their_role_with_memory(
    roleredis_env: object, cli: Cli
) -> None:
    assert redis_write_many({f"k{n}": n for n in range(20)}, role="weather")["success"]
    assert redis_write("big", "x" * 5000, role="timer")["success"]
    assert redis_send("weather", {"task": 1}, role="timer")["success"]
    assert redis_receive(role="weather")["success"]  # pending mail: the group exists
    assert redis_publish("alerts", {"level": 1}, role="weather")["success"]

    found = inventory.take()
    assert found.memory_measured is True
    assert found.named == ["timer", "weather"]
    assert found.no_role.keys == 0 and found.no_role.internal_keys == 0
    weather, timer = found.roles["weather"], found.roles["timer"]
    assert weather.keys == 20 and timer.keys == 1
    # weather: its mailbox from timer, its senders set, its event log; timer: none
    assert weather.internal_keys >= 3 and timer.internal_keys == 0
    assert timer.memory_bytes > 5000 and weather.internal_memory_bytes > 0

    ran = cli("roles", "--json")
    assert ran.returncode == 0, str(ran)
    assert "MEMORY USAGE" not in ran.stderr
    body = json.loads(ran.stdout)
    rows = {row["role"]: row for row in body["roles"]}
    assert set(rows) == {"timer", "weather"}
    assert rows["weather"]["keys"] == 20
    assert rows["weather"]["internal_keys"] == weather.internal_keys
    assert rows["timer"]["memory_bytes"] > 5000
    assert body["no_role"]["keys"] == 0 and body["memory_measured"] is True
    table = cli("roles")
    assert table.returncode == 0 and "internal" in table.stdout and "(no role)" not in table.stdout
