"""Issue 12, item 2: mailboxes between roles on Redis Streams, on every backend that can hold
them (fakeredis has consumer groups and XAUTOCLAIM; the cluster runs each role's channels in
its slot)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from roleredis import (
    RoleStore,
    aio,
    redis_ack,
    redis_dead_letters,
    redis_flush,
    redis_receive,
    redis_replay_dead_letters,
    redis_send,
    redis_send_async,
)
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory", "cluster")
#: the tests that also run on a Sentinel group (a client setting: the same commands reach its
#: primary), the quick ones: the slow ones wait for visibility timeouts
WITH_SENTINEL = pytest.mark.backends("redis", "memory", "cluster", "sentinel")

Config = Callable[[dict[str, Any]], Path]


def receive_all(role: str, want: int, *, count: int = 25, block_ms: int = 200) -> list[Any]:
    """Receive (and ack) until ``want`` messages came, or a receive came back empty."""
    got: list[Any] = []
    while len(got) < want:
        result = redis_receive(count, block_ms, role=role)
        assert result["success"] is True, result
        if not result["messages"]:
            break
        got += result["messages"]
        acked = redis_ack([m["id"] for m in result["messages"]], role=role)
        assert acked["acked"] == len(result["messages"]), acked
    return got


@WITH_SENTINEL
def test_two_roles_exchange_messages_in_order() -> None:
    for n in range(60):
        sent = redis_send("beta", {"n": n}, role="alpha")
        assert sent["success"] is True, sent
        assert sent["from"] == "alpha" and sent["to"] == "beta"
        assert sent["id"].startswith("alpha/")
        assert redis_send("alpha", f"reply {n}", role="beta")["success"] is True
    at_beta = receive_all("beta", 60)
    at_alpha = receive_all("alpha", 60)
    assert [m["body"] for m in at_beta] == [{"n": n} for n in range(60)]
    assert [m["body"] for m in at_alpha] == [f"reply {n}" for n in range(60)]
    assert {m["from"] for m in at_beta} == {"alpha"}
    assert {m["deliveries"] for m in at_beta} == {1}
    assert all(len(m["msg_id"]) == 32 for m in at_beta)
    assert at_beta[0]["sent_at"] <= at_beta[-1]["sent_at"] <= time.time()
    # acknowledged mail is gone: nothing comes again, and the channel is empty
    assert redis_receive(10, role="beta")["count"] == 0
    status, dead = RoleStore("beta").mail_status()
    assert [(s.sender, s.unacked, s.pending) for s in status] == [("alpha", 0, 0)]
    assert dead == 0


@WITH_SENTINEL
def test_values_arrive_exactly_and_ids_round_trip() -> None:
    values = [None, "123", "null", True, 0, 1.5, [1, "a"], {"k": {"n": None}}, b"\x00\xff"]
    ids = [redis_send("beta", v, role="alpha")["id"] for v in values]
    result = redis_receive(50, role="beta")
    assert [m["body"] for m in result["messages"]] == values
    assert [m["id"] for m in result["messages"]] == ids
    assert redis_ack(ids, role="beta")["acked"] == len(values)
    assert redis_ack(ids, role="beta")["acked"] == 0  # only once


def test_unacked_mail_comes_back_then_becomes_a_dead_letter(write_config: Config) -> None:
    write_config({"messaging": {"visibility_timeout": 0.1, "max_deliveries": 2}})
    sent = redis_send("beta", {"job": 1}, role="alpha")
    first = redis_receive(role="beta")["messages"]
    assert [(m["msg_id"], m["deliveries"]) for m in first] == [(sent["msg_id"], 1)]

    again = receive_all_unacked("beta")
    assert [(m["msg_id"], m["deliveries"], m["id"]) for m in again] == [
        (sent["msg_id"], 2, first[0]["id"])
    ]
    # a third delivery would pass max_deliveries: it moves to the dead letters instead
    assert receive_all_unacked("beta", tries=6) == []
    dead = redis_dead_letters(role="beta")
    assert dead["count"] == 1, dead
    letter = dead["messages"][0]
    assert letter["msg_id"] == sent["msg_id"] and letter["from"] == "alpha"
    assert letter["body"] == {"job": 1} and letter["deliveries"] == 2
    assert letter["reason"] == "max_deliveries"

    replayed = redis_replay_dead_letters(role="beta")
    assert replayed["replayed"] == 1 and replayed["ids"] == [letter["id"]]
    assert redis_dead_letters(role="beta")["count"] == 0
    back = redis_receive(role="beta")["messages"]
    assert [(m["msg_id"], m["from"], m["deliveries"]) for m in back] == [
        (sent["msg_id"], "alpha", 1)
    ]
    assert redis_ack([back[0]["id"]], role="beta")["acked"] == 1


def receive_all_unacked(role: str, tries: int = 20) -> list[Any]:
    """Receive without acking until something comes (or ``tries`` waits of 200 ms pass)."""
    for _ in range(tries):
        got = redis_receive(10, 200, role=role)
        assert got["success"] is True, got
        if got["messages"]:
            return list(got["messages"])
    return []


def test_replay_takes_chosen_ids_and_refuses_bad_ones(write_config: Config) -> None:
    write_config({"messaging": {"visibility_timeout": 0.1, "max_deliveries": 1}})
    for n in range(3):
        redis_send("beta", n, role="alpha")
    assert redis_receive(role="beta")["count"] == 3
    assert receive_all_unacked("beta", tries=6) == []
    letters = redis_dead_letters(role="beta")["messages"]
    assert [d["body"] for d in letters] == [0, 1, 2]
    chosen = [letters[1]["id"]]
    assert redis_replay_dead_letters(chosen, role="beta")["replayed"] == 1
    assert [d["body"] for d in redis_dead_letters(role="beta")["messages"]] == [0, 2]
    assert [m["body"] for m in redis_receive(role="beta")["messages"]] == [1]
    # a dead letter's id names its sender (each sender's letters are kept apart): a
    # well-formed id of no letter replays nothing; anything else is refused
    assert all(d["id"].startswith("alpha/") for d in letters)
    assert redis_replay_dead_letters(["alpha/1-0"], role="beta")["replayed"] == 0
    for bad in ("alpha/1-x", "x", 5, "bad role/1-0", f"alpha/{2**64}-0"):
        refused = redis_replay_dead_letters([bad], role="beta")
        assert refused["error_code"] == "invalid_argument", refused


@WITH_SENTINEL
def test_a_full_channel_refuses_sends_with_overloaded(write_config: Config) -> None:
    write_config({"messaging": {"max_length": 3}})
    for n in range(3):
        assert redis_send("beta", n, role="alpha")["success"] is True
    refused = redis_send("beta", 3, role="alpha")
    assert refused["success"] is False and refused["error_code"] == "overloaded", refused
    assert "messaging.max_length" in refused["error"]
    assert redis_send_async("beta", 3, role="alpha")["error_code"] == "overloaded"
    # other senders have channels of their own
    assert redis_send("beta", "from carol", role="carol")["success"] is True
    # delivered but unacknowledged mail still counts; acknowledged mail makes room
    got = redis_receive(10, role="beta")["messages"]
    assert sorted(m["body"] for m in got if m["from"] == "alpha") == [0, 1, 2]
    assert redis_send("beta", 3, role="alpha")["error_code"] == "overloaded"
    first = next(m for m in got if m["from"] == "alpha")
    assert redis_ack([first["id"]], role="beta")["acked"] == 1
    assert redis_send("beta", 3, role="alpha")["success"] is True
    assert redis_send("beta", 4, role="alpha")["error_code"] == "overloaded"
    assert redis_ack([m["id"] for m in got], role="beta")["acked"] == len(got) - 1
    assert [m["body"] for m in receive_all("beta", 10)] == [3]


@pytest.mark.backends("memory")
def test_bodies_are_checked_like_values(write_config: Config) -> None:
    write_config({"messaging": {"max_message_bytes": 100}})
    big = redis_send("beta", "x" * 200, role="alpha")
    assert big["error_code"] == "invalid_argument" and "messaging.max_message_bytes" in big["error"]
    assert big["msg_id"] is None and big["to"] == "beta"
    inexact = redis_send("beta", {1: "int key"}, role="alpha")
    assert inexact["error_code"] == "serialization", inexact
    assert redis_send("beta", "x", role="no such role!")["error_code"] == "invalid_argument"
    assert redis_send("bad role", "x", role="alpha")["error_code"] == "invalid_argument"
    assert redis_receive(role="beta")["count"] == 0


@pytest.mark.backends("memory")
def test_ids_given_back_are_checked() -> None:
    for bad in (["nope"], ["alpha/"], ["alpha/12"], ["bad role/1-0"], [7], "alpha/1-0", None):
        result = redis_ack(bad, role="beta")  # type: ignore[arg-type]
        assert result["error_code"] == "invalid_argument", (bad, result)
        assert result["acked"] == 0
    # a well-formed id of nothing delivered acknowledges nothing (and deletes nothing)
    sent = redis_send("beta", "keep me", role="alpha")
    assert redis_ack([sent["id"]], role="beta")["acked"] == 0
    assert [m["body"] for m in redis_receive(role="beta")["messages"]] == ["keep me"]


@pytest.mark.backends("memory")
def test_arguments_of_receive_are_checked() -> None:
    for count, block in ((0, 0), (10_001, 0), ("5", 0), (5, -1), (5, 1.5)):
        result = redis_receive(count, block, role="beta")  # type: ignore[arg-type]
        assert result["error_code"] == "invalid_argument", (count, block, result)
        assert result["messages"] == [] and result["count"] == 0


def test_a_blocked_receive_wakes_for_a_first_message_from_a_new_sender() -> None:
    redis_send("beta", "warm up", role="alpha")  # beta knows alpha; carol is new
    assert redis_receive(role="beta")["count"] == 1

    def later() -> None:
        time.sleep(0.3)
        redis_send("beta", "hello from carol", role="carol")

    sender = threading.Thread(target=later)
    sender.start()
    try:
        got = redis_receive(1, 2000, role="beta")  # waits at most 2 s
    finally:
        sender.join()
    assert [(m["from"], m["body"]) for m in got["messages"]] == [("carol", "hello from carol")]


def test_a_blocking_receive_with_nothing_returns_empty() -> None:
    assert redis_receive(5, 150, role="lonely")["count"] == 0  # no sender at all yet
    redis_send("lonely", "x", role="alpha")
    assert redis_receive(5, role="lonely")["count"] == 1
    assert redis_receive(5, 150, role="lonely")["count"] == 0  # a channel, nothing new


def test_more_channels_than_count_hands_out_at_most_count() -> None:
    for sender in ("s1", "s2", "s3", "s4"):
        for n in range(3):
            redis_send("beta", f"{sender}-{n}", role=sender)
    seen: list[str] = []
    for _ in range(20):
        got = redis_receive(1, role="beta")["messages"]
        assert len(got) <= 1
        if not got:
            break
        seen.append(got[0]["body"])
        redis_ack([got[0]["id"]], role="beta")
    assert sorted(seen) == sorted(f"s{s}-{n}" for s in range(1, 5) for n in range(3))
    for sender in ("s1", "s2", "s3", "s4"):  # in order per sender
        mine = [b for b in seen if b.startswith(sender)]
        assert mine == [f"{sender}-{n}" for n in range(3)]


def test_junk_in_the_senders_set_is_ignored(raw: Any, backend: str) -> None:
    redis_send("beta", "real", role="alpha")
    senders = Keyspace("beta").mail_senders()
    raw.sadd(senders, "not a role!", "x}:y", "")
    got = redis_receive(role="beta")
    assert got["success"] is True, got
    assert [m["body"] for m in got["messages"]] == ["real"]


@WITH_SENTINEL
def test_sends_through_the_writer_arrive() -> None:
    queued = [redis_send_async("beta", n, role="alpha") for n in range(200)]
    assert all(q["success"] and q["async"] for q in queued)
    flushed = redis_flush(timeout=10)
    assert flushed["success"] is True and flushed["lost"] == 0, flushed
    got = receive_all("beta", 200, count=100)
    assert [m["body"] for m in got] == list(range(200))
    assert [m["msg_id"] for m in got] == [q["msg_id"] for q in queued]


def test_the_async_face_sends_and_receives() -> None:
    async def main() -> tuple[Any, Any, Any]:
        sent = await aio.redis_send("beta", {"via": "aio"}, role="alpha")
        got = await aio.redis_receive(5, 100, role="beta")
        acked = await aio.redis_ack([m["id"] for m in got["messages"]], role="beta")
        return sent, got, acked

    sent, got, acked = asyncio.run(main())
    assert sent["success"] is True
    assert [(m["body"], m["msg_id"]) for m in got["messages"]] == [({"via": "aio"}, sent["msg_id"])]
    assert acked["acked"] == 1


def test_an_async_blocking_receive_wakes_for_a_send() -> None:
    async def main() -> Any:
        await aio.redis_send("beta", "first", role="alpha")
        assert (await aio.redis_receive(role="beta"))["count"] == 1
        waiting = asyncio.ensure_future(aio.redis_receive(1, 3000, role="beta"))
        await asyncio.sleep(0.2)
        await aio.redis_send("beta", "second", role="alpha")
        return await waiting

    got = asyncio.run(main())
    assert [m["body"] for m in got["messages"]] == ["second"]


@pytest.mark.real_server
def test_a_send_whose_reply_is_lost_is_reported_not_sent_again(
    write_config: Config, redis_server: Any
) -> None:
    write_config({"connection": {"socket_timeout": 0.3}})
    assert redis_send("beta", "first", role="alpha")["success"] is True  # length now known
    redis_server.pause()
    try:
        lost = redis_send("beta", "second", role="alpha")
    finally:
        redis_server.resume()
    assert lost["success"] is False
    assert lost["error_code"] == "unknown_outcome", lost
    assert len(lost["msg_id"]) == 32 and lost["msg_id"] in lost["error"]
    # it was written before the reply was lost: the server carried it out once, when it woke
    got = receive_all("beta", 10)
    assert [m["body"] for m in got] == ["first", "second"]
    assert got[1]["msg_id"] == lost["msg_id"]


@pytest.mark.backends("redis", "memory")
def test_a_queued_send_the_server_refuses_is_counted_as_lost(raw: Any) -> None:
    from roleredis import tools
    from roleredis.core import mail
    from roleredis.transport.writer.process import stats

    mail.mailbox(tools.role_store("alpha").scope).clock = lambda: 0.0  # the length stays fresh
    assert redis_send_async("beta", 1, role="alpha")["success"] is True
    assert redis_flush(timeout=10)["lost"] == 0
    channel = Keyspace("beta").mail_channel("alpha")
    raw.delete(channel)
    raw.set(channel, "not a stream")  # XADD will be refused (WRONGTYPE)
    failed_before = stats()["failed"]
    assert redis_send_async("beta", 2, role="alpha")["success"] is True  # queued: the caller
    flushed = redis_flush(timeout=10)  # cannot know; the writer counts and logs it
    assert flushed["success"] is True and flushed["lost"] == 1, flushed
    assert stats()["failed"] == failed_before + 1


@pytest.mark.backends("redis")
def test_blocked_receivers_do_not_starve_the_pool(write_config: Config) -> None:
    """More receivers wait than the pool has connections, longer than pool.timeout: each waits
    in slices and gives its connection back between them, so other calls still get one."""
    write_config({"pool": {"max_connections": 2, "timeout": 1.5}})
    redis_send("beta", "known", role="alpha")
    assert redis_receive(role="beta")["count"] == 1
    got: list[Any] = []
    waiting = [
        threading.Thread(target=lambda: got.append(redis_receive(1, 6000, role="beta")))
        for _ in range(4)
    ]
    for thread in waiting:
        thread.start()
    try:
        time.sleep(0.3)  # the receivers are blocked on the server now
        results = [redis_send("gamma", n, role="delta") for n in range(3)]
    finally:
        for n in range(4):  # wake the receivers
            redis_send("beta", n, role="alpha")
        for thread in waiting:
            thread.join()
    assert [r["success"] for r in results] == [True] * 3, results
    assert sorted(m["body"] for r in got for m in r["messages"]) == [0, 1, 2, 3]


@pytest.mark.backends("redis")
def test_blocked_async_receivers_do_not_starve_the_loops_connections(
    write_config: Config,
) -> None:
    write_config({"pool": {"max_connections": 2, "timeout": 1.5}})

    async def main() -> tuple[list[Any], list[Any]]:
        await aio.redis_send("beta", "known", role="alpha")
        assert (await aio.redis_receive(role="beta"))["count"] == 1
        waiting = [asyncio.ensure_future(aio.redis_receive(1, 6000, role="beta")) for _ in range(4)]
        await asyncio.sleep(0.3)
        try:
            sends = [await aio.redis_send("gamma", n, role="delta") for n in range(3)]
        finally:
            for n in range(4):
                await aio.redis_send("beta", n, role="alpha")
        return sends, list(await asyncio.gather(*waiting))

    sends, got = asyncio.run(main())
    assert [r["success"] for r in sends] == [True] * 3, sends
    assert sorted(m["body"] for r in got for m in r["messages"]) == [0, 1, 2, 3]


@WITH_SENTINEL
def test_a_receiver_finds_a_deleted_channel_again(raw: Any) -> None:
    redis_send("beta", "before", role="alpha")
    assert [m["body"] for m in receive_all("beta", 1)] == ["before"]
    assert raw.delete(Keyspace("beta").mail_channel("alpha")) == 1  # channel and group gone
    redis_send("beta", "after", role="alpha")
    got: list[Any] = []
    for _ in range(3):  # the first receive meets NOGROUP and finds the channels again
        got += receive_all("beta", 1)
        if got:
            break
    assert [m["body"] for m in got] == ["after"]
