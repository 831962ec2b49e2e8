"""Issue 11 §3: ACL users are per node and not replicated, so provisioning, revoking and
listing act on every data node (primaries and replicas) of a Cluster and of a Sentinel group;
each node's outcome is reported, drift between nodes is shown, and a failover does not lock a
role out. The key pattern is the layout in use ({role}:* in a Cluster with co-located roles)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import redis

from roleredis import (
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_receive,
    redis_send,
    redis_write,
    reset,
)
from roleredis.admin import acl
from roleredis.foundation.config import Settings, load_settings
from roleredis.foundation.keys import Keyspace
from roleredis.testing.cluster import RedisClusterProcesses, SentinelGroup

ADMIN = "admin-pw-5be1"


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterProcesses]:
    with RedisClusterProcesses(password=ADMIN) as started:
        yield started


@pytest.fixture
def settings(cluster: RedisClusterProcesses) -> Iterator[Settings]:
    yield load_settings(
        environ={"REDIS_URL": cluster.url, "REDIS_PASSWORD": ADMIN}, read_file=False
    )
    for node in cluster.nodes:  # each test starts with no role users
        if node.running:
            client = node.client()
            try:
                for name in client.acl_users():
                    if name.startswith(acl.USER_PREFIX):
                        client.acl_deluser(name)
            finally:
                client.close()


def _admin(node: object) -> redis.Redis:
    return node.client()  # type: ignore[attr-defined,no-any-return]


def _login(port: int, username: str, password: str) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, username=username, password=password)


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=url, REDIS_PASSWORD=ADMIN)
    return subprocess.run(
        [sys.executable, "-m", "roleredis", "acl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_provision_reaches_every_cluster_node_with_the_colocated_pattern(
    cluster: RedisClusterProcesses, settings: Settings
) -> None:
    weather = acl.provision("weather", settings=settings)
    acl.provision("timer", settings=settings)
    assert weather.created and weather.password and not weather.failed and not weather.drift
    assert sorted(n.kind for n in weather.nodes) == ["primary"] * 3 + ["replica"] * 3
    assert {n.outcome for n in weather.nodes} == {"created"}
    assert weather.password not in json.dumps(weather.as_dict()["nodes"])
    for node in cluster.nodes:
        admin = _admin(node)
        try:
            user = admin.acl_getuser("roleredis-weather")
        finally:
            admin.close()
        assert user is not None, node.port
        assert user["keys"] == [
            "~{weather}:*",
            "~__roleredis__:{weather}:*",
            "%R~__roleredis__:{*}:events:*",
        ], node.port
        selectors = [dict(zip(sel[::2], sel[1::2], strict=True)) for sel in user["selectors"]]
        selector_keys = sorted(str(sel["keys"]) for sel in selectors)
        assert selector_keys == [
            "%W~__roleredis__:{*}:mail:weather",
            "%W~__roleredis__:{*}:reply:weather:*",
            "%W~__roleredis__:{*}:senders",
        ], node.port
        # the same password on every node: the role logs in anywhere
        login = _login(node.port, weather.username, weather.password)
        try:
            assert login.ping() is True
            with pytest.raises(redis.exceptions.NoPermissionError):
                login.get("{timer}:k")  # another role's key, on every node
            with pytest.raises(redis.exceptions.NoPermissionError):
                login.get("weather:k")  # the other layout is not granted
        finally:
            login.close()

    # a cluster client logged in as the role: its own keys work, another role's do not
    client = redis.RedisCluster(
        startup_nodes=cluster.startup_nodes(),
        username=weather.username,
        password=weather.password,
    )
    try:
        assert client.set("{weather}:k", b"v") is True
        assert client.get("{weather}:k") == b"v"
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.set("{timer}:k", b"x")
    finally:
        client.close()

    listing = acl.list_report(settings=settings)
    assert not listing.failed and listing.drift == []
    assert [(u["role"], u["nodes"], u["nodes_total"]) for u in listing.users] == [
        ("timer", 6, 6),
        ("weather", 6, 6),
    ]
    assert listing.users[1]["keys"] == ["{weather}:*", "__roleredis__:{weather}:*"]
    assert weather.password not in json.dumps(listing.as_dict())


def test_a_replaced_node_gets_the_same_password_and_drift_is_shown(
    cluster: RedisClusterProcesses, settings: Settings
) -> None:
    first = acl.provision("weather", settings=settings)
    assert first.password is not None
    lost = cluster.nodes[-1]  # as if this node were replaced by an empty one
    admin = _admin(lost)
    try:
        admin.acl_deluser("roleredis-weather")
    finally:
        admin.close()

    listing = acl.list_report(settings=settings)
    (user,) = listing.users
    assert user["nodes"] == 5 and user["drift"] == [f"missing on 127.0.0.1:{lost.port}"]
    shown = _cli(cluster.url, "list")
    assert shown.returncode == 0, shown.stderr
    assert "missing on" in shown.stdout + shown.stderr and str(lost.port) in shown.stdout

    again = acl.provision("weather", settings=settings)
    assert again.password is None and not again.created and not again.failed
    assert again.drift == (f"missing on 127.0.0.1:{lost.port}",)
    outcomes = {n.address: n.outcome for n in again.nodes}
    assert outcomes.pop(f"127.0.0.1:{lost.port}") == "created"
    assert set(outcomes.values()) == {"updated"}
    login = _login(lost.port, first.username, first.password)  # the old password works there
    try:
        assert login.ping() is True
    finally:
        login.close()
    assert acl.list_report(settings=settings).drift == []


def test_differing_passwords_are_drift_until_a_new_password(
    cluster: RedisClusterProcesses, settings: Settings
) -> None:
    acl.provision("weather", settings=settings)
    odd = cluster.nodes[1]
    admin = _admin(odd)
    try:
        admin.execute_command("ACL", "SETUSER", "roleredis-weather", "resetpass", ">other-pw")
    finally:
        admin.close()
    listing = acl.list_report(settings=settings)
    assert any("password differs" in d for d in listing.drift), listing.drift
    kept = acl.provision("weather", settings=settings)
    assert kept.password is None and "the password differs between nodes" in kept.drift
    assert not kept.failed  # no node lacked the user: each kept its own password

    rotated = acl.provision("weather", settings=settings, new_password=True)
    assert rotated.password and not rotated.failed
    assert acl.list_report(settings=settings).drift == []
    for node in cluster.nodes:
        login = _login(node.port, rotated.username, rotated.password)
        try:
            assert login.ping() is True
        finally:
            login.close()


def test_revoke_and_cli_report_every_node(
    cluster: RedisClusterProcesses, settings: Settings
) -> None:
    made = _cli(cluster.url, "provision", "weather", "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert len(report["nodes"]) == 6 and all(n["ok"] for n in report["nodes"])
    assert report["password"] not in made.stderr

    listed = _cli(cluster.url, "list", "--json")
    assert listed.returncode == 0, listed.stderr
    (user,) = json.loads(listed.stdout)
    assert user["nodes"] == 6 and user["drift"] == []

    gone = acl.revoke_report("weather", settings=settings)
    assert gone.deleted and [n.outcome for n in gone.nodes] == ["deleted"] * 6
    again = _cli(cluster.url, "revoke", "weather")
    assert again.returncode == 0, again.stderr
    assert "had no ACL user" in again.stdout
    assert acl.list_users(settings=settings) == []


def test_a_node_that_does_not_answer_fails_alone(settings: Settings) -> None:
    """A node that refuses the admin (here: a wrong password on one node) is reported; the
    other nodes are done; the CLI exits 1 naming it."""
    from roleredis.testing import RedisServer

    with RedisServer(password="another") as stray:
        nodes = [("127.0.0.1", stray.port, "replica")]
        from roleredis.transport import connection

        real = connection.node_addresses

        def with_stray(given: Settings) -> list[tuple[str, int, str]]:
            return real(given) + nodes

        patch = pytest.MonkeyPatch()
        patch.setattr(connection, "node_addresses", with_stray)
        try:
            creds = acl.provision("weather", settings=settings)
        finally:
            patch.undo()
    (failed,) = creds.failed
    assert failed.address == f"127.0.0.1:{stray.port}" and failed.kind == "replica"
    assert failed.error and ADMIN not in failed.error
    assert sum(n.ok for n in creds.nodes) == 6 and creds.password


def test_the_tools_work_as_the_role_user_through_a_cluster_url(
    cluster: RedisClusterProcesses, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = acl.provision("weather", settings=settings)
    assert creds.password is not None
    monkeypatch.setenv("REDIS_URL", cluster.url)
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password)
    reset()
    try:
        assert redis_write("forecast", {"sky": "grey"}, role="weather", ttl=60)["success"]
        assert redis_read("forecast", role="weather")["value"] == {"sky": "grey"}
        refused = redis_write("x", 1, role="timer")
        assert refused["success"] is False and refused["error_code"] == "permission", refused
    finally:
        reset()


def _as_role(monkeypatch: pytest.MonkeyPatch, url: str, creds: acl.Credentials) -> None:
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", str(creds.password))
    reset()


def test_mail_senders_are_authenticated_by_every_cluster_node(
    cluster: RedisClusterProcesses, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: under Cluster too, only the sender named by a channel's key writes it, and no
    other role trims, deletes, reads or takes the group of mail others sent."""
    alpha, beta, carol = (acl.provision(r, settings=settings) for r in ("alpha", "beta", "carol"))
    from_alpha = Keyspace("beta").mail_channel("alpha")
    try:
        _as_role(monkeypatch, cluster.url, alpha)
        assert redis_send("beta", {"order": 1}, role="alpha")["success"] is True
        assert redis_send("beta", "forged", role="carol")["error_code"] == "permission"
        _as_role(monkeypatch, cluster.url, carol)
        assert redis_send("beta", "from carol", role="carol")["success"] is True
        raw = redis.RedisCluster(
            host="127.0.0.1",
            port=cluster.nodes[0].port,
            username=carol.username,
            password=carol.password,
        )
        try:
            for command in (
                ("XADD", from_alpha, "*", "m", "x", "t", "0", "b", '"forged"'),
                ("XTRIM", from_alpha, "MAXLEN", 0),
                ("XDEL", from_alpha, "0-1"),
                ("DEL", from_alpha),
                ("XGROUP", "DESTROY", from_alpha, "inbox"),
                ("XREADGROUP", "GROUP", "inbox", "c", "STREAMS", from_alpha, ">"),
            ):
                with pytest.raises(redis.exceptions.NoPermissionError):
                    raw.execute_command(*command)
        finally:
            raw.close()
        _as_role(monkeypatch, cluster.url, beta)
        got = redis_receive(10, role="beta")["messages"]
        assert sorted((m["from"], str(m["body"])) for m in got) == [
            ("alpha", "{'order': 1}"),
            ("carol", "from carol"),
        ]
    finally:
        reset()


def test_a_read_grant_reaches_every_node_and_survives_reprovisioning(
    cluster: RedisClusterProcesses, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12, item 1: acl grant acts on every node, in the co-located layout."""
    acl.provision("alpha", settings=settings)
    beta = acl.provision("beta", settings=settings)
    assert beta.password is not None
    granted = acl.grant("beta", "alpha", "shared:*", settings=settings)
    assert granted.rule == "%R~{alpha}:shared:*" and not granted.failed
    assert len(granted.nodes) == 6 and {n.outcome for n in granted.nodes} == {"granted"}
    acl.provision("beta", settings=settings)  # again: the grant stays on every node
    for node in cluster.nodes:
        admin = _admin(node)
        try:
            assert "%R~{alpha}:shared:*" in admin.acl_getuser("roleredis-beta")["keys"], node
        finally:
            admin.close()
    listing = acl.list_report(settings=settings)
    assert listing.drift == []
    assert {u["role"]: u["grants"] for u in listing.users} == {
        "alpha": [],
        "beta": ["alpha:shared:*"],
    }
    writer = redis.RedisCluster(startup_nodes=cluster.startup_nodes(), password=ADMIN)
    try:
        writer.set("{alpha}:shared:a", b'"yes"')
        writer.set("{alpha}:private", b'"no"')
    finally:
        writer.close()

    monkeypatch.setenv("REDIS_URL", cluster.url)
    monkeypatch.setenv("REDIS_USERNAME", beta.username)
    monkeypatch.setenv("REDIS_PASSWORD", beta.password)
    reset()
    try:
        assert redis_read("shared:a", role="beta", from_role="alpha")["value"] == "yes"
        assert redis_get_keys(role="beta", from_role="alpha")["keys"] == ["shared:a"]
        refused = redis_read("private", role="beta", from_role="alpha")
        assert refused["error_code"] == "permission", refused
    finally:
        reset()
    # a node that lost the grant (replaced, or edited by hand) is drift, evened out by granting
    odd = cluster.nodes[-1]
    admin = _admin(odd)
    try:
        one = acl.revoke_grant("beta", "alpha", "shared:*", client=admin, settings=settings)
        assert [n.outcome for n in one.nodes] == ["revoked"]
    finally:
        admin.close()
    assert any("rules differ" in d for d in acl.list_report(settings=settings).drift)
    evened = acl.grant("beta", "alpha", "shared:*", settings=settings)
    assert evened.drift == [f"the grant was missing on 127.0.0.1:{odd.port}"]
    assert acl.list_report(settings=settings).drift == []
    revoked = acl.revoke_grant("beta", "alpha", "shared:*", settings=settings)
    assert {n.outcome for n in revoked.nodes} == {"revoked"} and len(revoked.nodes) == 6
    assert [u["grants"] for u in acl.list_users(settings=settings)] == [[], []]


# last of the cluster tests: it kills a primary of the module's cluster
def test_a_failed_node_is_reported_and_the_cluster_user_survives_a_failover(
    cluster: RedisClusterProcesses, settings: Settings
) -> None:
    creds = acl.provision("weather", settings=settings)
    assert creds.password is not None
    client = redis.RedisCluster(
        startup_nodes=cluster.startup_nodes(), username=creds.username, password=creds.password
    )
    try:
        client.set("{weather}:k", b"before")
        victim = cluster.primary_for_key("{weather}:k")
        direct = victim.client()
        try:
            direct.wait(1, 5000)
        finally:
            direct.close()
    finally:
        client.close()
    victim.kill()

    # the dead node is still listed by the others for a moment: it is reported, the rest done
    failed = _cli(cluster.url, "provision", "weather", "--json")
    if failed.returncode != 0:
        report = json.loads(failed.stdout)
        bad = [n for n in report["nodes"] if not n["ok"]]
        assert [n["address"] for n in bad] == [f"127.0.0.1:{victim.port}"], report
        assert failed.returncode == 1 and str(victim.port) in failed.stderr

    cluster.wait_for_failover(victim)
    client = redis.RedisCluster(
        startup_nodes=cluster.startup_nodes(), username=creds.username, password=creds.password
    )
    try:  # the replica promoted in the victim's place had the user: no lockout
        assert client.get("{weather}:k") == b"before"
        assert client.set("{weather}:k", b"after") is True
        assert cluster.primary_for_key("{weather}:k") is not victim
    finally:
        client.close()


# --------------------------------------------------------------------------- Sentinel


def test_sentinel_primary_and_replica_get_the_user_and_a_failover_keeps_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SentinelGroup() as group:
        monkeypatch.setenv("REDIS_URL", group.url)
        monkeypatch.delenv("REDIS_PASSWORD", raising=False)
        reset()
        creds = acl.provision("weather")
        assert creds.password and not creds.failed
        assert [n.kind for n in creds.nodes] == ["primary", "replica"]
        for server in group.servers():
            login = _login(server.port, creds.username, creds.password)
            try:
                assert login.ping() is True
            finally:
                login.close()

        # the tools, as the role's user, through the sentinels
        monkeypatch.setenv("REDIS_USERNAME", creds.username)
        monkeypatch.setenv("REDIS_PASSWORD", creds.password)
        reset()
        assert redis_write("forecast", {"sky": "clear"}, role="weather")["success"]
        refused = redis_write("x", 1, role="timer")
        assert refused["error_code"] == "permission", refused
        assert redis_health_check(role="weather")["success"]
        primary = group.current_primary()
        direct = primary.client()
        try:
            assert direct.wait(1, 5000) == 1
        finally:
            direct.close()

        primary.kill()
        new = group.wait_for_failover(primary)
        assert new is not primary
        deadline = time.monotonic() + 15
        while True:  # the pool reconnects to the new primary, where the user exists
            result = redis_read("forecast", role="weather")
            if result["success"] or time.monotonic() > deadline:
                break
            assert result["error_code"] in ("connection", "timeout", "overloaded"), result
            time.sleep(0.1)
        assert result["success"] and result["value"] == {"sky": "clear"}, result
        assert redis_write("after", 1, role="weather")["success"]
        assert redis_write("x", 1, role="timer")["error_code"] == "permission"
        reset()
