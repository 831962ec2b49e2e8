"""Issue 21, items 2 and 6: request/reply under provisioned ACL users. Who answered is vouched
for by the server: a role's user may append only to reply streams named after itself
(``__roleredis__:{*}:reply:<itself>:*``), with XADD only; every attempt by raw commands to
forge, read, delete or shorten another role's replies is refused, and a forged answer in a
stream the forger may write is never taken for the real responder's."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from roleredis import RoleStore, redis_receive, redis_reply, redis_request, reset
from roleredis.admin.acl.rules import user_rules
from roleredis.foundation.keys import Keyspace
from roleredis.testing import RedisServer

from .acl_users import provisioned, raw_as, refused

ADMIN_PASSWORD = "admin-pw-r3ply"
ROLES = ("planner", "worker", "carol")


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer(password=ADMIN_PASSWORD) as running:
        yield running


@pytest.fixture
def users(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    yield from provisioned(server, ADMIN_PASSWORD, ROLES, monkeypatch)


def store_as(role: str, users: dict[str, Any], server: RedisServer) -> RoleStore:
    """``role``'s store, logged in as ``role``'s own ACL user (each side of an exchange
    with its own user, in one process)."""
    return RoleStore(role, client=raw_as(role, users, server))


def test_provisioning_grants_the_reply_selector_and_nothing_more(
    users: dict[str, Any],
) -> None:
    rules = user_rules("worker", 0)
    assert "(%W~__roleredis__:{*}:reply:worker:* +xadd)" in rules
    admin = users["admin"]
    listed = admin.execute_command("ACL", "GETUSER", users["worker"].username)
    shown = str(listed)
    assert "__roleredis__:{*}:reply:worker:*" in shown
    assert "reply:planner" not in shown and "reply:carol" not in shown


def test_only_the_responder_can_answer_and_nobody_can_read_or_spoil_a_reply(
    users: dict[str, Any], server: RedisServer
) -> None:
    planner, worker = store_as("planner", users, server), store_as("worker", users, server)
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["answer"] = planner.request("worker", {"question": 6}, timeout=10)
        except Exception as exc:  # the test reports it
            outcome["error"] = exc

    asking = threading.Thread(target=ask)
    asking.start()
    (request,) = worker.receive(1, 5000)
    assert request.sender == "planner" and request.reply_expected
    key = Keyspace("planner").reply_key("worker", request.msg_id)
    carol_raw, worker_raw = raw_as("carol", users, server), raw_as("worker", users, server)
    planner_raw = raw_as("planner", users, server)
    try:
        # a third role cannot write the answer, nor read, shorten, delete or expire it
        forged = ("XADD", key, "NOMKSTREAM", "*", "r", b'"forged"')
        for command in (
            forged,
            ("XADD", key, "*", "r", b'"forged"'),
            ("XRANGE", key, "-", "+"),
            ("XREAD", "STREAMS", key, "0-0"),
            ("XLEN", key),
            ("XTRIM", key, "MAXLEN", "0"),
            ("DEL", key),
            ("PEXPIRE", key, "1"),
            ("RENAME", key, "carol:x"),
        ):
            assert refused(carol_raw, *command), command
        # what carol may write: streams named after itself; the planner never reads those
        fake = Keyspace("planner").reply_key("carol", request.msg_id)
        assert carol_raw.execute_command("XADD", fake, "*", "r", b'"forged"')
        # the responder itself may only append: no reading, trimming, deleting, expiring
        for command in (
            ("XRANGE", key, "-", "+"),
            ("XREAD", "STREAMS", key, "0-0"),
            ("XLEN", key),
            ("DEL", key),
            ("PEXPIRE", key, "100000"),
            ("XDEL", key, "0-1"),
            ("XADD", Keyspace("planner").reply_key("carol", request.msg_id), "*", "r", b"1"),
            ("XADD", Keyspace("carol").mail_channel("planner"), "*", "m", "x"),
        ):
            assert refused(worker_raw, *command), command
        # the requester's own user cannot read another role's replies either
        carol_key = Keyspace("carol").reply_key("worker", request.msg_id)
        assert refused(planner_raw, "XRANGE", carol_key, "-", "+")
        # the real answer, through the library as the worker's user
        answered = worker.reply(request.id, {"answer": 36})
        assert answered.delivered is True
        asking.join(15)
        assert "error" not in outcome, outcome
        answer = outcome["answer"]
        assert answer.reply == {"answer": 36} and answer.responder == "worker"
    finally:
        for client in (carol_raw, worker_raw, planner_raw):
            client.close()


def test_a_forged_reply_is_never_taken_and_a_raw_late_xadd_is_what_the_threat_model_says(
    users: dict[str, Any], server: RedisServer
) -> None:
    """carol answers, in a stream it may write, a request the planner sent the worker; the
    planner, reading only the worker's stream, times out. The worker's user, with a raw XADD
    without NOMKSTREAM after the deadline, can make a reply stream: nothing reads it."""
    planner = store_as("planner", users, server)
    worker = store_as("worker", users, server)
    carol_raw, worker_raw = raw_as("carol", users, server), raw_as("worker", users, server)
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            planner.request("worker", "who?", timeout=1.5)
        except Exception as exc:
            outcome["error"] = exc

    asking = threading.Thread(target=ask)
    asking.start()
    (request,) = worker.receive(1, 5000)
    try:
        fake = Keyspace("planner").reply_key("carol", request.msg_id)
        carol_raw.execute_command("XADD", fake, "*", "r", b'"carol pretending"')
        asking.join(10)
        assert type(outcome["error"]).__name__ == "TimeoutError", outcome
        key = Keyspace("planner").reply_key("worker", request.msg_id)
        waited_until = time.time() + 5
        while users["admin"].exists(key) and time.time() < waited_until:
            time.sleep(0.05)  # it expires a second after the request's timeout
        assert users["admin"].exists(key) == 0
        late = worker.reply(request.id, "late")
        assert late.delivered is False and users["admin"].exists(key) == 0
        # raw, without NOMKSTREAM, the responder's own user can make the key (documented)
        assert worker_raw.execute_command("XADD", key, "*", "r", b'"raw"')
        assert users["admin"].exists(key) == 1
    finally:
        carol_raw.close()
        worker_raw.close()


def test_the_tools_under_acl_users_answer_end_to_end(
    users: dict[str, Any], server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both roles through the tools, each logged in as its own user in turn: the worker's
    answer reaches the planner, and the planner's user may not answer in the worker's
    name."""
    worker = store_as("worker", users, server)
    monkeypatch.setenv("REDIS_USERNAME", users["planner"].username)
    monkeypatch.setenv("REDIS_PASSWORD", users["planner"].password)
    reset()
    results: list[dict[str, Any]] = []
    asking = threading.Thread(
        target=lambda: results.append(redis_request("worker", 7, timeout=10, role="planner"))
    )
    asking.start()
    (request,) = worker.receive(1, 5000)
    # the planner's user may not receive or answer as the worker
    assert redis_receive(role="worker")["error_code"] == "permission"
    assert redis_reply(request.id, 8, role="worker")["error_code"] == "permission"
    worker.reply(request.id, 49)
    asking.join(15)
    (result,) = results
    assert result["success"] is True and result["reply"] == 49 and result["from"] == "worker"


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ((b"x", b"no reply field"), "malformed reply"),
        ((b"r", b"\xffrrq an envelope no version knows"), "undecodable reply"),
        ((b"e", b""), None),  # an empty error text is still an error answer
    ],
)
def test_a_responder_writing_garbage_gets_a_clear_failure_to_the_requester(
    users: dict[str, Any], server: RedisServer, fields: tuple[bytes, bytes], said: str | None
) -> None:
    """The responder's own user may write any entry to a reply stream of a request sent to
    it: the requester checks its form (never a traceback, never a wrong value)."""
    planner = store_as("planner", users, server)
    worker = store_as("worker", users, server)
    outcome: dict[str, Any] = {}

    def ask() -> None:
        try:
            outcome["answer"] = planner.request("worker", "q", timeout=10)
        except Exception as exc:
            outcome["error"] = exc

    asking = threading.Thread(target=ask)
    asking.start()
    (request,) = worker.receive(1, 5000)
    key = Keyspace("planner").reply_key("worker", request.msg_id)
    worker_raw = raw_as("worker", users, server)
    try:
        assert worker_raw.execute_command("XADD", key, "NOMKSTREAM", "*", *fields)
    finally:
        worker_raw.close()
    asking.join(15)
    error = outcome["error"]
    assert type(error).__name__ == "ResponderError", outcome
    assert error.context["from"] == "worker"
    if said is not None:
        assert error.context["reply_error"] == said
