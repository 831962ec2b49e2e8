"""Issue 17, items 1-3: what a role's ACL user can do to another role's mail with raw
commands, and that the recipient stays whole. Each attack is made as the attacking role's own
ACL user (provisioned by ``roleredis acl provision``), with the commands its rules allow: SADD
of any name into any role's senders set, and XADD with any id, any fields, any size and
MAXLEN/MINID into its own channel to any role. The victims run the library as their own
users. On a single server and on a Redis Cluster (each role's mail in its slot).

docs/threat-model.md says what these tests prove.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from roleredis import RoleStore, redis_dead_letters
from roleredis.admin import acl
from roleredis.core import mail
from roleredis.faces.agents import calls as agent
from roleredis.foundation.config import load_settings
from roleredis.foundation.keys import Keyspace
from roleredis.transport.connection import build_client, close_client

pytestmark = pytest.mark.backends("redis", "cluster")

ROLES = ("alpha", "beta", "carol", "mallory")


FLOOD = """
import sys, time, redis
kind, where, user, password, key = sys.argv[1:6]
if kind == "cluster":
    nodes = [redis.cluster.ClusterNode(*a.split(":")) for a in where.split(",")]
    client = redis.RedisCluster(startup_nodes=nodes, username=user, password=password)
else:
    client = redis.Redis.from_url(where, username=user, password=password)
for batch in range(100):
    client.sadd(key, *(f"fake{batch}x{n}" for n in range(1000)))
    time.sleep(0.02)
"""


class Deployment:
    """The roles provisioned on the test's backend: a store per role logged in as its own
    user (``store``), and raw clients as a role's user (``raw``)."""

    def __init__(self, url: str, backend: str, config: Path, request: pytest.FixtureRequest):
        self.url = url
        self.backend = backend
        self.config = config
        self.request = request
        self.users = {role: acl.provision(role) for role in ROLES}
        self.clients: list[Any] = []
        self.stores: dict[str, RoleStore] = {}
        self.admin: Any = None

    def store(self, role: str) -> RoleStore:
        if role not in self.stores:
            user = self.users[role]
            environ = {
                "REDIS_URL": self.url,
                "REDIS_USERNAME": user.username,
                "REDIS_PASSWORD": user.password,
            }
            settings = load_settings(environ=environ, path=self.config)
            client = build_client(settings)
            self.clients.append(client)
            self.stores[role] = RoleStore(role, client=client, settings=settings)
        return self.stores[role]

    def raw(self, role: str) -> Any:
        user = self.users[role]
        client: Any
        if self.backend == "cluster":
            cluster = self.request.getfixturevalue("redis_cluster")
            client = redis.RedisCluster(
                startup_nodes=cluster.startup_nodes(),
                username=user.username,
                password=user.password,
            )
        else:
            client = redis.Redis.from_url(self.url, username=user.username, password=user.password)
        self.clients.append(client)
        return client

    def size(self, key: str) -> int:
        """SCARD of ``key``, as the administrator."""
        if self.admin is None:
            if self.backend == "cluster":
                self.admin = self.request.getfixturevalue("redis_cluster").client()
            else:
                self.admin = redis.Redis.from_url(self.url)
            self.clients.append(self.admin)
        return int(self.admin.scard(key))

    def flood(self, role: str, key: str) -> subprocess.Popen[bytes]:
        """Another process that adds 100,000 made-up names to ``key`` as ``role``'s user, in
        SADDs of 1,000, continuously (about 20 ms apart)."""
        user = self.users[role]
        where = self.url
        if self.backend == "cluster":
            nodes = self.request.getfixturevalue("redis_cluster").startup_nodes()
            where = ",".join(f"{node.host}:{node.port}" for node in nodes)
        return subprocess.Popen(
            [sys.executable, "-c", FLOOD, self.backend, where, user.username, user.password, key],
            stderr=subprocess.PIPE,
        )

    def close(self) -> None:
        for client in self.clients:
            if isinstance(client, redis.Redis | redis.RedisCluster):
                client.close()
            else:
                close_client(client)
        for role in ROLES:
            acl.revoke(role)


@pytest.fixture
def deployment(
    roleredis_env: Any, backend: str, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    config = roleredis_env.tmp_path / "attack.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "redis": {
                    "messaging": {
                        "max_length": 1000,
                        "max_message_bytes": 10_000,
                        "dead_letters_per_sender": 100,
                        "senders_per_receive": 100,
                    }
                }
            }
        ),
        encoding="utf-8",
    )
    found = Deployment(roleredis_env.url, backend, config, request)
    try:
        yield found
    finally:
        found.close()


def strict(result: Any) -> None:
    """``result`` is strict JSON (no NaN or infinity), as a JSON-only client must get it."""
    text = json.dumps(result, allow_nan=False, default=agent_bytes)
    json.loads(text, parse_constant=refuse_constant)


def agent_bytes(value: Any) -> Any:
    raise TypeError(f"not JSON: {type(value).__name__}")


def refuse_constant(name: str) -> Any:
    raise ValueError(f"not strict JSON: {name}")


# --- item 1: names added to the senders set -----------------------------------------------------

#: What item 1's test measured on this machine (2 noisy cores, both backends' tests running at
#: once, the flood in another process): a receive from a known sender under the flood took 4 to
#: 6 ms at p99 (3 ms alone). The bound the issue sets, 50 ms, keeps a margin of 8 or more.
P99_BOUND_S = 0.050


def test_fake_senders_do_not_stall_a_recipient(deployment: Deployment, raw: Any) -> None:
    alpha, beta, carol = (deployment.store(r) for r in ("alpha", "beta", "carol"))
    per = beta.settings.messaging.senders_per_receive
    senders = Keyspace("beta").mail_senders()
    alpha.send("beta", "warm up")
    warm = beta.receive(10)
    assert [m.body for m in warm] == ["warm up"]
    beta.ack([m.id for m in warm])

    flood = deployment.flood("mallory", senders)  # another process, as mallory's own user
    latencies: list[float] = []
    carol_sent_at: int | None = None
    carol_found_after: int | None = None
    largest = 0
    receives = 0
    started_at = time.monotonic()
    try:
        while flood.poll() is None or carol_found_after is None:
            # a new real sender mid-flood, once the recipient sweeps (a pass at once after a
            # pass that met made-up names; the first one starts within DISCOVERY_EVERY)
            if carol_sent_at is None and (
                time.monotonic() - started_at > 1.5 * mail.DISCOVERY_EVERY
                or flood.poll() is not None
            ):
                carol.send("beta", "hello from carol")
                carol_sent_at = receives
            alpha.send("beta", receives)
            started = time.perf_counter()
            got = beta.receive(10)
            took = time.perf_counter() - started
            receives += 1
            if any(m.sender == "alpha" for m in got):
                latencies.append(took)
            if carol_sent_at is not None and carol_found_after is None:
                largest = max(largest, deployment.size(senders))
                if any(m.sender == "carol" for m in got):
                    carol_found_after = receives - carol_sent_at
            beta.ack([m.id for m in got])
            assert receives < 50_000, "carol's message never came"
    finally:
        if flood.poll() is None:
            flood.kill()
        _, errors = flood.communicate()
    assert flood.returncode == 0, errors
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99)]
    assert p99 < P99_BOUND_S, (p99, len(latencies))
    # a pass over the set visits every name in it, ``per`` a receive (then a step to check
    # carol's channel and one to read it); while the flood grows the set by 1,000 names at a
    # time, Redis rehashes it and SSCAN returns names twice (each counts in ``per``): measured
    # up to 1.26 times ceil(size / per) with the cluster test running alongside
    assert carol_found_after is not None
    bound = math.ceil(1.5 * largest / per) + 2
    assert carol_found_after <= bound, (carol_found_after, largest)
    # no stream and no group for a made-up name: only the real senders' channels exist
    channels = {key for key in raw.keys("__roleredis__:{beta}:mail:*")}
    assert channels == {
        Keyspace("beta").mail_channel("alpha").encode(),
        Keyspace("beta").mail_channel("carol").encode(),
    }
    # and the made-up names leave the set, a bounded number per receive
    for _ in range(math.ceil(100_000 / per) * 3):
        if not beta.receive(10) and deployment.size(senders) == 2:
            break
    assert raw.smembers(senders) == {b"alpha", b"carol"}


# --- item 2: an entry with the largest id -------------------------------------------------------


def test_the_largest_stream_id_fails_no_receive(deployment: Deployment) -> None:
    alpha, beta, carol = (deployment.store(r) for r in ("alpha", "beta", "carol"))
    alpha.send("beta", "warm up")
    carol.send("beta", "warm up")
    beta.ack([m.id for m in beta.receive(10)])
    channel = Keyspace("beta").mail_channel("alpha")
    attacker = deployment.raw("alpha")  # alpha's own user, into its own channel
    largest = f"{int(time.time() * 1000) + 60_000}-{2**64 - 1}"
    attacker.xadd(channel, {"m": "x", "t": "1", "b": '"largest"'}, id=largest)
    got = beta.receive(10)
    assert [m.body for m in got] == ["largest"]
    assert beta.ack([m.id for m in got]).acked == 1  # its trim: MINID <ms+1>-0
    for n in range(3):  # every receive that carries housekeeping still delivers, once
        carol.send("beta", f"carol {n}")
        got = beta.receive(10)
        assert [(m.sender, m.body, m.deliveries) for m in got] == [("carol", f"carol {n}", 1)]
        assert beta.ack([m.id for m in got]).acked == 1


# --- item 3: what a sender writes into its own channel ------------------------------------------


def test_a_senders_own_channel_cannot_hurt_its_recipient(deployment: Deployment, raw: Any) -> None:
    alpha, beta, carol = (deployment.store(r) for r in ("alpha", "beta", "carol"))
    alpha.send("beta", "warm up")
    carol.send("beta", "warm up")
    beta.ack([m.id for m in beta.receive(10)])
    own = deployment.raw("alpha")
    channel = Keyspace("beta").mail_channel("alpha")
    # carol has a dead letter of her own, before alpha floods
    deployment.raw("carol").xadd(Keyspace("beta").mail_channel("carol"), {"m": "carol's"})
    assert beta.receive(10) == []

    pipe = own.pipeline(transaction=False)
    for n in range(3001):  # past max_length 1,000: the sending library is not asked
        pipe.xadd(channel, {"m": f"m{n}", "t": "1.5", "b": str(n), "later-field": "x"})
    pipe.execute()
    own.xadd(channel, {"m": "huge", "t": "1", "b": '"' + "x" * 5_000_000 + '"'})
    own.xadd(channel, {"m": "nan", "t": "nan", "b": "1"})
    own.xadd(channel, {"m": "inf", "t": "-inf", "b": "1"})
    pipe = own.pipeline(transaction=False)
    for n in range(2000):
        pipe.xadd(channel, {"junk": str(n)})
    pipe.execute()

    status, _ = beta.mail_status()  # over max_length: read and reported, never a failure
    alpha_status = next(s for s in status if s.sender == "alpha")
    assert alpha_status.length > beta.settings.messaging.max_length
    assert alpha_status.unacked == 100 and alpha_status.more is True

    bodies: list[Any] = []
    for _ in range(12):  # a receive of only malformed entries returns nothing: go on
        got = beta.receive(1000)
        strict([m.as_dict() for m in got])
        assert all(math.isfinite(m.sent_at) for m in got)
        bodies += [m.body for m in got if m.sender == "alpha"]
        beta.ack([m.id for m in got])
    assert bodies == list(range(3001))  # unknown fields ignored; nothing else was mail

    letters = beta.dead_letters(count=10_000)
    strict([d.as_dict() for d in letters])
    mine = [d for d in letters if d.sender == "alpha"]
    assert len(mine) == beta.settings.messaging.dead_letters_per_sender  # bounded
    assert [d.msg_id for d in letters if d.sender == "carol"] == ["carol's"]  # not evicted
    assert all(d.reason == "malformed" for d in mine)  # the last 100 of the flood
    dropped = raw.hgetall(Keyspace("beta").internal_key("dead-dropped"))
    assert int(dropped[b"alpha"]) == 2003 - 100  # huge, nan, inf and the 2,000 junk entries
    # the oversize body was never copied: a stub with its size
    stored = raw.xrange(Keyspace("beta").dead_letters() + ":alpha")
    assert all(len(fields.get(b"b", b"")) <= 10_000 for _, fields in stored)


def test_every_result_after_the_attacks_is_strict_json(deployment: Deployment) -> None:
    from roleredis.faces.agents import mcp_server

    alpha_raw = deployment.raw("alpha")
    channel = Keyspace("beta").mail_channel("alpha")
    deployment.store("alpha").send("beta", "real")
    alpha_raw.xadd(channel, {"m": "nan", "t": "nan", "b": "1"})
    alpha_raw.xadd(channel, {"m": "ok", "t": "2", "b": "[1.5]", "x": "nan"})
    events = Keyspace("alpha").event_stream("news")
    alpha_raw.xadd(events, {"event": "NaN"})
    alpha_raw.xadd(events, {"t": "nan"})
    alpha_raw.xadd(events, {"event": b"\xffrrQ?"})
    results = [
        agent.call_tool("redis_receive", {"count": 10}, role="beta"),
        redis_dead_letters(role="beta"),  # not an agent tool: the Python face's result
        agent.call_tool("redis_read_events", {"from_role": "alpha", "topic": "news"}, role="beta"),
    ]
    received, dead, read = results
    assert [m["body"] for m in received["messages"]] == ["real", [1.5]], received
    assert [d["msg_id"] for d in dead["messages"]] == ["nan"], dead
    assert read["success"] is True and read["count"] == 3, read
    for result in results:
        strict(result)
        text = mcp_server._as_mcp(result).content[0].text  # type: ignore[union-attr]
        json.loads(text, parse_constant=refuse_constant)
