"""``roleredis mail ROLE`` (issue 12, item 2): pending mail per sender, dead letters,
``--replay``, ``--json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roleredis import redis_ack, redis_dead_letters, redis_receive, redis_send

from .conftest import Cli


def test_mail_shows_pending_and_dead_letters_and_replays(
    cli: Cli, write_config: Callable[[dict[str, Any]], object]
) -> None:
    write_config({"messaging": {"visibility_timeout": 0.1, "max_deliveries": 1}})
    for n in range(2):
        redis_send("beta", {"n": n}, role="alpha")
    redis_send("beta", "still pending", role="carol")
    assert redis_receive(10, role="beta")["count"] == 3
    for _ in range(20):  # delivered once, never acknowledged: dead letters after 0.1 s
        redis_receive(10, 100, role="beta")
        if redis_dead_letters(role="beta")["count"] == 3:
            break
    shown = cli("mail", "beta", "--json")
    assert shown.returncode == 0, shown
    body = shown.json()
    assert body["role"] == "beta" and body["dead_letters"] == 3
    assert [s["from"] for s in body["senders"]] == ["alpha", "carol"]
    assert all(s["unacked"] == 0 and s["pending"] == 0 for s in body["senders"])
    assert [(d["from"], d["body"], d["deliveries"]) for d in body["dead"]] == [
        ("alpha", {"n": 0}, 1),
        ("alpha", {"n": 1}, 1),
        ("carol", "still pending", 1),
    ]
    text = cli("mail", "beta")
    assert "from alpha: 0 unacknowledged, 0 pending" in text.stdout, text
    assert "dead letters: 3" in text.stdout

    replayed = cli("mail", "beta", "--replay")
    assert replayed.returncode == 0 and "put 3 dead letters back" in replayed.stdout, replayed
    redis_send("beta", "new", role="alpha")
    after = cli("mail", "beta", "--json").json()
    assert after["dead_letters"] == 0
    by_sender = {s["from"]: s for s in after["senders"]}
    assert by_sender["alpha"]["unacked"] == 3 and by_sender["carol"]["unacked"] == 1
    got = redis_receive(10, role="beta")["messages"]
    assert sorted(str(m["body"]) for m in got) == sorted(
        ["{'n': 0}", "{'n': 1}", "still pending", "new"]
    )
    pending = cli("mail", "beta", "--json").json()["senders"][0]
    assert pending["pending"] == 3 and pending["deliveries"] == 1
    assert pending["oldest"].startswith("alpha/")
    assert redis_ack([m["id"] for m in got], role="beta")["acked"] == 4


def test_mail_of_a_role_nobody_wrote_to(cli: Cli) -> None:
    shown = cli("mail", "nobody")
    assert shown.returncode == 0 and "no role has sent it any" in shown.stdout, shown
    assert cli("mail", "bad role!").returncode == 2


def test_mail_counts_requests_that_expired_unanswered(cli: Cli) -> None:
    """Issue 21, item 3: a request past its deadline is acknowledged by the receive that finds
    it, never handed out, and counted on its sender's line."""
    from roleredis import redis_request

    for _ in range(2):
        late = redis_request("beta", "anyone?", timeout=0.05, role="alpha")
        assert late["error_code"] == "timeout", late
    redis_send("beta", "plain", role="alpha")
    got = redis_receive(10, role="beta")["messages"]
    assert [m["body"] for m in got] == ["plain"]  # the two requests were never handed out
    text = cli("mail", "beta")
    assert "2 requests expired unanswered" in text.stdout, text
    body = cli("mail", "beta", "--json").json()
    assert body["senders"][0]["expired"] == 2
