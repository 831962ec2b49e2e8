"""Issue 17 item 5 (copy part), item 6, and issue 18 item 6 (third bullet): what `roleredis
copy` takes and leaves.

- copy took keys that were not a role's: on a standalone source the raw key ``{beta}:evil``
  (no key of beta's there) was copied over the target's ``beta:evil`` with --replace. copy now
  reads only the key layout of the source's own deployment.
- copy did not move mail or events (undelivered and pending mail included) and its summary
  did not say so. A role's mailboxes (with their consumer group and pending entries), senders,
  dead letters and event logs now travel, mapped to the target's layout, counted per kind.
- copied keys were invisible at a target whose key index is trusted (never listed, never
  cleared): they are now indexed there.
- it printed "no Redis configured: using localhost:6379" though it never connects there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from roleredis.admin import transfer
from roleredis.core import mail
from roleredis.core.store import RoleStore
from roleredis.foundation.config import Settings
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer
from roleredis.testing.cluster import RedisClusterProcesses

LAYOUTS = {
    "standalone": {},
    "cluster": {},
    "cluster_spread": {"colocate_roles": False},
}


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses() as started:
        yield started


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[RedisServer, RedisServer]]:
    with RedisServer() as first, RedisServer() as second:
        yield first, second


_clients: list[tuple[object, Settings]] = []


def _store(role: str, settings: Settings) -> RoleStore:
    """A store of ``role`` on the deployment of ``settings`` (its own client)."""
    from roleredis.transport import connection

    client = connection.build_client(settings)
    _clients.append((client, settings))
    return RoleStore(role, client=client, settings=settings)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    from roleredis.transport import connection

    while _clients:
        connection.close_client(_clients.pop()[0])


def _flush(settings: Settings) -> None:
    from roleredis.transport import connection

    for host, port, kind in connection.node_addresses(settings):
        if kind == "primary":
            client = connection.node_client(settings, host, port)
            client.flushdb()
            client.close()


@pytest.fixture
def deployments(
    request: pytest.FixtureRequest,
    servers: tuple[RedisServer, RedisServer],
) -> Iterator[tuple[Settings, Settings]]:
    source_kind, target_kind = request.param
    made = []
    for kind, server in ((source_kind, servers[0]), (target_kind, servers[1])):
        if kind == "standalone":
            made.append(Settings(url=server.url))
        else:
            grid = request.getfixturevalue("cluster")
            made.append(Settings(url=grid.url, **LAYOUTS[kind]))
    for settings in made:
        _flush(settings)
    yield made[0], made[1]
    for settings in made:
        _flush(settings)


PAIRS = [
    ("standalone", "standalone"),
    ("standalone", "cluster"),
    ("cluster", "standalone"),
    ("standalone", "cluster_spread"),
    ("cluster_spread", "standalone"),
]


@pytest.mark.parametrize("deployments", PAIRS, indirect=True, ids="->".join)
def test_mail_pending_state_and_events_travel(deployments: tuple[Settings, Settings]) -> None:
    source, target = deployments
    radar = _store("radar", settings=source)
    weather = _store("weather", settings=source)
    for n in range(3):
        radar.send("weather", {"n": n})
    got = weather.receive(1)  # delivered, not acknowledged: pending
    assert [m.body for m in got] == [{"n": 0}]
    weather.publish("alerts", {"level": 2})
    weather.write("k", "v")

    report = transfer.copy(source, target, ["weather"])
    assert report.failed == 0, report.errors

    there = _store("weather", settings=target)
    assert there.read("k").value == "v"
    status = there.mail_status()
    channel = Keyspace("weather").mail_channel("radar")
    from roleredis.transport import connection

    client = connection.admin_client(target)
    try:
        pending = client.xpending(channel, mail.GROUP)
        assert pending["pending"] == 1, pending  # the delivered, unacknowledged message
        assert client.xlen(channel) == 3
    finally:
        connection.close_admin_client(client)
    assert status is not None
    fresh = there.receive(10)  # the undelivered mail is delivered at the target
    assert [m.body for m in fresh] == [{"n": 1}, {"n": 2}]
    events = _store("radar", settings=target).read_events("weather", "alerts")
    assert [e.value for e in events.events] == [{"level": 2}]
    assert report.kinds["keys"]["copied"] == 1
    assert report.kinds["events"]["copied"] == 1
    assert report.kinds["mail"]["copied"] >= 2  # the channel from radar and the senders set


@pytest.mark.parametrize("deployments", PAIRS, indirect=True, ids="->".join)
def test_copied_keys_are_listed_and_cleared_where_the_index_is_trusted(
    deployments: tuple[Settings, Settings],
) -> None:
    source, target = deployments
    _store("weather", settings=source).write_many({"a": 1, "b": 2})
    indexed = target.replace(index=True)
    there = _store("weather", settings=indexed)
    there.write("old", 0)
    assert there.clear() == 1  # the role is empty: its index is trusted
    report = transfer.copy(source, target, ["weather"])
    assert report.copied == 2, report
    assert there.keys() == ["a", "b"]
    assert report.indexed == ["weather"]
    assert there.clear() == 2
    assert there.keys() == []
    assert _store("weather", settings=target).keys() == []  # by SCAN: nothing is left


def test_copy_takes_only_keys_of_the_sources_own_layout(
    servers: tuple[RedisServer, RedisServer],
) -> None:
    first, second = servers
    source, target = first.client(), second.client()
    try:
        for client in (source, target):
            client.flushdb()
        source.set("{beta}:evil", "from a key no role owns here")
        source.set("beta:good", "beta's")
        target.set("beta:evil", "beta's own")
        report = transfer.copy(
            Settings(url=first.url), Settings(url=second.url), ["beta"], replace=True
        )
        assert (report.copied, report.failed) == (1, 0), report
        assert target.get("beta:evil") == b"beta's own"
        assert target.get("beta:good") == b"beta's"
        assert target.exists("{beta}:evil") == 0
        everything = transfer.copy(Settings(url=first.url), Settings(url=second.url), replace=True)
        assert everything.copied == 1 and target.get("beta:evil") == b"beta's own"
    finally:
        for client in (source, target):
            client.flushdb()
            client.close()


def test_the_command_says_what_it_moved_and_nothing_of_a_server_it_does_not_use(
    servers: tuple[RedisServer, RedisServer],
) -> None:
    first, second = servers
    source: redis.Redis = first.client()
    try:
        source.flushdb()
        second.client().flushdb()
        settings = Settings(url=first.url)
        _store("radar", settings=settings).send("weather", "hello")
        _store("weather", settings=settings).publish("alerts", 1)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
        command = [sys.executable, "-m", "roleredis", "copy", "--from", first.url]
        done = subprocess.run(
            [*command, "--to", second.url],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert "no Redis configured" not in done.stderr + done.stdout
        assert "6379" not in done.stderr + done.stdout
        assert "mail (mailboxes with pending state, senders, dead letters): 2 copied" in (
            done.stdout
        )
        assert "event logs: 1 copied" in done.stdout
        as_json = subprocess.run(
            [*command, "--to", second.url, "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        kinds = json.loads(as_json.stdout)["kinds"]
        assert kinds["mail"]["skipped"] == 2 and kinds["events"]["skipped"] == 1
    finally:
        source.flushdb()
        source.close()
