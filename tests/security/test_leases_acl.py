"""Issue 22, items 2 and 5: leases under provisioned ACL users. A role's user takes, renews
and releases its own leases through the library (FCALL only: never EVAL nor FUNCTION LOAD),
and cannot take, renew or release another role's lease with raw commands, even knowing its
token: the functions get their keys only through FCALL's key list, which the server checks
against the caller's key patterns, as it checks every command they run."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis import (
    redis_acquire,
    redis_receive,
    redis_release,
    redis_renew,
    redis_send,
    redis_touch,
    reset,
)
from roleredis.admin import acl
from roleredis.core import leases
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer

from .acl_users import provisioned, raw_as

ADMIN_PASSWORD = "admin-pw-l34s3"
ROLES = ("alpha", "beta")
ACQUIRE, RENEW, RELEASE = leases.FUNCTIONS


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(password=ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def users(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from provisioned(server, ADMIN_PASSWORD, ROLES, monkeypatch)


def connect_as(role: str, users: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_USERNAME", users[role].username)
    monkeypatch.setenv("REDIS_PASSWORD", users[role].password)
    monkeypatch.setenv("ROLEREDIS_ROLE", role)
    reset()


def refused(client: redis.Redis, *command: Any) -> bool:
    """The server refused ``command`` for the user's ACL (NOPERM, or a function's inner
    command or key refused)."""
    try:
        client.execute_command(*command)
    except redis.exceptions.NoPermissionError:
        return True
    except redis.exceptions.ResponseError as exc:
        return "user executing the script can't" in str(exc)
    return False


def test_provisioning_loads_the_functions_and_grants_fcall_only(users: dict[str, Any]) -> None:
    admin = users["admin"]
    libraries = admin.execute_command("FUNCTION", "LIST", "LIBRARYNAME", leases.LIBRARY)
    assert len(libraries) == 1
    name, own = users["alpha"].username, Keyspace("alpha")

    def allowed(*command: Any) -> bool:
        return admin.execute_command("ACL", "DRYRUN", name, *command) in (b"OK", "OK")

    assert allowed("FCALL", ACQUIRE, 2, own.lease("n"), own.fences(), "n", "t", 1)
    assert allowed("XCLAIM", own.mail_channel("beta"), "inbox", "c", 0, "1-0", "JUSTID")
    for never in (
        ("EVAL", "return 1", 0),
        ("EVALSHA", "0" * 40, 0),
        ("FCALL_RO", ACQUIRE, 0),
        ("FUNCTION", "LOAD", leases.SOURCE),
        ("FUNCTION", "FLUSH"),
        ("SCRIPT", "LOAD", "return 1"),
    ):
        assert not allowed(*never), never


def test_a_role_uses_its_own_leases_through_the_library(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_as("alpha", users, monkeypatch)
    got = redis_acquire("nightly", 30, replicas=0)
    assert got["success"] is True and got["role"] == "alpha", got
    assert redis_acquire("nightly", 30)["error_code"] == "held"
    assert redis_renew("nightly", got["token"], 30)["success"] is True
    assert redis_release("nightly", got["token"])["released"] is True
    # touching its own received mail works with its grants
    connect_as("beta", users, monkeypatch)
    assert redis_send("alpha", "job")["success"] is True
    connect_as("alpha", users, monkeypatch)
    ids = [m["id"] for m in redis_receive()["messages"]]
    assert redis_touch(ids)["touched"] == 1


def test_another_roles_lease_cannot_be_taken_renewed_or_released_with_raw_commands(
    users: dict[str, Any], server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    connect_as("beta", users, monkeypatch)
    betas = redis_acquire("nightly", 30)
    assert betas["success"] is True, betas
    token = betas["token"]  # even a leaked token gives alpha nothing
    beta = Keyspace("beta")
    lease, fences = beta.lease("nightly"), beta.fences()
    own = Keyspace("alpha")
    alpha = raw_as("alpha", users, server)
    try:
        attempts = [
            ("FCALL", ACQUIRE, 2, lease, fences, "nightly", "mine", 30000),
            ("FCALL", RENEW, 1, lease, token, 30000),
            ("FCALL", RELEASE, 1, lease, token),
            # its own lease key with beta's counters, or the other way round
            ("FCALL", ACQUIRE, 2, own.lease("nightly"), fences, "nightly", "mine", 30000),
            ("FCALL", ACQUIRE, 2, lease, own.fences(), "nightly", "mine", 30000),
            ("SET", lease, "mine 99", "PX", 30000),
            ("DEL", lease),
            ("GET", lease),
            ("PEXPIRE", lease, 1),
            ("HSET", fences, "nightly", 0),
            ("HINCRBY", fences, "nightly", -5),
            ("EVAL", "return redis.call('DEL', KEYS[1])", 1, lease),
            ("FUNCTION", "LOAD", "REPLACE", leases.SOURCE),
            ("FUNCTION", "DELETE", leases.LIBRARY),
            ("FUNCTION", "FLUSH"),
        ]
        for attempt in attempts:
            assert refused(alpha, *attempt), attempt[:2]
    finally:
        alpha.close()
    admin = users["admin"]
    assert admin.get(lease) == f"{token} {betas['fence']}".encode()
    assert int(admin.hget(fences, "nightly")) == betas["fence"]
    assert admin.execute_command("FUNCTION", "LIST", "LIBRARYNAME", leases.LIBRARY)


def test_without_the_functions_a_role_is_told_to_run_acl_provision(
    users: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    users["admin"].execute_command("FUNCTION", "FLUSH")
    connect_as("alpha", users, monkeypatch)
    failed = redis_acquire("nightly", 30)
    assert failed["error_code"] == "permission", failed
    assert "roleredis acl provision alpha" in failed["error"]
    acl.provision("alpha", client=users["admin"])  # the admin loads them again
    assert redis_acquire("nightly", 30)["success"] is True
