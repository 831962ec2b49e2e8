"""Issue 21: replies with provisioned ACL users, by raw commands as each role's own user (what
docs/threat-model.md says under "Requests and replies"). alpha asks beta; carol is a third
role. Only beta's user can write an answer to alpha's request to beta; no role reads, deletes,
expires or trims another's reply stream; a responder may create a key named as its reply in
the requester's namespace, which the requester never reads; garbage from the responder is a
responder_error, the first entry only is taken."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis import RoleStore, reset
from roleredis.admin import acl
from roleredis.foundation.errors import ResponderError
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer

from .acl_users import refused

ADMIN_PASSWORD = "admin-pw-r3ply"
ROLES = ("alpha", "beta", "carol")
WAIT = 30.0


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(password=ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def users(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("REDIS_URL", server.url)
    monkeypatch.setenv("REDIS_PASSWORD", ADMIN_PASSWORD)
    reset()
    found: dict[str, Any] = {role: acl.provision(role) for role in ROLES}
    clients = {
        role: redis.Redis.from_url(
            server.url, username=found[role].username, password=found[role].password
        )
        for role in ROLES
    }
    clients["admin"] = redis.Redis.from_url(server.url, password=ADMIN_PASSWORD)
    yield clients
    for client in clients.values():
        client.close()
    reset()


class Asking(threading.Thread):
    """alpha's request to beta, through the library as alpha's own user."""

    def __init__(self, client: redis.Redis, timeout: float = 20) -> None:
        super().__init__(daemon=True)
        self.store = RoleStore("alpha", client=client)
        self.timeout = timeout
        self.outcome: Any = None

    def run(self) -> None:
        try:
            self.outcome = self.store.request("beta", {"q": 1}, timeout=self.timeout)
        except Exception as exc:
            self.outcome = exc

    def result(self) -> Any:
        self.join(WAIT)
        assert not self.is_alive()
        return self.outcome


def the_request(beta: redis.Redis) -> tuple[str, str]:
    """beta's store receives alpha's request: (its id, the reply stream's key)."""
    store = RoleStore("beta", client=beta)
    (message,) = store.receive(count=10, block_ms=10_000)
    assert message.deadline is not None and message.sender == "alpha"
    return message.id, Keyspace("alpha").reply_key("beta", message.msg_id)


def test_only_the_asked_roles_user_writes_the_answer_and_nobody_else_touches_it(
    users: dict[str, redis.Redis],
) -> None:
    asking = Asking(users["alpha"])
    asking.start()
    message_id, key = the_request(users["beta"])
    carol, beta = users["carol"], users["beta"]
    # another role cannot answer a request sent to beta, with or without NOMKSTREAM
    assert refused(carol, "XADD", key, "NOMKSTREAM", "*", "r", b'{"forged":1}')
    assert refused(carol, "XADD", key, "*", "r", b"x")
    # nobody but alpha reads, deletes, expires or trims it: not beta, not carol
    for client in (beta, carol):
        for command in (
            ("XREAD", "STREAMS", key, "0-0"),
            ("XRANGE", key, "-", "+"),
            ("XLEN", key),
            ("DEL", key),
            ("UNLINK", key),
            ("EXPIRE", key, 1),
            ("PEXPIRE", key, 1),
            ("PERSIST", key),
            ("XTRIM", key, "MAXLEN", 0),
            ("XDEL", key, "1-0"),
            ("TYPE", key),
        ):
            assert refused(client, *command), (client, command)
    # beta's user answers; the answer names beta, whose key it is
    answer = RoleStore("beta", client=beta).reply(message_id, {"a": 2})
    assert answer.delivered is True
    got = asking.result()
    assert got.reply == {"a": 2} and got.responder == "beta"
    # beta's reply selector reaches only keys named as its own replies: not alpha's other
    # keys (beta's own channel to alpha, mail:beta, is its mail selector's)
    for other in ("mail:carol", "dead:beta", "mail-expired", "mail-clock", "reply:carol:x"):
        target = Keyspace("alpha").internal_key(other)
        assert refused(beta, "XADD", target, "NOMKSTREAM", "*", "r", b"x"), other
    assert users["admin"].exists(key) == 1  # alpha's stream, until it expires or is unlinked


def test_a_responder_may_make_a_key_named_as_its_reply_that_nobody_reads(
    users: dict[str, redis.Redis],
) -> None:
    beta, admin = users["beta"], users["admin"]
    stray = Keyspace("alpha").reply_key("beta", "f" * 32)
    assert beta.execute_command("XADD", stray, "*", "r", b"junk")  # no NOMKSTREAM: made
    assert admin.type(stray) == b"stream" and admin.ttl(stray) == -1
    assert refused(beta, "XRANGE", stray, "-", "+") and refused(beta, "DEL", stray)
    # NOMKSTREAM (what roleredis sends) makes nothing after the deadline
    gone = Keyspace("alpha").reply_key("beta", "e" * 32)
    assert beta.execute_command("XADD", gone, "NOMKSTREAM", "*", "r", b"x") is None
    assert admin.exists(gone) == 0
    # alpha's own requests never read it: the answer is the one to the live request
    asking = Asking(users["alpha"])
    asking.start()
    message_id, _ = the_request(beta)
    RoleStore("beta", client=beta).reply(message_id, "the answer")
    assert asking.result().reply == "the answer"


@pytest.mark.parametrize(
    "entries",
    [
        [("r", b"x" * (1024 * 1024 + 1))],  # over messaging.max_message_bytes
        [("z", b"no reply field")],
        [("e", b"x" * 5000), ("r", b"1")],  # an error text over 4,000 bytes: not an error
    ],
    ids=["oversize", "no-value", "long-error"],
)
def test_garbage_from_the_responder_is_a_responder_error_and_the_first_entry_counts(
    users: dict[str, redis.Redis], entries: list[tuple[str, bytes]]
) -> None:
    asking = Asking(users["alpha"])
    asking.start()
    message_id, key = the_request(users["beta"])
    beta = users["beta"]
    for field, value in entries:
        beta.execute_command("XADD", key, "NOMKSTREAM", "*", field, value)
    # a well-formed answer after the garbage is not taken: the first entry is the answer
    RoleStore("beta", client=beta).reply(message_id, "too late")
    outcome = asking.result()
    assert isinstance(outcome, ResponderError), outcome
    assert outcome.context["from"] == "beta"
