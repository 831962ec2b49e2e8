"""Issue 21: request/reply between roles, on every backend (a server, the embedded one, a
Sentinel group's primary, a Cluster in both key layouts: the reply stream in the requester's
slot, the channel in the responder's)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from roleredis import (
    RoleStore,
    aio,
    metrics,
    redis_ack,
    redis_receive,
    redis_reply,
    redis_request,
    redis_send,
    serve,
)
from roleredis.core import ops
from roleredis.foundation.keys import Keyspace
from roleredis.transport.cluster import slot_of

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

Config = Callable[[dict[str, Any]], Path]


class Asking(threading.Thread):
    """``redis_request(...)`` in a thread of its own; ``result`` once joined."""

    def __init__(self, to: str, body: Any, *, role: str, timeout: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.args_ = (to, body, role, timeout)
        self.result: dict[str, Any] = {}

    def run(self) -> None:
        to, body, role, timeout = self.args_
        self.result = redis_request(to, body, timeout=timeout, role=role)

    def outcome(self) -> dict[str, Any]:
        self.join(30)
        assert not self.is_alive()
        return self.result


def asking(to: str, body: Any, *, role: str, timeout: float = 10.0) -> Asking:
    thread = Asking(to, body, role=role, timeout=timeout)
    thread.start()
    return thread


def one_request(role: str, block_ms: int = 5000) -> dict[str, Any]:
    got = redis_receive(1, block_ms, role=role)
    assert got["success"] is True and got["count"] == 1, got
    (message,) = got["messages"]
    return message


def raw(role: str, *calls: ops.Call) -> list[Any]:
    """The replies of ``calls`` sent as ``role``'s store sends its batches."""

    def op() -> ops.Op[list[Any]]:
        return (yield list(calls))

    return RoleStore(role).run(op())


def test_a_request_gets_its_answer_and_who_gave_it() -> None:
    ask = asking("worker", {"city": "Oslo", "n": [1, 2]}, role="planner")
    request = one_request("worker")
    assert request["reply_expected"] is True and request["from"] == "planner"
    assert request["body"] == {"city": "Oslo", "n": [1, 2]}
    # the deadline is the entry's time on the server plus the timeout
    entry_ms = int(request["id"].partition("/")[2].partition("-")[0])
    assert request["deadline"] == pytest.approx(entry_ms / 1000 + 10.0)
    answered = redis_reply(request["id"], {"sky": "rain", "exact": 2**70}, role="worker")
    assert answered["success"] is True and answered["delivered"] is True, answered
    assert answered["to"] == "planner" and answered["msg_id"] == request["msg_id"]
    result = ask.outcome()
    assert result["success"] is True, result
    assert result["reply"] == {"sky": "rain", "exact": 2**70}
    assert result["from"] == "worker" and result["role"] == "planner"
    assert result["msg_id"] == request["msg_id"] and result["id"] == request["id"]
    assert 0 < result["elapsed_ms"] < 30_000
    # the request was acknowledged with the reply: nothing comes again
    assert redis_receive(10, role="worker")["count"] == 0
    status, _ = RoleStore("worker").mail_status()
    assert [(s.sender, s.unacked, s.pending, s.expired) for s in status] == [("planner", 0, 0, 0)]


def test_the_reply_stream_lives_on_the_requesters_side_with_the_timeout_as_ttl() -> None:
    ask = asking("worker", 1, role="planner", timeout=7)
    request = one_request("worker")
    key = Keyspace("planner").reply_key("worker", request["msg_id"])
    assert key.startswith("__roleredis__:{planner}:reply:worker:")
    # in the requester's slot: with its other internal keys, and with its data keys when
    # roles are co-located in a Cluster ({planner}:k)
    planner = Keyspace("planner", hash_tag=True)
    assert slot_of(key) == slot_of(planner.full_key("k")) == slot_of(planner.internal_key("x"))
    kind, ttl_ms = raw("planner", ("type", (key,)), ("pttl", (key,)))
    assert kind in (b"stream", "stream") and 0 < int(ttl_ms) <= 7000 + 1000  # a second past it
    redis_reply(request["id"], 2, role="worker")
    assert ask.outcome()["reply"] == 2
    # the next request removes the stream of the one before
    ask = asking("worker", 3, role="planner")
    redis_reply(one_request("worker")["id"], 4, role="worker")
    assert ask.outcome()["reply"] == 4
    assert raw("planner", ("exists", (key,))) == [0]


def test_an_error_answer_reaches_the_requester_as_text() -> None:
    ask = asking("worker", "divide", role="planner")
    request = one_request("worker")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError as exc:  # as a handler's exception: type and message, no traceback
        error = exc
    assert redis_reply(request["id"], error=error, role="worker")["success"] is True
    result = ask.outcome()
    assert result["success"] is False and result["error_code"] == "responder_error", result
    assert result["reply_error"] == "ZeroDivisionError: division by zero"
    assert result["from"] == "worker" and "Traceback" not in result["error"]
    # a long text is capped
    ask = asking("worker", "long", role="planner")
    redis_reply(one_request("worker")["id"], error="x" * 5000, role="worker")
    assert len(ask.outcome()["reply_error"]) == 1000


def test_no_answer_in_time_is_a_timeout_and_the_late_request_is_never_handed_out() -> None:
    result = redis_request("worker", {"late": True}, timeout=0.3, role="planner")
    assert result["success"] is False and result["error_code"] == "timeout", result
    assert len(result["msg_id"]) == 32 and result["to"] == "worker"
    time.sleep(0.1)
    # past its deadline: acknowledged, counted, never given to the responder
    assert redis_receive(10, role="worker")["count"] == 0
    status, _ = RoleStore("worker").mail_status()
    assert [(s.sender, s.unacked, s.expired) for s in status] == [("planner", 0, 1)]
    # plain mail beside it still arrives
    redis_send("worker", "plain", role="planner")
    (mail,) = redis_receive(10, role="worker")["messages"]
    assert mail["body"] == "plain" and mail["reply_expected"] is False
    assert mail["deadline"] is None
    # a reply to plain mail is refused: it is acknowledged with redis_ack
    refused = redis_reply(mail["id"], 1, role="worker")
    assert refused["error_code"] == "invalid_argument" and "redis_ack" in refused["error"]
    assert redis_ack([mail["id"]], role="worker")["acked"] == 1


def test_a_reply_after_the_requester_gave_up_writes_nothing() -> None:
    redis_send("worker", "hello", role="planner")  # the worker knows the channel already
    redis_ack([one_request("worker")["id"]], role="worker")
    ask = asking("worker", 1, role="planner", timeout=1.0)
    request = one_request("worker")
    assert ask.outcome()["error_code"] == "timeout"
    key = Keyspace("planner").reply_key("worker", request["msg_id"])
    deadline = time.time() + 5
    while raw("planner", ("exists", (key,))) != [0] and time.time() < deadline:
        time.sleep(0.05)  # the stream expires with the request's timeout
    late = redis_reply(request["id"], "too late", role="worker")
    assert late["success"] is True and late["delivered"] is False, late
    assert raw("planner", ("exists", (key,))) == [0]  # NOMKSTREAM: nothing made


def test_a_full_channel_refuses_a_request_with_overloaded(write_config: Config) -> None:
    write_config({"messaging": {"max_length": 2}})
    for n in range(2):
        assert redis_send("worker", n, role="planner")["success"] is True
    refused = redis_request("worker", "one more", timeout=5, role="planner")
    assert refused["error_code"] == "overloaded", refused
    assert "messaging.max_length" in refused["error"]


def test_a_reply_from_another_process_reads_the_request_back() -> None:
    """The responder that answers did not receive the request itself (another process did):
    the reply stream is found from the channel's entry, never from the body."""
    ask = asking("worker", {"q": 1}, role="planner")
    request = one_request("worker")
    other = RoleStore("worker")  # a store with no memory of what was handed out
    answered = other.reply(request["id"], {"a": 1})
    assert answered.delivered is True and answered.requester == "planner"
    assert ask.outcome()["reply"] == {"a": 1}
    assert redis_reply("planner/1-0", 1, role="worker")["error_code"] == "not_found"
    for bad in ("nonsense", "planner/x-1", 42):
        assert redis_reply(bad, 1, role="worker")["error_code"] == "invalid_argument"


def test_arguments_are_checked_before_anything_is_sent() -> None:
    for timeout in (0, -1, float("nan"), float("inf"), True, "5", 86_401):
        result = redis_request("worker", 1, timeout=timeout, role="planner")
        assert result["error_code"] == "invalid_argument", (timeout, result)
        assert "timeout" in result["error"]
    assert redis_request("no such role!", 1, role="planner")["error_code"] == "invalid_argument"
    assert redis_request("worker", {1, 2}, role="planner")["error_code"] == "serialization"
    both = redis_reply("planner/1-0", 1, error="no", role="worker")
    assert both["error_code"] == "invalid_argument" and "not both" in both["error"]
    assert redis_receive(10, role="worker")["count"] == 0  # nothing was sent


@pytest.fixture
def serving_worker() -> Iterator[Callable[[Callable[[dict[str, Any]], Any]], None]]:
    """``start(handler)``: serve role worker's inbox with ``handler`` in a thread, stopped
    (and joined) after the test."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(handler: Callable[[dict[str, Any]], Any]) -> None:
        thread = threading.Thread(
            target=serve, args=(handler,), kwargs={"role": "worker", "stop": stop, "block_ms": 200}
        )
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def test_serve_answers_requests_and_handles_mail(
    serving_worker: Callable[[Callable[[dict[str, Any]], Any]], None],
) -> None:
    seen: list[Any] = []

    def handler(message: dict[str, Any]) -> Any:
        body = message["body"]
        if body == "fail":
            raise KeyError("city")
        if body == "unstorable":
            return {1, 2}
        seen.append(body)
        return {"double": body * 2} if message["reply_expected"] else None

    serving_worker(handler)
    assert redis_request("worker", 21, role="planner")["reply"] == {"double": 42}
    failed = redis_request("worker", "fail", role="planner")
    assert failed["error_code"] == "responder_error" and failed["reply_error"] == "KeyError: 'city'"
    odd = redis_request("worker", "unstorable", role="planner")
    assert odd["error_code"] == "responder_error" and "handler's reply" in odd["reply_error"]
    redis_send("worker", "mail", role="planner")
    deadline = time.time() + 10
    while "mail" not in seen and time.time() < deadline:
        time.sleep(0.02)
    assert seen == [21, "mail"]
    deadline = time.time() + 5
    while time.time() < deadline:  # the handled mail is acknowledged
        status, _ = RoleStore("worker").mail_status()
        if [(s.unacked, s.pending) for s in status] == [(0, 0)]:
            break
        time.sleep(0.05)
    assert [(s.unacked, s.pending) for s in status] == [(0, 0)]


def test_serve_leaves_mail_whose_handler_raised_unacknowledged(
    write_config: Config,
    serving_worker: Callable[[Callable[[dict[str, Any]], Any]], None],
) -> None:
    write_config({"messaging": {"visibility_timeout": 0.2, "max_deliveries": 2}})
    deliveries: list[int] = []

    def handler(message: dict[str, Any]) -> None:
        deliveries.append(message["deliveries"])
        raise RuntimeError("not today")

    serving_worker(handler)
    redis_send("worker", "job", role="planner")
    deadline = time.time() + 15
    while time.time() < deadline:
        dead = RoleStore("worker").dead_letters()
        if dead:
            break
        time.sleep(0.1)
    assert deliveries == [1, 2]  # delivered again, then a dead letter
    assert [(d.body, d.reason) for d in dead] == [("job", "max_deliveries")]


def test_aio_request_reply_and_serve() -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any]]:
        stop = asyncio.Event()

        async def handler(message: dict[str, Any]) -> Any:
            await asyncio.sleep(0)
            return message["body"].upper()

        server = asyncio.create_task(aio.serve(handler, role="worker", stop=stop, block_ms=200))
        first, second = await asyncio.gather(
            aio.redis_request("worker", "one", role="planner"),
            aio.redis_request("worker", "two", role="boss"),
        )
        stop.set()
        await asyncio.wait_for(server, 10)
        return first, second

    first, second = asyncio.run(main())
    assert (first["reply"], first["from"], first["role"]) == ("ONE", "worker", "planner")
    assert (second["reply"], second["from"], second["role"]) == ("TWO", "worker", "boss")


def test_requests_and_replies_are_counted_in_metrics() -> None:
    before = metrics.snapshot()
    ask = asking("worker", 1, role="planner")
    redis_reply(one_request("worker")["id"], 2, role="worker")
    assert ask.outcome()["success"] is True
    after = metrics.snapshot()["operations"]

    def count(op: str, role: str) -> int:
        was = before["operations"].get(op, {}).get(role, {}).get("count", 0)
        return int(after[op][role]["count"]) - int(was)

    assert count("request", "planner") == 1 and count("reply", "worker") == 1
    assert after["request"]["planner"]["latency"]["sum"] > 0


def test_serve_keeps_a_message_while_a_long_handler_runs(
    write_config: Config,
    serving_worker: Callable[[Callable[[dict[str, Any]], Any]], None],
) -> None:
    """Issue 22, item 4: a handler slower than the visibility timeout keeps its message (it is
    touched every third of the timeout): no other server receives it again meanwhile, and no
    delivery is counted."""
    write_config({"messaging": {"visibility_timeout": 0.3}})
    handled: list[tuple[Any, int]] = []

    def slow(message: dict[str, Any]) -> Any:
        handled.append((message["body"], message["deliveries"]))
        time.sleep(1.2)  # four visibility timeouts
        return "done"

    serving_worker(slow)
    serving_worker(slow)  # a second server, which would claim an idle message
    answers = [asking("worker", n, role="planner", timeout=15) for n in range(2)]
    outcomes = [a.outcome() for a in answers]
    assert [o.get("reply") for o in outcomes] == ["done", "done"], (
        [(o.get("error_code"), o.get("error")) for o in outcomes],
        handled,
    )
    assert sorted(handled) == [(0, 1), (1, 1)]
