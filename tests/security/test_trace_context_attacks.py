"""Issue 25: the trace context in an entry (the ``c`` field) is written by another role's ACL
user, maybe by hand: as mallory's own user, with raw commands, forged and oversized contexts in
its channel to alpha and in its own event stream are delivered without a trace, never fail a
read, and put nothing in alpha's spans. What mallory's user can do with a context: attach the
handling of its own messages to a trace of its choosing (docs/threat-model.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from roleredis import otel
from roleredis.foundation.keys import Keyspace

from .test_mail_attacks import Deployment, deployment  # noqa: F401  (the fixture)

pytestmark = pytest.mark.backends("redis", "cluster")

VALID = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
FORGED = [
    b"00-" + b"g" * 32 + b"-00f067aa0ba902b7-01",
    VALID + b"," + b"a=" + b"x" * 10_000,  # oversized
    b"x" * 100_000,
    VALID.upper(),
    b"\x00" * 55,
]


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


def test_forged_contexts_from_a_senders_own_user_are_dropped(
    deployment: Deployment,  # noqa: F811
    spans: InMemorySpanExporter,
) -> None:
    mallory = deployment.raw("mallory")
    channel = Keyspace("alpha").mail_channel("mallory")
    mallory.xadd(channel, {"m": "first", "t": "1700000000.0", "b": b"1"})
    mallory.sadd(Keyspace("alpha").mail_senders(), "mallory")
    for i, forged in enumerate(FORGED):
        mallory.xadd(channel, {"m": f"forged{i}", "t": "1700000000.0", "b": b"2", "c": forged})
    mallory.xadd(channel, {"m": "chosen", "t": "1700000000.0", "b": b"3", "c": VALID})
    alpha = deployment.store("alpha")
    got = alpha.receive(count=100, block_ms=5000)
    assert [m.msg_id for m in got] == ["first", *(f"forged{i}" for i in range(5)), "chosen"]
    assert [m.trace for m in got[:-1]] == [None] * 6
    # the one well-formed context is taken as what it is: the handling joins that trace
    assert got[-1].trace == {"traceparent": VALID.decode()}
    for message in got:
        with otel.handling(message):
            pass
    handled = spans.get_finished_spans()
    assert [s.parent is None for s in handled] == [True] * 6 + [False]
    for span in handled:
        assert all(len(repr(v)) < 300 for v in (span.attributes or {}).values())

    stream = Keyspace("mallory").event_stream("news")
    for forged in FORGED:
        mallory.xadd(stream, {"event": b"1", "c": forged})
    read = alpha.read_events("mallory", "news")
    assert len(read.events) == len(FORGED)
    assert [e.trace for e in read.events] == [None] * len(FORGED)
    assert [e.value for e in read.events] == [1] * len(FORGED)
