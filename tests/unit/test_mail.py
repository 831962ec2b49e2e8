"""The mail operations without I/O (issue 12, item 2): the calls they make, what they do with
replies, and how the retry policy treats a batch that must not be sent twice."""

from __future__ import annotations

import json

import hiredis
import pytest
import redis.exceptions as rex
from roleredis.settings import MessagingSettings

from roleredis.core import mail, ops
from roleredis.core.mail import housekeeping, receiving
from roleredis.foundation.errors import InvalidArgumentError, OverloadedError
from roleredis.foundation.keys import Keyspace
from roleredis.transport.retry import ConnectionDropped, RetryPolicy
from roleredis.transport.writer.plan import plan_batch as _plan
from roleredis.transport.writer.plan import queued


def scope(role: str = "alpha", **messaging: object) -> ops.Scope:
    return ops.Scope(Keyspace(role), messaging=MessagingSettings(**messaging))  # type: ignore[arg-type]


def test_a_send_asks_the_length_first_then_sends_once_in_one_batch() -> None:
    s = scope(max_length=5)
    op = mail.send(s, "beta", {"n": 1})
    assert next(op) == [("xlen", ("__roleredis__:{beta}:mail:alpha",))]
    batch = op.send([0])
    assert isinstance(batch, ops.Batch) and batch.repeatable is False
    # the XADD first: a name is announced (SADD) only once its channel exists
    assert [name for name, _ in batch] == ["xadd", "sadd"]
    assert batch[1][1] == ("__roleredis__:{beta}:senders", "alpha")
    channel, star, *fields = batch[0][1]
    assert (channel, star, fields[0], fields[2], fields[4]) == (
        "__roleredis__:{beta}:mail:alpha",
        "*",
        "m",
        "t",
        "b",
    )
    with pytest.raises(StopIteration) as done:
        op.send([b"17-0", 1])
    assert done.value.value.id == "alpha/17-0"
    assert done.value.value.msg_id == fields[1]
    # announced, and the channel far from full (1 of 5, counted here): XADD alone
    op = mail.send(s, "beta", 2)
    assert [name for name, _ in next(op)] == ["xadd"]
    with pytest.raises(StopIteration):
        op.send([b"18-0"])
    # half full by this store's count: XLEN goes with each send again
    op = mail.send(s, "beta", 3)
    assert [name for name, _ in next(op)] == ["xadd", "xlen"]
    with pytest.raises(StopIteration):
        op.send([b"19-0", 4])
    assert mail.mailbox(s).routes["beta"].length == 4


def test_a_send_to_a_full_channel_is_refused_before_sending() -> None:
    s = scope(max_length=2)
    op = mail.send(s, "beta", "x")
    next(op)
    with pytest.raises(OverloadedError, match=r"messaging\.max_length"):
        op.send([2])


def test_bodies_over_the_limit_are_refused_in_the_caller() -> None:
    with pytest.raises(InvalidArgumentError, match=r"messaging\.max_message_bytes"):
        mail.prepare_send(scope(max_message_bytes=10), "beta", "x" * 20)


@pytest.mark.parametrize(
    "bad", ["", "alpha", "alpha/", "/1-0", "alpha/1", "alpha/1-0-0", "a b/1-0", "alpha/x-1", 3]
)
def test_message_ids_are_checked(bad: object) -> None:
    with pytest.raises(InvalidArgumentError):
        mail.parse_id(bad)


def test_an_ack_deletes_only_what_the_group_acknowledged() -> None:
    op = mail.ack(scope("beta"), ["alpha/1-0", "alpha/2-0", "carol/3-0"])
    acks = next(op)
    assert [name for name, _ in acks] == ["xack"] * 3
    deletes = op.send([1, 0, 1])
    assert deletes == [
        ("xdel", ("__roleredis__:{beta}:mail:alpha", "1-0")),
        ("xdel", ("__roleredis__:{beta}:mail:carol", "3-0")),
    ]
    with pytest.raises(StopIteration) as done:
        op.send([1, 1])
    assert done.value.value.acked == 2


def test_ids_this_store_received_are_acked_in_one_round_trip_and_trimmed_later() -> None:
    s = scope("beta", max_length=100)
    channel = "__roleredis__:{beta}:mail:alpha"
    mail.mailbox(s).newest["alpha"] = (5, 0)
    op = mail.ack(s, ["alpha/4-0", "alpha/5-0", "alpha/6-0"])
    assert next(op) == [
        ("xack", (channel, "inbox", "4-0", "5-0")),
        ("xpending", (channel, "inbox")),
        ("xlen", (channel,)),
        ("xack", (channel, "inbox", "6-0")),  # newer than any received: alone
        CLOCK,  # the server's clock (see the next test)
    ]
    summary = {"pending": 1, "min": b"3-0", "max": b"3-0", "consumers": []}
    with pytest.raises(StopIteration) as done:
        op.send([2, summary, 10, 0, b"9-0"])  # 6-0 was not pending: not deleted
    assert done.value.value.acked == 2
    # up to the oldest pending entry (3-0) only, with the next batch
    again = mail.ack(s, ["alpha/5-0"])
    assert next(again)[0] == ("xtrim", (channel, "MINID", "3-0"))


CLOCK = ("xadd", ("__roleredis__:{beta}:mail-clock", "MAXLEN", 1, "*", "c", 1))


def test_a_trim_of_the_acks_own_millisecond_is_made_at_once() -> None:
    """A channel deleted and made again by a send reuses ids from the server's clock: a MINID
    of the millisecond the ack ran in must not wait for a later batch
    (tests/regressions/test_trim_spares_a_remade_channel.py)."""
    s = scope("beta", max_length=100)
    mail.mailbox(s).newest["alpha"] = (5, 0)
    op = mail.ack(s, ["alpha/5-0"])
    assert next(op)[-1] == CLOCK
    trim = op.send([1, {"pending": 0, "min": None}, 1, b"5-3"])  # the server's clock: ms 5
    assert trim == [("xtrim", ("__roleredis__:{beta}:mail:alpha", "MINID", "5-1"))]
    with pytest.raises(StopIteration):
        op.send([1])
    assert mail.mailbox(s).trims == {}


def test_nothing_pending_trims_up_to_the_newest_received() -> None:
    assert housekeeping._safe_minid({"pending": 0, "min": None}, (7, 2)) == "7-3"
    assert housekeeping._safe_minid({"pending": 2, "min": b"9-0"}, (7, 2)) == "7-3"
    assert housekeeping._safe_minid({"pending": 2, "min": b"5-1"}, (7, 2)) == "5-1"


def test_a_nearly_full_channel_is_trimmed_at_once() -> None:
    s = scope("beta", max_length=10)
    mail.mailbox(s).newest["alpha"] = (5, 0)
    op = mail.ack(s, ["alpha/5-0"])
    next(op)
    trim = op.send([1, {"pending": 0, "min": None}, 9, b"9-0"])
    assert trim == [("xtrim", ("__roleredis__:{beta}:mail:alpha", "MINID", "5-1"))]


def test_a_lost_reply_of_a_batch_that_must_not_repeat_is_unknown_not_retried() -> None:
    policy = RetryPolicy(5.0)
    for exc in (rex.TimeoutError("slow"), ConnectionDropped("reset")):
        decision = policy.decide(exc, 1, 0.0, repeatable=False)
        assert decision.delay is None and decision.error.error_code == "unknown_outcome"
        assert policy.should_ping(exc, repeatable=False) is False
    # nothing was written when the connection could not be made: retried as usual
    assert policy.decide(rex.ConnectionError("refused"), 1, 0.0, repeatable=False).delay
    # an ordinary batch: a dropped connection is retried
    assert policy.decide(ConnectionDropped("reset"), 1, 0.0).delay


def test_more_than_asked_is_held_for_the_next_receive() -> None:
    s = scope("beta")
    box = mail.mailbox(s)
    op = mail.receive(s, 1)
    assert next(op) == [("sscan", ("__roleredis__:{beta}:senders", "0", "COUNT", 100))]
    checks = op.send([[b"0", [b"alpha", b"carol"]]])  # both checked in one round trip
    assert [(name, args[0]) for name, args in checks] == [("xgroup", "CREATE")] * 2
    claim = op.send([b"OK", b"OK"])
    assert [name for name, _ in claim] == ["xautoclaim", "xautoclaim"]
    read = op.send([[b"0-0", [], []], [b"0-0", [], []]])
    assert read[0][0] == "xreadgroup"
    entry = {b"m": b"m1", b"t": b"1.5", b"b": b'"one"'}
    entry2 = {b"m": b"m2", b"t": b"2.5", b"b": b'"two"'}
    streams = [
        [b"__roleredis__:{beta}:mail:alpha", [(b"1-0", entry)]],
        [b"__roleredis__:{beta}:mail:carol", [(b"2-0", entry2)]],
    ]
    with pytest.raises(StopIteration) as done:
        op.send([streams])
    assert [m.body for m in done.value.value] == ["one"]
    assert [m.body for _, m in box.held] == ["two"]
    again = mail.receive(s, 1)  # served from what was held, without a round trip
    with pytest.raises(StopIteration) as done:
        next(again)
    assert [(m.id, m.body) for m in done.value.value] == [("carol/2-0", "two")]


def test_a_receive_with_max_bytes_holds_what_does_not_fit_since_it_was_first_held() -> None:
    s = scope("beta")
    box = mail.mailbox(s)
    now = [100.0]
    box.clock = lambda: now[0]
    held = [mail.Message(f"alpha/{n}-0", f"m{n}", "alpha", "x" * 100, 1.0, 1) for n in range(3)]
    box.held.extend((90.0, m) for m in held)
    size = len(json.dumps(held[0].as_dict(), separators=(",", ":")))
    op = mail.receive(s, 3, max_bytes=size + 10)  # served from what was held: no round trip
    with pytest.raises(StopIteration) as done:
        next(op)
    got = done.value.value
    assert [m.id for m in got] == ["alpha/0-0"] and got.cut == 2
    assert [(at, m.id) for at, m in box.held] == [(90.0, "alpha/1-0"), (90.0, "alpha/2-0")]
    op = mail.receive(s, 2, max_bytes=2 * size + 1)
    with pytest.raises(StopIteration) as done:
        next(op)
    assert [m.id for m in done.value.value] == ["alpha/1-0", "alpha/2-0"]
    assert done.value.value.cut == 0 and not box.held
    with pytest.raises(InvalidArgumentError):
        next(mail.receive(s, 3, max_bytes=-1))


def next_name(batch: list[ops.Call]) -> str:
    return batch[0][0]


def test_ids_handed_out_are_remembered_for_the_ack_within_a_bound() -> None:
    delivered = {f"a/{n}-0": ("ch", "a", f"{n}-0") for n in range(receiving.DELIVERED_KEPT + 5)}
    receiving._bound(delivered)
    assert len(delivered) == receiving.DELIVERED_KEPT
    assert "a/0-0" not in delivered and f"a/{receiving.DELIVERED_KEPT + 4}-0" in delivered
    s = scope("beta")
    box = mail.mailbox(s)
    box.delivered["alpha/9-0"] = ("__roleredis__:{beta}:mail:alpha", "alpha", "9-0")
    box.newest["alpha"] = (9, 0)
    op = mail.ack(s, ["alpha/9-0"])
    assert next(op)[0] == ("xack", ("__roleredis__:{beta}:mail:alpha", "inbox", "9-0"))
    assert box.delivered == {}  # acked: forgotten


def test_a_packed_send_is_its_xadd_in_the_redis_protocol() -> None:
    s = scope("alpha")
    plain = mail.prepare_send(s, "beta", {"n": [1, 2]})
    packed = mail.prepare_send(s, "beta", "é" * 3, packed=True)
    assert plain.packed is None
    assert [name for name, _ in packed.calls] == ["xadd"]  # announced by the first
    _, args = packed.calls[-1]
    assert packed.packed == hiredis.pack_command(("XADD", *args))
    assert args[4] == "t" and float(args[5]) > 1.7e9


def test_the_writer_sends_packed_sends_as_they_are_and_settles_each() -> None:
    s = scope("alpha")
    sends = [mail.prepare_send(s, "beta", n, packed=True) for n in range(3)]
    items = [queued((*p.calls[0], p.packed), 0.0) for p in sends]
    items.insert(1, queued(("set", ("alpha:k", b"1")), 0.0))
    commands, plan = _plan(items, packed=True)
    assert commands == [sends[0].packed, ("SET", "alpha:k", b"1"), sends[1].packed, sends[2].packed]
    assert [(len(owner), count) for owner, count in plan] == [(1, 1), (1, 1), (2, 2)]
    # not packed (a cluster, fakeredis): made from the call like any other write
    commands, _ = _plan(items, packed=False)
    assert commands[0] == ("XADD", *sends[0].calls[0][1])
