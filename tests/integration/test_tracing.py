"""Issue 25: OpenTelemetry spans of every operation and trace context carried between roles,
read from the SDK's in-memory exporter, against a real server.

The provider is handed to ``roleredis.otel.use`` (never set globally: the other test modules
of this worker's process must not trace)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import roleredis
from roleredis import aio, otel, tools
from roleredis.foundation.keys import Keyspace
from roleredis.table import rows

pytestmark = pytest.mark.backends("redis")

SECRET_VALUE = "s3cret-value-never-in-a-span"
SECRET_KEY = "private-key-name"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    otel.use(provider)
    try:
        yield exporter
    finally:
        otel.use(None)
        provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def only(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    found = named(exporter, name)
    assert len(found) == 1, [s.name for s in exporter.get_finished_spans()]
    return found[0]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def serve_once(role: str, handler: Callable[[dict[str, Any]], Any]) -> threading.Thread:
    """``serve`` in a thread until it handled one message."""
    done = threading.Event()

    def handle(message: dict[str, Any]) -> Any:
        try:
            return handler(message)
        finally:
            done.set()

    thread = threading.Thread(
        target=roleredis.serve,
        args=(handle,),
        kwargs={"role": role, "stop": done, "block_ms": 100},
        daemon=True,
    )
    thread.start()
    return thread


# --- every operation -------------------------------------------------------------------------

# each tool called once as role "planner"; a row added to the table without a line here fails
# test_every_row_is_called_here
CALLS: dict[str, Callable[[], dict[str, Any]]] = {
    "redis_write": lambda: tools.redis_write(SECRET_KEY, SECRET_VALUE, role="planner"),
    "redis_read": lambda: tools.redis_read(SECRET_KEY, role="planner"),
    "redis_get_keys": lambda: tools.redis_get_keys("priv*", role="planner"),
    "redis_delete": lambda: tools.redis_delete("gone", role="planner"),
    "redis_exists": lambda: tools.redis_exists(SECRET_KEY, role="planner"),
    "redis_health_check": lambda: tools.redis_health_check(role="planner"),
    "redis_clear_role_data": lambda: tools.redis_clear_role_data(role="nobody"),
    "redis_write_many": lambda: tools.redis_write_many({"a": 1, "b": SECRET_VALUE}, role="planner"),
    "redis_read_many": lambda: tools.redis_read_many(["a", "b", "c"], role="planner"),
    "redis_write_async": lambda: tools.redis_write_async("q", SECRET_VALUE, role="planner"),
    "redis_read_async": lambda: tools.redis_read_async("q", role="planner"),
    "redis_flush": lambda: tools.redis_flush(timeout=10),
    "redis_publish": lambda: tools.redis_publish("news", SECRET_VALUE, role="planner"),
    "redis_read_events": lambda: tools.redis_read_events("planner", "news", role="worker"),
    "redis_send": lambda: tools.redis_send("worker", SECRET_VALUE, role="planner"),
    "redis_receive": lambda: tools.redis_receive(10, 0, role="worker"),
    "redis_ack": lambda: tools.redis_ack(["planner/1-1"], role="worker"),
    "redis_dead_letters": lambda: tools.redis_dead_letters(role="worker"),
    "redis_replay_dead_letters": lambda: tools.redis_replay_dead_letters(role="worker"),
    "redis_send_async": lambda: tools.redis_send_async("worker", SECRET_VALUE, role="planner"),
    "redis_request": lambda: _request_answered(),
    "redis_reply": lambda: tools.redis_reply("planner/1-1", 1, role="worker"),
    "redis_touch": lambda: tools.redis_touch(["planner/1-1"], role="worker"),
    "redis_acquire": lambda: tools.redis_acquire("nightly", 30, role="planner"),
    "redis_renew": lambda: tools.redis_renew("nightly", "not-the-token", 30, role="planner"),
    "redis_release": lambda: tools.redis_release("nightly", "not-the-token", role="planner"),
    "redis_take": lambda: _budget_taken(),
    "redis_report": lambda: tools.redis_report("traced", _TAKEN[-1]["id"], 3, role="planner"),
    "redis_give_back": lambda: tools.redis_give_back("traced", "no-such-place", role="planner"),
}


_TAKEN: list[dict[str, Any]] = []


def _budget_taken() -> dict[str, Any]:
    """A take of a budget defined here (``roleredis budget set`` writes definitions)."""
    from roleredis import RoleStore
    from roleredis.core import budgets
    from roleredis.foundation.budgets import parse

    store = RoleStore("planner")
    defined = parse({"traced": {"tokens": "1000/s", "roles": ["planner"]}}, "t")["traced"]
    store.run(budgets.define(store.scope, defined))
    _TAKEN.append(tools.redis_take("traced", 2, role="planner"))
    return _TAKEN[-1]


#: rows that make no span of their own: redis_flush waits for the writer (its batches have
#: spans); the fire-and-forget rows while tracing.fire_and_forget is off
NO_SPAN = {"flush"}
QUEUED = {op.name for op in rows.TABLE if op.run is not None}


def _request_answered() -> dict[str, Any]:
    thread = serve_once("responder", lambda message: message["body"])
    try:
        return tools.redis_request("responder", SECRET_VALUE, timeout=10, role="planner")
    finally:
        thread.join(10)


def test_every_row_is_called_here() -> None:
    assert set(CALLS) == {op.tool for op in rows.TABLE}


def _call_every_row() -> dict[str, dict[str, Any]]:
    return {op.name: CALLS[op.tool]() for op in rows.TABLE}


def test_every_operation_makes_one_span_named_after_its_row(
    spans: InMemorySpanExporter, redis_url: str
) -> None:
    results = _call_every_row()
    traced = [op for op in rows.TABLE if op.name not in NO_SPAN | QUEUED]
    port = int(redis_url.rsplit(":", 1)[1].split("/")[0])
    for op in traced:
        own = [
            s
            for s in named(spans, f"roleredis.{op.name}")
            if s.attributes
            and s.attributes.get("roleredis.role") in ("planner", "worker", "nobody")
        ]
        assert len(own) == 1, (op.name, [s.name for s in spans.get_finished_spans()])
        attributes = dict(own[0].attributes or {})
        assert attributes["db.system.name"] == "redis"
        assert attributes["db.operation.name"] == op.name
        assert attributes["db.namespace"] == "0"
        assert attributes["server.address"] == "127.0.0.1"
        assert attributes["server.port"] == port
        failed = results[op.name]["success"] is False
        assert (own[0].status.status_code is StatusCode.ERROR) is failed, op.name
        if failed:
            assert attributes["error.type"] == results[op.name]["error_code"]
    for name in QUEUED:
        assert named(spans, f"roleredis.{name}") == []
    # the keys a call names are counted
    assert only(spans, "roleredis.write").attributes["roleredis.key.count"] == 1  # type: ignore[index]
    many = only(spans, "roleredis.read_many").attributes or {}
    assert many["roleredis.key.count"] == 3
    assert only(spans, "roleredis.send").attributes["roleredis.peer.role"] == "worker"  # type: ignore[index]
    # the queued write and send were carried by the writer, in spans of its batches
    batches = named(spans, "roleredis.writer.batch")
    assert sum(int((s.attributes or {})["roleredis.writer.carried"]) for s in batches) >= 2


def test_a_failure_says_its_error_code(spans: InMemorySpanExporter) -> None:
    result = tools.redis_read("", role="planner")
    assert result["success"] is False
    span = only(spans, "roleredis.read")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == result["error_code"] == "invalid_argument"
    assert (span.attributes or {})["roleredis.error_code"] == "invalid_argument"


def test_nothing_sensitive_in_any_attribute(spans: InMemorySpanExporter) -> None:
    _call_every_row()
    everything = [
        repr(value)
        for span in spans.get_finished_spans()
        for value in [*(span.attributes or {}).values(), span.status.description]
    ]
    assert everything
    assert not [text for text in everything if SECRET_VALUE in text]
    assert not [text for text in everything if SECRET_KEY in text or "priv*" in text]
    assert not [text for text in everything if "news" in text]  # topics are names too


def test_key_names_only_when_the_setting_allows(
    spans: InMemorySpanExporter, write_config: Callable[[dict[str, Any]], Path]
) -> None:
    write_config({"tracing": {"key_names": True}})
    otel.refresh()
    tools.redis_write(SECRET_KEY, SECRET_VALUE, role="planner")
    tools.redis_read_many(["a", "b"], role="planner")
    tools.redis_publish("news", 1, role="planner")
    assert only(spans, "roleredis.write").attributes["roleredis.keys"] == (SECRET_KEY,)  # type: ignore[index]
    assert only(spans, "roleredis.read_many").attributes["roleredis.keys"] == ("a", "b")  # type: ignore[index]
    assert only(spans, "roleredis.publish").attributes["roleredis.topic"] == "news"  # type: ignore[index]
    values = [repr(v) for s in spans.get_finished_spans() for v in (s.attributes or {}).values()]
    assert not [text for text in values if SECRET_VALUE in text]


def test_fire_and_forget_calls_get_spans_when_the_setting_says(
    spans: InMemorySpanExporter, write_config: Callable[[dict[str, Any]], Path]
) -> None:
    write_config({"tracing": {"fire_and_forget": True}})
    otel.refresh()
    for i in range(5):
        assert tools.redis_write_async(f"k{i}", i, role="planner")["success"] is True
    assert tools.redis_flush(timeout=10)["pending"] == 0  # (written counts only what it waited for)
    assert len(named(spans, "roleredis.write_async")) == 5
    batches = named(spans, "roleredis.writer.batch")
    assert sum(int((s.attributes or {})["roleredis.writer.carried"]) for s in batches) == 5
    for batch in batches:
        assert batch.parent is None  # the writer's thread: a root span per batch
        assert (batch.attributes or {})["roleredis.writer.lost"] == 0


def test_the_writer_batches_have_spans(spans: InMemorySpanExporter) -> None:
    for i in range(300):
        tools.redis_write_async(f"k{i}", i, role="planner")
    assert tools.redis_flush(timeout=10)["pending"] == 0  # (written counts only what it waited for)
    batches = named(spans, "roleredis.writer.batch")
    assert batches
    assert sum(int((s.attributes or {})["db.operation.batch.size"]) for s in batches) == 300
    assert sum(int((s.attributes or {})["roleredis.writer.carried"]) for s in batches) == 300
    assert named(spans, "roleredis.write_async") == []


# --- context across roles --------------------------------------------------------------------


def test_planner_worker_planner_through_mail_and_request_reply(
    spans: InMemorySpanExporter,
) -> None:
    tracer = otel.GATE.tracer
    assert tracer is None or tracer  # the gate is looked at by the first call below

    def work(message: dict[str, Any]) -> Any:
        # the worker tells the planner by mail too, within the handling of the request
        tools.redis_send("planner", {"done": message["body"]}, role="worker")
        return message["body"] * 2

    thread = serve_once("worker", work)
    from opentelemetry import trace

    app = otel.GATE.provider.get_tracer("app")
    with app.start_as_current_span("plan") as plan:
        answer = tools.redis_request("worker", 21, timeout=10, role="planner")
    thread.join(10)
    assert answer["success"] is True and answer["reply"] == 42
    got = tools.redis_receive(1, 5000, role="planner")
    (mail,) = got["messages"]
    assert set(mail["trace"]) == {"traceparent"}
    with otel.handling(mail):
        tools.redis_write("result", mail["body"], role="planner")
    assert trace.get_current_span().get_span_context().is_valid is False  # nothing left current

    trace_id = plan.get_span_context().trace_id
    request = only(spans, "roleredis.request")
    handle = [s for s in named(spans, "roleredis.handle") if s.context.trace_id == trace_id]
    worker_handle = next(s for s in handle if parent_of(s) == request.context.span_id)
    reply = only(spans, "roleredis.reply")
    worker_send = only(spans, "roleredis.send")
    planner_handle = next(s for s in handle if parent_of(s) == worker_send.context.span_id)
    write = only(spans, "roleredis.write")
    assert parent_of(request) == plan.get_span_context().span_id
    assert parent_of(reply) == worker_handle.context.span_id
    assert parent_of(worker_send) == worker_handle.context.span_id
    assert parent_of(write) == planner_handle.context.span_id
    for span in (request, worker_handle, reply, worker_send, planner_handle, write):
        assert span.context.trace_id == trace_id
    assert worker_handle.parent is not None and worker_handle.parent.is_remote
    assert (worker_handle.attributes or {})["roleredis.peer.role"] == "planner"
    # the planner's receive links to the worker's send
    receive = [
        s
        for s in named(spans, "roleredis.receive")
        if (s.attributes or {}).get("roleredis.role") == "planner"
    ]
    assert [link.context.span_id for link in receive[-1].links] == [worker_send.context.span_id]


def test_events_carry_the_publishers_context(spans: InMemorySpanExporter) -> None:
    app = otel.GATE.provider.get_tracer("app") if otel.GATE.provider else None
    assert app is not None
    with app.start_as_current_span("announce"):
        tools.redis_publish("news", {"n": 1}, role="planner")
    publish = only(spans, "roleredis.publish")
    read = tools.redis_read_events("planner", "news", role="worker")
    (event,) = read["events"]
    with otel.handling(event):
        pass

    async def follow() -> dict[str, Any]:
        async with aio.follow_events("planner", "news", after="0", role="worker") as events:
            async for found in events:
                with otel.handling(found):
                    await aio.redis_write("seen", found["id"], role="worker")
                return found
        raise AssertionError("no event")

    followed = asyncio.run(follow())
    assert followed["trace"] == event["trace"]
    handled = named(spans, "roleredis.handle")
    assert len(handled) == 2
    for span in handled:
        assert parent_of(span) == publish.context.span_id
        assert span.context.trace_id == publish.context.trace_id
    write = only(spans, "roleredis.write")
    assert parent_of(write) == handled[1].context.span_id


FORGED = [
    b"not a traceparent",
    b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
    b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # an unknown version
    b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # uppercase
    b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01," + b"a=" + b"x" * 600,  # oversize
    b"\xff" * 55,
]


def test_a_forged_or_oversized_context_is_ignored(
    spans: InMemorySpanExporter, raw: redis.Redis
) -> None:
    """What a sender's own ACL user may append by hand: the message is delivered, its context
    dropped, its handling span a root of its own."""
    channel = Keyspace("worker").mail_channel("planner")
    senders = Keyspace("worker").mail_senders()
    raw.sadd(senders, "planner")
    for i, forged in enumerate(FORGED):
        raw.xadd(channel, {"m": f"forged{i}", "t": "1700000000.0", "b": b"1", "c": forged})
    got = tools.redis_receive(len(FORGED), 5000, role="worker")
    assert got["count"] == len(FORGED)
    for message in got["messages"]:
        assert "trace" not in message
        with otel.handling(message):
            pass
    assert [s.parent for s in named(spans, "roleredis.handle")] == [None] * len(FORGED)
    # a bad tracestate alone is dropped, the traceparent kept
    good = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    raw.xadd(channel, {"m": "half", "t": "1700000000.0", "b": b"1", "c": good + b",BAD STATE"})
    (message,) = tools.redis_receive(1, 5000, role="worker")["messages"]
    assert message["trace"] == {"traceparent": good.decode()}
    # and an event with a forged one
    raw.xadd(Keyspace("planner").event_stream("news"), {"event": b"1", "c": FORGED[5]})
    (event,) = tools.redis_read_events("planner", "news", role="worker")["events"]
    assert "trace" not in event and event["event"] == 1


def test_no_context_is_written_while_tracing_is_off(raw: redis.Redis) -> None:
    tools.redis_send("worker", 1, role="planner")
    tools.redis_publish("news", 1, role="planner")
    ((_, fields),) = raw.xrange(Keyspace("worker").mail_channel("planner"))
    assert set(fields) == {b"m", b"t", b"b"}
    ((_, fields),) = raw.xrange(Keyspace("planner").event_stream("news"))
    assert set(fields) == {b"event"}
    (message,) = tools.redis_receive(1, 5000, role="worker")["messages"]
    assert "trace" not in message


# --- the MCP server ---------------------------------------------------------------------------

CLIENT_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_the_mcp_server_continues_a_clients_trace_context(spans: InMemorySpanExporter) -> None:
    """A client's ``_meta`` traceparent (what the MCP SDK's client sends): the tool's span is
    in the client's trace, under the client's span (the SDK's own server span sits between
    when the application's global provider records it)."""
    from mcp import Client

    from roleredis.faces.agents.mcp_server import build

    async def call(meta: dict[str, Any] | None) -> None:
        async with Client(build("planner")) as client:
            result = await client.call_tool("redis_write", {"key": "k", "value": 1}, meta=meta)
            assert result.is_error is False

    asyncio.run(call({"traceparent": CLIENT_PARENT}))
    asyncio.run(call({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}))  # forged
    continued, forged = named(spans, "roleredis.write")
    assert continued.context.trace_id == 0x4BF92F3577B34DA6A3CE929D0E0E4736
    assert continued.parent is not None and continued.parent.span_id == 0x00F067AA0BA902B7
    assert forged.parent is None and forged.context.trace_id != continued.context.trace_id


def test_streamable_http_headers_come_before_meta() -> None:
    from types import SimpleNamespace

    from roleredis.faces.agents.mcp_server import client_trace

    def context(meta: Any, headers: dict[str, str] | None) -> Any:
        request = None if headers is None else SimpleNamespace(headers=headers)
        return SimpleNamespace(request_context=SimpleNamespace(meta=meta, request=request))

    carrier = {"traceparent": CLIENT_PARENT, "tracestate": "a=1"}
    assert client_trace(context(None, {"traceparent": CLIENT_PARENT, "tracestate": "a=1"})) == (
        carrier,
        False,
    )
    assert client_trace(context(None, {"traceparent": "forged"})) == (None, False)
    assert client_trace(context(None, None)) == (None, False)  # stdio: no HTTP request
    assert client_trace(context(None, {})) == (None, False)
    in_meta = SimpleNamespace(model_extra={"traceparent": CLIENT_PARENT, "tracestate": "a=1"})
    assert client_trace(context(in_meta, None)) == (carrier, True)  # the SDK's first
    assert client_trace(context(dict(in_meta.model_extra), None)) == (carrier, True)
    assert client_trace(context(in_meta, {"traceparent": CLIENT_PARENT})) == (
        {"traceparent": CLIENT_PARENT},
        False,
    )
    forged = SimpleNamespace(model_extra={"traceparent": "00-" + "0" * 32 + "-" + "1" * 16 + "-01"})
    assert client_trace(context(forged, None)) == (None, True)
    assert client_trace(object()) == (None, False)


def test_the_awaitable_and_agent_faces_make_the_same_spans(spans: InMemorySpanExporter) -> None:
    provider = otel.GATE.provider
    assert provider is not None
    app = provider.get_tracer("app")

    async def calls() -> None:
        with app.start_as_current_span("async work"):
            assert (await aio.redis_write("k", 1, role="planner"))["success"] is True
            assert (await aio.redis_send("worker", 1, role="planner"))["success"] is True
            failed = await aio.redis_read("", role="planner")
            assert failed["error_code"] == "invalid_argument"

    asyncio.run(calls())
    with app.start_as_current_span("agent work"):
        assert roleredis.call_tool("redis_read", {"key": "k"}, role="planner")["success"]
    (work,) = named(spans, "async work")
    (agent,) = named(spans, "agent work")
    write, send = only(spans, "roleredis.write"), only(spans, "roleredis.send")
    reads = named(spans, "roleredis.read")
    assert parent_of(write) == parent_of(send) == work.context.span_id
    assert [parent_of(r) for r in reads] == [work.context.span_id, agent.context.span_id]
    assert reads[0].status.status_code is StatusCode.ERROR
    assert (reads[1].attributes or {})["roleredis.role"] == "planner"
    (message,) = tools.redis_receive(1, 5000, role="worker")["messages"]
    assert message["trace"]["traceparent"].split("-")[2] == format(send.context.span_id, "016x")
