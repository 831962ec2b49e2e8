"""Issue 8, item 12: `acl provision` re-created an existing user with a new password, locking
out every running role at each change of the rules. Re-provisioning now updates the rules in
place and keeps the password and other grants; --new-password rotates it. A NOPERM on a
command roleredis needs says to re-run `roleredis acl provision ROLE`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import redis

from roleredis import redis_exists, redis_read, reset
from roleredis.admin import acl
from roleredis.foundation.errors import PermissionDeniedError, translate
from roleredis.testing import RedisServer

from .conftest import ADMIN_PASSWORD


@pytest.fixture
def admin(acl_server: RedisServer) -> Iterator[tuple[RedisServer, redis.Redis]]:
    client = redis.Redis.from_url(acl_server.url, password=ADMIN_PASSWORD)
    yield acl_server, client
    client.close()


def _works(server: RedisServer, username: str, password: str) -> bool:
    login = redis.Redis.from_url(server.url, username=username, password=password)
    try:
        return login.set("weather:k", "v") is True
    except redis.exceptions.AuthenticationError:
        return False
    finally:
        login.close()


def test_reprovision_keeps_password_and_other_grants(
    admin: tuple[RedisServer, redis.Redis],
) -> None:
    server, client = admin
    first = acl.provision("weather")
    assert first.created is True and first.password
    # an old-style user (with INFO) and a read grant added later by someone else
    client.execute_command("ACL", "SETUSER", first.username, "+info", "%R~news:*", "&alerts")

    again = acl.provision("weather")
    assert again.created is False and again.password is None
    assert again.as_dict()["password"] is None
    assert _works(server, first.username, first.password)  # still logged in
    user = client.acl_getuser(first.username)
    assert "%R~news:*" in user["keys"] and "~weather:*" in user["keys"]
    assert "&alerts" in user["channels"]
    assert "+info" not in user["commands"]  # the rules themselves did change

    rotated = acl.provision("weather", new_password=True)
    assert rotated.password and rotated.password != first.password and not rotated.created
    assert not _works(server, first.username, first.password)
    assert _works(server, first.username, rotated.password)
    assert "%R~news:*" in client.acl_getuser(first.username)["keys"]


def test_cli_says_password_unchanged_and_rotates(admin: tuple[RedisServer, redis.Redis]) -> None:
    server, _ = admin
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(REDIS_URL=server.url, REDIS_PASSWORD=ADMIN_PASSWORD)

    def provision(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "roleredis", "acl", "provision", "timer", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    created = provision()
    assert created.returncode == 0 and "REDIS_PASSWORD=" in created.stdout, created.stderr
    kept = provision()
    assert kept.returncode == 0, kept.stderr
    assert "password unchanged" in kept.stdout and "REDIS_PASSWORD=" not in kept.stdout
    as_json = provision("--json")
    assert '"password": null' in as_json.stdout
    rotated = provision("--new-password", "--json")
    assert rotated.returncode == 0 and '"password": null' not in rotated.stdout


def test_noperm_on_a_needed_command_says_to_reprovision(
    admin: tuple[RedisServer, redis.Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, client = admin
    creds = acl.provision("weather")
    client.execute_command("ACL", "SETUSER", creds.username, "-get")  # rules out of date
    monkeypatch.setenv("REDIS_USERNAME", creds.username)
    monkeypatch.setenv("REDIS_PASSWORD", creds.password or "")
    reset()
    refused = redis_read("k", role="weather")
    assert refused["error_code"] == "permission"
    assert "roleredis acl provision ROLE" in refused["error"], refused
    # another role's key is refused without the hint: that refusal is the point of the ACL
    other = redis_exists("k", role="timer")
    assert other["error_code"] == "permission" and "provision" not in other["error"], other
    refused_select = redis.exceptions.NoPermissionError(
        "this user has no permissions to run the 'select' command"
    )
    assert isinstance(translate(refused_select), PermissionDeniedError)
    assert "acl provision ROLE" in str(translate(refused_select))
