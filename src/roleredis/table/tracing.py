"""OpenTelemetry spans for every operation, and trace context carried between roles
(``roleredis.otel``, the ``otel`` extra: ``opentelemetry-api``).

Off unless the application uses OpenTelemetry: it has set a tracer provider (one that is not
the API's default proxy), or handed one to :func:`use`. roleredis never imports OpenTelemetry
itself to find out: it looks for ``opentelemetry.trace`` among the modules already imported
(redis-py and the MCP SDK import it whenever it is installed, so being imported says nothing;
the provider does) at most every :data:`RECHECK` seconds, and in between a call pays one
comparison (:data:`GATE`). :func:`refresh` makes the next call look again.

While on, the call wrappers (:mod:`roleredis.table.calls`) give every call of every face one
span, named after its row (``roleredis.write``, ``roleredis.receive``, ...), made current while
it runs; the fire-and-forget rows only with ``tracing.fire_and_forget`` (their batches get a
span each on the writer's thread, ``roleredis.writer.batch``). The span's context goes in the
entries an operation writes (mail, requests, replies, events: the ``c`` field of
:mod:`roleredis.foundation.tracecontext`); a receive returns it (``trace``), and
:func:`handling` starts the span of handling a message or an event as a child of the
sender's. Attributes: the database conventions (``db.system.name``, ``db.namespace``,
``db.operation.name``, ``server.address``, ``server.port``), ``roleredis.role``, the other
role, how many keys (their names only with ``tracing.key_names``), how many results, and on
failure ``error.type`` (the error_code). Never a value, a message body or a password.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any

from .. import runtime
from ..foundation.tracecontext import HOOKS, OUTGOING, field
from .operation import Args, Operation, Result

__all__ = [
    "GATE",
    "RECHECK",
    "Gate",
    "Traced",
    "begin",
    "continuing",
    "handling",
    "refresh",
    "use",
]

#: Seconds between two looks at whether the application uses OpenTelemetry.
RECHECK = 1.0
#: The instrumentation scope of every span.
SCOPE = "roleredis"
#: The most links one span gets (the SDK keeps 128 by default).
MAX_LINKS = 128


class Gate:
    """Whether to trace, as last looked at: ``tracer`` (None: off) until ``until`` (a
    ``time.perf_counter()`` time); a call compares its start with ``until`` and calls
    :meth:`check` only past it. ``key_names`` and ``queued``: the process's
    ``tracing.key_names`` and ``tracing.fire_and_forget``."""

    __slots__ = ("key_names", "provider", "queued", "tracer", "until")

    def __init__(self) -> None:
        self.until = 0.0
        self.tracer: Any = None
        self.provider: Any = None
        self.key_names = False
        self.queued = False

    def at(self, now: float) -> Any:
        """The tracer to use at ``now`` (a ``time.perf_counter()``), None while off. (The call
        wrappers inline it: a method call is a measurable part of a fire-and-forget call.)"""
        return self.tracer if now < self.until else self.check(now)

    def check(self, now: float) -> Any:
        """The tracer to use now (None: off), looked at again."""
        tracer = _find_tracer(self.provider)
        if tracer is not None:
            try:
                tracing = runtime.settings().tracing
            except Exception:  # invalid settings: the call itself will say so
                self.key_names = self.queued = False
            else:
                self.key_names = tracing.key_names
                self.queued = tracing.fire_and_forget
        self.tracer = tracer
        HOOKS.batch = None if tracer is None else _batch_span
        self.until = now + RECHECK
        return tracer


#: The process's gate.
GATE = Gate()


def _find_tracer(provider: Any) -> Any:
    if provider is None:
        api = sys.modules.get("opentelemetry.trace")
        if api is None:  # nobody imported it: the application does not use OpenTelemetry
            return None
        provider = api.get_tracer_provider()
        if isinstance(provider, api.ProxyTracerProvider | api.NoOpTracerProvider):
            return None
    return provider.get_tracer(SCOPE)


def refresh() -> None:
    """Look again, at the next call, whether the application uses OpenTelemetry (and read
    the tracing settings again); ``roleredis.reset()`` does it too."""
    GATE.until = 0.0


runtime.on_reset(lambda forked: refresh())


def use(tracer_provider: Any) -> None:
    """Trace with ``tracer_provider`` instead of the global one (tests, or an application
    that keeps its provider to itself); ``use(None)``: back to the global provider.

    >>> use(None)
    """
    GATE.provider = tracer_provider
    refresh()
    if tracer_provider is None:
        HOOKS.batch = None


# --- what a span says ----------------------------------------------------------------------

# settings object -> (the settings, their server attributes); a store's settings live as long
# as the process's, so a few entries at most (bounded anyway)
_servers: dict[int, tuple[Any, dict[str, Any]]] = {}


def _server(settings: Any) -> dict[str, Any]:
    known = _servers.get(id(settings))
    if known is not None and known[0] is settings:
        return known[1]
    found: dict[str, Any] = {"db.namespace": str(settings.db)}
    try:
        topology = settings.topology()
        if topology is not None and topology.nodes:
            host, port = topology.nodes[0]
            found["db.namespace"] = str(topology.db)
        else:
            info = settings.connection_info()
            host, port = info["host"], info["port"]
            found["db.namespace"] = str(info["db"])
        if host:
            found["server.address"] = str(host)
        if port:
            found["server.port"] = int(port)
    except Exception:  # a URL that cannot be read: the call itself will say so
        pass
    if len(_servers) > 64:
        _servers.clear()
    _servers[id(settings)] = (settings, found)
    return found


def _keys(op: Operation, args: Args) -> list[Any] | None:
    """The role's keys a call names (None: the operation names none)."""
    if not args:
        return None
    if op.subject == "key":
        return [args[0]]
    if op.many_keys:
        first = args[0]
        return list(first) if isinstance(first, Mapping | list | tuple) else None
    return None


def _context_text(span: Any) -> str | None:
    context = span.get_span_context()
    if not context.is_valid:
        return None
    parent = f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"
    return field(parent, context.trace_state.to_header() if context.trace_state else "")


def _links(result: Result, api: Any) -> list[Any]:
    """Links to the senders' contexts of the messages or events a call returned."""
    found = result.get("messages") or result.get("events")
    links: list[Any] = []
    if not isinstance(found, list):
        return links
    for item in found:
        carrier = item.get("trace") if isinstance(item, dict) else None
        if carrier is not None:
            remote = _remote(carrier, api)
            if remote is not None:
                links.append(api.Link(remote))
                if len(links) >= MAX_LINKS:
                    break
    return links


def _remote(carrier: Mapping[str, str], api: Any) -> Any:
    """The span context a validated carrier names (see foundation.tracecontext.parse)."""
    parts = str(carrier.get("traceparent", "")).split("-")
    if len(parts) != 4:
        return None
    state = carrier.get("tracestate")
    return api.SpanContext(
        int(parts[1], 16),
        int(parts[2], 16),
        is_remote=True,
        trace_flags=api.TraceFlags(int(parts[3], 16)),
        trace_state=api.TraceState.from_header([state]) if state else None,
    )


class Traced:
    """One call's span while it runs (see :func:`begin`): made current, its context in
    :data:`~roleredis.foundation.tracecontext.OUTGOING`; :meth:`close` ends it."""

    __slots__ = ("_outgoing", "_token", "span")

    def __init__(self, span: Any, text: str | None) -> None:
        from opentelemetry import context, trace

        self.span = span
        self._token = None if span is None else context.attach(trace.set_span_in_context(span))
        self._outgoing = OUTGOING.set(text)

    def bind(self, store: Any, op: Operation, args: Args, kwargs: Mapping[str, Any]) -> None:
        """Say which role, server and keys the call is on, once its store is known."""
        span = self.span
        if span is None or not span.is_recording():
            return
        span.set_attribute("roleredis.role", store.role)
        span.set_attributes(_server(store.settings))
        keys = _keys(op, args)
        if keys is not None:
            span.set_attribute("roleredis.key.count", len(keys))
            if GATE.key_names:
                span.set_attribute("roleredis.keys", [str(k)[:200] for k in keys[:MAX_LINKS]])
        if op.subject in ("pattern", "topic") and args and GATE.key_names:
            span.set_attribute(f"roleredis.{op.subject}", str(args[0])[:200])
        other = args[0] if op.subject in ("to", "from_role") and args else None
        if other is None and op.reads_from:
            other = kwargs.get("from_role")
        if isinstance(other, str):
            span.set_attribute("roleredis.peer.role", other[:200])

    def close(self, result: Result | None) -> None:
        from opentelemetry import context, trace

        OUTGOING.reset(self._outgoing)
        span = self.span
        if span is None:
            return
        try:
            if result is None:  # interrupted (KeyboardInterrupt, cancelled)
                span.set_status(trace.StatusCode.ERROR, "interrupted")
            elif result.get("success") is False:
                code = str(result.get("error_code"))
                span.set_attribute("error.type", code)
                span.set_attribute("roleredis.error_code", code)
                span.set_status(trace.StatusCode.ERROR, code)
            else:
                count = result.get("count")
                if isinstance(count, int) and not isinstance(count, bool):
                    span.set_attribute("roleredis.result.count", count)
                if span.is_recording():
                    for link in _links(result, trace):
                        span.add_link(link.context)
        finally:
            span.end()
            if self._token is not None:
                context.detach(self._token)


def begin(op: Operation, args: Args) -> Traced | None:
    """The span of a call of ``op`` starting now (tracing is on: :data:`GATE` said so), or
    for a fire-and-forget row without ``tracing.fire_and_forget`` no span, only the current
    span's context for the entry it queues (None if it queues none)."""
    if op.run is not None and not GATE.queued:
        if "xadd" not in op.commands:  # queues no entry: nothing to carry
            return None
        from opentelemetry import trace

        return Traced(None, _context_text(trace.get_current_span()))
    from opentelemetry import trace

    span = GATE.tracer.start_span(
        "roleredis." + op.name,
        kind=trace.SpanKind.CLIENT,
        attributes={"db.system.name": "redis", "db.operation.name": op.name},
    )
    return Traced(span, _context_text(span))


# --- handling what another role sent -------------------------------------------------------


def _item_field(item: Any, name: str) -> Any:
    """A field of a message or event, given as a dict or as the store's dataclass."""
    if isinstance(item, Mapping):
        return item.get(name)
    return getattr(item, name, None)


class handling:
    """``with otel.handling(message_or_event):`` the span of handling what another role sent
    (a message or request as :func:`~roleredis.tools.redis_receive` gives it, an event as
    :func:`~roleredis.tools.redis_read_events` or ``follow_events`` give it), a child of the
    sender's span when it carried a valid trace context, else of the current span; current
    inside the block, so the calls made there are its children. Nothing while tracing is off.

    A ``with`` block, not a decorator on an async generator: a generator shares its
    consumer's context and must not leave a span current across a ``yield``.
    """

    __slots__ = ("_item", "_name", "_token", "span")

    def __init__(self, item: Any, name: str = "roleredis.handle") -> None:
        self._item = item
        self._name = name
        self._token: Any = None
        self.span: Any = None

    def __enter__(self) -> Any:
        tracer = GATE.at(time.perf_counter())
        if tracer is None:
            return None
        from opentelemetry import context, trace

        item = self._item
        carrier = _item_field(item, "trace")
        remote = _remote(carrier, trace) if isinstance(carrier, Mapping) else None
        parent = (
            None if remote is None else trace.set_span_in_context(trace.NonRecordingSpan(remote))
        )
        attributes: dict[str, Any] = {
            "messaging.system": "roleredis",
            "messaging.operation.type": "process",
        }
        sender = _item_field(item, "from" if isinstance(item, Mapping) else "sender")
        if isinstance(sender, str):
            attributes["roleredis.peer.role"] = sender
        msg_id = _item_field(item, "msg_id") or _item_field(item, "id")
        if isinstance(msg_id, str):
            attributes["messaging.message.id"] = msg_id[:200]
        self.span = tracer.start_span(
            self._name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes
        )
        self._token = context.attach(trace.set_span_in_context(self.span))
        return self.span

    def failed(self, exc: BaseException) -> None:
        """Mark the handling failed (by the exception's type: never its message)."""
        span = self.span
        if span is not None:
            from opentelemetry import trace

            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(trace.StatusCode.ERROR, type(exc).__qualname__)

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        span = self.span
        if span is None:
            return
        from opentelemetry import context

        try:
            if exc is not None:
                self.failed(exc)
        finally:
            span.end()
            context.detach(self._token)
            self.span = None


class continuing:
    """``with continuing(carrier):`` the block runs in the remote context a W3C carrier
    (``{"traceparent": ...}``, checked by ``foundation.tracecontext.parse``) names, so the
    spans made there are its children; nothing for None or while tracing is off, nor, with
    ``unless_current``, when a valid span is current already."""

    __slots__ = ("_carrier", "_token", "_unless_current")

    def __init__(self, carrier: Mapping[str, str] | None, *, unless_current: bool = False) -> None:
        self._carrier = carrier
        self._unless_current = unless_current
        self._token: Any = None

    def __enter__(self) -> None:
        if self._carrier is None:
            return
        if GATE.at(time.perf_counter()) is None:
            return
        from opentelemetry import context, trace

        if self._unless_current and trace.get_current_span().get_span_context().is_valid:
            return

        remote = _remote(self._carrier, trace)
        if remote is not None:
            span = trace.NonRecordingSpan(remote)
            self._token = context.attach(trace.set_span_in_context(span))

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if self._token is not None:
            from opentelemetry import context

            context.detach(self._token)
            self._token = None


# --- the fire-and-forget writer's batches --------------------------------------------------


class _BatchSpan:
    __slots__ = ("_before", "_size", "_span", "_writer")

    def __init__(self, size: int, writer: Any) -> None:
        self._size = size
        self._writer = writer
        self._span: Any = None
        self._before = (0, 0, 0)

    def __enter__(self) -> None:
        tracer = GATE.tracer
        if tracer is None:
            return
        from opentelemetry import context, trace

        writer = self._writer
        attributes: dict[str, Any] = {
            "db.system.name": "redis",
            "db.operation.name": "writer.batch",
            "db.operation.batch.size": self._size,
            **_server(writer.settings),
        }
        # a root span: the writer's thread carries no caller's context (the calls queued were
        # made in many contexts; a link to each would cost every caller a context look-up)
        self._span = tracer.start_span(
            "roleredis.writer.batch",
            context=context.Context(),
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
        )
        self._before = (writer.carried, writer.failed, writer.given_up)

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        span = self._span
        if span is None:
            return
        from opentelemetry import trace

        writer = self._writer
        carried, failed, given_up = self._before
        span.set_attribute("roleredis.writer.carried", writer.carried - carried)
        lost = writer.failed - failed + writer.given_up - given_up
        span.set_attribute("roleredis.writer.lost", lost)
        if exc is not None or lost:
            span.set_attribute("error.type", "writer" if exc is None else type(exc).__qualname__)
            span.set_status(trace.StatusCode.ERROR, "writes lost" if exc is None else "error")
        span.end()


def _batch_span(size: int, writer: Any) -> _BatchSpan:
    return _BatchSpan(size, writer)
